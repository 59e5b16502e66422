import { MtproofError } from '../../kit/errors.ts';
import { MT5_RET } from '../../metatrader/codes.ts';
import { MT5_DEAL_ACTION, MT5_PUMP_MODE, MT5_USER_PASS, MT5_USER_RIGHT } from '../../metatrader/constants.ts';
import { cutMt5Comment, MT5_LIMITS } from '../../metatrader/limits.ts';
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
import { balanceOpOfDeal, closedTradesOfDeals, isBalanceDeal, type Mt5DealFacts } from '../port/mt5-deals.ts';
import { callSlot, loadMt5Library, type Mt5Library, type NativeObject, PROTO, sendSlot, toNumber } from './native.ts';
import { NativeSink } from './sinks.ts';
import {
  ACCOUNT_SLOT,
  ARRAY_SLOT,
  DEAL_SINK_SLOT,
  DEAL_SLOT,
  GROUP_SLOT,
  MANAGER_SLOT,
  MT5_SLOT_COUNTS,
  USER_SINK_SLOT,
  USER_SLOT,
} from './slots.ts';

/** `Connect.timeout` has a C++ default (INFINITE) that does not exist at the ABI level: always passed. */
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** GroupTotal/GroupNext read the local cache, which only PUMP_MODE_GROUPS fills (facts 2.7). */
const PUMP_MODE = MT5_PUMP_MODE.PUMP_MODE_USERS | MT5_PUMP_MODE.PUMP_MODE_GROUPS;
const ENV_DLL_PATH = 'MTPROOF_MT5_DLL';

export interface Mt5DllOptions {
  readonly serverId: string;
  /** The Access server, "host:port". */
  readonly address: string;
  /** Path of MT5APIManager64.dll (or an ABI-identical library); default: env MTPROOF_MT5_DLL. */
  readonly dllPath?: string;
  readonly connectTimeoutMs?: number;
}

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const OK_VOID: Result<void> = Object.freeze({ ok: true, value: undefined });

/**
 * ManagerApi over the real MT5 Manager API DLL through koffi (`IMTManagerAPI`, facts section 2), mapping the
 * port onto the MT5 dialect as adapters/sim/mt5.ts does: DealerBalance (success 10009) for money, DealRequest
 * for history, UserRequest/UserAccountRequest for accounts. Manager calls run on koffi worker threads, one at a
 * time; data-object getters and setters (local memory) are called directly. A native call that fails in koffi
 * (throws or rejects) answers a ManagerError like a platform code: `unknown` for a change (it may have been
 * sent), `unavailable` for a read.
 * Sinks deliver user and balance events; positions (IMTPosition) are not bound yet and answer `not_supported`.
 */
export class Mt5DllManagerApi implements ManagerApi {
  readonly platform = 'mt5' as const;
  readonly serverId: string;
  readonly limits = Object.freeze({ commentChars: MT5_LIMITS.commentChars });
  readonly #address: string;
  readonly #connectTimeoutMs: number;
  readonly #library: Mt5Library;
  /** The IMTManagerAPI object: created at construction and by a connect after close, released by close. */
  #manager: NativeObject | null;
  /** Between a successful connect and close (or the next connect): calls are sent. */
  #session = false;
  /**
   * Whether the last call found the API connected. The API reconnects by itself (facts 2.7), so a
   * MT_RET_ERR_CONNECTION only clears this; the next call is still sent and sets it again if the link is back.
   */
  #linkUp = false;
  /** What ends each live subscription: all end with the connection. */
  readonly #subscriptions = new Set<() => void>();
  /** The last queued native call: the next one starts after it. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: Mt5DllOptions) {
    this.serverId = options.serverId;
    this.#address = options.address;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const path = options.dllPath ?? process.env[ENV_DLL_PATH];
    if (path === undefined || path === '') {
      throw new MtproofError('MTP_DLL_LOAD', `no MT5 Manager API library: pass dllPath or set ${ENV_DLL_PATH}`);
    }
    this.#library = loadMt5Library(path);
    this.#manager = this.#library.createManager();
  }

  isConnected(): boolean {
    return this.#session && this.#linkUp;
  }

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    this.#endSession();
    this.#manager ??= this.#library.createManager();
    const manager = this.#manager;
    try {
      await this.#sendTo(manager, MANAGER_SLOT.Disconnect, PROTO.void);
      const code = await this.#sendTo(
        manager,
        MANAGER_SLOT.Connect,
        PROTO.connect,
        this.#address,
        credentials.login,
        credentials.password,
        null,
        PUMP_MODE,
        this.#connectTimeoutMs,
      );
      if (code !== MT5_RET.MT_RET_OK) return this.#failure('connect', code, false);
    } catch (err) {
      return this.#nativeFailure('connect', false, err);
    }
    this.#session = true;
    this.#linkUp = true;
    // MT5's Manager API gives no way to read the manager's rights (ManagerSession.rights).
    return ok({ login: credentials.login, rights: null });
  }

  /**
   * Ends the subscriptions, disconnects and releases the IMTManagerAPI object (slot 0), both off the JS thread
   * behind any queued call (the DLL may wait for its network thread, which may be running a sink on the JS
   * thread). Later calls answer not connected; a new connect creates a new manager object.
   */
  async close(): Promise<void> {
    this.#endSession();
    const manager = this.#manager;
    if (manager === null) return;
    this.#manager = null;
    try {
      await this.#sendTo(manager, MANAGER_SLOT.Disconnect, PROTO.void);
    } finally {
      await this.#sendTo(manager, MANAGER_SLOT.Release, PROTO.void);
    }
  }

  #endSession(): void {
    for (const end of [...this.#subscriptions]) end();
    this.#session = false;
    this.#linkUp = false;
  }

  /** MT5 has no Ping: a server-time request is the round trip. */
  async ping(): Promise<Result<void>> {
    const r = await this.serverTime();
    return r.ok ? OK_VOID : r;
  }

  async serverTime(): Promise<Result<number>> {
    return this.#guard('serverTime', false, async () => {
      const out = [0];
      const code = await this.#send(MANAGER_SLOT.TimeServerRequest, PROTO.timeServerRequest, out);
      if (code !== MT5_RET.MT_RET_OK) return this.#failure('serverTime', code, false);
      return ok(Math.floor(toNumber(out[0]) / 1000));
    });
  }

  async createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    return this.#guard('createAccount', true, async () => {
      let leverage = account.leverage;
      if (leverage === undefined) {
        const group = await this.#group(account.group);
        if (!group.ok) return this.#failure('createAccount', group.code, false);
        leverage = group.value.leverage;
      }
      return this.#withObject(MANAGER_SLOT.UserCreate, async (user) => {
        const refused = setUser(user, {
          login: account.login ?? 0,
          group: account.group,
          name: account.name,
          email: account.email ?? '',
          country: account.country ?? '',
          externalId: account.externalId ?? '',
          comment: account.comment ?? '',
          leverage: leverage,
          rights: rights(account.enabled ?? true, account.readOnly ?? false),
        });
        if (refused !== null) return this.#refusedSetter('createAccount', refused);
        const code = await this.#send(
          MANAGER_SLOT.UserAdd,
          PROTO.userAdd,
          user,
          account.password,
          account.investorPassword ?? account.password,
        );
        if (code !== MT5_RET.MT_RET_OK) return this.#failure('createAccount', code, true);
        // UserAdd writes the login the server allocated back into the object.
        return ok({ login: toNumber(callSlot(user, USER_SLOT.Login, PROTO.u64)) });
      });
    });
  }

  async getAccount(login: number): Promise<Result<Account>> {
    return this.#guard('getAccount', false, async () => {
      return this.#withObject(MANAGER_SLOT.UserCreate, async (user) => {
        const code = await this.#send(MANAGER_SLOT.UserRequest, PROTO.loginObj, login, user);
        return code === MT5_RET.MT_RET_OK ? ok(readUser(user)) : this.#failure('getAccount', code, false);
      });
    });
  }

  async listAccounts(groupMask: string): Promise<Result<Account[]>> {
    return this.#guard('listAccounts', false, async () => {
      return this.#withObject(MANAGER_SLOT.UserCreateArray, async (users) => {
        const code = await this.#send(MANAGER_SLOT.UserRequestArray, PROTO.nameObj, groupMask, users);
        if (code !== MT5_RET.MT_RET_OK) return this.#failure('listAccounts', code, false);
        return ok(elements(users).map(readUser));
      });
    });
  }

  async updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    return this.#guard('updateAccount', true, async () => {
      return this.#withObject(MANAGER_SLOT.UserCreate, async (user) => {
        const read = await this.#send(MANAGER_SLOT.UserRequest, PROTO.loginObj, login, user);
        if (read !== MT5_RET.MT_RET_OK) return this.#failure('updateAccount', read, false);
        // Data objects change locally; UserUpdate sends the whole record (facts 2.7, object editing).
        const current = toNumber(callSlot(user, USER_SLOT.Rights, PROTO.u64));
        const enabled = patch.enabled ?? (current & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0;
        const readOnly = patch.readOnly ?? (current & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0;
        const refused = applySetters(user, [
          patch.group === undefined ? null : [USER_SLOT.GroupSet, PROTO.setStr, patch.group],
          patch.leverage === undefined ? null : [USER_SLOT.LeverageSet, PROTO.setU32, patch.leverage],
          patch.name === undefined ? null : [USER_SLOT.NameSet, PROTO.setStr, escapeParam(patch.name)],
          patch.email === undefined ? null : [USER_SLOT.EMailSet, PROTO.setStr, escapeParam(patch.email)],
          patch.country === undefined ? null : [USER_SLOT.CountrySet, PROTO.setStr, escapeParam(patch.country)],
          [USER_SLOT.RightsSet, PROTO.setU64, rights(enabled, readOnly, current)],
        ]);
        if (refused !== null) return this.#refusedSetter('updateAccount', refused);
        const code = await this.#send(MANAGER_SLOT.UserUpdate, PROTO.obj, user);
        return code === MT5_RET.MT_RET_OK ? OK_VOID : this.#failure('updateAccount', code, true);
      });
    });
  }

  async setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    return this.#guard('setPassword', true, async () => {
      const type = kind === 'main' ? MT5_USER_PASS.USER_PASS_MAIN : MT5_USER_PASS.USER_PASS_INVESTOR;
      const code = await this.#send(MANAGER_SLOT.UserPasswordChange, PROTO.passwordChange, type, login, password);
      return code === MT5_RET.MT_RET_OK ? OK_VOID : this.#failure('setPassword', code, true);
    });
  }

  async postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    if (!Number.isSafeInteger(request.amountCents) || request.amountCents === 0) {
      throw new Error(`postBalance: amountCents must be a non-zero integer, got ${request.amountCents}`);
    }
    return this.#guard('postBalance', true, async () => {
      const type = request.kind === 'balance' ? MT5_DEAL_ACTION.DEAL_BALANCE : MT5_DEAL_ACTION.DEAL_CREDIT;
      const dealId = [0];
      const code = await this.#send(
        MANAGER_SLOT.DealerBalance,
        PROTO.dealerBalance,
        request.login,
        request.amountCents / 100,
        type,
        escapeParam(request.comment),
        dealId,
      );
      // DealerBalance answers MT_RET_REQUEST_DONE (10009) on success, not MT_RET_OK (facts 2.7).
      if (code !== MT5_RET.MT_RET_REQUEST_DONE) return this.#failure('postBalance', code, true);
      return ok({
        ticket: toNumber(dealId[0]),
        login: request.login,
        amountCents: request.amountCents,
        kind: request.kind,
        comment: cutMt5Comment(request.comment),
      });
    });
  }

  async balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    const r = await this.#deals('balanceHistory', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(r.value.filter(isBalanceDeal).map(balanceOpOfDeal));
  }

  async trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    const r = await this.#deals('trades', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(closedTradesOfDeals(r.value));
  }

  async #deals(op: string, login: number, from: number, to: number): Promise<Result<DealRow[]>> {
    return this.#guard(op, false, async () => {
      return this.#withObject(MANAGER_SLOT.DealCreateArray, async (deals) => {
        const code = await this.#send(MANAGER_SLOT.DealRequestByLogin, PROTO.dealRequest, login, from, to, deals);
        return code === MT5_RET.MT_RET_OK ? ok(elements(deals).map(readDeal)) : this.#failure(op, code, false);
      });
    });
  }

  async openPositions(_login: number): Promise<Result<Trade[]>> {
    if (!this.#session) return this.#notConnected('openPositions');
    return this.#notSupported('openPositions', 'IMTPosition is not bound yet');
  }

  async openPositionsOf(_logins: readonly number[]): Promise<Result<Trade[]>> {
    if (!this.#session) return this.#notConnected('openPositionsOf');
    return this.#notSupported('openPositionsOf', 'IMTPosition is not bound yet');
  }

  async marginLevel(login: number): Promise<Result<MarginLevel>> {
    return this.#guard('marginLevel', false, async () => {
      return this.#withObject(MANAGER_SLOT.UserCreateAccount, async (account) => {
        const code = await this.#send(MANAGER_SLOT.UserAccountRequest, PROTO.loginObj, login, account);
        if (code !== MT5_RET.MT_RET_OK) return this.#failure('marginLevel', code, false);
        const money = (slot: number): number => Math.round((callSlot(account, slot, PROTO.f64) as number) * 100);
        const so = callSlot(account, ACCOUNT_SLOT.SOActivation, PROTO.u32) as number;
        return ok({
          login,
          balanceCents: money(ACCOUNT_SLOT.Balance),
          creditCents: money(ACCOUNT_SLOT.Credit),
          equityCents: money(ACCOUNT_SLOT.Equity),
          marginCents: money(ACCOUNT_SLOT.Margin),
          freeMarginCents: money(ACCOUNT_SLOT.MarginFree),
          marginLevelPct: callSlot(account, ACCOUNT_SLOT.MarginLevel, PROTO.f64) as number,
          state: so === 2 ? 'stop_out' : so === 1 ? 'margin_call' : 'ok',
        });
      });
    });
  }

  async groups(): Promise<Result<Group[]>> {
    return this.#guard('groups', false, async () => {
      const total = await this.#send(MANAGER_SLOT.GroupTotal, PROTO.u32);
      return this.#withObject(MANAGER_SLOT.GroupCreate, async (group) => {
        const out: Group[] = [];
        for (let i = 0; i < total; i++) {
          const code = await this.#send(MANAGER_SLOT.GroupNext, PROTO.indexObj, i, group);
          if (code !== MT5_RET.MT_RET_OK) return this.#failure('groups', code, false);
          out.push(readGroup(group));
        }
        return ok(out);
      });
    });
  }

  /**
   * Subscribes an IMTUserSink and an IMTDealSink built from JS. The API keeps sinks across its own reconnections;
   * the port's subscriptions end with the adapter's connection (close, connect), so those unsubscribe them.
   */
  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    return this.#guard('subscribe', false, async () => {
      let open = true;
      const emit = (event: PumpEvent): void => {
        if (open) listener(event);
      };
      const userSink = new NativeSink(
        MT5_SLOT_COUNTS.IMTUserSink,
        new Map([
          [USER_SINK_SLOT.OnUserAdd, (u) => emit({ type: 'user', action: 'add', login: userLogin(u) })],
          [USER_SINK_SLOT.OnUserUpdate, (u) => emit({ type: 'user', action: 'update', login: userLogin(u) })],
        ]),
      );
      const dealSink = new NativeSink(
        MT5_SLOT_COUNTS.IMTDealSink,
        new Map([
          [
            DEAL_SINK_SLOT.OnDealAdd,
            (d) => {
              const deal = readDeal(d);
              if (!isBalanceDeal(deal)) return;
              const op = balanceOpOfDeal(deal);
              emit({
                type: 'balance',
                login: op.login,
                ticket: op.ticket,
                kind: op.kind,
                amountCents: op.amountCents,
                comment: op.comment,
              });
            },
          ],
        ]),
      );
      const manager = this.#manager;
      const userCode = await this.#send(MANAGER_SLOT.UserSubscribe, PROTO.obj, userSink.pointer);
      if (userCode !== MT5_RET.MT_RET_OK) {
        userSink.dispose();
        dealSink.dispose();
        return this.#failure('subscribe', userCode, false);
      }
      const dealCode = await this.#send(MANAGER_SLOT.DealSubscribe, PROTO.obj, dealSink.pointer);
      if (dealCode !== MT5_RET.MT_RET_OK) {
        dealSink.dispose();
        await this.#unsubscribe(manager, MANAGER_SLOT.UserUnsubscribe, userSink);
        return this.#failure('subscribe', dealCode, false);
      }
      const end = (): void => {
        if (!this.#subscriptions.delete(end)) return;
        open = false;
        // Unsubscribed off the JS thread (a sink call in flight waits for it), on the manager object that holds
        // the sinks; the queue keeps this before any later call (close's Release among them).
        void this.#unsubscribe(manager, MANAGER_SLOT.UserUnsubscribe, userSink).then(() =>
          this.#unsubscribe(manager, MANAGER_SLOT.DealUnsubscribe, dealSink),
        );
      };
      this.#subscriptions.add(end);
      return ok({ close: end });
    });
  }

  async #group(name: string): Promise<{ ok: true; value: Group } | { ok: false; code: number }> {
    return this.#withObject(MANAGER_SLOT.GroupCreate, async (group) => {
      const code = await this.#send(MANAGER_SLOT.GroupGet, PROTO.nameObj, name, group);
      return code === MT5_RET.MT_RET_OK ? { ok: true, value: readGroup(group) } : { ok: false, code };
    });
  }

  /**
   * Unsubscribes `sink` and frees its callbacks only when the DLL has let go of it: MT_RET_OK, or
   * MT_RET_ERR_NOTFOUND (it never held it). On any other answer, or a failed call, the DLL may still call the
   * sink, so its callbacks and vtable are kept alive on purpose (a leak): freed, the next event would jump into
   * unregistered memory.
   */
  async #unsubscribe(manager: NativeObject | null, slot: number, sink: NativeSink): Promise<void> {
    if (manager === null) return;
    let code: number | null = null;
    try {
      code = await this.#sendTo(manager, slot, PROTO.obj, sink.pointer);
    } catch {
      code = null;
    }
    if (code === MT5_RET.MT_RET_OK || code === MT5_RET.MT_RET_ERR_NOTFOUND) sink.dispose();
  }

  /**
   * Runs a call of the session: answers not connected without calling when there is no session (before connect,
   * after close), otherwise always sends, since the API reconnects by itself (facts 2.7); only
   * MT_RET_ERR_CONNECTION marks the link down (isConnected), any other answer marks it up. A native call that
   * throws or rejects is a platform error: `unknown` for a change (it may have reached the server),
   * `unavailable` for a read.
   */
  async #guard<T>(op: string, mutating: boolean, body: () => Promise<Result<T>>): Promise<Result<T>> {
    if (!this.#session || this.#manager === null) return this.#notConnected(op);
    try {
      const r = await body();
      this.#linkUp = r.ok || r.error.code !== MT5_RET.MT_RET_ERR_CONNECTION;
      return r;
    } catch (err) {
      return this.#nativeFailure(op, mutating, err);
    }
  }

  #nativeFailure<T>(op: string, mutating: boolean, err: unknown): Result<T> {
    const outcome = mutating ? 'unknown' : 'unavailable';
    return this.#error(op, MT5_RET.MT_RET_ERROR, outcome, 'platform_error', `native call failed: ${String(err)}`);
  }

  #refusedSetter<T>(op: string, refused: { slot: number; code: number }): Result<T> {
    return this.#error(op, refused.code, 'rejected', 'invalid', `IMTUser setter at slot ${refused.slot} refused`);
  }

  #call(slot: number, proto: (typeof PROTO)[keyof typeof PROTO], ...args: unknown[]): number {
    if (this.#manager === null) throw new Error(`${this.serverId}: the manager object was released`);
    return callSlot(this.#manager, slot, proto, ...args) as number;
  }

  /** A call on the current manager object (see #sendTo). */
  #send(slot: number, proto: (typeof PROTO)[keyof typeof PROTO], ...args: unknown[]): Promise<number> {
    const manager = this.#manager;
    if (manager === null) return Promise.reject(new Error(`${this.serverId}: the manager object was released`));
    return this.#sendTo(manager, slot, proto, ...args);
  }

  /**
   * A call that may talk to the server, off the JS thread, one at a time (calls queue behind each other, as the
   * port's callers expect each to be sent in order).
   */
  #sendTo(
    manager: NativeObject,
    slot: number,
    proto: (typeof PROTO)[keyof typeof PROTO],
    ...args: unknown[]
  ): Promise<number> {
    const run = this.#queue.then(() => sendSlot(manager, slot, proto, ...args) as Promise<number>);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Creates a data object through a manager slot, runs `body` on it and releases it (slot 0) whatever happens. */
  async #withObject<T>(createSlot: number, body: (object: NativeObject) => Promise<T>): Promise<T> {
    const object = this.#call(createSlot, PROTO.ptr) as unknown as NativeObject;
    if (object === null) throw new Error(`${this.serverId}: the Manager API created no object at slot ${createSlot}`);
    try {
      return await body(object);
    } finally {
      callSlot(object, 0, PROTO.void);
    }
  }

  #notConnected<T>(op: string): Result<T> {
    return this.#error(op, notConnectedCode('mt5'), 'unavailable', 'no_connection', 'not connected: nothing sent');
  }

  #notSupported<T>(op: string, detail: string): Result<T> {
    return this.#error(op, MT5_RET.MT_RET_ERR_NOTSUPPORTED, 'rejected', 'not_supported', detail);
  }

  /** A failure from a platform code (the link's state is #guard's). */
  #failure<T>(op: string, code: number, mutating: boolean): Result<T> {
    const { outcome, reason } = classify('mt5', code, mutating);
    return this.#error(op, code, outcome, reason, '');
  }

  #error<T>(
    op: string,
    code: number,
    outcome: ManagerError['outcome'],
    reason: ManagerError['reason'],
    detail: string,
  ): Result<T> {
    return {
      ok: false,
      error: new ManagerError({ platform: 'mt5', code, outcome, reason, serverId: this.serverId, op, detail }),
    };
  }
}

/** A deal read out of an IMTDeal: the facts the port's MT5 deal reader takes. */
type DealRow = Mt5DealFacts;

/** The elements of an IMTDealArray / IMTUserArray (owned by the array: valid until it is released). */
function elements(array: NativeObject): NativeObject[] {
  const total = callSlot(array, ARRAY_SLOT.Total, PROTO.u32) as number;
  const out: NativeObject[] = [];
  for (let i = 0; i < total; i++) out.push(callSlot(array, ARRAY_SLOT.Next, PROTO.next, i));
  return out;
}

function readDeal(deal: NativeObject): DealRow {
  const num = (slot: number, proto: (typeof PROTO)[keyof typeof PROTO]): number =>
    toNumber(callSlot(deal, slot, proto));
  return {
    deal: num(DEAL_SLOT.Deal, PROTO.u64),
    login: num(DEAL_SLOT.Login, PROTO.u64),
    action: num(DEAL_SLOT.Action, PROTO.u32),
    entry: num(DEAL_SLOT.Entry, PROTO.u32),
    time: num(DEAL_SLOT.Time, PROTO.i64),
    symbol: (callSlot(deal, DEAL_SLOT.Symbol, PROTO.str) as string | null) ?? '',
    price: num(DEAL_SLOT.Price, PROTO.f64),
    volume: num(DEAL_SLOT.Volume, PROTO.u64),
    profit: num(DEAL_SLOT.Profit, PROTO.f64),
    positionId: num(DEAL_SLOT.PositionID, PROTO.u64),
    comment: (callSlot(deal, DEAL_SLOT.Comment, PROTO.str) as string | null) ?? '',
    pricePosition: num(DEAL_SLOT.PricePosition, PROTO.f64),
  };
}

function rights(enabled: boolean, readOnly: boolean, base: number = MT5_USER_RIGHT.USER_RIGHT_DEFAULT): number {
  let r = base & ~(MT5_USER_RIGHT.USER_RIGHT_ENABLED | MT5_USER_RIGHT.USER_RIGHT_READONLY);
  if (enabled) r |= MT5_USER_RIGHT.USER_RIGHT_ENABLED;
  if (readOnly) r |= MT5_USER_RIGHT.USER_RIGHT_READONLY;
  return r;
}

/** A setter call on a data object: slot, prototype, value. */
type Setter = readonly [slot: number, proto: (typeof PROTO)[keyof typeof PROTO], value: unknown];

/** Calls each setter in turn; the first that answers other than MT_RET_OK stops it and is returned. */
function applySetters(
  object: NativeObject,
  setters: readonly (Setter | null)[],
): { slot: number; code: number } | null {
  for (const setter of setters) {
    if (setter === null) continue;
    const [slot, proto, value] = setter;
    const code = callSlot(object, slot, proto, value) as number;
    if (code !== MT5_RET.MT_RET_OK) return { slot, code };
  }
  return null;
}

/**
 * A string parameter as the Manager API takes it: `=`, `|`, `\` and line feed escaped with a backslash (facts 2.7,
 * special characters). Group names and passwords are passed as they are: a group's `\` is its path separator.
 */
export function escapeParam(text: string): string {
  return text.replace(/[=|\\\n]/g, (c) => `\\${c}`);
}

function setUser(
  user: NativeObject,
  u: {
    login: number;
    group: string;
    name: string;
    email: string;
    country: string;
    externalId: string;
    comment: string;
    leverage: number;
    rights: number;
  },
): { slot: number; code: number } | null {
  return applySetters(user, [
    [USER_SLOT.LoginSet, PROTO.setU64, u.login],
    [USER_SLOT.GroupSet, PROTO.setStr, u.group],
    [USER_SLOT.NameSet, PROTO.setStr, escapeParam(u.name)],
    [USER_SLOT.EMailSet, PROTO.setStr, escapeParam(u.email)],
    [USER_SLOT.CountrySet, PROTO.setStr, escapeParam(u.country)],
    [USER_SLOT.IDSet, PROTO.setStr, escapeParam(u.externalId)],
    [USER_SLOT.CommentSet, PROTO.setStr, escapeParam(u.comment)],
    [USER_SLOT.LeverageSet, PROTO.setU32, u.leverage],
    [USER_SLOT.RightsSet, PROTO.setU64, u.rights],
  ]);
}

function userLogin(user: NativeObject): number {
  return toNumber(callSlot(user, USER_SLOT.Login, PROTO.u64));
}

function readUser(user: NativeObject): Account {
  const str = (slot: number): string => (callSlot(user, slot, PROTO.str) as string | null) ?? '';
  const userRights = toNumber(callSlot(user, USER_SLOT.Rights, PROTO.u64));
  return {
    login: toNumber(callSlot(user, USER_SLOT.Login, PROTO.u64)),
    group: str(USER_SLOT.Group),
    name: str(USER_SLOT.Name),
    email: str(USER_SLOT.EMail),
    country: str(USER_SLOT.Country),
    externalId: str(USER_SLOT.ID),
    leverage: callSlot(user, USER_SLOT.Leverage, PROTO.u32) as number,
    enabled: (userRights & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0,
    readOnly: (userRights & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0,
    balanceCents: Math.round((callSlot(user, USER_SLOT.Balance, PROTO.f64) as number) * 100),
    creditCents: Math.round((callSlot(user, USER_SLOT.Credit, PROTO.f64) as number) * 100),
    registeredServerSec: toNumber(callSlot(user, USER_SLOT.Registration, PROTO.i64)),
  };
}

function readGroup(group: NativeObject): Group {
  return {
    name: (callSlot(group, GROUP_SLOT.Group, PROTO.str) as string | null) ?? '',
    currency: (callSlot(group, GROUP_SLOT.Currency, PROTO.str) as string | null) ?? '',
    leverage: callSlot(group, GROUP_SLOT.DemoLeverage, PROTO.u32) as number,
    depositCents: Math.round((callSlot(group, GROUP_SLOT.DemoDeposit, PROTO.f64) as number) * 100),
    marginCallPct: callSlot(group, GROUP_SLOT.MarginCall, PROTO.f64) as number,
    stopOutPct: callSlot(group, GROUP_SLOT.MarginStopOut, PROTO.f64) as number,
    // IMTConGroup (build 3802) has no enabled flag: a group the server lists is in use.
    enabled: true,
  };
}
