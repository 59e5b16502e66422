import { MT5_RET as R } from '../metatrader/codes.ts';
import {
  MT5_DEAL_ACTION,
  MT5_DEAL_ENTRY,
  MT5_DEAL_REASON,
  MT5_POSITION_ACTION,
  MT5_USER_RIGHT,
} from '../metatrader/constants.ts';
import { groupMatches } from '../metatrader/groups.ts';
import type { PumpMessage, PumpSubscription, SimCluster } from './cluster.ts';
import { type ClientOptions, type CodeTable, DialectClient, fromMoney, toMoney, toPrice } from './dialect.ts';
import type { MarginState, SimAccount, SimBalanceOp, SimClosedTrade, SimPosition } from './server.ts';

/**
 * The MT5 dialect: a simulated `IMTManagerAPI` as a manager application sees it. Objects carry the
 * property names of IMTUser / IMTAccount / IMTDeal / IMTPosition / IMTConGroup (as the Web API's JSON
 * does); codes are MT_RET_*; DealerBalance succeeds with MT_RET_REQUEST_DONE (10009), everything else
 * with MT_RET_OK. Following the facts file (2.7): Connect is one step with the manager's credentials;
 * after a lost connection the client reconnects by itself on the next request (the real API does it in
 * the background); sinks stay subscribed across reconnections. Choices where the facts are silent:
 * a timeout answers MT_RET_ERR_TIMEOUT, a connection broken in flight MT_RET_ERR_NETWORK, a request
 * while not connected MT_RET_ERR_CONNECTION.
 */

export interface Mt5User {
  Login: number;
  Group: string;
  Name: string;
  Email: string;
  Country: string;
  ID: string;
  Comment: string;
  Leverage: number;
  /** USER_RIGHT_* bits: ENABLED, READONLY, TRADE_DISABLED ... */
  Rights: number;
  Balance: number;
  Credit: number;
  Registration: number;
  /** Only when adding a user; never returned. */
  PassMain?: string;
  PassInvestor?: string;
}

export interface Mt5Account {
  Login: number;
  Balance: number;
  Credit: number;
  Profit: number;
  Equity: number;
  Margin: number;
  MarginFree: number;
  MarginLevel: number;
  MarginLeverage: number;
  /** The simulator's summary of the stop-out state: 0 ok, 1 margin call, 2 stop out. */
  SOActivation: number;
}

export interface Mt5Deal {
  Deal: number;
  Login: number;
  Action: number;
  Entry: number;
  Reason: number;
  Time: number;
  Symbol: string;
  /** 1/10000 lot. */
  Volume: number;
  Price: number;
  Profit: number;
  Comment: string;
  PositionID: number;
  /** The position's opening price (IMTDeal::PricePosition), on closing deals. */
  PricePosition: number;
  Dealer: number;
}

export interface Mt5Position {
  Position: number;
  Login: number;
  Symbol: string;
  Action: number;
  Volume: number;
  PriceOpen: number;
  TimeCreate: number;
  Digits: number;
}

export interface Mt5ConGroup {
  Group: string;
  Currency: string;
  DemoLeverage: number;
  DemoDeposit: number;
  MarginCall: number;
  MarginStopOut: number;
  /** The simulator's flag for a group that takes no new trades. */
  Enabled: boolean;
}

/** The subset of IMTUserSink / IMTDealSink / IMTPositionSink / IMTManagerSink the simulator calls. */
export interface Mt5Sink {
  OnConnect?(): void;
  OnDisconnect?(): void;
  OnUserAdd?(user: Mt5User): void;
  OnUserUpdate?(user: Mt5User): void;
  OnDealAdd?(deal: Mt5Deal): void;
  OnPositionAdd?(position: Mt5Position): void;
  OnPositionDelete?(position: Mt5Position): void;
}

export const MT5_CODES: CodeTable = {
  ok: R.MT_RET_OK,
  noConnection: R.MT_RET_ERR_CONNECTION,
  timeout: R.MT_RET_ERR_TIMEOUT,
  lost: R.MT_RET_ERR_NETWORK,
  tooFrequent: R.MT_RET_ERR_FREQUENT,
  noRights: R.MT_RET_ERR_PERMISSIONS,
  badCredentials: R.MT_RET_AUTH_ACCOUNT_INVALID,
  managerDisabled: R.MT_RET_AUTH_ACCOUNT_DISABLED,
  fail: {
    invalid: R.MT_RET_ERR_PARAMS,
    not_found: R.MT_RET_ERR_NOTFOUND,
    no_money: R.MT_RET_REQUEST_NO_MONEY,
    max_money: R.MT_RET_TRADE_MAX_MONEY,
    bad_type: R.MT_RET_ERR_PARAMS,
    login_exists: R.MT_RET_USR_LOGIN_EXIST,
    login_exhausted: R.MT_RET_USR_LOGIN_EXHAUSTED,
    login_prohibited: R.MT_RET_USR_LOGIN_PROHIBITED,
    bad_password: R.MT_RET_USR_INVALID_PASSWORD,
    trade_disabled: R.MT_RET_REQUEST_TRADE_DISABLED,
    bad_volume: R.MT_RET_REQUEST_INVALID_VOLUME,
  },
};

export class Mt5ManagerApi extends DialectClient {
  protected readonly codes = MT5_CODES;
  #address: string | null = null;
  #credentials: { login: number; password: string } | null = null;
  #sinks: Mt5Sink[] = [];
  #pump: PumpSubscription | null = null;

  constructor(cluster: SimCluster, options: ClientOptions) {
    super(cluster, options);
  }

  /** Connects and logs in: `address` is a server id of the cluster, optionally `:port`. */
  async Connect(address: string, login: number, password: string): Promise<number> {
    const code = this.openSession('Connect', address);
    if (code !== R.MT_RET_OK) return code;
    const auth = await this.authenticate('Connect.auth', login, password);
    if (auth !== R.MT_RET_OK) {
      this.closeSession();
      return auth;
    }
    this.#address = address;
    this.#credentials = { login, password };
    this.#attachPump();
    return R.MT_RET_OK;
  }

  Disconnect(): void {
    this.#address = null;
    this.#credentials = null;
    this.#pump = null;
    this.closeSession();
  }

  async TimeServerRequest(): Promise<{ code: number; time: number }> {
    const r = await this.#call('TimeServerRequest', 'login', null, () => ({
      code: R.MT_RET_OK,
      time: this.server.serverSec(),
    }));
    return this.orEmpty(r, { time: 0 });
  }

  /** Adds a user; `user.Login` 0 lets the server allocate. On success `user.Login` holds the login. */
  async UserAdd(user: Mt5User): Promise<number> {
    return (await this.#call(
      'UserAdd',
      'accounts',
      () => user.Group,
      () => {
        const r = this.server.createAccount({
          login: user.Login,
          group: user.Group,
          name: user.Name,
          email: user.Email,
          country: user.Country,
          externalId: user.ID,
          comment: user.Comment,
          leverage: user.Leverage,
          password: user.PassMain ?? '',
          investorPassword: user.PassInvestor,
          enabled: (user.Rights & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0,
          readOnly: (user.Rights & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0,
        });
        if (!r.ok) return this.failCode(r.fail);
        user.Login = r.value.login;
        return R.MT_RET_OK;
      },
    )) as number;
  }

  async UserRequest(login: number): Promise<{ code: number; user: Mt5User | null }> {
    const r = await this.#call(
      'UserRequest',
      'login',
      () => this.groupOf(login),
      () => {
        const a = this.server.accounts.get(login);
        if (a === undefined) return R.MT_RET_ERR_NOTFOUND;
        return { code: R.MT_RET_OK, user: mt5User(a) };
      },
    );
    return this.orEmpty(r, { user: null });
  }

  /** Users of the groups matching `mask` (real: UserRequestByGroup / Web API user/get_batch). */
  async UserRequestByGroup(mask: string): Promise<{ code: number; users: Mt5User[] }> {
    const r = await this.#call('UserRequestByGroup', 'login', null, () => {
      const users: Mt5User[] = [];
      for (const a of this.server.accounts.values()) {
        if (groupMatches([mask], a.group) && this.mayUseGroup(a.group)) users.push(mt5User(a));
      }
      return { code: R.MT_RET_OK, users };
    });
    return this.orEmpty(r, { users: [] });
  }

  /** Updates a user from the object; Balance and Credit are ignored (use DealerBalance). */
  async UserUpdate(user: Mt5User): Promise<number> {
    return (await this.#call(
      'UserUpdate',
      'accounts',
      () => this.groupOf(user.Login),
      () =>
        this.updateAccountAs(user.Login, {
          group: user.Group,
          leverage: user.Leverage,
          enabled: (user.Rights & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0,
          readOnly: (user.Rights & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0,
          name: user.Name,
          email: user.Email,
          country: user.Country,
          comment: user.Comment,
        }),
    )) as number;
  }

  /** `type`: USER_PASS_MAIN 0 or USER_PASS_INVESTOR 1. */
  async UserPasswordChange(type: number, login: number, password: string): Promise<number> {
    return (await this.#call(
      'UserPasswordChange',
      'accounts',
      () => this.groupOf(login),
      () => {
        if (type !== 0 && type !== 1) return R.MT_RET_ERR_PARAMS;
        return this.codeOf(this.server.setPassword(login, type === 0 ? 'main' : 'investor', password));
      },
    )) as number;
  }

  async UserAccountRequest(login: number): Promise<{ code: number; account: Mt5Account | null }> {
    const r = await this.#call(
      'UserAccountRequest',
      'login',
      () => this.groupOf(login),
      () => {
        const m = this.server.marginOf(login);
        if (!m.ok) return this.failCode(m.fail);
        return { code: R.MT_RET_OK, account: mt5Account(m.value) };
      },
    );
    return this.orEmpty(r, { account: null });
  }

  /**
   * A balance operation: `value` signed (positive in), `type` one of the DealerBalance deal types.
   * Success is MT_RET_REQUEST_DONE (10009) with the deal ticket; the comment is cut at 31 characters.
   */
  async DealerBalance(
    login: number,
    value: number,
    type: number,
    comment: string,
    /**
     * Not in IMTManagerAPI::DealerBalance (it always checks): the Web API's `check_margin=0` reaches the server
     * through the same dealer path, so the served Web API passes it here.
     */
    options: { checkMargin?: boolean } = {},
  ): Promise<{ code: number; dealId: number }> {
    const r = await this.#call(
      'DealerBalance',
      'money',
      () => this.groupOf(login),
      () => {
        if (!Number.isFinite(value)) return R.MT_RET_ERR_PARAMS;
        const kind = type === MT5_DEAL_ACTION.DEAL_CREDIT ? 'credit' : 'balance';
        const op = this.server.postBalance(login, kind, fromMoney(value), comment, type, this.managerActor(), options);
        if (!op.ok) return this.failCode(op.fail);
        return { code: R.MT_RET_REQUEST_DONE, dealId: op.value.ticket };
      },
    );
    return this.orEmpty(r, { dealId: 0 });
  }

  /** Deals of `login` in [from, to] (server-time seconds): balance deals and the in/out deals of closed trades. */
  async DealRequest(login: number, from: number, to: number): Promise<{ code: number; deals: Mt5Deal[] }> {
    const r = await this.#call(
      'DealRequest',
      'trades',
      () => this.groupOf(login),
      () => {
        const { ops, trades, open } = this.server.history(login, from, to);
        const deals: Mt5Deal[] = ops.map(balanceDeal);
        // Each deal is in history by its own time: a trade opened before the range shows only its closing deal.
        for (const t of trades) {
          if (t.openServerSec >= from && t.openServerSec <= to) deals.push(openDeal(t));
          if (t.closeServerSec >= from && t.closeServerSec <= to) deals.push(closeDeal(t));
        }
        for (const p of open) deals.push(openDeal(p));
        deals.sort((a, b) => a.Time - b.Time || a.Deal - b.Deal);
        return { code: R.MT_RET_OK, deals };
      },
    );
    return this.orEmpty(r, { deals: [] });
  }

  async PositionRequest(login: number): Promise<{ code: number; positions: Mt5Position[] }> {
    const r = await this.#call(
      'PositionRequest',
      'trades',
      () => this.groupOf(login),
      () => {
        if (!this.server.accounts.has(login)) return R.MT_RET_ERR_NOTFOUND;
        return { code: R.MT_RET_OK, positions: this.server.openPositions(login).map(mt5Position) };
      },
    );
    return this.orEmpty(r, { positions: [] });
  }

  /**
   * The open positions of several logins in one request (real: PositionRequestByLogins). Where the facts file
   * is silent: a login the server does not have, or outside the manager's groups, adds none (no refusal).
   */
  async PositionRequestByLogins(logins: readonly number[]): Promise<{ code: number; positions: Mt5Position[] }> {
    const r = await this.#call('PositionRequestByLogins', 'trades', null, () => {
      const positions: Mt5Position[] = [];
      for (const login of new Set(logins)) {
        const group = this.groupOf(login);
        if (group === null || !this.mayUseGroup(group)) continue;
        for (const p of this.server.openPositions(login)) positions.push(mt5Position(p));
      }
      return { code: R.MT_RET_OK, positions };
    });
    return this.orEmpty(r, { positions: [] });
  }

  /** Group configurations matching `mask` (real: GroupRequestArray). */
  async GroupRequestArray(mask: string): Promise<{ code: number; groups: Mt5ConGroup[] }> {
    const r = await this.#call('GroupRequestArray', 'login', null, () => {
      const groups = [...this.server.groups.values()]
        .filter((g) => groupMatches([mask], g.name))
        .map((g) => ({
          Group: g.name,
          Currency: g.currency,
          DemoLeverage: g.leverage,
          DemoDeposit: toMoney(g.depositCents),
          MarginCall: g.marginCallPct,
          MarginStopOut: g.stopOutPct,
          Enabled: g.enabled,
        }));
      return { code: R.MT_RET_OK, groups };
    });
    return this.orEmpty(r, { groups: [] });
  }

  /** Registers a sink for user, deal and position events (and connect/disconnect). */
  Subscribe(sink: Mt5Sink): number {
    this.#sinks.push(sink);
    this.#attachPump();
    return R.MT_RET_OK;
  }

  Unsubscribe(sink: Mt5Sink): number {
    this.#sinks = this.#sinks.filter((s) => s !== sink);
    return R.MT_RET_OK;
  }

  /** Requests go through here: a dropped connection is re-established first, as the real API does. */
  #call<T extends number | { code: number }>(
    op: string,
    right: 'login' | 'accounts' | 'money' | 'trades',
    group: (() => string | null) | null,
    apply: () => T,
  ): T | number | Promise<T | number> {
    if (this.#credentials !== null && (this.session === null || this.session.state === 'dropped')) {
      return this.#reconnect().then(() => this.request(op, right, group, apply));
    }
    return this.request(op, right, group, apply);
  }

  async #reconnect(): Promise<void> {
    const address = this.#address as string;
    const { login, password } = this.#credentials as { login: number; password: string };
    this.#pump = null;
    const code = this.openSession('Reconnect', address);
    if (code !== R.MT_RET_OK) return;
    if ((await this.authenticate('Reconnect.auth', login, password)) !== R.MT_RET_OK) return;
    this.#attachPump();
    for (const sink of this.#sinks) sink.OnConnect?.();
  }

  #attachPump(): void {
    if (this.#pump !== null || this.#sinks.length === 0 || this.session === null || this.manager === null) return;
    const server = this.server;
    this.#pump = this.subscribeRaw((message: PumpMessage) => {
      if (message.type !== 'stopped') {
        // Like every read, the pump shows only the accounts of the groups the manager may see.
        const group = server.accounts.get(message.login)?.group;
        if (group === undefined || !this.mayUseGroup(group)) return;
      }
      for (const sink of this.#sinks) {
        switch (message.type) {
          case 'stopped':
            sink.OnDisconnect?.();
            break;
          case 'user': {
            const a = server.accounts.get(message.login);
            if (a === undefined) break;
            if (message.action === 'add') sink.OnUserAdd?.(mt5User(a));
            else sink.OnUserUpdate?.(mt5User(a));
            break;
          }
          case 'balance':
            sink.OnDealAdd?.(balanceDeal(message.op));
            break;
          case 'trade':
            if (message.action === 'open') {
              sink.OnPositionAdd?.(mt5Position(message.position));
              sink.OnDealAdd?.(openDeal(message.position));
            } else {
              sink.OnPositionDelete?.(mt5Position(message.position));
              sink.OnDealAdd?.(closeDeal(message.position));
            }
            break;
        }
      }
      if (message.type === 'stopped') this.#pump = null;
    });
  }
}

/** The IMTUser a server builds from its account record (also what the served Web API answers a user/add with). */
export function mt5User(a: SimAccount): Mt5User {
  let rights = MT5_USER_RIGHT.USER_RIGHT_DEFAULT & ~MT5_USER_RIGHT.USER_RIGHT_ENABLED;
  if (a.enabled) rights |= MT5_USER_RIGHT.USER_RIGHT_ENABLED;
  if (a.readOnly) rights |= MT5_USER_RIGHT.USER_RIGHT_READONLY;
  return {
    Login: a.login,
    Group: a.group,
    Name: a.name,
    Email: a.email,
    Country: a.country,
    ID: a.externalId,
    Comment: a.comment,
    Leverage: a.leverage,
    Rights: rights,
    Balance: toMoney(a.balanceCents),
    Credit: toMoney(a.creditCents),
    Registration: a.registeredServerSec,
  };
}

function mt5Account(m: MarginState): Mt5Account {
  return {
    Login: m.login,
    Balance: toMoney(m.balanceCents),
    Credit: toMoney(m.creditCents),
    Profit: toMoney(m.floatingCents),
    Equity: toMoney(m.equityCents),
    Margin: toMoney(m.marginCents),
    MarginFree: toMoney(m.freeMarginCents),
    MarginLevel: m.marginLevelPct,
    MarginLeverage: m.leverage,
    SOActivation: m.state === 'stop_out' ? 2 : m.state === 'margin_call' ? 1 : 0,
  };
}

function balanceDeal(op: SimBalanceOp): Mt5Deal {
  return {
    Deal: op.ticket,
    Login: op.login,
    Action: op.platformType,
    Entry: MT5_DEAL_ENTRY.ENTRY_IN,
    Reason: op.actor.by === 'dealer' ? MT5_DEAL_REASON.DEAL_REASON_DEALER : MT5_DEAL_REASON.DEAL_REASON_CLIENT,
    Time: op.serverSec,
    Symbol: '',
    Volume: 0,
    Price: 0,
    Profit: toMoney(op.amountCents),
    Comment: op.comment,
    PositionID: 0,
    PricePosition: 0,
    Dealer: op.actor.by === 'manager' ? op.actor.login : 0,
  };
}

function openDeal(p: SimPosition): Mt5Deal {
  return {
    Deal: p.openDeal,
    Login: p.login,
    Action: p.side === 'buy' ? MT5_DEAL_ACTION.DEAL_BUY : MT5_DEAL_ACTION.DEAL_SELL,
    Entry: MT5_DEAL_ENTRY.ENTRY_IN,
    Reason: MT5_DEAL_REASON.DEAL_REASON_CLIENT,
    Time: p.openServerSec,
    Symbol: p.symbol,
    Volume: p.volume * 100,
    Price: toPrice(p.openPrice, p.digits),
    Profit: 0,
    Comment: '',
    PositionID: p.ticket,
    PricePosition: toPrice(p.openPrice, p.digits),
    Dealer: 0,
  };
}

/** The closing deal: the opposite deal on the same position, at the close. */
function closeDeal(t: SimClosedTrade): Mt5Deal {
  return {
    ...openDeal(t),
    Deal: t.closeDeal,
    Action: t.side === 'buy' ? MT5_DEAL_ACTION.DEAL_SELL : MT5_DEAL_ACTION.DEAL_BUY,
    Entry: MT5_DEAL_ENTRY.ENTRY_OUT,
    Time: t.closeServerSec,
    Price: toPrice(t.closePrice, t.digits),
    Profit: toMoney(t.profitCents),
  };
}

function mt5Position(p: SimPosition): Mt5Position {
  return {
    Position: p.ticket,
    Login: p.login,
    Symbol: p.symbol,
    Action: p.side === 'buy' ? MT5_POSITION_ACTION.POSITION_BUY : MT5_POSITION_ACTION.POSITION_SELL,
    Volume: p.volume * 100,
    PriceOpen: toPrice(p.openPrice, p.digits),
    TimeCreate: p.openServerSec,
    Digits: p.digits,
  };
}
