import type { Clock } from '../../kit/clock.ts';
import { Random } from '../../kit/random.ts';
import { FAULT_KINDS, type FaultKind } from '../../simulator/index.ts';
import type { SimControl, TruthOp } from './control.ts';
import {
  IntegrationRefused,
  IntegrationUnreachable,
  type WireAccount,
  type WireIntegration,
  type WireTransfer,
} from './integration.ts';

/**
 * A certification over the wire: a seeded broker day driven through an integration's HTTP surface while the
 * served simulator misbehaves (and, on the real stack, while the integration is killed), then healed, settled
 * and checked against the simulator's ground truth. The same checks whatever the integration: mtproof's own
 * service on the real stack, or a black box behind `--integration-url`.
 *
 * Real processes and sockets make timing vary from run to run; the seed fixes what is done (clients,
 * amounts, which faults, when the integration is killed), not when each byte arrives.
 */

export interface Disturbance {
  /** Before this operation index. */
  atOp: number;
  kind: string;
  /** Does it (kill, add a toxic); runs between operations, while workers keep going. */
  run(): Promise<void>;
}

export interface WireRunOptions {
  seed: string;
  integration: WireIntegration;
  control: SimControl;
  clock: Clock;
  clients: number;
  operations: number;
  /** Operations in flight at once. */
  concurrency: number;
  /** Countries the clients come from (routing decides their servers). */
  countries: readonly string[];
  /** The simulator's fault configuration during the workload (`dayFaults()`); null: none. */
  faults: Record<string, unknown> | null;
  /** Dealer corrections typed in by hand during the day, which reconciliation must report. */
  dealerEdits: number;
  /** Planned by the caller from its own fork of the seed. */
  disturbances?: readonly Disturbance[];
  /** Undoes the caller's disturbances (remove toxics, make sure the integration runs) before settling. */
  heal?: () => Promise<void>;
  /** How long, after healing, every transfer has to reach done or failed. */
  settleTimeoutMs: number;
  /** How long a call may keep failing as unreachable before the run gives up. */
  unreachableForMs: number;
  log?: (line: string) => void;
}

export interface WireCheck {
  name: string;
  passed: boolean;
  problems: string[];
}

export interface WireRunResult {
  seed: string;
  integration: string;
  passed: boolean;
  checks: WireCheck[];
  stats: {
    accounts: number;
    transfers: number;
    done: number;
    failed: number;
    dealerEdits: number;
    disturbances: Record<string, number>;
    simulatorFaults: Record<string, number>;
    unreachableRetries: number;
  };
}

interface Planned {
  reference: string;
  kind: 'deposit' | 'withdrawal';
  client: number;
  amountCents: number;
}

interface Planted {
  serverId: string;
  login: number;
  ticket: number;
  amountCents: number;
}

export async function runWireCertification(options: WireRunOptions): Promise<WireRunResult> {
  const { integration, control, clock } = options;
  const log = options.log ?? (() => {});
  const random = new Random(options.seed).fork('wire');
  let unreachableRetries = 0;

  /** Calls again while the integration is unreachable (killed, restarting), up to `unreachableForMs`. */
  const persist = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    const giveUpAtMs = clock.nowMs() + options.unreachableForMs;
    let pauseMs = 50;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof IntegrationUnreachable) || clock.nowMs() >= giveUpAtMs) throw error;
        unreachableRetries++;
        await clock.sleep(pauseMs);
        pauseMs = Math.min(1_000, pauseMs * 2);
        void what;
      }
    }
  };

  // ---- 1. accounts, before any fault ----
  await control.setFaults({ intensity: 0, swarm: false });
  const countries = options.countries;
  // What the servers held before: every account that appears later is the integration's doing.
  const serverIds = (await control.state()).servers.map((s) => s.id);
  const before = new Set<string>();
  for (const serverId of serverIds) {
    for (const a of await control.accounts(serverId)) before.add(`${serverId}:${a.login}`);
  }
  const accounts: WireAccount[] = [];
  const refusedAccounts: string[] = [];
  for (let i = 0; i < options.clients; i++) {
    const country = countries[i % countries.length] as string;
    const clientRef = `${options.seed}-c${i}`;
    try {
      accounts.push(
        await persist(`open ${clientRef}`, () =>
          integration.openAccount({ clientRef, name: `Client ${i}`, email: `client${i}@example.test`, country }),
        ),
      );
    } catch (error) {
      if (!(error instanceof IntegrationRefused)) throw error;
      refusedAccounts.push(`${clientRef} (${country}): refused ${error.refusal}`);
    }
  }
  for (let i = 0; i < accounts.length; i++) {
    const deadline = clock.nowMs() + options.settleTimeoutMs;
    let account = accounts[i] as WireAccount;
    while (account.state === 'pending' && clock.nowMs() < deadline) {
      await clock.sleep(100);
      account = await persist('account', () => integration.account((accounts[i] as WireAccount).accountRef));
    }
    accounts[i] = account;
  }
  const open = accounts.filter((a) => a.state === 'open' && a.serverId !== null && a.login !== null);
  log(`accounts: ${open.length} open of ${accounts.length}`);

  // ---- 2. the day: operations, faults, dealer edits, disturbances ----
  const plan: Planned[] = [];
  const amounts = random.fork('amounts');
  const picks = random.fork('picks');
  for (let j = 0; j < options.operations; j++) {
    const withdrawal = j >= open.length && picks.chance(0.3);
    plan.push({
      reference: `${options.seed}-t${j}`,
      kind: withdrawal ? 'withdrawal' : 'deposit',
      client: open.length === 0 ? 0 : picks.int(0, open.length - 1),
      amountCents: withdrawal ? amounts.int(10, 200) * 100 : amounts.int(20, 2_000) * 100,
    });
  }
  const dealerAt = new Set<number>();
  const dealerRandom = random.fork('dealer');
  while (dealerAt.size < Math.min(options.dealerEdits, options.operations))
    dealerAt.add(dealerRandom.int(0, options.operations - 1));
  const disturbances = [...(options.disturbances ?? [])].sort((a, b) => a.atOp - b.atOp);
  const disturbed: Record<string, number> = {};
  const planted: Planted[] = [];
  const answers = new Map<string, WireTransfer>();
  const refused = new Map<string, string>();

  if (options.faults !== null) await control.setFaults(options.faults);
  let next = 0;
  let aborted = false;
  // Disturbances one at a time (two kills at once would start two services), in plan order.
  let disturbing: Promise<void> = Promise.resolve();
  const disturbUpTo = (j: number): Promise<void> => {
    disturbing = disturbing.then(async () => {
      while (disturbances.length > 0 && (disturbances[0] as Disturbance).atOp <= j) {
        const d = disturbances.shift() as Disturbance;
        log(`op ${j}: ${d.kind}`);
        disturbed[d.kind] = (disturbed[d.kind] ?? 0) + 1;
        await d.run();
      }
    });
    return disturbing;
  };
  const worker = async (): Promise<void> => {
    while (!aborted && next < plan.length && open.length > 0) {
      const j = next++;
      await disturbUpTo(j);
      const op = plan[j] as Planned;
      const account = open[op.client] as WireAccount;
      if (dealerAt.has(j)) {
        const drawn = dealerRandom.int(1, 50) * 100 * (dealerRandom.chance(0.5) ? 1 : -1);
        const serverId = account.serverId as string;
        const login = account.login as number;
        // A correction the server refuses (a debit above the balance) plants nothing: the credit is planted
        // instead, so that reconciliation always has an edit to find.
        let amountCents = drawn;
        let ticket = await control.dealerCorrection(serverId, login, amountCents, `dealer fix ${j}`);
        if (ticket === null && drawn < 0) {
          amountCents = -drawn;
          ticket = await control.dealerCorrection(serverId, login, amountCents, `dealer fix ${j}`);
        }
        if (ticket !== null) planted.push({ serverId, login, ticket, amountCents });
      }
      const input = { reference: op.reference, accountRef: account.accountRef, amountCents: op.amountCents };
      try {
        const answer = await persist(op.reference, () =>
          op.kind === 'deposit' ? integration.deposit(input) : integration.withdraw(input),
        );
        answers.set(op.reference, answer);
      } catch (error) {
        // Refused by a rule of the integration's: nothing recorded, nothing may move (the checks hold it to that).
        if (!(error instanceof IntegrationRefused)) throw error;
        refused.set(op.reference, error.refusal);
      }
    }
  };
  const workers = await Promise.allSettled(
    Array.from({ length: Math.max(1, options.concurrency) }, () =>
      worker().catch((error: unknown) => {
        // One worker's failure stops the others before the caller tears the stack down.
        aborted = true;
        throw error;
      }),
    ),
  );
  const broken = workers.find((w) => w.status === 'rejected');
  if (broken !== undefined) throw (broken as PromiseRejectedResult).reason;
  await disturbUpTo(Number.MAX_SAFE_INTEGER);

  // ---- 3. heal and settle ----
  await control.setFaults({ intensity: 0, swarm: false });
  await options.heal?.();
  log('healed: waiting for every transfer to settle');
  const finals = new Map<string, WireTransfer | null>();
  const settleBy = clock.nowMs() + options.settleTimeoutMs;
  for (const op of plan) {
    if (refused.has(op.reference)) continue;
    let seen: WireTransfer | null = null;
    for (;;) {
      seen = await persist(`transfer ${op.reference}`, () => integration.transfer(op.reference));
      if ((seen !== null && seen.state !== 'pending') || clock.nowMs() >= settleBy) break;
      await clock.sleep(200);
    }
    finals.set(op.reference, seen);
  }
  const reconciliation = await persist('reconcile', () => integration.reconcile());
  const simState = await control.state();

  // ---- 4. checks ----
  const checks: WireCheck[] = [];
  const check = (name: string, problems: string[]): void => {
    checks.push({ name, passed: problems.length === 0, problems: problems.slice(0, 50) });
  };

  check('accounts-open', [
    ...refusedAccounts,
    ...accounts.filter((a) => a.state !== 'open').map((a) => `account ${a.accountRef} is ${a.state}, not open`),
  ]);

  // The harness asks only what a broker accepts (open accounts, amounts well inside the limits): a refusal, or a
  // deposit that ends failed once the world has healed, is the integration giving up on a client's money.
  const accepted: string[] = [];
  for (const op of plan) {
    const refusal = refused.get(op.reference);
    if (refusal !== undefined) accepted.push(`${op.reference}: ${op.kind} of ${op.amountCents} refused (${refusal})`);
    else if (op.kind === 'deposit' && finals.get(op.reference)?.state === 'failed') {
      accepted.push(`${op.reference}: deposit of ${op.amountCents} to an open account ended failed`);
    }
  }
  check('accepted', accepted);

  const liveness: string[] = [];
  for (const op of plan) {
    if (refused.has(op.reference)) continue;
    const t = finals.get(op.reference) ?? null;
    if (t === null) liveness.push(`${op.reference}: the integration does not know it`);
    else if (t.state === 'pending')
      liveness.push(`${op.reference}: still pending ${options.settleTimeoutMs} ms after healing`);
  }
  check('settles', liveness);

  // Ground truth of every account the integration opened.
  const truth = new Map<string, { balanceCents: number; creditCents: number; ops: TruthOp[] }>();
  for (const a of open) {
    const found = await control.account(a.serverId as string, a.login as number);
    if (found !== null) {
      truth.set(a.accountRef, {
        balanceCents: found.account.balanceCents,
        creditCents: found.account.creditCents,
        ops: found.balanceOps,
      });
    }
  }
  // Every account that appeared on a server during the run must be one the integration reported, once.
  const reportedAccounts = new Map<string, string>();
  const strays: string[] = [];
  for (const a of open) {
    const key = `${a.serverId}:${a.login}`;
    const other = reportedAccounts.get(key);
    if (other !== undefined) strays.push(`${a.accountRef} and ${other} are the same account ${key}`);
    reportedAccounts.set(key, a.accountRef);
  }
  for (const serverId of serverIds) {
    for (const a of await control.accounts(serverId)) {
      const key = `${serverId}:${a.login}`;
      if (before.has(key) || reportedAccounts.has(key)) continue;
      const found = await control.account(serverId, a.login);
      const moved = found?.balanceOps.filter((o) => o.by === 'manager') ?? [];
      strays.push(
        `account ${key} ("${a.externalId}") was created during the run and belongs to no client the integration reports` +
          (moved.length === 0
            ? ''
            : `; ${moved.length} operations moved ${moved.reduce((n, o) => n + o.amountCents, 0)} on it`),
      );
    }
  }
  check('no-stray-accounts', strays);
  check(
    'accounts-exist',
    open.filter((a) => !truth.has(a.accountRef)).map((a) => `${a.accountRef}: no account ${a.login} on ${a.serverId}`),
  );

  const exactlyOnce: string[] = [];
  const conservation: string[] = [];
  const byAccount = new Map<string, WireTransfer[]>();
  for (const op of plan) {
    const t = finals.get(op.reference);
    if (t === null || t === undefined) continue;
    if (t.amountCents !== op.amountCents || t.kind !== op.kind) {
      exactlyOnce.push(
        `${op.reference}: the integration reports ${t.kind} ${t.amountCents}, the harness asked ${op.kind} ${op.amountCents}`,
      );
    }
    const list = byAccount.get(t.accountRef) ?? [];
    list.push(t);
    byAccount.set(t.accountRef, list);
  }
  for (const a of open) {
    const facts = truth.get(a.accountRef);
    if (facts === undefined) continue;
    const transfers = byAccount.get(a.accountRef) ?? [];
    // Every kind counts: a deposit posted again as credit is money moved twice.
    const managerOps = facts.ops.filter((o) => o.by === 'manager');
    const claimed = new Map<number, string>();
    for (const t of transfers.filter((x) => x.state === 'done')) {
      const signed = t.kind === 'deposit' ? t.amountCents : -t.amountCents;
      if (t.ticket === null) {
        exactlyOnce.push(`${t.reference}: done without a server ticket`);
        continue;
      }
      const matching = managerOps.filter((o) => o.ticket === t.ticket && o.kind === 'balance');
      if (matching.length !== 1) {
        exactlyOnce.push(`${t.reference}: ticket ${t.ticket} is not a balance operation on ${a.serverId} ${a.login}`);
      } else if ((matching[0] as TruthOp).amountCents !== signed) {
        exactlyOnce.push(
          `${t.reference}: ticket ${t.ticket} moved ${(matching[0] as TruthOp).amountCents}, not ${signed}`,
        );
      }
      const other = claimed.get(t.ticket);
      if (other !== undefined) exactlyOnce.push(`${t.reference} and ${other} claim the same ticket ${t.ticket}`);
      claimed.set(t.ticket, t.reference);
    }
    for (const o of managerOps) {
      if (!claimed.has(o.ticket)) {
        exactlyOnce.push(
          `${a.serverId} ${a.login}: ${o.kind} operation ${o.ticket} (${o.amountCents}, "${o.comment}") matches no done transfer: posted twice, or for a transfer reported failed`,
        );
      }
    }
    const expected =
      transfers
        .filter((t) => t.state === 'done')
        .reduce((sum, t) => sum + (t.kind === 'deposit' ? t.amountCents : -t.amountCents), 0) +
      facts.ops.filter((o) => o.by !== 'manager' && o.kind === 'balance').reduce((sum, o) => sum + o.amountCents, 0);
    if (expected !== facts.balanceCents) {
      conservation.push(
        `${a.serverId} ${a.login}: balance ${facts.balanceCents}, transfers and dealer edits say ${expected}`,
      );
    }
    const credit = facts.ops
      .filter((o) => o.by !== 'manager' && o.kind === 'credit')
      .reduce((n, o) => n + o.amountCents, 0);
    if (credit !== facts.creditCents) {
      conservation.push(`${a.serverId} ${a.login}: credit ${facts.creditCents}, but only ${credit} was given by hand`);
    }
  }
  check('exactly-once', exactlyOnce);
  check('conservation', conservation);

  const recon: string[] = [];
  const reported = new Set(reconciliation.findings.map((f) => `${f.serverId}:${f.ticket}`));
  for (const p of planted) {
    if (!reported.has(`${p.serverId}:${p.ticket}`)) {
      recon.push(`dealer correction ${p.ticket} (${p.amountCents}) on ${p.serverId} ${p.login} is not reported`);
    }
  }
  const plantedKeys = new Set(planted.map((p) => `${p.serverId}:${p.ticket}`));
  for (const f of reconciliation.findings) {
    if (!plantedKeys.has(`${f.serverId}:${f.ticket}`)) {
      recon.push(`finding ${f.kind} on ${f.serverId} ${f.login} ticket ${f.ticket} explains nothing the harness did`);
    }
  }
  check('reconciliation', recon);

  const done = [...finals.values()].filter((t) => t?.state === 'done').length;
  const failed = [...finals.values()].filter((t) => t?.state === 'failed').length;
  return {
    seed: options.seed,
    integration: integration.name,
    passed: checks.every((c) => c.passed),
    checks,
    stats: {
      accounts: open.length,
      transfers: plan.length,
      done,
      failed: failed + refused.size,
      dealerEdits: planted.length,
      disturbances: disturbed,
      simulatorFaults: simState.trace.faults,
      unreachableRetries,
    },
  };
}

/**
 * What a day over the wire is made of besides its size: clients from EU and non-EU countries (so routing sends
 * them to MT4 and MT5 servers), the simulator's day faults at `faultIntensity` with short ranges, and a dealer
 * correction every 20 operations.
 */
export function shortDay(
  operations: number,
  faultIntensity: number,
): Pick<WireRunOptions, 'countries' | 'faults' | 'dealerEdits'> {
  return {
    countries: ['DE', 'US', 'FR', 'JP', 'BR', 'IT'],
    faults: faultIntensity > 0 ? dayFaults(faultIntensity, SHORT_DAY_PARAMS) : null,
    dealerEdits: Math.max(1, Math.floor(operations / 20)),
  };
}

/** Fault ranges for a day of minutes, not hours: short restarts, lags and stalls, so that healing settles in seconds. */
export const SHORT_DAY_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({
  restartDowntimeMs: [200, 2_000],
  historyLagMs: [200, 3_000],
  historyLagWindowMs: [1_000, 5_000],
  pumpStallMs: [500, 5_000],
  latencyMs: [5, 500],
});

/**
 * The simulator's faults during the day: the ones an integration must survive on the wire, at `intensity`,
 * with `params` overriding the simulator's ranges (a short run wants short restarts and lags). Dealer edits are
 * planted by the harness itself (it must know them to judge reconciliation); clock and time-zone moves are left
 * to the in-process harness, whose trace can tell them apart.
 */
export function dayFaults(intensity: number, params: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const on = new Set<FaultKind>([
    'timeoutBeforeApply',
    'timeoutAfterApply',
    'connectionDrop',
    'silentLogout',
    'restart',
    'tooFrequent',
    'latency',
    'historyLag',
    'pumpStall',
    'pumpDuplicate',
    'pumpReorder',
  ]);
  const kinds = Object.fromEntries(FAULT_KINDS.filter((k) => !on.has(k)).map((k) => [k, { enabled: false }]));
  return { intensity, swarm: false, kinds, params };
}
