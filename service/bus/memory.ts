import type { Clock } from '../../kit/clock.ts';
import {
  type BusMessage,
  type BusResult,
  busError,
  type ConsumeOptions,
  type Consumer,
  checkMessage,
  checkQueueSpec,
  DEFAULT_PREFETCH,
  type Delivery,
  type EventBus,
  type Handler,
  type QueueSpec,
  redeliveryDelayOf,
  topicMatches,
} from './port.ts';

/**
 * The event bus in process memory, with the semantics of the RabbitMQ adapter: a topic exchange, durable
 * queues that keep messages while no consumer runs, competing consumers with a prefetch, acknowledgement
 * after the handler resolves, redelivery (flagged) after a handler failure or a consumer's close.
 *
 * It sets no timer of its own: deliveries run as promise continuations, so in a virtual-time run everything
 * is deterministic. The one wait it makes — holding a message whose handler threw for the consumer's
 * `redeliveryDelayMs` — goes through the `clock` it was given (without it, a handler that keeps failing
 * would be redelivered in a loop of continuations that starves everything else). Publishing is confirmed at
 * once unless a test made the broker unreachable (`setReachable(false)`): then publishes fail with
 * MTP_BUS_UNAVAILABLE, as RabbitMQ's do during an outage. A message no queue is bound to fails its publish
 * with MTP_BUS_UNROUTABLE, as RabbitMQ returns a `mandatory` one. The bus outlives the service that
 * publishes to it: a test shares one across restarts.
 */

interface Stored {
  message: BusMessage;
  /** The payload as it crossed the "wire": each delivery parses a fresh copy. */
  json: string;
  redelivered: boolean;
}

interface QueueState {
  name: string;
  patterns: Set<string>;
  ready: Stored[];
  consumers: ConsumerState[];
  /** Round-robin position among the consumers. */
  turn: number;
}

interface ConsumerState {
  queue: QueueState;
  handler: Handler;
  prefetch: number;
  redeliveryDelayMs: number;
  /** Delivered, not yet acknowledged, in delivery order. */
  held: Set<Stored>;
  closed: boolean;
}

export interface InProcessBusOptions {
  /** For consumers' `redeliveryDelayMs` (the broker's time: not a service process's). */
  clock: Clock;
}

export class InProcessBus implements EventBus {
  readonly #queues = new Map<string, QueueState>();
  readonly #clock: Clock;
  #closed = false;
  #reachable = true;
  #published = 0;
  #acked = 0;
  #redelivered = 0;

  constructor(options: InProcessBusOptions) {
    this.#clock = options.clock;
  }

  async publish(messages: readonly BusMessage[]): Promise<BusResult> {
    for (const message of messages) checkMessage(message);
    const refused = this.#refusal();
    if (refused !== null) return refused;
    const touched = new Set<QueueState>();
    const unroutable: string[] = [];
    for (const message of messages) {
      // Through JSON, as on the wire: what cannot cross it fails here, not in a consumer.
      const json = JSON.stringify(message.payload);
      const stored: BusMessage = { id: message.id, topic: message.topic, payload: {}, atMs: message.atMs };
      let routed = false;
      for (const queue of this.#queues.values()) {
        if (![...queue.patterns].some((p) => topicMatches(p, message.topic))) continue;
        queue.ready.push({ message: stored, json, redelivered: false });
        touched.add(queue);
        routed = true;
      }
      if (routed) this.#published++;
      else unroutable.push(message.id);
    }
    for (const queue of touched) this.#dispatch(queue);
    if (unroutable.length > 0) {
      return busError('MTP_BUS_UNROUTABLE', `no queue is bound to the topic of ${unroutable.join(', ')}`);
    }
    return { ok: true, value: undefined };
  }

  async declareQueue(spec: QueueSpec): Promise<BusResult> {
    checkQueueSpec(spec);
    const refused = this.#refusal();
    if (refused !== null) return refused;
    this.#declare(spec);
    return { ok: true, value: undefined };
  }

  async consume(options: ConsumeOptions, handler: Handler): Promise<BusResult<Consumer>> {
    checkQueueSpec(options);
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    const redeliveryDelayMs = redeliveryDelayOf(options);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new Error(`bus: prefetch must be >= 1, got ${prefetch}`);
    const refused = this.#refusal();
    if (refused !== null) return refused;
    const queue = this.#declare(options);
    const state: ConsumerState = { queue, handler, prefetch, redeliveryDelayMs, held: new Set(), closed: false };
    queue.consumers.push(state);
    this.#dispatch(queue);
    return {
      ok: true,
      value: { queue: queue.name, close: async () => this.#closeConsumer(state) },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) {
      for (const consumer of [...queue.consumers]) this.#closeConsumer(consumer);
    }
  }

  /** A test's outage: while unreachable, publishing and declaring fail with MTP_BUS_UNAVAILABLE. */
  setReachable(reachable: boolean): void {
    this.#reachable = reachable;
  }

  /** Messages waiting in `queue` (`ready`) and delivered but not yet acknowledged (`unacked`). */
  depth(queue: string): { ready: number; unacked: number } {
    const q = this.#queues.get(queue);
    if (q === undefined) return { ready: 0, unacked: 0 };
    return { ready: q.ready.length, unacked: q.consumers.reduce((n, c) => n + c.held.size, 0) };
  }

  /** Counters: messages routed to a queue, deliveries acknowledged, deliveries handed back for redelivery. */
  get stats(): { published: number; acked: number; redelivered: number } {
    return { published: this.#published, acked: this.#acked, redelivered: this.#redelivered };
  }

  #refusal(): BusResult<never> | null {
    if (this.#closed) return busError('MTP_BUS_CLOSED', 'the in-process bus is closed');
    if (!this.#reachable) return busError('MTP_BUS_UNAVAILABLE', 'the in-process bus is unreachable (a test outage)');
    return null;
  }

  #declare(spec: QueueSpec): QueueState {
    let queue = this.#queues.get(spec.queue);
    if (queue === undefined) {
      queue = { name: spec.queue, patterns: new Set(), ready: [], consumers: [], turn: 0 };
      this.#queues.set(spec.queue, queue);
    }
    for (const topic of spec.topics) queue.patterns.add(topic);
    return queue;
  }

  /** Hands ready messages to consumers with room, round-robin. */
  #dispatch(queue: QueueState): void {
    while (queue.ready.length > 0) {
      const n = queue.consumers.length;
      let chosen: ConsumerState | undefined;
      for (let k = 0; k < n; k++) {
        const candidate = queue.consumers[(queue.turn + k) % n] as ConsumerState;
        if (candidate.held.size < candidate.prefetch) {
          chosen = candidate;
          queue.turn = (queue.turn + k + 1) % n;
          break;
        }
      }
      if (chosen === undefined) return;
      const stored = queue.ready.shift() as Stored;
      chosen.held.add(stored);
      void this.#deliver(chosen, stored);
    }
  }

  async #deliver(consumer: ConsumerState, stored: Stored): Promise<void> {
    const delivery: Delivery = {
      id: stored.message.id,
      topic: stored.message.topic,
      payload: JSON.parse(stored.json) as Record<string, unknown>,
      atMs: stored.message.atMs,
      redelivered: stored.redelivered,
    };
    let handled: boolean;
    try {
      // A continuation, never inline: the publisher's call returns before any handler runs.
      await Promise.resolve();
      await consumer.handler(delivery);
      handled = true;
    } catch {
      handled = false;
    }
    if (!handled && consumer.redeliveryDelayMs > 0 && consumer.held.has(stored)) {
      await this.#clock.sleep(consumer.redeliveryDelayMs);
    }
    // Closed meanwhile: the message went back to the queue then, and this late answer counts for nothing.
    if (!consumer.held.delete(stored)) return;
    if (handled) this.#acked++;
    else this.#requeue(consumer.queue, [stored]);
    this.#dispatch(consumer.queue);
  }

  #closeConsumer(consumer: ConsumerState): void {
    if (consumer.closed) return;
    consumer.closed = true;
    const queue = consumer.queue;
    queue.consumers.splice(queue.consumers.indexOf(consumer), 1);
    queue.turn = 0;
    const held = [...consumer.held];
    consumer.held.clear();
    this.#requeue(queue, held);
    this.#dispatch(queue);
  }

  /** Back at the head of the queue, in their order, flagged as redelivered. */
  #requeue(queue: QueueState, stored: Stored[]): void {
    for (const s of stored) s.redelivered = true;
    this.#redelivered += stored.length;
    queue.ready.unshift(...stored);
  }
}
