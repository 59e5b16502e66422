import { describe, expect, it } from 'vitest';
import { ManagerError } from '../../adapters/port/errors.ts';
import type { PumpEvent, Result, Trade } from '../../adapters/port/manager-api.ts';
import type { SimWorld } from '../../scenarios/world.ts';
import type { ServiceContext } from '../../service/context.ts';
import {
  type AccountRow,
  type AuditRow,
  type BrokerConfigInput,
  MemoryStore,
  parseBrokerConfig,
  type TradeRow,
  tradeId,
} from '../../service/index.ts';
import { TradeSync } from '../../service/trades.ts';
import { toPrice } from '../../simulator/dialect.ts';
import type { SimPosition } from '../../simulator/index.ts';
import { brokerConfig, depositSettled, openAccount, startedWorld } from './helpers.ts';

/**
 * Trade-event synchronisation: every position a client opens or closes on one of the service's accounts
 * is one `trades` row — from the pump, or from history when the pump lost it (a stall, a dropped
 * connection, the service down). Each test checks the rows against the simulator's ground truth, exactly.
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';
const PRODUCT: Record<string, { country: string; productId: string }> = {
  [EU]: { country: 'DE', productId: 'eu-classic' },
  [GLOBAL]: { country: 'US', productId: 'global-standard' },
};
const DAY_MS = 86_400_000;

interface Setup {
  world: SimWorld;
  serverId: string;
  accountId: string;
  login: number;
  /** Trade events the pump delivered to the service on `serverId`, in order. */
  events: Extract<PumpEvent, { type: 'trade' }>[];
}

/** A running world with one funded account of the service on `serverId`. */
async function tradingAccount(
  serverId: string,
  connections: NonNullable<BrokerConfigInput['connections']> = {},
  lookbackMs?: number,
): Promise<Setup> {
  const events: Setup['events'] = [];
  const world = startedWorld({
    broker: brokerConfig((c) => {
      c.connections = { ...c.connections, ...connections };
      if (lookbackMs !== undefined) c.posting = { ...c.posting, lookbackMs };
    }),
    ports: {
      onPumpEvent: (id, event) => {
        if (id === serverId && event.type === 'trade') events.push(event);
      },
    },
  });
  const account = await openAccount(world, PRODUCT[serverId]);
  await depositSettled(world, { accountId: account.id, amountCents: 10_000_00, currency: 'USD' });
  return { world, serverId, accountId: account.id, login: account.login as number, events };
}

/** The client's terminal: trades on the server directly, never through the service. */
function open(world: SimWorld, serverId: string, login: number, side: 'buy' | 'sell' = 'buy'): number {
  const r = world.cluster.client(serverId).open(login, 'EURUSD', side, 10);
  if (!r.ok) throw new Error(`open refused: ${r.fail}`);
  return r.value.ticket;
}

function close(world: SimWorld, serverId: string, ticket: number): void {
  const r = world.cluster.client(serverId).close(ticket);
  if (!r.ok) throw new Error(`close refused: ${r.fail}`);
}

type Fact = Omit<TradeRow, 'source' | 'recordedMs'>;

/** What the server says happened on `login`: every open and close, once, sorted by id. */
function groundTruth(world: SimWorld, serverId: string, login: number): Fact[] {
  const server = world.cluster.server(serverId);
  const facts: Fact[] = [];
  const what = (p: SimPosition) => ({ symbol: p.symbol, side: p.side, volumeCentiLots: p.volume });
  const opened = (p: SimPosition): Fact => ({
    id: tradeId(serverId, login, p.ticket, 'open'),
    serverId,
    login,
    ticket: p.ticket,
    action: 'open',
    ...what(p),
    price: toPrice(p.openPrice, p.digits),
    profitCents: null,
    serverSec: p.openServerSec,
  });
  for (const t of server.allClosedTrades(login)) {
    facts.push(opened(t), {
      id: tradeId(serverId, login, t.ticket, 'close'),
      serverId,
      login,
      ticket: t.ticket,
      action: 'close',
      ...what(t),
      price: toPrice(t.closePrice, t.digits),
      profitCents: t.profitCents,
      serverSec: t.closeServerSec,
    });
  }
  for (const p of server.openPositions(login)) facts.push(opened(p));
  return facts.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The service's rows of `login` on `serverId` as facts, and where each came from. */
async function recorded(
  world: SimWorld,
  serverId: string,
  login: number,
): Promise<{ facts: Fact[]; sources: Record<string, TradeRow['source']> }> {
  const rows = (await world.service.trades()).filter((r) => r.serverId === serverId && r.login === login);
  return {
    facts: rows.map(({ source: _s, recordedMs: _r, ...fact }) => fact),
    sources: Object.fromEntries(rows.map((r) => [r.id, r.source])),
  };
}

/** Runs until the service's rows of the account are the server's ground truth; returns whether they got there. */
async function untilInSync(s: Setup, maxMs: number, stepMs = 1_000): Promise<boolean> {
  return s.world.until(
    async () => {
      const { facts } = await recorded(s.world, s.serverId, s.login);
      return JSON.stringify(facts) === JSON.stringify(groundTruth(s.world, s.serverId, s.login));
    },
    maxMs,
    stepMs,
  );
}

function auditRows(world: SimWorld, serverId: string): Promise<AuditRow[]> {
  return world.store.transaction((tx) => tx.select('audit', { serverId }, { orderBy: 'id' }));
}

const id = (s: Setup, ticket: number, action: 'open' | 'close') => tradeId(s.serverId, s.login, ticket, action);

describe('trade sync', () => {
  it.each([EU, GLOBAL])('records an open and then its close once each, from the pump (%s)', async (serverId) => {
    const s = await tradingAccount(serverId);
    const ticket = open(s.world, serverId, s.login, 'sell');
    await s.world.runFor(5_000);

    let now = await recorded(s.world, serverId, s.login);
    expect(now.facts).toEqual(groundTruth(s.world, serverId, s.login));
    expect(now.facts.map((f) => [f.ticket, f.action, f.side])).toEqual([[ticket, 'open', 'sell']]);
    expect(now.sources).toEqual({ [id(s, ticket, 'open')]: 'pump' });

    close(s.world, serverId, ticket);
    await s.world.runFor(5_000);

    now = await recorded(s.world, serverId, s.login);
    expect(now.facts).toEqual(groundTruth(s.world, serverId, s.login));
    expect(now.facts.map((f) => [f.ticket, f.action])).toEqual([
      [ticket, 'close'],
      [ticket, 'open'],
    ]);
    expect(now.facts.find((f) => f.action === 'close')?.profitCents).toEqual(expect.any(Number));
    expect(now.sources).toEqual({ [id(s, ticket, 'open')]: 'pump', [id(s, ticket, 'close')]: 'pump' });
    // Looked up through the audited call path, for this account.
    const lookups = (await auditRows(s.world, serverId)).filter((r) => r.subject === s.accountId);
    expect(lookups.filter((r) => r.op === 'openPositions' || r.op === 'trades').length).toBeGreaterThan(0);
    expect(lookups.every((r) => r.outcome === 'ok')).toBe(true);
  });

  it('records a duplicated pump event once, and does not look it up twice', async () => {
    const s = await tradingAccount(GLOBAL);
    const before = (await auditRows(s.world, GLOBAL)).length;
    s.world.cluster.inject(GLOBAL, 'pumpDuplicate');
    const ticket = open(s.world, GLOBAL, s.login);
    await s.world.runFor(5_000);

    // The pump did say it twice...
    expect(s.events.filter((e) => e.ticket === ticket && e.action === 'open')).toHaveLength(2);
    // ...and the service holds it once, and asked the server once.
    const now = await recorded(s.world, GLOBAL, s.login);
    expect(now.facts).toEqual(groundTruth(s.world, GLOBAL, s.login));
    expect(now.sources).toEqual({ [id(s, ticket, 'open')]: 'pump' });
    const calls = (await auditRows(s.world, GLOBAL)).slice(before).filter((r) => r.subject === s.accountId);
    expect(calls.map((r) => r.op)).toEqual(['openPositions']);
    expect(s.world.running).toBe(true);
  });

  it('records events that arrive out of order (a close before its open) once each', async () => {
    const s = await tradingAccount(EU);
    s.world.cluster.inject(EU, 'pumpReorder');
    const ticket = open(s.world, EU, s.login);
    await s.world.runFor(1_000);
    close(s.world, EU, ticket);
    await s.world.runFor(5_000);

    expect(s.events.map((e) => e.action)).toEqual(['close', 'open']);
    const now = await recorded(s.world, EU, s.login);
    expect(now.facts).toEqual(groundTruth(s.world, EU, s.login));
    expect(now.facts.map((f) => f.action)).toEqual(['close', 'open']);
    expect(s.world.running).toBe(true);
  });

  it('fills trades lost in a pump stall from history once the quiet pump is subscribed again', async () => {
    // No periodic fill within the test: the resubscription must be what recovers them.
    const s = await tradingAccount(EU, { pumpQuietMs: 60_000, tradeSyncIntervalMs: DAY_MS });
    s.world.cluster.inject(EU, 'pumpStall', { stallMs: 30_000 });
    const stalledMs = s.world.scheduler.nowMs();
    const ticket = open(s.world, EU, s.login);
    await s.world.runFor(10_000);
    close(s.world, EU, ticket);
    await s.world.runFor(10_000);

    expect(s.events).toEqual([]);
    expect((await recorded(s.world, EU, s.login)).facts).toEqual([]);

    expect(await untilInSync(s, 300_000)).toBe(true);
    const now = await recorded(s.world, EU, s.login);
    expect(now.facts.map((f) => [f.ticket, f.action])).toEqual([
      [ticket, 'close'],
      [ticket, 'open'],
    ]);
    expect(now.sources).toEqual({ [id(s, ticket, 'open')]: 'history', [id(s, ticket, 'close')]: 'history' });
    const after = (await auditRows(s.world, EU)).filter((r) => r.atMs > stalledMs);
    expect(after.some((r) => r.op === 'subscribe')).toBe(true);
    expect(after.some((r) => r.op === 'connect')).toBe(false);
  });

  it('fills a trade lost in a stall the pump never noticed, by the periodic fill', async () => {
    // Never quiet long enough to resubscribe, no reconnect: only the periodic fill can recover it.
    const s = await tradingAccount(GLOBAL, { pumpQuietMs: DAY_MS, tradeSyncIntervalMs: 120_000 });
    const subscribes = (await auditRows(s.world, GLOBAL)).filter((r) => r.op === 'subscribe').length;
    s.world.cluster.inject(GLOBAL, 'pumpStall', { stallMs: 20_000 });
    const lost = open(s.world, GLOBAL, s.login);
    await s.world.runFor(30_000);
    const seen = open(s.world, GLOBAL, s.login, 'sell');
    await s.world.runFor(5_000);

    expect(s.events.map((e) => e.ticket)).toEqual([seen]);
    expect(Object.keys((await recorded(s.world, GLOBAL, s.login)).sources)).toEqual([id(s, seen, 'open')]);

    // At most one read per account per interval: recovered within two intervals.
    expect(await untilInSync(s, 2 * 120_000 + 5_000)).toBe(true);
    expect((await recorded(s.world, GLOBAL, s.login)).sources).toEqual({
      [id(s, lost, 'open')]: 'history',
      [id(s, seen, 'open')]: 'pump',
    });
    expect((await auditRows(s.world, GLOBAL)).filter((r) => r.op === 'subscribe')).toHaveLength(subscribes);
  });

  it('reads history at most once per account per interval in the periodic fill', async () => {
    const s = await tradingAccount(EU, { pumpQuietMs: DAY_MS, tradeSyncIntervalMs: 120_000 });
    const fromMs = s.world.scheduler.nowMs();
    await s.world.runFor(20 * 120_000);
    const reads = (await auditRows(s.world, EU)).filter((r) => r.atMs >= fromMs && r.op === 'trades');
    expect(reads.length).toBeGreaterThanOrEqual(10);
    expect(reads.length).toBeLessThanOrEqual(20);
    for (let i = 1; i < reads.length; i++) {
      expect((reads[i] as AuditRow).atMs - (reads[i - 1] as AuditRow).atMs).toBeGreaterThanOrEqual(120_000);
    }
  });

  it('reads, when a quiet pump is subscribed afresh, only the accounts not read within the interval', async () => {
    // An idle server: the pump goes quiet every minute or so and is subscribed afresh each time.
    const s = await tradingAccount(EU, { pumpQuietMs: 60_000, tradeSyncIntervalMs: 600_000 });
    const rows = async (op: string) =>
      (await auditRows(s.world, EU)).filter((r) => r.op === op && (op === 'subscribe' || r.subject === s.accountId));
    // The first quiet subscription reads the account (never read yet)...
    expect(await s.world.until(async () => (await rows('trades')).length > 0, 600_000)).toBe(true);
    const [first] = await rows('trades');
    const subscribed = (await rows('subscribe')).length;
    await s.world.runFor((first as AuditRow).atMs + 540_000 - s.world.scheduler.nowMs());
    // ...the next ones, within the interval, leave it alone.
    expect((await rows('subscribe')).length - subscribed).toBeGreaterThanOrEqual(4);
    expect((await rows('trades')).map((r) => r.atMs)).toEqual([(first as AuditRow).atMs]);
  });

  it.each([EU, GLOBAL])(
    'reads the open positions of all the accounts of a fill in one request (%s)',
    async (serverId) => {
      const s = await tradingAccount(serverId, { pumpQuietMs: DAY_MS, tradeSyncIntervalMs: DAY_MS });
      const other = await openAccount(s.world, PRODUCT[serverId]);
      await depositSettled(s.world, { accountId: other.id, amountCents: 10_000_00, currency: 'USD' });
      const t = { ...s, accountId: other.id, login: other.login as number };
      // Both trade while the pump is stalled: only a fill can record them.
      s.world.cluster.inject(serverId, 'pumpStall', { stallMs: 10_000 });
      open(s.world, serverId, s.login);
      open(s.world, serverId, t.login, 'sell');
      await s.world.runFor(15_000);
      expect(s.events).toEqual([]);
      const fromMs = s.world.scheduler.nowMs();
      for (const session of s.world.cluster.sessions(serverId)) s.world.cluster.dropSession(session);

      expect(await untilInSync(s, 60_000)).toBe(true);
      expect(await untilInSync(t, 1_000)).toBe(true);
      const reads = (await auditRows(s.world, serverId)).filter(
        (r) => r.atMs >= fromMs && (r.op.startsWith('openPositions') || r.op === 'trades'),
      );
      const accounts = [s, t].sort((a, b) => (a.accountId < b.accountId ? -1 : 1));
      expect(reads.map((r) => [r.op, r.subject, r.request.logins ?? r.request.login])).toEqual([
        ['openPositionsOf', null, accounts.map((a) => a.login)],
        ...accounts.map((a) => ['trades', a.accountId, a.login]),
      ]);
    },
  );

  it('skips, in the periodic fill, an account read within the interval after a reconnect', async () => {
    const s = await tradingAccount(EU, { pumpQuietMs: DAY_MS, tradeSyncIntervalMs: 120_000 });
    const { world } = s;
    const reads = async (fromMs: number, toMs: number) =>
      (await auditRows(world, EU)).filter(
        (r) => r.op === 'trades' && r.subject === s.accountId && r.atMs >= fromMs && r.atMs < toMs,
      );
    // The periodic ticks, from two periodic reads.
    const startMs = world.scheduler.nowMs();
    await world.runFor(2 * 120_000 + 1_000);
    const ticks = (await reads(startMs, world.scheduler.nowMs())).map((r) => r.atMs);
    expect(ticks).toHaveLength(2);
    const nextTickMs = (ticks[1] as number) + 120_000;
    // A reconnect 10 s before the next tick: its fill reads the account, and the tick leaves it alone.
    await world.runFor(nextTickMs - 10_000 - world.scheduler.nowMs());
    for (const session of world.cluster.sessions(EU)) world.cluster.dropSession(session);
    await world.runFor(120_000);
    const after = await reads(nextTickMs - 10_000, nextTickMs + 110_000);
    expect(after.map((r) => r.atMs)).toEqual([nextTickMs - 10_000]);
    // The tick after that reads it again.
    await world.runFor(20_000);
    expect(await reads(nextTickMs + 110_000, nextTickMs + 130_000)).toHaveLength(1);
  });

  it('fills trades made while the connection was down from history after the reconnect', async () => {
    // A slow reconnect leaves the pump unsubscribed long enough for the client to trade.
    const s = await tradingAccount(EU, {
      reconnectInitialDelayMs: 20_000,
      reconnectMaxDelayMs: 20_000,
      pumpQuietMs: DAY_MS,
      tradeSyncIntervalMs: DAY_MS,
    });
    const kept = open(s.world, EU, s.login);
    await s.world.runFor(2_000);
    s.world.faultOnNext(EU, 'ping', 'connectionDrop');
    s.world.faultOnNext(EU, 'connect', 'tooFrequent');
    const status = () => s.world.service.connectionStatus().find((c) => c.serverId === EU);
    expect(await s.world.until(() => status()?.connected === false, 60_000, 100)).toBe(true);
    const downMs = s.world.scheduler.nowMs();
    const lost = open(s.world, EU, s.login, 'sell');
    close(s.world, EU, kept);
    await s.world.runFor(1_000);
    expect(status()?.connected).toBe(false);
    expect(s.events.map((e) => [e.ticket, e.action])).toEqual([[kept, 'open']]);

    expect(await untilInSync(s, 120_000)).toBe(true);
    expect((await recorded(s.world, EU, s.login)).sources).toEqual({
      [id(s, kept, 'open')]: 'pump',
      [id(s, kept, 'close')]: 'history',
      [id(s, lost, 'open')]: 'history',
    });
    const after = (await auditRows(s.world, EU)).filter((r) => r.atMs >= downMs);
    expect(after.filter((r) => r.op === 'connect').map((r) => r.outcome)).toEqual(['unavailable', 'ok']);
  });

  it('leaves the gap of a failed history read to the next fill, reading again from before it', async () => {
    // The server's clock on UTC and a short look-back: a read that failed must not move the point the next
    // read starts from, or the close made 5+ minutes before it would be skipped.
    const s = await tradingAccount(
      EU,
      {
        reconnectInitialDelayMs: 600_000,
        reconnectMaxDelayMs: 600_000,
        pumpQuietMs: DAY_MS,
        tradeSyncIntervalMs: DAY_MS,
      },
      60_000,
    );
    const { world } = s;
    world.cluster.inject(EU, 'timezoneShift', { shiftMin: -120 });
    const ticket = open(world, EU, s.login);
    await world.runFor(2_000);
    world.faultOnNext(EU, 'ping', 'connectionDrop');
    world.faultOnNext(EU, 'connect', 'tooFrequent');
    const status = () => world.service.connectionStatus().find((c) => c.serverId === EU);
    expect(await world.until(() => status()?.connected === false, 60_000, 100)).toBe(true);
    close(world, EU, ticket);
    const closedMs = world.scheduler.nowMs();
    // The reconnect (5 to 10 minutes later) fills, but its history read fails.
    world.faultOnNext(EU, 'trades', 'tooFrequent');
    expect(await world.until(() => status()?.connected === true, 700_000)).toBe(true);
    await world.runFor(1_000);
    const failed = (await auditRows(world, EU)).filter((r) => r.op === 'trades' && r.atMs > closedMs);
    expect(failed.map((r) => r.outcome)).toEqual(['unavailable']);
    expect((failed[0] as AuditRow).atMs - closedMs).toBeGreaterThan(300_000);
    expect(Object.keys((await recorded(world, EU, s.login)).sources)).toEqual([id(s, ticket, 'open')]);

    // The next reconnect's fill finds it.
    for (const session of world.cluster.sessions(EU)) world.cluster.dropSession(session);
    expect(await untilInSync(s, 10_000)).toBe(true);
    expect((await recorded(world, EU, s.login)).sources[id(s, ticket, 'close')]).toBe('history');
  });

  it('reads again from before the last read, so a close history showed late is not skipped', async () => {
    // The close is lost by the pump and hidden by a lagging history from the fill 70 s after it; the next
    // periodic fill must look back by the lag tolerance (180 s) to find it. The server's clock is put on
    // UTC and the look-back for clock skew made short, so that only the lag tolerance can cover it.
    const s = await tradingAccount(EU, { pumpQuietMs: DAY_MS, tradeSyncIntervalMs: 120_000 }, 60_000);
    const { world } = s;
    world.cluster.inject(EU, 'timezoneShift', { shiftMin: -120 });
    const ticket = open(world, EU, s.login);
    await world.runFor(2_000);
    world.cluster.inject(EU, 'historyLag', { lagMs: 90_000, windowMs: 600_000 });
    world.cluster.inject(EU, 'pumpStall', { stallMs: 5_000 });
    const closedMs = world.scheduler.nowMs();
    close(world, EU, ticket);
    await world.runFor(70_000);
    for (const session of world.cluster.sessions(EU)) world.cluster.dropSession(session);
    await world.runFor(1_000);
    const reads = (await auditRows(world, EU)).filter(
      (r) => r.op === 'trades' && r.subject === s.accountId && r.atMs >= closedMs + 70_000 && r.outcome === 'ok',
    );
    // The reconnect's fill read history before the close showed in it.
    expect(reads).toHaveLength(1);
    expect(Object.keys((await recorded(world, EU, s.login)).sources)).toEqual([id(s, ticket, 'open')]);

    expect(await untilInSync(s, 2 * 120_000 + 5_000)).toBe(true);
    expect((await recorded(world, EU, s.login)).sources).toEqual({
      [id(s, ticket, 'open')]: 'pump',
      [id(s, ticket, 'close')]: 'history',
    });
  });

  it('ignores trades on logins the service does not own', async () => {
    const s = await tradingAccount(EU);
    const server = s.world.cluster.server(EU);
    const other = server.createAccount({ group: 'eu-std-usd', name: 'Not Ours', password: 'Other#123' });
    if (!other.ok) throw new Error(`createAccount: ${other.fail}`);
    const foreign = other.value.login;
    expect(s.world.cluster.dealer(EU).balanceCorrection(foreign, 10_000_00, 'funding').ok).toBe(true);
    const before = (await auditRows(s.world, EU)).length;

    const theirs = open(s.world, EU, foreign);
    await s.world.runFor(2_000);
    close(s.world, EU, theirs);
    const ours = open(s.world, EU, s.login);
    await s.world.runFor(5_000);

    // The pump told the service about both...
    expect(s.events.map((e) => [e.login, e.action])).toEqual([
      [foreign, 'open'],
      [foreign, 'close'],
      [s.login, 'open'],
    ]);
    // ...it recorded and looked up only its own.
    expect((await s.world.service.trades()).map((r) => r.id)).toEqual([id(s, ours, 'open')]);
    const calls = (await auditRows(s.world, EU)).slice(before);
    expect(calls.filter((r) => r.request.login === foreign)).toEqual([]);
  });

  it.each([EU, GLOBAL])(
    'loses nothing across a crash: the restart fills what happened while it was down (%s)',
    async (serverId) => {
      const s = await tradingAccount(serverId);
      const first = open(s.world, serverId, s.login);
      await s.world.runFor(2_000);
      s.world.crash();
      close(s.world, serverId, first);
      const second = open(s.world, serverId, s.login, 'sell');
      await s.world.runFor(60_000);
      s.world.start();

      expect(await untilInSync(s, 60_000)).toBe(true);
      expect((await recorded(s.world, serverId, s.login)).sources).toEqual({
        [id(s, first, 'open')]: 'pump',
        [id(s, first, 'close')]: 'history',
        [id(s, second, 'open')]: 'history',
      });
      // Closing the second after the restart is pumped again, and recorded once.
      close(s.world, serverId, second);
      await s.world.runFor(5_000);
      expect((await recorded(s.world, serverId, s.login)).facts).toEqual(groundTruth(s.world, serverId, s.login));
      expect((await recorded(s.world, serverId, s.login)).sources[id(s, second, 'close')]).toBe('pump');
    },
  );
});

describe('trade sync fill order', () => {
  /**
   * A TradeSync over a store holding `logins` as open accounts on one server and a connection that answers
   * every read with nothing, except that the trades reads numbered in `failing` (from 1) are lost in flight.
   */
  async function fillWorld(logins: number[], failing: number[]) {
    const config = parseBrokerConfig(brokerConfig((c) => (c.connections = { tradeSyncIntervalMs: 120_000 })));
    const store = new MemoryStore();
    await store.transaction(async (tx) => {
      for (const [i, login] of logins.entries()) {
        const account: AccountRow = {
          id: `A${i + 1}`,
          clientId: 'C1',
          productId: 'eu-classic',
          kind: 'live',
          serverId: EU,
          group: 'eu-std-usd',
          currency: 'USD',
          leverage: null,
          state: 'open',
          login,
          attempts: 1,
          uncertainSinceMs: null,
          lastError: null,
          createdMs: 0,
          updatedMs: 0,
          openedMs: 0,
        };
        await tx.insert('accounts', account);
      }
    });
    const clock = { ms: 0, nowMs: () => clock.ms, sleep: async () => {} };
    const reads: number[] = [];
    const connection = {
      call: async (op: string, request: { login?: number }): Promise<Result<Trade[]>> => {
        if (op !== 'trades') return { ok: true, value: [] };
        reads.push(request.login as number);
        if (!failing.includes(reads.length)) return { ok: true, value: [] };
        const error = new ManagerError({
          platform: 'mt4',
          code: 6,
          outcome: 'unknown',
          reason: 'no_connection',
          serverId: EU,
          op,
        });
        return { ok: false, error };
      },
    };
    const ctx = { config, store, clock, connections: new Map([[EU, connection]]), log: () => {} };
    const sync = new TradeSync(ctx as unknown as ServiceContext, {
      stopped: () => false,
      onBug: (e) => {
        throw e;
      },
    });
    return { sync, clock, reads };
  }

  it('reads first, in the next round, the accounts a failed read kept the last round from reaching', async () => {
    const { sync, clock, reads } = await fillWorld([101, 102, 103, 104], [3]);
    await sync.fill(EU, true);
    // The round read 101 and 102 and lost 103's read: 103 and 104 were not reached.
    expect(reads).toEqual([101, 102, 103]);
    clock.ms += 120_000;
    await sync.fill(EU, false);
    expect(reads.slice(3)).toEqual([103, 104, 101, 102]);
    // All read in that round: the next one, an interval later, goes by account again.
    clock.ms += 120_000;
    await sync.fill(EU, false);
    expect(reads.slice(7)).toEqual([101, 102, 103, 104]);
  });
});
