/**
 * mtproof's own errors: a stable code, a message that names what is wrong and where, and details.
 *
 * These are for bad input (config, flags, scripts) and misuse. Platform and network failures of a
 * MetaTrader server are not thrown: they are values (`ManagerError` in adapters/port).
 */

/** The registry of codes: one place to see every code the tool can report. */
export const ERROR_CODES = {
  MTP_CONFIG_INVALID: 'a configuration file or object failed validation',
  MTP_CONFIG_UNREADABLE: 'a configuration file could not be read or parsed',
  MTP_CLI_BAD_FLAG: 'a command-line flag has a bad value',
  MTP_FAULTS_INVALID: 'a fault configuration or schedule failed validation',
  MTP_SECRET_MISSING: 'an environment variable named by the configuration is not set',
  MTP_BAD_REQUEST: 'a command to the service has a missing or malformed field',
  MTP_UNKNOWN_CLIENT: 'no client with this id',
  MTP_UNKNOWN_PRODUCT: 'no product with this id in the broker configuration',
  MTP_UNKNOWN_ACCOUNT: 'no trading account with this id',
  MTP_UNKNOWN_TRANSFER: 'no transfer with this reference',
  MTP_DUPLICATE_CLIENT: 'a client with this external id exists with different details',
  MTP_KYC_REQUIRED: 'the KYC policy needs an approved KYC for this',
  MTP_NO_ROUTE: 'no routing rule places this client and product on a server',
  MTP_ACCOUNT_NOT_OPEN: 'the trading account is not open (pending or failed)',
  MTP_CURRENCY_MISMATCH: "the amount's currency is not the account's",
  MTP_AMOUNT_OUT_OF_RANGE: "the amount is outside the funding rules' limits",
  MTP_DUPLICATE_PSP_REF: 'this payment-provider id already belongs to a different transfer',
  MTP_TRANSFER_STATE: 'the transfer is not in a state that allows this',
  MTP_PSP_CSV_INVALID: 'a payment-provider export could not be read',
  MTP_UNKNOWN_PARTNER: 'no introducing broker (ib.partners) with this id in the broker configuration',
  MTP_BUS_UNAVAILABLE: 'the message broker cannot be reached (or dropped the connection): retried later',
  MTP_BUS_REFUSED: 'the message broker refused (nacked) a message or a queue declaration',
  MTP_BUS_CLOSED: 'the event bus was closed by its owner',
  MTP_BUS_UNROUTABLE: 'the message broker has no queue bound to the message topic: it would have been dropped',
  MTP_CRM_REJECTED: 'the CRM refused a write-back (HTTP 4xx): retrying the same write cannot help',
  MTP_CRM_UNAVAILABLE: 'the CRM answered 429 or 5xx: the write-back is retried later',
  MTP_CRM_UNREACHABLE: 'the CRM could not be reached (network error): the write-back is retried later',
  MTP_CRM_TIMEOUT: 'the CRM did not answer within crm.timeoutMs: the write-back is retried later',
  MTP_SCRIPT_INVALID: 'a scenario script failed validation',
  MTP_SCRIPT_UNREADABLE: 'a scenario script file could not be read',
  MTP_INTEGRATION_INVALID: 'an integration module could not be loaded or does not export a factory',
  MTP_INTEGRATION_URL_INVALID: '--integration-url is not an http(s) base URL without query or fragment',
  MTP_INTEGRATION_UNREACHABLE:
    'the integration under black-box certification did not answer (network error, timeout, 408, 429 or 5xx)',
  MTP_INTEGRATION_REFUSED: 'the integration refused a harness request by a rule of its own (422): nothing was moved',
  MTP_CONTRACT_VIOLATION: "the integration's answer breaks the harness contract (scenarios/README.md)",
  MTP_RECONCILIATION_PARTIAL:
    'the reconciliation could not read every server (or the provider): its findings are incomplete, retry',
  MTP_OUT_DIR: 'the report folder could not be written',
  MTP_UNAUTHORIZED: 'the HTTP API request has no valid API key (Authorization: Bearer KEY)',
  MTP_NO_API_KEY: 'the service has no API key: set MTPROOF_API_KEY or run `mtproof service keys create`',
  MTP_API_KEY_INVALID: 'MTPROOF_API_KEY is too short or has characters a key may not have',
  MTP_UNKNOWN_API_KEY: 'no API key with this id',
  MTP_IDEMPOTENCY_KEY_MISSING: 'a POST that moves money or creates something needs an Idempotency-Key header',
  MTP_IDEMPOTENCY_CONFLICT: 'this Idempotency-Key was first used with a different request body',
  MTP_NOT_FOUND: 'no such route in the HTTP API',
  MTP_SIM_UNKNOWN_SERVER: 'the served simulator has no server of that id',
  MTP_SIM_NOT_MT5: 'the MT5 Web API is served only for MT5 servers of the cluster',
  MTP_SIM_UNKNOWN_SESSION:
    "the served simulator's native API has no such session (closed, idle too long, or the world was reset)",
  MTP_SIM_UNKNOWN_SUBSCRIPTION: 'the native session has no such event subscription',
  MTP_SIM_FAILED: 'the simulated world stopped on a simulator bug: reset it through the control API',
  MTP_SIM_TOKEN_REQUIRED:
    'the served simulator or the fault proxy would listen beyond loopback without a token (--token-env)',
  MTP_UNKNOWN_RECONCILIATION: 'no reconciliation run with this id',
  MTP_MALFORMED_JSON: 'the request body is not valid JSON',
  MTP_UNSUPPORTED_MEDIA_TYPE: 'the request body is not application/json',
  MTP_PAYLOAD_TOO_LARGE: 'the request body is larger than the API accepts',
  MTP_WEBHOOK_SIGNATURE: 'the payment-provider webhook signature is missing, wrong or outside its time tolerance',
  MTP_WEBHOOK_NOT_CONFIGURED: 'the payment-provider webhook is not enabled (psp.webhook in the broker config)',
  MTP_NOT_READY: 'the service cannot take requests yet (its store does not answer)',
  MTP_STORE_BUSY:
    'the store kept refusing the transaction as conflicting with concurrent ones: nothing was done, retry',
  MTP_INTERNAL: 'a bug of the service: the request failed and was logged',
  MTP_DOCKER_UNAVAILABLE: 'no container runtime (Docker) to start Postgres and RabbitMQ with --containers',
  MTP_STORE_UNAVAILABLE: 'the selected store cannot be opened (DATABASE_URL unset, or the database refused)',
  MTP_STORE_SCHEMA_MISMATCH:
    "the database's schema is not this version's: a migration it applied has changed since, or it is newer",
  MTP_PROXY_UNKNOWN: 'no fault proxy with this name',
  MTP_PROXY_EXISTS: 'a fault proxy with this name exists already',
  MTP_PROXY_LISTEN_FAILED: 'the fault proxy cannot listen on its address (in use, not local, or not allowed)',
  MTP_PROXY_TOXIC_UNKNOWN: 'the fault proxy has no toxic with this name',
  MTP_PROXY_TOXIC_EXISTS: 'the fault proxy has a toxic with this name already',
  MTP_PROXY_LIMIT: 'too many fault proxies, or too many toxics on one proxy',
  MTP_PROXY_NO_TOKEN: "the fault proxy's control API would listen beyond loopback without a token (--token-env)",
  MTP_DLL_LAYOUT: "a native struct's koffi size differs from the facts file: the binding would corrupt memory",
  MTP_DLL_LOAD: 'the Manager API library could not be loaded, or lacks its factory exports',
  MTP_DLL_CREATE: "the Manager API library's factory refused to create an interface (version mismatch?)",
  MTP_DLL_CODEPAGE: 'the ANSI code page is unknown or not single-byte: MT4 text would be garbled',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface Issue {
  /** Where: a path such as `servers[1].logins.from`, or a flag such as `--steps`. */
  path: string;
  message: string;
}

export class MtproofError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];

  constructor(code: ErrorCode, message: string, issues: readonly Issue[] = []) {
    super(issues.length === 0 ? message : `${message}\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'MtproofError';
    this.code = code;
    this.issues = issues;
  }
}

/** Formats a zod-style path (`['servers', 1, 'logins', 'from']`) as `servers[1].logins.from`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** The shape of a zod error's issues that matters here (kept structural: kit imports no library). */
interface SchemaIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code?: string;
  readonly keys?: readonly string[];
}

/**
 * Issues of a schema error, one per offending field: an unknown key is reported at its own path
 * (`servers[0].colour`), not at its parent's.
 */
export function schemaIssues(error: { readonly issues: readonly SchemaIssue[] }): Issue[] {
  const out: Issue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys' && issue.keys !== undefined && issue.keys.length > 0) {
      for (const key of issue.keys) out.push({ path: formatPath([...issue.path, key]), message: 'unknown field' });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}
