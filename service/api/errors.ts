import type { ErrorCode, Issue } from '../../kit/errors.ts';
import type { CommandResult } from '../commands.ts';

/**
 * How the HTTP API answers: every error is `{ error: { code, message, issues } }` with a code of the registry
 * (kit/errors.ts), and its status is a pure function of the code, so an idempotent replay answers the same
 * status as the first request.
 */

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues: Issue[] };
}

const STATUS: { readonly [C in ErrorCode]?: number } = {
  MTP_BAD_REQUEST: 400,
  MTP_MALFORMED_JSON: 400,
  MTP_IDEMPOTENCY_KEY_MISSING: 400,
  MTP_UNAUTHORIZED: 401,
  MTP_WEBHOOK_SIGNATURE: 401,
  MTP_NOT_FOUND: 404,
  MTP_UNKNOWN_CLIENT: 404,
  MTP_UNKNOWN_PRODUCT: 404,
  MTP_UNKNOWN_ACCOUNT: 404,
  MTP_UNKNOWN_TRANSFER: 404,
  MTP_UNKNOWN_RECONCILIATION: 404,
  MTP_DUPLICATE_CLIENT: 409,
  MTP_DUPLICATE_PSP_REF: 409,
  MTP_TRANSFER_STATE: 409,
  MTP_IDEMPOTENCY_CONFLICT: 409,
  MTP_PAYLOAD_TOO_LARGE: 413,
  MTP_UNSUPPORTED_MEDIA_TYPE: 415,
  MTP_KYC_REQUIRED: 422,
  MTP_NO_ROUTE: 422,
  MTP_ACCOUNT_NOT_OPEN: 422,
  MTP_CURRENCY_MISMATCH: 422,
  MTP_AMOUNT_OUT_OF_RANGE: 422,
  MTP_INTERNAL: 500,
  MTP_WEBHOOK_NOT_CONFIGURED: 501,
  MTP_NOT_READY: 503,
  MTP_STORE_BUSY: 503,
};

/**
 * The HTTP status of an error code. A code not listed is a command refusal added later: an `MTP_UNKNOWN_*`
 * one is an id the request named that does not exist (404), any other a rule the request broke (422) — never
 * a 5xx.
 */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? (code.startsWith('MTP_UNKNOWN_') ? 404 : 422);
}

export function errorBody(code: ErrorCode, message: string, issues: readonly Issue[] = []): ErrorBody {
  return { error: { code, message, issues: [...issues] } };
}

/** A command's result as an HTTP answer: the value with `okStatus`, or the coded error with its status. */
export function answerOf(
  result: CommandResult<unknown>,
  okStatus: number,
): { status: number; body: Record<string, unknown> | ErrorBody } {
  if (result.ok) return { status: okStatus, body: result.value as Record<string, unknown> };
  return {
    status: statusOf(result.error.code),
    body: errorBody(result.error.code, result.error.message, result.error.issues),
  };
}

/** An error raised inside a route (bad signature, unknown id) and answered as its coded body. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: ErrorCode, message: string, issues: readonly Issue[] = [], headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.issues = issues;
    this.status = statusOf(code);
    this.headers = headers;
  }
}
