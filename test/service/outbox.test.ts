import { describe, expect, it } from 'vitest';
import type { PumpEvent } from '../../adapters/port/manager-api.ts';
import type { Clock } from '../../kit/clock.ts';
import type { SimWorld } from '../../scenarios/world.ts';
import { InProcessBus } from '../../service/bus/memory.ts';
import { type BusMessage, type BusResult, busError, type Delivery, type EventBus } from '../../service/bus/port.ts';
import { type LogEntry, type OutboxRow, type ServicePorts, tradeId } from '../../service/index.ts';
import { TRADE_QUEUE } from '../../service/outbox.ts';
import { depositSettled, openAccount, startedWorld } from './helpers.ts';

/**
 * Trade events to the bus through the transactional outbox: each trade row is committed with its message,
 * the relay publishes unpublished messages in order and marks them after the broker's confirm. Checked
 * against the simulator's ground truth of opens and closes: every one is published, each id once — except
 * across a crash between the confirm and the mark, which publishes the batch again with the same ids (and a
 * consumer that drops ids it has seen does each effect once).
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';
const PRODUCT: Record<string, { country: string; productId: string }> = {
  [EU]: { country: 'DE', productId: 'eu-classic' },
  [GLOBAL]: { country: 'US', productId: 'global-standard' },
};

interface Trader {
  serverId: string;
  login: number;
  accountId: string;
  clientId: string;
}

/** A consumer of `trade.#` that counts every delivery and applies each message id once. */
interface Ledger {
  deliveries: Delivery[];
  /** Ids applied, in order: a redelivered or republished id is dropped. */
  applied: string[];
}

async function subscribe(bus: EventBus, queue = 'trades-to-crm'): Promise<Ledger> {
  const ledger: Ledger = { deliveries: [], applied: [] };
  const seen = new Set<string>();
  const result = await bus.consume({ queue, topics: ['trade.#'], prefetch: 1 }, async (d) => {
    ledger.deliveries.push(d);
    if (seen.has(d.id)) return;
    seen.add(d.id);
    ledger.applied.push(d.id);
  });
  if (!result.ok) throw new Error(result.error.message);
  return ledger;
}

async function trader(world: SimWorld, serverId: string): Promise<Trader> {
  const account = await openAccount(world, PRODUCT[serverId]);
  await depositSettled(world, { accountId: account.id, amountCents: 10_000_00, currency: 'USD' });
  return { serverId, login: account.login as number, accountId: account.id, clientId: account.clientId };
}

function open(world: SimWorld, t: Trader, symbol = 'EURUSD', side: 'buy' | 'sell' = 'buy'): number {
  const r = world.cluster.client(t.serverId).open(t.login, symbol, side, 10);
  if (!r.ok) throw new Error(`open refused: ${r.fail}`);
  return r.value.ticket;
}

function close(world: SimWorld, t: Trader, ticket: number): void {
  const r = world.cluster.client(t.serverId).close(ticket);
  if (!r.ok) throw new Error(`close refused: ${r.fail}`);
}

/** The message ids the server's history calls for: every open and every close on the traders' logins. */
function expectedIds(world: SimWorld, traders: Trader[]): string[] {
  const ids: string[] = [];
  for (const t of traders) {
    const server = world.cluster.server(t.serverId);
    for (const c of server.allClosedTrades(t.login)) {
      ids.push(`trade:${tradeId(t.serverId, t.login, c.ticket, 'open')}`);
      ids.push(`trade:${tradeId(t.serverId, t.login, c.ticket, 'close')}`);
    }
    for (const p of server.openPositions(t.login)) ids.push(`trade:${tradeId(t.serverId, t.login, p.ticket, 'open')}`);
  }
  return ids.sort();
}

function outbox(world: SimWorld): Promise<OutboxRow[]> {
  return world.store.transaction((tx) => tx.select('outbox', {}, { orderBy: 'seq' }));
}

/** Runs until every outbox row is published and the consumer applied every id the server calls for. */
async function untilDelivered(world: SimWorld, traders: Trader[], ledger: Ledger, maxMs: number): Promise<boolean> {
  return world.until(
    async () => {
      const rows = await outbox(world);
      const want = expectedIds(world, traders);
      return (
        rows.length === want.length &&
        rows.every((r) => r.publishedMs !== null) &&
        JSON.stringify([...ledger.applied].sort()) === JSON.stringify(want)
      );
    },
    maxMs,
    5_000,
  );
}

const unique = (ids: string[]) => [...new Set(ids)];

/**
 * An in-process bus on the world's virtual time (the broker's clock: owned by no service process). The bus
 * is built before the world it outlives, so the clock finds the world when a wait is first asked for.
 */
function busOf(world: () => SimWorld | undefined): InProcessBus {
  const clock: Clock = {
    nowMs: () => (world() as SimWorld).scheduler.nowMs(),
    sleep: (ms) => (world() as SimWorld).scheduler.clock.sleep(ms),
  };
  return new InProcessBus({ clock });
}

describe('trade events to the bus through the outbox', () => {
  it('publishes an open and its close, each with the trade, its account and client, in seq order', async () => {
    let world: SimWorld | undefined;
    const bus = busOf(() => world);
    const ledger = await subscribe(bus);
    world = startedWorld({ ports: { bus } });
    const t = await trader(world, GLOBAL);
    const ticket = open(world, t, 'XAUUSD', 'sell');
    await world.runFor(5_000);
    close(world, t, ticket);
    await world.runFor(5_000);

    const rows = await outbox(world);
    expect(rows.map((r) => [r.id, r.topic])).toEqual([
      [`trade:${tradeId(GLOBAL, t.login, ticket, 'open')}`, 'trade.open'],
      [`trade:${tradeId(GLOBAL, t.login, ticket, 'close')}`, 'trade.close'],
    ]);
    expect(rows.every((r) => r.publishedMs !== null)).toBe(true);
    expect(ledger.deliveries.map((d) => d.id)).toEqual(rows.map((r) => r.id));
    const [opened, closed] = ledger.deliveries as [Delivery, Delivery];
    const trades = await world.service.trades();
    const closeRow = trades.find((r) => r.action === 'close');
    expect(closed.payload).toEqual({
      tradeId: tradeId(GLOBAL, t.login, ticket, 'close'),
      serverId: GLOBAL,
      login: t.login,
      ticket,
      action: 'close',
      symbol: 'XAUUSD',
      side: 'sell',
      volumeCentiLots: 10,
      price: closeRow?.price,
      profitCents: closeRow?.profitCents,
      serverSec: closeRow?.serverSec,
      source: 'pump',
      accountId: t.accountId,
      clientId: t.clientId,
      currency: 'USD',
    });
    expect(closed.payload.profitCents).toEqual(expect.any(Number));
    expect(opened.payload).toMatchObject({ action: 'open', profitCents: null, accountId: t.accountId });
    expect(closed.atMs).toBe(rows[1]?.createdMs);
  });

  it('publishes each trade exactly once per id through duplicated and lost pump events and a restart', async () => {
    let world: SimWorld | undefined;
    const bus = busOf(() => world);
    const ledger = await subscribe(bus);
    const pumped: string[] = [];
    world = startedWorld({
      ports: {
        bus,
        onPumpEvent: (serverId: string, e: PumpEvent) => {
          if (e.type === 'trade') pumped.push(`${serverId}:${e.login}:${e.ticket}:${e.action}`);
        },
      },
    });
    const a = await trader(world, EU);
    const b = await trader(world, GLOBAL);

    // Duplicates: the pump says these twice.
    world.cluster.inject(EU, 'pumpDuplicate');
    world.cluster.inject(GLOBAL, 'pumpDuplicate');
    const a1 = open(world, a);
    const b1 = open(world, b, 'GBPUSD', 'sell');
    await world.runFor(5_000);
    // Lost: a stall on EU swallows an open and a close.
    world.cluster.inject(EU, 'pumpStall', { stallMs: 30_000 });
    const a2 = open(world, a, 'XAUUSD');
    close(world, a, a1);
    await world.runFor(40_000);
    // Down: what happens meanwhile is filled from history by the restart.
    world.crash();
    close(world, b, b1);
    const b2 = open(world, b);
    await world.runFor(60_000);
    world.start();
    await world.runFor(10_000);
    world.cluster.inject(EU, 'pumpDuplicate');
    close(world, a, a2);
    close(world, b, b2);

    expect(await untilDelivered(world, [a, b], ledger, 1_800_000)).toBe(true);
    const want = expectedIds(world, [a, b]);
    expect(want).toHaveLength(8);
    // The pump did duplicate, and did lose some.
    expect(pumped.length).toBeGreaterThan(unique(pumped).length);
    expect(unique(pumped).length).toBeLessThan(want.length);
    // Every id once: no crash fell between a confirm and its mark here, so not even a duplicate delivery.
    const delivered = ledger.deliveries.map((d) => d.id);
    expect([...delivered].sort()).toEqual(want);
    expect(ledger.applied.sort()).toEqual(want);
    expect(bus.stats).toEqual({ published: want.length, acked: want.length, redelivered: 0 });
    // Gaps filled from history got their messages too.
    const sources = new Set(ledger.deliveries.map((d) => d.payload.source));
    expect(sources).toEqual(new Set(['pump', 'history']));
    // One row per trade, one message per row, published in seq order.
    const rows = await outbox(world);
    expect(rows.map((r) => r.id).sort()).toEqual(want);
    expect((await world.service.trades()).map((r) => `trade:${r.id}`).sort()).toEqual(want);
    const seqOf = new Map(rows.map((r) => [r.id, r.seq]));
    const seqs = delivered.map((id) => seqOf.get(id) as number);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('publishes a batch again after a crash between the confirm and the mark, with the same ids', async () => {
    let world: SimWorld | undefined;
    const inner = busOf(() => world);
    const ledger = await subscribe(inner);
    const bus = new CrashAfterConfirm(inner, () => world?.crash());
    world = startedWorld({ ports: { bus } });
    const t = await trader(world, EU);

    bus.armed = true;
    const ticket = open(world, t);
    expect(await world.until(() => !world.running, 60_000, 100)).toBe(true);
    const crashedWith = bus.crashedWith;
    expect(crashedWith).toEqual([`trade:${tradeId(EU, t.login, ticket, 'open')}`]);
    // The broker has it; the store does not know: unmarked.
    expect(ledger.deliveries.map((d) => d.id)).toEqual(crashedWith);
    expect((await outbox(world)).map((r) => r.publishedMs)).toEqual([null]);

    world.start();
    close(world, t, ticket);
    expect(await untilDelivered(world, [t], ledger, 600_000)).toBe(true);
    const want = expectedIds(world, [t]);
    // Delivered twice (the batch of the crash), applied once.
    expect(ledger.deliveries.map((d) => d.id).sort()).toEqual([...want, ...crashedWith].sort());
    expect(ledger.applied.sort()).toEqual(want);
    // The republished message is the same message.
    const twice = ledger.deliveries.filter((d) => d.id === crashedWith[0]);
    expect(twice[1]?.payload).toEqual(twice[0]?.payload);
    expect(twice[1]?.atMs).toBe(twice[0]?.atMs);
  });

  it('retries with backoff while the broker is unreachable, then publishes everything once', async () => {
    let world: SimWorld | undefined;
    const bus = busOf(() => world);
    const ledger = await subscribe(bus);
    const log: LogEntry[] = [];
    world = startedWorld({ ports: { bus, log: (e) => log.push(e) } });
    const t = await trader(world, GLOBAL);
    bus.setReachable(false);
    const first = open(world, t);
    await world.runFor(20_000);
    const second = open(world, t, 'XAUUSD');
    await world.runFor(10_000);
    close(world, t, first);
    await world.runFor(10_000);

    expect(ledger.deliveries).toEqual([]);
    expect((await outbox(world)).map((r) => r.publishedMs)).toEqual([null, null, null]);
    const retries = log.filter((e) => e.msg === 'outbox: publishing failed, retrying');
    expect(retries.length).toBeGreaterThanOrEqual(4);
    expect(retries.every((e) => e.code === 'MTP_BUS_UNAVAILABLE')).toBe(true);
    // retry.initialDelayMs 1 s × 2^(n−1), capped at 60 s, jittered down by up to half.
    retries.slice(0, 5).forEach((e, i) => {
      const base = Math.min(60_000, 1_000 * 2 ** i);
      expect(e.retryInMs).toBeGreaterThanOrEqual(base / 2);
      expect(e.retryInMs).toBeLessThanOrEqual(base);
    });

    bus.setReachable(true);
    close(world, t, second);
    expect(await untilDelivered(world, [t], ledger, 300_000)).toBe(true);
    expect(ledger.deliveries.map((d) => d.id).sort()).toEqual(expectedIds(world, [t]));
    expect(ledger.deliveries).toHaveLength(4);
  });

  it("keeps every trade event in the service's own durable queue while no consumer has declared one", async () => {
    let world: SimWorld | undefined;
    const bus = busOf(() => world);
    world = startedWorld({ ports: { bus } });
    const t = await trader(world, EU);
    const ticket = open(world, t);
    await world.runFor(5_000);
    close(world, t, ticket);
    await world.runFor(5_000);
    // Published and marked: the broker took them, into the service's queue.
    expect((await outbox(world)).map((r) => r.publishedMs !== null)).toEqual([true, true]);
    expect(bus.depth(TRADE_QUEUE.queue)).toEqual({ ready: 2, unacked: 0 });
    // A consumer that comes later reads them all from there.
    const ledger = await subscribe(bus, TRADE_QUEUE.queue);
    expect(await untilDelivered(world, [t], ledger, 60_000)).toBe(true);
    expect(ledger.applied.sort()).toEqual(expectedIds(world, [t]));
  });

  it('declares its queue again when a publish comes back unroutable, and publishes the batch then', async () => {
    let world: SimWorld | undefined;
    const bus = new Unroutable(busOf(() => world));
    const log: LogEntry[] = [];
    world = startedWorld({ ports: { bus, log: (e) => log.push(e) } });
    const t = await trader(world, GLOBAL);
    const allPublished = (n: number) => async () => {
      const rows = await outbox(world);
      return rows.length === n && rows.every((r) => r.publishedMs !== null);
    };
    open(world, t);
    expect(await world.until(allPublished(1), 60_000)).toBe(true);
    expect(bus.declared).toBe(1);
    // The queue is deleted under the relay: the broker returns the next message.
    bus.returnNext = true;
    open(world, t, 'XAUUSD');
    expect(await world.until(allPublished(2), 60_000)).toBe(true);
    expect(log.filter((e) => e.msg === 'outbox: publishing failed, retrying').map((e) => e.code)).toEqual([
      'MTP_BUS_UNROUTABLE',
    ]);
    expect(bus.declared).toBe(2);
    expect(bus.inner.depth(TRADE_QUEUE.queue).ready).toBe(2);
  });

  it('writes outbox rows without a bus; a bus added later publishes all of them, in order', async () => {
    // The world reads its ports at every start: the bus is plugged in for the restart.
    const ports: Partial<ServicePorts> = {};
    const world = startedWorld({ ports });
    const t = await trader(world, EU);
    const ticket = open(world, t);
    await world.runFor(5_000);
    close(world, t, ticket);
    await world.runFor(5_000);
    const rows = await outbox(world);
    expect(rows.map((r) => [r.topic, r.publishedMs])).toEqual([
      ['trade.open', null],
      ['trade.close', null],
    ]);

    const bus = busOf(() => world);
    const ledger = await subscribe(bus);
    ports.bus = bus;
    world.crash();
    world.start();
    expect(await untilDelivered(world, [t], ledger, 60_000)).toBe(true);
    expect(ledger.deliveries.map((d) => d.id)).toEqual(rows.map((r) => r.id));
  });
});

/** A bus whose process dies right after the broker confirmed an armed publish: the relay never marks it. */
class CrashAfterConfirm implements EventBus {
  armed = false;
  crashedWith: string[] = [];
  readonly #inner: EventBus;
  readonly #crash: () => void;

  constructor(inner: EventBus, crash: () => void) {
    this.#inner = inner;
    this.#crash = crash;
  }

  async publish(messages: readonly BusMessage[]) {
    const result = await this.#inner.publish(messages);
    if (result.ok && this.armed) {
      this.armed = false;
      this.crashedWith = messages.map((m) => m.id);
      this.#crash();
      // The process is dead: its continuation never runs.
      return new Promise<never>(() => {});
    }
    return result;
  }

  declareQueue: EventBus['declareQueue'] = (spec) => this.#inner.declareQueue(spec);
  consume: EventBus['consume'] = (options, handler) => this.#inner.consume(options, handler);
  close: EventBus['close'] = () => this.#inner.close();
}

/** A bus that answers the next publish MTP_BUS_UNROUTABLE when armed (its queue deleted), counting declarations. */
class Unroutable implements EventBus {
  returnNext = false;
  declared = 0;
  readonly inner: InProcessBus;

  constructor(inner: InProcessBus) {
    this.inner = inner;
  }

  async publish(messages: readonly BusMessage[]): Promise<BusResult> {
    if (!this.returnNext) return this.inner.publish(messages);
    this.returnNext = false;
    return busError('MTP_BUS_UNROUTABLE', 'no queue is bound (a test)');
  }

  declareQueue: EventBus['declareQueue'] = (spec) => {
    this.declared++;
    return this.inner.declareQueue(spec);
  };
  consume: EventBus['consume'] = (options, handler) => this.inner.consume(options, handler);
  close: EventBus['close'] = () => this.inner.close();
}
