import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MtproofError } from '../../../kit/errors.ts';
import { answerClientError } from '../../../kit/http.ts';
import { MT5_RET as R } from '../../../metatrader/codes.ts';
import type { SimHost } from '../host.ts';
import { COMMANDS } from './commands.ts';
import { authAnswer, authStart, FORBIDDEN } from './handshake.ts';
import { ParamError, Params, parseBody } from './params.ts';
import { envelope, type WebApiAnswer } from './retcode.ts';
import { CONNECTION_HEADER, type ConnectionKey, ConnectionTable, type WebApiConnection } from './session.ts';

/**
 * The MT5 Web API of one MT5 server of the host's cluster (facts section 3) as a fastify app, built and not
 * listening, answering `/api/...` at the root as real clients expect. Every command is GET or POST with its
 * parameters in the query string (a POST's JSON body wins for record fields); every answer is a JSON envelope
 * with a retcode, framework refusals included. See README.md for the surface and the choices.
 */

export interface WebApiOptions {
  /** What names a session's connection (default 'socket'; 'header' only for inject/msw, see session.ts). */
  connectionKey?: ConnectionKey;
  /** Record every request in `host.journal` (default true). */
  journal?: boolean;
  /** A connection silent this long (virtual time) is dropped (default 180 000, facts 3.1). */
  idleTimeoutMs?: number;
  /** Longest virtual time between auth/start and auth/answer (default 10 000, facts 3.2). */
  authWindowMs?: number;
  /** The real clock the journal's durations are measured with (default performance.now). */
  now?: () => number;
  /** How long a manager's dialect client waits for the trade server (default 10 000 virtual ms). */
  requestTimeoutMs?: number;
  /** Largest request body (default 1 MiB). */
  bodyLimitBytes?: number;
  /**
   * Serve HTTPS with this PEM key and certificate, as a real Access server does (facts 3.1: HTTPS only), so that a
   * client that refuses plain HTTP can be pointed at the simulator. Absent: plain HTTP.
   */
  tls?: { key: string; cert: string };
}

export const DEFAULT_IDLE_TIMEOUT_MS = 180_000;
export const DEFAULT_AUTH_WINDOW_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * Node's own keep-alive limit (real time), a backstop behind the virtual idle timeout: when virtual time
 * follows the real clock the virtual timer always fires first.
 */
const KEEP_ALIVE_MARGIN_MS = 30_000;

/** Status 0 in the journal: no answer was sent (the connection was dropped instead). */
const NO_ANSWER = 0;

interface Noted {
  startedMs: number;
  code: number | null;
}

export function buildWebApiApp(host: SimHost, serverId: string, options: WebApiOptions = {}): FastifyInstance {
  const server = host.config.servers.find((s) => s.id === serverId);
  if (server === undefined) {
    throw new MtproofError(
      'MTP_SIM_UNKNOWN_SERVER',
      `no server "${serverId}" in the cluster (servers: ${host.config.servers.map((s) => s.id).join(', ')})`,
      [{ path: 'serverId', message: 'unknown server' }],
    );
  }
  if (server.platform !== 'mt5') {
    const mt5 = host.config.servers.filter((s) => s.platform === 'mt5').map((s) => s.id);
    throw new MtproofError(
      'MTP_SIM_NOT_MT5',
      `server "${serverId}" is an ${server.platform.toUpperCase()} server; the Web API is served for MT5 servers only (${mt5.length === 0 ? 'the cluster has none' : mt5.join(', ')})`,
      [{ path: 'serverId', message: 'not an MT5 server' }],
    );
  }
  const idleTimeoutMs = positive('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  const settings = {
    authWindowMs: positive('authWindowMs', options.authWindowMs ?? DEFAULT_AUTH_WINDOW_MS),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
  };
  const now = options.now ?? (() => performance.now());
  const journal = options.journal !== false;
  const table = new ConnectionTable(host, serverId, { mode: options.connectionKey ?? 'socket', idleTimeoutMs });
  const noted = new WeakMap<object, Noted>();

  const app = Fastify({
    logger: false,
    ...(options.tls === undefined ? {} : { https: { key: options.tls.key, cert: options.tls.cert } }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    exposeHeadRoutes: false,
    // Requests that arrive while the app closes are still answered (never a 503 envelope-less refusal).
    return503OnClosing: false,
    keepAliveTimeout: idleTimeoutMs + KEEP_ALIVE_MARGIN_MS,
    // A request fastify refuses before routing (a bad URL) runs no hook: it is journaled here.
    frameworkErrors: (error, request, reply) => {
      answer(request as FastifyRequest, reply as unknown as FastifyReply, {
        code: R.MT_RET_ERR_PARAMS,
        status: 400,
        detail: `bad request: ${error.message}`,
      });
      record(request as FastifyRequest, 400);
    },
    clientErrorHandler: (error, socket) =>
      answerClientError(error, socket, (_code, message) =>
        envelope({ code: R.MT_RET_ERR_PARAMS, detail: `bad request: ${message}` }),
      ),
  }) as unknown as FastifyInstance;

  // The body is read as text whatever its type: the documentation's example posts JSON as
  // application/x-www-form-urlencoded (facts 3.1). parseBody decides what it is.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  function answer(request: FastifyRequest, reply: FastifyReply, result: WebApiAnswer): FastifyReply {
    const note = noted.get(request);
    if (note !== undefined) note.code = result.code;
    else noted.set(request, { startedMs: now(), code: result.code });
    return reply
      .code(result.status ?? 200)
      .type('application/json; charset=utf-8')
      .send(envelope(result));
  }

  function record(request: FastifyRequest, status: number): void {
    if (!journal) return;
    const note = noted.get(request);
    host.journal.record({
      surface: 'webapi',
      serverId,
      method: request.method,
      path: request.url.split('?', 1)[0] as string,
      status,
      atMs: host.nowMs(),
      durationMs: note === undefined ? 0 : Math.max(0, now() - note.startedMs),
      code: note?.code === null || note?.code === undefined ? null : String(note.code),
    });
  }

  /** The connection broke under the request: no answer at all, as a client sees a reset connection. */
  function drop(request: FastifyRequest, reply: FastifyReply, connection: WebApiConnection, code: number): void {
    const note = noted.get(request);
    if (note !== undefined) note.code = code;
    reply.hijack();
    table.end(connection, 'dropped');
    request.raw.socket.destroy();
    record(request, NO_ANSWER);
  }

  app.addHook('onRequest', async (request) => {
    noted.set(request, { startedMs: now(), code: null });
  });
  app.addHook('onResponse', async (request, reply) => record(request, reply.statusCode));

  app.setNotFoundHandler((request, reply) => {
    answer(request, reply, {
      code: R.MT_RET_ERR_NOTIMPLEMENT,
      status: 404,
      detail: `no command ${request.method} ${request.url.split('?', 1)[0]}`,
    });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    // fastify's own refusals (body too large, bad Content-Length …) are bad parameters; anything else is a bug
    // of the simulator, answered as the platform's common error.
    if (status >= 400 && status < 500) {
      return answer(request, reply, { code: R.MT_RET_ERR_PARAMS, status, detail: error.message });
    }
    return answer(request, reply, { code: R.MT_RET_ERROR, status: 500, detail: `simulator bug: ${error.message}` });
  });

  app.route({
    method: ['GET', 'POST'],
    url: '/api/*',
    handler: async (request, reply) => {
      const path = request.url.split('?', 1)[0] as string;
      const name = path.slice('/api/'.length);
      const command = COMMANDS.get(name);
      const handshake = name === 'auth/start' || name === 'auth/answer';
      if (command === undefined && !handshake && name !== 'quit') {
        return answer(request, reply, { code: R.MT_RET_ERR_NOTIMPLEMENT, status: 404, detail: `no command ${path}` });
      }
      if (host.failure !== null) {
        return answer(request, reply, {
          code: R.MT_RET_ERR_NOSERVICE,
          status: 503,
          detail: 'the simulated world stopped on a simulator bug: reset it through the control API',
        });
      }
      let connection = table.connectionOf(request.raw.socket, request.headers[CONNECTION_HEADER]);
      // A connection with a request still in flight is not idle (header mode shares one among many requests).
      if (connection.inFlight === 0 && table.idleExpired(connection)) {
        // The idle timer has not run yet (virtual time moved without its timers firing): same outcome.
        table.end(connection, 'idle');
        if (table.mode === 'socket') return drop(request, reply, connection, R.MT_RET_ERR_CONNECTION);
        connection = table.connectionOf(request.raw.socket, request.headers[CONNECTION_HEADER]);
      }
      connection.inFlight++;
      table.touch(connection);
      let result: WebApiAnswer;
      try {
        result = await run(connection, name, request);
      } catch (error) {
        if (!(error instanceof ParamError)) throw error;
        result = { code: R.MT_RET_ERR_PARAMS, status: handshake ? FORBIDDEN : 200, detail: error.message };
      } finally {
        connection.inFlight--;
        if (!connection.ended) table.touch(connection);
      }
      if (request.raw.socket.destroyed) return drop(request, reply, connection, result.code);
      if (result.code === R.MT_RET_ERR_NETWORK) {
        // The connection broke in flight (connectionDrop, restart): the client's connection breaks with it.
        if (table.mode === 'socket') return drop(request, reply, connection, result.code);
        table.end(connection, 'dropped');
      } else if (name === 'quit') {
        table.end(connection, 'quit');
        reply.header('connection', 'close');
      } else if (result.code === R.MT_RET_ERR_CONNECTION && !handshake) {
        // The manager's link to the trade server is gone (server down, silent logout): the session ends and
        // the client authenticates again.
        table.end(connection, 'no-connection');
        reply.header('connection', 'close');
      }
      return answer(request, reply, result);
    },
  });

  async function run(connection: WebApiConnection, name: string, request: FastifyRequest): Promise<WebApiAnswer> {
    const mark = request.url.indexOf('?');
    const query = new URLSearchParams(mark < 0 ? '' : request.url.slice(mark + 1));
    if (name === 'auth/start') return authStart(connection, new Params(query, parseBody(request.body)), host.nowMs());
    if (name === 'auth/answer') {
      return authAnswer(host, serverId, connection, new Params(query, parseBody(request.body)), settings);
    }
    const link = connection.authenticated ? connection.link : null;
    if (link === null) {
      return {
        code: R.MT_RET_ERR_PERMISSIONS,
        status: FORBIDDEN,
        detail: 'not authenticated on this connection: auth/start, then auth/answer',
      };
    }
    if (name === 'quit') return { code: R.MT_RET_OK };
    const command = COMMANDS.get(name);
    if (command === undefined) throw new Error(`webapi: no command ${name}`);
    return command({ host, serverId, params: new Params(query, parseBody(request.body)), link });
  }

  const unsubscribe = host.onReset(() => table.endAll('reset'));
  app.addHook('preClose', async () => {
    unsubscribe();
    table.endAll('reset');
  });
  return app;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new MtproofError('MTP_CONFIG_INVALID', `webapi: ${name} must be a positive integer of ms, not ${value}`, [
      { path: name, message: 'a positive integer' },
    ]);
  }
  return value;
}

export interface WebApiListener {
  app: FastifyInstance;
  /** The port it listens on (the one given, or the one the system chose for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Builds the app for `serverId` and listens on `host:port` (port 0: any free port). */
export async function listenWebApi(
  host: SimHost,
  serverId: string,
  address: { host: string; port: number },
  options: WebApiOptions = {},
): Promise<WebApiListener> {
  const app = buildWebApiApp(host, serverId, options);
  await app.listen({ host: address.host, port: address.port });
  const port = (app.server.address() as AddressInfo).port;
  return { app, port, close: () => app.close() };
}
