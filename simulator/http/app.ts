import { timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { edgeOptions, edgeRefusal, parseStorableJson, validator } from '../../kit/http.ts';
import { registerControlRoutes } from './control.ts';
import { SimApiError, simErrorBody, simStatusOf } from './errors.ts';
import type { SimHost } from './host.ts';
import type { Surface } from './journal.ts';
import { registerNativeRoutes } from './native.ts';
import { NativeSessions, type SessionsOptions } from './sessions.ts';

/**
 * The served simulator's native and control APIs as one fastify app, built and not listening: `mtproof sim
 * serve` listens on it, the msw handlers and tests call `app.inject()`. Every request is journaled; with a
 * token, every route but /health needs `Authorization: Bearer TOKEN`.
 */

export interface SimAppOptions {
  /** Required on every route but /health and /docs when set. */
  token?: string;
  /** Largest request body (default 256 KiB). */
  bodyLimitBytes?: number;
  sessions?: SessionsOptions;
  /** Serve /docs (Swagger UI) and /docs/json (default true). */
  docs?: boolean;
}

interface Noted {
  serverId: string | null;
  code: string | null;
}

export interface SimApp {
  app: FastifyInstance;
  sessions: NativeSessions;
}

export function buildSimApp(host: SimHost, options: SimAppOptions = {}): SimApp {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 256 * 1024,
    ...edgeOptions(simErrorBody),
    ajv: { customOptions: { coerceTypes: false } },
  }) as unknown as FastifyInstance;
  const sessions = new NativeSessions(host, options.sessions);
  const noted = new WeakMap<object, Noted>();
  const token = options.token === undefined ? null : Buffer.from(options.token);

  app.setValidatorCompiler(validator);

  // Text a MetaTrader server would cut at NUL is refused at the edge, as the service's API does.
  parseStorableJson(
    app,
    (path, message) => new SimApiError('MTP_BAD_REQUEST', `bad request: ${path}: ${message}`, [{ path, message }]),
  );

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] as string;
    if (token !== null && path !== '/health' && path !== '/docs' && !path.startsWith('/docs/')) {
      const header = request.headers.authorization;
      const given = typeof header === 'string' && header.startsWith('Bearer ') ? Buffer.from(header.slice(7)) : null;
      if (given === null || given.length !== token.length || !timingSafeEqual(given, token)) {
        throw new SimApiError('MTP_UNAUTHORIZED', 'this simulator needs its token: Authorization: Bearer TOKEN', [
          { path: 'headers.authorization', message: given === null ? 'required' : 'wrong token' },
        ]);
      }
    }
    // After the token: a failed world's error text is for those allowed in.
    if (host.failure !== null && path.startsWith('/v1/')) {
      throw new SimApiError(
        'MTP_SIM_FAILED',
        `the simulated world stopped: ${String(host.failure)}; POST /control/reset`,
      );
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0] as string;
    const surface: Surface = path.startsWith('/control/') ? 'control' : 'native';
    const note = noted.get(request);
    host.journal.record({
      surface,
      serverId: note?.serverId ?? null,
      method: request.method,
      path,
      status: reply.statusCode,
      atMs: host.nowMs(),
      durationMs: Math.round(reply.elapsedTime),
      code: note?.code ?? null,
    });
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(simErrorBody('MTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]} (see /docs)`));
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof SimApiError) {
      noted.set(request, { serverId: noted.get(request)?.serverId ?? null, code: error.code });
      return reply.code(simStatusOf(error.code)).send(simErrorBody(error.code, error.message, error.issues));
    }
    const refusal = edgeRefusal(error);
    if (refusal !== null) {
      noted.set(request, { serverId: null, code: refusal.code });
      return reply
        .code(refusal.status ?? simStatusOf(refusal.code))
        .send(simErrorBody(refusal.code, refusal.message, refusal.issues));
    }
    // A bug of the simulator: loud on stderr, coded to the client.
    process.stderr.write(`mtproof sim: request ${request.id} failed: ${error.stack ?? String(error)}\n`);
    noted.set(request, { serverId: null, code: 'MTP_INTERNAL' });
    return reply
      .code(500)
      .send(simErrorBody('MTP_INTERNAL', `internal error (request ${request.id}): logged by the simulator`));
  });

  if (options.docs !== false) {
    app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'mtproof simulated MetaTrader cluster',
          version: '1',
          description:
            'native: the ManagerApi port over HTTP (POST /v1/sessions, then POST /v1/sessions/{session}/{method}; a 200 carries the platform Result). control: faults, schedules, dealer edits, client trades, restarts, virtual time, journal, reset, ground truth. Errors are { error: { code, message, issues } }. The MT5 Web API dialect is served on ports of its own (see /control/state).',
        },
        components: {
          securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'the token given at start' } },
        },
        ...(token === null ? {} : { security: [{ bearerAuth: [] }] }),
      },
    });
    app.register(swaggerUi, { routePrefix: '/docs' });
  }

  app.register(async (scope) => {
    scope.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok', generation: host.generation }));
    registerNativeRoutes(scope, {
      host,
      sessions,
      note: (request, serverId, code) => noted.set(request, { serverId, code }),
    });
    registerControlRoutes(scope, host);
  });
  app.addHook('onClose', async () => {
    await sessions.closeAll();
  });
  return { app, sessions };
}
