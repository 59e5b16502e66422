import { classify, ManagerError, notConnectedCode } from '../port/errors.ts';
import type { Platform, Result } from '../port/manager-api.ts';

/**
 * Turns platform codes into port Results, and tracks what the adapter believes about its connection and
 * the subscriptions that end with it.
 */
export class CallContext {
  readonly platform: Platform;
  readonly serverId: string;
  /** True between a successful connect and a failure that says the connection is gone. */
  connected = false;
  readonly #subscriptions = new Set<() => void>();

  constructor(platform: Platform, serverId: string) {
    this.platform = platform;
    this.serverId = serverId;
  }

  /**
   * Registers a subscription, `end` being what stops it, so that it ends with the connection (`endAll`).
   * Returns the function that ends it now; it runs `end` once, however often it is called.
   */
  track(end: () => void): () => void {
    const stop = (): void => {
      if (this.#subscriptions.delete(stop)) end();
    };
    this.#subscriptions.add(stop);
    return stop;
  }

  /** The connection ends (close, or a new connect): every tracked subscription with it. */
  endAll(): void {
    for (const stop of [...this.#subscriptions]) stop();
    this.connected = false;
  }

  /** Not sent: the adapter knows it has no connection. */
  notConnected<T>(op: string): Result<T> {
    return {
      ok: false,
      error: new ManagerError({
        platform: this.platform,
        code: notConnectedCode(this.platform),
        outcome: 'unavailable',
        reason: 'no_connection',
        serverId: this.serverId,
        op,
        detail: 'not connected: nothing sent',
      }),
    };
  }

  /** A failure from a platform code; a connection failure makes the adapter consider itself disconnected. */
  failure<T>(op: string, code: number, mutating: boolean, detail = ''): Result<T> {
    const result = this.sideFailure<T>(op, code, mutating, detail);
    if (!result.ok && result.error.reason === 'no_connection') this.connected = false;
    return result;
  }

  /** A failure on another connection than the main one (MT4's pumping interface): the main one is untouched. */
  sideFailure<T>(op: string, code: number, mutating: boolean, detail = ''): Result<T> {
    const { outcome, reason } = classify(this.platform, code, mutating);
    return {
      ok: false,
      error: new ManagerError({ platform: this.platform, code, outcome, reason, serverId: this.serverId, op, detail }),
    };
  }

  /** A failure the platform reports with a success code and no data (e.g. an empty lookup). */
  notFound<T>(op: string, code: number, detail: string): Result<T> {
    return {
      ok: false,
      error: new ManagerError({
        platform: this.platform,
        code,
        outcome: 'rejected',
        reason: 'not_found',
        serverId: this.serverId,
        op,
        detail,
      }),
    };
  }
}

export const OK_VOID: Result<void> = Object.freeze({ ok: true, value: undefined });

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Bugs in the caller, not platform failures: they crash loudly. */
export function assertCents(amountCents: number, what: string): void {
  if (!Number.isSafeInteger(amountCents) || amountCents === 0) {
    throw new Error(`${what}: amountCents must be a non-zero integer, got ${amountCents}`);
  }
}
