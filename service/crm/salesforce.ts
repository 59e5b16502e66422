import { type CrmDialect, type HttpCrmOptions, patchJson, textMessage, trimBase } from './http.ts';
import { type CrmFieldNames, type CrmPort, type CrmResult, type CrmUpdate, crmFields } from './port.ts';

/**
 * Salesforce: the account's facts become custom fields of the client's Contact, written with the REST API's
 * sObject Rows resource — `PATCH {baseUrl}/services/data/v60.0/sobjects/Contact/{id}` with the fields as a
 * JSON object and an OAuth access token as bearer; 204 No Content is success. The fields must exist on
 * Contact (service/crm/README.md lists them and their types); null clears a field.
 */

/** The API name of the Contact field each fact is written to (`login`: a Number, `atMs`: a DateTime). */
export type SalesforceFields = CrmFieldNames;

export const SALESFORCE_DEFAULT_FIELDS: Readonly<SalesforceFields> = {
  accountId: 'MTProof_Account_Id__c',
  status: 'MTProof_Account_Status__c',
  onboarding: 'MTProof_Onboarding_State__c',
  login: 'MTProof_MT_Login__c',
  serverId: 'MTProof_MT_Server__c',
  group: 'MTProof_MT_Group__c',
  atMs: 'MTProof_Synced_At__c',
};

export const SALESFORCE_API_VERSION = 'v60.0';

export interface SalesforceOptions extends HttpCrmOptions {
  /** Field API names overriding the defaults. */
  fields?: Partial<SalesforceFields>;
}

/** Salesforce's error body: `[{ message, errorCode, fields? }]`. */
const SALESFORCE: CrmDialect = {
  messageOf(body) {
    if (!Array.isArray(body)) return textMessage(body);
    const parts = body.map((e) => {
      const { message, errorCode } = (e ?? {}) as { message?: unknown; errorCode?: unknown };
      const text = typeof message === 'string' ? message : '';
      return typeof errorCode === 'string' ? `${errorCode}: ${text}`.trim() : text;
    });
    const joined = parts.filter((p) => p !== '').join('; ');
    return joined === '' ? undefined : joined;
  },
  // The org's API request limit is answered 403 REQUEST_LIMIT_EXCEEDED: a rate limit, not a refusal.
  transient: (status, body) =>
    status === 403 &&
    Array.isArray(body) &&
    body.some((e) => (e as { errorCode?: unknown })?.errorCode === 'REQUEST_LIMIT_EXCEEDED'),
};

export class SalesforceCrm implements CrmPort {
  readonly system = 'salesforce';
  readonly #options: SalesforceOptions;
  readonly #names: SalesforceFields;

  constructor(options: SalesforceOptions) {
    this.#options = options;
    this.#names = { ...SALESFORCE_DEFAULT_FIELDS, ...options.fields };
  }

  writeBack(update: CrmUpdate): Promise<CrmResult> {
    // The login as a Number; null clears it while the account has none.
    const fields = crmFields(this.#names, update, update.login);
    const base = trimBase(this.#options.baseUrl);
    const url = `${base}/services/data/${SALESFORCE_API_VERSION}/sobjects/Contact/${encodeURIComponent(update.crmClientId)}`;
    return patchJson(this.#options, SALESFORCE, url, fields);
  }
}
