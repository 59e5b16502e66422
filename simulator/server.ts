import { MT4_OP, MT5_DEAL_ACTION, MT5_DEALER_BALANCE_TYPES } from '../metatrader/constants.ts';
import { cutMt4Comment, cutMt5Comment, MT4_LIMITS, MT5_LIMITS, mt5PasswordProblem } from '../metatrader/limits.ts';
import { type ManagerConfig, MT4_MAX_LEVERAGE, type ServerConfig } from './config.ts';
import type { PriceFeed } from './prices.ts';

/**
 * One simulated server's state and its operations, platform-neutral. The dialects (mt4.ts, mt5.ts) turn
 * these into each platform's calls, records and return codes; the cluster puts the network and the
 * faults in front. Money is kept in integer minor units (cents); the platforms' doubles live only at
 * the dialect boundary.
 */

/** Why an operation was refused; each dialect maps these to its own return codes. */
export type Fail =
  | 'invalid'
  | 'not_found'
  | 'no_money'
  | 'max_money'
  | 'bad_type'
  | 'login_exists'
  | 'login_exhausted'
  | 'login_prohibited'
  | 'bad_password'
  | 'trade_disabled'
  | 'bad_volume';

export type Op<T> = { ok: true; value: T } | { ok: false; fail: Fail; detail: string };

export type MoneyKind = 'balance' | 'credit';

/** Who did something on the server: the manager API, a dealer by hand, the server itself, or a client. */
export type Actor =
  | { readonly by: 'manager'; readonly login: number }
  | { readonly by: 'dealer' }
  | { readonly by: 'system' };

export interface SimGroup {
  name: string;
  currency: string;
  leverage: number;
  depositCents: number;
  marginCallPct: number;
  stopOutPct: number;
  enabled: boolean;
}

export interface SimAccount {
  login: number;
  group: string;
  name: string;
  email: string;
  country: string;
  /** The broker's own identifier for the client (MT4 UserRecord.id, MT5 IMTUser::ID). */
  externalId: string;
  comment: string;
  leverage: number;
  enabled: boolean;
  readOnly: boolean;
  passwordMain: string;
  passwordInvestor: string;
  balanceCents: number;
  creditCents: number;
  registeredServerSec: number;
  /** When it was created, in true (virtual) time: ground truth for the harness. */
  createdMs: number;
}

export interface SimBalanceOp {
  ticket: number;
  login: number;
  kind: MoneyKind;
  /** MT4: OP_BALANCE / OP_CREDIT; MT5: the deal action (DEAL_BALANCE, DEAL_CREDIT, DEAL_CORRECTION ...). */
  platformType: number;
  amountCents: number;
  comment: string;
  atMs: number;
  serverSec: number;
  /** History queries see the operation only from this instant (the history-lag fault). */
  visibleAtMs: number;
  actor: Actor;
  /** Withdrawals only: the account's free margin just before the operation (what a gating check is judged by). */
  freeMarginBeforeCents?: number;
}

/** One free margin the server answered to a manager's margin request for an account, and when. */
export interface MarginRead {
  atMs: number;
  freeMarginCents: number;
}

export type Side = 'buy' | 'sell';

export interface SimPosition {
  ticket: number;
  login: number;
  symbol: string;
  side: Side;
  /** Lots x 100 (MT4 volume units: 1 lot = 100). */
  volume: number;
  openPrice: number;
  openAtMs: number;
  openServerSec: number;
  marginCents: number;
  digits: number;
  /** MT5 only: the ticket of the opening deal (0 on MT4). */
  openDeal: number;
}

export interface SimClosedTrade extends SimPosition {
  closePrice: number;
  closeAtMs: number;
  closeServerSec: number;
  profitCents: number;
  visibleAtMs: number;
  /** MT5 only: the ticket of the closing deal (0 on MT4). */
  closeDeal: number;
}

export interface MarginState {
  login: number;
  group: string;
  leverage: number;
  balanceCents: number;
  creditCents: number;
  floatingCents: number;
  equityCents: number;
  marginCents: number;
  freeMarginCents: number;
  /** Equity / margin x 100; 0 when no margin is used (as the platforms report it). */
  marginLevelPct: number;
  state: 'ok' | 'margin_call' | 'stop_out';
}

export type ServerEvent =
  | { type: 'user'; action: 'add' | 'update'; login: number; seq: number }
  | { type: 'trade'; action: 'open'; login: number; ticket: number; position: SimPosition; seq: number }
  | { type: 'trade'; action: 'close'; login: number; ticket: number; position: SimClosedTrade; seq: number }
  | { type: 'balance'; login: number; ticket: number; op: SimBalanceOp; seq: number };

export interface NewAccountInput {
  login?: number;
  group: string;
  name: string;
  email?: string;
  country?: string;
  externalId?: string;
  comment?: string;
  leverage?: number;
  password: string;
  investorPassword?: string;
  enabled?: boolean;
  readOnly?: boolean;
}

export interface AccountPatch {
  group?: string;
  leverage?: number;
  enabled?: boolean;
  readOnly?: boolean;
  name?: string;
  email?: string;
  country?: string;
  comment?: string;
}

const MAX_VOLUME = 10_000;
const NONE: readonly never[] = Object.freeze([]);

export class SimServer {
  readonly config: Readonly<ServerConfig>;
  readonly id: string;
  readonly groups = new Map<string, SimGroup>();
  readonly accounts = new Map<number, SimAccount>();
  readonly #ops = new Map<number, SimBalanceOp[]>();
  readonly #closed = new Map<number, SimClosedTrade[]>();
  readonly #positions = new Map<number, SimPosition>();
  readonly #positionsByLogin = new Map<number, Set<number>>();
  readonly #marginReads = new Map<number, MarginRead[]>();
  readonly #listeners = new Set<(event: ServerEvent) => void>();
  readonly #now: () => number;
  readonly #prices: PriceFeed;
  #nextLogin: number;
  #nextTicket: number;
  #nextDeal = 1_000_000;
  #eventSeq = 0;
  #clockSkewMs = 0;
  #timezoneOffsetMin: number;
  /** The largest (server seconds - true seconds) over the server's life: it lets history seek by true time. */
  #maxOffsetSec: number;
  /** While `now < historyLagUntilMs`, new operations become visible `historyLagMs` late. */
  historyLagUntilMs = 0;
  historyLagMs = 0;
  /** While `now < downUntilMs` the server is down (restart). */
  downUntilMs = 0;

  /** Reports every change of state (for the trace): what changed and a canonical detail. */
  readonly #changed: (what: string, detail: string) => void;

  constructor(
    config: Readonly<ServerConfig>,
    now: () => number,
    prices: PriceFeed,
    changed: (what: string, detail: string) => void = () => {},
  ) {
    this.config = config;
    this.#changed = changed;
    this.id = config.id;
    this.#now = now;
    this.#prices = prices;
    this.#timezoneOffsetMin = config.timezoneOffsetMin;
    this.#maxOffsetSec = config.timezoneOffsetMin * 60;
    this.#nextLogin = config.logins.from;
    this.#nextTicket = config.platform === 'mt4' ? 10_000_000 : 2_000_000;
    for (const g of config.groups) this.groups.set(g.name, { ...g });
  }

  get platform(): 'mt4' | 'mt5' {
    return this.config.platform;
  }

  isDown(): boolean {
    return this.#now() < this.downUntilMs;
  }

  /** The server's wall clock in seconds: what it stamps on records and expects in history ranges. */
  serverSec(atMs: number = this.#now()): number {
    return Math.floor((atMs + this.#clockSkewMs) / 1000) + this.#timezoneOffsetMin * 60;
  }

  /** Added to the true time to give the server's clock (the clock-skew fault). */
  get clockSkewMs(): number {
    return this.#clockSkewMs;
  }

  set clockSkewMs(value: number) {
    this.#clockSkewMs = value;
    this.#trackOffset();
  }

  get timezoneOffsetMin(): number {
    return this.#timezoneOffsetMin;
  }

  set timezoneOffsetMin(value: number) {
    this.#timezoneOffsetMin = value;
    this.#trackOffset();
  }

  #trackOffset(): void {
    const offsetSec = Math.floor(this.#clockSkewMs / 1000) + this.#timezoneOffsetMin * 60;
    this.#maxOffsetSec = Math.max(this.#maxOffsetSec, offsetSec + 1);
  }

  /**
   * The true time from which records stamped at or after `fromSec` of server time can start: records are
   * kept in true-time order and every stamp lies within the offsets the server has had.
   */
  #seekMs(fromSec: number): number {
    return (fromSec - this.#maxOffsetSec - 1) * 1000;
  }

  cutComment(text: string): string {
    return this.platform === 'mt4' ? cutMt4Comment(text) : cutMt5Comment(text);
  }

  manager(login: number): ManagerConfig | undefined {
    return this.config.managers.find((m) => m.login === login);
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- accounts ----

  createAccount(input: NewAccountInput): Op<SimAccount> {
    const group = this.groups.get(input.group);
    if (group === undefined) return fail('invalid', `no group ${input.group}`);
    if (input.name.trim() === '') return fail('invalid', 'name is empty');
    const leverage = input.leverage ?? group.leverage;
    const leverageProblem = this.#leverageProblem(leverage);
    if (leverageProblem !== null) return fail('invalid', leverageProblem);
    const passwordProblem = this.passwordProblem(input.password);
    if (passwordProblem !== null) return fail('bad_password', passwordProblem);
    let login = input.login ?? 0;
    if (login === 0) {
      const free = this.#allocateLogin();
      if (free === null) return fail('login_exhausted', 'no free login left in the range');
      login = free;
    } else if (login < this.config.logins.from || login > this.config.logins.to) {
      return fail('login_prohibited', `login ${login} outside ${this.config.logins.from}..${this.config.logins.to}`);
    } else if (this.accounts.has(login)) {
      return fail('login_exists', `login ${login} exists`);
    }
    const account: SimAccount = {
      login,
      group: group.name,
      name: input.name,
      email: input.email ?? '',
      country: input.country ?? '',
      externalId: input.externalId ?? '',
      comment: input.comment ?? '',
      leverage,
      enabled: input.enabled ?? true,
      readOnly: input.readOnly ?? false,
      passwordMain: input.password,
      passwordInvestor: input.investorPassword ?? input.password,
      balanceCents: 0,
      creditCents: 0,
      registeredServerSec: this.serverSec(),
      createdMs: this.#now(),
    };
    this.accounts.set(login, account);
    this.#changed('account.add', `${login} ${account.group} 1:${leverage}`);
    this.#emit({ type: 'user', action: 'add', login, seq: 0 });
    // A demo server funds a new account with its group's default deposit, as a balance operation.
    if (this.config.kind === 'demo' && group.depositCents > 0) {
      this.postBalance(login, 'balance', group.depositCents, 'Deposit', this.#balanceType('balance'), {
        by: 'system',
      });
    }
    return { ok: true, value: account };
  }

  passwordProblem(password: string): string | null {
    if (this.platform === 'mt5') return mt5PasswordProblem(password);
    // MT4: char[16]; the simulator asks for at least 5 characters (a server-side setting in real MT4).
    if (password.length < 5 || password.length > MT4_LIMITS.passwordBytes) {
      return `MT4 passwords have 5 to ${MT4_LIMITS.passwordBytes} characters`;
    }
    return null;
  }

  /** MT5: 1..500 (facts 3.6); MT4 has no documented cap, the simulator allows 1..1000. */
  #leverageProblem(leverage: number): string | null {
    const max = this.platform === 'mt5' ? MT5_LIMITS.leverageMax : MT4_MAX_LEVERAGE;
    if (Number.isInteger(leverage) && leverage >= 1 && leverage <= max) return null;
    return `leverage ${leverage} outside 1..${max}`;
  }

  updateAccount(login: number, patch: AccountPatch): Op<SimAccount> {
    const account = this.accounts.get(login);
    if (account === undefined) return fail('not_found', `no account ${login}`);
    if (patch.group !== undefined && !this.groups.has(patch.group)) return fail('invalid', `no group ${patch.group}`);
    const leverageProblem = patch.leverage === undefined ? null : this.#leverageProblem(patch.leverage);
    if (leverageProblem !== null) return fail('invalid', leverageProblem);
    if (patch.name !== undefined && patch.name.trim() === '') return fail('invalid', 'name is empty');
    if (patch.group !== undefined) account.group = patch.group;
    if (patch.leverage !== undefined) account.leverage = patch.leverage;
    if (patch.enabled !== undefined) account.enabled = patch.enabled;
    if (patch.readOnly !== undefined) account.readOnly = patch.readOnly;
    if (patch.name !== undefined) account.name = patch.name;
    if (patch.email !== undefined) account.email = patch.email;
    if (patch.country !== undefined) account.country = patch.country;
    if (patch.comment !== undefined) account.comment = patch.comment;
    this.#changed(
      'account.update',
      `${login} ${account.group} 1:${account.leverage} ${account.enabled ? 'on' : 'off'}${account.readOnly ? ' ro' : ''}`,
    );
    this.#emit({ type: 'user', action: 'update', login, seq: 0 });
    return { ok: true, value: account };
  }

  setPassword(login: number, kind: 'main' | 'investor', password: string): Op<SimAccount> {
    const account = this.accounts.get(login);
    if (account === undefined) return fail('not_found', `no account ${login}`);
    const problem = this.passwordProblem(password);
    if (problem !== null) return fail('bad_password', problem);
    if (kind === 'main') account.passwordMain = password;
    else account.passwordInvestor = password;
    return { ok: true, value: account };
  }

  // ---- money ----

  /**
   * A balance or credit operation. `amountCents` is signed: positive in, negative out. Balance out may not
   * exceed the balance, credit out the credit given (MT5 rules, applied to MT4 too: the facts file is silent
   * there). MT5 also refuses a withdrawal of either kind above the free margin, except a DEAL_CORRECTION;
   * MT4 does not check the free margin (see the README).
   */
  postBalance(
    login: number,
    kind: MoneyKind,
    amountCents: number,
    comment: string,
    platformType: number,
    actor: Actor,
    /** MT5 Web API `check_margin=0` (facts 3.5): a withdrawal may exceed the free margin (never the balance). */
    options: { checkMargin?: boolean } = {},
  ): Op<SimBalanceOp> {
    if (!Number.isSafeInteger(amountCents) || amountCents === 0) return fail('invalid', `amount ${amountCents}`);
    const account = this.accounts.get(login);
    if (account === undefined) return fail('not_found', `no account ${login}`);
    let freeMarginBeforeCents: number | undefined;
    if (this.platform === 'mt5') {
      if (!(MT5_DEALER_BALANCE_TYPES as readonly number[]).includes(platformType)) {
        return fail('bad_type', `deal type ${platformType} is not a balance type`);
      }
      if (Math.abs(amountCents) > MT5_LIMITS.balanceAmountMax * 100)
        return fail('max_money', 'above 1e9 per operation');
    }
    if (amountCents < 0) {
      if (kind === 'credit' && -amountCents > account.creditCents)
        return fail('no_money', 'credit out above credit given');
      if (kind === 'balance' && -amountCents > account.balanceCents)
        return fail('no_money', 'withdrawal above balance');
      freeMarginBeforeCents = this.margin(account).freeMarginCents;
      // MT5: any withdrawal, balance or credit, may not exceed the free margin; a correction skips the check.
      // MT4 (the facts file is silent): the server checks the balance only, so an integration that skips its
      // own free-margin check can put an account under margin, as brokers report.
      const skipMargin =
        this.platform === 'mt4' || platformType === MT5_DEAL_ACTION.DEAL_CORRECTION || options.checkMargin === false;
      if (!skipMargin && -amountCents > freeMarginBeforeCents) {
        return fail('no_money', 'withdrawal above free margin');
      }
    }
    const atMs = this.#now();
    const op: SimBalanceOp = {
      ticket: this.platform === 'mt4' ? this.#nextTicket++ : this.#nextDeal++,
      login,
      kind,
      platformType,
      amountCents,
      comment: this.cutComment(comment),
      atMs,
      serverSec: this.serverSec(atMs),
      visibleAtMs: this.#visibleAt(atMs),
      actor,
    };
    if (freeMarginBeforeCents !== undefined) op.freeMarginBeforeCents = freeMarginBeforeCents;
    if (kind === 'balance') account.balanceCents += amountCents;
    else account.creditCents += amountCents;
    pushTo(this.#ops, login, op);
    this.#changed('balance', `${login} #${op.ticket} ${kind} ${amountCents} ${op.actor.by} "${op.comment}"`);
    this.#emit({ type: 'balance', login, ticket: op.ticket, op, seq: 0 });
    return { ok: true, value: op };
  }

  /** When an operation done at `atMs` shows in history queries (later while history lags). */
  #visibleAt(atMs: number): number {
    return atMs < this.historyLagUntilMs ? atMs + this.historyLagMs : atMs;
  }

  #balanceType(kind: MoneyKind): number {
    if (this.platform === 'mt5') return kind === 'balance' ? MT5_DEAL_ACTION.DEAL_BALANCE : MT5_DEAL_ACTION.DEAL_CREDIT;
    return kind === 'balance' ? MT4_OP.OP_BALANCE : MT4_OP.OP_CREDIT;
  }

  /**
   * History as it shows now for [fromSec, toSec] of server time: balance operations stamped in the
   * range, closed trades opened or closed in it, and open positions opened in it. Each dialect keeps
   * what its platform's history holds (MT4: closed trades by close time; MT5: deals by their own time).
   */
  history(
    login: number,
    fromSec: number,
    toSec: number,
  ): { ops: SimBalanceOp[]; trades: SimClosedTrade[]; open: SimPosition[] } {
    const now = this.#now();
    const startMs = this.#seekMs(fromSec);
    const ops: SimBalanceOp[] = [];
    const allOps = this.#ops.get(login) ?? NONE;
    for (let i = lowerBound(allOps, startMs, (o) => o.atMs); i < allOps.length; i++) {
      const o = allOps[i] as SimBalanceOp;
      if (o.visibleAtMs <= now && o.serverSec >= fromSec && o.serverSec <= toSec) ops.push(o);
    }
    const trades: SimClosedTrade[] = [];
    // Closed trades are kept in close order; one opened in the range closed after it, so the seek holds.
    const allClosed = this.#closed.get(login) ?? NONE;
    for (let i = lowerBound(allClosed, startMs, (t) => t.closeAtMs); i < allClosed.length; i++) {
      const t = allClosed[i] as SimClosedTrade;
      if (t.visibleAtMs > now) continue;
      const closedIn = t.closeServerSec >= fromSec && t.closeServerSec <= toSec;
      if (closedIn || (t.openServerSec >= fromSec && t.openServerSec <= toSec)) trades.push(t);
    }
    const open: SimPosition[] = [];
    for (const ticket of this.#positionsByLogin.get(login) ?? NONE) {
      const p = this.#positions.get(ticket) as SimPosition;
      if (p.openServerSec >= fromSec && p.openServerSec <= toSec) open.push(p);
    }
    return { ops, trades, open };
  }

  /** Every balance operation of an account, lag or not: the simulator's ground truth. */
  allBalanceOps(login: number): readonly SimBalanceOp[] {
    return this.#ops.get(login) ?? [];
  }

  allClosedTrades(login: number): readonly SimClosedTrade[] {
    return this.#closed.get(login) ?? [];
  }

  // ---- trading (client activity: it acts on the server directly, never through a manager) ----

  openPositions(login: number): SimPosition[] {
    const tickets = this.#positionsByLogin.get(login);
    if (tickets === undefined) return [];
    return [...tickets].map((t) => this.#positions.get(t) as SimPosition);
  }

  allOpenPositions(): SimPosition[] {
    return [...this.#positions.values()];
  }

  openTrade(login: number, symbol: string, side: Side, volume: number): Op<SimPosition> {
    const account = this.accounts.get(login);
    if (account === undefined) return fail('not_found', `no account ${login}`);
    const spec = this.#prices.symbol(symbol);
    if (spec === undefined) return fail('invalid', `no symbol ${symbol}`);
    if (!Number.isInteger(volume) || volume < 1 || volume > MAX_VOLUME) return fail('bad_volume', `volume ${volume}`);
    const group = this.groups.get(account.group);
    if (!account.enabled || account.readOnly || group === undefined || !group.enabled) {
      return fail('trade_disabled', 'trading is disabled for this account');
    }
    const atMs = this.#now();
    const quote = this.#prices.quote(symbol, atMs);
    const openPrice = side === 'buy' ? quote.ask : quote.bid;
    const marginCents = Math.round(
      ((spec.contractSize * (volume / 100) * openPrice) / 10 ** spec.digits / account.leverage) * 100,
    );
    if (marginCents > this.margin(account).freeMarginCents) return fail('no_money', 'not enough free margin');
    const position: SimPosition = {
      ticket: this.#nextTicket++,
      login,
      symbol,
      side,
      volume,
      openPrice,
      openAtMs: atMs,
      openServerSec: this.serverSec(atMs),
      marginCents,
      digits: spec.digits,
      openDeal: this.platform === 'mt5' ? this.#nextDeal++ : 0,
    };
    this.#positions.set(position.ticket, position);
    let set = this.#positionsByLogin.get(login);
    if (set === undefined) {
      set = new Set();
      this.#positionsByLogin.set(login, set);
    }
    set.add(position.ticket);
    this.#emit({ type: 'trade', action: 'open', login, ticket: position.ticket, position, seq: 0 });
    return { ok: true, value: position };
  }

  closeTrade(ticket: number): Op<SimClosedTrade> {
    const position = this.#positions.get(ticket);
    if (position === undefined) return fail('not_found', `no open position ${ticket}`);
    const atMs = this.#now();
    const quote = this.#prices.quote(position.symbol, atMs);
    const closePrice = position.side === 'buy' ? quote.bid : quote.ask;
    const profitCents = this.#profitCents(position, closePrice);
    const closed: SimClosedTrade = {
      ...position,
      closePrice,
      closeAtMs: atMs,
      closeServerSec: this.serverSec(atMs),
      profitCents,
      visibleAtMs: this.#visibleAt(atMs),
      closeDeal: this.platform === 'mt5' ? this.#nextDeal++ : 0,
    };
    this.#positions.delete(ticket);
    this.#positionsByLogin.get(position.login)?.delete(ticket);
    const account = this.accounts.get(position.login) as SimAccount;
    account.balanceCents += profitCents;
    pushTo(this.#closed, position.login, closed);
    this.#emit({ type: 'trade', action: 'close', login: position.login, ticket, position: closed, seq: 0 });
    return { ok: true, value: closed };
  }

  #profitCents(position: SimPosition, closePrice: number): number {
    const spec = this.#prices.symbol(position.symbol);
    if (spec === undefined) throw new Error(`server ${this.id}: position on unknown symbol ${position.symbol}`);
    const direction = position.side === 'buy' ? 1 : -1;
    const points = (closePrice - position.openPrice) * direction;
    return Math.round(((points * spec.contractSize * (position.volume / 100)) / 10 ** spec.digits) * 100);
  }

  // ---- margin ----

  /** A manager's margin request: the answer is remembered per account (`marginReads`). */
  marginOf(login: number): Op<MarginState> {
    const account = this.accounts.get(login);
    if (account === undefined) return fail('not_found', `no account ${login}`);
    const state = this.margin(account);
    pushTo(this.#marginReads, login, { atMs: this.#now(), freeMarginCents: state.freeMarginCents });
    return { ok: true, value: state };
  }

  /** Every free margin the server answered to a manager's margin request for the account, in time order. */
  marginReads(login: number): readonly MarginRead[] {
    return this.#marginReads.get(login) ?? NONE;
  }

  margin(account: SimAccount): MarginState {
    let floatingCents = 0;
    let marginCents = 0;
    const tickets = this.#positionsByLogin.get(account.login);
    if (tickets !== undefined && tickets.size > 0) {
      const now = this.#now();
      for (const ticket of tickets) {
        const p = this.#positions.get(ticket) as SimPosition;
        const quote = this.#prices.quote(p.symbol, now);
        floatingCents += this.#profitCents(p, p.side === 'buy' ? quote.bid : quote.ask);
        marginCents += p.marginCents;
      }
    }
    const equityCents = account.balanceCents + account.creditCents + floatingCents;
    const group = this.groups.get(account.group);
    const marginLevelPct = marginCents > 0 ? (equityCents / marginCents) * 100 : 0;
    let state: MarginState['state'] = 'ok';
    if (marginCents > 0 && group !== undefined) {
      if (marginLevelPct <= group.stopOutPct) state = 'stop_out';
      else if (marginLevelPct <= group.marginCallPct) state = 'margin_call';
    }
    return {
      login: account.login,
      group: account.group,
      leverage: account.leverage,
      balanceCents: account.balanceCents,
      creditCents: account.creditCents,
      floatingCents,
      equityCents,
      marginCents,
      freeMarginCents: equityCents - marginCents,
      marginLevelPct,
      state,
    };
  }

  #allocateLogin(): number | null {
    const { from, to } = this.config.logins;
    const span = to - from + 1;
    for (let i = 0; i < span; i++) {
      const login = this.#nextLogin;
      this.#nextLogin = login >= to ? from : login + 1;
      if (!this.accounts.has(login)) return login;
    }
    return null;
  }

  #emit(event: ServerEvent): void {
    if (this.#listeners.size === 0) return;
    event.seq = ++this.#eventSeq;
    for (const listener of this.#listeners) listener(event);
  }
}

function fail<T>(reason: Fail, detail: string): Op<T> {
  return { ok: false, fail: reason, detail };
}

/** The first index whose key is >= `key`, in a list sorted by that key. */
function lowerBound<T>(list: readonly T[], key: number, keyOf: (item: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyOf(list[mid] as T) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function pushTo<T>(map: Map<number, T[]>, key: number, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
