import type { ManagerApi, PumpEvent, Subscription } from '../../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../../adapters/sim/index.ts';
import type { SimHost } from './host.ts';

/**
 * The native API's sessions: each is one ManagerApi connection (the in-process adapter) to one server of the
 * host's world, named by an id the client carries in the path. Pumped events wait in a buffer per
 * subscription until the client has seen them (long polling), so nothing is lost between two polls; a client
 * that stops polling is cut off (its subscription ends with `stopped`, as a real pump drops a slow reader).
 */

export interface SessionsOptions {
  /** A session nobody used for this long (real time) is closed (default 10 min). */
  idleMs?: number;
  /** Events a subscription holds for a client that does not poll; beyond, it ends (default 10 000). */
  bufferLimit?: number;
  /** The real clock (default Date.now), for idleness only. */
  now?: () => number;
  /**
   * How long the simulated manager library waits for a server's answer before it reports a timeout, in the
   * world's time (default: the simulator's, 10 s). Tests shorten it so that a timeout fault costs less.
   */
  timeoutMs?: number;
}

export interface BufferedEvent {
  readonly seq: number;
  readonly event: PumpEvent;
}

export class EventBuffer {
  readonly id: string;
  readonly #limit: number;
  #events: BufferedEvent[] = [];
  #seq = 0;
  #ended = false;
  #waiters: (() => void)[] = [];
  subscription: Subscription | null = null;

  constructor(id: string, limit: number) {
    this.id = id;
    this.#limit = limit;
  }

  get ended(): boolean {
    return this.#ended;
  }

  push(event: PumpEvent): void {
    if (this.#ended) return;
    if (this.#events.length >= this.#limit) {
      // The reader is gone or too slow: the stream ends, as a real server drops a pump it cannot feed.
      this.#events.push({ seq: ++this.#seq, event: { type: 'stopped' } });
      this.end();
      return;
    }
    this.#events.push({ seq: ++this.#seq, event });
    if (event.type === 'stopped') this.#ended = true;
    this.#wake();
  }

  /** Ends the stream (no `stopped` is added: the client asked for it, or the session went). */
  end(): void {
    this.#ended = true;
    this.subscription?.close();
    this.#wake();
  }

  /** Events after `after` (releasing those up to it), waiting up to `waitMs` for the first one. */
  async take(after: number, waitMs: number): Promise<{ events: BufferedEvent[]; ended: boolean }> {
    this.#events = this.#events.filter((e) => e.seq > after);
    if (this.#events.length === 0 && !this.#ended && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        const self = this;
        function done(): void {
          clearTimeout(timer);
          self.#waiters = self.#waiters.filter((w) => w !== done);
          resolve();
        }
        this.#waiters.push(done);
      });
    }
    return { events: this.#events.slice(0, 1000), ended: this.#ended && this.#events.length <= 1000 };
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export class NativeSession {
  readonly id: string;
  readonly serverId: string;
  readonly api: ManagerApi;
  readonly buffers = new Map<string, EventBuffer>();
  lastUsedMs: number;
  #subscriptions = 0;

  constructor(id: string, serverId: string, api: ManagerApi, nowMs: number) {
    this.id = id;
    this.serverId = serverId;
    this.api = api;
    this.lastUsedMs = nowMs;
  }

  newBuffer(limit: number): EventBuffer {
    const buffer = new EventBuffer(`${this.id}.${++this.#subscriptions}`, limit);
    this.buffers.set(buffer.id, buffer);
    return buffer;
  }

  async close(): Promise<void> {
    for (const buffer of this.buffers.values()) buffer.end();
    this.buffers.clear();
    await this.api.close();
  }
}

export class NativeSessions {
  readonly #host: SimHost;
  readonly #idleMs: number;
  readonly #bufferLimit: number;
  readonly #now: () => number;
  readonly #timeoutMs: number | undefined;
  readonly #sessions = new Map<string, NativeSession>();
  #count = 0;
  #lastSweepMs = 0;

  constructor(host: SimHost, options: SessionsOptions = {}) {
    this.#host = host;
    this.#idleMs = options.idleMs ?? 600_000;
    this.#bufferLimit = options.bufferLimit ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs;
    // A fresh world has none of the old sessions' connections.
    host.onReset(() => {
      void this.closeAll();
    });
  }

  get size(): number {
    return this.#sessions.size;
  }

  get bufferLimit(): number {
    return this.#bufferLimit;
  }

  open(serverId: string): NativeSession {
    this.#sweep();
    const id = `s${this.#host.generation}-${++this.#count}`;
    const api = createSimManagerApi(this.#host.cluster, serverId, {
      clock: this.#host.clock,
      ...(this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs }),
    });
    const session = new NativeSession(id, serverId, api, this.#now());
    this.#sessions.set(id, session);
    return session;
  }

  get(id: string): NativeSession | undefined {
    this.#sweep();
    const session = this.#sessions.get(id);
    if (session !== undefined) session.lastUsedMs = this.#now();
    return session;
  }

  async close(id: string): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (session === undefined) return false;
    this.#sessions.delete(id);
    await session.close();
    return true;
  }

  async closeAll(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map((s) => s.close()));
  }

  /** Closes idle sessions, at most once a second (a request pays for it, not a timer). */
  #sweep(): void {
    const nowMs = this.#now();
    if (nowMs - this.#lastSweepMs < 1_000) return;
    this.#lastSweepMs = nowMs;
    for (const session of [...this.#sessions.values()]) {
      if (nowMs - session.lastUsedMs > this.#idleMs) {
        this.#sessions.delete(session.id);
        void session.close();
      }
    }
  }
}
