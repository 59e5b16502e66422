import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSimWorld, type SimWorld } from '../../scenarios/world.ts';
import { type BrokerConfigInput, commentFor, type Leg, type TransferRow } from '../../service/index.ts';
import { propertyParams } from '../property.ts';
import { brokerConfig, must, openAccount, SETTLED } from './helpers.ts';

/**
 * Exactly once, under random faults and crashes: deposits and withdrawals arrive over a faulty stretch of
 * virtual time while the simulator misbehaves (timeouts before and after apply, drops, silent logouts,
 * restarts, rate limits, history lag, dealer edits...) and the service is killed at random instants (any
 * await point: with network latency, often between a send and its answer) and started again on the same
 * store. Then faults stop and the service is given time to finish. No reference may be on a server twice;
 * every transfer must be settled, and be on its server exactly when the ledger says it was posted.
 */

type Action =
  | { kind: 'deposit'; atMs: number; account: number; amountCents: number }
  | { kind: 'withdrawal'; atMs: number; account: number; amountCents: number }
  | { kind: 'crash'; atMs: number; downMs: number };

const PRODUCTS = [
  { country: 'DE', productId: 'eu-classic' },
  { country: 'US', productId: 'global-standard' },
  { country: 'FR', productId: 'pro' },
] as const;

const FAULTY_MS = 1_800_000;

/** A transfer of `kind` on one of the accounts, at some instant of the faulty stretch. */
const transferAction = <K extends 'deposit' | 'withdrawal'>(kind: K, maxCents: number) =>
  fc.record({
    kind: fc.constant(kind),
    atMs: fc.integer({ min: 0, max: FAULTY_MS }),
    account: fc.nat({ max: PRODUCTS.length - 1 }),
    amountCents: fc.integer({ min: 10_00, max: maxCents }),
  });

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: transferAction('deposit', 5_000_00) },
  { weight: 3, arbitrary: transferAction('withdrawal', 3_000_00) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      atMs: fc.integer({ min: 0, max: FAULTY_MS }),
      downMs: fc.integer({ min: 0, max: 120_000 }),
    }),
  },
);

interface Run {
  world: SimWorld;
  refs: string[];
  logins: { serverId: string; login: number }[];
}

/**
 * Fault profiles: the defaults scaled, or the lost-answer-with-lagging-history mix that catches a service
 * taking one "not found" for proof (most requests are pings, so the defaults rarely hit a send).
 */
const PROFILES = {
  mild: { intensity: 1 },
  heavy: { intensity: 8 },
  lag: {
    intensity: 1,
    kinds: {
      historyLag: { probability: 0.05 },
      timeoutAfterApply: { probability: 0.05 },
      timeoutBeforeApply: { probability: 0.03 },
      connectionDrop: { probability: 0.02 },
    },
  },
} as const;
type Profile = keyof typeof PROFILES;

/** A change to the broker config of every run (the default: none). */
type BrokerEdit = (config: BrokerConfigInput) => void;

async function runDay(
  seed: number,
  latencyMs: number,
  profile: Profile,
  actions: readonly Action[],
  edit: BrokerEdit = () => {},
): Promise<Run> {
  const world = createSimWorld({
    seed,
    faults: PROFILES[profile],
    baseLatencyMs: latencyMs,
    broker: brokerConfig((c) => {
      c.retry = { ...c.retry, deadlineMs: 2_700_000 };
      edit(c);
    }),
  });
  world.cluster.setRandomFaults(false);
  world.start();
  const accounts: Awaited<ReturnType<typeof openAccount>>[] = [];
  for (const [i, p] of PRODUCTS.entries()) accounts.push(await openAccount(world, { ...p, name: `Client ${i}` }));
  world.cluster.setRandomFaults(true);

  const refs: string[] = [];
  const startMs = world.scheduler.nowMs();
  let restartAtMs: number | null = null;
  const deferred: Action[] = [];
  const perform = async (a: Action) => {
    const account = accounts[(a as { account: number }).account] as (typeof accounts)[number];
    const input = { accountId: account.id, amountCents: (a as { amountCents: number }).amountCents, currency: 'USD' };
    const result = a.kind === 'deposit' ? await world.service.deposit(input) : await world.service.withdraw(input);
    refs.push(must(result).ref);
  };
  for (const a of [...actions].sort((x, y) => x.atMs - y.atMs)) {
    const atMs = startMs + a.atMs;
    if (restartAtMs !== null && restartAtMs <= atMs) {
      await world.scheduler.run({ untilMs: restartAtMs });
      world.start();
      restartAtMs = null;
      // The CRM and the PSP retry what the service could not take while it was down.
      for (const d of deferred.splice(0)) await perform(d);
    }
    await world.scheduler.run({ untilMs: atMs });
    if (a.kind === 'crash') {
      if (!world.running) continue;
      world.crash();
      restartAtMs = atMs + a.downMs;
    } else if (!world.running) deferred.push(a);
    else await perform(a);
  }
  if (restartAtMs !== null) {
    await world.scheduler.run({ untilMs: restartAtMs });
    world.start();
    for (const d of deferred.splice(0)) await perform(d);
  }

  // Heal: faults off; every withdrawal that reached `posted` gets its payout result. Whether everything
  // settled is not asserted here: checkExactlyOnce asserts it transfer by transfer, naming the one that did not.
  world.cluster.setRandomFaults(false);
  const payouts = new Set<string>();
  await world.until(
    async () => {
      const transfers = await world.store.transaction((tx) => tx.select('transfers', {}));
      for (const t of transfers) {
        if (t.state === 'posted' && !payouts.has(t.ref)) {
          payouts.add(t.ref);
          must(await world.service.completePayout({ ref: t.ref, succeeded: payouts.size % 2 === 0 }));
        }
      }
      return transfers.every((t) => SETTLED.has(t.state) && t.state !== 'posted');
    },
    4 * 3_600_000,
    10_000,
  );
  return {
    world,
    refs,
    logins: accounts.map((a) => ({ serverId: a.serverId, login: a.login as number })),
  };
}

function checkExactlyOnce({ world, refs, logins }: Run, transfers: TransferRow[]): void {
  expect(transfers.map((t) => t.ref).sort()).toEqual([...refs].sort());
  // Our comments, wherever they are on any server.
  const found = new Map<string, { serverId: string; login: number; amountCents: number }[]>();
  for (const { serverId, login } of logins) {
    for (const op of world.cluster.server(serverId).allBalanceOps(login)) {
      const list = found.get(op.comment) ?? [];
      list.push({ serverId, login, amountCents: op.amountCents });
      found.set(op.comment, list);
    }
  }
  for (const t of transfers) {
    expect(SETTLED.has(t.state) && t.state !== 'posted', `${t.ref} is ${t.state}`).toBe(true);
    const legs: Leg[] = t.kind === 'withdrawal' ? ['main', 'refund'] : ['main'];
    for (const leg of legs) {
      const ops = found.get(commentFor(t.ref, leg)) ?? [];
      const what = `${t.ref} ${leg} (${t.state}, ${t.reason ?? ''})`;
      expect(ops.length, `${what} is on the server ${ops.length} times`).toBeLessThanOrEqual(1);
      const posted = leg === 'main' ? ['done', 'refunded'].includes(t.state) : t.state === 'refunded';
      const never = ['rejected', 'failed'].includes(t.state) || (leg === 'refund' && t.state === 'done');
      if (posted) {
        expect(ops, `${what} is posted in the ledger but not on the server`).toHaveLength(1);
        const sign = t.kind === 'withdrawal' && leg === 'main' ? -1 : 1;
        expect(ops[0]).toEqual({ serverId: t.serverId, login: t.login, amountCents: sign * t.amountCents });
      }
      if (never) expect(ops, `${what} is on the server though the ledger says ${t.state}`).toHaveLength(0);
    }
  }
}

/** The property: a random day of faults, crashes and transfers, with the broker config changed by `edit`. */
function exactlyOnce(edit?: BrokerEdit) {
  return fc.asyncProperty(
    fc.integer({ min: 1, max: 2 ** 30 }),
    fc.constantFrom(0, 5, 40),
    fc.constantFrom<Profile>('mild', 'heavy', 'lag'),
    fc.array(action, { minLength: 5, maxLength: 40 }),
    async (seed, latencyMs, profile, actions) => {
      const run = await runDay(seed, latencyMs, profile, actions, edit);
      const transfers = await run.world.store.transaction((tx) => tx.select('transfers', {}));
      if (process.env.MTPROOF_PROPERTY_VERBOSE === '1') {
        const states: Record<string, number> = {};
        for (const t of transfers) states[t.state] = (states[t.state] ?? 0) + 1;
        const faults = run.world.cluster.trace.counts('fault');
        console.log(JSON.stringify({ seed, latencyMs, profile, incarnations: run.world.incarnations, states, faults }));
      }
      checkExactlyOnce(run, transfers);
      // Anything the service could not settle is in review with an alert.
      const alerts = await run.world.store.transaction((tx) => tx.select('alerts', { kind: 'transfer_review' }));
      for (const t of transfers.filter((x) => x.state === 'review')) {
        expect(
          alerts.some((a) => a.subject === t.ref),
          `${t.ref} in review without an alert`,
        ).toBe(true);
      }
    },
  );
}

describe('exactly-once posting under faults and crashes', () => {
  it('never posts a reference twice and loses none', async () => {
    await fc.assert(exactlyOnce(), propertyParams('exactly-once', 25));
  }, 600_000);

  it('catches a service that takes one "not found" after an unknown send for proof (tolerance 0)', async () => {
    // The control experiment: the property can fail. Without the history-lag rule, a lagging history hides
    // an applied send and the retry posts it again. Seed 7 finds such a day at its first run (any request the
    // service adds, e.g. trade-sync reads, moves which calls the random faults hit: re-pick the seed then).
    const result = await fc.check(
      exactlyOnce((c) => {
        c.posting = { ...c.posting, historyLagToleranceMs: 0 };
      }),
      { seed: 7, numRuns: 10, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    // Failed for the reason under test: a reference posted twice, not a broken harness.
    expect(String(result.errorInstance)).toMatch(/is on the server \d+ times/);
  }, 600_000);
});
