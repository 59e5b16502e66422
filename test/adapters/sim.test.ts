import { describe, expect, it } from 'vitest';
import type { ErrorReason, Outcome } from '../../adapters/port/errors.ts';
import type { ManagerApi, PumpEvent, Result } from '../../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../../adapters/sim/index.ts';
import type { Process } from '../../kit/scheduler.ts';
import { DEFAULT_TIMEOUT_MS, type FaultConfigInput, type FaultKind, SimCluster } from '../../simulator/index.ts';
import { type ContractFixture, describeManagerApiContract } from './contract/manager-api.contract.ts';

/**
 * The ManagerApi contract against the in-process simulator adapters, one fresh SimCluster per fixture
 * (fixed seed, random faults off), plus what only the simulator can show (its trace).
 */

interface ServerSpec {
  serverId: string;
  group: string;
  otherGroup: string;
  startingBalanceCents?: number;
}

const SERVERS: readonly ServerSpec[] = [
  { serverId: 'mt4-live-eu', group: 'eu-std-usd', otherGroup: 'eu-pro-usd' },
  { serverId: 'mt5-live-global', group: 'real\\standard-usd', otherGroup: 'real\\pro-usd' },
  // The demo server funds a new account with its group's default deposit (demo-std-usd: 10 000.00).
  { serverId: 'mt4-demo', group: 'demo-std-usd', otherGroup: 'demo-pro-usd', startingBalanceCents: 10_000_00 },
];

const CREDENTIALS = { login: 1000, password: 'Manager#1' } as const;
const PASSWORD = 'Passw0rd!x';

interface SimFixture extends ContractFixture {
  cluster: SimCluster;
  /** The long-lived process that owns the adapter: every wait of the adapter goes through it. */
  world: Process;
}

/**
 * A fixture on a fresh cluster. The adapter's clock is one process that lives as long as the fixture (a
 * finished process drops its timers, so a per-`run` process could not own an adapter used across runs).
 * `run` spawns a process for the body and runs the scheduler until it is idle; the body must have settled
 * by then (pump deliveries and timeouts are timers, so they complete), or it waits on nothing: a deadlock.
 */
async function makeSimFixture(
  spec: ServerSpec,
  options: { trace?: boolean; seed?: string; schedule?: FaultConfigInput['schedule'] } = {},
): Promise<SimFixture> {
  const cluster = new SimCluster({
    seed: options.seed ?? `contract-${spec.serverId}`,
    faults: { intensity: 0, swarm: false, schedule: options.schedule ?? [] },
    trace: { retain: options.trace ?? false },
  });
  const scheduler = cluster.scheduler;
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const box: { world?: Process } = {};
  scheduler.spawn(`adapter ${spec.serverId}`, async (proc) => {
    box.world = proc;
    await released;
  });
  await scheduler.run();
  const world = box.world;
  if (world === undefined) throw new Error('fixture: the adapter process did not start');
  const api: ManagerApi = createSimManagerApi(cluster, spec.serverId, { clock: world });
  const serverId = spec.serverId;
  let runs = 0;

  return {
    cluster,
    world,
    api,
    credentials: CREDENTIALS,
    group: spec.group,
    otherGroup: spec.otherGroup,
    password: PASSWORD,
    ...(spec.startingBalanceCents === undefined ? {} : { startingBalanceCents: spec.startingBalanceCents }),
    async run<T>(body: () => Promise<T>): Promise<T> {
      const box: { settled?: { ok: true; value: T } | { ok: false; error: unknown } } = {};
      scheduler.spawn(`contract run ${++runs}`, async () => {
        try {
          box.settled = { ok: true, value: await body() };
        } catch (error) {
          box.settled = { ok: false, error };
        }
      });
      await scheduler.run();
      const settled = box.settled;
      if (settled === undefined) {
        throw new Error(
          'fixture: the scheduler went idle with the body still waiting (it waits on something outside virtual time)',
        );
      }
      if (!settled.ok) throw settled.error;
      return settled.value;
    },
    advance: (ms) => world.sleep(ms),
    trade: {
      async open(login, symbol, side, volumeCentiLots) {
        const r = cluster.client(serverId).open(login, symbol, side, volumeCentiLots);
        if (!r.ok) throw new Error(`client open refused: ${r.fail} ${r.detail}`);
        return r.value.ticket;
      },
      async close(ticket) {
        const r = cluster.client(serverId).close(ticket);
        if (!r.ok) throw new Error(`client close refused: ${r.fail} ${r.detail}`);
      },
    },
    // The simulator's reading where the facts file is silent (simulator/README.md).
    mt4WithdrawalAboveFreeMargin: 'applied',
    faults: {
      timeoutAfterApply: () => cluster.inject(serverId, 'timeoutAfterApply'),
      timeoutBeforeApply: () => cluster.inject(serverId, 'timeoutBeforeApply'),
      dropConnection: () => cluster.inject(serverId, 'connectionDrop', { applied: true }),
    },
    async close() {
      await api.close();
      release();
      await scheduler.run();
    },
  };
}

for (const spec of SERVERS) {
  describeManagerApiContract(`sim ${spec.serverId}`, () => makeSimFixture(spec));
}

// ---- what only the simulator shows ----

function must<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new Error(`${what} failed: ${result.error.message}`);
  return result.value;
}

const spec = (id: string): ServerSpec => SERVERS.find((s) => s.serverId === id) as ServerSpec;

/** Runs `body` on a fresh traced fixture, connected, with one new account. */
async function withAccount(
  serverId: string,
  body: (f: SimFixture, login: number) => Promise<void>,
): Promise<SimFixture> {
  const f = await makeSimFixture(spec(serverId), { trace: true });
  try {
    await f.run(async () => {
      must(await f.api.connect(f.credentials), 'connect');
      const { login } = must(
        await f.api.createAccount({ group: f.group, name: 'Sim Specific', password: f.password }),
        'createAccount',
      );
      await body(f, login);
    });
  } finally {
    await f.close();
  }
  return f;
}

const calls = (f: SimFixture, name: string) =>
  f.cluster.trace.events().filter((e) => e.type === 'call' && e.name === name && e.where === f.api.serverId);

describe('sim adapters: platform details seen in the trace', () => {
  it('MT5 postBalance succeeds with 10009 (MT_RET_REQUEST_DONE) from DealerBalance', async () => {
    const f = await withAccount('mt5-live-global', async (f, login) => {
      must(await f.api.postBalance({ login, amountCents: 10_00, kind: 'balance', comment: 'sim-10009' }), 'deposit');
      must(await f.api.postBalance({ login, amountCents: 5_00, kind: 'credit', comment: 'sim-10009-c' }), 'credit');
    });
    expect(calls(f, 'DealerBalance').map((e) => e.detail)).toEqual(['10009', '10009']);
    expect(calls(f, 'TradeTransaction')).toEqual([]);
  });

  it('MT5 postBalance failures keep the platform code (no money: 10019)', async () => {
    const f = await withAccount('mt5-live-global', async (f, login) => {
      const r = await f.api.postBalance({ login, amountCents: -1_00, kind: 'balance', comment: 'sim-nomoney' });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe(10019);
        expect(r.error.codeName).toBe('MT_RET_REQUEST_NO_MONEY');
      }
    });
    expect(calls(f, 'DealerBalance').map((e) => e.detail)).toEqual(['10019']);
  });

  for (const serverId of ['mt4-live-eu', 'mt4-demo']) {
    it(`MT4 (${serverId}) balance posts go through TradeTransaction with RET_OK 0`, async () => {
      const f = await withAccount(serverId, async (f, login) => {
        must(await f.api.postBalance({ login, amountCents: 10_00, kind: 'balance', comment: 'sim-tt' }), 'deposit');
        must(await f.api.postBalance({ login, amountCents: 5_00, kind: 'credit', comment: 'sim-tt-c' }), 'credit');
      });
      expect(calls(f, 'TradeTransaction').map((e) => e.detail)).toEqual(['0', '0']);
      expect(calls(f, 'DealerBalance')).toEqual([]);
    });
  }

  for (const { serverId } of SERVERS) {
    it(`${serverId}: calls before connect send no request at all`, async () => {
      const f = await makeSimFixture(spec(serverId), { trace: true });
      try {
        await f.run(async () => {
          expect((await f.api.ping()).ok).toBe(false);
          expect((await f.api.postBalance({ login: 1, amountCents: 1, kind: 'balance', comment: 'x' })).ok).toBe(false);
          expect((await f.api.createAccount({ group: f.group, name: 'Never', password: f.password })).ok).toBe(false);
        });
        expect(f.cluster.trace.events().filter((e) => e.type === 'call')).toEqual([]);
        expect(f.cluster.step).toBe(0);
      } finally {
        await f.close();
      }
    });
  }
});

describe('sim adapters: what a dealer does by hand', () => {
  for (const { serverId } of SERVERS) {
    it(`${serverId}: a dealer correction shows in balanceHistory and on the stream`, async () => {
      await withAccount(serverId, async (f, login) => {
        const events: PumpEvent[] = [];
        must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
        const before = must(await f.api.getAccount(login), 'getAccount').balanceCents;
        const edit = f.cluster.dealer(serverId).balanceCorrection(login, 3_21, 'adj by dealer');
        expect(edit.ok).toBe(true);
        await f.advance(1);
        expect(must(await f.api.getAccount(login), 'getAccount').balanceCents - before).toBe(3_21);
        const now = must(await f.api.serverTime(), 'serverTime');
        const ops = must(await f.api.balanceHistory(login, now - 3600, now + 3600), 'balanceHistory');
        const mine = ops.filter((op) => op.comment === 'adj by dealer');
        expect(mine).toHaveLength(1);
        expect(mine[0]?.kind).toBe('balance');
        expect(mine[0]?.amountCents).toBe(3_21);
        // MT4 books it as OP_BALANCE (6), MT5 as DEAL_CORRECTION (5).
        expect(mine[0]?.platformType).toBe(f.api.platform === 'mt4' ? 6 : 5);
        expect(events).toContainEqual({
          type: 'balance',
          login,
          ticket: mine[0]?.ticket,
          kind: 'balance',
          amountCents: 3_21,
          comment: 'adj by dealer',
        });
      });
    });
  }
});

describe('sim adapters: where an armed fault lands', () => {
  for (const { serverId } of SERVERS) {
    it(`${serverId}: createAccount without leverage reads the groups first, so an armed fault hits that read`, async () => {
      const f = await withAccount(serverId, async (f) => {
        f.faults?.timeoutAfterApply();
        const r = await f.api.createAccount({
          group: f.group,
          name: 'Fault Lands',
          externalId: 'fault-lands',
          password: f.password,
        });
        expect(r.ok).toBe(false);
        if (!r.ok) expect([r.error.outcome, r.error.op]).toEqual(['unknown', 'groups']);
        const all = must(await f.api.listAccounts('*'), 'listAccounts');
        expect(all.filter((a) => a.externalId === 'fault-lands')).toHaveLength(0);
        // With the leverage given it is one request, and the fault hits the creation itself.
        f.faults?.timeoutAfterApply();
        const r2 = await f.api.createAccount({
          group: f.group,
          name: 'Fault Lands',
          externalId: 'fault-lands-2',
          leverage: 50,
          password: f.password,
        });
        expect(r2.ok).toBe(false);
        if (!r2.ok) expect([r2.error.outcome, r2.error.op]).toEqual(['unknown', 'createAccount']);
        const all2 = must(await f.api.listAccounts('*'), 'listAccounts');
        expect(all2.filter((a) => a.externalId === 'fault-lands-2')).toHaveLength(1);
      });
      const faulted = f.cluster.trace.events().filter((e) => e.type === 'fault').length;
      expect(faulted).toBe(2);
    });
  }
});

describe('sim adapters: sessions on the server', () => {
  for (const { serverId } of SERVERS) {
    it(`${serverId}: close() leaves no session open on the server, pumping included`, async () => {
      const f = await makeSimFixture(spec(serverId));
      try {
        await f.run(async () => {
          must(await f.api.connect(f.credentials), 'connect');
          must(await f.api.subscribe(() => {}), 'subscribe');
          expect(f.cluster.sessions(serverId).length).toBeGreaterThan(0);
          await f.api.close();
          expect(f.cluster.sessions(serverId)).toHaveLength(0);
        });
      } finally {
        await f.close();
      }
    });

    it(`${serverId}: connect() twice keeps one connection's worth of sessions`, async () => {
      const f = await makeSimFixture(spec(serverId));
      try {
        await f.run(async () => {
          must(await f.api.connect(f.credentials), 'connect');
          const one = f.cluster.sessions(serverId).length;
          must(await f.api.connect(f.credentials), 'connect again');
          expect(f.cluster.sessions(serverId)).toHaveLength(one);
        });
      } finally {
        await f.close();
      }
    });
  }
});

describe('sim adapters: a connect that fails half-way', () => {
  it('mt4-live-eu: a refused rights read fails connect and leaves the adapter disconnected, with no session', async () => {
    // MT4 connect is Connect (no request), Login (request 1), ManagerRights (request 2).
    const f = await makeSimFixture(spec('mt4-live-eu'), {
      schedule: [{ atStep: 2, server: 'mt4-live-eu', fault: 'tooFrequent' }],
    });
    try {
      await f.run(async () => {
        const r = await f.api.connect(f.credentials);
        expect(r.ok).toBe(false);
        if (!r.ok) expect([r.error.op, r.error.reason]).toEqual(['connect.rights', 'too_frequent']);
        expect(f.api.isConnected()).toBe(false);
        expect(f.cluster.sessions('mt4-live-eu')).toHaveLength(0);
        // Not connected means nothing is sent.
        expect((await f.api.ping()).ok).toBe(false);
        expect(f.cluster.step).toBe(2);
        const again = must(await f.api.connect(f.credentials), 'connect again');
        expect(again.rights?.money).toBe(true);
        expect(f.api.isConnected()).toBe(true);
        must(await f.api.ping(), 'ping');
      });
    } finally {
      await f.close();
    }
  });
});

describe('sim adapters: every request fault on a deposit', () => {
  interface Case {
    fault: FaultKind;
    params?: Record<string, number | boolean>;
    /** What the port must say, per platform where they differ. */
    expect: { ok: true } | { outcome: Outcome; reason: ErrorReason; mt5?: { outcome: Outcome; reason: ErrorReason } };
    applied: boolean;
    /** Time to wait before connecting again (a restart's downtime). */
    waitMs?: number;
  }
  const CASES: Case[] = [
    { fault: 'timeoutBeforeApply', expect: { outcome: 'unknown', reason: 'timeout' }, applied: false },
    { fault: 'timeoutAfterApply', expect: { outcome: 'unknown', reason: 'timeout' }, applied: true },
    {
      fault: 'connectionDrop',
      params: { applied: true },
      expect: { outcome: 'unknown', reason: 'no_connection' },
      applied: true,
    },
    {
      fault: 'connectionDrop',
      params: { applied: false },
      expect: { outcome: 'unknown', reason: 'no_connection' },
      applied: false,
    },
    {
      fault: 'restart',
      params: { applied: false, downtimeMs: 30_000 },
      expect: { outcome: 'unknown', reason: 'no_connection' },
      applied: false,
      waitMs: 30_000,
    },
    {
      fault: 'restart',
      params: { applied: true, downtimeMs: 30_000 },
      expect: { outcome: 'unknown', reason: 'no_connection' },
      applied: true,
      waitMs: 30_000,
    },
    // MT4 answers RET_NO_CONNECT whether or not anything was sent: unknown. MT5 knows nothing was sent.
    {
      fault: 'silentLogout',
      expect: { outcome: 'unknown', reason: 'no_connection', mt5: { outcome: 'unavailable', reason: 'no_connection' } },
      applied: false,
    },
    { fault: 'tooFrequent', expect: { outcome: 'unavailable', reason: 'too_frequent' }, applied: false },
    { fault: 'permissionDenied', expect: { outcome: 'rejected', reason: 'no_rights' }, applied: false },
    { fault: 'latency', params: { latencyMs: 500 }, expect: { ok: true }, applied: true },
  ];

  for (const { serverId } of SERVERS) {
    for (const c of CASES) {
      const label = `${c.fault}${c.params === undefined ? '' : ` ${JSON.stringify(c.params)}`}`;
      it(`${serverId}: ${label}`, async () => {
        await withAccount(serverId, async (f, login) => {
          const before = must(await f.api.getAccount(login), 'getAccount').balanceCents;
          f.cluster.inject(serverId, c.fault, c.params ?? {});
          const r = await f.api.postBalance({ login, amountCents: 4_00, kind: 'balance', comment: 'sim-fault' });
          if ('ok' in c.expect) {
            expect(r.ok).toBe(true);
          } else {
            const want = f.api.platform === 'mt5' && c.expect.mt5 !== undefined ? c.expect.mt5 : c.expect;
            expect(r.ok).toBe(false);
            if (!r.ok) expect([r.error.outcome, r.error.reason]).toEqual([want.outcome, want.reason]);
          }
          if (c.waitMs !== undefined) {
            expect((await f.api.connect(f.credentials)).ok, 'connect while the server is down').toBe(false);
            await f.advance(c.waitMs);
          }
          if (!f.api.isConnected()) must(await f.api.connect(f.credentials), 'connect again');
          const now = must(await f.api.serverTime(), 'serverTime');
          const ops = must(await f.api.balanceHistory(login, now - 3600, now + 3600), 'balanceHistory');
          expect(ops.filter((op) => op.comment === 'sim-fault')).toHaveLength(c.applied ? 1 : 0);
          const after = must(await f.api.getAccount(login), 'getAccount').balanceCents;
          expect(after - before).toBe(c.applied ? 4_00 : 0);
        });
      });
    }
  }
});

describe('sim fixture', () => {
  it('run() reports a body that waits on something outside virtual time instead of hanging', async () => {
    const f = await makeSimFixture(spec('mt4-live-eu'));
    try {
      await expect(f.run(() => new Promise<void>(() => {}))).rejects.toThrow(/idle/);
    } finally {
      await f.close();
    }
  });

  it('run() passes the value and the error of the body through', async () => {
    const f = await makeSimFixture(spec('mt4-live-eu'));
    try {
      expect(await f.run(async () => 42)).toBe(42);
      await expect(
        f.run(async () => {
          await f.advance(10);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const t0 = f.world.nowMs();
      await f.run(() => f.advance(60_000));
      expect(f.world.nowMs() - t0).toBe(60_000);
    } finally {
      await f.close();
    }
  });
});

describe('sim adapters: faults', () => {
  for (const { serverId } of SERVERS) {
    it(`${serverId}: a timeout costs the client's answer timeout in virtual time`, async () => {
      await withAccount(serverId, async (f, login) => {
        const t0 = f.world.nowMs();
        f.faults?.timeoutBeforeApply();
        const r = await f.api.postBalance({ login, amountCents: 1_00, kind: 'balance', comment: 'sim-timeout' });
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error.reason).toBe('timeout');
        expect(f.world.nowMs() - t0).toBe(DEFAULT_TIMEOUT_MS);
      });
    });

    for (const applied of [true, false]) {
      it(`${serverId}: a dropped connection with applied=${applied} leaves ${applied ? 'one operation' : 'none'}`, async () => {
        await withAccount(serverId, async (f, login) => {
          const before = must(await f.api.getAccount(login), 'getAccount').balanceCents;
          f.cluster.inject(serverId, 'connectionDrop', { applied });
          const r = await f.api.postBalance({ login, amountCents: 9_00, kind: 'balance', comment: 'sim-drop' });
          expect(r.ok).toBe(false);
          if (!r.ok) expect([r.error.outcome, r.error.reason]).toEqual(['unknown', 'no_connection']);
          must(await f.api.connect(f.credentials), 'reconnect');
          const now = must(await f.api.serverTime(), 'serverTime');
          const ops = must(await f.api.balanceHistory(login, now - 3600, now + 3600), 'balanceHistory');
          expect(ops.filter((op) => op.comment === 'sim-drop')).toHaveLength(applied ? 1 : 0);
          const after = must(await f.api.getAccount(login), 'getAccount').balanceCents;
          expect(after - before).toBe(applied ? 9_00 : 0);
        });
      });
    }
  }

  it('the same seed gives the same trace hash', async () => {
    const hashes: string[] = [];
    for (let i = 0; i < 2; i++) {
      const f = await withAccount('mt5-live-global', async (f, login) => {
        must(await f.api.postBalance({ login, amountCents: 10_00, kind: 'balance', comment: 'sim-hash' }), 'deposit');
        f.faults?.timeoutAfterApply();
        await f.api.postBalance({ login, amountCents: 20_00, kind: 'balance', comment: 'sim-hash-2' });
        await f.advance(5_000);
      });
      hashes.push(f.cluster.trace.hash());
    }
    expect(hashes[0]).toBe(hashes[1]);
  });
});
