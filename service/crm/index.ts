import type { Clock } from '../../kit/clock.ts';
import type { CrmConfig } from '../config.ts';
import type { CrmFetch } from './http.ts';
import { HubSpotCrm } from './hubspot.ts';
import type { CrmPort } from './port.ts';
import { SalesforceCrm } from './salesforce.ts';

export { type CrmFetch, type CrmResponse, type HttpCrmOptions, retryAfterMs } from './http.ts';
export { HUBSPOT_DEFAULT_PROPERTIES, HubSpotCrm, type HubSpotOptions, type HubSpotProperties } from './hubspot.ts';
export type { CrmErrorCode, CrmFieldNames, CrmPort, CrmResult, CrmUpdate, OnboardingState } from './port.ts';
export {
  SALESFORCE_API_VERSION,
  SALESFORCE_DEFAULT_FIELDS,
  SalesforceCrm,
  type SalesforceFields,
  type SalesforceOptions,
} from './salesforce.ts';
export { onboardingOf } from './sync.ts';

/**
 * The adapter `config.crm` names, with the token read from `config.crm.tokenEnv` by the caller and the
 * default property/field names. `fetch` absent: the global fetch.
 */
export function crmFromConfig(config: Readonly<CrmConfig>, token: string, clock: Clock, fetch?: CrmFetch): CrmPort {
  const options = { baseUrl: config.baseUrl, token, timeoutMs: config.timeoutMs, clock, fetch };
  switch (config.system) {
    case 'hubspot':
      return new HubSpotCrm(options);
    case 'salesforce':
      return new SalesforceCrm(options);
  }
}
