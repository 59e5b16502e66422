import type { ErrorCode, Issue } from '../../kit/errors.ts';

/**
 * How the served simulator's native and control APIs refuse: `{ error: { code, message, issues } }` with a
 * registry code and a status that is a function of the code. A platform's answer (a refused deposit, a
 * timeout) is not an error of the API: it is a 200 carrying the port's Result.
 */

export interface SimErrorBody {
  error: { code: ErrorCode; message: string; issues: Issue[] };
}

const STATUS: { readonly [C in ErrorCode]?: number } = {
  MTP_BAD_REQUEST: 400,
  MTP_MALFORMED_JSON: 400,
  MTP_FAULTS_INVALID: 400,
  MTP_UNAUTHORIZED: 401,
  MTP_NOT_FOUND: 404,
  MTP_SIM_UNKNOWN_SERVER: 404,
  MTP_SIM_UNKNOWN_SESSION: 404,
  MTP_SIM_UNKNOWN_SUBSCRIPTION: 404,
  MTP_PAYLOAD_TOO_LARGE: 413,
  MTP_UNSUPPORTED_MEDIA_TYPE: 415,
  MTP_INTERNAL: 500,
  MTP_SIM_FAILED: 503,
};

export function simStatusOf(code: ErrorCode): number {
  return STATUS[code] ?? 400;
}

export function simErrorBody(code: ErrorCode, message: string, issues: readonly Issue[] = []): SimErrorBody {
  return { error: { code, message, issues: [...issues] } };
}

/** A refusal raised inside a route, answered as its coded body. */
export class SimApiError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];
  constructor(code: ErrorCode, message: string, issues: readonly Issue[] = []) {
    super(message);
    this.name = 'SimApiError';
    this.code = code;
    this.issues = issues;
  }
}
