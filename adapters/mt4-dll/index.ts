import koffi, { type TypeObject } from 'koffi';
import { MtproofError } from '../../kit/errors.ts';
import { MT4_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT4_PUMP, MT4_TT } from '../../metatrader/constants.ts';
import { groupMatches } from '../../metatrader/groups.ts';
import { MT4_LIMITS } from '../../metatrader/limits.ts';
import { classify, ManagerError, notConnectedCode } from '../port/errors.ts';
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
import {
  accountOfUser,
  balanceOpOfRecord,
  groupOf,
  isMoneyRecord,
  type Mt4TradeFacts,
  type Mt4UserFacts,
  marginLevelOf,
  pumpEventOf,
  tradeOfRecord,
} from '../port/mt4-records.ts';
import { AnsiCodec } from './codec.ts';
import { isNullPointer, loadMt4Library, type Mt4Interface } from './native.ts';
import { ConGroup, TradeRecord, UserRecord } from './structs.ts';

export { AnsiCodec } from './codec.ts';
export { MT4_SLOTS, MT4_VTABLE_SLOTS } from './slots.ts';
export { checkLayouts, MT4_STRUCT_SIZES } from './structs.ts';

/** The environment variable naming the library when the options do not. */
export const MT4_DLL_ENV = 'MTPROOF_MT4_DLL';

export interface Mt4DllOptions {
  /** The port's id of this server (in errors and logs). */
  readonly serverId: string;
  /** The trade server as `Connect` wants it: "host:port" (a broker's display name fails; facts 1.1). */
  readonly address: string;
  /** Path of `mtmanapi64.dll`; absent: the environment variable MTPROOF_MT4_DLL. */
  readonly libraryPath?: string;
  /** The server's ANSI code page, for every text field (default windows-1252). */
  readonly codePage?: string;
  /** Environment to read MTPROOF_MT4_DLL from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

// Raw records as koffi decodes them: numbers, and Uint8Array for every char[] field.
interface RawUser {
  login: number;
  group: Uint8Array;
  password: Uint8Array;
  enable: number;
  enable_read_only: number;
  password_investor: Uint8Array;
  name: Uint8Array;
  country: Uint8Array;
  email: Uint8Array;
  comment: Uint8Array;
  id: Uint8Array;
  leverage: number;
  regdate: number;
  balance: number;
  credit: number;
  [field: string]: unknown;
}
interface RawTrade {
  order: number;
  login: number;
  symbol: Uint8Array;
  cmd: number;
  volume: number;
  open_time: number;
  open_price: number;
  close_time: number;
  close_price: number;
  profit: number;
  comment: Uint8Array;
}
interface RawGroup {
  group: Uint8Array;
  enable: number;
  default_leverage: number;
  default_deposit: number;
  currency: Uint8Array;
  margin_call: number;
  margin_stopout: number;
}
interface RawMarginLevel {
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number;
  level_type: number;
}
interface RawManager {
  manager: number;
  money: number;
  see_trades: number;
  groups: Uint8Array;
}

/** Money crosses the API as doubles in major units; the port counts integer minor units. */
const toMoney = (cents: number): number => cents / 100;
const fromMoney = (money: number): number => Math.round(money * 100);

const OK_VOID: Result<void> = Object.freeze({ ok: true, value: undefined });
const ok = <T>(value: T): Result<T> => ({ ok: true, value });

/**
 * ManagerApi over the real MT4 Manager API (`mtmanapi64.dll`) through koffi, mirroring adapters/sim/mt4.ts:
 * TradeTransaction(TT_BR_BALANCE, OP_BALANCE/OP_CREDIT) for money, TradesUserHistory for history,
 * TradesRequest (server-wide) for open trades, and a second interface for pumping (PumpingSwitchEx), as the
 * MetaQuotes samples do. Every returned array is copied and freed with MemFree.
 */
export class Mt4DllManagerApi implements ManagerApi {
  readonly platform = 'mt4' as const;
  readonly serverId: string;
  readonly limits = Object.freeze({ commentChars: MT4_LIMITS.commentBytes });
  readonly codec: AnsiCodec;
  readonly #address: string;
  readonly #libraryPath: string;
  #api: Mt4Interface | null = null;
  #connected = false;
  #credentials: Credentials | null = null;
  /** What ends each live subscription (pumping interface disconnected and released, callback freed). */
  readonly #subscriptions = new Set<() => Promise<void>>();

  constructor(options: Mt4DllOptions) {
    this.serverId = options.serverId;
    this.#address = options.address;
    const path = options.libraryPath ?? (options.env ?? process.env)[MT4_DLL_ENV];
    if (path === undefined || path === '') {
      throw new MtproofError('MTP_DLL_LOAD', `no MT4 Manager API library: give libraryPath or set ${MT4_DLL_ENV}`);
    }
    this.#libraryPath = path;
    this.codec = new AnsiCodec(options.codePage ?? 'windows-1252');
    // Load now, so that a wrong path or a layout mismatch fails at construction, not at the first call.
    loadMt4Library(path);
  }

  isConnected(): boolean {
    return this.#connected;
  }

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    await this.#endConnection();
    const api = loadMt4Library(this.#libraryPath).create();
    this.#api = api;
    let connected = false;
    try {
      const connect = await api.call<number>('Connect', this.codec.cString(this.#address));
      if (connect !== MT4_RET.RET_OK) return this.#failure('connect', connect, false);
      const login = await api.call<number>('Login', credentials.login, this.codec.cString(credentials.password));
      if (login !== MT4_RET.RET_OK) return this.#failure('login', login, false);
      const rights = {} as RawManager;
      const code = await api.call<number>('ManagerRights', rights);
      // Without its rights the session is of no use: it is ended, so that the adapter is plainly not connected.
      if (code !== MT4_RET.RET_OK) return this.#failure('connect.rights', code, false);
      // A close() or another connect() while this one was under way: this interface is no longer the adapter's.
      if (this.#api !== api) return this.#notConnected('connect');
      connected = true;
      this.#connected = true;
      this.#credentials = credentials;
      return ok({
        login: credentials.login,
        rights: {
          accounts: rights.manager !== 0,
          money: rights.money !== 0,
          trades: rights.see_trades !== 0,
          groups: this.codec
            .decode(rights.groups)
            .split(',')
            .map((g) => g.trim())
            .filter((g) => g !== ''),
        },
      });
    } finally {
      // Every failed step (a code or a throw) disconnects and releases the interface: none is leaked.
      if (!connected) {
        if (this.#api === api) this.#api = null;
        await api.dispose();
      }
    }
  }

  async close(): Promise<void> {
    await this.#endConnection();
  }

  /** Disconnect and Release the interface: a new connect creates a fresh one. */
  async #endConnection(): Promise<void> {
    this.#connected = false;
    await Promise.all([...this.#subscriptions].map((end) => end()));
    const api = this.#api;
    this.#api = null;
    if (api === null) return;
    await api.dispose();
  }

  /** The interface when connected; null means "answer not connected without sending". */
  #live(): Mt4Interface | null {
    return this.#connected ? this.#api : null;
  }

  /**
   * Whether `api` is still the adapter's connected interface: checked before every later step of a
   * multi-step call, so that a close() landing between steps answers "not connected" with nothing sent.
   */
  #current(api: Mt4Interface): boolean {
    return this.#live() === api;
  }

  /**
   * An array request (UsersRequest, TradesUserHistory, ...): the copied records. NULL is ambiguous: a silently
   * logged-out session answers NULL too while IsConnected still says 1 (facts 1.7), so NULL is confirmed with a
   * Ping on the same interface; only a RET_OK Ping makes it "no data".
   */
  async #array<T>(
    op: string,
    api: Mt4Interface,
    type: TypeObject,
    total: number[],
    request: () => Promise<unknown>,
  ): Promise<Result<T[]>> {
    const pointer = await request();
    if (!isNullPointer(pointer)) return ok(await api.takeArray<T>(pointer, type, total[0] ?? 0));
    if (!this.#current(api)) return this.#notConnected(op);
    const ping = await api.call<number>('Ping');
    return ping === MT4_RET.RET_OK ? ok([]) : this.#failure(op, ping, false);
  }

  /** A text for a `char[sizeBytes]` field, or the RET_INVALID_DATA rejection when it would be cut or changed. */
  #field(op: string, what: string, text: string, sizeBytes: number): Uint8Array | Result<never> {
    const field = this.codec.encodeExact(text, sizeBytes);
    if (typeof field !== 'string') return field;
    return {
      ok: false,
      error: this.#error(op, MT4_RET.RET_INVALID_DATA, 'rejected', 'invalid', `${what}: ${field}: nothing sent`),
    };
  }

  async ping(): Promise<Result<void>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('ping');
    const code = await api.call<number>('Ping');
    return code === MT4_RET.RET_OK ? OK_VOID : this.#failure('ping', code, false);
  }

  async serverTime(): Promise<Result<number>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('serverTime');
    // ServerTime returns the time itself (__time32_t), not a code.
    return ok(await api.call<number>('ServerTime'));
  }

  async createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('createAccount');
    // Every text is checked before anything is sent: a cut password or name would be stored silently.
    const op = 'createAccount';
    const fields = {
      group: this.#field(op, 'group', account.group, 16),
      password: this.#field(op, 'password', account.password, 16),
      password_investor: this.#field(op, 'investor password', account.investorPassword ?? account.password, 16),
      name: this.#field(op, 'name', account.name, 128),
      country: this.#field(op, 'country', account.country ?? '', 32),
      email: this.#field(op, 'email', account.email ?? '', 48),
      comment: this.#field(op, 'comment', account.comment ?? '', 64),
      id: this.#field(op, 'external id', account.externalId ?? '', 32),
    };
    const texts: Partial<Record<keyof typeof fields, Uint8Array>> = {};
    for (const [key, field] of Object.entries(fields) as [keyof typeof fields, Uint8Array | Result<never>][]) {
      if (!(field instanceof Uint8Array)) return field;
      texts[key] = field;
    }
    let leverage = account.leverage;
    if (leverage === undefined) {
      // MT4 takes the leverage from the record: the group's default must be filled in by the caller.
      const groups = await this.groups();
      if (!groups.ok) return groups;
      leverage = groups.value.find((g) => g.name === account.group)?.leverage ?? 100;
      if (!this.#current(api)) return this.#notConnected(op);
    }
    const record: Partial<RawUser> = {
      ...texts,
      login: account.login ?? 0,
      enable: account.enabled === false ? 0 : 1,
      enable_read_only: account.readOnly === true ? 1 : 0,
      leverage,
    };
    const code = await api.call<number>('UserRecordNew', record);
    // UserRecordNew writes the allocated login back into the record (facts 1.4).
    return code === MT4_RET.RET_OK ? ok({ login: record.login ?? 0 }) : this.#failure(op, code, true);
  }

  #users(op: string, api: Mt4Interface, logins: readonly number[]): Promise<Result<RawUser[]>> {
    const total = [logins.length];
    return this.#array<RawUser>(op, api, UserRecord, total, () =>
      api.call<unknown>('UserRecordsRequest', Int32Array.from(logins), total),
    );
  }

  async getAccount(login: number): Promise<Result<Account>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('getAccount');
    const users = await this.#users('getAccount', api, [login]);
    if (!users.ok) return users;
    const record = users.value[0];
    if (record === undefined) return this.#notFound('getAccount', `no account ${login}`);
    return ok(accountOfUser(this.#user(record)));
  }

  async listAccounts(groupMask: string): Promise<Result<Account[]>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('listAccounts');
    const total = [0];
    const records = await this.#array<RawUser>('listAccounts', api, UserRecord, total, () =>
      api.call<unknown>('UsersRequest', total),
    );
    if (!records.ok) return records;
    return ok(records.value.map((u) => accountOfUser(this.#user(u))).filter((a) => groupMatches([groupMask], a.group)));
  }

  async updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('updateAccount');
    const op = 'updateAccount';
    const texts: Partial<Record<'group' | 'name' | 'email' | 'country', Uint8Array>> = {};
    const sizes = { group: 16, name: 128, email: 48, country: 32 } as const;
    for (const key of ['group', 'name', 'email', 'country'] as const) {
      const text = patch[key];
      if (text === undefined) continue;
      const field = this.#field(op, key, text, sizes[key]);
      if (!(field instanceof Uint8Array)) return field;
      texts[key] = field;
    }
    // MT4 updates a whole record: read it, change the fields, write it back.
    const users = await this.#users(op, api, [login]);
    if (!users.ok) return users;
    const record = users.value[0];
    if (record === undefined) return this.#notFound(op, `no account ${login}`);
    Object.assign(record, texts);
    if (patch.leverage !== undefined) record.leverage = patch.leverage;
    if (patch.enabled !== undefined) record.enable = patch.enabled ? 1 : 0;
    if (patch.readOnly !== undefined) record.enable_read_only = patch.readOnly ? 1 : 0;
    if (!this.#current(api)) return this.#notConnected(op);
    const code = await api.call<number>('UserRecordUpdate', record);
    return code === MT4_RET.RET_OK ? OK_VOID : this.#failure(op, code, true);
  }

  async setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('setPassword');
    // The same limit as UserRecord.password char[16]: a password the server would store otherwise is refused.
    const field = this.#field('setPassword', 'password', password, 16);
    if (!(field instanceof Uint8Array)) return field;
    const code = await api.call<number>('UserPasswordSet', login, field, kind === 'investor' ? 1 : 0, 0);
    return code === MT4_RET.RET_OK ? OK_VOID : this.#failure('setPassword', code, true);
  }

  async postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    if (!Number.isSafeInteger(request.amountCents) || request.amountCents === 0) {
      throw new Error(`postBalance: amountCents must be a non-zero integer, got ${request.amountCents}`);
    }
    const api = this.#live();
    if (api === null) return this.#notConnected('postBalance');
    // The samples zero the whole struct, then set type, cmd, orderby (the login), price (signed amount)
    // and at most 31 bytes of comment (facts 1.7).
    const comment = this.codec.encode(request.comment, MT4_LIMITS.commentBytes + 1);
    const info = {
      type: MT4_TT.TT_BR_BALANCE,
      flags: 0,
      cmd: request.kind === 'balance' ? MT4_OP.OP_BALANCE : MT4_OP.OP_CREDIT,
      order: 0,
      orderby: request.login,
      symbol: new Uint8Array(12),
      volume: 0,
      price: toMoney(request.amountCents),
      sl: 0,
      tp: 0,
      ie_deviation: 0,
      comment,
      expiration: 0,
      crc: 0,
    };
    const code = await api.call<number>('TradeTransaction', info);
    if (code !== MT4_RET.RET_OK) return this.#failure('postBalance', code, true);
    return ok({
      // Whether the real server writes the ticket into `order` is not documented (facts 7): 0 if it does not.
      ticket: info.order,
      login: request.login,
      amountCents: request.amountCents,
      kind: request.kind,
      comment: this.codec.decode(comment),
    });
  }

  async #history(op: string, login: number, from: number, to: number): Promise<Result<RawTrade[]>> {
    const api = this.#live();
    if (api === null) return this.#notConnected(op);
    const total = [0];
    return this.#array<RawTrade>(op, api, TradeRecord, total, () =>
      api.call<unknown>('TradesUserHistory', login, from, to, total),
    );
  }

  async balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    const r = await this.#history('balanceHistory', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(r.value.filter(isMoneyRecord).map((t) => balanceOpOfRecord(this.#record(t))));
  }

  async trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    const r = await this.#history('trades', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(
      r.value
        .filter((t) => t.cmd === MT4_OP.OP_BUY || t.cmd === MT4_OP.OP_SELL)
        .map((t) => tradeOfRecord(this.#record(t))),
    );
  }

  openPositions(login: number): Promise<Result<Trade[]>> {
    return this.#openTrades('openPositions', new Set([login]));
  }

  openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>> {
    return this.#openTrades('openPositionsOf', new Set(logins));
  }

  /** MT4 reads open trades server-wide only (TradesRequest): one request, filtered to the logins asked for. */
  async #openTrades(op: string, logins: ReadonlySet<number>): Promise<Result<Trade[]>> {
    const api = this.#live();
    if (api === null) return this.#notConnected(op);
    const total = [0];
    const records = await this.#array<RawTrade>(op, api, TradeRecord, total, () =>
      api.call<unknown>('TradesRequest', total),
    );
    if (!records.ok) return records;
    return ok(records.value.filter((t) => logins.has(t.login)).map((t) => tradeOfRecord(this.#record(t))));
  }

  async marginLevel(login: number): Promise<Result<MarginLevel>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('marginLevel');
    const level = {} as RawMarginLevel;
    const code = await api.call<number>('MarginLevelRequest', login, level);
    if (code !== MT4_RET.RET_OK) return this.#failure('marginLevel', code, false);
    // MarginLevel's balance is balance + credit: the credit comes from the user record.
    if (!this.#current(api)) return this.#notConnected('marginLevel');
    const users = await this.#users('marginLevel', api, [login]);
    if (!users.ok) return users;
    const user = users.value[0];
    if (user === undefined) return this.#notFound('marginLevel', `no account ${login}`);
    return ok(marginLevelOf(login, level, fromMoney(user.credit)));
  }

  async groups(): Promise<Result<Group[]>> {
    const api = this.#live();
    if (api === null) return this.#notConnected('groups');
    const total = [0];
    const groups = await this.#array<RawGroup>('groups', api, ConGroup, total, () =>
      api.call<unknown>('GroupsRequest', total),
    );
    if (!groups.ok) return groups;
    return ok(
      groups.value.map((g) =>
        groupOf({ ...g, group: this.codec.decode(g.group), currency: this.codec.decode(g.currency) }),
      ),
    );
  }

  /**
   * Pumping runs on an interface of its own, with its own connection and login (as in the samples): a request
   * on a pumping interface stops its pumping (facts 1.7). The DLL calls back from its own thread; koffi runs
   * the callback on the JS thread, so ending the subscription disconnects off the JS thread (`.async`),
   * letting callbacks in flight finish instead of deadlocking, and frees the callback only afterwards.
   */
  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    const credentials = this.#credentials;
    if (this.#live() === null || credentials === null) return this.#notConnected('subscribe');
    const pump = loadMt4Library(this.#libraryPath).create();
    let open = true;
    let ended = false;
    const pumping = pump.pump((code, type, data) => {
      if (!open) return;
      const event = this.#pumpEvent(code, type, data);
      if (event === null) return;
      if (event.type === 'stopped') {
        open = false;
        // Not from inside the callback: Disconnect waits for the DLL's thread, which is running this callback.
        setImmediate(() => void end());
      }
      try {
        listener(event);
      } catch (error) {
        // Not into the DLL's thread: a listener's bug surfaces as an uncaught error of the program.
        queueMicrotask(() => {
          throw error;
        });
      }
    });
    let ending: Promise<void> | null = null;
    const end = (): Promise<void> => {
      ending ??= (async () => {
        open = false;
        ended = true;
        this.#subscriptions.delete(end);
        try {
          await pump.dispose();
        } finally {
          pumping.unregister();
        }
      })();
      return ending;
    };
    // Registered before the first await: a close() during the set-up ends this subscription too.
    this.#subscriptions.add(end);
    const abandon = async (code: number): Promise<Result<Subscription>> => {
      await end();
      return this.#sideFailure('subscribe', code);
    };
    const connect = await pump.call<number>('Connect', this.codec.cString(this.#address));
    if (ended) return this.#notConnected('subscribe');
    if (connect !== MT4_RET.RET_OK) return abandon(connect);
    const login = await pump.call<number>('Login', credentials.login, this.codec.cString(credentials.password));
    if (ended) return this.#notConnected('subscribe');
    if (login !== MT4_RET.RET_OK) return abandon(login);
    const switched = await pumping.switchOn();
    if (ended) return this.#notConnected('subscribe');
    if (switched !== MT4_RET.RET_OK) return abandon(switched);
    return ok({
      close: () => {
        void end();
      },
    });
  }

  /** A pumping notification as a port event; the record behind `data` is valid only during the callback. */
  #pumpEvent(code: number, type: number, data: unknown): PumpEvent | null {
    if (code === MT4_PUMP.PUMP_STOP_PUMPING) return pumpEventOf(code, type, null);
    if (data === null || data === undefined || data === 0n) return null;
    if (code === MT4_PUMP.PUMP_UPDATE_USERS) {
      return pumpEventOf(code, type, { login: (koffi.decode(data, UserRecord) as RawUser).login });
    }
    if (code !== MT4_PUMP.PUMP_UPDATE_TRADES) return null;
    return pumpEventOf(code, type, this.#record(koffi.decode(data, TradeRecord) as RawTrade));
  }

  /** A user record with its text decoded in the server's code page. */
  #user(u: RawUser): Mt4UserFacts {
    const c = this.codec;
    return {
      ...u,
      group: c.decode(u.group),
      name: c.decode(u.name),
      email: c.decode(u.email),
      country: c.decode(u.country),
      id: c.decode(u.id),
    };
  }

  /** A trade record with its text decoded in the server's code page. */
  #record(t: RawTrade): Mt4TradeFacts {
    return { ...t, symbol: this.codec.decode(t.symbol), comment: this.codec.decode(t.comment) };
  }

  #error(op: string, code: number, outcome: ManagerError['outcome'], reason: ManagerError['reason'], detail = '') {
    return new ManagerError({ platform: 'mt4', code, outcome, reason, serverId: this.serverId, op, detail });
  }

  /** Not sent: the adapter knows it has no connection. */
  #notConnected<T>(op: string): Result<T> {
    return {
      ok: false,
      error: this.#error(op, notConnectedCode('mt4'), 'unavailable', 'no_connection', 'not connected: nothing sent'),
    };
  }

  /** An empty answer to a lookup: MT4 has no "not found" code, RET_OK_NONE stands for it (as in sim/). */
  #notFound<T>(op: string, detail: string): Result<T> {
    return { ok: false, error: this.#error(op, MT4_RET.RET_OK_NONE, 'rejected', 'not_found', detail) };
  }

  /** A failure on the pumping interface: the main connection is untouched. */
  #sideFailure<T>(op: string, code: number): Result<T> {
    const { outcome, reason } = classify('mt4', code, false);
    return { ok: false, error: this.#error(op, code, outcome, reason) };
  }

  /** A RET_* failure; one that says the connection is gone makes the adapter consider itself disconnected. */
  #failure<T>(op: string, code: number, mutating: boolean): Result<T> {
    const { outcome, reason } = classify('mt4', code, mutating);
    if (reason === 'no_connection') this.#connected = false;
    return { ok: false, error: this.#error(op, code, outcome, reason) };
  }
}
