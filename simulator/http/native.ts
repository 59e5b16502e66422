import type { FastifyInstance } from 'fastify';
import type { ManagerApi, Result } from '../../adapters/port/manager-api.ts';
import { json } from '../../kit/http.ts';
import { SimApiError } from './errors.ts';
import type { SimHost } from './host.ts';
import { NATIVE_METHODS, type NativeMethod, openSessionBody, sessionParams } from './schemas.ts';
import type { NativeSession, NativeSessions } from './sessions.ts';

/**
 * The native JSON API: the ManagerApi port over HTTP, one route per method. `POST /v1/sessions` opens a
 * session (a connection, not yet logged in) to one server; `POST /v1/sessions/{session}/{method}` calls the
 * method with its arguments by name and answers 200 with the port's Result — `{ ok: true, value }` or
 * `{ ok: false, error: { code, codeName, outcome, reason, … } }` — because the platform answered; bad
 * requests are coded 4xx. Pumping is a subscription whose events the client long-polls (`events`).
 */

export interface NativeContext {
  host: SimHost;
  sessions: NativeSessions;
  /** Tells the journal which server a request addressed and what code it answered. */
  note(request: object, serverId: string | null, code: string | null): void;
}

const resultSchema = {
  type: 'object',
  description: 'The ManagerApi Result: { ok: true, value } or { ok: false, error: ManagerError }',
  properties: {
    ok: { type: 'boolean' },
    value: {},
    error: {
      type: 'object',
      properties: {
        platform: { type: 'string', enum: ['mt4', 'mt5'] },
        code: { type: 'integer' },
        codeName: { type: 'string' },
        outcome: { type: 'string', enum: ['rejected', 'unavailable', 'unknown'] },
        reason: { type: 'string' },
        serverId: { type: 'string' },
        op: { type: 'string' },
        detail: { type: 'string' },
      },
    },
  },
  required: ['ok'],
};

const DESCRIPTIONS: Readonly<Record<NativeMethod, string>> = {
  connect: 'Connects and logs in with a manager login; again: reconnects (subscriptions end).',
  close: 'Closes the connection; the session stays open for a new connect.',
  isConnected: 'What the connection believes (a silently logged-out session still says true).',
  ping: 'A round trip that proves the session works.',
  serverTime: "The server's wall-clock time in seconds.",
  createAccount: 'Creates an account (login 0 or absent: the server allocates one).',
  getAccount: 'One account with balance and credit in cents.',
  listAccounts: 'Accounts whose group matches the mask.',
  updateAccount: 'Changes group, leverage, flags or personal fields.',
  setPassword: 'Sets the main or investor password.',
  postBalance: 'A balance or credit operation (signed cents); the receipt has the ticket or deal id.',
  balanceHistory: 'Balance and credit operations in a server-time range (may lag).',
  marginLevel: 'Balance, credit, equity, margin and free margin.',
  trades: 'Trades closed in a server-time range.',
  openPositions: "One account's open positions.",
  openPositionsOf: 'Open positions of many accounts in one request.',
  groups: 'The groups the manager may see, with currency, leverage and levels.',
  subscribe: 'Starts a pumping subscription; read it with events.',
  events: 'Pumped events after a sequence number, waiting up to waitMs (long poll); earlier ones are released.',
  unsubscribe: 'Ends a subscription.',
};

export function registerNativeRoutes(app: FastifyInstance, ctx: NativeContext): void {
  const { host, sessions } = ctx;

  app.get(
    '/v1/servers',
    {
      schema: {
        tags: ['native'],
        summary: 'The servers of the simulated cluster',
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    async () => ({
      servers: host.config.servers.map((s) => ({
        id: s.id,
        platform: s.platform,
        kind: s.kind,
        jurisdiction: s.jurisdiction,
        groups: s.groups.map((g) => g.name),
      })),
    }),
  );

  app.post(
    '/v1/sessions',
    {
      schema: {
        tags: ['native'],
        summary: 'Opens a session (a connection to one server, not yet logged in)',
        body: json(openSessionBody),
        response: { 201: { type: 'object', properties: { session: { type: 'string' } } } },
      },
    },
    async (request, reply) => {
      const { serverId } = request.body as { serverId: string };
      if (!host.cluster.servers.has(serverId)) {
        throw new SimApiError('MTP_SIM_UNKNOWN_SERVER', `no server "${serverId}" in the simulated cluster`, [
          { path: 'serverId', message: `one of ${[...host.cluster.servers.keys()].join(', ')}` },
        ]);
      }
      const session = sessions.open(serverId);
      ctx.note(request, serverId, null);
      return reply.code(201).send({ session: session.id });
    },
  );

  app.delete(
    '/v1/sessions/:session',
    {
      schema: {
        tags: ['native'],
        summary: 'Closes a session and its connection',
        params: json(sessionParams),
        response: { 204: { type: 'null' } },
      },
    },
    async (request, reply) => {
      const { session } = request.params as { session: string };
      if (!(await sessions.close(session))) throw unknownSession(session);
      return reply.code(204).send();
    },
  );

  for (const method of Object.keys(NATIVE_METHODS) as NativeMethod[]) {
    app.post(
      `/v1/sessions/:session/${method}`,
      {
        schema: {
          tags: ['native'],
          summary: DESCRIPTIONS[method],
          operationId: method,
          params: json(sessionParams),
          body: json(NATIVE_METHODS[method]),
          response: { 200: resultSchema },
        },
      },
      async (request) => {
        const { session: id } = request.params as { session: string };
        const session = sessions.get(id);
        if (session === undefined) throw unknownSession(id);
        const result = await call(session, method, (request.body ?? {}) as Record<string, unknown>, sessions);
        ctx.note(request, session.serverId, result.ok ? null : String(result.error.code));
        return result.ok ? { ok: true, value: result.value } : { ok: false, error: result.error.toJSON() };
      },
    );
  }
}

function unknownSession(id: string): SimApiError {
  return new SimApiError(
    'MTP_SIM_UNKNOWN_SESSION',
    `no native session "${id}" (closed, idle, or the world was reset)`,
    [{ path: 'params.session', message: 'unknown session' }],
  );
}

type Args = Record<string, unknown>;

async function call(
  session: NativeSession,
  method: NativeMethod,
  args: Args,
  sessions: NativeSessions,
): Promise<Result<unknown>> {
  const api: ManagerApi = session.api;
  const login = args.login as number;
  switch (method) {
    case 'connect':
      return api.connect({ login, password: args.password as string });
    case 'close':
      for (const buffer of session.buffers.values()) buffer.end();
      session.buffers.clear();
      await api.close();
      return { ok: true, value: null };
    case 'isConnected':
      return { ok: true, value: api.isConnected() };
    case 'ping':
      return api.ping();
    case 'serverTime':
      return api.serverTime();
    case 'createAccount':
      return api.createAccount(args.account as Parameters<ManagerApi['createAccount']>[0]);
    case 'getAccount':
      return api.getAccount(login);
    case 'listAccounts':
      return api.listAccounts(args.groupMask as string);
    case 'updateAccount':
      return api.updateAccount(login, args.patch as Parameters<ManagerApi['updateAccount']>[1]);
    case 'setPassword':
      return api.setPassword(login, args.kind as 'main' | 'investor', args.password as string);
    case 'postBalance':
      return api.postBalance(args.request as Parameters<ManagerApi['postBalance']>[0]);
    case 'balanceHistory':
      return api.balanceHistory(login, args.fromServerSec as number, args.toServerSec as number);
    case 'marginLevel':
      return api.marginLevel(login);
    case 'trades':
      return api.trades(login, args.fromServerSec as number, args.toServerSec as number);
    case 'openPositions':
      return api.openPositions(login);
    case 'openPositionsOf':
      return api.openPositionsOf(args.logins as number[]);
    case 'groups':
      return api.groups();
    case 'subscribe': {
      const buffer = session.newBuffer(sessions.bufferLimit);
      const subscribed = await api.subscribe((event) => buffer.push(event));
      if (!subscribed.ok) {
        session.buffers.delete(buffer.id);
        return subscribed;
      }
      buffer.subscription = subscribed.value;
      return { ok: true, value: { subscription: buffer.id } };
    }
    case 'events': {
      const buffer = session.buffers.get(args.subscription as string);
      if (buffer === undefined) throw unknownSubscription(args.subscription as string);
      const taken = await buffer.take(args.after as number, args.waitMs as number);
      if (taken.ended && taken.events.length === 0) session.buffers.delete(buffer.id);
      return { ok: true, value: taken };
    }
    case 'unsubscribe': {
      const buffer = session.buffers.get(args.subscription as string);
      if (buffer === undefined) throw unknownSubscription(args.subscription as string);
      buffer.end();
      session.buffers.delete(buffer.id);
      return { ok: true, value: null };
    }
  }
}

function unknownSubscription(id: string): SimApiError {
  return new SimApiError('MTP_SIM_UNKNOWN_SUBSCRIPTION', `no subscription "${id}" on this session`, [
    { path: 'subscription', message: 'unknown subscription (ended, or never made)' },
  ]);
}
