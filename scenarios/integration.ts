import type { ManagerApi } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';
import type { Random } from '../kit/random.ts';
import type { BrokerConfig } from '../service/config.ts';
import type { PaymentRecords } from '../service/psp/port.ts';
import type { FindingClass } from '../service/store/schema.ts';

/**
 * The public contract between the harness and the integration it certifies (ours, a planted bug, or a
 * broker's own). The harness plays the CRM, the client portal and the payment provider: it calls these
 * commands, lets virtual time run, crashes and restarts the integration, and at the end reads what the
 * integration says it did. What really happened it reads from the simulated servers, never from here.
 *
 * A module given to `mtproof certify --integration MODULE` exports, as its default export or as
 * `createIntegration`, an `IntegrationFactory`. Everything it needs is in these types and the port's
 * (`ManagerApi`); see scenarios/README.md for a worked example.
 */

/** The answer to a command: a value, or a refusal with a stable code of the integration's own. */
export type Answer<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

export type KycDecision = 'pending' | 'approved' | 'rejected';

export interface ClientInput {
  /** The CRM's id of the client (unique per scenario). */
  externalId: string;
  name: string;
  email: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

export interface MoneyInput {
  accountId: string;
  /** Integer minor units, positive. */
  amountCents: number;
  /** ISO 4217. */
  currency: string;
}

export interface DepositInput extends MoneyInput {
  /** The payment provider's id: the provider retries its webhook, so the same pspRef may arrive again. */
  pspRef: string;
}

export type AccountStatus = 'pending' | 'open' | 'failed';

export interface AccountView {
  accountId: string;
  clientId: string;
  productId: string;
  status: AccountStatus;
  /** Where the integration created (or will create) it. */
  serverId: string | null;
  login: number | null;
  group: string | null;
}

/**
 * pending: accepted, not settled yet; posted: the money is on the server (a withdrawal: debited, the
 * payout may still be under way); refunded: a withdrawal debited and credited back; review: the
 * integration could not settle it and an operator must decide (an alert must say so); rejected: refused
 * by a rule or by the server for money reasons, nothing posted; failed: refused for good, nothing posted.
 */
export type TransferStatus = 'pending' | 'posted' | 'refunded' | 'review' | 'rejected' | 'failed';

export interface TransferView {
  ref: string;
  kind: 'deposit' | 'withdrawal' | 'credit';
  accountId: string;
  amountCents: number;
  currency: string;
  pspRef: string | null;
  status: TransferStatus;
}

export interface AlertView {
  kind: string;
  /** The transfer ref, account id or server the alert is about. */
  subject: string;
  message: string;
  atMs: number;
}

/** One call the integration made to a server, as its audit log has it. */
export interface AuditView {
  atMs: number;
  serverId: string;
  op: string;
  /** What was sent (secrets redacted). */
  request: Record<string, unknown>;
  /** null: sent, no answer recorded (a crash in between). */
  outcome: 'ok' | 'rejected' | 'unavailable' | 'unknown' | null;
}

/** A trade event the integration synchronised from a server (for reporting and IB commissions). */
export interface TradeView {
  serverId: string;
  login: number;
  /** MT4 order ticket, MT5 position id. */
  ticket: number;
  action: 'open' | 'close';
}

export interface FindingView {
  class: FindingClass;
  serverId: string | null;
  login: number | null;
  /** The integration's transfer reference, when the finding is about one. */
  ref: string | null;
  /** The server's ticket or deal, when the finding is about one operation. */
  ticket: number | null;
  pspRef: string | null;
  detail: string;
}

export interface ReconciliationView {
  /** A server or the provider could not be read: the findings cover only the rest. */
  partial: boolean;
  findings: FindingView[];
}

/** What the harness hands an incarnation of the integration: a fresh process after every crash. */
export interface IntegrationRuntime {
  /**
   * This incarnation's time. Wait only through it (`sleep`): when the harness crashes the integration,
   * every wait of this incarnation is dropped, at whatever point it is.
   */
  clock: Clock;
  /** This incarnation's random source (derived from the run seed). */
  random: Random;
  /** A new connection object to a configured server (`config.servers[].id`); connect it with `password`. */
  manager(serverId: string): ManagerApi;
  /** A secret by environment-variable name (`servers[].passwordEnv`), undefined if unset. */
  secret(name: string): string | undefined;
  /** The payment provider's records, for reconciliation. */
  payments: PaymentRecords;
  /** Every line the integration logs: the harness checks that no secret ever appears in one. */
  log(line: string): void;
}

export interface IntegrationSetup {
  /** The broker configuration being certified, parsed and frozen. */
  config: Readonly<BrokerConfig>;
  /** The run's seed. */
  seed: string;
}

/**
 * One integration under certification. The object itself outlives crashes: whatever it holds when `run` is
 * called again is what survived, so keep in it only what the real system keeps durably (its database).
 */
export interface Integration {
  /**
   * Runs one incarnation: connects, works its queues, until the harness crashes it (then this promise never
   * settles) or the run ends. Called once at the start and again after every crash.
   */
  run(runtime: IntegrationRuntime): Promise<void>;

  registerClient(input: ClientInput): Promise<Answer<{ clientId: string }>>;
  setKyc(clientId: string, decision: KycDecision): Promise<Answer<void>>;
  openAccount(input: { clientId: string; productId: string }): Promise<Answer<{ accountId: string }>>;
  /** The provider's webhook: a confirmed card deposit. */
  deposit(input: DepositInput): Promise<Answer<{ ref: string }>>;
  withdraw(input: MoneyInput): Promise<Answer<{ ref: string }>>;
  /** A bonus credit (MetaTrader credit, not balance). */
  credit(input: MoneyInput): Promise<Answer<{ ref: string }>>;
  reconcile(): Promise<Answer<ReconciliationView>>;

  // What the integration says it did, read at the end of a run (and for reports).
  accounts(): Promise<AccountView[]>;
  transfers(): Promise<TransferView[]>;
  alerts(): Promise<AlertView[]>;
  /** Absent: the audit invariant's verdict is `unknown`. */
  audit?(): Promise<AuditView[]>;
  /** Absent: the trade-sync invariant's verdict is `unknown`. */
  trades?(): Promise<TradeView[]>;
  /** Called once when the run is over, after the last view: release what the integration opened for it. */
  close?(): Promise<void>;
}

export type IntegrationFactory = (setup: IntegrationSetup) => Integration;
