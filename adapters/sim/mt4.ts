import type { Clock } from '../../kit/clock.ts';
import { MT4_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT4_TT } from '../../metatrader/constants.ts';
import { groupMatches } from '../../metatrader/groups.ts';
import { cutMt4Comment, MT4_LIMITS } from '../../metatrader/limits.ts';
import {
  fromMoney,
  Mt4ManagerInterface,
  type Mt4TradeRecord,
  type Mt4TradeTransInfo,
  type Mt4UserRecord,
  type SimCluster,
  toMoney,
} from '../../simulator/index.ts';
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
  marginLevelOf,
  pumpEventOf,
  tradeOfRecord,
} from '../port/mt4-records.ts';
import { assertCents, CallContext, OK_VOID, ok } from './common.ts';

/**
 * ManagerApi over a simulated MT4 server, through the MT4 dialect exactly as the DLL adapter will go
 * through `CManagerInterface`: TradeTransaction(TT_BR_BALANCE, OP_BALANCE/OP_CREDIT) for money,
 * TradesUserHistory for history, a second interface for pumping (as the MetaQuotes samples do).
 */
export class SimMt4ManagerApi implements ManagerApi {
  readonly platform = 'mt4' as const;
  readonly serverId: string;
  readonly limits = Object.freeze({ commentChars: MT4_LIMITS.commentBytes });
  readonly #cluster: SimCluster;
  readonly #clock: Clock;
  readonly #timeoutMs: number | undefined;
  readonly #ctx: CallContext;
  #api: Mt4ManagerInterface;
  #credentials: Credentials | null = null;

  constructor(cluster: SimCluster, serverId: string, options: { clock: Clock; timeoutMs?: number }) {
    this.#cluster = cluster;
    this.serverId = serverId;
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#ctx = new CallContext('mt4', serverId);
    this.#api = this.#newInterface();
  }

  #newInterface(): Mt4ManagerInterface {
    return new Mt4ManagerInterface(this.#cluster, { clock: this.#clock, timeoutMs: this.#timeoutMs });
  }

  isConnected(): boolean {
    return this.#ctx.connected;
  }

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    this.#endConnection();
    const connect = await this.#api.Connect(this.serverId);
    if (connect !== MT4_RET.RET_OK) return this.#ctx.failure('connect', connect, false);
    const login = await this.#api.Login(credentials.login, credentials.password);
    if (login !== MT4_RET.RET_OK) {
      this.#api.Disconnect();
      return this.#ctx.failure('login', login, false);
    }
    const rights = await this.#api.ManagerRights();
    if (rights.rights === null) {
      // Without its rights the session is of no use: end it, so that the adapter is plainly not connected.
      this.#api.Disconnect();
      return this.#ctx.failure('connect.rights', rights.code, false);
    }
    this.#ctx.connected = true;
    this.#credentials = credentials;
    return ok({
      login: credentials.login,
      rights: {
        accounts: rights.rights.manager !== 0,
        money: rights.rights.money !== 0,
        trades: rights.rights.see_trades !== 0,
        groups: rights.rights.groups.split(',').filter((g) => g !== ''),
      },
    });
  }

  async close(): Promise<void> {
    this.#endConnection();
  }

  /** Pumping interfaces opened by `subscribe` end with the main connection. */
  #endConnection(): void {
    this.#ctx.endAll();
    this.#api.Disconnect();
  }

  async ping(): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('ping');
    const code = await this.#api.Ping();
    return code === MT4_RET.RET_OK ? OK_VOID : this.#ctx.failure('ping', code, false);
  }

  async serverTime(): Promise<Result<number>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('serverTime');
    const r = await this.#api.ServerTime();
    return r.code === MT4_RET.RET_OK ? ok(r.time) : this.#ctx.failure('serverTime', r.code, false);
  }

  async createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('createAccount');
    const record: Mt4UserRecord = {
      login: account.login ?? 0,
      group: account.group,
      password: account.password,
      enable: account.enabled === false ? 0 : 1,
      enable_read_only: account.readOnly === true ? 1 : 0,
      password_investor: account.investorPassword ?? account.password,
      name: account.name,
      country: account.country ?? '',
      email: account.email ?? '',
      comment: account.comment ?? '',
      id: account.externalId ?? '',
      leverage: account.leverage ?? 0,
      regdate: 0,
      balance: 0,
      credit: 0,
    };
    if (account.leverage === undefined) {
      // MT4 takes the leverage from the record: the group's default must be filled in by the caller.
      const groups = await this.groups();
      if (!groups.ok) return groups;
      const group = groups.value.find((g) => g.name === account.group);
      record.leverage = group?.leverage ?? 100;
    }
    const code = await this.#api.UserRecordNew(record);
    return code === MT4_RET.RET_OK ? ok({ login: record.login }) : this.#ctx.failure('createAccount', code, true);
  }

  async getAccount(login: number): Promise<Result<Account>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('getAccount');
    const r = await this.#api.UserRecordsRequest([login]);
    if (r.code !== MT4_RET.RET_OK) return this.#ctx.failure('getAccount', r.code, false);
    const record = r.records[0];
    if (record === undefined) return this.#ctx.notFound('getAccount', MT4_RET.RET_OK_NONE, `no account ${login}`);
    return ok(accountOfUser(record));
  }

  async listAccounts(groupMask: string): Promise<Result<Account[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('listAccounts');
    const r = await this.#api.UsersRequest();
    if (r.code !== MT4_RET.RET_OK) return this.#ctx.failure('listAccounts', r.code, false);
    return ok(r.records.filter((u) => groupMatches([groupMask], u.group)).map(accountOfUser));
  }

  async updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('updateAccount');
    // MT4 updates a whole record: read it, change the fields, write it back.
    const r = await this.#api.UserRecordsRequest([login]);
    if (r.code !== MT4_RET.RET_OK) return this.#ctx.failure('updateAccount', r.code, false);
    const record = r.records[0];
    if (record === undefined) return this.#ctx.notFound('updateAccount', MT4_RET.RET_OK_NONE, `no account ${login}`);
    if (patch.group !== undefined) record.group = patch.group;
    if (patch.leverage !== undefined) record.leverage = patch.leverage;
    if (patch.enabled !== undefined) record.enable = patch.enabled ? 1 : 0;
    if (patch.readOnly !== undefined) record.enable_read_only = patch.readOnly ? 1 : 0;
    if (patch.name !== undefined) record.name = patch.name;
    if (patch.email !== undefined) record.email = patch.email;
    if (patch.country !== undefined) record.country = patch.country;
    const code = await this.#api.UserRecordUpdate(record);
    return code === MT4_RET.RET_OK ? OK_VOID : this.#ctx.failure('updateAccount', code, true);
  }

  async setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('setPassword');
    const code = await this.#api.UserPasswordSet(login, password, kind === 'investor');
    return code === MT4_RET.RET_OK ? OK_VOID : this.#ctx.failure('setPassword', code, true);
  }

  async postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    assertCents(request.amountCents, 'postBalance');
    if (!this.#ctx.connected) return this.#ctx.notConnected('postBalance');
    const info: Mt4TradeTransInfo = {
      type: MT4_TT.TT_BR_BALANCE,
      cmd: request.kind === 'balance' ? MT4_OP.OP_BALANCE : MT4_OP.OP_CREDIT,
      orderby: request.login,
      price: toMoney(request.amountCents),
      comment: request.comment,
    };
    const code = await this.#api.TradeTransaction(info);
    if (code !== MT4_RET.RET_OK) return this.#ctx.failure('postBalance', code, true);
    return ok({
      ticket: info.order ?? 0,
      login: request.login,
      amountCents: request.amountCents,
      kind: request.kind,
      comment: cutMt4Comment(request.comment),
    });
  }

  async balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    const r = await this.#history('balanceHistory', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(r.value.filter(isMoneyRecord).map(balanceOpOfRecord));
  }

  async trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    const r = await this.#history('trades', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(r.value.filter((t) => t.cmd === MT4_OP.OP_BUY || t.cmd === MT4_OP.OP_SELL).map(tradeOfRecord));
  }

  async #history(op: string, login: number, from: number, to: number): Promise<Result<Mt4TradeRecord[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected(op);
    const r = await this.#api.TradesUserHistory(login, from, to);
    return r.code === MT4_RET.RET_OK ? ok(r.records) : this.#ctx.failure(op, r.code, false);
  }

  openPositions(login: number): Promise<Result<Trade[]>> {
    return this.#openTrades('openPositions', new Set([login]));
  }

  openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>> {
    return this.#openTrades('openPositionsOf', new Set(logins));
  }

  /** MT4 reads open trades server-wide only (TradesRequest): one request, filtered to the logins asked for. */
  async #openTrades(op: string, logins: ReadonlySet<number>): Promise<Result<Trade[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected(op);
    const r = await this.#api.TradesRequest();
    if (r.code !== MT4_RET.RET_OK) return this.#ctx.failure(op, r.code, false);
    return ok(r.records.filter((t) => logins.has(t.login)).map(tradeOfRecord));
  }

  async marginLevel(login: number): Promise<Result<MarginLevel>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('marginLevel');
    // MarginLevel's balance is balance + credit: the credit comes from the user record.
    const r = await this.#api.MarginLevelRequest(login);
    if (r.code !== MT4_RET.RET_OK || r.level === null) return this.#ctx.failure('marginLevel', r.code, false);
    const u = await this.#api.UserRecordsRequest([login]);
    if (u.code !== MT4_RET.RET_OK) return this.#ctx.failure('marginLevel', u.code, false);
    const user = u.records[0];
    if (user === undefined) return this.#ctx.notFound('marginLevel', MT4_RET.RET_OK_NONE, `no account ${login}`);
    return ok(marginLevelOf(login, r.level, fromMoney(user.credit)));
  }

  async groups(): Promise<Result<Group[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('groups');
    const r = await this.#api.GroupsRequest();
    if (r.code !== MT4_RET.RET_OK) return this.#ctx.failure('groups', r.code, false);
    return ok(r.groups.map(groupOf));
  }

  /** Pumping runs on an interface of its own, with its own connection and login (as in the samples). */
  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    if (!this.#ctx.connected || this.#credentials === null) return this.#ctx.notConnected('subscribe');
    const pump = this.#newInterface();
    const connect = await pump.Connect(this.serverId);
    if (connect !== MT4_RET.RET_OK) return this.#ctx.sideFailure('subscribe', connect, false);
    const login = await pump.Login(this.#credentials.login, this.#credentials.password);
    if (login !== MT4_RET.RET_OK) {
      pump.Disconnect();
      return this.#ctx.sideFailure('subscribe', login, false);
    }
    let open = true;
    const code = await pump.PumpingSwitchEx((code, type, data) => {
      if (!open) return;
      const event = pumpEventOf(code, type, data);
      if (event === null) return;
      if (event.type === 'stopped') open = false;
      listener(event);
    });
    if (code !== MT4_RET.RET_OK) {
      pump.Disconnect();
      return this.#ctx.sideFailure('subscribe', code, false);
    }
    const end = this.#ctx.track(() => {
      open = false;
      pump.Disconnect();
    });
    return ok({ close: end });
  }
}
