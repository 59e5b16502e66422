import { type CrmDialect, type HttpCrmOptions, patchJson, textMessage, trimBase } from './http.ts';
import { type CrmFieldNames, type CrmPort, type CrmResult, type CrmUpdate, crmFields } from './port.ts';

/**
 * HubSpot: the account's facts become custom contact properties, written with the CRM v3 objects API —
 * `PATCH {baseUrl}/crm/v3/objects/contacts/{contactId}` with `{ "properties": { ... } }` and a private-app
 * token as bearer. HubSpot property values are strings; an empty string clears a property (the login
 * before the account is open). The properties must exist in the portal (service/crm/README.md lists them).
 */

/** The internal name of the contact property each fact is written to (`atMs`: a date-time property). */
export type HubSpotProperties = CrmFieldNames;

export const HUBSPOT_DEFAULT_PROPERTIES: Readonly<HubSpotProperties> = {
  accountId: 'mtproof_account_id',
  status: 'mtproof_account_status',
  onboarding: 'mtproof_onboarding_state',
  login: 'mtproof_mt_login',
  serverId: 'mtproof_mt_server',
  group: 'mtproof_mt_group',
  atMs: 'mtproof_synced_at',
};

export interface HubSpotOptions extends HttpCrmOptions {
  /** Property names overriding the defaults. */
  properties?: Partial<HubSpotProperties>;
}

/** HubSpot's error body: `{ status: "error", message, correlationId, category, errors?: [{ message }] }`. */
const HUBSPOT: CrmDialect = {
  messageOf(body) {
    if (typeof body !== 'object' || body === null) return textMessage(body);
    const { message, category, errors } = body as { message?: unknown; category?: unknown; errors?: unknown };
    const details = Array.isArray(errors)
      ? errors.map((e) => (e as { message?: unknown })?.message).filter((m): m is string => typeof m === 'string')
      : [];
    const head = typeof message === 'string' ? message : undefined;
    const parts = [typeof category === 'string' ? `${category}:` : '', head ?? '', ...details].filter((p) => p !== '');
    return parts.length === 0 ? undefined : parts.join(' ');
  },
};

export class HubSpotCrm implements CrmPort {
  readonly system = 'hubspot';
  readonly #options: HubSpotOptions;
  readonly #names: HubSpotProperties;

  constructor(options: HubSpotOptions) {
    this.#options = options;
    this.#names = { ...HUBSPOT_DEFAULT_PROPERTIES, ...options.properties };
  }

  writeBack(update: CrmUpdate): Promise<CrmResult> {
    // Every HubSpot property value is a string.
    const properties = crmFields(this.#names, update, update.login === null ? '' : String(update.login));
    const url = `${trimBase(this.#options.baseUrl)}/crm/v3/objects/contacts/${encodeURIComponent(update.crmClientId)}`;
    return patchJson(this.#options, HUBSPOT, url, { properties });
  }
}
