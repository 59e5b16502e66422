import { createHash, timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type ErrorCode, type Issue, MtproofError } from '../../kit/errors.ts';
import { edgeOptions, edgeRefusal, json, parseStorableJson, validator } from '../../kit/http.ts';
import type { ProxyRegistry } from './proxy.ts';
import {
  type ProxyPatch,
  proxyInput,
  proxyName,
  proxyPatch,
  type ToxicPatch,
  toxicInput,
  toxicPatch,
} from './schema.ts';

/**
 * The fault proxies' control API, in the spirit of Toxiproxy's: proxies created, changed, disabled and
 * deleted, toxics added, changed and removed, everything reset, at run time. A fastify app that is built,
 * not started (`mtproof sim proxy` listens on it; tests call `inject()`). Every refusal is
 * `{ error: { code, message, issues: [{ path, message }] } }` with a code of kit/errors.ts, never a 5xx for bad
 * input. With a token, every route but /health needs `Authorization: Bearer <token>`.
 */

export interface ProxyControlOptions {
  /** Required on every route but /health when set (compared in constant time). */
  token?: string;
  /** Largest request body accepted (default 64 KiB). */
  bodyLimitBytes?: number;
  /** Serve /docs (Swagger UI) and /docs/json (default true). */
  docs?: boolean;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues: Issue[] };
}

export function errorBody(code: ErrorCode, message: string, issues: readonly Issue[] = []): ErrorBody {
  return { error: { code, message, issues: [...issues] } };
}

const STATUS: { readonly [C in ErrorCode]?: number } = {
  MTP_BAD_REQUEST: 400,
  MTP_MALFORMED_JSON: 400,
  MTP_UNAUTHORIZED: 401,
  MTP_NOT_FOUND: 404,
  MTP_PROXY_UNKNOWN: 404,
  MTP_PROXY_TOXIC_UNKNOWN: 404,
  MTP_PROXY_EXISTS: 409,
  MTP_PROXY_TOXIC_EXISTS: 409,
  // The address is taken or not this machine's: a conflict with the world, not a fault of the proxy.
  MTP_PROXY_LISTEN_FAILED: 409,
  MTP_PAYLOAD_TOO_LARGE: 413,
  MTP_UNSUPPORTED_MEDIA_TYPE: 415,
  MTP_PROXY_LIMIT: 422,
  MTP_INTERNAL: 500,
};

/** The HTTP status of a code: anything not listed is a rule the request broke (422), never a 5xx. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 422;
}

const nameParams = z.strictObject({ name: proxyName });
const toxicParams = z.strictObject({ name: proxyName, toxic: proxyName });
const emptyBody = z.strictObject({}).nullish();

// Answers, for the OpenAPI document only: fastify does not filter answers through them.
const toxicView = z.object({
  name: z.string(),
  type: z.string(),
  direction: z.enum(['upstream', 'downstream', 'both']),
  toxicity: z.number(),
  enabled: z.boolean(),
  attributes: z.record(z.string(), z.unknown()),
});
const streamStats = z.object({ receivedBytes: z.number(), forwardedBytes: z.number() });
const proxyView = z.object({
  name: z.string(),
  listen: z.string(),
  address: z.string().nullable().describe('where it listens now (the real port); null while disabled'),
  upstream: z.string(),
  enabled: z.boolean(),
  seed: z.string(),
  toxics: z.array(toxicView),
  stats: z.object({
    connectionsTotal: z.number(),
    connectionsActive: z.number(),
    upstream: streamStats,
    downstream: streamStats,
    toxicsFired: z.record(z.string(), z.number()),
  }),
});
const decisionView = z.object({
  connection: z.number(),
  toxic: z.string(),
  toxicity: z.number(),
  inEffect: z.boolean(),
});
const errorView = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

const doc = (schema: z.ZodType) => json(schema, 'output');
const errors = { 400: doc(errorView), 401: doc(errorView), 404: doc(errorView) };
const deleted = { 204: { description: 'deleted', type: 'null' }, ...errors };

export function buildProxyControlApp(registry: ProxyRegistry, options: ProxyControlOptions = {}): FastifyInstance {
  const tokenHash = options.token === undefined ? null : sha256(options.token);
  if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
    throw new MtproofError('MTP_BAD_REQUEST', 'the control token must be printable ASCII without spaces', [
      { path: 'token', message: 'not printable ASCII' },
    ]);
  }
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    ...edgeOptions(errorBody),
  }) as unknown as FastifyInstance;

  app.setValidatorCompiler(validator);
  // Answers are sent whole: the response schemas document them, they do not filter them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // JSON only: a text/plain body would otherwise reach the schemas as a string.
  app.removeAllContentTypeParsers();
  parseStorableJson(
    app,
    (path, message) => new MtproofError('MTP_BAD_REQUEST', `bad request: ${path}: ${message}`, [{ path, message }]),
  );

  app.addHook('onRequest', async (request, reply) => {
    if (tokenHash === null || request.routeOptions.url === '/health') return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (match !== null && timingSafeEqual(sha256(match[1] as string), tokenHash)) return;
    reply.header('www-authenticate', 'Bearer');
    throw new MtproofError(
      'MTP_UNAUTHORIZED',
      header === undefined
        ? 'no token: send Authorization: Bearer <token>'
        : 'the token is wrong or not a Bearer token',
      [{ path: 'headers.authorization', message: header === undefined ? 'required' : 'wrong token' }],
    );
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(errorBody('MTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]} (see /docs)`));
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error instanceof MtproofError) {
      // The message without the issue lines MtproofError appends for a terminal: the body carries them.
      const message = error.message.split('\n')[0] as string;
      return reply.code(statusOf(error.code)).send(errorBody(error.code, message, error.issues));
    }
    const refusal = edgeRefusal(error);
    if (refusal !== null) {
      return reply
        .code(refusal.status ?? statusOf(refusal.code))
        .send(errorBody(refusal.code, refusal.message, refusal.issues));
    }
    return reply.code(500).send(errorBody('MTP_INTERNAL', `internal error: ${error.message}`));
  });

  if (options.docs !== false) {
    app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'mtproof fault proxy control API',
          version: '1',
          description:
            'TCP fault proxies in the spirit of Toxiproxy: proxies and their toxics (latency, bandwidth, blackhole, reset, slowClose, limitData, timeout), changed at run time. Errors are { error: { code, message, issues } }. With a token, every route but /health needs Authorization: Bearer <token>.',
        },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
        security: tokenHash === null ? [] : [{ bearerAuth: [] }],
      },
    });
    app.register(swaggerUi, { routePrefix: '/docs' });
  }

  // Routes in a plugin registered after swagger: its onRoute hook sees every one of them.
  app.register(async (scope) => registerRoutes(scope, registry));
  return app;
}

function registerRoutes(app: FastifyInstance, registry: ProxyRegistry): void {
  const tags = ['proxies'];

  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Alive (needs no token)',
        response: { 200: doc(z.object({ ok: z.literal(true), proxies: z.number() })) },
      },
    },
    async () => ({ ok: true, proxies: registry.list().length }),
  );

  app.get(
    '/proxies',
    { schema: { tags, summary: 'Every proxy', response: { 200: doc(z.object({ proxies: z.array(proxyView) })) } } },
    async () => ({ proxies: registry.list().map((p) => p.view()) }),
  );

  app.post(
    '/proxies',
    {
      schema: {
        tags,
        summary: 'Creates a proxy and starts it (when enabled)',
        body: json(proxyInput),
        response: { 201: doc(proxyView), 409: doc(errorView), ...errors },
      },
    },
    async (request, reply) => {
      const proxy = await registry.create(request.body as z.output<typeof proxyInput>);
      return reply.code(201).send(proxy.view());
    },
  );

  app.get(
    '/proxies/:name',
    { schema: { tags, summary: 'One proxy', params: json(nameParams), response: { 200: doc(proxyView), ...errors } } },
    async (request) => registry.require(nameOf(request.params)).view(),
  );

  app.patch(
    '/proxies/:name',
    {
      schema: {
        tags,
        summary: 'Changes its upstream, its listen address, or enables / disables it (disabled: cuts every connection)',
        params: json(nameParams),
        body: json(proxyPatch),
        response: { 200: doc(proxyView), 409: doc(errorView), ...errors },
      },
    },
    async (request) => (await registry.update(nameOf(request.params), request.body as ProxyPatch)).view(),
  );

  app.delete(
    '/proxies/:name',
    { schema: { tags, summary: 'Stops and deletes a proxy', params: json(nameParams), response: deleted } },
    async (request, reply) => {
      await registry.delete(nameOf(request.params));
      return reply.code(204).send();
    },
  );

  app.get(
    '/proxies/:name/decisions',
    {
      schema: {
        tags,
        summary: 'The per-connection toxicity draws so far (what the seed decided), oldest first',
        params: json(nameParams),
        response: { 200: doc(z.object({ decisions: z.array(decisionView) })), ...errors },
      },
    },
    async (request) => ({ decisions: registry.require(nameOf(request.params)).decisions() }),
  );

  const toxicTags = ['toxics'];
  app.get(
    '/proxies/:name/toxics',
    {
      schema: {
        tags: toxicTags,
        summary: "A proxy's toxics",
        params: json(nameParams),
        response: { 200: doc(z.object({ toxics: z.array(toxicView) })), ...errors },
      },
    },
    async (request) => ({ toxics: registry.require(nameOf(request.params)).toxics() }),
  );

  app.post(
    '/proxies/:name/toxics',
    {
      schema: {
        tags: toxicTags,
        summary: 'Adds a toxic (open connections draw for it at once)',
        params: json(nameParams),
        body: json(toxicInput),
        response: { 201: doc(toxicView), 409: doc(errorView), ...errors },
      },
    },
    async (request, reply) => {
      const toxic = registry.require(nameOf(request.params)).addToxic(request.body as z.output<typeof toxicInput>);
      return reply.code(201).send(toxic);
    },
  );

  app.get(
    '/proxies/:name/toxics/:toxic',
    {
      schema: {
        tags: toxicTags,
        summary: 'One toxic',
        params: json(toxicParams),
        response: { 200: doc(toxicView), ...errors },
      },
    },
    async (request) => {
      const { name, toxic } = request.params as z.output<typeof toxicParams>;
      return registry.require(name).toxic(toxic);
    },
  );

  app.patch(
    '/proxies/:name/toxics/:toxic',
    {
      schema: {
        tags: toxicTags,
        summary: "Changes a toxic's direction, toxicity, enabled flag or attributes (merged, checked for its kind)",
        params: json(toxicParams),
        body: json(toxicPatch),
        response: { 200: doc(toxicView), ...errors },
      },
    },
    async (request) => {
      const { name, toxic } = request.params as z.output<typeof toxicParams>;
      return registry.require(name).updateToxic(toxic, request.body as ToxicPatch);
    },
  );

  app.delete(
    '/proxies/:name/toxics/:toxic',
    { schema: { tags: toxicTags, summary: 'Removes a toxic', params: json(toxicParams), response: deleted } },
    async (request, reply) => {
      const { name, toxic } = request.params as z.output<typeof toxicParams>;
      registry.require(name).removeToxic(toxic);
      return reply.code(204).send();
    },
  );

  app.post(
    '/reset',
    {
      schema: {
        tags,
        summary: 'Removes every toxic and enables every proxy',
        body: json(emptyBody),
        response: { 200: doc(z.object({ proxies: z.array(proxyView) })), 409: doc(errorView), ...errors },
      },
    },
    async () => {
      await registry.reset();
      return { proxies: registry.list().map((p) => p.view()) };
    },
  );
}

function nameOf(params: unknown): string {
  return (params as { name: string }).name;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
