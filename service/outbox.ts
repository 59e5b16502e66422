import type { Random } from '../kit/random.ts';
import { backoffMs } from './backoff.ts';
import type { BusMessage, BusResult, EventBus, QueueSpec } from './bus/port.ts';
import type { ServiceContext } from './context.ts';
import { Signal, sleepUnless, unlessSignalled } from './signal.ts';
import type { Tx } from './store/port.ts';
import type { AccountRow, OutboxRow, TradeRow } from './store/schema.ts';

/**
 * The transactional outbox and its relay.
 *
 * A fact the bus must hear of (a trade opened or closed) is committed together with its message, an
 * `outbox` row with a stable id and a sequence number: the fact cannot be recorded and its message lost,
 * whatever crashes when. The relay, run by `Service.run()` when the service has a bus, publishes the
 * unpublished rows in `seq` order, a batch at a time, and marks them published only after the broker
 * confirmed the whole batch. A failed publish is retried with backoff; a crash between the confirm and the
 * mark publishes the batch again with the same ids (at-least-once: consumers drop ids they have seen).
 * Without a bus the rows are written all the same, and a bus added later publishes everything since.
 *
 * Nothing is published into the void: before its first publish the relay declares the service's own durable
 * queue (`TRADE_QUEUE`, bound to `trade.#`), so every trade event is kept by the broker until a consumer
 * reads it, whatever other queues exist; a message no queue takes (that queue deleted meanwhile) fails the
 * publish (MTP_BUS_UNROUTABLE), and the relay declares the queue again before it retries.
 *
 * Duplicates, bounded: a row is published again only by a relay that read it unpublished — after a crash
 * between the confirm and the mark (once per crash), after a publish that failed part-way (once per failed
 * attempt: the broker may have taken some of the batch), or by another instance's relay that read it before
 * this one's mark committed (so at most once per instance in the ordinary case). Consumers drop ids they
 * have seen. Order: rows go out in `seq` order as far as they are committed when read; two transactions
 * committing out of their sequence order (concurrent trade syncs) can put a later `seq` first. Both events
 * of one position are never swapped: a close is recorded after, or with, its open.
 */

/** Rows published per batch (one confirm round trip each). */
export const OUTBOX_BATCH = 100;

/**
 * The service's own durable queue on the bus: it takes every trade event, so none is published to no one.
 * Consumers read it (competing for its messages), or declare queues of their own beside it; a queue nobody
 * reads grows: give it a length or TTL limit by broker policy if no consumer is meant to read it.
 */
export const TRADE_QUEUE: Readonly<QueueSpec> = Object.freeze({ queue: 'mtproof.trades', topics: ['trade.#'] });

/** The bus topic of a trade event. */
export function tradeTopic(action: TradeRow['action']): string {
  return `trade.${action}`;
}

/** The outbox message id of a trade row: one per (server, login, ticket, action), like the row itself. */
export function tradeMessageId(tradeRowId: string): string {
  return `trade:${tradeRowId}`;
}

/** Queues the message telling of `trade` (just inserted in `tx`) on the outbox, in the same transaction. */
export async function enqueueTradeMessage(tx: Tx, trade: TradeRow, account: AccountRow, nowMs: number): Promise<void> {
  const row: OutboxRow = {
    id: tradeMessageId(trade.id),
    seq: await tx.nextValue('outbox'),
    topic: tradeTopic(trade.action),
    payload: {
      tradeId: trade.id,
      serverId: trade.serverId,
      login: trade.login,
      // MT4: the order ticket; MT5: the position id (both deals of a position carry it).
      ticket: trade.ticket,
      action: trade.action,
      symbol: trade.symbol,
      side: trade.side,
      volumeCentiLots: trade.volumeCentiLots,
      price: trade.price,
      profitCents: trade.profitCents,
      serverSec: trade.serverSec,
      source: trade.source,
      accountId: account.id,
      clientId: account.clientId,
      currency: account.currency,
    },
    createdMs: nowMs,
    publishedMs: null,
  };
  await tx.insert('outbox', row);
}

export function toMessage(row: OutboxRow): BusMessage {
  return { id: row.id, topic: row.topic, payload: row.payload, atMs: row.createdMs };
}

export interface OutboxRelayOptions {
  ctx: ServiceContext;
  bus: EventBus;
  /** Backoff jitter (a fork of the service's random: replayable). */
  random: Random;
  /** Fires when the service stops: a publish in flight is abandoned (its rows stay unpublished). */
  stopping: Signal;
  batchSize?: number;
  /** The queue declared before publishing; default TRADE_QUEUE. */
  queue?: Readonly<QueueSpec>;
}

export class OutboxRelay {
  readonly #o: OutboxRelayOptions;
  /** Fired when rows are committed: an idle relay looks at once. */
  readonly #rows = new Signal({ latched: false });
  #pending = false;
  #published = 0;
  #failures = 0;

  constructor(options: OutboxRelayOptions) {
    this.#o = options;
  }

  /** New rows were committed: an idle relay looks at once. */
  wake(): void {
    this.#pending = true;
    this.#rows.fire();
  }

  /** Messages confirmed by the bus, and publishes that failed, since this relay was built. */
  get stats(): { published: number; failures: number } {
    return { published: this.#published, failures: this.#failures };
  }

  /** @internal Waits parked on the relay's own signal now (a test's check that idling leaves none behind). */
  get waiting(): number {
    return this.#rows.waiting;
  }

  /** Publishes until the service stops. */
  async run(): Promise<void> {
    const { ctx, bus } = this.#o;
    const { clock, store, config, log } = ctx;
    const batchSize = this.#o.batchSize ?? OUTBOX_BATCH;
    const queue = this.#o.queue ?? TRADE_QUEUE;
    let failures = 0;
    let declared = false;
    while (!this.#o.stopping.fired) {
      this.#pending = false;
      const rows = await store.transaction((tx) =>
        tx.select('outbox', { publishedMs: null }, { orderBy: 'seq', limit: batchSize }),
      );
      if (rows.length === 0) {
        // Woken by this instance's commits; the poll finds rows another instance committed.
        if (!this.#pending) await this.#idle(config.posting.idlePollMs, true);
        continue;
      }
      const outcome: BusResult | null = await unlessSignalled(this.#publish(bus, queue, declared, rows), [
        this.#o.stopping,
      ]);
      if (outcome === null || this.#o.stopping.fired) return;
      // Declared once per relay; again when a publish finds no queue (deleted under it).
      declared = outcome.ok || (outcome.error.code !== 'MTP_BUS_UNROUTABLE' && declared);
      if (!outcome.ok) {
        failures++;
        this.#failures++;
        const delayMs = backoffMs(config.retry, Math.min(failures, 30), this.#o.random);
        log({
          level: 'warn',
          msg: 'outbox: publishing failed, retrying',
          code: outcome.error.code,
          error: outcome.error.message,
          rows: rows.length,
          firstSeq: rows[0]?.seq,
          retryInMs: delayMs,
        });
        await this.#idle(delayMs, false);
        continue;
      }
      failures = 0;
      const nowMs = clock.nowMs();
      await store.transaction(async (tx) => {
        for (const row of rows) await tx.update('outbox', row.id, { publishedMs: nowMs });
      });
      this.#published += rows.length;
    }
  }

  /** Declares `queue` unless `declared`, then publishes the rows; the first failure is the answer. */
  async #publish(bus: EventBus, queue: Readonly<QueueSpec>, declared: boolean, rows: OutboxRow[]): Promise<BusResult> {
    if (!declared) {
      const result = await bus.declareQueue(queue);
      if (!result.ok) return result;
    }
    return bus.publish(rows.map(toMessage));
  }

  /** Sleeps `ms`, or less when the service stops or (`wakeOnRows`) rows are committed. */
  async #idle(ms: number, wakeOnRows: boolean): Promise<void> {
    await sleepUnless(this.#o.ctx.clock, ms, wakeOnRows ? [this.#o.stopping, this.#rows] : [this.#o.stopping]);
  }
}
