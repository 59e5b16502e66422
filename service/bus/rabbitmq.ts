import { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, connect } from 'amqplib';
import type { Clock } from '../../kit/clock.ts';
import { Random } from '../../kit/random.ts';
import { backoffMs } from '../backoff.ts';
import { type Logger, silentLogger } from '../log.ts';
import { Signal, sleepUnless } from '../signal.ts';
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
} from './port.ts';

/**
 * The event bus on RabbitMQ (amqplib): one durable topic exchange (`mtproof.events` unless named), durable
 * queues bound to it, persistent messages carrying their `messageId`, publishing on a confirm channel (a
 * batch is `ok` only once the broker confirmed every message), consumers on channels of their own with a
 * prefetch and manual acknowledgements.
 *
 * Messages are published `mandatory`: one that no queue is bound to comes back (basic.return, always before
 * its confirm) and fails the publish with MTP_BUS_UNROUTABLE instead of vanishing.
 *
 * One connection, made on first use. When it drops (or a channel of it fails), the bus reconnects in the
 * background with exponential backoff — waits through the `Clock` it was given, and ends them at `close()`
 * — re-declares the exchange and re-establishes every open consumer (the broker has put their
 * unacknowledged messages back in the meantime). While it is down, `publish`, `declareQueue` and `consume`
 * fail at once with MTP_BUS_UNAVAILABLE: the outbox relay retries later, nothing waits on a dead socket.
 * Every failure of the broker or the network is such a value; only misuse (a malformed message) throws.
 * Every connection and channel has an 'error' listener: amqplib emits one before each close the broker or
 * the network causes, and an unheard 'error' event would crash the process.
 */

export interface RabbitMqBusOptions {
  /** `amqp://user:password@host:5672/vhost` */
  url: string;
  /** Reconnect backoff waits (production: SystemClock). */
  clock: Clock;
  /** The durable topic exchange; default `mtproof.events`. */
  exchange?: string;
  /** Reconnect backoff; defaults 500 ms × 2^n up to 30 s, jitter 0.2. */
  reconnect?: { initialDelayMs?: number; factor?: number; maxDelayMs?: number; jitter?: number };
  /** Reconnect jitter; a fixed stream when absent. */
  random?: Random;
  /** AMQP heartbeat: a dead peer is noticed within about twice this. Default 10 s. */
  heartbeatSec?: number;
  /** A connection attempt that gets no answer fails after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Shown in RabbitMQ's connection list. */
  connectionName?: string;
  log?: Logger;
}

export const DEFAULT_EXCHANGE = 'mtproof.events';

/** The header carrying a message's `atMs` (AMQP's own timestamp is whole seconds). */
const AT_MS_HEADER = 'x-mtproof-at-ms';

interface Link {
  model: ChannelModel;
  publisher: ConfirmChannel;
  /** Increments with every connection: a consumer knows whether its channel belongs to the current one. */
  generation: number;
  /** Message ids the broker returned as unroutable and whose confirm has not come yet (a count per id). */
  returned: Map<string, number>;
}

/** What a publish's confirm callback learnt of one message. */
class Unroutable extends Error {}

export class RabbitMqBus implements EventBus {
  readonly exchange: string;
  readonly #o: RabbitMqBusOptions;
  readonly #log: Logger;
  readonly #random: Random;
  readonly #policy: { initialDelayMs: number; factor: number; maxDelayMs: number; jitter: number };
  readonly #consumers = new Set<RabbitConsumer>();
  #link: Link | null = null;
  #connecting: Promise<Link | null> | null = null;
  #recovering = false;
  #closed = false;
  /** Fired by close(): a reconnect backoff in progress ends at once. */
  readonly #closing = new Signal({ latched: true });
  #generation = 0;
  #reconnects = 0;

  constructor(options: RabbitMqBusOptions) {
    this.#o = options;
    this.exchange = options.exchange ?? DEFAULT_EXCHANGE;
    this.#log = options.log ?? silentLogger;
    this.#random = options.random ?? new Random('rabbitmq-bus');
    this.#policy = {
      initialDelayMs: options.reconnect?.initialDelayMs ?? 500,
      factor: options.reconnect?.factor ?? 2,
      maxDelayMs: options.reconnect?.maxDelayMs ?? 30_000,
      jitter: options.reconnect?.jitter ?? 0.2,
    };
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.#link !== null;
  }

  /** Connections made after the first (a test's evidence that it reconnected). */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Connects now (otherwise the first call does); `ok` once the exchange is declared. */
  async connect(): Promise<BusResult> {
    const link = await this.#ensure();
    return link.ok ? { ok: true, value: undefined } : link;
  }

  async publish(messages: readonly BusMessage[]): Promise<BusResult> {
    for (const message of messages) checkMessage(message);
    const bodies = messages.map((m) => Buffer.from(JSON.stringify(m.payload)));
    if (messages.length === 0) return { ok: true, value: undefined };
    const ensured = await this.#ensure();
    if (!ensured.ok) return ensured;
    const { publisher, returned } = ensured.value;
    const confirms = messages.map(
      (m, i) =>
        new Promise<void>((resolve, reject) => {
          // A channel already closed throws here: this message's promise rejects, the others still settle.
          publisher.publish(
            this.exchange,
            m.topic,
            bodies[i] as Buffer,
            {
              persistent: true,
              mandatory: true,
              messageId: m.id,
              contentType: 'application/json',
              timestamp: Math.floor(m.atMs / 1000),
              headers: { [AT_MS_HEADER]: m.atMs },
            },
            (error: unknown) => {
              if (error !== null && error !== undefined) return reject(error);
              // Acked, but returned before that: routed to no queue.
              const count = returned.get(m.id) ?? 0;
              if (count === 0) return resolve();
              if (count === 1) returned.delete(m.id);
              else returned.set(m.id, count - 1);
              reject(new Unroutable(m.id));
            },
          );
        }),
    );
    // Every confirm is awaited (none left dangling: a closing channel fails the ones it still owes), then
    // the worst failure decides: the connection's, then the broker's refusal, then a missing queue.
    const failures = (await Promise.allSettled(confirms)).flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    if (failures.length === 0) return { ok: true, value: undefined };
    const lost = failures.find((f) => !(f instanceof Unroutable) && !/nack/i.test(describe(f)));
    if (lost !== undefined) return busError('MTP_BUS_UNAVAILABLE', `publishing failed: ${describe(lost)}`);
    const nacked = failures.find((f) => !(f instanceof Unroutable));
    if (nacked !== undefined) return busError('MTP_BUS_REFUSED', `the broker nacked a message: ${describe(nacked)}`);
    const ids = failures.map((f) => (f as Unroutable).message);
    return busError(
      'MTP_BUS_UNROUTABLE',
      `no queue is bound to the topic of ${ids.join(', ')} on exchange ${this.exchange}: declare one`,
    );
  }

  async declareQueue(spec: QueueSpec): Promise<BusResult> {
    checkQueueSpec(spec);
    const ensured = await this.#ensure();
    if (!ensured.ok) return ensured;
    let channel: Channel | null = null;
    try {
      // A channel of its own: a declaration the broker refuses closes only it.
      channel = await ensured.value.model.createChannel();
      channel.on('error', () => {});
      await this.declareOn(channel, spec);
      return { ok: true, value: undefined };
    } catch (error) {
      return this.#failure('declaring queue', error);
    } finally {
      await channel?.close().catch(() => {});
    }
  }

  async consume(options: ConsumeOptions, handler: Handler): Promise<BusResult<Consumer>> {
    checkQueueSpec(options);
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new Error(`bus: prefetch must be >= 1, got ${prefetch}`);
    redeliveryDelayOf(options);
    const ensured = await this.#ensure();
    if (!ensured.ok) return ensured;
    const consumer = new RabbitConsumer(this, { ...options, prefetch }, handler);
    this.#consumers.add(consumer);
    try {
      await consumer.attach(ensured.value);
      return { ok: true, value: consumer };
    } catch (error) {
      // Not handed to the caller: it must not consume behind its back after a reconnect either.
      await consumer.close();
      return this.#failure(`consuming ${options.queue}`, error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.fire();
    for (const consumer of [...this.#consumers]) await consumer.close();
    const link = this.#link;
    this.#link = null;
    await link?.model.close().catch(() => {});
  }

  /** @internal Declares `spec` on `channel` (declareQueue's, or a consumer's own). */
  async declareOn(channel: Channel, spec: QueueSpec): Promise<void> {
    await channel.assertQueue(spec.queue, { durable: true });
    for (const topic of spec.topics) await channel.bindQueue(spec.queue, this.exchange, topic);
  }

  /** @internal */
  forget(consumer: RabbitConsumer): void {
    this.#consumers.delete(consumer);
  }

  /** @internal A consumer's channel failed while the connection lives: start over on a fresh connection. */
  restart(link: Link, why: string): void {
    if (this.#link !== link) return;
    this.#log({ level: 'warn', msg: 'rabbitmq: a channel failed, reconnecting', why });
    void link.model.close().catch(() => {});
  }

  get log(): Logger {
    return this.#log;
  }

  get clock(): Clock {
    return this.#o.clock;
  }

  /** The open link; or one connect attempt when idle; or MTP_BUS_UNAVAILABLE at once while recovering. */
  async #ensure(): Promise<BusResult<Link>> {
    if (this.#closed) return busError('MTP_BUS_CLOSED', 'the RabbitMQ bus is closed');
    if (this.#link !== null) return { ok: true, value: this.#link };
    if (this.#connecting === null && !this.#recovering) {
      this.#connecting = this.#connectOnce().finally(() => {
        this.#connecting = null;
      });
      const link = await this.#connecting;
      if (link !== null) return { ok: true, value: link };
      // The first attempt failed: keep trying in the background.
      this.#recover();
    } else if (this.#connecting !== null) {
      const link = await this.#connecting;
      if (link !== null) return { ok: true, value: link };
    }
    if (this.#closed) return busError('MTP_BUS_CLOSED', 'the RabbitMQ bus is closed');
    return busError('MTP_BUS_UNAVAILABLE', 'not connected to RabbitMQ (reconnecting)');
  }

  /** One connection attempt: connect, open the confirm channel, declare the exchange, re-attach consumers. */
  async #connectOnce(): Promise<Link | null> {
    let model: ChannelModel | null = null;
    try {
      model = await connect(withHeartbeat(this.#o.url, this.#o.heartbeatSec ?? 10), {
        // A connect the network swallows fails after this long rather than hanging the caller.
        timeout: this.#o.connectTimeoutMs ?? 10_000,
        clientProperties: { connection_name: this.#o.connectionName ?? 'mtproof' },
      });
      const current = model;
      // An 'error' is always followed by 'close', where the loss is handled; unheard, it would crash.
      current.on('error', (error: Error) =>
        this.#log({ level: 'warn', msg: 'rabbitmq: connection error', error: describe(error) }),
      );
      const publisher = await current.createConfirmChannel();
      publisher.on('error', () => {});
      const returned = new Map<string, number>();
      publisher.on('return', (message: ConsumeMessage) => {
        const id = message.properties.messageId as unknown;
        if (typeof id === 'string') returned.set(id, (returned.get(id) ?? 0) + 1);
      });
      await publisher.assertExchange(this.exchange, 'topic', { durable: true });
      const link: Link = { model: current, publisher, generation: ++this.#generation, returned };
      current.on('close', () => this.#lost(link));
      // The publisher failing alone (the exchange deleted under it) is handled as a lost connection.
      publisher.on('close', () => this.restart(link, 'the publishing channel closed'));
      for (const consumer of this.#consumers) await consumer.attach(link);
      if (this.#closed) {
        await current.close().catch(() => {});
        return null;
      }
      if (this.#generation > 1) this.#reconnects++;
      this.#link = link;
      this.#log({
        level: 'info',
        msg: 'rabbitmq: connected',
        exchange: this.exchange,
        consumers: this.#consumers.size,
      });
      return link;
    } catch (error) {
      this.#log({ level: 'warn', msg: 'rabbitmq: connect failed', error: describe(error) });
      await model?.close().catch(() => {});
      return null;
    }
  }

  #lost(link: Link): void {
    for (const consumer of this.#consumers) consumer.detach(link);
    if (this.#link !== link) return;
    this.#link = null;
    if (this.#closed) return;
    this.#log({ level: 'warn', msg: 'rabbitmq: connection lost, reconnecting' });
    this.#recover();
  }

  /** Reconnects in the background with backoff until connected or closed. */
  #recover(): void {
    if (this.#recovering || this.#closed) return;
    this.#recovering = true;
    void (async () => {
      try {
        for (let attempt = 1; !this.#closed; attempt++) {
          await sleepUnless(this.#o.clock, backoffMs(this.#policy, Math.min(attempt, 30), this.#random), [
            this.#closing,
          ]);
          if (this.#closed) return;
          this.#connecting = this.#connectOnce();
          const link = await this.#connecting;
          this.#connecting = null;
          if (link !== null) return;
        }
      } finally {
        this.#recovering = false;
        this.#connecting = null;
      }
    })();
  }

  #failure<T>(what: string, error: unknown): BusResult<T> {
    // The broker closing the channel over a bad declaration (406 PRECONDITION_FAILED, 403) refuses it; the
    // rest is the connection going away.
    const text = describe(error);
    if (/PRECONDITION_FAILED|ACCESS_REFUSED|NOT_FOUND|\b40[346]\b/.test(text)) {
      return busError('MTP_BUS_REFUSED', `${what}: ${text}`);
    }
    return busError('MTP_BUS_UNAVAILABLE', `${what}: ${text}`);
  }
}

/** One consumer: survives reconnects (attached again on every new connection) until closed. */
class RabbitConsumer implements Consumer {
  readonly queue: string;
  closed = false;
  readonly #bus: RabbitMqBus;
  readonly #options: ConsumeOptions & { prefetch: number };
  readonly #handler: Handler;
  #channel: Channel | null = null;
  #link: Link | null = null;
  #tag: string | null = null;
  /** Fired by close(): a failed message's redelivery delay ends at once (the broker requeued it). */
  readonly #closing = new Signal({ latched: true });

  constructor(bus: RabbitMqBus, options: ConsumeOptions & { prefetch: number }, handler: Handler) {
    this.#bus = bus;
    this.#options = options;
    this.#handler = handler;
    this.queue = options.queue;
  }

  /** Opens a channel on `link`, declares the queue and starts consuming (once per connection). */
  async attach(link: Link): Promise<void> {
    if (this.closed || this.#link === link) return;
    // Taken before the first await: a second attach on the same connection (consume racing a reconnect)
    // returns at once instead of opening a second channel.
    this.#link = link;
    this.#channel = null;
    this.#tag = null;
    let channel: Channel | null = null;
    try {
      channel = await link.model.createChannel();
      channel.on('error', () => {});
      await this.#bus.declareOn(channel, this.#options);
      await channel.prefetch(this.#options.prefetch);
      const open = channel;
      const { consumerTag } = await open.consume(this.queue, (message) => this.#onMessage(open, message), {
        noAck: false,
      });
      if (this.closed || this.#link !== link) {
        // Closed (or the connection replaced) meanwhile: this channel is nobody's.
        await open.close().catch(() => {});
        return;
      }
      this.#channel = open;
      this.#tag = consumerTag;
      open.on('close', () => {
        // Closed by the broker while the connection lives (e.g. an ack the broker did not expect): start over
        // on a fresh connection. Closed with the connection: the reconnect attaches it again anyway.
        if (this.#channel !== open || this.closed) return;
        this.#channel = null;
        this.#link = null;
        this.#bus.restart(link, `the consumer channel of ${this.queue} closed`);
      });
    } catch (error) {
      if (this.#link === link) this.#link = null;
      await channel?.close().catch(() => {});
      throw error;
    }
  }

  /** The connection `link` is gone: so is this consumer's channel (its unacked messages are back in the queue). */
  detach(link: Link): void {
    if (this.#link !== link) return;
    this.#link = null;
    this.#channel = null;
    this.#tag = null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.#closing.fire();
    this.#bus.forget(this);
    const channel = this.#channel;
    const tag = this.#tag;
    this.#channel = null;
    this.#link = null;
    if (channel === null) return;
    try {
      if (tag !== null) await channel.cancel(tag);
      // Closing the channel hands its unacknowledged messages back to the queue.
      await channel.close();
    } catch {
      // Already gone with its connection: the broker requeued them then.
    }
  }

  #onMessage(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // Cancelled by the broker (the queue was deleted): start over, which declares it again.
      if (this.#channel === channel && this.#link !== null && !this.closed) {
        this.#bus.restart(this.#link, `the broker cancelled the consumer of ${this.queue}`);
      }
      return;
    }
    void this.#handle(channel, message);
  }

  async #handle(channel: Channel, message: ConsumeMessage): Promise<void> {
    const delivery = decode(message);
    if (delivery === null) {
      // Not one of ours (no id, not JSON): handing it back would loop forever.
      this.#bus.log({ level: 'error', msg: 'rabbitmq: dropped a malformed message', queue: this.queue });
      settle(() => channel.nack(message, false, false));
      return;
    }
    let handled: boolean;
    try {
      await this.#handler(delivery);
      handled = true;
    } catch {
      handled = false;
    }
    if (handled) {
      settle(() => channel.ack(message));
      return;
    }
    // Held a while before it goes back, or a handler that keeps failing would spin on it.
    const delayMs = redeliveryDelayOf(this.#options);
    if (delayMs > 0) await sleepUnless(this.#bus.clock, delayMs, [this.#closing]);
    settle(() => channel.nack(message, false, true));
  }
}

/** An ack or nack; on a channel that has closed meanwhile there is nothing to do (the broker requeued it). */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone: so is the delivery it would have settled.
  }
}

function decode(message: ConsumeMessage): Delivery | null {
  const id = message.properties.messageId as unknown;
  if (typeof id !== 'string' || id === '') return null;
  let payload: unknown;
  try {
    payload = JSON.parse(message.content.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const header = (message.properties.headers as Record<string, unknown> | undefined)?.[AT_MS_HEADER];
  const stamp = message.properties.timestamp as unknown;
  const atMs = typeof header === 'number' ? header : typeof stamp === 'number' ? stamp * 1000 : 0;
  return {
    id,
    topic: message.fields.routingKey,
    payload: payload as Record<string, unknown>,
    atMs,
    redelivered: message.fields.redelivered,
  };
}

/** The URL with `heartbeat` set unless it names one (amqplib reads it from the URL's query). */
function withHeartbeat(url: string, heartbeatSec: number): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(heartbeatSec));
  return parsed.toString();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
