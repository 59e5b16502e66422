import { type Clock, SystemClock } from '../../kit/clock.ts';
import { type Issue, MtproofError } from '../../kit/errors.ts';
import { MT5_RET } from '../../metatrader/codes.ts';
import { MT5_DEAL_ACTION, MT5_USER_RIGHT } from '../../metatrader/constants.ts';
import { cutMt5Comment, MT5_LIMITS } from '../../metatrader/limits.ts';
import { classify, ManagerError } from '../port/errors.ts';
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
  PumpEvent,
  Result,
  Subscription,
  Trade,
} from '../port/manager-api.ts';
import { PollingSubscription, Timers } from './poller.ts';
import {
  isBalanceDeal,
  parseServerTime,
  rights,
  toAccount,
  toBalanceOp,
  toClosedTrades,
  toGroup,
  toMarginLevel,
  toPosition,
} from './records.ts';
import { type Command, type Handshake, handshake, type Reply, send } from './session.ts';
import { HttpChannel } from './transport.ts';
import { AnswerError, asRecord, asRecords, formatCents, intField } from './wire.ts';

export { passwordHash, randAnswer } from './auth.ts';
export { HISTORY_OVERLAP_SEC } from './poller.ts';
export { formatCents, parseMoneyCents, parseRetcode } from './wire.ts';

/**
 * ManagerApi over a real MT5 server's Web API (facts section 3): HTTPS REST on the access server, a
 * session logged in with `auth/start` + `auth/answer` and bound to one kept-alive socket, retcodes
 * "<code> <text>", numbers as strings. See README.md for the mapping, the outcomes and the polling that
 * stands in for pumping.
 */

export interface Mt5WebApiOptions {
  readonly serverId: string;
  /** `https://host:port` (real servers serve HTTPS only) or `http://…` (the simulator on loopback). */
  readonly url: string;
  /** Wall-clock wait for each answer (default DEFAULT_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** How often a subscription polls (default DEFAULT_POLL_INTERVAL_MS), on `clock`. */
  readonly pollIntervalMs?: number;
  /** `agent` of auth/start and the User-Agent: non-empty, no spaces (default `mtproof`). */
  readonly agent?: string;
  /** `version` of auth/start: a build number ≥ 484 (default 484). */
  readonly version?: number;
  /** Timers of the keep-alive ping and the polls (default the system clock). */
  readonly clock?: Clock;
  readonly tls?: { readonly rejectUnauthorized?: boolean; readonly ca?: string };
}

/**
 * 10 s, the figure the simulated MT5 client library waits (simulator/dialect.ts DEFAULT_TIMEOUT_MS, which
 * this layer may not import) and the Web API's own limit between auth/start and auth/answer (facts 3.2):
 * a server that has not answered a command in that long is not going to.
 */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Facts 3.1: a keep-alive ping about every 20 s (the server drops a connection idle for 180 s). */
export const PING_INTERVAL_MS = 20_000;
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Facts 3.2: `version` may be any number from 484 up. */
const MIN_VERSION = 484;
/** Facts 3.4: `deal/get_page` and the other pages give at most 100 records per call. */
const PAGE_SIZE = 100;

const OK_VOID: Result<void> = Object.freeze({ ok: true, value: undefined });
const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/** Who sends: the caller's call (may log in again, changes what the api believes), or a background poll/ping. */
type Sender = 'call' | 'background';

export class Mt5WebApiManagerApi implements ManagerApi {
  readonly platform = 'mt5' as const;
  readonly serverId: string;
  readonly limits = Object.freeze({ commentChars: MT5_LIMITS.commentChars });
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #agent: string;
  readonly #version: number;
  readonly #clock: Clock;
  readonly #tls: Mt5WebApiOptions['tls'];

  #channel: HttpChannel | null = null;
  /** Kept while connected: a session lost between calls is logged in again with them. */
  #credentials: Credentials | null = null;
  #connected = false;
  /** Timers of the current connection (the keep-alive ping). */
  #timers: Timers | null = null;
  /** One exchange at a time: the session is one socket, and a login must not interleave with a command. */
  #queue: Promise<unknown> = Promise.resolve();
  #busy = 0;
  #lastExchangeMs = 0;
  readonly #subscriptions = new Set<PollingSubscription>();

  constructor(options: Mt5WebApiOptions) {
    const issues: Issue[] = [];
    let url: URL | null = null;
    try {
      url = new URL(options.url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        issues.push({ path: 'url', message: `must be https://host:port or http://host:port, got ${url.protocol}` });
      }
    } catch {
      issues.push({ path: 'url', message: `not a URL: "${options.url}"` });
    }
    if (typeof options.serverId !== 'string' || options.serverId === '') {
      issues.push({ path: 'serverId', message: 'must be a non-empty string' });
    }
    const positive = (path: string, value: number | undefined): void => {
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        issues.push({ path, message: `must be a positive number of milliseconds, got ${value}` });
      }
    };
    positive('timeoutMs', options.timeoutMs);
    positive('pollIntervalMs', options.pollIntervalMs);
    if (options.agent !== undefined && !/^\S+$/.test(options.agent)) {
      issues.push({ path: 'agent', message: 'must be non-empty without spaces (Web API auth/start)' });
    }
    if (options.version !== undefined && !(Number.isSafeInteger(options.version) && options.version >= MIN_VERSION)) {
      issues.push({ path: 'version', message: `must be an integer ≥ ${MIN_VERSION} (Web API auth/start)` });
    }
    if (issues.length > 0 || url === null) {
      throw new MtproofError('MTP_CONFIG_INVALID', 'mt5-webapi adapter: invalid options', issues);
    }
    this.serverId = options.serverId;
    this.#url = url;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#agent = options.agent ?? 'mtproof';
    this.#version = options.version ?? MIN_VERSION;
    this.#clock = options.clock ?? new SystemClock();
    this.#tls = options.tls;
  }

  isConnected(): boolean {
    return this.#connected;
  }

  // ---- connection ----

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    await this.#endConnection();
    const channel = this.#newChannel();
    this.#channel = channel;
    const login = await this.#serialize(() => this.#handshake(channel, credentials));
    if (this.#channel !== channel) {
      // close() or another connect() came first: this connection is already over.
      channel.destroy();
      return this.#notConnected('connect');
    }
    if (login.kind !== 'ok') {
      channel.destroy();
      this.#channel = null;
      return this.#handshakeFailure('connect', login);
    }
    this.#credentials = credentials;
    this.#connected = true;
    this.#lastExchangeMs = this.#clock.nowMs();
    const timers = new Timers(this.#clock);
    this.#timers = timers;
    void this.#pingLoop(channel, timers);
    return ok({ login: credentials.login, rights: null });
  }

  async close(): Promise<void> {
    await this.#endConnection();
  }

  /** `/api/test/access`: the Web API's ping command. */
  async ping(): Promise<Result<void>> {
    const r = await this.#call('ping', false, { path: '/api/test/access' });
    return r.ok ? OK_VOID : r;
  }

  async serverTime(): Promise<Result<number>> {
    return this.#call('serverTime', false, { path: '/api/time/server' }, (e) => parseServerTime(e.answer));
  }

  // ---- accounts ----

  async createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    if (!this.#connected) return this.#notConnected('createAccount');
    let leverage = account.leverage;
    if (leverage === undefined) {
      // user/add needs a leverage; the port's "group default" is the group's (demo) leverage, as the sim has it.
      const group = await this.#call(
        'createAccount',
        false,
        { path: '/api/group/get', query: { group: account.group } },
        (e) => toGroup(asRecord(e.answer, 'group/get')),
      );
      if (!group.ok) return group;
      leverage = group.value.leverage;
    }
    const login = account.login ?? 0;
    const user = {
      Login: String(login),
      Group: account.group,
      Name: account.name,
      Email: account.email ?? '',
      Country: account.country ?? '',
      ID: account.externalId ?? '',
      Comment: account.comment ?? '',
      Leverage: String(leverage),
      Rights: String(rights(account.enabled ?? true, account.readOnly ?? false)),
      PassMain: account.password,
      PassInvestor: account.investorPassword ?? account.password,
    };
    // The record goes in the body (passwords belong there, facts 3.4); the required fields are in the query
    // too, where the documentation lists them — the body wins where both are given.
    return this.#call(
      'createAccount',
      true,
      {
        path: '/api/user/add',
        query: { login, group: account.group, name: account.name, leverage },
        body: user,
      },
      (e) => ({ login: intField(asRecord(e.answer, 'user/add'), 'Login') }),
    );
  }

  async getAccount(login: number): Promise<Result<Account>> {
    return this.#call('getAccount', false, { path: '/api/user/get', query: { login } }, (e) =>
      toAccount(asRecord(e.answer, 'user/get')),
    );
  }

  async listAccounts(groupMask: string): Promise<Result<Account[]>> {
    return this.#call('listAccounts', false, { path: '/api/user/get_batch', query: { group: groupMask } }, (e) =>
      asRecords(e.answer, 'user/get_batch').map(toAccount),
    );
  }

  async updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    if (!this.#connected) return this.#notConnected('updateAccount');
    const fields: Record<string, string> = { Login: String(login) };
    if (patch.group !== undefined) fields.Group = patch.group;
    if (patch.leverage !== undefined) fields.Leverage = String(patch.leverage);
    if (patch.name !== undefined) fields.Name = patch.name;
    if (patch.email !== undefined) fields.Email = patch.email;
    if (patch.country !== undefined) fields.Country = patch.country;
    if (patch.enabled !== undefined || patch.readOnly !== undefined) {
      // Rights is one bit field: the other bits are the server's, so read them first.
      const current = await this.#call('updateAccount', false, { path: '/api/user/get', query: { login } }, (e) =>
        intField(asRecord(e.answer, 'user/get'), 'Rights'),
      );
      if (!current.ok) return current;
      const enabled = patch.enabled ?? (current.value & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0;
      const readOnly = patch.readOnly ?? (current.value & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0;
      fields.Rights = String(rights(enabled, readOnly, current.value));
    }
    const r = await this.#call('updateAccount', true, { path: '/api/user/update', query: { login }, body: fields });
    return r.ok ? OK_VOID : r;
  }

  async setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    const r = await this.#call('setPassword', true, {
      path: '/api/user/change_password',
      query: { login, type: kind, password },
    });
    return r.ok ? OK_VOID : r;
  }

  // ---- money ----

  async postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    if (!Number.isSafeInteger(request.amountCents) || request.amountCents === 0) {
      // A bug in the caller, not a platform failure (as adapters/sim does).
      throw new Error(`postBalance: amountCents must be a non-zero integer, got ${request.amountCents}`);
    }
    const comment = cutMt5Comment(request.comment);
    const type = request.kind === 'balance' ? MT5_DEAL_ACTION.DEAL_BALANCE : MT5_DEAL_ACTION.DEAL_CREDIT;
    return this.#call(
      'postBalance',
      true,
      {
        path: '/api/trade/balance',
        query: { login: request.login, type, balance: formatCents(request.amountCents), comment },
      },
      (e) => ({
        ticket: intField(asRecord(e.answer, 'trade/balance'), 'Ticket'),
        login: request.login,
        amountCents: request.amountCents,
        kind: request.kind,
        comment,
      }),
    );
  }

  async balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    const deals = await this.#deals('balanceHistory', login, fromServerSec, toServerSec);
    if (!deals.ok) return deals;
    return this.#read('balanceHistory', false, () => deals.value.filter(isBalanceDeal).map(toBalanceOp));
  }

  async marginLevel(login: number): Promise<Result<MarginLevel>> {
    return this.#call('marginLevel', false, { path: '/api/user/account/get', query: { login } }, (e) =>
      toMarginLevel(login, asRecord(e.answer, 'user/account/get')),
    );
  }

  // ---- trading data ----

  async trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    const deals = await this.#deals('trades', login, fromServerSec, toServerSec);
    if (!deals.ok) return deals;
    return this.#read('trades', false, () => toClosedTrades(deals.value));
  }

  async openPositions(login: number): Promise<Result<Trade[]>> {
    return this.#pages('openPositions', '/api/position/get_page', { login }, toPosition);
  }

  async openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>> {
    if (!this.#connected) return this.#notConnected('openPositionsOf');
    if (logins.length === 0) return ok([]);
    return this.#call(
      'openPositionsOf',
      false,
      { path: '/api/position/get_batch', query: { login: logins.join(',') } },
      (e) => asRecords(e.answer, 'position/get_batch').map(toPosition),
    );
  }

  /** `group/get` with the mask `*`: every group the manager may see, in one request (facts 3.4). */
  async groups(): Promise<Result<Group[]>> {
    return this.#call('groups', false, { path: '/api/group/get', query: { group: '*' } }, (e) =>
      // A mask answers an array; a server that answers a single group for it is read as one.
      (Array.isArray(e.answer) ? asRecords(e.answer, 'group/get') : [asRecord(e.answer, 'group/get')]).map(toGroup),
    );
  }

  // ---- events ----

  /**
   * Polls the server every `pollIntervalMs` (README "Events"). Ends with `stopped` when the session it was
   * made on is lost; silently on its own close(), the api's close() or connect().
   */
  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    const channel = this.#channel;
    if (!this.#connected || channel === null) return this.#notConnected('subscribe');
    if (!channel.open) {
      // Log in again now, so that the subscription belongs to the session it will poll on.
      const ping = await this.ping();
      if (!ping.ok) return ping;
    }
    const socketId = channel.socketId;
    const subscription = new PollingSubscription({
      request: (command) => this.#send('subscribe', false, command, 'background', socketId),
      listener,
      clock: this.#clock,
      pollIntervalMs: this.#pollIntervalMs,
      socketId,
      onEnd: (s) => this.#subscriptions.delete(s),
      badAnswer: (detail) => this.#failure('subscribe', MT5_RET.MT_RET_ERROR, false, detail),
    });
    this.#subscriptions.add(subscription);
    const started = await subscription.start();
    if (!started.ok) {
      subscription.end(false);
      return started;
    }
    return ok({ close: () => subscription.end(false) });
  }

  /**
   * Runs one poll of every open subscription now and resolves when the events it found are delivered:
   * for a caller that must see everything up to now (tests, a flush before shutting down).
   */
  async pollNow(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.pollNow()));
  }

  // ---- the session ----

  #newChannel(): HttpChannel {
    const channel = new HttpChannel({
      url: this.#url,
      timeoutMs: this.#timeoutMs,
      userAgent: this.#agent,
      ...(this.#tls === undefined ? {} : { tls: this.#tls }),
    });
    channel.onSocketClosed = (socketId) => {
      // The session rode that socket: subscriptions made on it end (the next call logs in again).
      for (const s of [...this.#subscriptions]) if (s.socketId === socketId) s.end(true);
    };
    return channel;
  }

  async #endConnection(): Promise<void> {
    const channel = this.#channel;
    this.#channel = null;
    this.#connected = false;
    this.#credentials = null;
    this.#timers?.stop();
    this.#timers = null;
    for (const s of [...this.#subscriptions]) s.end(false);
    if (channel === null) return;
    channel.onSocketClosed = null;
    // Say goodbye when the socket is idle; a command still waiting for its answer is not waited for.
    if (channel.open && this.#busy === 0) await this.#serialize(() => send(channel, { path: '/api/quit' }));
    channel.destroy();
  }

  #handshake(channel: HttpChannel, credentials: Credentials): Promise<Handshake> {
    return handshake(channel, {
      login: credentials.login,
      password: credentials.password,
      version: this.#version,
      agent: this.#agent,
    });
  }

  /** Keeps the session alive while idle: the server drops a connection silent for 180 s. */
  async #pingLoop(channel: HttpChannel, timers: Timers): Promise<void> {
    while (await timers.sleep(PING_INTERVAL_MS, true)) {
      if (this.#channel !== channel || !channel.open) continue;
      if (this.#clock.nowMs() - this.#lastExchangeMs < PING_INTERVAL_MS / 2) continue;
      await this.#send('ping', false, { path: '/api/test/access' }, 'background');
    }
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      this.#busy += 1;
      try {
        return await work();
      } finally {
        this.#busy -= 1;
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** One command of a port call, its answer read by `read` (an unreadable answer is a platform_error). */
  async #call<T = Record<string, unknown>>(
    op: string,
    mutating: boolean,
    command: Command,
    read?: (envelope: Record<string, unknown>) => T,
  ): Promise<Result<T>> {
    const r = await this.#send(op, mutating, command, 'call');
    if (!r.ok) return r;
    if (read === undefined) return r as Result<T>;
    const envelope = r.value;
    return this.#read(op, mutating, () => read(envelope));
  }

  #read<T>(op: string, mutating: boolean, read: () => T): Result<T> {
    try {
      return ok(read());
    } catch (error) {
      if (!(error instanceof AnswerError)) throw error;
      // The command was answered with success: a change happened, but what it was cannot be read.
      return this.#failure(op, MT5_RET.MT_RET_ERROR, mutating, `unreadable answer: ${error.message}`);
    }
  }

  /**
   * Sends one command on the session, logging in again first if the session's socket has closed since the
   * last command (idle drop, an earlier timeout) — nothing of the command was sent then, so this is not a
   * retry. A background sender never logs in again and never changes what the api believes.
   */
  #send(
    op: string,
    mutating: boolean,
    command: Command,
    sender: Sender,
    /** A background sender's session: its commands go out on that socket or not at all. */
    socketId?: number,
  ): Promise<Result<Record<string, unknown>>> {
    return this.#serialize(async () => {
      const channel = this.#channel;
      if (!this.#connected || channel === null) return this.#notConnected(op);
      if (sender === 'background' && (!channel.open || (socketId !== undefined && channel.socketId !== socketId))) {
        return this.#failure(op, MT5_RET.MT_RET_ERR_CONNECTION, mutating, 'the session it belonged to is gone');
      }
      if (!channel.open) {
        const relogin = await this.#relogin(op, channel);
        if (!relogin.ok) return relogin;
      }
      let reply = await send(channel, command);
      this.#lastExchangeMs = this.#clock.nowMs();
      // Sent again on a new session only where sending twice cannot do anything twice:
      // - a 403 without a retcode was refused before it ran (most likely a session the server no longer
      //   knows); a second refusal is the manager's rights;
      // - a read whose socket broke under it (the server dropped the idle connection as the read went out):
      //   a read changes nothing, so reading again is safe. A change whose socket broke is `unknown`.
      const resend = reply.kind === 'forbidden' || (reply.kind === 'lost' && !mutating);
      if (resend && sender === 'call') {
        channel.dropSocket();
        const relogin = await this.#relogin(op, channel);
        if (!relogin.ok) return relogin;
        reply = await send(channel, command);
        this.#lastExchangeMs = this.#clock.nowMs();
      }
      return this.#outcome(op, mutating, reply, sender, channel);
    });
  }

  async #relogin(op: string, channel: HttpChannel): Promise<Result<void>> {
    const credentials = this.#credentials;
    if (credentials === null) return this.#notConnected(op);
    const login = await this.#handshake(channel, credentials);
    if (login.kind === 'ok') return OK_VOID;
    this.#disconnected(channel);
    const failure = this.#handshakeFailure<void>(op, login);
    if (failure.ok) return failure;
    const e = failure.error;
    return {
      ok: false,
      error: new ManagerError({
        platform: 'mt5',
        code: e.code,
        outcome: e.outcome,
        reason: e.reason,
        serverId: this.serverId,
        op,
        detail: `the session was lost and logging in again failed (nothing of ${op} was sent): ${e.detail}`,
      }),
    };
  }

  #outcome(
    op: string,
    mutating: boolean,
    reply: Reply,
    sender: Sender,
    channel: HttpChannel,
  ): Result<Record<string, unknown>> {
    let result: Result<Record<string, unknown>>;
    switch (reply.kind) {
      case 'ok':
        return ok(reply.envelope);
      case 'retcode':
        result = this.#failure(op, reply.code, mutating, `retcode ${reply.code} ${reply.text} (HTTP ${reply.status})`);
        break;
      case 'forbidden':
        result = this.#failure(op, MT5_RET.MT_RET_ERR_PERMISSIONS, mutating, reply.detail);
        break;
      case 'bad_answer':
        result = this.#failure(op, MT5_RET.MT_RET_ERROR, mutating, reply.detail);
        break;
      case 'not_sent':
        result = this.#failure(op, MT5_RET.MT_RET_ERR_CONNECTION, mutating, `not sent: ${reply.detail}`);
        break;
      case 'lost':
        result = this.#failure(op, MT5_RET.MT_RET_ERR_NETWORK, mutating, `sent, connection lost: ${reply.detail}`);
        break;
      case 'timeout':
        // The socket was destroyed with the request: the next call logs in again.
        result = this.#failure(op, MT5_RET.MT_RET_ERR_TIMEOUT, mutating, `sent, ${reply.detail}`);
        break;
    }
    // As the MT5 API: a connection failure leaves the api disconnected until connect() (adapters/README.md).
    if (sender === 'call' && !result.ok && result.error.reason === 'no_connection') this.#disconnected(channel);
    return result;
  }

  /** The api believes it has no connection: nothing more is sent until connect(). */
  #disconnected(channel: HttpChannel): void {
    if (this.#channel !== channel) return;
    this.#connected = false;
    this.#timers?.stop();
    this.#timers = null;
    channel.dropSocket();
    for (const s of [...this.#subscriptions]) s.end(true);
  }

  #handshakeFailure<T>(op: string, login: Exclude<Handshake, { kind: 'ok' }>): Result<T> {
    if (login.kind === 'server_proof') {
      // Our answer was accepted, theirs is wrong: not the server we know (or a broken one). Refuse the
      // session; logging in again will not help, and the password is not the problem.
      return {
        ok: false,
        error: new ManagerError({
          platform: 'mt5',
          code: MT5_RET.MT_RET_AUTH_SERVER_BAD,
          outcome: 'rejected',
          reason: 'platform_error',
          serverId: this.serverId,
          op,
          detail: login.detail,
        }),
      };
    }
    const reply = login.reply;
    const where = `${login.step}: `;
    switch (reply.kind) {
      case 'retcode':
        return this.#failure(op, reply.code, false, `${where}retcode ${reply.code} ${reply.text}`);
      case 'forbidden':
        // The documented answer to a wrong password hash.
        return this.#failure(op, MT5_RET.MT_RET_AUTH_ACCOUNT_INVALID, false, `${where}${reply.detail}`);
      case 'bad_answer':
        return this.#failure(op, MT5_RET.MT_RET_ERROR, false, `${where}${reply.detail}`);
      case 'ok':
        return this.#failure(op, MT5_RET.MT_RET_ERROR, false, `${where}unexpected answer`);
      default:
        // A login changes nothing on the server: whatever happened to it, the outcome is "not connected".
        return this.#failure(op, MT5_RET.MT_RET_ERR_CONNECTION, false, `${where}${reply.kind}: ${reply.detail}`);
    }
  }

  async #deals(op: string, login: number, fromSec: number, toSec: number): Promise<Result<Record<string, unknown>[]>> {
    return this.#pages(op, '/api/deal/get_page', { login, from: fromSec, to: toSec }, (d) => d);
  }

  /** Reads every page of a `*_get_page` command (PAGE_SIZE records a call) and maps each record. */
  async #pages<T>(
    op: string,
    path: string,
    query: Record<string, string | number>,
    map: (record: Record<string, unknown>) => T,
  ): Promise<Result<T[]>> {
    if (!this.#connected) return this.#notConnected(op);
    const all: T[] = [];
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const page = await this.#call(op, false, { path, query: { ...query, offset, total: PAGE_SIZE } }, (e) =>
        asRecords(e.answer, path).map(map),
      );
      if (!page.ok) return page;
      all.push(...page.value);
      if (page.value.length < PAGE_SIZE) return ok(all);
    }
  }

  #failure<T>(op: string, code: number, mutating: boolean, detail: string): Result<T> {
    const { outcome, reason } = classify('mt5', code, mutating);
    return {
      ok: false,
      error: new ManagerError({ platform: 'mt5', code, outcome, reason, serverId: this.serverId, op, detail }),
    };
  }

  #notConnected<T>(op: string): Result<T> {
    return {
      ok: false,
      error: new ManagerError({
        platform: 'mt5',
        code: MT5_RET.MT_RET_ERR_CONNECTION,
        outcome: 'unavailable',
        reason: 'no_connection',
        serverId: this.serverId,
        op,
        detail: 'not connected: nothing sent',
      }),
    };
  }
}

export function createMt5WebApiManagerApi(options: Mt5WebApiOptions): Mt5WebApiManagerApi {
  return new Mt5WebApiManagerApi(options);
}
