import { describe, expect, it } from 'vitest';
import type { PumpEvent, Result } from '../../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../../adapters/sim/index.ts';
import { Random } from '../../kit/random.ts';
import type { Process } from '../../kit/scheduler.ts';
import type { SimWorld } from '../../scenarios/world.ts';
import { AuditLog } from '../../service/audit.ts';
import { ServerConnection } from '../../service/connections.ts';
import { type AuditRow, type LogEntry, MemoryStore, parseBrokerConfig, type Store } from '../../service/index.ts';
import { SimCluster } from '../../simulator/index.ts';
import { brokerConfig, must, openAccount, startedWorld } from './helpers.ts';

/**
 * Server connections: connect on demand, reconnect with backoff, keepalive, silent-logout detection, the
 * circuit breaker, and the pumping stream subscribed again after every reconnect. Driven through a running
 * service in a SimWorld, or through one ServerConnection over a sim adapter, always in virtual time.
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';

function auditRows(world: { store: Store }, serverId: string): Promise<AuditRow[]> {
  return world.store.transaction((tx) => tx.select('audit', { serverId }, { orderBy: 'id' }));
}

function statusOf(world: SimWorld, serverId: string) {
  const status = world.service.connectionStatus().find((s) => s.serverId === serverId);
  if (status === undefined) throw new Error(`no connection status for ${serverId}`);
  return status;
}

async function depositDone(world: SimWorld, accountId: string, amountCents: number, maxMs: number) {
  const service = world.service;
  const { ref } = must(await service.deposit({ accountId, amountCents, currency: 'USD' }));
  const done = await world.until(async () => (await service.transfer(ref))?.state === 'done', maxMs);
  return { ref, done, transfer: await service.transfer(ref) };
}

// ---- one ServerConnection over a sim adapter ----

interface Fixture {
  cluster: SimCluster;
  store: MemoryStore;
  conn: ServerConnection;
  events: PumpEvent[];
  logs: LogEntry[];
  /** Runs `body` in the fixture's process until it settles (virtual time moves as the body waits). */
  run<T>(body: (proc: Process) => Promise<T>): Promise<T>;
}

async function connectionFixture(
  serverId: string,
  breaker: { failures: number; openMs: number } = { failures: 5, openMs: 30_000 },
): Promise<Fixture> {
  const config = parseBrokerConfig(
    brokerConfig((c) => {
      c.connections = { ...c.connections, breaker };
    }),
  );
  const server = config.servers.find((s) => s.id === serverId);
  if (server === undefined) throw new Error(`no server ${serverId}`);
  const cluster = new SimCluster({ seed: 'connections', faults: { intensity: 0, swarm: false } });
  const scheduler = cluster.scheduler;
  // The adapter's clock: one process that lives as long as the fixture.
  const box: { proc?: Process } = {};
  scheduler.spawn('owner', async (proc) => {
    box.proc = proc;
    await new Promise<void>(() => {});
  });
  await scheduler.run();
  const proc = box.proc as Process;
  const store = new MemoryStore();
  const events: PumpEvent[] = [];
  const logs: LogEntry[] = [];
  const conn = new ServerConnection({
    server,
    settings: config.connections,
    api: createSimManagerApi(cluster, serverId, { clock: proc, timeoutMs: server.timeoutMs }),
    password: 'Manager#1',
    clock: proc,
    random: new Random('connections'),
    audit: new AuditLog(store, proc, ['Manager#1']),
    store,
    log: (entry) => logs.push(entry),
    onEvent: (_serverId, event) => events.push(event),
  });
  return {
    cluster,
    store,
    conn,
    events,
    logs,
    async run<T>(body: (proc: Process) => Promise<T>): Promise<T> {
      let out: { value: T } | undefined;
      scheduler.spawn('body', async (p) => {
        out = { value: await body(p) };
      });
      await scheduler.run({ stopWhen: () => out !== undefined });
      if (out === undefined) throw new Error('fixture: the body did not finish');
      return out.value;
    },
  };
}

const ping = (conn: ServerConnection): Promise<Result<void>> => conn.call('ping', {}, null, (api) => api.ping());

describe('ServerConnection', () => {
  it('connects on the first call, subscribes to pumping, and audits connect, subscribe and the call', async () => {
    const f = await connectionFixture(EU);
    expect(f.conn.status()).toMatchObject({ connected: false, subscribed: false, reconnects: 0 });
    expect(await auditRows(f, EU)).toHaveLength(0);

    const result = await f.run(() => ping(f.conn));

    expect(result.ok).toBe(true);
    expect(f.conn.status()).toMatchObject({ connected: true, subscribed: true, reconnects: 1, breaker: 'closed' });
    const rows = await auditRows(f, EU);
    expect(rows.map((r) => [r.op, r.outcome])).toEqual([
      ['connect', 'ok'],
      ['subscribe', 'ok'],
      ['ping', 'ok'],
    ]);
    // A second call reuses the connection.
    await f.run(() => ping(f.conn));
    expect((await auditRows(f, EU)).map((r) => r.op)).toEqual(['connect', 'subscribe', 'ping', 'ping']);
    expect(f.conn.status().reconnects).toBe(1);
  });

  it('delivers pumped server events to its consumer once subscribed', async () => {
    const f = await connectionFixture(EU);
    await f.run(() => ping(f.conn));
    const created = f.cluster.server(EU).createAccount({ group: 'eu-std-usd', name: 'Pumped', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error(created.detail);
    f.cluster.dealer(EU).balanceCorrection(created.value.login, 12_345, 'correction');
    await f.run((proc) => proc.sleep(10));

    expect(f.events).toContainEqual(expect.objectContaining({ type: 'user', login: created.value.login }));
    expect(f.events).toContainEqual(
      expect.objectContaining({ type: 'balance', login: created.value.login, amountCents: 12_345 }),
    );
    expect(f.conn.status().lastEventMs).toBe(f.cluster.scheduler.nowMs() - 10);
  });

  it('opens the circuit after `breaker.failures` consecutive failures, refuses without sending, then closes on a good trial', async () => {
    const f = await connectionFixture(EU, { failures: 3, openMs: 10_000 });
    await f.run(() => ping(f.conn));
    f.cluster.restart(EU, 60_000);
    const openedAtMs = f.cluster.scheduler.nowMs();

    const failures = await f.run(async () => [await ping(f.conn), await ping(f.conn), await ping(f.conn)]);
    expect(failures.map((r) => r.ok)).toEqual([false, false, false]);
    expect(f.conn.status()).toMatchObject({ breaker: 'open', consecutiveFailures: 3, connected: false });
    expect(f.conn.circuitOpen).toBe(true);
    const alerts = await f.store.transaction((tx) => tx.select('alerts', { kind: 'circuit_open' }));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: EU, severity: 'critical', atMs: openedAtMs });
    expect(f.logs.some((e) => e.msg === 'circuit opened')).toBe(true);

    // While open: refused at once, nothing sent, nothing audited.
    const auditedBefore = (await auditRows(f, EU)).length;
    const stepBefore = f.cluster.step;
    const refused = await f.run(async (proc) => {
      const first = await ping(f.conn);
      await proc.sleep(5_000);
      return [first, await ping(f.conn)];
    });
    for (const r of refused) {
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.error).toMatchObject({ outcome: 'unavailable', reason: 'no_connection', detail: 'circuit open' });
    }
    expect(await auditRows(f, EU)).toHaveLength(auditedBefore);
    expect(f.cluster.step).toBe(stepBefore);

    // The server is back and openMs has passed: one trial call goes through and closes the circuit.
    const trial = await f.run(async (proc) => {
      await proc.sleep(60_000);
      expect(f.conn.circuitOpen).toBe(false);
      return ping(f.conn);
    });
    expect(trial.ok).toBe(true);
    expect(f.conn.status()).toMatchObject({ breaker: 'closed', consecutiveFailures: 0, connected: true });
    expect((await auditRows(f, EU)).length).toBeGreaterThan(auditedBefore);
  });

  it('opens again when the trial call after openMs fails', async () => {
    const f = await connectionFixture(EU, { failures: 2, openMs: 10_000 });
    await f.run(() => ping(f.conn));
    f.cluster.restart(EU, 3_600_000);
    await f.run(async () => [await ping(f.conn), await ping(f.conn)]);
    expect(f.conn.status().breaker).toBe('open');

    const audited = (await auditRows(f, EU)).length;
    const trial = await f.run(async (proc) => {
      await proc.sleep(10_000);
      return ping(f.conn);
    });
    expect(trial.ok).toBe(false);
    // The trial was sent (a connect attempt), and failed: open again for another openMs.
    expect((await auditRows(f, EU)).length).toBe(audited + 1);
    expect(f.conn.status().breaker).toBe('open');
    expect(f.conn.circuitOpen).toBe(true);
  });

  it('does not count a rejected call as a failure', async () => {
    const f = await connectionFixture(GLOBAL, { failures: 1, openMs: 10_000 });
    const result = await f.run(() => f.conn.call('getAccount', { login: 1 }, null, (api) => api.getAccount(1)));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.outcome).toBe('rejected');
    expect(f.conn.status()).toMatchObject({ breaker: 'closed', consecutiveFailures: 0, connected: true });
  });
});

// ---- the running service ----

describe('service connections', () => {
  it('connects to every configured server and subscribes to pumping when it starts', async () => {
    const world = startedWorld({ seed: 'conn-start' });
    await world.runFor(1_000);
    for (const status of world.service.connectionStatus()) {
      expect(status).toMatchObject({ connected: true, subscribed: true, reconnects: 1, breaker: 'closed' });
    }
    for (const serverId of [EU, GLOBAL, 'mt4-demo']) {
      expect((await auditRows(world, serverId)).map((r) => r.op)).toEqual(['connect', 'subscribe']);
    }
  });

  it('reconnects with backoff after a server restart, subscribes again, and posts a later deposit', async () => {
    const world = startedWorld({ seed: 'conn-restart' });
    const account = await openAccount(world);
    const before = statusOf(world, EU);
    const restartMs = world.scheduler.nowMs();
    world.cluster.restart(EU, 30_000);

    await world.runFor(1);
    expect(statusOf(world, EU)).toMatchObject({ connected: false, subscribed: false });
    const back = await world.until(() => statusOf(world, EU).connected && statusOf(world, EU).subscribed, 120_000);
    expect(back).toBe(true);
    expect(statusOf(world, EU).reconnects).toBe(before.reconnects + 1);

    // The attempts while it was down back off: each wait in [initial × 2^(n−1) × (1 − jitter), initial × 2^(n−1)].
    const connects = (await auditRows(world, EU)).filter((r) => r.op === 'connect' && r.atMs >= restartMs);
    const failed = connects.filter((r) => r.outcome !== 'ok');
    expect(failed.length).toBeGreaterThanOrEqual(4);
    expect(failed.every((r) => r.atMs < restartMs + 30_000)).toBe(true);
    expect(failed[0]?.atMs).toBe(restartMs);
    for (let n = 1; n < Math.min(failed.length, 5); n++) {
      const waited = (failed[n] as AuditRow).atMs - (failed[n - 1] as AuditRow).atMs;
      expect(waited).toBeGreaterThanOrEqual(500 * 2 ** (n - 1));
      expect(waited).toBeLessThanOrEqual(1_000 * 2 ** (n - 1));
    }
    const reconnected = connects.find((r) => r.outcome === 'ok');
    expect(reconnected?.atMs).toBeGreaterThanOrEqual(restartMs + 30_000);

    const deposit = await depositDone(world, account.id, 50_000, 60_000);
    expect(deposit.done).toBe(true);
    const ops = world.cluster.server(EU).allBalanceOps(account.login as number);
    expect(ops.filter((op) => op.comment === deposit.ref)).toHaveLength(1);
  });

  it('re-establishes the connection after a silent logout, detected by the keepalive ping', async () => {
    const world = startedWorld({ seed: 'conn-silent' });
    await world.runFor(1_000);
    world.cluster.inject(EU, 'silentLogout');
    const injectedMs = world.scheduler.nowMs();
    // The socket is up: nothing is noticed until the next ping (pingIntervalMs after the connect).
    await world.runFor(25_000);
    expect(statusOf(world, EU)).toMatchObject({ connected: true, reconnects: 1 });

    await world.runFor(10_000);
    const rows = (await auditRows(world, EU)).filter((r) => r.atMs > injectedMs);
    expect(rows.map((r) => [r.op, r.outcome])).toEqual([
      ['ping', 'unavailable'],
      ['connect', 'ok'],
      ['subscribe', 'ok'],
    ]);
    expect(statusOf(world, EU)).toMatchObject({ connected: true, subscribed: true, reconnects: 2 });
    // The new session works: the next ping answers.
    await world.runFor(30_000);
    expect((await auditRows(world, EU)).at(-1)).toMatchObject({ op: 'ping', outcome: 'ok' });
  });

  // Regression: the adapter marked itself disconnected on the failed ping (reason no_connection) before
  // `keepalive` asked `api.isConnected()`, so a silent logout was never counted (service/connections.ts).
  it('counts a silent logout found by the keepalive ping in status.silentLogouts', async () => {
    const world = startedWorld({ seed: 'conn-silent-count' });
    await world.runFor(1_000);
    world.cluster.inject(EU, 'silentLogout');
    await world.runFor(40_000);
    expect(statusOf(world, EU).reconnects).toBe(2);
    expect(statusOf(world, EU).silentLogouts).toBe(1);
  });

  it('opens the circuit during a long outage, sends nothing while open, and closes once the server is back', async () => {
    const world = startedWorld({ seed: 'conn-breaker' });
    await world.runFor(1_000);
    const restartMs = world.scheduler.nowMs();
    world.cluster.restart(EU, 120_000);

    const opened = await world.until(() => statusOf(world, EU).breaker === 'open', 60_000, 100);
    expect(opened).toBe(true);
    const { failures, openMs } = world.config.connections.breaker;
    const failed = (await auditRows(world, EU)).filter((r) => r.atMs >= restartMs && r.outcome !== 'ok');
    expect(failed).toHaveLength(failures);
    expect(statusOf(world, EU).consecutiveFailures).toBe(failures);

    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'circuit_open');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: EU, severity: 'critical' });
    expect(alerts[0]?.details).toMatchObject({ failures, openMs });
    const openedMs = (alerts[0] as { atMs: number }).atMs;
    expect(openedMs).toBe(failed.at(-1)?.answeredMs);

    // Nothing reaches the server (nor the audit) while the circuit is open.
    const audited = (await auditRows(world, EU)).length;
    await world.runFor(openedMs + openMs - 1 - world.scheduler.nowMs());
    expect(world.service.connectionStatus().find((s) => s.serverId === EU)?.breaker).toBe('open');
    expect((await auditRows(world, EU)).filter((r) => r.atMs > openedMs)).toHaveLength(0);
    expect(await auditRows(world, EU)).toHaveLength(audited);

    const closed = await world.until(() => statusOf(world, EU).breaker === 'closed', 300_000);
    expect(closed).toBe(true);
    expect(statusOf(world, EU)).toMatchObject({ connected: true, subscribed: true, consecutiveFailures: 0 });
    expect(world.scheduler.nowMs()).toBeGreaterThanOrEqual(restartMs + 120_000);
    // The failed reconnects after openMs kept the circuit open without alerting again.
    expect((await world.service.alerts()).filter((a) => a.kind === 'circuit_open')).toHaveLength(1);
  });

  it('refuses a job call while the circuit is open without auditing it', async () => {
    const world = startedWorld({ seed: 'conn-breaker-job' });
    const account = await openAccount(world);
    world.cluster.restart(EU, 3_600_000);
    expect(await world.until(() => statusOf(world, EU).breaker === 'open', 60_000, 100)).toBe(true);
    const openedMs = world.scheduler.nowMs();

    const accepted = must(await world.service.deposit({ accountId: account.id, amountCents: 20_000, currency: 'USD' }));
    await world.runFor(5_000);
    const transfer = await world.service.transfer(accepted.ref);
    expect(transfer?.state).toBe('accepted');
    expect(transfer?.lastError).toContain('circuit open');
    const rows = (await auditRows(world, EU)).filter((r) => r.atMs > openedMs);
    expect(rows).toHaveLength(0);
  });

  // Regression: a failed half-open trial (any job call after openMs) opened the circuit "again" and raised a
  // new circuit_open alert each time, so one outage raised a critical alert every openMs or so
  // (service/connections.ts, `wasOpen` ignored 'half-open').
  it('raises one circuit_open alert for one outage, even while jobs keep trying the server', async () => {
    const world = startedWorld({ seed: 'conn-breaker-alerts' });
    const account = await openAccount(world);
    world.cluster.restart(EU, 600_000);
    await world.runFor(20_000);
    const accepted = must(await world.service.deposit({ accountId: account.id, amountCents: 20_000, currency: 'USD' }));
    await world.runFor(700_000);
    expect((await world.service.transfer(accepted.ref))?.state).toBe('done');
    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'circuit_open' && a.subject === EU);
    expect(alerts).toHaveLength(1);
  });

  it('reconnects at once when the pumping stream stops, not at the next ping', async () => {
    const world = startedWorld({ seed: 'conn-pump-stop' });
    await world.runFor(5_000);
    const pumpSession = world.cluster.sessions(EU).find((s) => s.pumps.size > 0);
    if (pumpSession === undefined) throw new Error('no pumping session on the server');
    const droppedMs = world.scheduler.nowMs();
    world.cluster.dropSession(pumpSession);

    await world.runFor(100);
    const rows = (await auditRows(world, EU)).filter((r) => r.atMs >= droppedMs);
    expect(rows.map((r) => [r.op, r.outcome])).toEqual([
      ['connect', 'ok'],
      ['subscribe', 'ok'],
    ]);
    expect(rows.every((r) => r.atMs - droppedMs < 100)).toBe(true);
    expect(statusOf(world, EU)).toMatchObject({ connected: true, subscribed: true, reconnects: 2 });
    // The other servers are untouched.
    expect(statusOf(world, GLOBAL).reconnects).toBe(1);
  });

  it('keeps pinging a healthy server every pingIntervalMs', async () => {
    const world = startedWorld({ seed: 'conn-ping' });
    await world.runFor(95_000);
    const pings = (await auditRows(world, GLOBAL)).filter((r) => r.op === 'ping');
    const startMs = world.scheduler.startMs;
    expect(pings.map((r) => r.atMs - startMs)).toEqual([30_000, 60_000, 90_000]);
    expect(pings.every((r) => r.outcome === 'ok')).toBe(true);
  });
});
