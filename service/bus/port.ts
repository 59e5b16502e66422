/**
 * The event-bus port: what the service needs from a message broker, and what its consumers get.
 *
 * - `publish(batch)` resolves `{ ok: true }` only once the broker has confirmed every message of the batch
 *   (RabbitMQ: publisher confirms); any failure is a value with a stable code, and the caller (the outbox
 *   relay) publishes the batch again later. A batch that failed may have been partly delivered: delivery is
 *   at-least-once, and every message keeps its `id` so that consumers can drop what they have seen.
 * - `consume({ queue, topics }, handler)` reads a named durable queue bound to topic patterns. A message is
 *   acknowledged only after `handler` resolves; if the handler throws, the message is held for
 *   `redeliveryDelayMs` (default 1 s: a handler that keeps failing is not redelivered in a hot loop) and then
 *   handed back; if the consumer closes or dies with it unacknowledged, it goes back at once. Either way it
 *   is delivered again (`redelivered: true`), to this or another consumer.
 * - A durable queue keeps what was published to its topics while no consumer ran, from the moment it was
 *   declared (`declareQueue`, or a first `consume`). A message that no queue is bound to is never dropped
 *   silently: the publish fails with MTP_BUS_UNROUTABLE (RabbitMQ: published `mandatory`, the broker returns
 *   it), and the publisher keeps it. The other messages of that batch were delivered.
 *
 * Topic patterns are AMQP's: words separated by `.`, `*` matches exactly one word, `#` zero or more
 * (`trade.*`, `trade.#`, `#`).
 */

import type { ErrorCode } from '../../kit/errors.ts';

/** One message: `id` is stable for the fact it tells of (`trade:${tradeId}`); `atMs` is when it was created. */
export interface BusMessage {
  id: string;
  /** The routing key, e.g. `trade.open`. */
  topic: string;
  /** JSON data (it crosses the wire as JSON). */
  payload: Record<string, unknown>;
  atMs: number;
}

/** A message as a consumer receives it. */
export interface Delivery extends BusMessage {
  /** True when the broker may have delivered it before (a handler failed, a consumer died, a reconnect). */
  redelivered: boolean;
}

export type BusErrorCode = Extract<
  ErrorCode,
  'MTP_BUS_UNAVAILABLE' | 'MTP_BUS_REFUSED' | 'MTP_BUS_CLOSED' | 'MTP_BUS_UNROUTABLE'
>;

export interface BusError {
  code: BusErrorCode;
  message: string;
}

export type BusResult<T = void> = { ok: true; value: T } | { ok: false; error: BusError };

export interface QueueSpec {
  /** The durable queue's name (shared by every consumer of one application: they compete for its messages). */
  queue: string;
  /** Topic patterns the queue is bound to (bindings are added, never removed, by a later declaration). */
  topics: readonly string[];
}

export interface ConsumeOptions extends QueueSpec {
  /** Unacknowledged messages this consumer holds at once (its handlers run concurrently up to this). */
  prefetch?: number;
  /**
   * How long a message whose handler threw is held before it is handed back for redelivery; default
   * DEFAULT_REDELIVERY_DELAY_MS. 0 hands it back at once: a handler that always fails then spins.
   */
  redeliveryDelayMs?: number;
}

/** Called for each delivery; resolving acknowledges it, throwing (rejecting) hands it back. */
export type Handler = (message: Delivery) => Promise<void>;

export interface Consumer {
  readonly queue: string;
  /** Stops consuming; messages it holds unacknowledged go back to the queue. */
  close(): Promise<void>;
}

export interface EventBus {
  /** Publishes a batch; `ok` once the broker confirmed every message and routed each to a queue at least. */
  publish(messages: readonly BusMessage[]): Promise<BusResult>;
  /** Declares a durable queue and binds it to `topics`: from now on it keeps what is published to them. */
  declareQueue(spec: QueueSpec): Promise<BusResult>;
  /** Declares the queue (as `declareQueue`) and consumes from it. */
  consume(options: ConsumeOptions, handler: Handler): Promise<BusResult<Consumer>>;
  /** Closes consumers and connections; later calls fail with MTP_BUS_CLOSED. */
  close(): Promise<void>;
}

export const DEFAULT_PREFETCH = 16;

/** How long a message whose handler threw is held before it is redelivered, unless a consumer says otherwise. */
export const DEFAULT_REDELIVERY_DELAY_MS = 1_000;

export function busError<T = void>(code: BusErrorCode, message: string): BusResult<T> {
  return { ok: false, error: { code, message } };
}

/** Whether `topic` matches an AMQP topic `pattern` (`*`: one word, `#`: zero or more words). */
export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('.');
  const t = topic.split('.');
  // memo[i][j]: p[i..] matches t[j..]
  const memo = new Map<number, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = i * (t.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let out: boolean;
    if (i === p.length) out = j === t.length;
    else if (p[i] === '#') out = match(i + 1, j) || (j < t.length && match(i, j + 1));
    else out = j < t.length && (p[i] === '*' || p[i] === t[j]) && match(i + 1, j + 1);
    memo.set(key, out);
    return out;
  };
  return match(0, 0);
}

/** Checks a message before it is published: a malformed one is a bug of the caller. */
export function checkMessage(message: BusMessage): void {
  if (typeof message.id !== 'string' || message.id === '') throw new Error('bus: a message needs an id');
  if (typeof message.topic !== 'string' || !/^[^.*#]+(\.[^.*#]+)*$/.test(message.topic)) {
    throw new Error(`bus: message ${message.id} has a bad topic "${message.topic}" (dotted words, no * or #)`);
  }
  if (!Number.isFinite(message.atMs)) throw new Error(`bus: message ${message.id} has no atMs`);
}

/** The redelivery delay a consumer asked for, or the default; a negative or fractional one is a bug. */
export function redeliveryDelayOf(options: ConsumeOptions): number {
  const delayMs = options.redeliveryDelayMs ?? DEFAULT_REDELIVERY_DELAY_MS;
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new Error(`bus: redeliveryDelayMs must be a whole number of ms >= 0, got ${delayMs}`);
  }
  return delayMs;
}

/** Checks a queue declaration: a malformed one is a bug of the caller. */
export function checkQueueSpec(spec: QueueSpec): void {
  if (typeof spec.queue !== 'string' || spec.queue === '') throw new Error('bus: a queue needs a name');
  if (spec.topics.length === 0) throw new Error(`bus: queue ${spec.queue} needs at least one topic pattern`);
  for (const topic of spec.topics) {
    if (topic === '' || topic.split('.').some((w) => w === '')) {
      throw new Error(`bus: queue ${spec.queue} has a bad topic pattern "${topic}"`);
    }
  }
}
