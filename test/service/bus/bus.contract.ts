import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../kit/clock.ts';
import {
  type BusMessage,
  type Consumer,
  DEFAULT_REDELIVERY_DELAY_MS,
  type Delivery,
  type EventBus,
  type Handler,
} from '../../../service/bus/port.ts';

/**
 * The contract every EventBus adapter passes (in-process, RabbitMQ): publish and consume, batches
 * confirmed, ids preserved, redelivery after a handler failure (held for a delay first) and after a consumer
 * closes with messages unacknowledged, durable queues keeping what was published while no consumer ran, topic
 * patterns, and a message no queue takes failing its publish rather than vanishing.
 *
 * Waits are conditions (`eventually`), never durations: a RabbitMQ delivery takes as long as it takes. What
 * must NOT arrive is shown with a barrier message published last: per queue, delivery keeps publication order.
 */

/**
 * The bus's clock in the contract: every sleep waits until the test calls `release()`, so a test sees that
 * a wait was asked for (and for how long) and decides when it ends — no real waiting, no timed assertion.
 */
export class ManualClock implements Clock {
  readonly #sleeps: { ms: number; wake: () => void }[] = [];
  nowMs(): number {
    return Date.now();
  }
  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.#sleeps.push({ ms, wake }));
  }
  /** The waits asked for and not yet released, in ms. */
  get pending(): number[] {
    return this.#sleeps.map((s) => s.ms);
  }
  release(): void {
    for (const s of this.#sleeps.splice(0)) s.wake();
  }
}

export interface BusFixture {
  bus: EventBus;
  /** The clock the bus was built with. */
  clock: ManualClock;
  /** A queue name unique to this test (and to this run: tests of parallel files never share one). */
  queue: (name: string) => string;
  /** Releases what the test created (queues, exchange, connections). */
  dispose: () => Promise<void>;
}

const BARRIER = 'barrier.end';

let seq = 0;
export function message(topic: string, payload: Record<string, unknown> = {}, id?: string): BusMessage {
  seq++;
  return { id: id ?? `m${seq}`, topic, payload: { n: seq, ...payload }, atMs: 1_700_000_000_000 + seq };
}

/** Resolves when `predicate` holds; fails (naming `what`) if it has not after many polls. */
export async function eventually(what: string, predicate: () => boolean, polls = 1_000): Promise<void> {
  for (let i = 0; i < polls; i++) {
    if (predicate()) return;
    // Lets broker I/O (a real socket) and promise continuations (the in-process bus) run.
    await new Promise((resolve) => setTimeout(resolve, i < 20 ? 0 : 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** A consumer collecting what it is given, in order. */
export interface Collector {
  deliveries: Delivery[];
  consumer: Consumer;
  ids: () => string[];
}

export async function collect(
  bus: EventBus,
  queue: string,
  topics: readonly string[],
  handler: Handler = async () => {},
  prefetch?: number,
): Promise<Collector> {
  const deliveries: Delivery[] = [];
  const result = await bus.consume({ queue, topics, prefetch }, async (d) => {
    deliveries.push(d);
    await handler(d);
  });
  if (!result.ok) throw new Error(`consume ${queue}: ${result.error.code} ${result.error.message}`);
  return { deliveries, consumer: result.value, ids: () => deliveries.map((d) => d.id) };
}

export async function mustPublish(bus: EventBus, messages: BusMessage[]): Promise<void> {
  const result = await bus.publish(messages);
  if (!result.ok) throw new Error(`publish: ${result.error.code} ${result.error.message}`);
}

export function busContract(name: string, open: () => Promise<BusFixture>): void {
  describe(`event bus contract: ${name}`, () => {
    let f: BusFixture;
    beforeEach(async () => {
      f = await open();
    });
    afterEach(async () => {
      await f.dispose();
    });

    it('delivers a published message to a consumer with its id, topic, payload and time', async () => {
      const queue = f.queue('basic');
      const c = await collect(f.bus, queue, ['trade.*']);
      const sent = message('trade.open', { login: 100001, price: 1.08512, side: 'buy', nested: { a: [1, 2] } });
      await mustPublish(f.bus, [sent]);
      await eventually('the delivery', () => c.deliveries.length === 1);
      expect(c.deliveries[0]).toEqual({ ...sent, redelivered: false });
    });

    it('confirms a batch only when every message of it is taken, and delivers each once in order', async () => {
      const queue = f.queue('batch');
      const c = await collect(f.bus, queue, ['trade.#'], async () => {}, 100);
      const batch = Array.from({ length: 60 }, (_, i) => message(i % 2 === 0 ? 'trade.open' : 'trade.close'));
      const result = await f.bus.publish(batch);
      expect(result).toEqual({ ok: true, value: undefined });
      await eventually('60 deliveries', () => c.deliveries.length >= 60);
      await mustPublish(f.bus, [message('trade.barrier', {}, 'end')]);
      await eventually('the barrier', () => c.ids().includes('end'));
      expect(c.ids()).toEqual([...batch.map((m) => m.id), 'end']);
    });

    it('confirms an empty batch', async () => {
      expect(await f.bus.publish([])).toEqual({ ok: true, value: undefined });
    });

    it('holds a message whose handler failed for the redelivery delay, then delivers it again, flagged', async () => {
      const queue = f.queue('retry');
      let failures = 0;
      const c = await collect(f.bus, queue, ['trade.*'], async (d) => {
        if (d.id === 'fails-once' && failures === 0) {
          failures++;
          throw new Error('handler failed');
        }
      });
      await mustPublish(f.bus, [message('trade.open', {}, 'fails-once'), message('trade.open', {}, 'fine')]);
      await eventually(
        'the failed message held for the default delay while the next one is handled',
        () => f.clock.pending.includes(DEFAULT_REDELIVERY_DELAY_MS) && c.ids().includes('fine'),
      );
      // Held, not handed straight back (a handler that keeps failing would spin).
      expect(c.ids().filter((id) => id === 'fails-once')).toHaveLength(1);
      f.clock.release();
      await eventually('the redelivery', () => c.ids().filter((id) => id === 'fails-once').length === 2);
      await mustPublish(f.bus, [message('trade.open', {}, 'end')]);
      await eventually('the barrier', () => c.ids().includes('end'));
      const of = (id: string) => c.deliveries.filter((d) => d.id === id).map((d) => d.redelivered);
      expect(of('fails-once')).toEqual([false, true]);
      expect(of('fine')).toEqual([false]);
      // Handled once: never delivered a third time (the barrier came after it).
      await c.consumer.close();
      const again = await collect(f.bus, queue, ['trade.*']);
      await mustPublish(f.bus, [message('trade.open', {}, 'end2')]);
      await eventually('the second barrier', () => again.ids().includes('end2'));
      expect(again.ids()).toEqual(['end2']);
    });

    it('hands the messages a closed consumer had not acknowledged to the next consumer', async () => {
      const queue = f.queue('dies');
      // A consumer whose handlers never finish: it dies holding them.
      const stuck = await collect(f.bus, queue, ['trade.*'], () => new Promise(() => {}), 10);
      const sent = [message('trade.open'), message('trade.close'), message('trade.open')];
      await mustPublish(f.bus, sent);
      await eventually('all held by the stuck consumer', () => stuck.deliveries.length === 3);
      await stuck.consumer.close();
      const next = await collect(f.bus, queue, ['trade.*']);
      await eventually('the redeliveries', () => next.deliveries.length === 3);
      expect(next.ids().sort()).toEqual(sent.map((m) => m.id).sort());
      expect(next.deliveries.every((d) => d.redelivered)).toBe(true);
      for (const d of next.deliveries) expect(d.payload).toEqual(sent.find((m) => m.id === d.id)?.payload);
    });

    it('keeps what was published to a declared durable queue while no consumer ran', async () => {
      const queue = f.queue('durable');
      expect(await f.bus.declareQueue({ queue, topics: ['trade.*'] })).toEqual({ ok: true, value: undefined });
      const sent = [message('trade.open'), message('trade.close')];
      await mustPublish(f.bus, sent);
      const c = await collect(f.bus, queue, ['trade.*']);
      await eventually('the kept messages', () => c.deliveries.length === 2);
      expect(c.ids()).toEqual(sent.map((m) => m.id));
      // ...and what was published between two consumers, too.
      await c.consumer.close();
      const later = [message('trade.open')];
      await mustPublish(f.bus, later);
      const d = await collect(f.bus, queue, ['trade.*']);
      await eventually('the message published between consumers', () => d.deliveries.length === 1);
      expect(d.ids()).toEqual(later.map((m) => m.id));
    });

    it('routes by topic pattern: * is one word, # any number, exact words match themselves', async () => {
      const queues = {
        exact: f.queue('exact'),
        star: f.queue('star'),
        hash: f.queue('hash'),
        all: f.queue('all'),
        other: f.queue('other'),
      };
      const patterns: Record<keyof typeof queues, string[]> = {
        exact: ['trade.open'],
        star: ['trade.*'],
        hash: ['trade.#'],
        all: ['#'],
        other: ['account.*.changed'],
      };
      const got: Record<string, Collector> = {};
      for (const [key, queue] of Object.entries(queues)) {
        got[key] = await collect(f.bus, queue, [...patterns[key as keyof typeof queues], BARRIER]);
      }
      await mustPublish(f.bus, [
        message('trade.open', {}, 'open'),
        message('trade.close', {}, 'close'),
        message('trade.close.partial', {}, 'partial'),
        message('account.mt4.changed', {}, 'changed'),
        message(BARRIER, {}, 'end'),
      ]);
      for (const key of Object.keys(queues)) {
        await eventually(`the barrier on ${key}`, () => (got[key] as Collector).ids().includes('end'));
      }
      const ids = (key: string) => (got[key] as Collector).ids();
      expect(ids('exact')).toEqual(['open', 'end']);
      expect(ids('star')).toEqual(['open', 'close', 'end']);
      expect(ids('hash')).toEqual(['open', 'close', 'partial', 'end']);
      expect(ids('all')).toEqual(['open', 'close', 'partial', 'changed', 'end']);
      expect(ids('other')).toEqual(['changed', 'end']);
    });

    it('shares one queue between competing consumers: each message goes to one of them', async () => {
      const queue = f.queue('shared');
      const a = await collect(f.bus, queue, ['trade.*'], async () => {}, 1);
      const b = await collect(f.bus, queue, ['trade.*'], async () => {}, 1);
      const sent = Array.from({ length: 20 }, () => message('trade.open'));
      await mustPublish(f.bus, sent);
      await eventually('20 deliveries', () => a.deliveries.length + b.deliveries.length >= 20);
      expect([...a.ids(), ...b.ids()].sort()).toEqual(sent.map((m) => m.id).sort());
    });

    it('keeps a message id through redelivery, so a consumer can drop a duplicate publication', async () => {
      const queue = f.queue('dedupe');
      const seen = new Set<string>();
      const effects: string[] = [];
      const c = await collect(f.bus, queue, ['trade.*'], async (d) => {
        if (seen.has(d.id)) return;
        seen.add(d.id);
        effects.push(d.id);
      });
      const twice = message('trade.open', {}, 'trade:s:1:7:open');
      // At-least-once: a publisher that crashed before marking its batch published sends it again.
      await mustPublish(f.bus, [twice, message('trade.close', {}, 'other')]);
      await mustPublish(f.bus, [twice]);
      await mustPublish(f.bus, [message('trade.open', {}, 'end')]);
      await eventually('the barrier', () => c.ids().includes('end'));
      expect(c.ids().filter((id) => id === twice.id)).toHaveLength(2);
      expect(effects).toEqual([twice.id, 'other', 'end']);
    });

    it('fails a publish with MTP_BUS_UNROUTABLE when a message reaches no queue, and delivers the rest', async () => {
      const c = await collect(f.bus, f.queue('routed'), ['trade.*']);
      const result = await f.bus.publish([message('trade.open', {}, 'taken'), message('nobody.listens', {}, 'lost')]);
      expect(result).toEqual({
        ok: false,
        error: { code: 'MTP_BUS_UNROUTABLE', message: expect.stringContaining('lost') },
      });
      await eventually('the routed message', () => c.ids().includes('taken'));
      expect(c.ids()).toEqual(['taken']);
      // Once a queue takes the topic, the same message goes through (the publisher kept it and retries).
      const late = f.queue('late');
      expect(await f.bus.declareQueue({ queue: late, topics: ['nobody.#'] })).toEqual({ ok: true, value: undefined });
      expect(await f.bus.publish([message('nobody.listens', {}, 'lost')])).toEqual({ ok: true, value: undefined });
      const d = await collect(f.bus, late, ['nobody.#']);
      await eventually('the kept message', () => d.ids().includes('lost'));
    });

    it('refuses to publish once closed, with MTP_BUS_CLOSED', async () => {
      await f.bus.close();
      const result = await f.bus.publish([message('trade.open')]);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe('MTP_BUS_CLOSED');
    });

    it('throws on a malformed message or queue (a bug of the caller, not a broker failure)', async () => {
      await expect(f.bus.publish([{ ...message('trade.open'), id: '' }])).rejects.toThrow(/needs an id/);
      await expect(f.bus.publish([message('trade.*')])).rejects.toThrow(/bad topic/);
      await expect(f.bus.declareQueue({ queue: f.queue('bad'), topics: [] })).rejects.toThrow(/topic pattern/);
    });
  });
}
