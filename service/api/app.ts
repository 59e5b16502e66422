import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Clock } from '../../kit/clock.ts';
import type { Issue } from '../../kit/errors.ts';
import { edgeOptions, edgeRefusal, parseStorableJson } from '../../kit/http.ts';
import { canonicalJson } from '../idempotency.ts';
import type { Service } from '../service.ts';
import { type Store, StoreConflictError } from '../store/port.ts';
import { ApiKeys, bearerKey } from './auth.ts';
import { ApiError, errorBody, statusOf } from './errors.ts';
import { registerHarnessContract } from './harness-contract.ts';
import { HttpMetrics } from './metrics.ts';
import { type ReadinessCheck, registerRoutes } from './routes.ts';
import { validator } from './schemas.ts';

/**
 * The service's HTTP API as a fastify instance that is built, not started: `mtproof service` listens on it,
 * tests call `app.inject()`. It holds no state of its own besides counters: keys, idempotency answers and
 * everything else are in the store, so an app rebuilt on the same store answers as the last one did.
 */

export interface ApiOptions {
  service: Service;
  /** The service's store: API keys, idempotency keys, the readiness check and the metrics' gauges. */
  store: Store;
  /** Webhook timestamps, key creation times, the key cache. */
  clock: Clock;
  /** Reads the secret `psp.webhook.secretEnv` names. */
  secrets: (name: string) => string | undefined;
  /** A pino logger (fastify's `loggerInstance`); absent: no logging. API keys and signatures are redacted. */
  logger?: FastifyBaseLogger;
  /** Largest request body accepted (default 64 KiB). */
  bodyLimitBytes?: number;
  /** How long a verified API key is trusted without reading the store (default 0: every request reads it). */
  authCacheMs?: number;
  /** Checks besides the store's for /ready (the bus). */
  readiness?: () => Promise<ReadinessCheck[]>;
  /** More Prometheus text appended to /metrics (the bus's state). */
  extraMetrics?: () => Promise<string>;
  /** /ready waits this long for the store (default 2000 ms). */
  readyTimeoutMs?: number;
  /** Serve /docs (Swagger UI) and /docs/json (default true). */
  docs?: boolean;
  version?: string;
  /**
   * Also serve the black-box harness contract under /harness/v1 (`harness-contract.ts`; for `mtproof certify
   * --integration-url`). Default false.
   */
  harnessContract?: boolean;
}

/** pino `redact` paths for the logger given to the API: secrets carried in headers never reach a log line. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-mtproof-signature"]',
  'headers.authorization',
  'headers["x-mtproof-signature"]',
];

export function buildApi(options: ApiOptions): FastifyInstance {
  const { service, store, clock } = options;
  const app = Fastify({
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    ...edgeOptions(errorBody, canonicalJson),
  }) as unknown as FastifyInstance;

  const keys = new ApiKeys({ store, clock, cacheMs: options.authCacheMs ?? 0 });
  const metrics = new HttpMetrics();
  const config = service.config;
  const secretEnv = config.psp.webhook?.secretEnv;

  app.setValidatorCompiler(validator);
  // Answers are sent whole (the route schemas document them, they do not filter them), as canonical JSON
  // (keys sorted): an idempotent replay from the store — whose JSON columns may reorder keys — is byte for
  // byte the first answer.
  app.setSerializerCompiler(() => (data) => canonicalJson(data));

  // The JSON parser keeps the raw text: the provider's webhook signature covers those exact bytes.
  parseStorableJson(
    app,
    (path, message) => new ApiError('MTP_BAD_REQUEST', `bad request: ${path}: ${message}`, [{ path, message }]),
    (request, raw) => {
      request.rawBody = raw;
    },
  );

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.auth !== true) return;
    const header = request.headers.authorization;
    const key = bearerKey(typeof header === 'string' ? header : undefined);
    if (key === null) {
      throw new ApiError(
        'MTP_UNAUTHORIZED',
        header === undefined
          ? 'no API key: send Authorization: Bearer KEY (create one with `mtproof service keys create`)'
          : 'the Authorization header must be Bearer KEY',
        [{ path: 'headers.authorization', message: header === undefined ? 'required' : 'not a Bearer key' }],
        { 'www-authenticate': 'Bearer' },
      );
    }
    if ((await keys.verify(key)) === null) {
      throw new ApiError(
        'MTP_UNAUTHORIZED',
        'the API key is unknown or revoked',
        [{ path: 'headers.authorization', message: 'unknown or revoked key' }],
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.observe(request.method, request.routeOptions.url ?? '(unmatched)', reply.statusCode, reply.elapsedTime);
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(errorBody('MTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]} (see /docs)`));
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = classify(error);
    if (answer.code === 'MTP_INTERNAL') {
      request.log.error({ err: error }, 'request failed: a bug of the service');
      return reply
        .code(500)
        .send(errorBody('MTP_INTERNAL', `internal error (request ${request.id}): the service logged it`));
    }
    for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
    return reply.code(answer.status).send(errorBody(answer.code, answer.message, answer.issues));
  });

  if (options.docs !== false) {
    app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'mtproof integration service',
          version: options.version ?? '1',
          description:
            'Client onboarding, KYC-gated account opening and exactly-once money movements to MetaTrader 4/5. Every /v1 route but the provider webhook needs Authorization: Bearer KEY; every POST that creates or moves something needs an Idempotency-Key (kept permanently). Errors are { error: { code, message, issues } }.',
        },
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              description: 'An API key (`mtproof service keys create`, or MTPROOF_API_KEY at start)',
            },
          },
        },
      },
    });
    app.register(swaggerUi, { routePrefix: '/docs' });
  }

  // Routes in a plugin registered after swagger: its onRoute hook sees every one of them.
  app.register(async (scope) => {
    registerRoutes(scope, {
      service,
      store,
      clock,
      config,
      metrics,
      webhookSecret: secretEnv === undefined ? undefined : options.secrets(secretEnv),
      readiness: options.readiness ?? (async () => []),
      extraMetrics: options.extraMetrics ?? (async () => ''),
      readyTimeoutMs: options.readyTimeoutMs ?? 2_000,
    });
    if (options.harnessContract === true) registerHarnessContract(scope, { service, store });
  });
  return app;
}

interface Classified {
  status: number;
  code: Parameters<typeof errorBody>[0];
  message: string;
  issues: Issue[];
  headers: Readonly<Record<string, string>>;
}

/** Every error a request can end with, as a coded answer; anything not recognised is a bug (500). */
function classify(error: FastifyError): Classified {
  const plain = (code: Classified['code'], message: string, issues: Issue[] = []): Classified => ({
    status: statusOf(code),
    code,
    message,
    issues,
    headers: {},
  });
  if (error instanceof ApiError) {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      issues: [...error.issues],
      headers: error.headers,
    };
  }
  const refusal = edgeRefusal(error);
  if (refusal !== null) {
    return {
      ...plain(refusal.code, refusal.message, refusal.issues),
      status: refusal.status ?? statusOf(refusal.code),
    };
  }
  if (error instanceof StoreConflictError) {
    // A transaction that lost every rerun to concurrent ones committed nothing: the client may send the same
    // request again (with its Idempotency-Key), so this is an answer, not a bug.
    return {
      ...plain('MTP_STORE_BUSY', 'the store is busy with conflicting transactions: nothing was done; retry'),
      headers: { 'retry-after': '1' },
    };
  }
  return plain('MTP_INTERNAL', error.message);
}
