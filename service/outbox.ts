import type { Random } from '../kit/random.ts';
import { backoffMs } from './backoff.ts';
import type { BusMessage, EventBus } from './bus/port.ts';
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
 * Several instances on one store may relay the same rows at once: more duplicates, never a loss.
 */

/** Rows published per batch (one confirm round trip each). */
export const OUTBOX_BATCH = 100;

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
  /** True once the service is stopping. */
  stopped: () => boolean;
  /** Fires when the service stops: a publish in flight is abandoned (its rows stay unpublished). */
  stopping: Signal;
  batchSize?: number;
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

  /** Publishes until the service stops. */
  async run(): Promise<void> {
    const { ctx, bus } = this.#o;
    const { clock, store, config, log } = ctx;
    const batchSize = this.#o.batchSize ?? OUTBOX_BATCH;
    let failures = 0;
    while (!this.#o.stopped()) {
      this.#pending = false;
      const rows = await store.transaction((tx) =>
        tx.select('outbox', { publishedMs: null }, { orderBy: 'seq', limit: batchSize }),
      );
      if (rows.length === 0) {
        // Woken by this instance's commits; the poll finds rows another instance committed.
        if (!this.#pending) await this.#idle(config.posting.idlePollMs, true);
        continue;
      }
      const outcome = await unlessSignalled(bus.publish(rows.map(toMessage)), [this.#o.stopping]);
      if (outcome === null || this.#o.stopped()) return;
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

  /** Sleeps `ms`, or less when the service stops or (`wakeOnRows`) rows are committed. */
  async #idle(ms: number, wakeOnRows: boolean): Promise<void> {
    await sleepUnless(this.#o.ctx.clock, ms, wakeOnRows ? [this.#o.stopping, this.#rows] : [this.#o.stopping]);
  }
}
