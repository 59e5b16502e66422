import type { ManagerError } from './errors.ts';

/**
 * The one port between the integration service and a MetaTrader server: one connection to one server,
 * platform-neutral, shaped by what the service needs. Every call resolves (never rejects) to a Result;
 * a failure is a ManagerError carrying the platform's own code and an outcome the service reasons about.
 *
 * Units: money in integer minor units (`*Cents`), signed where it moves; times are the server's
 * wall-clock seconds (`*ServerSec`), as MetaTrader stamps and filters them; prices are plain numbers.
 */

export type Platform = 'mt4' | 'mt5';

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ManagerError };

export interface Credentials {
  readonly login: number;
  readonly password: string;
}

export interface ManagerRights {
  /** May create and modify accounts. */
  readonly accounts: boolean;
  /** May post balance and credit operations. */
  readonly money: boolean;
  /** May read trades and history. */
  readonly trades: boolean;
  /** Group masks the manager may work with (`*` wildcard, `!` excludes). */
  readonly groups: readonly string[];
}

export interface ManagerSession {
  readonly login: number;
  /** Null where the platform gives no way to read them (MT5 Manager API). */
  readonly rights: ManagerRights | null;
}

export interface NewAccount {
  /** 0 or absent: the server allocates one from its range. */
  readonly login?: number;
  readonly group: string;
  readonly name: string;
  readonly email?: string;
  readonly country?: string;
  /** The broker's own id for the client (MT4 UserRecord.id, MT5 IMTUser ID), for finding the account later. */
  readonly externalId?: string;
  readonly comment?: string;
  /** Absent: the group's default. */
  readonly leverage?: number;
  readonly password: string;
  readonly investorPassword?: string;
  readonly enabled?: boolean;
  readonly readOnly?: boolean;
}

export interface Account {
  readonly login: number;
  readonly group: string;
  readonly name: string;
  readonly email: string;
  readonly country: string;
  readonly externalId: string;
  readonly leverage: number;
  readonly enabled: boolean;
  readonly readOnly: boolean;
  readonly balanceCents: number;
  readonly creditCents: number;
  readonly registeredServerSec: number;
}

export interface AccountPatch {
  readonly group?: string;
  readonly leverage?: number;
  readonly enabled?: boolean;
  readonly readOnly?: boolean;
  readonly name?: string;
  readonly email?: string;
  readonly country?: string;
}

export type MoneyKind = 'balance' | 'credit';

export interface BalanceRequest {
  readonly login: number;
  /** Signed, non-zero: positive deposits or gives credit, negative withdraws or takes credit back. */
  readonly amountCents: number;
  readonly kind: MoneyKind;
  /** Cut by the server at `limits.commentChars`: keep references within it. */
  readonly comment: string;
}

export interface BalanceReceipt {
  /** MT4: the new order ticket; MT5: the deal id. */
  readonly ticket: number;
  readonly login: number;
  readonly amountCents: number;
  readonly kind: MoneyKind;
  /** The comment as the server stores it (cut to its limit). */
  readonly comment: string;
}

export interface BalanceOp {
  readonly ticket: number;
  readonly login: number;
  readonly amountCents: number;
  readonly kind: MoneyKind;
  readonly comment: string;
  readonly timeServerSec: number;
  /** MT4: OP_BALANCE / OP_CREDIT; MT5: the deal action (DEAL_BALANCE, DEAL_CORRECTION, ...). */
  readonly platformType: number;
}

export interface MarginLevel {
  readonly login: number;
  readonly balanceCents: number;
  readonly creditCents: number;
  readonly equityCents: number;
  readonly marginCents: number;
  readonly freeMarginCents: number;
  /** Equity / margin x 100; 0 when no margin is used. */
  readonly marginLevelPct: number;
  readonly state: 'ok' | 'margin_call' | 'stop_out';
}

export interface Trade {
  readonly ticket: number;
  readonly login: number;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  /** Lots x 100. */
  readonly volumeCentiLots: number;
  readonly openPrice: number;
  /** Absent when the platform does not say (MT5: the opening deal lies before the queried range). */
  readonly openServerSec?: number;
  /** Closed trades only. */
  readonly closePrice?: number;
  readonly closeServerSec?: number;
  readonly profitCents?: number;
}

export interface Group {
  readonly name: string;
  readonly currency: string;
  /** Default leverage (MT4) or demo leverage (MT5). */
  readonly leverage: number;
  readonly depositCents: number;
  readonly marginCallPct: number;
  readonly stopOutPct: number;
  readonly enabled: boolean;
}

/** What the server's pumping stream says changed. */
export type PumpEvent =
  | { readonly type: 'user'; readonly action: 'add' | 'update'; readonly login: number }
  | { readonly type: 'trade'; readonly action: 'open' | 'close'; readonly login: number; readonly ticket: number }
  | {
      readonly type: 'balance';
      readonly login: number;
      readonly ticket: number;
      readonly kind: MoneyKind;
      readonly amountCents: number;
      readonly comment: string;
    }
  /** The stream ended (connection lost): subscribe again after reconnecting; events in between are gone. */
  | { readonly type: 'stopped' };

export interface Subscription {
  close(): void;
}

export interface PlatformLimits {
  /** Characters of a balance comment the server keeps. */
  readonly commentChars: number;
}

export interface ManagerApi {
  readonly serverId: string;
  readonly platform: Platform;
  readonly limits: PlatformLimits;

  /**
   * Connects and logs in. Calling it again reconnects: the old connection is closed first, and with it
   * every subscription made on it (subscribe again after reconnecting).
   */
  connect(credentials: Credentials): Promise<Result<ManagerSession>>;
  /** Closes the connection and ends every subscription made on it: no event arrives after. */
  close(): Promise<void>;
  /** What the adapter believes: a silently logged-out session still says true until a call fails. */
  isConnected(): boolean;
  /** A round trip that proves the session works (keepalive). */
  ping(): Promise<Result<void>>;
  serverTime(): Promise<Result<number>>;

  createAccount(account: NewAccount): Promise<Result<{ login: number }>>;
  getAccount(login: number): Promise<Result<Account>>;
  /** Accounts whose group matches the mask (`*` for all the manager may see). */
  listAccounts(groupMask: string): Promise<Result<Account[]>>;
  updateAccount(login: number, patch: AccountPatch): Promise<Result<void>>;
  setPassword(login: number, kind: 'main' | 'investor', password: string): Promise<Result<void>>;

  postBalance(request: BalanceRequest): Promise<Result<BalanceReceipt>>;
  /**
   * Balance and credit operations with server time in [fromServerSec, toServerSec]. History can lag
   * behind the balance. A refusal for an unknown login has reason `not_found` on MT5, `invalid` on MT4
   * (RET_INVALID_DATA: MT4 has no "not found" code), except for reads of the account itself.
   */
  balanceHistory(login: number, fromServerSec: number, toServerSec: number): Promise<Result<BalanceOp[]>>;
  marginLevel(login: number): Promise<Result<MarginLevel>>;

  /** Trades closed with server time in [fromServerSec, toServerSec]. */
  trades(login: number, fromServerSec: number, toServerSec: number): Promise<Result<Trade[]>>;
  openPositions(login: number): Promise<Result<Trade[]>>;
  /**
   * The open positions of every login in `logins`, in one request (MT4 has no per-account request: it reads
   * every open trade of the server, so reading accounts one by one reads the server once per account).
   * A login the server does not have, or outside the manager's groups, has none.
   */
  openPositionsOf(logins: readonly number[]): Promise<Result<Trade[]>>;
  groups(): Promise<Result<Group[]>>;

  /**
   * Subscribes to the pumping stream; events arrive until `stopped`, the subscription's `close()`, or the
   * api's `close()` / `connect()`. Events can arrive twice or out of order, and a stream can go quiet
   * without a `stopped` (a silent logout): consumers deduplicate and fill gaps from history.
   */
  subscribe(listener: (event: PumpEvent) => void): Promise<Result<Subscription>>;
}
