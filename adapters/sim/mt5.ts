import type { Clock } from '../../kit/clock.ts';
import { MT5_RET } from '../../metatrader/codes.ts';
import { MT5_DEAL_ACTION, MT5_POSITION_ACTION, MT5_USER_PASS, MT5_USER_RIGHT } from '../../metatrader/constants.ts';
import { cutMt5Comment, MT5_LIMITS } from '../../metatrader/limits.ts';
import {
  fromMoney,
  type Mt5Deal,
  Mt5ManagerApi,
  type Mt5Position,
  type Mt5Sink,
  type Mt5User,
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
import { balanceOpOfDeal, closedTradesOfDeals, isBalanceDeal, type Mt5DealFacts } from '../port/mt5-deals.ts';
import { assertCents, CallContext, OK_VOID, ok } from './common.ts';

/**
 * ManagerApi over a simulated MT5 server, through the MT5 dialect as the DLL adapter will go through
 * `IMTManagerAPI`: DealerBalance (success 10009) for money, DealRequest for history, sinks for pumping.
 */
export class SimMt5ManagerApi implements ManagerApi {
  readonly platform = 'mt5' as const;
  readonly serverId: string;
  readonly limits = Object.freeze({ commentChars: MT5_LIMITS.commentChars });
  readonly #ctx: CallContext;
  readonly #api: Mt5ManagerApi;

  constructor(cluster: SimCluster, serverId: string, options: { clock: Clock; timeoutMs?: number }) {
    this.serverId = serverId;
    this.#ctx = new CallContext('mt5', serverId);
    this.#api = new Mt5ManagerApi(cluster, { clock: options.clock, timeoutMs: options.timeoutMs });
  }

  isConnected(): boolean {
    return this.#ctx.connected;
  }

  async connect(credentials: Credentials): Promise<Result<ManagerSession>> {
    this.#endConnection();
    const code = await this.#api.Connect(this.serverId, credentials.login, credentials.password);
    if (code !== MT5_RET.MT_RET_OK) return this.#ctx.failure('connect', code, false);
    this.#ctx.connected = true;
    return ok({ login: credentials.login, rights: null });
  }

  async close(): Promise<void> {
    this.#endConnection();
  }

  #endConnection(): void {
    // The MT5 API keeps sinks across connections; the port's subscriptions end with their connection.
    this.#ctx.endAll();
    this.#api.Disconnect();
  }

  /** MT5 has no Ping: a server-time request is the round trip. */
  async ping(): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('ping');
    const r = await this.#api.TimeServerRequest();
    return r.code === MT5_RET.MT_RET_OK ? OK_VOID : this.#ctx.failure('ping', r.code, false);
  }

  async serverTime(): Promise<Result<number>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('serverTime');
    const r = await this.#api.TimeServerRequest();
    return r.code === MT5_RET.MT_RET_OK ? ok(r.time) : this.#ctx.failure('serverTime', r.code, false);
  }

  async createAccount(account: NewAccount): Promise<Result<{ login: number }>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('createAccount');
    let leverage = account.leverage;
    if (leverage === undefined) {
      const groups = await this.groups();
      if (!groups.ok) return groups;
      leverage = groups.value.find((g) => g.name === account.group)?.leverage ?? 100;
    }
    const user: Mt5User = {
      Login: account.login ?? 0,
      Group: account.group,
      Name: account.name,
      Email: account.email ?? '',
      Country: account.country ?? '',
      ID: account.externalId ?? '',
      Comment: account.comment ?? '',
      Leverage: leverage,
      Rights: rights(account.enabled ?? true, account.readOnly ?? false),
      Balance: 0,
      Credit: 0,
      Registration: 0,
      PassMain: account.password,
      PassInvestor: account.investorPassword ?? account.password,
    };
    const code = await this.#api.UserAdd(user);
    return code === MT5_RET.MT_RET_OK ? ok({ login: user.Login }) : this.#ctx.failure('createAccount', code, true);
  }

  async getAccount(login: number): Promise<Result<Account>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('getAccount');
    const r = await this.#api.UserRequest(login);
    if (r.code !== MT5_RET.MT_RET_OK || r.user === null) return this.#ctx.failure('getAccount', r.code, false);
    return ok(account(r.user));
  }

  async listAccounts(groupMask: string): Promise<Result<Account[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('listAccounts');
    const r = await this.#api.UserRequestByGroup(groupMask);
    return r.code === MT5_RET.MT_RET_OK ? ok(r.users.map(account)) : this.#ctx.failure('listAccounts', r.code, false);
  }

  async updateAccount(login: number, patch: AccountPatch): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('updateAccount');
    const r = await this.#api.UserRequest(login);
    if (r.code !== MT5_RET.MT_RET_OK || r.user === null) return this.#ctx.failure('updateAccount', r.code, false);
    const user = r.user;
    if (patch.group !== undefined) user.Group = patch.group;
    if (patch.leverage !== undefined) user.Leverage = patch.leverage;
    if (patch.name !== undefined) user.Name = patch.name;
    if (patch.email !== undefined) user.Email = patch.email;
    if (patch.country !== undefined) user.Country = patch.country;
    const enabled = patch.enabled ?? (user.Rights & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0;
    const readOnly = patch.readOnly ?? (user.Rights & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0;
    user.Rights = rights(enabled, readOnly, user.Rights);
    const code = await this.#api.UserUpdate(user);
    return code === MT5_RET.MT_RET_OK ? OK_VOID : this.#ctx.failure('updateAccount', code, true);
  }

  async setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('setPassword');
    const type = kind === 'main' ? MT5_USER_PASS.USER_PASS_MAIN : MT5_USER_PASS.USER_PASS_INVESTOR;
    const code = await this.#api.UserPasswordChange(type, login, password);
    return code === MT5_RET.MT_RET_OK ? OK_VOID : this.#ctx.failure('setPassword', code, true);
  }

  async postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>> {
    assertCents(request.amountCents, 'postBalance');
    if (!this.#ctx.connected) return this.#ctx.notConnected('postBalance');
    const type = request.kind === 'balance' ? MT5_DEAL_ACTION.DEAL_BALANCE : MT5_DEAL_ACTION.DEAL_CREDIT;
    const r = await this.#api.DealerBalance(request.login, toMoney(request.amountCents), type, request.comment);
    if (r.code !== MT5_RET.MT_RET_REQUEST_DONE) return this.#ctx.failure('postBalance', r.code, true);
    return ok({
      ticket: r.dealId,
      login: request.login,
      amountCents: request.amountCents,
      kind: request.kind,
      comment: cutMt5Comment(request.comment),
    });
  }

  async balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>> {
    const r = await this.#deals('balanceHistory', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(r.value.map(dealFacts).filter(isBalanceDeal).map(balanceOpOfDeal));
  }

  async trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>> {
    const r = await this.#deals('trades', login, fromServerSec, toServerSec);
    if (!r.ok) return r;
    return ok(closedTradesOfDeals(r.value.map(dealFacts)));
  }

  async #deals(op: string, login: number, from: number, to: number): Promise<Result<Mt5Deal[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected(op);
    const r = await this.#api.DealRequest(login, from, to);
    return r.code === MT5_RET.MT_RET_OK ? ok(r.deals) : this.#ctx.failure(op, r.code, false);
  }

  async openPositions(login: number): Promise<Result<Trade[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('openPositions');
    const r = await this.#api.PositionRequest(login);
    return r.code === MT5_RET.MT_RET_OK
      ? ok(r.positions.map(position))
      : this.#ctx.failure('openPositions', r.code, false);
  }

  async openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('openPositionsOf');
    const r = await this.#api.PositionRequestByLogins(logins);
    return r.code === MT5_RET.MT_RET_OK
      ? ok(r.positions.map(position))
      : this.#ctx.failure('openPositionsOf', r.code, false);
  }

  async marginLevel(login: number): Promise<Result<MarginLevel>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('marginLevel');
    const r = await this.#api.UserAccountRequest(login);
    if (r.code !== MT5_RET.MT_RET_OK || r.account === null) return this.#ctx.failure('marginLevel', r.code, false);
    const a = r.account;
    return ok({
      login,
      balanceCents: fromMoney(a.Balance),
      creditCents: fromMoney(a.Credit),
      equityCents: fromMoney(a.Equity),
      marginCents: fromMoney(a.Margin),
      freeMarginCents: fromMoney(a.MarginFree),
      marginLevelPct: a.MarginLevel,
      state: a.SOActivation === 2 ? 'stop_out' : a.SOActivation === 1 ? 'margin_call' : 'ok',
    });
  }

  async groups(): Promise<Result<Group[]>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('groups');
    const r = await this.#api.GroupRequestArray('*');
    if (r.code !== MT5_RET.MT_RET_OK) return this.#ctx.failure('groups', r.code, false);
    return ok(
      r.groups.map((g) => ({
        name: g.Group,
        currency: g.Currency,
        leverage: g.DemoLeverage,
        depositCents: fromMoney(g.DemoDeposit),
        marginCallPct: g.MarginCall,
        stopOutPct: g.MarginStopOut,
        enabled: g.Enabled,
      })),
    );
  }

  async subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>> {
    if (!this.#ctx.connected) return this.#ctx.notConnected('subscribe');
    let open = true;
    const emit = (event: PumpEvent): void => {
      if (open) listener(event);
    };
    const sink: Mt5Sink = {
      OnDisconnect: () => {
        emit({ type: 'stopped' });
        end();
      },
      OnUserAdd: (u) => emit({ type: 'user', action: 'add', login: u.Login }),
      OnUserUpdate: (u) => emit({ type: 'user', action: 'update', login: u.Login }),
      OnDealAdd: (d) => {
        const facts = dealFacts(d);
        if (!isBalanceDeal(facts)) return;
        const op = balanceOpOfDeal(facts);
        emit({
          type: 'balance',
          login: op.login,
          ticket: op.ticket,
          kind: op.kind,
          amountCents: op.amountCents,
          comment: op.comment,
        });
      },
      OnPositionAdd: (p) => emit({ type: 'trade', action: 'open', login: p.Login, ticket: p.Position }),
      OnPositionDelete: (p) => emit({ type: 'trade', action: 'close', login: p.Login, ticket: p.Position }),
    };
    const code = this.#api.Subscribe(sink);
    if (code !== MT5_RET.MT_RET_OK) return this.#ctx.failure('subscribe', code, false);
    const end = this.#ctx.track(() => {
      open = false;
      this.#api.Unsubscribe(sink);
    });
    return ok({ close: end });
  }
}

function rights(enabled: boolean, readOnly: boolean, base: number = MT5_USER_RIGHT.USER_RIGHT_DEFAULT): number {
  let r = base & ~(MT5_USER_RIGHT.USER_RIGHT_ENABLED | MT5_USER_RIGHT.USER_RIGHT_READONLY);
  if (enabled) r |= MT5_USER_RIGHT.USER_RIGHT_ENABLED;
  if (readOnly) r |= MT5_USER_RIGHT.USER_RIGHT_READONLY;
  return r;
}

function account(u: Mt5User): Account {
  return {
    login: u.Login,
    group: u.Group,
    name: u.Name,
    email: u.Email,
    country: u.Country,
    externalId: u.ID,
    leverage: u.Leverage,
    enabled: (u.Rights & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0,
    readOnly: (u.Rights & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0,
    balanceCents: fromMoney(u.Balance),
    creditCents: fromMoney(u.Credit),
    registeredServerSec: u.Registration,
  };
}

/** The simulated IMTDeal as the port's MT5 deal reader takes it. */
function dealFacts(d: Mt5Deal): Mt5DealFacts {
  return {
    deal: d.Deal,
    login: d.Login,
    action: d.Action,
    entry: d.Entry,
    time: d.Time,
    symbol: d.Symbol,
    price: d.Price,
    volume: d.Volume,
    profit: d.Profit,
    positionId: d.PositionID,
    comment: d.Comment,
    pricePosition: d.PricePosition,
  };
}

function position(p: Mt5Position): Trade {
  return {
    ticket: p.Position,
    login: p.Login,
    symbol: p.Symbol,
    side: p.Action === MT5_POSITION_ACTION.POSITION_BUY ? 'buy' : 'sell',
    volumeCentiLots: p.Volume / 100,
    openPrice: p.PriceOpen,
    openServerSec: p.TimeCreate,
  };
}
