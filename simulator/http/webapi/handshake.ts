import { MT5_RET as R } from '../../../metatrader/codes.ts';
import { Mt5ManagerApi } from '../../index.ts';
import type { SimHost } from '../host.ts';
import { answersMatch, cliRandAnswer, srvRandAnswer } from './auth.ts';
import type { Params } from './params.ts';
import { ParamError } from './params.ts';
import type { WebApiAnswer } from './retcode.ts';
import type { WebApiConnection } from './session.ts';

/**
 * `/api/auth/start` and `/api/auth/answer` (facts 3.2). Every refusal is answered with HTTP 403 and its
 * retcode (a public project met 403 for bad hashes, facts 3.2); parameter errors too (the dispatcher).
 */

/** The lowest `version` the access server accepts (facts 3.2). */
export const MIN_CLIENT_VERSION = 484;
/**
 * The builds the served access and trade servers report. The facts file gives no value for a server build;
 * 3802 is the SDK build the facts were read from (S6).
 */
export const VERSION_ACCESS = '3802';
export const VERSION_TRADE = '3802';

export const FORBIDDEN = 403;

export interface HandshakeSettings {
  /** Longest virtual time between auth/start and auth/answer (facts 3.2: 10 s). */
  authWindowMs: number;
  /** How long the manager's dialect client waits for the trade server (MT_RET_ERR_TIMEOUT after it). */
  requestTimeoutMs: number;
}

function refuse(code: number, detail?: string): WebApiAnswer {
  return detail === undefined ? { code, status: FORBIDDEN } : { code, status: FORBIDDEN, detail };
}

/** Step 1: checks the client's parameters and hands out a fresh `srv_rand`. */
export function authStart(connection: WebApiConnection, params: Params, nowMs: number): WebApiAnswer {
  const versionText = params.query('version');
  if (versionText === undefined || !/^\d{1,9}$/.test(versionText)) {
    throw new ParamError('version', 'required, a build number');
  }
  if (Number(versionText) < MIN_CLIENT_VERSION) {
    return refuse(R.MT_RET_AUTH_CLIENT_OLD, `version ${versionText} is below ${MIN_CLIENT_VERSION}`);
  }
  const agent = params.query('agent');
  if (agent === undefined || agent === '' || /\s/.test(agent)) {
    throw new ParamError('agent', 'required, without spaces');
  }
  const login = params.login();
  const type = params.query('type');
  if (type === undefined || type === '') throw new ParamError('type', 'required (manager)');
  if (type !== 'manager') return refuse(R.MT_RET_AUTH_INVALID_TYPE, 'only type=manager is supported');
  // A new handshake on an authenticated connection replaces its session (the old one is logged out first).
  connection.logout();
  const srvRand = connection.nextSrvRand();
  connection.pending = { login, srvRand, atMs: nowMs };
  return { code: R.MT_RET_OK, fields: { version_access: VERSION_ACCESS, srv_rand: srvRand.toString('hex') } };
}

/**
 * Step 2: checks the client's proof, connects the manager to the trade server through the dialect (so the
 * cluster's faults and the manager's rights apply from here on) and proves the server to the client.
 */
export async function authAnswer(
  host: SimHost,
  serverId: string,
  connection: WebApiConnection,
  params: Params,
  settings: HandshakeSettings,
): Promise<WebApiAnswer> {
  const pending = connection.pending;
  // One answer per start, right or wrong.
  connection.pending = null;
  if (pending === null) return refuse(R.MT_RET_AUTH_CLIENT_INVALID, 'call auth/start first');
  const given = params.query('srv_rand_answer') ?? '';
  const cliRand = params.query('cli_rand') ?? '';
  if (!/^[0-9a-fA-F]{32}$/.test(given)) throw new ParamError('srv_rand_answer', '32 hex digits required');
  if (!/^[0-9a-fA-F]{32}$/.test(cliRand)) throw new ParamError('cli_rand', '32 hex digits required');
  const elapsedMs = host.nowMs() - pending.atMs;
  if (elapsedMs > settings.authWindowMs) {
    return refuse(R.MT_RET_ERR_TIMEOUT, `answered ${elapsedMs} ms after auth/start, limit ${settings.authWindowMs}`);
  }
  const manager = host.config.servers.find((s) => s.id === serverId)?.managers.find((m) => m.login === pending.login);
  // An unknown login fails like a wrong password: the answer does not tell which.
  if (manager === undefined || !answersMatch(srvRandAnswer(manager.password, pending.srvRand.toString('hex')), given)) {
    return refuse(R.MT_RET_AUTH_ACCOUNT_INVALID);
  }
  if (!manager.enabled) return refuse(R.MT_RET_AUTH_ACCOUNT_DISABLED);
  const link = new Mt5ManagerApi(host.cluster, { clock: host.clock, timeoutMs: settings.requestTimeoutMs });
  const code = await link.Connect(serverId, manager.login, manager.password);
  if (code !== R.MT_RET_OK || connection.ended) {
    link.Disconnect();
    return refuse(code === R.MT_RET_OK ? R.MT_RET_ERR_CONNECTION : code);
  }
  connection.link = link;
  return {
    code: R.MT_RET_OK,
    fields: {
      version_access: VERSION_ACCESS,
      version_trade: VERSION_TRADE,
      cli_rand_answer: cliRandAnswer(manager.password, cliRand.toLowerCase()),
    },
  };
}
