import type { BalanceOp } from '../adapters/port/manager-api.ts';
import { raiseAlert } from './alerts.ts';
import { connection, type ServiceContext, serverRange } from './context.ts';
import { commentFor, type Leg, parseComment } from './domain/reference.ts';
import { legEffect } from './posting.ts';
import type { PaymentRecords, PspRecord } from './psp/port.ts';
import { nextId } from './store/ids.ts';
import type { AccountRow, Finding, ReconciliationRow, TransferRow, TransferState } from './store/schema.ts';

/**
 * Three-way reconciliation: the payment provider's records, the service's ledger (transfers) and each
 * server's history, for every account the service opened on the servers of the configured kinds.
 *
 * Every server operation is classified: ours (its comment carries a valid reference of this broker) and
 * matching; ours on another account; ours twice; ours with another amount; ours though the ledger says
 * it was never posted; or not ours at all (a dealer's manual edit). Every transfer the ledger says is on a
 * server must be found there; every PSP payment must have its transfer and the reverse. Transfers and
 * payments younger than `settleMs`, and transfers still being posted, are in flight, not findings.
 */

interface ServerOp extends BalanceOp {
  serverId: string;
}

const ON_SERVER_MAIN: ReadonlySet<TransferState> = new Set(['posted', 'done', 'refunding', 'refunded']);
const NEVER_POSTED: ReadonlySet<TransferState> = new Set(['rejected', 'failed']);
/** Ledger states that do not carry money the provider says it moved (a payout result still awaited counts). */
const NOT_CARRIED: Readonly<Record<'deposit' | 'withdrawal', ReadonlySet<TransferState>>> = {
  deposit: new Set(['rejected', 'failed']),
  withdrawal: new Set(['posted', 'refunding', 'refunded', 'rejected', 'failed']),
};
/** States in which a withdrawal has certainly not been refunded. */
const NO_REFUND: ReadonlySet<TransferState> = new Set(['hold', 'posting', 'posted', 'done', 'rejected', 'failed']);

export async function reconcile(ctx: ServiceContext, psp: PaymentRecords | null): Promise<ReconciliationRow> {
  const { store, clock, config } = ctx;
  const startedMs = clock.nowMs();
  const settledBeforeMs = startedMs - config.reconciliation.settleMs;
  const accounts = await store.transaction((tx) => tx.select('accounts', { state: 'open' }));
  const servers = config.servers.filter((s) => config.reconciliation.kinds.includes(s.kind));
  const { toServerSec } = serverRange(ctx, startedMs, startedMs);
  const ops: ServerOp[] = [];
  const unreachable: string[] = [];
  const reconciled = new Set<string>();
  for (const server of servers) {
    const mine = accounts.filter((a) => a.serverId === server.id && a.login !== null);
    const conn = connection(ctx, server.id);
    const serverOps: ServerOp[] = [];
    let ok = true;
    for (const account of mine) {
      const login = account.login as number;
      const history = await conn.call(
        'balanceHistory',
        { login, fromServerSec: 0, toServerSec },
        'reconciliation',
        (api) => api.balanceHistory(login, 0, toServerSec),
      );
      if (!history.ok) {
        ok = false;
        break;
      }
      for (const op of history.value) serverOps.push({ ...op, serverId: server.id });
    }
    if (ok) {
      reconciled.add(server.id);
      ops.push(...serverOps);
    } else unreachable.push(server.id);
  }

  // Read after the histories: a transfer is committed before its first send, so every reference found on a
  // server is in this list, even one accepted while the histories were being read.
  const transfers = await store.transaction((tx) => tx.select('transfers', {}));
  const findings: Finding[] = [];
  const add = (f: Omit<Finding, 'key'> & { key?: string }) => {
    const key = f.key ?? `${f.class}:${f.ref ?? `${f.serverId}:${f.login}:${f.ticket}`}`;
    findings.push({ ...f, key });
  };
  const byRef = new Map(transfers.map((t) => [t.ref, t]));
  const accountAt = new Map<string, AccountRow>(accounts.map((a) => [`${a.serverId}:${a.login}`, a]));
  /** Our operations, by `${ref}:${leg}`, on the account the transfer names. */
  const posted = new Map<string, ServerOp[]>();
  for (const op of ops) {
    const parsed = parseComment(op.comment, config.references.prefix);
    const none = { ref: null, pspRef: null, expectedCents: null, actualCents: op.amountCents };
    const where = { serverId: op.serverId, login: op.login, ticket: op.ticket };
    if (parsed === null) {
      add({
        class: 'unknown_operation',
        ...where,
        ...none,
        detail: `${op.kind} ${op.amountCents} "${op.comment}" not made by the service`,
      });
      continue;
    }
    const transfer = byRef.get(parsed.ref);
    if (transfer === undefined) {
      add({
        key: `not_in_ledger:${parsed.ref}:${parsed.leg}:${op.serverId}:${op.ticket}`,
        class: 'not_in_ledger',
        ...where,
        ...none,
        ref: parsed.ref,
        detail: `reference ${parsed.ref} is not in the ledger`,
      });
      continue;
    }
    if (transfer.serverId !== op.serverId || transfer.login !== op.login) {
      const owner = accountAt.get(`${op.serverId}:${op.login}`);
      add({
        key: `wrong_account:${parsed.ref}:${parsed.leg}:${op.serverId}:${op.login}`,
        class: 'wrong_account',
        ...where,
        ...none,
        ref: parsed.ref,
        detail: `posted to ${op.serverId} ${op.login}${owner === undefined ? '' : ` (account ${owner.id})`}, the ledger says ${transfer.serverId} ${transfer.login}`,
      });
      continue;
    }
    const key = `${parsed.ref}:${parsed.leg}`;
    const list = posted.get(key) ?? [];
    list.push(op);
    posted.set(key, list);
  }

  for (const transfer of transfers) {
    if (!reconciled.has(transfer.serverId)) continue;
    for (const leg of legsOf(transfer)) {
      checkLeg(transfer, leg, posted.get(`${transfer.ref}:${leg}`) ?? [], settledBeforeMs, add);
    }
  }

  if (psp !== null) {
    try {
      checkPsp(await psp.records(0, startedMs), transfers, settledBeforeMs, add);
    } catch (error) {
      // The provider's side is missing from this run, not the service's reason to stop.
      ctx.log({ level: 'error', msg: `payment provider records unreadable: ${(error as Error).message}` });
      unreachable.push('psp');
    }
  }

  findings.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const finishedMs = clock.nowMs();
  return store.transaction(async (tx) => {
    const id = await nextId(tx, 'reconciliations', 'RC', 8);
    const run: ReconciliationRow = {
      id,
      startedMs,
      finishedMs,
      state: unreachable.length === 0 ? 'done' : 'partial',
      unreachable,
      findings,
    };
    await tx.insert('reconciliations', run);
    for (const finding of findings) {
      await raiseAlert(tx, finishedMs, ctx.mask, {
        key: `finding:${finding.key}`,
        kind: 'reconciliation_finding',
        severity: finding.class === 'unknown_operation' ? 'warning' : 'critical',
        subject: finding.ref ?? `${finding.serverId}:${finding.login}`,
        message: `reconciliation ${id}: ${finding.class}: ${finding.detail}`,
        // The finding's key is the alert's (`finding:KEY`); a field named `key` would be redacted in logs.
        details: { ...withoutKey(finding), run: id },
      });
    }
    return run;
  });
}

function legsOf(transfer: TransferRow): Leg[] {
  return transfer.kind === 'withdrawal' ? ['main', 'refund'] : ['main'];
}

type Add = (f: Omit<Finding, 'key'> & { key?: string }) => void;

function checkLeg(transfer: TransferRow, leg: Leg, ops: ServerOp[], settledBeforeMs: number, add: Add): void {
  const effect = legEffect(transfer, leg);
  const expected = effect.amountCents;
  const base = { serverId: transfer.serverId, login: transfer.login, ref: transfer.ref, pspRef: transfer.pspRef };
  // Transfers still being posted (or in review) may or may not be on the server: neither is a finding.
  const onServer = leg === 'main' ? ON_SERVER_MAIN.has(transfer.state) : transfer.state === 'refunded';
  const neverPosted = leg === 'main' ? NEVER_POSTED.has(transfer.state) : NO_REFUND.has(transfer.state);
  const comment = commentFor(transfer.ref, leg);
  if (ops.length > 1) {
    add({
      key: `duplicate_on_server:${transfer.ref}:${leg}`,
      class: 'duplicate_on_server',
      ...base,
      ticket: (ops[1] as ServerOp).ticket,
      expectedCents: expected,
      actualCents: ops.reduce((sum, op) => sum + op.amountCents, 0),
      detail: `"${comment}" is on the server ${ops.length} times (tickets ${ops.map((op) => op.ticket).join(', ')})`,
    });
  }
  const first = ops[0];
  if (first !== undefined && (first.amountCents !== expected || first.kind !== effect.kind)) {
    add({
      key: `amount_mismatch:${transfer.ref}:${leg}`,
      class: 'amount_mismatch',
      ...base,
      ticket: first.ticket,
      expectedCents: expected,
      actualCents: first.amountCents,
      detail: `"${comment}" is ${first.kind} ${first.amountCents} on the server, ${effect.kind} ${expected} in the ledger`,
    });
  }
  if (onServer && first === undefined) {
    const since =
      leg === 'main' ? (transfer.postedMs ?? transfer.updatedMs) : (transfer.finishedMs ?? transfer.updatedMs);
    if (since >= settledBeforeMs) return;
    const ticket = leg === 'main' ? transfer.ticket : transfer.refundTicket;
    add({
      key: `missing_on_server:${transfer.ref}:${leg}`,
      class: 'missing_on_server',
      ...base,
      ticket,
      expectedCents: expected,
      actualCents: null,
      detail: `the ledger has "${comment}" posted (ticket ${ticket}) but the server's history does not`,
    });
  }
  if (neverPosted && first !== undefined) {
    add({
      key: `not_in_ledger:${transfer.ref}:${leg}`,
      class: 'not_in_ledger',
      ...base,
      ticket: first.ticket,
      expectedCents: 0,
      actualCents: first.amountCents,
      detail: `"${comment}" is on the server (ticket ${first.ticket}) but the ledger says ${transfer.state}`,
    });
  }
}

function checkPsp(records: PspRecord[], transfers: TransferRow[], settledBeforeMs: number, add: Add): void {
  const byPspRef = new Map(transfers.filter((t) => t.pspRef !== null).map((t) => [t.pspRef as string, t]));
  const seen = new Set<string>();
  for (const record of records) {
    if (record.status !== 'succeeded') continue;
    seen.add(record.pspRef);
    const transfer = byPspRef.get(record.pspRef);
    const want = record.kind === 'deposit' ? 'deposit' : 'withdrawal';
    const base = { serverId: null, login: null, ticket: null, pspRef: record.pspRef };
    if (transfer === undefined || transfer.kind !== want) {
      if (record.atMs >= settledBeforeMs) continue;
      add({
        key: `psp_only:${record.pspRef}`,
        class: 'psp_only',
        ...base,
        ref: transfer?.ref ?? null,
        expectedCents: record.amountCents,
        actualCents: null,
        detail: `the provider's ${record.kind} ${record.pspRef} of ${record.amountCents} ${record.currency} has no ${want} in the ledger`,
      });
      continue;
    }
    if (NOT_CARRIED[want].has(transfer.state)) {
      // The provider moved the money, the ledger did not: a deposit it refused, a payout it refunded.
      if (record.atMs >= settledBeforeMs) continue;
      add({
        key: `psp_only:${record.pspRef}`,
        class: 'psp_only',
        ...base,
        serverId: transfer.serverId,
        login: transfer.login,
        ref: transfer.ref,
        expectedCents: record.amountCents,
        actualCents: null,
        detail: `the provider's ${record.kind} ${record.pspRef} succeeded but the ledger has ${transfer.ref} ${transfer.state}`,
      });
      continue;
    }
    if (transfer.amountCents !== record.amountCents || transfer.currency !== record.currency) {
      add({
        key: `amount_mismatch:psp:${record.pspRef}`,
        class: 'amount_mismatch',
        ...base,
        serverId: transfer.serverId,
        login: transfer.login,
        ref: transfer.ref,
        expectedCents: record.amountCents,
        actualCents: transfer.amountCents,
        detail: `the provider has ${record.amountCents} ${record.currency}, the ledger ${transfer.amountCents} ${transfer.currency}`,
      });
    }
  }
  for (const transfer of transfers) {
    // Deposits from the provider must be in its records; paid-out withdrawals must have their payout.
    const needsRecord =
      (transfer.kind === 'deposit' && transfer.pspRef !== null && transfer.state !== 'rejected') ||
      (transfer.kind === 'withdrawal' && transfer.state === 'done' && transfer.pspRef !== null);
    if (!needsRecord || seen.has(transfer.pspRef as string)) continue;
    if (transfer.acceptedMs >= settledBeforeMs) continue;
    add({
      key: `ledger_only:${transfer.ref}`,
      class: 'ledger_only',
      serverId: transfer.serverId,
      login: transfer.login,
      ticket: transfer.ticket,
      ref: transfer.ref,
      pspRef: transfer.pspRef,
      expectedCents: null,
      actualCents: transfer.amountCents,
      detail: `the ledger's ${transfer.kind} ${transfer.ref} (provider id ${transfer.pspRef}) is not in the provider's records`,
    });
  }
}

function withoutKey({ key: _key, ...rest }: Finding): Omit<Finding, 'key'> {
  return rest;
}
