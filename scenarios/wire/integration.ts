import { MtproofError } from '../../kit/errors.ts';

/**
 * What the harness needs of an integration it certifies over the wire (a real stack, or a black box behind
 * `--integration-url`): open an account for a new client, move money by the harness's own reference, say where
 * a transfer stands, and reconcile. The harness checks the answers against the served simulator's ground truth.
 *
 * Every method may throw when the integration cannot be reached (it was killed, the network failed): the
 * driver then calls again with the same reference, so an implementation must be idempotent by reference —
 * the same reference never moves money twice, whatever the number of calls.
 */

export type WireTransferState = 'pending' | 'done' | 'failed';

export interface WireAccount {
  readonly accountRef: string;
  /** Null until the account exists on a server. */
  readonly serverId: string | null;
  readonly login: number | null;
  readonly state: 'pending' | 'open' | 'failed';
}

export interface WireTransfer {
  readonly reference: string;
  readonly accountRef: string;
  readonly kind: 'deposit' | 'withdrawal';
  readonly amountCents: number;
  readonly state: WireTransferState;
  /** The server's ticket (MT4 order, MT5 deal) of the operation, once done. */
  readonly ticket: number | null;
}

export interface WireFinding {
  readonly serverId: string | null;
  readonly login: number | null;
  /** The integration's own class name (e.g. unknown_operation, missing_on_server). */
  readonly kind: string;
  /** The server ticket the finding is about, when there is one. */
  readonly ticket: number | null;
}

export interface WireIntegration {
  /** A short name for reports. */
  readonly name: string;
  openAccount(input: { clientRef: string; name: string; email: string; country: string }): Promise<WireAccount>;
  account(accountRef: string): Promise<WireAccount>;
  deposit(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer>;
  withdraw(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer>;
  /** Null when the integration has never heard of the reference. */
  transfer(reference: string): Promise<WireTransfer | null>;
  reconcile(): Promise<{ findings: WireFinding[] }>;
}

/** How much of an answer's body an error quotes. */
export const RECEIVED_EXCERPT_CHARS = 300;

export function excerpt(text: string): string {
  return text.length <= RECEIVED_EXCERPT_CHARS ? text : `${text.slice(0, RECEIVED_EXCERPT_CHARS)}…`;
}

export function statusText(status: number | null): string {
  return status === null ? 'no answer' : `HTTP ${status}`;
}

/** No usable answer now (network error, timeout, 408, 429, 5xx): call again with the same reference. */
export class IntegrationUnreachable extends MtproofError {
  readonly route: string;
  /** Null when no HTTP answer came at all. */
  readonly status: number | null;
  readonly received: string;
  constructor(route: string, what: string, status: number | null, received = '') {
    const cut = excerpt(received);
    super(
      'MTP_INTEGRATION_UNREACHABLE',
      `${route}: ${what} (${statusText(status)}${cut === '' ? '' : `; received ${JSON.stringify(cut)}`})`,
    );
    this.name = 'IntegrationUnreachable';
    this.route = route;
    this.status = status;
    this.received = cut;
  }
}

/**
 * The integration refused the request by a rule of its own (HTTP 422, `{ error: { code, message } }`):
 * nothing was recorded and nothing moved; the same reference may be sent again later (once the account is
 * open, say).
 */
export class IntegrationRefused extends MtproofError {
  readonly route: string;
  /** The integration's code. */
  readonly refusal: string;
  readonly refusalMessage: string;
  constructor(route: string, refusal: string, refusalMessage: string) {
    super('MTP_INTEGRATION_REFUSED', `${route}: refused ${refusal}: ${excerpt(refusalMessage)}`);
    this.name = 'IntegrationRefused';
    this.route = route;
    this.refusal = refusal;
    this.refusalMessage = refusalMessage;
  }
}
