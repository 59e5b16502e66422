import { raiseAlert } from './alerts.ts';
import { connection, type ServiceContext, serverRange } from './context.ts';
import type { PaymentRecords, PspRecord } from './psp/port.ts';
import { ReconcileEngine } from './reconcile-engine.ts';
import { nextId } from './store/ids.ts';
import type { AccountRow, Finding, ReconciliationRow } from './store/schema.ts';

/**
 * Three-way reconciliation: the payment provider's records, the service's ledger (transfers) and each
 * server's history, for every account the service opened on the servers of the configured kinds.
 *
 * Every server operation is classified: ours (its comment carries a valid reference of this broker) and
 * matching; ours on another account; ours twice; ours with another amount; ours though the ledger says
 * it was never posted; or not ours at all (a dealer's manual edit). Every transfer the ledger says is on a
 * server must be found there; every PSP payment must have its transfer and the reverse. Transfers and
 * payments younger than `settleMs`, and transfers still being posted, are in flight, not findings.
 *
 * The checks are the engine's (`reconcile-engine.ts`, a pure streaming function of its inputs); this is the
 * I/O around it: it reads the histories, server by server, into the engine as they come, then the ledger,
 * then the provider's records, and hands the engine the records before the ledger (the order it takes);
 * then it writes the run and an alert per finding.
 */

export async function reconcile(ctx: ServiceContext, psp: PaymentRecords | null): Promise<ReconciliationRow> {
  const { store, clock, config } = ctx;
  const startedMs = clock.nowMs();
  const settledBeforeMs = startedMs - config.reconciliation.settleMs;
  const accounts = await store.transaction((tx) => tx.select('accounts', { state: 'open' }));
  const servers = config.servers.filter((s) => config.reconciliation.kinds.includes(s.kind));
  const { toServerSec } = serverRange(ctx, startedMs, startedMs);
  const accountAt = new Map<string, AccountRow>(accounts.map((a) => [`${a.serverId}:${a.login}`, a]));
  const engine = new ReconcileEngine({
    prefix: config.references.prefix,
    settledBeforeMs,
    accountIdAt: (serverId, login) => accountAt.get(`${serverId}:${login}`)?.id,
  });
  const unreachable: string[] = [];
  for (const server of servers) {
    const mine = accounts.filter((a) => a.serverId === server.id && a.login !== null);
    const conn = connection(ctx, server.id);
    engine.beginServer(server.id);
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
      for (const op of history.value) engine.addOperation(op);
    }
    // A server read only in part is not reconciled: the engine drops what it gave.
    engine.endServer(ok);
    if (!ok) unreachable.push(server.id);
  }

  // Read after the histories: a transfer is committed before its first send, so every reference found on a
  // server is in this list, even one accepted while the histories were being read.
  const transfers = await store.transaction((tx) => tx.select('transfers', {}));
  if (psp !== null) {
    let records: PspRecord[] | null = null;
    try {
      records = await psp.records(0, startedMs);
    } catch (error) {
      // The provider's side is missing from this run, not the service's reason to stop.
      ctx.log({ level: 'error', msg: `payment provider records unreadable: ${(error as Error).message}` });
      unreachable.push('psp');
    }
    if (records !== null) {
      engine.beginPsp();
      for (const record of records) engine.addPspRecord(record);
      engine.endPsp(true);
    }
  }
  for (const transfer of transfers) engine.addTransfer(transfer);
  const findings = engine.finish();

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

function withoutKey({ key: _key, ...rest }: Finding): Omit<Finding, 'key'> {
  return rest;
}
