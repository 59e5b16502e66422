import { codeName, MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import type { Platform } from './manager-api.ts';

/**
 * Failures of a call to a MetaTrader server, as values. The platform's code is kept; the outcome says
 * what the service may conclude:
 * - `rejected`: the server definitely did not apply it;
 * - `unavailable`: it was not sent (no connection, server restarting, too frequent);
 * - `unknown`: it was sent and no answer came: it may or may not have been applied. Look before retrying.
 */
export type Outcome = 'rejected' | 'unavailable' | 'unknown';

/** The neutral reason, so the service need not know each platform's codes. */
export type ErrorReason =
  | 'not_found'
  | 'invalid'
  | 'no_money'
  | 'limit'
  | 'no_rights'
  | 'disabled'
  | 'exists'
  | 'exhausted'
  | 'bad_credentials'
  | 'no_connection'
  | 'timeout'
  | 'too_frequent'
  | 'server_busy'
  | 'not_supported'
  | 'platform_error';

export class ManagerError {
  readonly name = 'ManagerError';
  readonly platform: Platform;
  readonly code: number;
  readonly codeName: string;
  readonly outcome: Outcome;
  readonly reason: ErrorReason;
  readonly serverId: string;
  readonly op: string;
  readonly detail: string;

  constructor(fields: {
    platform: Platform;
    code: number;
    outcome: Outcome;
    reason: ErrorReason;
    serverId: string;
    op: string;
    detail?: string;
  }) {
    this.platform = fields.platform;
    this.code = fields.code;
    this.codeName = codeName(fields.platform, fields.code);
    this.outcome = fields.outcome;
    this.reason = fields.reason;
    this.serverId = fields.serverId;
    this.op = fields.op;
    this.detail = fields.detail ?? '';
  }

  get message(): string {
    const detail = this.detail === '' ? '' : ` (${this.detail})`;
    return `${this.serverId} ${this.op}: ${this.codeName} ${this.code}, ${this.outcome}/${this.reason}${detail}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      platform: this.platform,
      code: this.code,
      codeName: this.codeName,
      outcome: this.outcome,
      reason: this.reason,
      serverId: this.serverId,
      op: this.op,
      detail: this.detail,
    };
  }
}

interface Rule {
  /** Outcome of a call that changes state. */
  mutating: Outcome;
  /** Outcome of a read. */
  read: Outcome;
  reason: ErrorReason;
}

const rejected = (reason: ErrorReason): Rule => ({ mutating: 'rejected', read: 'rejected', reason });
const unavailable = (reason: ErrorReason): Rule => ({ mutating: 'unavailable', read: 'unavailable', reason });
/** Sent, answer lost or ambiguous: a change may have happened. */
const ambiguous = (reason: ErrorReason): Rule => ({ mutating: 'unknown', read: 'unavailable', reason });
const timedOut: Rule = { mutating: 'unknown', read: 'unknown', reason: 'timeout' };

/**
 * MT4 codes. RET_NO_CONNECT comes back both when nothing was sent and when the connection broke in
 * flight (the DLL does not tell them apart), so on a call that changes state it is `unknown`; an
 * adapter that knows it is disconnected does not send and answers `unavailable` itself.
 */
const MT4_RULES: ReadonlyMap<number, Rule> = new Map([
  [MT4_RET.RET_OK_NONE, rejected('not_found')],
  [MT4_RET.RET_ERROR, ambiguous('platform_error')],
  [MT4_RET.RET_INVALID_DATA, rejected('invalid')],
  [MT4_RET.RET_TECH_PROBLEM, ambiguous('server_busy')],
  [MT4_RET.RET_OLD_VERSION, rejected('not_supported')],
  [MT4_RET.RET_NO_CONNECT, ambiguous('no_connection')],
  [MT4_RET.RET_NOT_ENOUGH_RIGHTS, rejected('no_rights')],
  [MT4_RET.RET_TOO_FREQUENT, unavailable('too_frequent')],
  [MT4_RET.RET_MALFUNCTION, ambiguous('platform_error')],
  [MT4_RET.RET_SECURITY_SESSION, unavailable('no_connection')],
  [MT4_RET.RET_ACCOUNT_DISABLED, rejected('disabled')],
  [MT4_RET.RET_BAD_ACCOUNT_INFO, rejected('bad_credentials')],
  [MT4_RET.RET_TRADE_TIMEOUT, timedOut],
  [MT4_RET.RET_TRADE_BAD_VOLUME, rejected('invalid')],
  [MT4_RET.RET_TRADE_DISABLE, rejected('disabled')],
  [MT4_RET.RET_TRADE_NO_MONEY, rejected('no_money')],
  [MT4_RET.RET_TRADE_BROKER_BUSY, unavailable('server_busy')],
  [MT4_RET.RET_TRADE_TOO_MANY_REQ, unavailable('too_frequent')],
  [MT4_RET.RET_TRADE_CONTEXT_BUSY, unavailable('server_busy')],
]);

/**
 * MT5 codes. The MT5 API manages its connection itself: MT_RET_ERR_CONNECTION means it is not connected
 * and sent nothing (`unavailable`); MT_RET_ERR_NETWORK means the connection broke with the request in
 * flight (`unknown` for a change).
 */
const MT5_RULES: ReadonlyMap<number, Rule> = new Map([
  [MT5_RET.MT_RET_OK_NONE, rejected('not_found')],
  [MT5_RET.MT_RET_ERROR, ambiguous('platform_error')],
  [MT5_RET.MT_RET_ERR_PARAMS, rejected('invalid')],
  [MT5_RET.MT_RET_ERR_DATA, rejected('invalid')],
  [MT5_RET.MT_RET_ERR_DISK, ambiguous('server_busy')],
  [MT5_RET.MT_RET_ERR_MEM, ambiguous('server_busy')],
  [MT5_RET.MT_RET_ERR_NETWORK, ambiguous('no_connection')],
  [MT5_RET.MT_RET_ERR_PERMISSIONS, rejected('no_rights')],
  [MT5_RET.MT_RET_ERR_TIMEOUT, timedOut],
  [MT5_RET.MT_RET_ERR_CONNECTION, unavailable('no_connection')],
  [MT5_RET.MT_RET_ERR_NOSERVICE, unavailable('server_busy')],
  [MT5_RET.MT_RET_ERR_FREQUENT, unavailable('too_frequent')],
  [MT5_RET.MT_RET_ERR_NOTFOUND, rejected('not_found')],
  [MT5_RET.MT_RET_ERR_PARTIAL, ambiguous('platform_error')],
  [MT5_RET.MT_RET_ERR_SHUTDOWN, unavailable('server_busy')],
  [MT5_RET.MT_RET_ERR_CANCEL, rejected('platform_error')],
  [MT5_RET.MT_RET_ERR_DUPLICATE, rejected('exists')],
  [MT5_RET.MT_RET_AUTH_ACCOUNT_INVALID, rejected('bad_credentials')],
  [MT5_RET.MT_RET_AUTH_ACCOUNT_DISABLED, rejected('disabled')],
  [MT5_RET.MT_RET_AUTH_CLIENT_INVALID, rejected('bad_credentials')],
  [MT5_RET.MT_RET_AUTH_SERVER_BUSY, unavailable('server_busy')],
  [MT5_RET.MT_RET_USR_LOGIN_EXHAUSTED, rejected('exhausted')],
  [MT5_RET.MT_RET_USR_LOGIN_PROHIBITED, rejected('invalid')],
  [MT5_RET.MT_RET_USR_LOGIN_EXIST, rejected('exists')],
  [MT5_RET.MT_RET_USR_INVALID_PASSWORD, rejected('invalid')],
  [MT5_RET.MT_RET_TRADE_MAX_MONEY, rejected('limit')],
  [MT5_RET.MT_RET_REQUEST_REJECT, rejected('platform_error')],
  [MT5_RET.MT_RET_REQUEST_TIMEOUT, timedOut],
  [MT5_RET.MT_RET_REQUEST_INVALID_VOLUME, rejected('invalid')],
  [MT5_RET.MT_RET_REQUEST_TRADE_DISABLED, rejected('disabled')],
  [MT5_RET.MT_RET_REQUEST_NO_MONEY, rejected('no_money')],
  [MT5_RET.MT_RET_REQUEST_CONNECTION, ambiguous('no_connection')],
  [MT5_RET.MT_RET_REQUEST_TOO_MANY, unavailable('too_frequent')],
]);

/** Codes that mean success: MT5 balance operations answer MT_RET_REQUEST_DONE, everything else OK. */
export function isSuccess(platform: Platform, code: number): boolean {
  if (platform === 'mt4') return code === MT4_RET.RET_OK;
  return code === MT5_RET.MT_RET_OK || code === MT5_RET.MT_RET_REQUEST_DONE;
}

/**
 * Classifies a failure code. A code not in the table is treated as ambiguous: a change may have
 * happened, so the caller must look before retrying.
 */
export function classify(
  platform: Platform,
  code: number,
  mutating: boolean,
): { outcome: Outcome; reason: ErrorReason } {
  const rule = (platform === 'mt4' ? MT4_RULES : MT5_RULES).get(code) ?? ambiguous('platform_error');
  return { outcome: mutating ? rule.mutating : rule.read, reason: rule.reason };
}

/** The code a platform uses for "not connected", for failures the adapter answers without sending. */
export function notConnectedCode(platform: Platform): number {
  return platform === 'mt4' ? MT4_RET.RET_NO_CONNECT : MT5_RET.MT_RET_ERR_CONNECTION;
}
