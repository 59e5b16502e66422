import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Clock } from '../../kit/clock.ts';
import type { Issue } from '../../kit/errors.ts';
import { canonicalJson } from '../idempotency.ts';
import type { Service } from '../service.ts';
import { type Store, StoreConflictError } from '../store/port.ts';
import { ApiKeys, bearerKey } from './auth.ts';
import { ApiError, errorBody, statusOf } from './errors.ts';
import { HttpMetrics } from './metrics.ts';
import { type ReadinessCheck, registerRoutes } from './routes.ts';
import { ValidationFailure, validator } from './schemas.ts';

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
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // A malformed URL (bad percent-encoding) is bad input like any other.
    frameworkErrors: (error, _request, reply) => {
      (reply as unknown as FastifyReply).code(400).send(errorBody('MTP_BAD_REQUEST', `bad request: ${error.message}`));
    },
    clientErrorHandler: answerClientError,
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
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, (error, value) => {
      if (error !== null) return done(error, undefined);
      const bad = unstorableString(value);
      if (bad === null) return done(null, value);
      done(
        new ApiError('MTP_BAD_REQUEST', `bad request: ${bad}: ${UNSTORABLE}`, [{ path: bad, message: UNSTORABLE }]),
        undefined,
      );
    });
  });

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
  });
  return app;
}

/**
 * A request node's HTTP parser refuses (a malformed request line, headers beyond the size limit, a request
 * that took too long) never reaches fastify's routes nor its error handler: it is answered here, on the
 * socket, still as a coded JSON body (fastify's default answers its own shape), and the socket is closed.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // A connection reset: nobody is left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are larger than the server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time']
        : [400, 'the request is not valid HTTP'];
  const text = canonicalJson(errorBody('MTP_BAD_REQUEST', message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
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
  const context = (error as { validationContext?: string }).validationContext;
  if (error instanceof ValidationFailure || error.code === 'FST_ERR_VALIDATION') {
    const issues = error instanceof ValidationFailure ? error.issues : [{ path: '(root)', message: error.message }];
    const part = context === 'querystring' ? 'query' : context;
    // Body fields are named as they are; path parameters and headers with their part (`params.id`).
    const named =
      part === undefined || part === 'body' ? issues : issues.map((i) => ({ ...i, path: prefix(part, i.path) }));
    return plain('MTP_BAD_REQUEST', `bad request: ${named.map((i) => `${i.path}: ${i.message}`).join('; ')}`, named);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return plain('MTP_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json', [
        { path: 'headers.content-type', message: 'must be application/json' },
      ]);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return plain('MTP_PAYLOAD_TOO_LARGE', 'the body is larger than the API accepts');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return plain('MTP_MALFORMED_JSON', 'the body is empty although Content-Type is application/json', [
        { path: '(body)', message: 'empty' },
      ]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // Also a body with __proto__ or constructor.prototype keys (prototype poisoning), refused as such.
      return plain('MTP_MALFORMED_JSON', 'the body is not valid JSON', [{ path: '(body)', message: 'not valid JSON' }]);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return plain('MTP_BAD_REQUEST', 'the Content-Length does not match the body');
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code === undefined)) {
    return plain('MTP_MALFORMED_JSON', `the body is not valid JSON: ${error.message}`, [
      { path: '(body)', message: 'not valid JSON' },
    ]);
  }
  if (error instanceof StoreConflictError) {
    // A transaction that lost every rerun to concurrent ones committed nothing: the client may send the same
    // request again (with its Idempotency-Key), so this is an answer, not a bug.
    return {
      ...plain('MTP_STORE_BUSY', 'the store is busy with conflicting transactions: nothing was done; retry'),
      headers: { 'retry-after': '1' },
    };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { ...plain('MTP_BAD_REQUEST', error.message), status };
  return plain('MTP_INTERNAL', error.message);
}

const UNSTORABLE = 'a NUL character (\\u0000) or an unpaired surrogate: text the store cannot keep';

/**
 * The path (`name`, `data.paymentId`, `items[2]`) of the first string, or object key, in `value` that
 * contains a NUL character or an unpaired UTF-16 surrogate, or null. Postgres cannot store either (text
 * refuses NUL, jsonb both), so such a body would fail deep in a transaction as a 500: it is refused at the
 * edge instead. Iterative, so that a deeply nested body cannot exhaust the stack.
 */
function unstorableString(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, at] = next;
    if (typeof item === 'string') {
      if (!storable(item)) return at === '' ? '(body)' : at;
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) stack.push([item[i], `${at}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, member] of Object.entries(item).reverse()) {
        const path = at === '' ? key : `${at}.${key}`;
        if (!storable(key)) return path;
        stack.push([member, path]);
      }
    }
  }
  return null;
}

/** A high surrogate not followed by a low one, or a low one not after a high one (UTF-16 code units). */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function storable(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}

function prefix(part: string, path: string): string {
  return path === '(root)' ? part : `${part}.${path}`;
}
