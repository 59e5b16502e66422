import type { FastifyInstance } from 'fastify';
import { MtproofError } from '../../kit/errors.ts';
import { json } from '../../kit/http.ts';
import { FAULT_KINDS, type FaultConfigInput, type FaultKind } from '../faults.ts';
import type { Op, SimAccount, SimServer } from '../server.ts';
import { SimApiError } from './errors.ts';
import type { SimHost } from './host.ts';
import type { JournalFilter } from './journal.ts';
import {
  controlClientBody,
  controlDealerBody,
  controlFaultsBody,
  controlInjectBody,
  controlJournalQuery,
  controlLoginParams,
  controlRandomBody,
  controlResetBody,
  controlRestartBody,
  controlTimeBody,
  serverParams,
} from './schemas.ts';

/**
 * The control API, in the spirit of Toxiproxy and WireMock: what a test does to the simulated world besides
 * managing it — faults on and off with their probabilities, faults injected now, scripted schedules, dealer
 * edits and client trades by hand, restarts, virtual time (freeze, advance), the request journal, reset —
 * and the world's ground truth (accounts, balance operations, trades), which the harness checks against.
 */

const anyObject = { type: 'object', additionalProperties: true } as const;

export function registerControlRoutes(app: FastifyInstance, host: SimHost): void {
  const tags = ['control'];

  app.get(
    '/control/state',
    { schema: { tags, summary: 'The world: seed, time, faults, servers, journal', response: { 200: anyObject } } },
    async () => state(host),
  );

  app.put(
    '/control/faults',
    {
      schema: {
        tags,
        summary: 'Replaces the fault configuration (probabilities, swarm, schedule) of the running world',
        body: json(controlFaultsBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const { config } = request.body as { config: FaultConfigInput };
      try {
        host.reconfigureFaults(config);
      } catch (error) {
        throw asBadInput(error, 'config');
      }
      return faultState(host);
    },
  );

  app.post(
    '/control/faults/random',
    {
      schema: {
        tags,
        summary: 'Random faults on or off (injected and scheduled ones still fire)',
        body: json(controlRandomBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      host.cluster.setRandomFaults((request.body as { on: boolean }).on);
      return faultState(host);
    },
  );

  app.post(
    '/control/faults/inject',
    {
      schema: {
        tags,
        summary: "Fires a server fault now, or arms a request fault for the server's next request",
        body: json(controlInjectBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const body = request.body as {
        serverId: string;
        fault: string;
        params?: Record<string, number | boolean | string>;
      };
      serverOf(host, body.serverId, 'serverId');
      if (!(FAULT_KINDS as readonly string[]).includes(body.fault)) {
        throw new SimApiError('MTP_FAULTS_INVALID', `no fault kind "${body.fault}"`, [
          { path: 'fault', message: `one of ${FAULT_KINDS.join(', ')}` },
        ]);
      }
      try {
        host.cluster.inject(body.serverId, body.fault as FaultKind, body.params ?? {});
      } catch (error) {
        throw asBadInput(error, 'params');
      }
      return { injected: body.fault, serverId: body.serverId, atMs: host.nowMs() };
    },
  );

  app.post(
    '/control/servers/:serverId/restart',
    {
      schema: {
        tags,
        summary: 'Restarts a server: every session dropped, down for downtimeMs, state kept',
        params: json(serverParams),
        body: json(controlRestartBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const { serverId } = request.params as { serverId: string };
      serverOf(host, serverId, 'params.serverId');
      const body = request.body as { downtimeMs: number; inFlightApplied?: boolean };
      host.cluster.restart(serverId, body.downtimeMs, body.inFlightApplied);
      return { restarted: serverId, downUntilMs: host.nowMs() + body.downtimeMs };
    },
  );

  app.post(
    '/control/servers/:serverId/dealer',
    {
      schema: {
        tags,
        summary: 'A dealer edits an account by hand (not through the Manager API)',
        params: json(serverParams),
        body: json(controlDealerBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const { serverId } = request.params as { serverId: string };
      serverOf(host, serverId, 'params.serverId');
      const body = request.body as {
        action: string;
        login: number;
        amountCents?: number;
        comment?: string;
        group?: string;
        leverage?: number;
      };
      const dealer = host.cluster.dealer(serverId);
      const op: Op<unknown> =
        body.action === 'balanceCorrection'
          ? dealer.balanceCorrection(body.login, body.amountCents as number, body.comment as string)
          : body.action === 'creditEdit'
            ? dealer.creditEdit(body.login, body.amountCents as number, body.comment as string)
            : body.action === 'changeGroup'
              ? dealer.changeGroup(body.login, body.group as string)
              : body.action === 'disable'
                ? dealer.disable(body.login)
                : dealer.setLeverage(body.login, body.leverage as number);
      return opAnswer(op);
    },
  );

  app.post(
    '/control/servers/:serverId/client',
    {
      schema: {
        tags,
        summary: 'A client opens or closes a trade in the terminal (not through the Manager API)',
        params: json(serverParams),
        body: json(controlClientBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const { serverId } = request.params as { serverId: string };
      serverOf(host, serverId, 'params.serverId');
      const body = request.body as
        | { action: 'open'; login: number; symbol: string; side: 'buy' | 'sell'; volumeCentiLots: number }
        | { action: 'close'; ticket: number };
      const client = host.cluster.client(serverId);
      return opAnswer(
        body.action === 'open'
          ? client.open(body.login, body.symbol, body.side, body.volumeCentiLots)
          : client.close(body.ticket),
      );
    },
  );

  app.get(
    '/control/servers/:serverId/accounts',
    {
      schema: {
        tags,
        summary: 'Ground truth: every account of a server',
        params: json(serverParams),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const server = serverOf(host, (request.params as { serverId: string }).serverId, 'params.serverId');
      return { serverId: server.id, accounts: [...server.accounts.values()].map(accountTruth) };
    },
  );

  app.get(
    '/control/servers/:serverId/accounts/:login',
    {
      schema: {
        tags,
        summary: 'Ground truth: one account, its balance operations (history lag ignored) and closed trades',
        params: json(controlLoginParams),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const { serverId, login } = request.params as { serverId: string; login: number };
      const server = serverOf(host, serverId, 'params.serverId');
      const account = server.accounts.get(login);
      if (account === undefined) {
        throw new SimApiError('MTP_NOT_FOUND', `no account ${login} on ${serverId}`, [
          { path: 'params.login', message: 'no such account' },
        ]);
      }
      return {
        account: accountTruth(account),
        balanceOps: server.allBalanceOps(login).map((op) => ({
          ticket: op.ticket,
          kind: op.kind,
          amountCents: op.amountCents,
          comment: op.comment,
          platformType: op.platformType,
          atMs: op.atMs,
          serverSec: op.serverSec,
          by: op.actor.by,
        })),
        closedTrades: server.allClosedTrades(login),
        openPositions: server.openPositions(login),
      };
    },
  );

  app.post(
    '/control/time',
    {
      schema: {
        tags,
        summary: 'Freezes, unfreezes or advances virtual time (advance fires every timer on the way)',
        body: json(controlTimeBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const body = request.body as { action: 'freeze' | 'unfreeze' | 'advance'; ms?: number };
      if (body.action === 'freeze') host.freeze();
      else if (body.action === 'unfreeze') host.unfreeze();
      else await host.advance(body.ms as number);
      return { nowMs: host.nowMs(), frozen: host.frozen };
    },
  );

  app.get(
    '/control/journal',
    {
      schema: {
        tags,
        summary: 'The request journal, newest last, filtered',
        querystring: json(controlJournalQuery),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      return { entries: host.journal.query(request.query as JournalFilter), dropped: host.journal.dropped };
    },
  );

  app.delete(
    '/control/journal',
    { schema: { tags, summary: 'Empties the journal', response: { 204: { type: 'null' } } } },
    async (_request, reply) => {
      host.journal.clear();
      return reply.code(204).send();
    },
  );

  app.post(
    '/control/reset',
    {
      schema: {
        tags,
        summary: 'A fresh world (same layout; the given seed and faults, or the current ones); every session ends',
        body: json(controlResetBody),
        response: { 200: anyObject },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { seed?: string; faults?: FaultConfigInput };
      try {
        await host.reset(body);
      } catch (error) {
        throw asBadInput(error, error instanceof MtproofError && error.code === 'MTP_FAULTS_INVALID' ? 'faults' : '');
      }
      return state(host);
    },
  );
}

function serverOf(host: SimHost, serverId: string, path: string): SimServer {
  const server = host.cluster.servers.get(serverId);
  if (server === undefined) {
    throw new SimApiError('MTP_SIM_UNKNOWN_SERVER', `no server "${serverId}" in the simulated cluster`, [
      { path, message: `one of ${[...host.cluster.servers.keys()].join(', ')}` },
    ]);
  }
  return server;
}

/** A configuration the simulator refused (MTP_FAULTS_INVALID …): its issues named under `under`. */
function asBadInput(error: unknown, under: string): unknown {
  if (!(error instanceof MtproofError)) return error;
  return new SimApiError(
    error.code,
    error.message.split('\n')[0] as string,
    error.issues.map((i) => ({
      path: under === '' ? i.path : i.path === '(root)' ? under : `${under}.${i.path}`,
      message: i.message,
    })),
  );
}

function opAnswer(op: Op<unknown>): Record<string, unknown> {
  return op.ok ? { ok: true, value: op.value ?? null } : { ok: false, fail: op.fail, detail: op.detail };
}

function accountTruth(a: SimAccount): Record<string, unknown> {
  return {
    login: a.login,
    group: a.group,
    name: a.name,
    email: a.email,
    country: a.country,
    externalId: a.externalId,
    leverage: a.leverage,
    enabled: a.enabled,
    readOnly: a.readOnly,
    balanceCents: a.balanceCents,
    creditCents: a.creditCents,
    createdMs: a.createdMs,
  };
}

function faultState(host: SimHost): Record<string, unknown> {
  const { cluster } = host;
  return {
    random: cluster.randomFaults,
    config: host.faults,
    probability: cluster.plan.probability,
    swarmedOff: cluster.plan.swarmedOff,
  };
}

function state(host: SimHost): Record<string, unknown> {
  const { cluster } = host;
  return {
    seed: host.seed,
    generation: host.generation,
    nowMs: host.nowMs(),
    frozen: host.frozen,
    failed: host.failure === null ? null : String(host.failure),
    faults: faultState(host),
    servers: [...cluster.servers.values()].map((s) => ({
      id: s.id,
      platform: s.platform,
      down: s.isDown(),
      sessions: cluster.sessions(s.id).length,
      accounts: s.accounts.size,
    })),
    trace: { hash: cluster.trace.hash(), faults: cluster.trace.counts('fault') },
    journal: { size: host.journal.size, dropped: host.journal.dropped },
  };
}
