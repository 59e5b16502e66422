/**
 * The service's tables, as rows. The store port is shaped like SQL (tables, primary keys, unique keys,
 * equality filters, transactions, row claims) so that the Postgres and PGlite adapters map each table to
 * one SQL table; the memory adapter keeps the same semantics in process.
 *
 * Times are the service clock's epoch milliseconds (`*Ms`); money is integer minor units (`*Cents`).
 */

export type KycState = 'none' | 'pending' | 'approved' | 'rejected';

export interface ClientRow {
  id: string;
  /** The CRM's id for the client, unique when given. */
  externalId: string | null;
  name: string;
  email: string;
  country: string;
  kyc: KycState;
  /** The introducing broker (an `ib.partners` id of the config) the client came through, if any. */
  partnerId: string | null;
  createdMs: number;
  updatedMs: number;
}

/**
 * pending: accepted, waiting to be created on its server (retried while the server is down);
 * open: created, login known; failed: the server refused it for good (alerted).
 */
export type AccountState = 'pending' | 'open' | 'failed';

export interface AccountRow {
  id: string;
  clientId: string;
  productId: string;
  kind: 'live' | 'demo';
  serverId: string;
  group: string;
  currency: string;
  leverage: number | null;
  state: AccountState;
  login: number | null;
  attempts: number;
  /** Set (committed) before each create is sent, cleared when the outcome is known: a crash leaves it set. */
  uncertainSinceMs: number | null;
  lastError: string | null;
  createdMs: number;
  updatedMs: number;
  openedMs: number | null;
}

export type TransferKind = 'deposit' | 'withdrawal' | 'credit';

/**
 * Deposits and credits: accepted → posting → done | review | rejected | failed.
 * Withdrawals: hold → posting → posted → done (paid out) | refunding → refunded; or review | rejected | failed.
 * `review`: the service could not settle it (deadline passed, or what it found on the server is not what
 * it sent); an operator decides. `rejected`: refused by a rule or by the server for money reasons.
 * `failed`: the server refused it for a reason no retry can fix (disabled account, no rights, bad data).
 */
export type TransferState =
  | 'accepted'
  | 'hold'
  | 'posting'
  | 'posted'
  | 'done'
  | 'refunding'
  | 'refunded'
  | 'review'
  | 'rejected'
  | 'failed';

export const TERMINAL_TRANSFER_STATES: ReadonlySet<TransferState> = new Set([
  'done',
  'refunded',
  'review',
  'rejected',
  'failed',
]);

export interface TransferRow {
  /** The unique reference; it travels in the MetaTrader comment. */
  ref: string;
  kind: TransferKind;
  clientId: string;
  accountId: string;
  serverId: string;
  login: number;
  /** Always positive; the direction is the kind's. */
  amountCents: number;
  currency: string;
  state: TransferState;
  /** The payment provider's id of the deposit or payout, when there is one. */
  pspRef: string | null;
  /** Ticket (MT4) or deal (MT5) of the posting, and of the refund. */
  ticket: number | null;
  refundTicket: number | null;
  attempts: number;
  /** Set (committed) before every send, cleared when the outcome is known; a crash or a timeout leaves it. */
  uncertainSinceMs: number | null;
  lastError: string | null;
  reason: string | null;
  acceptedMs: number;
  /** When the current leg began: acceptance, or the payout failure that started the refund. */
  legStartedMs: number;
  updatedMs: number;
  postedMs: number | null;
  finishedMs: number | null;
}

/** `crm-sync`: write an account's id, status and onboarding state back to the CRM (subject: account id). */
export type JobKind = 'post' | 'refund' | 'open-account' | 'deliver-alert' | 'crm-sync';

export interface JobRow {
  id: string;
  kind: JobKind;
  /** The transfer ref, account id or alert id the job works on. */
  subject: string;
  state: 'queued' | 'done';
  runAtMs: number;
  attempts: number;
  leaseOwner: string | null;
  leaseUntilMs: number;
  lastError: string | null;
  createdMs: number;
  updatedMs: number;
}

export type LedgerEntryKind = 'deposit' | 'withdrawal' | 'refund' | 'credit';

export interface LedgerRow {
  id: string;
  ref: string;
  kind: LedgerEntryKind;
  accountId: string;
  serverId: string;
  login: number;
  /** Signed: what the posting did to the account's balance (or credit). */
  amountCents: number;
  ticket: number;
  atMs: number;
}

export type AuditOutcome = 'ok' | 'rejected' | 'unavailable' | 'unknown';

export interface AuditRow {
  id: string;
  /** When the call was sent. */
  atMs: number;
  serverId: string;
  op: string;
  /** What was sent, secrets redacted. */
  request: Record<string, unknown>;
  /** The transfer ref or account id the call was made for. */
  subject: string | null;
  /** null until the answer is recorded: a crash in between leaves the call visibly unanswered. */
  outcome: AuditOutcome | null;
  code: number | null;
  codeName: string | null;
  reason: string | null;
  answer: Record<string, unknown> | null;
  answeredMs: number | null;
}

export type AlertKind =
  | 'transfer_failed'
  | 'transfer_review'
  | 'transfer_stuck'
  | 'account_failed'
  | 'account_stuck'
  | 'circuit_open'
  | 'reconciliation_finding'
  /** A CRM write-back the CRM refused, or one given up after `crm.attempts` (service/crm/sync.ts). */
  | 'crm_sync_failed';

export interface AlertRow {
  id: string;
  /** Deduplication key: one alert per (kind, subject) and finding. */
  key: string;
  kind: AlertKind;
  severity: 'warning' | 'critical';
  subject: string;
  message: string;
  details: Record<string, unknown>;
  atMs: number;
  /** Sinks that have taken it (a retry goes only to the others). */
  deliveredTo: string[];
}

export interface ReconciliationRow {
  id: string;
  startedMs: number;
  finishedMs: number;
  state: 'done' | 'partial';
  /** Servers whose history could not be read, and `psp` if the provider's records could not: the run is partial. */
  unreachable: string[];
  findings: Finding[];
}

export type FindingClass =
  | 'missing_on_server'
  | 'duplicate_on_server'
  | 'amount_mismatch'
  | 'unknown_operation'
  | 'wrong_account'
  | 'not_in_ledger'
  | 'psp_only'
  | 'ledger_only';

export interface Finding {
  /** Stable across runs: the same discrepancy has the same key. */
  key: string;
  class: FindingClass;
  serverId: string | null;
  login: number | null;
  ref: string | null;
  ticket: number | null;
  pspRef: string | null;
  /** What the ledger (or the PSP) says and what the server (or the ledger) has. */
  expectedCents: number | null;
  actualCents: number | null;
  detail: string;
}

export type TradeAction = 'open' | 'close';

/**
 * One trade event on an account the service opened: a position opened or closed by the client in the
 * terminal (never through the service). Recorded from the pumping stream, or from the server's history
 * when an event was lost; the id makes each (server, login, ticket, action) one row however often it is seen.
 */
export interface TradeRow {
  /** `${serverId}:${login}:${ticket}:${action}`. */
  id: string;
  serverId: string;
  login: number;
  /** MT4: the order ticket; MT5: the position id (the same number on both of a position's deals). */
  ticket: number;
  action: TradeAction;
  symbol: string;
  side: 'buy' | 'sell';
  volumeCentiLots: number;
  /** The open price for an open, the close price for a close. */
  price: number;
  /** Closes only: the trade's result on the balance. */
  profitCents: number | null;
  /** The server's time of the open or close; null when the platform did not say (MT5 history cut). */
  serverSec: number | null;
  /** Where the service learnt of it: the pumping stream or a history read (a gap filled). */
  source: 'pump' | 'history';
  recordedMs: number;
}

export function tradeId(serverId: string, login: number, ticket: number, action: TradeAction): string {
  return `${serverId}:${login}:${ticket}:${action}`;
}

/**
 * A message the service must publish on the event bus, committed in the same transaction as the fact it
 * tells of (the transactional outbox): a crash cannot record the fact and lose the message. The relay
 * publishes unpublished rows in `seq` order and marks them once the broker has confirmed them; a crash in
 * between publishes again with the same id, which consumers use to drop duplicates.
 */
export interface OutboxRow {
  /** The message id, stable for the fact: `trade:${tradeId}` for a trade event. */
  id: string;
  /** A committed sequence value: publication order. */
  seq: number;
  /** Routing key on the bus, e.g. `trade.open`. */
  topic: string;
  payload: Record<string, unknown>;
  createdMs: number;
  /** null until the bus confirmed it. */
  publishedMs: number | null;
}

/**
 * One closed trade's commission for an introducing broker, recorded in the same transaction as the close
 * (keyed by the trade row's id, so a duplicate event or a restart cannot count it twice). Commission is in
 * hundredths of the account currency's minor unit: lots × rate is exact for any volume in 0.01 lots.
 */
export interface IbCommissionRow {
  /** The closing trade's row id (`${serverId}:${login}:${ticket}:close`). */
  tradeId: string;
  partnerId: string;
  planId: string;
  clientId: string;
  accountId: string;
  serverId: string;
  login: number;
  symbol: string;
  volumeCentiLots: number;
  /** The plan's rate for this symbol, in minor units per lot. */
  ratePerLotCents: number;
  /** volumeCentiLots × ratePerLotCents: hundredths of a minor unit. */
  commissionCentiCents: number;
  currency: string;
  /** The close's server time when known, else when it was recorded (service clock). */
  atMs: number;
}

/**
 * An Idempotency-Key of the HTTP API, kept permanently: the request it first came with (canonical body and
 * its hash) and the answer that request got. Recorded in the same transaction as the command's effect.
 */
export interface IdempotencyRow {
  /** `${method} ${route} ${key}`: a key is scoped to the operation it was used with. */
  id: string;
  key: string;
  method: string;
  route: string;
  /** SHA-256 (hex) of the canonical JSON of the request body. */
  bodyHash: string;
  /** The canonical request body, to name the fields a reuse with another body changed. */
  body: Record<string, unknown>;
  /** HTTP status and JSON body of the first answer. */
  status: number;
  response: Record<string, unknown>;
  createdMs: number;
}

/** An API key: only its hash is stored; the key itself is shown once, when created. */
export interface ApiKeyRow {
  id: string;
  name: string;
  /** SHA-256 (hex) of the whole key. */
  hash: string;
  /** The key's first characters, to tell keys apart in a listing. */
  prefix: string;
  createdMs: number;
  /** Set when rotated out or revoked: the key is refused from then on. */
  revokedMs: number | null;
}

export interface SequenceRow {
  name: string;
  value: number;
}

export interface Tables {
  clients: ClientRow;
  accounts: AccountRow;
  transfers: TransferRow;
  jobs: JobRow;
  ledger: LedgerRow;
  audit: AuditRow;
  alerts: AlertRow;
  reconciliations: ReconciliationRow;
  trades: TradeRow;
  outbox: OutboxRow;
  ib_commissions: IbCommissionRow;
  idempotency: IdempotencyRow;
  api_keys: ApiKeyRow;
  sequences: SequenceRow;
}

export type TableName = keyof Tables;

/** Primary key and unique columns of each table (nulls are not unique-checked, as in SQL). */
export const TABLE_KEYS: { readonly [K in TableName]: { primary: keyof Tables[K]; unique: (keyof Tables[K])[] } } = {
  clients: { primary: 'id', unique: ['externalId'] },
  accounts: { primary: 'id', unique: [] },
  transfers: { primary: 'ref', unique: ['pspRef'] },
  jobs: { primary: 'id', unique: [] },
  ledger: { primary: 'id', unique: [] },
  audit: { primary: 'id', unique: [] },
  alerts: { primary: 'id', unique: ['key'] },
  reconciliations: { primary: 'id', unique: [] },
  trades: { primary: 'id', unique: [] },
  outbox: { primary: 'id', unique: ['seq'] },
  ib_commissions: { primary: 'tradeId', unique: [] },
  idempotency: { primary: 'id', unique: [] },
  api_keys: { primary: 'id', unique: ['hash'] },
  sequences: { primary: 'name', unique: [] },
};
