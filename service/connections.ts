import { ManagerError, notConnectedCode } from '../adapters/port/errors.ts';
import type { ManagerApi, PumpEvent, Result, Subscription } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';
import type { Random } from '../kit/random.ts';
import { raiseAlert } from './alerts.ts';
import type { AuditLog } from './audit.ts';
import { backoffMs } from './backoff.ts';
import type { BrokerConfig, ServerConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Store } from './store/port.ts';

/**
 * One server's connection as the service keeps it: connect on demand, reconnect with backoff, a
 * keepalive ping, detection of a silent logout (the socket is up but every call fails, and the pump goes
 * quiet), a circuit breaker that stops hammering a server that keeps failing, and the pumping stream
 * subscribed again after every reconnect. Every call goes through the audit log.
 */

type Invoke<T> = (api: ManagerApi) => Promise<Result<T>>;

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ConnectionStatus {
  serverId: string;
  connected: boolean;
  breaker: BreakerState;
  consecutiveFailures: number;
  reconnects: number;
  silentLogouts: number;
  lastEventMs: number | null;
  subscribed: boolean;
}

export interface ConnectionOptions {
  server: Readonly<ServerConfig>;
  settings: Readonly<BrokerConfig['connections']>;
  api: ManagerApi;
  password: string;
  clock: Clock;
  random: Random;
  audit: AuditLog;
  store: Store;
  log: Logger;
  onEvent: (serverId: string, event: PumpEvent) => void;
  /**
   * A subscription to the pump has just been made: events from now on arrive, those before may be lost, so
   * consumers fill the gap from history here. `quiet`: made afresh on a connection that stayed up, because
   * the pump had been quiet for `pumpQuietMs` (perhaps only because nothing happened); otherwise after a
   * (re)connect, or after a subscription that had failed. Called once the breaker has seen the outcome, so
   * calls made from it are not refused as a trial's.
   */
  onSubscribed?: (serverId: string, quiet: boolean) => void;
}

export class ServerConnection {
  readonly serverId: string;
  readonly #o: ConnectionOptions;
  readonly #api: ManagerApi;
  /** Reconnection backoff: doubling, half jitter, between the configured bounds. */
  readonly #reconnect: Parameters<typeof backoffMs>[0];
  #connected = false;
  #connecting: Promise<Result<void>> | null = null;
  #subscription: Subscription | null = null;
  #breaker: BreakerState = 'closed';
  #failures = 0;
  #openUntilMs = 0;
  #reconnects = 0;
  #silentLogouts = 0;
  #lastEventMs: number | null = null;
  /** Set when the pump stopped or a call showed the connection is gone: the keepalive loop reconnects. */
  #wake: (() => void) | null = null;

  constructor(options: ConnectionOptions) {
    this.#o = options;
    this.serverId = options.server.id;
    this.#api = options.api;
    this.#reconnect = {
      initialDelayMs: options.settings.reconnectInitialDelayMs,
      factor: 2,
      maxDelayMs: options.settings.reconnectMaxDelayMs,
      jitter: 0.5,
    };
  }

  status(): ConnectionStatus {
    return {
      serverId: this.serverId,
      connected: this.#connected,
      breaker: this.#breaker,
      consecutiveFailures: this.#failures,
      reconnects: this.#reconnects,
      silentLogouts: this.#silentLogouts,
      lastEventMs: this.#lastEventMs,
      subscribed: this.#subscription !== null,
    };
  }

  /** True while the breaker refuses calls. */
  get circuitOpen(): boolean {
    return this.#breaker === 'open' && this.#o.clock.nowMs() < this.#openUntilMs;
  }

  /**
   * Makes one audited call. Refused without sending while the circuit is open; connects first if needed.
   * A failure that shows the connection is gone marks it for reconnection.
   */
  async call<T>(
    op: string,
    request: Record<string, unknown>,
    subject: string | null,
    invoke: Invoke<T>,
  ): Promise<Result<T>> {
    const { clock } = this.#o;
    if (this.#breaker === 'half-open') return this.#refused(op, 'circuit half-open: a trial call is in flight');
    if (this.#breaker === 'open') {
      if (clock.nowMs() < this.#openUntilMs) return this.#refused(op, 'circuit open');
      // One trial call: its result closes the circuit or opens it again; others are refused meanwhile.
      this.#breaker = 'half-open';
    }
    if (!this.#connected) {
      const connected = await this.connect();
      if (!connected.ok) return connected as Result<T>;
    }
    const result = await this.#audited(op, request, subject, invoke);
    await this.#observe(result);
    return result;
  }

  /** Connects (once at a time) and subscribes to the pump. */
  connect(): Promise<Result<void>> {
    if (this.#connected) return Promise.resolve({ ok: true, value: undefined });
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Result<void>> {
    const { server, password } = this.#o;
    this.#dropSubscription();
    const session = await this.#audited(
      'connect',
      { login: server.login, address: server.address ?? null },
      null,
      (api) => api.connect({ login: server.login, password }),
    );
    if (!session.ok) {
      await this.#observe(session);
      return session;
    }
    this.#connected = true;
    this.#reconnects++;
    // Straight through the audit, not call(): this connect may be the breaker's one trial call.
    const subscribed = await this.#subscribe((invoke) => this.#audited('subscribe', {}, null, invoke));
    if (!subscribed.ok) {
      // Calls still work without the pump; the keepalive loop tries again on the next round.
      this.#o.log({
        level: 'warn',
        msg: 'pumping subscription failed',
        serverId: this.serverId,
        code: subscribed.error.codeName,
      });
    }
    await this.#observe(subscribed.ok ? { ok: true, value: undefined } : subscribed);
    if (subscribed.ok) this.#o.onSubscribed?.(this.serverId, false);
    return { ok: true, value: undefined };
  }

  /** Closes the connection (the keepalive loop or the next call reconnects). */
  async disconnect(why: string): Promise<void> {
    // Wake the keepalive loop: it reconnects, or sees that the service is stopping.
    this.#wake?.();
    if (!this.#connected && this.#subscription === null && !this.#api.isConnected()) return;
    this.#o.log({ level: 'warn', msg: `disconnecting: ${why}`, serverId: this.serverId });
    this.#connected = false;
    this.#dropSubscription();
    await this.#api.close();
  }

  /**
   * The keepalive loop: reconnects with backoff while down; pings every `pingIntervalMs` while up (a ping
   * refused for lack of connection while the adapter believes it is connected is a silent logout: it
   * reconnects); after a successful ping, subscribes again if the pump has been quiet for `pumpQuietMs`.
   * Returns when `stopped()` says so.
   */
  async keepalive(stopped: () => boolean): Promise<void> {
    const { clock, settings, random } = this.#o;
    let downAttempts = 0;
    while (!stopped()) {
      if (!this.#connected) {
        const result = this.circuitOpen ? null : await this.connect();
        if (result?.ok === true) {
          downAttempts = 0;
          continue;
        }
        downAttempts++;
        const delay = backoffMs(this.#reconnect, downAttempts, random);
        await this.#sleep(this.circuitOpen ? Math.max(delay, this.#openUntilMs - clock.nowMs()) : delay);
        continue;
      }
      if (this.#subscription === null) await this.#resubscribe(false);
      await this.#sleep(settings.pingIntervalMs);
      // While the breaker is open (or a trial call is out) a ping would be refused here, not by the server.
      if (stopped() || !this.#connected || this.circuitOpen || this.#breaker === 'half-open') continue;
      // Reaching here, the pump never said "stopped": a ping refused for lack of connection while the
      // adapter believed it was connected is a silent logout (read before the ping: a failure resets it).
      const believedUp = this.#api.isConnected();
      const ping = await this.call('ping', {}, null, (api) => api.ping());
      if (!ping.ok) {
        if (believedUp && ping.error.reason === 'no_connection') {
          // The adapter believes it is connected but the server does not answer: a silent logout.
          this.#silentLogouts++;
          await this.disconnect(`ping failed while connected (${ping.error.codeName}): silent logout`);
        }
        continue;
      }
      // The session answers but the stream has said nothing for too long: it may have died without a
      // word (a stalled pump). Subscribe afresh; what was missed is filled from history by its consumers.
      if (this.#lastEventMs !== null && clock.nowMs() - this.#lastEventMs >= settings.pumpQuietMs) {
        this.#o.log({ level: 'warn', msg: 'pump quiet: subscribing again', serverId: this.serverId });
        this.#dropSubscription();
        await this.#resubscribe(true);
      }
    }
  }

  async #resubscribe(quiet: boolean): Promise<void> {
    const subscribed = await this.#subscribe((invoke) => this.call('subscribe', {}, null, invoke));
    if (subscribed.ok) this.#o.onSubscribed?.(this.serverId, quiet);
  }

  /** Subscribes to the pump through `send` and keeps the subscription. */
  async #subscribe(
    send: (invoke: Invoke<Subscription>) => Promise<Result<Subscription>>,
  ): Promise<Result<Subscription>> {
    const subscribed = await send((api) => api.subscribe((event) => this.#onEvent(event)));
    if (subscribed.ok) {
      this.#subscription = subscribed.value;
      this.#lastEventMs = this.#o.clock.nowMs();
    }
    return subscribed;
  }

  #onEvent(event: PumpEvent): void {
    this.#lastEventMs = this.#o.clock.nowMs();
    if (event.type === 'stopped') {
      this.#subscription = null;
      // The stream ended with the connection: reconnect now rather than at the next ping.
      this.#connected = false;
      this.#wake?.();
    }
    this.#o.onEvent(this.serverId, event);
  }

  async #audited<T>(
    op: string,
    request: Record<string, unknown>,
    subject: string | null,
    invoke: Invoke<T>,
  ): Promise<Result<T>> {
    const { audit } = this.#o;
    const id = await audit.sent(this.serverId, op, request, subject);
    const result = await invoke(this.#api);
    await audit.answered(id, result);
    return result;
  }

  async #observe(result: Result<unknown>): Promise<void> {
    if (result.ok || result.error.outcome === 'rejected') {
      this.#failures = 0;
      this.#breaker = 'closed';
      return;
    }
    const error = result.error;
    if (error.reason === 'no_connection' || !this.#api.isConnected()) {
      this.#connected = false;
      this.#dropSubscription();
      this.#wake?.();
    }
    this.#failures++;
    const { settings, clock, store, log } = this.#o;
    if (this.#breaker === 'half-open' || this.#failures >= settings.breaker.failures) {
      // A failed trial reopens the same outage: one alert per outage, not per trial.
      const wasOpen = this.#breaker !== 'closed';
      this.#breaker = 'open';
      this.#openUntilMs = clock.nowMs() + settings.breaker.openMs;
      if (!wasOpen) {
        const nowMs = clock.nowMs();
        log({ level: 'error', msg: 'circuit opened', serverId: this.serverId, failures: this.#failures });
        await store.transaction((tx) =>
          raiseAlert(tx, nowMs, (value) => this.#o.audit.mask(value), {
            key: `circuit_open:${this.serverId}:${nowMs}`,
            kind: 'circuit_open',
            severity: 'critical',
            subject: this.serverId,
            message: `circuit to ${this.serverId} opened after ${this.#failures} failed calls (last: ${error.message})`,
            details: { failures: this.#failures, openMs: settings.breaker.openMs, lastCode: error.codeName },
          }),
        );
      }
    }
  }

  #refused<T>(op: string, detail: string): Result<T> {
    const platform = this.#api.platform;
    return {
      ok: false,
      error: new ManagerError({
        platform,
        code: notConnectedCode(platform),
        outcome: 'unavailable',
        reason: 'no_connection',
        serverId: this.serverId,
        op,
        detail,
      }),
    };
  }

  #dropSubscription(): void {
    const subscription = this.#subscription;
    this.#subscription = null;
    subscription?.close();
  }

  /** Sleeps, but wakes early when the connection is found broken (so the loop reconnects promptly). */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.#wake = null;
        resolve();
      };
      this.#wake = finish;
      this.#o.clock.sleep(ms).then(finish);
    });
  }
}
