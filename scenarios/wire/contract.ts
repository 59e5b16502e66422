import { z } from 'zod';
import { type Issue, MtproofError, schemaIssues } from '../../kit/errors.ts';
import {
  excerpt,
  IntegrationRefused,
  IntegrationUnreachable,
  RECEIVED_EXCERPT_CHARS,
  statusText,
  type WireAccount,
  type WireFinding,
  type WireIntegration,
  type WireTransfer,
} from './integration.ts';

export { IntegrationRefused, IntegrationUnreachable, RECEIVED_EXCERPT_CHARS };

/**
 * The black-box harness contract (`mtproof certify --integration-url URL`): the small HTTP API an external
 * integration exposes so that the harness can drive it, written once here as zod schemas, and
 * `ContractIntegration`, the harness's client of it. scenarios/README.md documents the same contract for the
 * people who implement it; mtproof's own service serves it under `/harness/v1` (service/api/harness-contract.ts)
 * with `mtproof service --harness-contract`.
 *
 * Every answer is checked against the schemas and against the request (the echoed reference, account, kind
 * and amount): an answer that breaks either is a `ContractViolation`, which fails the run. An integration
 * that cannot be reached (network error, timeout, 408, 429, 5xx) is `IntegrationUnreachable`: the driver
 * calls again with the same reference, which the contract makes safe. A refusal by one of the integration's
 * own rules (422) is `IntegrationRefused`: nothing was recorded and nothing moved.
 */

/** References and client refs the harness makes: they travel in URL paths, so URL-safe, and 1–64 long. */
export const CONTRACT_REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** How long one call may take, the answer's body included (default). */
export const DEFAULT_CONTRACT_TIMEOUT_MS = 10_000;

/** How much of an answer an error quotes. */

const harnessRef = z
  .string()
  .regex(CONTRACT_REF_PATTERN, '1 to 64 characters: letters, digits, and . _ : - after the first');
/** The integration's own id of an account: any text, bounded (it is sent back percent-encoded in paths). */
const accountRef = z.string().min(1).max(128);
const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

// ---- requests (what the harness sends; an integration may accept more) ----

export const openAccountRequest = z.strictObject({
  /** The harness's id of the client: the same clientRef again is the same client and the same account. */
  clientRef: harnessRef,
  name: z.string().min(1).max(128),
  email: z.string().min(3).max(128),
  /** ISO 3166-1 alpha-2. */
  country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2 (two capital letters)'),
});

export const transferRequest = z.strictObject({
  /** The harness's reference: the same reference again never moves money a second time. */
  reference: harnessRef,
  accountRef,
  /** Integer minor units of the account's currency, positive; the kind (route) gives the direction. */
  amountCents: positiveInt,
});

/** `POST /reconcile` takes an empty object. */
export const reconcileRequest = z.strictObject({});

export type OpenAccountRequest = z.infer<typeof openAccountRequest>;
export type TransferRequest = z.infer<typeof transferRequest>;

// ---- answers (extra fields are allowed and ignored; the named ones must be as stated) ----

export const accountAnswer = z
  .looseObject({
    accountRef,
    /** Where the account is (may be set while pending: where it will open). */
    serverId: z.string().min(1).max(128).nullable(),
    login: positiveInt.nullable(),
    state: z.enum(['pending', 'open', 'failed']),
  })
  .superRefine((account, ctx) => {
    if (account.state !== 'open') return;
    if (account.serverId === null)
      ctx.addIssue({ code: 'custom', path: ['serverId'], message: 'null on an open account' });
    if (account.login === null) ctx.addIssue({ code: 'custom', path: ['login'], message: 'null on an open account' });
  });

export const transferAnswer = z
  .looseObject({
    reference: harnessRef,
    accountRef,
    kind: z.enum(['deposit', 'withdrawal']),
    amountCents: positiveInt,
    state: z.enum(['pending', 'done', 'failed']),
    /** The server's ticket (MT4 order, MT5 deal) of the operation; required once done. */
    ticket: positiveInt.nullable(),
  })
  .superRefine((transfer, ctx) => {
    if (transfer.state === 'done' && transfer.ticket === null) {
      ctx.addIssue({ code: 'custom', path: ['ticket'], message: 'null on a done transfer' });
    }
  });

export const findingAnswer = z.looseObject({
  serverId: z.string().min(1).max(128).nullable(),
  login: positiveInt.nullable(),
  /** The integration's own class name (unknown_operation, missing_on_server, ...). */
  kind: z.string().min(1).max(64),
  ticket: positiveInt.nullable(),
});

export const reconcileAnswer = z.looseObject({ findings: z.array(findingAnswer) });

/** The body of a 422 (and, recommended, of any other error). */
export const errorAnswer = z.looseObject({
  error: z.looseObject({ code: z.string().min(1).max(128), message: z.string().max(10_000) }),
});

// ---- errors ----

/** The integration answered, but not as the contract says: the run fails (retrying cannot help). */
export class ContractViolation extends MtproofError {
  /** The call, as `POST /deposits` or `GET /transfers/{reference}`. */
  readonly route: string;
  readonly status: number;
  /** The answer's body, cut to RECEIVED_EXCERPT_CHARS. */
  readonly received: string;
  constructor(route: string, what: string, status: number, received: string, issues: readonly Issue[] = []) {
    const cut = excerpt(received);
    super(
      'MTP_CONTRACT_VIOLATION',
      `${route}: ${what} (${statusText(status)}; received ${JSON.stringify(cut)})`,
      issues,
    );
    this.name = 'ContractViolation';
    this.route = route;
    this.status = status;
    this.received = cut;
  }
}

// ---- the client ----

export type ContractFetch = (url: string, init: RequestInit) => Promise<Response>;

export interface ContractIntegrationOptions {
  /** The contract's base URL: `http://host:port/harness/v1` for mtproof's service. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer TOKEN` on every call when given. */
  token?: string;
  /** Per call, the body included (default DEFAULT_CONTRACT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** A short name for reports (default: the base URL's host). */
  name?: string;
  /** The global fetch when absent. */
  fetch?: ContractFetch;
}

interface Received {
  status: number;
  text: string;
}

export class ContractIntegration implements WireIntegration {
  readonly name: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly #token: string | undefined;
  readonly #fetch: ContractFetch;

  constructor(options: ContractIntegrationOptions) {
    this.baseUrl = parseBaseUrl(options.baseUrl);
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONTRACT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
      throw new MtproofError(
        'MTP_CLI_BAD_FLAG',
        `the contract's call timeout must be a positive integer of ms, not ${timeoutMs}`,
        [{ path: 'timeoutMs', message: 'not a positive integer' }],
      );
    }
    this.timeoutMs = timeoutMs;
    this.name = options.name ?? new URL(this.baseUrl).host;
    this.#token = options.token;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
  }

  /** Resolves when `GET /health` answers 200; throws IntegrationUnreachable otherwise (401/403: ContractViolation). */
  async health(): Promise<void> {
    const route = 'GET /health';
    const answer = await this.#send(route, 'GET', '/health');
    if (answer.status === 200) return;
    if (answer.status === 404) {
      throw new ContractViolation(
        route,
        'no harness contract at this base URL (mtproof: http://HOST:PORT/harness/v1, with `mtproof service --harness-contract`)',
        404,
        answer.text,
      );
    }
    this.#failure(route, answer);
    throw new IntegrationUnreachable(route, 'not ready', answer.status, answer.text);
  }

  async openAccount(input: { clientRef: string; name: string; email: string; country: string }): Promise<WireAccount> {
    const route = 'POST /accounts';
    const body = this.#request(route, openAccountRequest, input);
    const answer = await this.#send(route, 'POST', '/accounts', body);
    return toAccount(this.#parse(route, answer, accountAnswer));
  }

  async account(ref: string): Promise<WireAccount> {
    const route = 'GET /accounts/{accountRef}';
    const answer = await this.#send(route, 'GET', `/accounts/${encodeURIComponent(ref)}`);
    if (answer.status === 404) {
      throw new ContractViolation(
        route,
        `unknown account ${ref}, an accountRef the integration gave`,
        404,
        answer.text,
      );
    }
    const account = toAccount(this.#parse(route, answer, accountAnswer));
    if (account.accountRef !== ref) {
      throw new ContractViolation(route, 'answered another account', answer.status, answer.text, [
        { path: 'accountRef', message: `asked ${ref}, answered ${account.accountRef}` },
      ]);
    }
    return account;
  }

  deposit(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('deposit', input);
  }

  withdraw(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('withdrawal', input);
  }

  async transfer(reference: string): Promise<WireTransfer | null> {
    const route = 'GET /transfers/{reference}';
    const answer = await this.#send(route, 'GET', `/transfers/${encodeURIComponent(reference)}`);
    if (answer.status === 404) return null;
    const transfer = toTransfer(this.#parse(route, answer, transferAnswer));
    if (transfer.reference !== reference) {
      throw new ContractViolation(route, 'answered another transfer', answer.status, answer.text, [
        { path: 'reference', message: `asked ${reference}, answered ${transfer.reference}` },
      ]);
    }
    return transfer;
  }

  async reconcile(): Promise<{ findings: WireFinding[] }> {
    const route = 'POST /reconcile';
    const answer = await this.#send(route, 'POST', '/reconcile', {});
    const parsed = this.#parse(route, answer, reconcileAnswer);
    return {
      findings: parsed.findings.map((f) => ({ serverId: f.serverId, login: f.login, kind: f.kind, ticket: f.ticket })),
    };
  }

  async #move(
    kind: 'deposit' | 'withdrawal',
    input: { reference: string; accountRef: string; amountCents: number },
  ): Promise<WireTransfer> {
    const route = kind === 'deposit' ? 'POST /deposits' : 'POST /withdrawals';
    const body = this.#request(route, transferRequest, input);
    const answer = await this.#send(route, 'POST', kind === 'deposit' ? '/deposits' : '/withdrawals', body);
    if (answer.status === 404) {
      throw new ContractViolation(
        route,
        `unknown account ${input.accountRef}, an accountRef the integration gave`,
        404,
        answer.text,
      );
    }
    const transfer = toTransfer(this.#parse(route, answer, transferAnswer));
    const wrong: Issue[] = [];
    const expected = { reference: input.reference, accountRef: input.accountRef, kind, amountCents: input.amountCents };
    for (const field of ['reference', 'accountRef', 'kind', 'amountCents'] as const) {
      if (transfer[field] !== expected[field]) {
        wrong.push({ path: field, message: `sent ${expected[field]}, answered ${transfer[field]}` });
      }
    }
    if (wrong.length > 0) {
      throw new ContractViolation(
        route,
        'the transfer answered is not the one sent',
        answer.status,
        answer.text,
        wrong,
      );
    }
    return transfer;
  }

  /** The harness's own request, checked before it leaves: a harness bug is not the integration's violation. */
  #request<T extends z.ZodType>(route: string, schema: T, input: unknown): z.output<T> {
    const parsed = schema.safeParse(input);
    if (parsed.success) return parsed.data;
    throw new MtproofError(
      'MTP_BAD_REQUEST',
      `${route}: the harness built a request the contract does not allow`,
      schemaIssues(parsed.error),
    );
  }

  async #send(route: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Received> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    try {
      const response = await this.#fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // A redirect is answered as it is (a violation), never followed: the token stays with this origin.
        redirect: 'manual',
        // A real timer: this is the wire to a real process, outside the harness's virtual time.
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // Under the same signal: a body that never ends is a timeout too.
      return { status: response.status, text: await response.text() };
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
        throw new IntegrationUnreachable(route, `no answer within ${this.timeoutMs} ms`, null);
      }
      throw new IntegrationUnreachable(route, `network error: ${describeNetworkError(error)}`, null);
    }
  }

  /**
   * Throws for every answer that is not a 2xx: unreachable (retry), refused (422), or a violation. Returns
   * only for 2xx.
   */
  #failure(route: string, answer: Received): void {
    const { status, text } = answer;
    if (status >= 200 && status < 300) return;
    if (status === 408 || status === 429 || status >= 500) {
      throw new IntegrationUnreachable(route, 'not available now', status, text);
    }
    if (status === 401 || status === 403) {
      throw new ContractViolation(
        route,
        "the integration refused the harness's credentials: check the token given to the harness",
        status,
        text,
      );
    }
    if (status === 422) {
      const parsed = errorAnswer.safeParse(safeJson(text));
      if (!parsed.success) {
        throw new ContractViolation(
          route,
          'a 422 must carry { error: { code, message } }',
          status,
          text,
          schemaIssues(parsed.error),
        );
      }
      throw new IntegrationRefused(route, parsed.data.error.code, parsed.data.error.message);
    }
    if (status === 409) {
      throw new ContractViolation(
        route,
        'answered 409 to a request repeated unchanged: the same reference must answer the same transfer (the same clientRef the same account)',
        status,
        text,
      );
    }
    throw new ContractViolation(route, 'an answer the contract does not allow here', status, text);
  }

  #parse<T extends z.ZodType>(route: string, answer: Received, schema: T): z.output<T> {
    this.#failure(route, answer);
    const value = safeJson(answer.text);
    if (value === NOT_JSON) throw new ContractViolation(route, 'the answer is not JSON', answer.status, answer.text);
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new ContractViolation(
        route,
        "the answer does not match the contract's schema",
        answer.status,
        answer.text,
        schemaIssues(parsed.error),
      );
    }
    return parsed.data;
  }
}

const NOT_JSON = Symbol('not JSON');

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function toAccount(a: z.output<typeof accountAnswer>): WireAccount {
  return { accountRef: a.accountRef, serverId: a.serverId, login: a.login, state: a.state };
}

function toTransfer(t: z.output<typeof transferAnswer>): WireTransfer {
  return {
    reference: t.reference,
    accountRef: t.accountRef,
    kind: t.kind,
    amountCents: t.amountCents,
    state: t.state,
    ticket: t.ticket,
  };
}

/** `fetch failed: ECONNREFUSED` rather than undici's bare `fetch failed`. */
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${error.message}: ${code ?? cause.message}`;
  }
  return error.message;
}

/** The base URL without trailing slashes; an http(s) URL with no query, fragment or credentials. */
export function parseBaseUrl(text: string): string {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  const problem =
    url === null
      ? 'not a URL'
      : url.protocol !== 'http:' && url.protocol !== 'https:'
        ? `scheme ${url.protocol} (http or https)`
        : url.search !== '' || url.hash !== ''
          ? 'a query or a fragment'
          : url.username !== '' || url.password !== ''
            ? 'credentials in the URL (give a token instead)'
            : null;
  if (problem !== null || url === null) {
    throw new MtproofError('MTP_INTEGRATION_URL_INVALID', `--integration-url ${text}: ${problem}`, [
      { path: '--integration-url', message: problem ?? 'not a URL' },
    ]);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
