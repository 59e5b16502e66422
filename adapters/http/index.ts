import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_LIMITS, MT5_LIMITS } from '../../metatrader/limits.ts';
import { type ErrorReason, ManagerError, notConnectedCode, type Outcome } from '../port/errors.ts';
import type {
  Account,
  AccountPatch,
  BalanceOp,
  BalanceReceipt,
  BalanceRequest,
  Credentials,
  Group,
  ManagerApi,
  ManagerSession,
  MarginLevel,
  NewAccount,
  Platform,
  PumpEvent,
  Result,
  Subscription,
  Trade,
} from '../port/manager-api.ts';

/**
 * The ManagerApi port over the served simulator's native JSON API (`mtproof sim serve`): one session per
 * adapter, one request per call, the server's Result passed through. What HTTP adds is a second place for a
 * call to fail, mapped to the port's outcomes the way a platform client maps its own transport:
 * - the request could not be sent (connection refused, no session on the server) → `unavailable`;
 * - it was sent and no answer came (timeout, connection cut) → `unknown` on a call that changes state,
 *   `unavailable` on a read (nothing to look up) — never retried here;
 * - the server refused the request as malformed (4xx) → `rejected` / `invalid`.
 * Pumping is a long-polled subscription; a poll that fails ends the stream with `stopped`, as a lost pumping
 * connection does.
 */

export interface HttpManagerApiOptions {
  /** Base URL of the served simulator, e.g. http://127.0.0.1:7070. */
  url: string;
  serverId: string;
  platform: Platform;
  /** `Authorization: Bearer` token, when the simulator has one. */
  token?: string;
  /** No answer within this long: the call ends `unknown` (default 15 s, above the simulated timeout). */
  timeoutMs?: number;
  /** How long one event poll waits on the server (default 1 s). */
  pollWaitMs?: number;
  /** Default: the global fetch (msw intercepts it in tests). */
  fetch?: typeof fetch;
}

const MUTATING = new Set(['createAccount', 'updateAccount', 'setPassword', 'postBalance']);

type Wire<T> = { ok: true; value: T } | { ok: false; error: Record<string, unknown> };

export class HttpManagerApi implements ManagerApi {
  readonly serverId: string;
  readonly platform: Platform;
  readonly limits: { readonly commentChars: number };
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #pollWaitMs: number;
  readonly #fetch: typeof fetch;
  #session: string | null = null;
  #connected = false;
  readonly #pollers = new Set<{ stop: () => void }>();

  constructor(options: HttpManagerApiOptions) {
    this.serverId = options.serverId;
    this.platform = options.platform;
    this.limits = Object.freeze({
      commentChars: options.platform === 'mt4' ? MT4_LIMITS.commentBytes : MT5_LIMITS.commentChars,
    });
    this.#base = options.url.replace(/\/+$/, '');
    this.#headers = {
      'content-type': 'application/json',
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    };
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#pollWaitMs = options.pollWaitMs ?? 1_000;
    this.#fetch = options.fetch ?? fetch;
  }

  isConnected(): boolean {
    return this.#connected;
  }

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    this.#endSubscriptions();
    this.#connected = false;
    if (this.#session === null) {
      const opened = await this.#openSession();
      if (!opened.ok) return opened;
    }
    let result = await this.#call<ManagerSession>('connect', { ...credentials });
    if (!result.ok && result.error.detail.startsWith('MTP_SIM_UNKNOWN_SESSION')) {
      // The simulator was reset or dropped the idle session: a connect may open a new one (it changes nothing).
      this.#session = null;
      const opened = await this.#openSession();
      if (!opened.ok) return opened;
      result = await this.#call<ManagerSession>('connect', { ...credentials });
    }
    if (result.ok) this.#connected = true;
    return result;
  }

  async close(): Promise<void> {
    this.#endSubscriptions();
    this.#connected = false;
    const session = this.#session;
    this.#session = null;
    if (session === null) return;
    // Best effort: the simulator closes idle sessions by itself.
    await this.#send('DELETE', `/v1/sessions/${session}`, undefined).catch(() => {});
  }

  ping(): Promise<Result<void>> {
    return this.#connectedCall('ping', {});
  }
  serverTime(): Promise<Result<number>> {
    return this.#connectedCall('serverTime', {});
  }
  createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    return this.#connectedCall('createAccount', { account });
  }
  getAccount(login: number): Promise<Result<Account>> {
    return this.#connectedCall('getAccount', { login });
  }
  listAccounts(groupMask: string): Promise<Result<Account[]>> {
    return this.#connectedCall('listAccounts', { groupMask });
  }
  updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    return this.#connectedCall('updateAccount', { login, patch });
  }
  setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    return this.#connectedCall('setPassword', { login, kind, password });
  }
  postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    if (!Number.isSafeInteger(request.amountCents) || request.amountCents === 0) {
      throw new Error(`postBalance: amountCents must be a non-zero integer, got ${request.amountCents}`);
    }
    return this.#connectedCall('postBalance', { request });
  }
  balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    return this.#connectedCall('balanceHistory', { login, fromServerSec, toServerSec });
  }
  marginLevel(login: number): Promise<Result<MarginLevel>> {
    return this.#connectedCall('marginLevel', { login });
  }
  trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    return this.#connectedCall('trades', { login, fromServerSec, toServerSec });
  }
  openPositions(login: number): Promise<Result<Trade[]>> {
    return this.#connectedCall('openPositions', { login });
  }
  openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>> {
    return this.#connectedCall('openPositionsOf', { logins: [...logins] });
  }
  groups(): Promise<Result<Group[]>> {
    return this.#connectedCall('groups', {});
  }

  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    const subscribed = await this.#connectedCall<{ subscription: string }>('subscribe', {});
    if (!subscribed.ok) return subscribed;
    const id = subscribed.value.subscription;
    let stopped = false;
    const poller = {
      stop: () => {
        if (stopped) return;
        stopped = true;
        this.#pollers.delete(poller);
        void this.#call('unsubscribe', { subscription: id });
      },
    };
    this.#pollers.add(poller);
    const emit = (event: PumpEvent): void => {
      if (stopped) return;
      if (event.type === 'stopped') {
        stopped = true;
        this.#pollers.delete(poller);
      }
      listener(event);
    };
    void (async () => {
      let after = 0;
      while (!stopped) {
        const polled = await this.#call<{ events: { seq: number; event: PumpEvent }[]; ended: boolean }>(
          'events',
          { subscription: id, after, waitMs: this.#pollWaitMs },
          this.#timeoutMs + this.#pollWaitMs,
        );
        if (stopped) return;
        if (!polled.ok) {
          // The poll could not reach the stream: it is lost, as a broken pumping connection.
          emit({ type: 'stopped' });
          return;
        }
        for (const { seq, event } of polled.value.events) {
          after = seq;
          emit(event);
          if (stopped) return;
        }
        if (polled.value.ended && !stopped) {
          stopped = true;
          this.#pollers.delete(poller);
          return;
        }
      }
    })();
    return { ok: true, value: { close: () => poller.stop() } };
  }

  #endSubscriptions(): void {
    for (const poller of [...this.#pollers]) poller.stop();
  }

  async #connectedCall<T>(op: string, args: Record<string, unknown>): Promise<Result<T>> {
    if (!this.#connected || this.#session === null)
      return this.#failure(
        op,
        notConnectedCode(this.platform),
        'unavailable',
        'no_connection',
        'not connected: nothing sent',
      );
    const result = await this.#call<T>(op, args);
    if (!result.ok && result.error.reason === 'no_connection') this.#connected = false;
    return result;
  }

  async #openSession(): Promise<Result<void>> {
    const answer = await this.#send('POST', '/v1/sessions', { serverId: this.serverId }).catch((e: unknown) => e);
    if (answer instanceof Response && answer.status === 201) {
      this.#session = ((await answer.json()) as { session: string }).session;
      return { ok: true, value: undefined };
    }
    if (answer instanceof Response) return this.#httpFailure('connect', answer, false);
    return this.#transportFailure('connect', answer, false);
  }

  async #call<T>(op: string, args: Record<string, unknown>, timeoutMs = this.#timeoutMs): Promise<Result<T>> {
    const mutating = MUTATING.has(op);
    if (this.#session === null)
      return this.#failure(
        op,
        notConnectedCode(this.platform),
        'unavailable',
        'no_connection',
        'no session: nothing sent',
      );
    let answer: Response;
    try {
      answer = await this.#send('POST', `/v1/sessions/${this.#session}/${op}`, args, timeoutMs);
    } catch (error) {
      return this.#transportFailure(op, error, mutating);
    }
    if (answer.status !== 200) return this.#httpFailure(op, answer, mutating);
    let body: Wire<T>;
    try {
      body = (await answer.json()) as Wire<T>;
    } catch (error) {
      return this.#transportFailure(op, error, mutating);
    }
    if (body.ok) return { ok: true, value: body.value };
    const e = body.error;
    return {
      ok: false,
      error: new ManagerError({
        platform: this.platform,
        code: Number(e.code),
        outcome: e.outcome as Outcome,
        reason: e.reason as ErrorReason,
        serverId: this.serverId,
        op,
        detail: typeof e.detail === 'string' ? e.detail : '',
      }),
    };
  }

  #send(method: string, path: string, body: unknown, timeoutMs = this.#timeoutMs): Promise<Response> {
    return this.#fetch(`${this.#base}${path}`, {
      method,
      headers: body === undefined ? { ...this.#headers, 'content-type': '' } : this.#headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  /** The request never left, or left and no answer came: told apart by the error the socket gave. */
  #transportFailure<T>(op: string, error: unknown, mutating: boolean): Result<T> {
    const code = transportCode(error);
    const notSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
    if (notSent)
      return this.#failure(
        op,
        notConnectedCode(this.platform),
        'unavailable',
        'no_connection',
        `${code}: nothing sent`,
      );
    const timedOut = code === 'TimeoutError' || code === 'AbortError';
    if (timedOut) {
      const timeoutCode = this.platform === 'mt4' ? MT4_RET.RET_TRADE_TIMEOUT : MT5_RET.MT_RET_ERR_TIMEOUT;
      return this.#failure(
        op,
        timeoutCode,
        mutating ? 'unknown' : 'unavailable',
        'timeout',
        `no answer within the timeout (${code})`,
      );
    }
    const lostCode = this.platform === 'mt4' ? MT4_RET.RET_NO_CONNECT : MT5_RET.MT_RET_ERR_NETWORK;
    this.#connected = false;
    return this.#failure(
      op,
      lostCode,
      mutating ? 'unknown' : 'unavailable',
      'no_connection',
      `connection lost in flight (${code})`,
    );
  }

  async #httpFailure<T>(op: string, answer: Response, mutating: boolean): Promise<Result<T>> {
    let code = `HTTP ${answer.status}`;
    let message = '';
    try {
      const body = (await answer.json()) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? '';
    } catch {
      // Not the simulator's JSON: the status says enough.
    }
    if (code === 'MTP_SIM_UNKNOWN_SESSION') {
      // The server forgot the session (reset, idle): nothing was applied, the connection is gone.
      this.#connected = false;
      return this.#failure(op, notConnectedCode(this.platform), 'unavailable', 'no_connection', `${code}: ${message}`);
    }
    if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 && answer.status !== 429) {
      const invalid = this.platform === 'mt4' ? MT4_RET.RET_INVALID_DATA : MT5_RET.MT_RET_ERR_PARAMS;
      return this.#failure(op, invalid, 'rejected', 'invalid', `${code}: ${message}`);
    }
    const busy = this.platform === 'mt4' ? MT4_RET.RET_ERROR : MT5_RET.MT_RET_ERROR;
    return this.#failure(op, busy, mutating ? 'unknown' : 'unavailable', 'platform_error', `${code}: ${message}`);
  }

  #failure<T>(op: string, code: number, outcome: Outcome, reason: ErrorReason, detail: string): Result<T> {
    return {
      ok: false,
      error: new ManagerError({ platform: this.platform, code, outcome, reason, serverId: this.serverId, op, detail }),
    };
  }
}

/** The most specific code a failed fetch carries: the socket error's (ECONNREFUSED …) or the abort's name. */
function transportCode(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return error.name;
    const cause = (error as { cause?: { code?: string; name?: string } }).cause;
    if (cause?.code !== undefined) return cause.code;
    if (cause?.name !== undefined) return cause.name;
    return (error as { code?: string }).code ?? error.name;
  }
  return 'unknown';
}
