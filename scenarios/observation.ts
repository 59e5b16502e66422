import type { BrokerConfig } from '../service/config.ts';
import type { PspRecord } from '../service/psp/port.ts';
import type { MarginRead, SimAccount, SimBalanceOp, SimClosedTrade, SimPosition } from '../simulator/index.ts';
import type {
  AccountView,
  AlertView,
  AuditView,
  KycDecision,
  ReconciliationView,
  TradeView,
  TransferView,
} from './integration.ts';

/**
 * Everything the invariants judge, gathered at the end of a run: the simulator's ground truth (what really
 * happened on each server), what the harness asked for (as the CRM and the provider), and what the
 * integration says it did. The checkers are pure functions of it.
 */

export interface ClientRecord {
  /** The script's id (`c1`). */
  id: string;
  country: string;
  /** The integration's id, once it accepted the client. */
  clientId: string | undefined;
  /** KYC decisions sent, in order; `unanswered`: sent but never confirmed (it may or may not have applied). */
  kyc: { atMs: number; decision: KycDecision; unanswered?: boolean }[];
}

export interface OpenRequest {
  /** The script's id (`a1`). */
  id: string;
  client: string;
  productId: string;
  requestedMs: number;
  /** The client's KYC state when the account was requested, as the harness last confirmed it. */
  kycAtRequest: string;
  accountId: string | undefined;
  /** The refusal code, when refused. */
  refused: string | undefined;
}

export interface WebhookRecord {
  pspRef: string;
  account: string;
  accountId: string;
  amountCents: number;
  currency: string;
  confirmedMs: number;
  mode: 'once' | 'twice' | 'lost';
  deliveries: number;
  /** The first answer: accepted with a reference, or refused with a code. */
  answered: { ok: true; ref: string } | { ok: false; code: string } | undefined;
  /** When the provider delivers it again (null: it will not). */
  nextMs: number | null;
}

export interface ServerTruth {
  id: string;
  platform: 'mt4' | 'mt5';
  kind: 'live' | 'demo';
  accounts: SimAccount[];
  ops: ReadonlyMap<number, SimBalanceOp[]>;
  closedTrades: ReadonlyMap<number, SimClosedTrade[]>;
  openPositions: ReadonlyMap<number, SimPosition[]>;
  marginReads: ReadonlyMap<number, MarginRead[]>;
}

export interface Observation {
  /** The certified config: what the integration must do. */
  config: Readonly<BrokerConfig>;
  endMs: number;
  servers: ServerTruth[];
  psp: PspRecord[];
  clients: ClientRecord[];
  openRequests: OpenRequest[];
  webhooks: WebhookRecord[];
  /** `${serverId}:${login}` of accounts a dealer moved to another group. */
  dealerGroupChanged: ReadonlySet<string>;
  /** When the harness crashed the integration. */
  crashes: number[];
  /** Commands that threw and processes of the integration that failed. */
  thrown: string[];
  integration: {
    accounts: AccountView[];
    transfers: TransferView[];
    alerts: AlertView[];
    audit: AuditView[] | null;
    trades: TradeView[] | null;
    /** The final reconciliation, null if it got no answer or was refused. */
    reconciliation: ReconciliationView | null;
    logs: string[];
  };
  /** Secret values that must appear nowhere the integration writes. */
  secrets: string[];
}
