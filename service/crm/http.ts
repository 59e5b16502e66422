import type { Clock } from '../../kit/clock.ts';
import type { CrmResult } from './port.ts';

/**
 * What the HubSpot and Salesforce adapters share: one JSON PATCH with a bearer token, bounded by a timeout,
 * its answer mapped to a `CrmResult`. 2xx: ok. 408, 429 and 5xx: unavailable (Retry-After honoured). Any
 * other answer: rejected, with the CRM's message. No answer (network error, timeout): unavailable.
 */

/** The part of a fetch Response the adapters read (the global fetch's Response is one). */
export interface CrmResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** The fetch the adapters call: the global one by default, injected in tests. */
export type CrmFetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<CrmResponse>;

export interface HttpCrmOptions {
  /** The CRM's REST base URL, e.g. https://api.hubapi.com (a trailing slash is ignored). */
  baseUrl: string;
  token: string;
  /** Past this the request is aborted and the write-back is `unavailable` (MTP_CRM_TIMEOUT). */
  timeoutMs: number;
  /** Times the request out (the service passes its own clock: virtual in the harness). */
  clock: Clock;
  /** Absent: the global fetch, looked up at each call. */
  fetch?: CrmFetch;
}

/** How one CRM words an error body, and which refusals of its own mean "not now" rather than "never". */
export interface CrmDialect {
  /** The CRM's message in an error body (parsed JSON, or the raw text when it is not JSON). */
  messageOf(body: unknown): string | undefined;
  /** A status the generic rule calls rejected that this CRM uses for rate limiting (Salesforce: 403). */
  transient?(status: number, body: unknown): boolean;
}

/** A Retry-After further off than this is taken as this: a broken header must not park a write-back for good. */
export const MAX_RETRY_AFTER_MS = 86_400_000;
/** Longest CRM message kept (it goes into alerts and logs). */
const MAX_MESSAGE_CHARS = 500;

export function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

export async function patchJson(
  options: HttpCrmOptions,
  dialect: CrmDialect,
  url: string,
  body: unknown,
): Promise<CrmResult> {
  const { token, timeoutMs, clock } = options;
  const fetch = options.fetch ?? (globalThis.fetch as unknown as CrmFetch);
  const abort = new AbortController();
  const exchange = (async () => {
    const response = await fetch(url, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    return { response, text: await response.text() };
  })();
  // The exchange may fail after the timeout has decided the outcome: that failure is nobody's to report.
  exchange.catch(() => {});
  const timedOut = clock.sleep(timeoutMs).then(() => 'timeout' as const);
  let answer: Awaited<typeof exchange> | 'timeout';
  try {
    answer = await Promise.race([exchange, timedOut]);
  } catch (error) {
    return failure('unavailable', 'MTP_CRM_UNREACHABLE', null, `request failed: ${describe(error)}`, null);
  }
  if (answer === 'timeout') {
    abort.abort();
    return failure('unavailable', 'MTP_CRM_TIMEOUT', null, `no answer within ${timeoutMs} ms`, null);
  }
  const { response, text } = answer;
  const status = response.status;
  if (status >= 200 && status < 300) return { ok: true, status };
  const parsed = parseBody(text);
  const said = dialect.messageOf(parsed);
  const message = `HTTP ${status}${said === undefined || said === '' ? '' : `: ${said.slice(0, MAX_MESSAGE_CHARS)}`}`;
  const transient = status === 408 || status === 429 || status >= 500 || dialect.transient?.(status, parsed) === true;
  if (!transient) return failure('rejected', 'MTP_CRM_REJECTED', status, message, null);
  return failure(
    'unavailable',
    'MTP_CRM_UNAVAILABLE',
    status,
    message,
    retryAfterMs(response.headers.get('retry-after'), clock.nowMs()),
  );
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110), in ms from `nowMs`; null when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(MAX_RETRY_AFTER_MS, Number(value) * 1000);
  const atMs = Date.parse(value);
  if (Number.isNaN(atMs)) return null;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, atMs - nowMs));
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function failure(
  outcome: 'rejected' | 'unavailable',
  code: Extract<CrmResult, { ok: false }>['code'],
  status: number | null,
  message: string,
  retryAfter: number | null,
): CrmResult {
  return { ok: false, outcome, code, status, message, retryAfterMs: retryAfter };
}

/** A fetch failure by name and cause (undici wraps the socket error: `fetch failed`, cause ECONNREFUSED). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return `${error.name}: ${error.message}${typeof code === 'string' ? ` (${code})` : ''}`;
}

/** A raw text body as a message, when the CRM did not answer JSON (a proxy's error page, say). */
export function textMessage(body: unknown): string | undefined {
  return typeof body === 'string' ? body.trim() : undefined;
}
