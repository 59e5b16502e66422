import type { ErrorCode } from '../../kit/errors.ts';
import type { AccountState } from '../store/schema.ts';

/**
 * The CRM write-back port, shaped by what the service has to tell: for one trading account, its id, where it
 * lives (server, group, login), its status and the client's onboarding state. The CRM owns the client; the
 * service only writes back the facts it owns (see the field-ownership table in service/README.md).
 *
 * Every call ends as a value: the CRM took it, refused it for good, or could not take it now. Network
 * failures and timeouts never throw.
 */

/**
 * Where the client stands, as the service sees it for one account. Derived from the account and the
 * client's KYC when the write-back runs (`onboardingOf` in sync.ts), never stored.
 */
export type OnboardingState = 'kyc_pending' | 'kyc_rejected' | 'account_pending' | 'account_open' | 'account_failed';

export interface CrmUpdate {
  /** The CRM's id of the client (the client's `externalId`): the HubSpot contact id, the Salesforce Contact id. */
  crmClientId: string;
  accountId: string;
  serverId: string;
  /** The MetaTrader login; null until the account is open. */
  login: number | null;
  group: string;
  status: AccountState;
  onboarding: OnboardingState;
  /** When the service read the state it writes back (its clock): the write-back is "as of" then. */
  atMs: number;
}

export type CrmErrorCode = Extract<
  ErrorCode,
  'MTP_CRM_REJECTED' | 'MTP_CRM_UNAVAILABLE' | 'MTP_CRM_UNREACHABLE' | 'MTP_CRM_TIMEOUT'
>;

export type CrmResult =
  | { ok: true; status: number }
  | {
      ok: false;
      /** rejected: permanent (a 4xx other than 408/429), the same write will not succeed; unavailable: try later. */
      outcome: 'rejected' | 'unavailable';
      code: CrmErrorCode;
      /** The HTTP status; null when there was no answer (network error, timeout). */
      status: number | null;
      /** What went wrong, with the CRM's own message when it gave one. */
      message: string;
      /** The CRM's Retry-After, in ms; null when it gave none. */
      retryAfterMs: number | null;
    };

export interface CrmPort {
  /** Which CRM (for logs and alerts). */
  readonly system: string;
  writeBack(update: CrmUpdate): Promise<CrmResult>;
}

/**
 * Where each fact of an update goes in the CRM: a field (property) name per fact. `login` is a number field
 * (empty until the account is open); `atMs` a date-time field, when the service read what it writes.
 */
export interface CrmFieldNames {
  accountId: string;
  status: string;
  onboarding: string;
  login: string;
  serverId: string;
  group: string;
  atMs: string;
}

/** The update's facts under the CRM's field names; the login as the CRM takes it (a string, a number, null). */
export function crmFields<L>(names: Readonly<CrmFieldNames>, update: CrmUpdate, login: L): Record<string, string | L> {
  return {
    [names.accountId]: update.accountId,
    [names.status]: update.status,
    [names.onboarding]: update.onboarding,
    [names.login]: login,
    [names.serverId]: update.serverId,
    [names.group]: update.group,
    [names.atMs]: new Date(update.atMs).toISOString(),
  };
}

/** The CRM-visible part of two updates is the same (`atMs` aside). */
export function sameFacts(a: CrmUpdate, b: CrmUpdate): boolean {
  return (
    a.crmClientId === b.crmClientId &&
    a.accountId === b.accountId &&
    a.serverId === b.serverId &&
    a.login === b.login &&
    a.group === b.group &&
    a.status === b.status &&
    a.onboarding === b.onboarding
  );
}
