import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import type { Clock } from '../../kit/clock.ts';
import type { ErrorCode } from '../../kit/errors.ts';
import type { CommandResult } from '../commands.ts';
import type { BrokerConfig } from '../config.ts';
import {
  type Answer,
  type CommandOptions,
  type IdempotencyRequest,
  recordAnswer,
  storedAnswer,
} from '../idempotency.ts';
import type { Service } from '../service.ts';
import { type Store, StoreConstraintError } from '../store/port.ts';
import { ApiError, answerOf, errorBody } from './errors.ts';
import { type HttpMetrics, PROMETHEUS_CONTENT_TYPE, readGauges, renderGauges } from './metrics.ts';
import {
  accountSchema,
  accountVolumeSchema,
  anything,
  clientSchema,
  commandHeaders,
  depositBody,
  errorSchema,
  healthSchema,
  ibStatementSchema,
  idParams,
  json,
  kycBody,
  openAccountBody,
  parsePspEvent,
  payoutBody,
  pspEvent,
  readySchema,
  reconciliationBody,
  reconciliationSchema,
  refParams,
  registerClientBody,
  statementQuery,
  transferSchema,
  webhookAnswerSchema,
  webhookHeaders,
  withdrawalBody,
} from './schemas.ts';
import { SIGNATURE_HEADER, verifyWebhook } from './webhook.ts';

/** One readiness check besides the store's (the bus, say); `required` ones make /ready answer 503 when down. */
export interface ReadinessCheck {
  name: string;
  ok: boolean;
  required: boolean;
  detail?: string;
}

export interface RouteContext {
  service: Service;
  store: Store;
  clock: Clock;
  config: Readonly<BrokerConfig>;
  metrics: HttpMetrics;
  /** The provider's webhook signing secret (psp.webhook.secretEnv), when the webhook is configured. */
  webhookSecret: string | undefined;
  readiness: () => Promise<ReadinessCheck[]>;
  extraMetrics: () => Promise<string>;
  readyTimeoutMs: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Needs `Authorization: Bearer KEY` (every /v1 route but the provider's webhook). */
    auth?: boolean;
    /** `required`: a POST that creates or moves something; `optional`: kept when given. */
    idempotency?: 'required' | 'optional';
  }
  interface FastifyRequest {
    /** The body as received (JSON requests): the webhook signature covers these exact bytes. */
    rawBody?: string;
  }
}

const TAG_COMMANDS = 'commands';
const TAG_QUERIES = 'queries';
const TAG_PSP = 'payment provider';
const TAG_OPS = 'operations';

/** Documented error answers of a route, by status. */
function errors(...statuses: number[]): Record<number, Record<string, unknown>> {
  const out: Record<number, Record<string, unknown>> = {};
  for (const status of statuses)
    out[status] = { description: ERROR_DESCRIPTIONS[status], ...json(errorSchema, 'output') };
  return out;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'bad input (MTP_BAD_REQUEST naming each field, MTP_MALFORMED_JSON, MTP_IDEMPOTENCY_KEY_MISSING)',
  401: 'no valid API key (MTP_UNAUTHORIZED) or webhook signature (MTP_WEBHOOK_SIGNATURE)',
  404: 'unknown id (MTP_UNKNOWN_*)',
  409: 'state or duplicate (MTP_TRANSFER_STATE, MTP_DUPLICATE_*), or MTP_IDEMPOTENCY_CONFLICT naming the fields',
  413: 'body too large (MTP_PAYLOAD_TOO_LARGE)',
  415: 'not application/json (MTP_UNSUPPORTED_MEDIA_TYPE)',
  422: 'refused by a rule (MTP_KYC_REQUIRED, MTP_NO_ROUTE, MTP_AMOUNT_OUT_OF_RANGE, MTP_ACCOUNT_NOT_OPEN, ...)',
  500: 'a bug (MTP_INTERNAL), logged',
  501: 'the webhook is not configured (MTP_WEBHOOK_NOT_CONFIGURED)',
  503: 'not ready (MTP_NOT_READY)',
};

const COMMON_ERRORS = [400, 401, 413, 415, 500];
const bearer = [{ bearerAuth: [] }];

function ok(status: number, schema: Parameters<typeof json>[0], description: string) {
  return { [status]: { description, ...json(schema, 'output') } };
}

/** The request's Idempotency-Key as the service records it (scoped to the route pattern), if it has one. */
function idempotencyOf(
  request: FastifyRequest,
  okStatus: number,
  body: Record<string, unknown>,
): IdempotencyRequest | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  return {
    key,
    method: request.method,
    route: request.routeOptions.url ?? request.url,
    body,
    status: (result) => answerOf(result, okStatus).status,
  };
}

/**
 * Sends a command's answer: a fresh one with the status of its result, a stored one with the status it was
 * first given and `Idempotent-Replayed: true`. Both statuses come from the same pure function of the result.
 */
function send(reply: FastifyReply, answer: Answer<unknown>, okStatus: number): FastifyReply {
  const { status, body } = answerOf(answer, okStatus);
  if (answer.replay === undefined) return reply.code(status).send(body);
  reply.header('idempotent-replayed', 'true');
  return reply.code(answer.replay.status).send(body);
}

/** Runs a command with the request's Idempotency-Key and sends its answer. */
async function answerCommand<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  okStatus: number,
  input: Record<string, unknown>,
  run: (options: CommandOptions) => Promise<Answer<T>>,
): Promise<FastifyReply> {
  const idempotency = idempotencyOf(request, okStatus, input);
  return send(reply, await run(idempotency === undefined ? {} : { idempotency }), okStatus);
}

function needsKey(request: FastifyRequest): void {
  if (request.routeOptions.config.idempotency !== 'required') return;
  const key = request.headers['idempotency-key'];
  if (typeof key === 'string' && key !== '') return;
  throw new ApiError(
    'MTP_IDEMPOTENCY_KEY_MISSING',
    `${request.method} ${request.routeOptions.url} needs an Idempotency-Key header: a unique value per request (a UUID), sent again unchanged when the request is retried`,
    [{ path: 'headers.idempotency-key', message: 'required' }],
  );
}

function notFound(code: ErrorCode, what: string): never {
  throw new ApiError(code, `no ${what}`);
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, store, clock } = ctx;
  const command = (
    summary: string,
    body: Parameters<typeof json>[0],
    okStatus: number,
    okSchema: Parameters<typeof json>[0],
    okDescription: string,
    extraErrors: number[],
    params?: Parameters<typeof json>[0],
  ): RouteShorthandOptions => ({
    config: { auth: true, idempotency: 'required' },
    preValidation: async (request) => needsKey(request),
    schema: {
      tags: [TAG_COMMANDS],
      summary,
      security: bearer,
      headers: json(commandHeaders),
      body: json(body),
      ...(params === undefined ? {} : { params: json(params) }),
      response: { ...ok(okStatus, okSchema, okDescription), ...errors(...COMMON_ERRORS, ...extraErrors) },
    },
  });

  // ---- commands ----

  app.post(
    '/v1/clients',
    command(
      'Register a client (the same externalId again answers the same client)',
      registerClientBody,
      201,
      clientSchema,
      'the client',
      [409],
    ),
    (request, reply) => {
      const input = request.body as Record<string, unknown>;
      return answerCommand(request, reply, 201, input, (o) => service.registerClient(input as never, o));
    },
  );

  app.post(
    '/v1/clients/:id/kyc',
    command('Record the KYC decision for a client', kycBody, 200, clientSchema, 'the client', [404], idParams),
    (request, reply) => {
      const { id } = request.params as { id: string };
      const { state } = request.body as { state: 'none' | 'pending' | 'approved' | 'rejected' };
      return answerCommand(request, reply, 200, { clientId: id, state }, (o) => service.setKyc(id, state, o));
    },
  );

  app.post(
    '/v1/accounts',
    command(
      'Open a trading account: routed and stored now (pending), created on its server by a job',
      openAccountBody,
      202,
      accountSchema,
      'accepted: the account, pending until its server has it (poll GET /v1/accounts/{id})',
      [404, 422],
    ),
    (request, reply) => {
      const input = request.body as { clientId: string; productId: string };
      return answerCommand(request, reply, 202, input, (o) => service.openAccount(input, o));
    },
  );

  app.post(
    '/v1/deposits',
    command(
      'Accept a deposit confirmed by the payment provider: stored with its reference, posted exactly once by a job',
      depositBody,
      202,
      transferSchema,
      'accepted: the transfer (poll GET /v1/transfers/{ref})',
      [404, 409, 422],
    ),
    (request, reply) => {
      const input = request.body as Record<string, unknown>;
      return answerCommand(request, reply, 202, input, (o) => service.deposit(input as never, o));
    },
  );

  app.post(
    '/v1/withdrawals',
    command(
      'Accept a withdrawal: held, then debited on the server if the free margin covers it',
      withdrawalBody,
      202,
      transferSchema,
      'accepted: the transfer',
      [404, 409, 422],
    ),
    (request, reply) => {
      const input = request.body as Record<string, unknown>;
      return answerCommand(request, reply, 202, input, (o) => service.withdraw(input as never, o));
    },
  );

  app.post(
    '/v1/withdrawals/:ref/payout',
    command(
      "The provider's payout result for a posted withdrawal: done, or refunded exactly once",
      payoutBody,
      200,
      transferSchema,
      'the transfer',
      [404, 409],
      refParams,
    ),
    (request, reply) => {
      const { ref } = request.params as { ref: string };
      const body = request.body as { succeeded: boolean; pspRef?: string };
      const input = { ref, ...body };
      return answerCommand(request, reply, 200, input, (o) => service.completePayout(input, o));
    },
  );

  app.post(
    '/v1/reconciliations',
    {
      config: { auth: true, idempotency: 'optional' },
      schema: {
        tags: [TAG_COMMANDS],
        summary:
          "Run a three-way reconciliation now (provider, ledger, each server's history); an Idempotency-Key is optional",
        security: bearer,
        headers: json(commandHeaders),
        body: json(reconciliationBody),
        response: { ...ok(201, reconciliationSchema, 'the run, with its findings'), ...errors(...COMMON_ERRORS, 409) },
      },
    },
    async (request, reply) => {
      const idempotency = idempotencyOf(request, 201, {});
      if (idempotency !== undefined) {
        const stored = await store.transaction((tx) => storedAnswer(tx, idempotency));
        if (stored !== null) return send(reply, stored, 201);
      }
      const result: CommandResult<unknown> = { ok: true, value: await service.reconcile() };
      if (idempotency !== undefined) {
        // Not in the run's transaction (a run reads servers, outside any transaction): a crash in between
        // loses the key, and the retry runs another reconciliation — harmless, it only reads.
        try {
          await store.transaction((tx) => recordAnswer(tx, idempotency, result, clock.nowMs()));
        } catch (error) {
          if (!(error instanceof StoreConstraintError)) throw error;
          // Another request with this key recorded its run first: answer that one, as the commands do.
          const stored = await store.transaction((tx) => storedAnswer(tx, idempotency));
          if (stored !== null) return send(reply, stored, 201);
        }
      }
      return send(reply, result, 201);
    },
  );

  // ---- queries ----

  const query = (summary: string, schema: Parameters<typeof json>[0], params: Parameters<typeof json>[0]) => ({
    config: { auth: true },
    schema: {
      tags: [TAG_QUERIES],
      summary,
      security: bearer,
      params: json(params),
      response: { ...ok(200, schema, 'found'), ...errors(400, 401, 404, 500) },
    },
  });

  app.get('/v1/transfers/:ref', query('A transfer by its reference', transferSchema, refParams), async (request) => {
    const { ref } = request.params as { ref: string };
    return (await service.transfer(ref)) ?? notFound('MTP_UNKNOWN_TRANSFER', `transfer ${ref}`);
  });

  app.get('/v1/accounts/:id', query('A trading account', accountSchema, idParams), async (request) => {
    const { id } = request.params as { id: string };
    return (await service.account(id)) ?? notFound('MTP_UNKNOWN_ACCOUNT', `account ${id}`);
  });

  app.get(
    '/v1/accounts/:id/volume',
    query(
      "An account's trading volume: positions opened and closed, closed volume in total and per symbol",
      accountVolumeSchema,
      idParams,
    ),
    async (request) => {
      const { id } = request.params as { id: string };
      return (await service.accountVolume(id)) ?? notFound('MTP_UNKNOWN_ACCOUNT', `account ${id}`);
    },
  );

  app.get('/v1/clients/:id', query('A client', clientSchema, idParams), async (request) => {
    const { id } = request.params as { id: string };
    return (await service.client(id)) ?? notFound('MTP_UNKNOWN_CLIENT', `client ${id}`);
  });

  app.get(
    '/v1/reconciliations/:id',
    query('A reconciliation run and its findings', reconciliationSchema, idParams),
    async (request) => {
      const { id } = request.params as { id: string };
      return (await service.reconciliation(id)) ?? notFound('MTP_UNKNOWN_RECONCILIATION', `reconciliation ${id}`);
    },
  );

  app.get(
    '/v1/ib/partners/:id/statement',
    {
      config: { auth: true },
      schema: {
        tags: [TAG_QUERIES],
        summary:
          "An introducing broker's statement: per account of its clients, closes, volume and commission (fromMs <= close time < toMs)",
        security: bearer,
        params: json(idParams),
        querystring: json(statementQuery),
        response: { ...ok(200, ibStatementSchema, 'the statement'), ...errors(400, 401, 404, 500) },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const range = request.query as { fromMs?: number; toMs?: number };
      const result = await service.ibStatement(id, range);
      const { status, body } = answerOf(result, 200);
      return reply.code(status).send(body);
    },
  );

  // ---- the payment provider ----

  app.post(
    '/v1/psp/webhook',
    {
      config: { auth: false },
      onRequest: async () => {
        if (ctx.config.psp.webhook === undefined || ctx.webhookSecret === undefined) {
          throw new ApiError(
            'MTP_WEBHOOK_NOT_CONFIGURED',
            'the payment-provider webhook is off: set psp.webhook.secretEnv in the broker config to the name of an environment variable holding the signing secret shared with the provider, and set that variable',
          );
        }
      },
      preValidation: async (request) => {
        const webhook = ctx.config.psp.webhook as NonNullable<BrokerConfig['psp']['webhook']>;
        const header = request.headers[SIGNATURE_HEADER];
        const check = verifyWebhook({
          secret: ctx.webhookSecret as string,
          header: typeof header === 'string' ? header : undefined,
          rawBody: request.rawBody ?? '',
          nowMs: clock.nowMs(),
          toleranceMs: webhook.toleranceMs,
        });
        if (!check.ok) {
          throw new ApiError('MTP_WEBHOOK_SIGNATURE', check.message, [
            { path: `headers.${SIGNATURE_HEADER}`, message: check.reason },
          ]);
        }
      },
      schema: {
        tags: [TAG_PSP],
        summary:
          "The provider's events, HMAC-signed (no API key): payment.confirmed becomes a deposit keyed by the payment id (a retried call answers the same transfer); payout.succeeded / payout.failed settle a withdrawal; other types are acknowledged and ignored",
        security: [],
        headers: json(webhookHeaders),
        // Validated in the handler, after the signature: a known type against its own schema.
        body: json(pspEvent, 'input', anything),
        response: {
          ...ok(200, webhookAnswerSchema, 'received'),
          ...errors(400, 401, 404, 409, 413, 415, 422, 500, 501),
        },
      },
    },
    async (request, reply) => {
      const parsed = parsePspEvent(request.body);
      if (!parsed.ok) throw new ApiError('MTP_BAD_REQUEST', 'payment-provider event: bad request', parsed.issues);
      const event = parsed.value;
      let result: CommandResult<unknown>;
      if (event.type === 'payment.confirmed' && 'data' in event) {
        const data = event.data as { paymentId: string; accountId: string; amountCents: number; currency: string };
        result = await service.deposit({
          accountId: data.accountId,
          amountCents: data.amountCents,
          currency: data.currency,
          pspRef: data.paymentId,
        });
      } else if ((event.type === 'payout.succeeded' || event.type === 'payout.failed') && 'data' in event) {
        const data = event.data as { ref: string; payoutId?: string };
        result = await service.completePayout({
          ref: data.ref,
          succeeded: event.type === 'payout.succeeded',
          ...(data.payoutId === undefined ? {} : { pspRef: data.payoutId }),
        });
      } else {
        return reply.code(200).send({ received: true, ignored: `event type ${event.type} is not handled` });
      }
      if (!result.ok) {
        const { status, body } = answerOf(result, 200);
        return reply.code(status).send(body);
      }
      return reply.code(200).send({ received: true, transfer: result.value });
    },
  );

  // ---- operations ----

  app.get(
    '/health',
    {
      schema: {
        tags: [TAG_OPS],
        summary: 'The process is up (no dependency is checked)',
        response: ok(200, healthSchema, 'up'),
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: [TAG_OPS],
        summary:
          "Ready to take requests: the store answers (and any required check passes). Lists each MetaTrader server's connection: a server down does not make the service unready — commands are stored and posted when it is back",
        response: {
          ...ok(200, readySchema, 'ready'),
          503: { description: 'not ready', ...json(readySchema, 'output') },
        },
      },
    },
    async (_request, reply: FastifyReply) => {
      const storeCheck = await within(
        store.transaction((tx) => tx.count('api_keys', {})),
        ctx.readyTimeoutMs,
        clock,
      );
      const checks = await ctx.readiness();
      const servers = service.connectionStatus().map((c) => ({
        id: c.serverId,
        connected: c.connected,
        breaker: c.breaker,
        subscribed: c.subscribed,
      }));
      const ready = storeCheck.ok && checks.every((c) => c.ok || !c.required);
      const body = {
        ready,
        store: storeCheck.ok ? { ok: true } : { ok: false, detail: storeCheck.detail },
        servers,
        checks: checks.map(({ name, ok, detail }) => (detail === undefined ? { name, ok } : { name, ok, detail })),
      };
      if (ready) return reply.code(200).send(body);
      const failing = [
        ...(storeCheck.ok ? [] : [{ path: 'store', message: storeCheck.detail }]),
        ...checks.filter((c) => c.required && !c.ok).map((c) => ({ path: c.name, message: c.detail ?? 'down' })),
      ];
      return reply
        .code(503)
        .send({ ...body, ...errorBody('MTP_NOT_READY', 'the service cannot take requests now', failing) });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: [TAG_OPS],
        summary: 'Prometheus text exposition: HTTP requests and durations, transfers by state, queued jobs, servers',
        produces: [PROMETHEUS_CONTENT_TYPE],
        response: { 200: { description: 'metrics', type: 'string' } },
      },
    },
    async (_request, reply) => {
      const gauges = await readGauges(store);
      const text = ctx.metrics.render() + renderGauges(gauges, service.connectionStatus(), await ctx.extraMetrics());
      return reply.type(PROMETHEUS_CONTENT_TYPE).send(text);
    },
  );
}

/** The promise's outcome, or a failure if it does not settle within `ms` (a store that hangs is not ready). */
async function within(
  promise: Promise<unknown>,
  ms: number,
  clock: Clock,
): Promise<{ ok: true } | { ok: false; detail: string }> {
  let timedOut = false;
  const timer = clock.sleep(ms).then(() => {
    timedOut = true;
  });
  try {
    await Promise.race([promise, timer]);
    if (timedOut) return { ok: false, detail: `the store did not answer within ${ms} ms` };
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: `the store failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
