import { Process } from '../kit/scheduler.ts';
import { MT4_RET as R } from '../metatrader/codes.ts';
import { MT4_MARGINLEVEL, MT4_OP, MT4_PUMP, MT4_TRANS, MT4_TS, MT4_TT } from '../metatrader/constants.ts';
import type { PumpMessage, PumpSubscription, SimCluster } from './cluster.ts';
import { type ClientOptions, type CodeTable, DialectClient, fromMoney, toMoney, toPrice } from './dialect.ts';
import type { MarginState, SimAccount, SimBalanceOp, SimClosedTrade, SimPosition } from './server.ts';

/**
 * The MT4 dialect: a simulated `CManagerInterface` as a manager application sees it. Method names,
 * record fields and RET_* codes follow the facts file (1.4–1.7). Where the facts are silent the
 * simulator makes a choice and says so:
 * - TradeTransaction writes the new ticket into `info.order` (not confirmed for the real DLL);
 * - a refused request for an unknown login answers RET_INVALID_DATA; an empty UserRecordsRequest is RET_OK
 *   with no records (the adapter reports "not found" as RET_OK_NONE);
 * - a broken connection, in flight or before sending, answers RET_NO_CONNECT; a timeout RET_TRADE_TIMEOUT;
 * - withdrawals follow the MT5 rules (not above balance nor free margin): RET_TRADE_NO_MONEY.
 * Amounts are doubles in account currency, as in the real structs; times are server-time seconds.
 */

export interface Mt4UserRecord {
  login: number;
  group: string;
  password: string;
  enable: number;
  enable_read_only: number;
  password_investor: string;
  name: string;
  country: string;
  email: string;
  comment: string;
  id: string;
  leverage: number;
  regdate: number;
  balance: number;
  credit: number;
}

export interface Mt4TradeRecord {
  order: number;
  login: number;
  symbol: string;
  digits: number;
  cmd: number;
  /** Lots x 100. */
  volume: number;
  open_time: number;
  state: number;
  open_price: number;
  close_time: number;
  close_price: number;
  profit: number;
  comment: string;
}

export interface Mt4TradeTransInfo {
  type: number;
  cmd: number;
  order?: number;
  orderby: number;
  price: number;
  comment: string;
  expiration?: number;
}

export interface Mt4MarginLevel {
  login: number;
  group: string;
  leverage: number;
  /** Balance + credit, as the header comments it. */
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number;
  level_type: number;
}

export interface Mt4ConGroup {
  group: string;
  enable: number;
  currency: string;
  default_deposit: number;
  default_leverage: number;
  margin_call: number;
  margin_stopout: number;
}

export interface Mt4ConManager {
  login: number;
  manager: number;
  money: number;
  see_trades: number;
  groups: string;
}

/** The extended pumping callback: (code, type, data). `data` is a UserRecord or TradeRecord, or null. */
export type Mt4PumpCallback = (code: number, type: number, data: Mt4UserRecord | Mt4TradeRecord | null) => void;

export const MT4_CODES: CodeTable = {
  ok: R.RET_OK,
  noConnection: R.RET_NO_CONNECT,
  timeout: R.RET_TRADE_TIMEOUT,
  lost: R.RET_NO_CONNECT,
  tooFrequent: R.RET_TOO_FREQUENT,
  noRights: R.RET_NOT_ENOUGH_RIGHTS,
  badCredentials: R.RET_BAD_ACCOUNT_INFO,
  managerDisabled: R.RET_ACCOUNT_DISABLED,
  fail: {
    invalid: R.RET_INVALID_DATA,
    not_found: R.RET_INVALID_DATA,
    no_money: R.RET_TRADE_NO_MONEY,
    max_money: R.RET_INVALID_DATA,
    bad_type: R.RET_INVALID_DATA,
    login_exists: R.RET_INVALID_DATA,
    login_exhausted: R.RET_ERROR,
    login_prohibited: R.RET_INVALID_DATA,
    bad_password: R.RET_INVALID_DATA,
    trade_disabled: R.RET_TRADE_DISABLE,
    bad_volume: R.RET_TRADE_BAD_VOLUME,
  },
};

export class Mt4ManagerInterface extends DialectClient {
  protected readonly codes = MT4_CODES;
  #pump: PumpSubscription | null = null;

  constructor(cluster: SimCluster, options: ClientOptions) {
    super(cluster, options);
  }

  /** Connects to `address` (a server id of the cluster, optionally `:port`). */
  async Connect(address: string): Promise<number> {
    return this.openSession('Connect', address);
  }

  Disconnect(): number {
    this.#pump = null;
    this.closeSession();
    return R.RET_OK;
  }

  /** 1 while the socket is up: a silently logged-out session still says 1. */
  IsConnected(): number {
    return this.session !== null && this.session.state === 'open' ? 1 : 0;
  }

  Login(login: number, password: string): Promise<number> {
    return this.authenticate('Login', login, password);
  }

  async Ping(): Promise<number> {
    return (await this.request('Ping', 'login', null, () => R.RET_OK)) as number;
  }

  async ManagerRights(): Promise<{ code: number; rights: Mt4ConManager | null }> {
    const r = await this.request('ManagerRights', 'login', null, () => {
      const m = this.manager as NonNullable<typeof this.manager>;
      return {
        code: R.RET_OK,
        rights: {
          login: m.login,
          manager: m.rights.accounts ? 1 : 0,
          money: m.rights.money ? 1 : 0,
          see_trades: m.rights.trades ? 1 : 0,
          groups: m.groups.join(','),
        },
      };
    });
    return this.orEmpty(r, { rights: null });
  }

  async ServerTime(): Promise<{ code: number; time: number }> {
    const r = await this.request('ServerTime', 'login', null, () => ({
      code: R.RET_OK,
      time: this.server.serverSec(),
    }));
    return this.orEmpty(r, { time: 0 });
  }

  /** Creates an account; on RET_OK `record.login` holds the login (allocated when it was 0). */
  async UserRecordNew(record: Mt4UserRecord): Promise<number> {
    return (await this.request(
      'UserRecordNew',
      'accounts',
      () => record.group,
      () => {
        const r = this.server.createAccount({
          login: record.login,
          group: record.group,
          name: record.name,
          email: record.email,
          country: record.country,
          externalId: record.id,
          comment: record.comment,
          leverage: record.leverage,
          password: record.password,
          investorPassword: record.password_investor,
          enabled: record.enable !== 0,
          readOnly: record.enable_read_only !== 0,
        });
        if (!r.ok) return this.failCode(r.fail);
        record.login = r.value.login;
        return R.RET_OK;
      },
    )) as number;
  }

  /** Updates an account from a full record (MT4 replaces the record; balance fields are ignored). */
  async UserRecordUpdate(record: Mt4UserRecord): Promise<number> {
    return (await this.request(
      'UserRecordUpdate',
      'accounts',
      () => this.groupOf(record.login),
      () =>
        this.updateAccountAs(record.login, {
          group: record.group,
          leverage: record.leverage,
          enabled: record.enable !== 0,
          readOnly: record.enable_read_only !== 0,
          name: record.name,
          email: record.email,
          country: record.country,
          comment: record.comment,
        }),
    )) as number;
  }

  async UserPasswordSet(login: number, password: string, changeInvestor: boolean): Promise<number> {
    return (await this.request(
      'UserPasswordSet',
      'accounts',
      () => this.groupOf(login),
      () => this.codeOf(this.server.setPassword(login, changeInvestor ? 'investor' : 'main', password)),
    )) as number;
  }

  /** Records of the given logins the manager may see; unknown logins are simply absent. */
  async UserRecordsRequest(logins: readonly number[]): Promise<{ code: number; records: Mt4UserRecord[] }> {
    const r = await this.request('UserRecordsRequest', 'login', null, () => {
      const records: Mt4UserRecord[] = [];
      for (const login of logins) {
        const a = this.server.accounts.get(login);
        if (a !== undefined && this.mayUseGroup(a.group)) records.push(userRecord(a));
      }
      return { code: R.RET_OK, records };
    });
    return this.orEmpty(r, { records: [] });
  }

  /** Every account the manager may see (real MT4: UsersRequest). */
  async UsersRequest(): Promise<{ code: number; records: Mt4UserRecord[] }> {
    const r = await this.request('UsersRequest', 'login', null, () => {
      const records: Mt4UserRecord[] = [];
      for (const a of this.server.accounts.values()) if (this.mayUseGroup(a.group)) records.push(userRecord(a));
      return { code: R.RET_OK, records };
    });
    return this.orEmpty(r, { records: [] });
  }

  /**
   * Balance and credit: `type` TT_BR_BALANCE, `cmd` OP_BALANCE or OP_CREDIT, `orderby` the login,
   * `price` the signed amount, `comment` cut at 31 bytes. On RET_OK `info.order` is the new ticket.
   */
  async TradeTransaction(info: Mt4TradeTransInfo): Promise<number> {
    const right = info.type === MT4_TT.TT_BR_BALANCE ? 'money' : 'trades';
    return (await this.request(
      'TradeTransaction',
      right,
      () => this.groupOf(info.orderby),
      () => {
        if (info.type !== MT4_TT.TT_BR_BALANCE || (info.cmd !== MT4_OP.OP_BALANCE && info.cmd !== MT4_OP.OP_CREDIT)) {
          return R.RET_INVALID_DATA;
        }
        if (!Number.isFinite(info.price)) return R.RET_INVALID_DATA;
        const kind = info.cmd === MT4_OP.OP_BALANCE ? 'balance' : 'credit';
        const r = this.server.postBalance(
          info.orderby,
          kind,
          fromMoney(info.price),
          info.comment,
          info.cmd,
          this.managerActor(),
        );
        if (!r.ok) return this.failCode(r.fail);
        info.order = r.value.ticket;
        return R.RET_OK;
      },
    )) as number;
  }

  /** Closed trades and balance operations of `login` in [from, to] (server-time seconds). */
  async TradesUserHistory(
    login: number,
    from: number,
    to: number,
  ): Promise<{ code: number; records: Mt4TradeRecord[] }> {
    const r = await this.request(
      'TradesUserHistory',
      'trades',
      () => this.groupOf(login),
      () => {
        const { ops, trades } = this.server.history(login, from, to);
        // MT4 history holds closed trades by their close time.
        const closed = trades.filter((t) => t.closeServerSec >= from && t.closeServerSec <= to);
        const records = [...ops.map(balanceRecord), ...closed.map(closedRecord)].sort(
          (a, b) => a.close_time - b.close_time || a.order - b.order,
        );
        return { code: R.RET_OK, records };
      },
    );
    return this.orEmpty(r, { records: [] });
  }

  /** Every open trade the manager may see (real MT4: TradesRequest). */
  async TradesRequest(): Promise<{ code: number; records: Mt4TradeRecord[] }> {
    const r = await this.request('TradesRequest', 'trades', null, () => {
      const records: Mt4TradeRecord[] = [];
      for (const p of this.server.allOpenPositions()) {
        const a = this.server.accounts.get(p.login);
        if (a !== undefined && this.mayUseGroup(a.group)) records.push(openRecord(p));
      }
      return { code: R.RET_OK, records };
    });
    return this.orEmpty(r, { records: [] });
  }

  async MarginLevelRequest(login: number): Promise<{ code: number; level: Mt4MarginLevel | null }> {
    const r = await this.request(
      'MarginLevelRequest',
      'login',
      () => this.groupOf(login),
      () => {
        const m = this.server.marginOf(login);
        if (!m.ok) return this.failCode(m.fail);
        return { code: R.RET_OK, level: marginRecord(m.value) };
      },
    );
    return this.orEmpty(r, { level: null });
  }

  async GroupsRequest(): Promise<{ code: number; groups: Mt4ConGroup[] }> {
    const r = await this.request('GroupsRequest', 'login', null, () => {
      const groups = [...this.server.groups.values()].map((g) => ({
        group: g.name,
        enable: g.enabled ? 1 : 0,
        currency: g.currency,
        default_deposit: toMoney(g.depositCents),
        default_leverage: g.leverage,
        margin_call: g.marginCallPct,
        margin_stopout: g.stopOutPct,
      }));
      return { code: R.RET_OK, groups };
    });
    return this.orEmpty(r, { groups: [] });
  }

  /**
   * Extended pumping on this interface: PUMP_START_PUMPING first, then PUMP_UPDATE_USERS /
   * PUMP_UPDATE_TRADES with TRANS_* and the record, and PUMP_STOP_PUMPING when the connection breaks.
   */
  async PumpingSwitchEx(callback: Mt4PumpCallback): Promise<number> {
    const code = await this.request('PumpingSwitchEx', 'login', null, () => R.RET_OK);
    if (code !== R.RET_OK) return code as number;
    if (this.#pump !== null) this.cluster.unsubscribe(this.#pump);
    const server = this.server;
    this.#pump = this.subscribeRaw((message: PumpMessage) => {
      switch (message.type) {
        case 'stopped':
          callback(MT4_PUMP.PUMP_STOP_PUMPING, 0, null);
          return;
        case 'user': {
          const a = server.accounts.get(message.login);
          if (a === undefined || !this.mayUseGroup(a.group)) return;
          callback(
            MT4_PUMP.PUMP_UPDATE_USERS,
            message.action === 'add' ? MT4_TRANS.TRANS_ADD : MT4_TRANS.TRANS_UPDATE,
            userRecord(a),
          );
          return;
        }
        case 'balance':
          if (!this.mayUseGroup(server.accounts.get(message.login)?.group ?? '')) return;
          callback(MT4_PUMP.PUMP_UPDATE_TRADES, MT4_TRANS.TRANS_ADD, balanceRecord(message.op));
          return;
        case 'trade':
          if (!this.mayUseGroup(server.accounts.get(message.login)?.group ?? '')) return;
          if (message.action === 'open')
            callback(MT4_PUMP.PUMP_UPDATE_TRADES, MT4_TRANS.TRANS_ADD, openRecord(message.position));
          else callback(MT4_PUMP.PUMP_UPDATE_TRADES, MT4_TRANS.TRANS_DELETE, closedRecord(message.position));
          return;
      }
    });
    if (this.#pump === null) return R.RET_NO_CONNECT;
    const pump = this.#pump;
    this.cluster.scheduler.after(
      0,
      () => {
        if (!pump.closed) callback(MT4_PUMP.PUMP_START_PUMPING, 0, null);
      },
      this.clock instanceof Process ? this.clock : null,
    );
    return R.RET_OK;
  }
}

function userRecord(a: SimAccount): Mt4UserRecord {
  return {
    login: a.login,
    group: a.group,
    password: '',
    enable: a.enabled ? 1 : 0,
    enable_read_only: a.readOnly ? 1 : 0,
    password_investor: '',
    name: a.name,
    country: a.country,
    email: a.email,
    comment: a.comment,
    id: a.externalId,
    leverage: a.leverage,
    regdate: a.registeredServerSec,
    balance: toMoney(a.balanceCents),
    credit: toMoney(a.creditCents),
  };
}

function balanceRecord(op: SimBalanceOp): Mt4TradeRecord {
  return {
    order: op.ticket,
    login: op.login,
    symbol: '',
    digits: 0,
    cmd: op.kind === 'balance' ? MT4_OP.OP_BALANCE : MT4_OP.OP_CREDIT,
    volume: 0,
    open_time: op.serverSec,
    state: MT4_TS.TS_CLOSED_NORMAL,
    open_price: 0,
    close_time: op.serverSec,
    close_price: 0,
    profit: toMoney(op.amountCents),
    comment: op.comment,
  };
}

function openRecord(p: SimPosition): Mt4TradeRecord {
  return {
    order: p.ticket,
    login: p.login,
    symbol: p.symbol,
    digits: p.digits,
    cmd: p.side === 'buy' ? MT4_OP.OP_BUY : MT4_OP.OP_SELL,
    volume: p.volume,
    open_time: p.openServerSec,
    state: MT4_TS.TS_OPEN_NORMAL,
    open_price: toPrice(p.openPrice, p.digits),
    close_time: 0,
    close_price: 0,
    profit: 0,
    comment: '',
  };
}

function closedRecord(t: SimClosedTrade): Mt4TradeRecord {
  return {
    ...openRecord(t),
    state: MT4_TS.TS_CLOSED_NORMAL,
    close_time: t.closeServerSec,
    close_price: toPrice(t.closePrice, t.digits),
    profit: toMoney(t.profitCents),
  };
}

function marginRecord(m: MarginState): Mt4MarginLevel {
  return {
    login: m.login,
    group: m.group,
    leverage: m.leverage,
    balance: toMoney(m.balanceCents + m.creditCents),
    equity: toMoney(m.equityCents),
    margin: toMoney(m.marginCents),
    margin_free: toMoney(m.freeMarginCents),
    margin_level: m.marginLevelPct,
    level_type:
      m.state === 'stop_out'
        ? MT4_MARGINLEVEL.MARGINLEVEL_STOPOUT
        : m.state === 'margin_call'
          ? MT4_MARGINLEVEL.MARGINLEVEL_MARGINCALL
          : MT4_MARGINLEVEL.MARGINLEVEL_OK,
  };
}
