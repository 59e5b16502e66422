import type { FastifyBaseLogger, FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import type { SimWorld, SimWorldOptions } from '../../../scenarios/world.ts';
import { buildApi, LOG_REDACT_PATHS } from '../../../service/api/app.ts';
import { ApiKeys } from '../../../service/api/auth.ts';
import { signWebhook } from '../../../service/api/webhook.ts';
import type { BrokerConfigInput, TransferRow } from '../../../service/index.ts';
import { brokerConfig, startedWorld } from '../helpers.ts';

/** Shared fixtures for the HTTP API tests: a simulated world, its API built on the world's store, a key. */

export const WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';

export interface ApiWorld {
  world: SimWorld;
  app: FastifyInstance;
  keys: ApiKeys;
  key: string;
  /** Every log line the API wrote (JSON text). */
  logs: string[];
  /** Headers with the key (and an Idempotency-Key when given). */
  auth: (idempotencyKey?: string) => Record<string, string>;
  /** Builds a new app (a new service instance, as after a restart) on the same store. */
  rebuild: () => Promise<FastifyInstance>;
}

/** The default broker config with the provider's webhook configured (psp.webhook.secretEnv). */
export function webhookConfig(edit: (config: BrokerConfigInput) => void = () => {}): BrokerConfigInput {
  return brokerConfig((config) => {
    config.psp = { webhook: { secretEnv: 'MTPROOF_PSP_WEBHOOK_SECRET', toleranceMs: 300_000 } };
    edit(config);
  });
}

export async function apiWorld(options: Partial<SimWorldOptions> = {}): Promise<ApiWorld> {
  const secrets: Record<string, string> = {
    MTPROOF_MT4_LIVE_EU_PASSWORD: 'Manager#1',
    MTPROOF_MT5_LIVE_GLOBAL_PASSWORD: 'Manager#1',
    MTPROOF_MT4_DEMO_PASSWORD: 'Manager#1',
    MTPROOF_PSP_WEBHOOK_SECRET: WEBHOOK_SECRET,
  };
  const world = startedWorld({ secrets, ...options });
  const clock = world.scheduler.clock;
  const keys = new ApiKeys({ store: world.store, clock });
  const { key } = await keys.create('test');
  const logs: string[] = [];
  const logger = pino(
    { level: 'info', redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } },
    { write: (line: string) => logs.push(line) },
  ) as unknown as FastifyBaseLogger;
  const build = () =>
    buildApi({ service: world.service, store: world.store, clock, secrets: (name) => secrets[name], logger });
  const state: ApiWorld = {
    world,
    app: build(),
    keys,
    key,
    logs,
    auth: (idempotencyKey) => ({
      authorization: `Bearer ${key}`,
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    }),
    rebuild: async () => {
      await state.app.close();
      world.crash();
      world.start();
      state.app = build();
      return state.app;
    },
  };
  return state;
}

export function body<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

/** Runs virtual time until the account is open (the provisioning job) and returns it. */
export async function untilOpen(api: ApiWorld, accountId: string): Promise<void> {
  const opened = await api.world.until(
    async () => (await api.world.service.account(accountId))?.state === 'open',
    600_000,
  );
  if (!opened) throw new Error(`account ${accountId} did not open`);
}

/** Registers a client, approves KYC and opens an eu-classic account through the API; returns the account id. */
export async function openAccountViaApi(api: ApiWorld, tag: string): Promise<string> {
  const client = await api.app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: api.auth(`${tag}-client`),
    payload: { name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE' },
  });
  const clientId = body<{ id: string }>(client).id;
  await api.app.inject({
    method: 'POST',
    url: `/v1/clients/${clientId}/kyc`,
    headers: api.auth(`${tag}-kyc`),
    payload: { state: 'approved' },
  });
  const account = await api.app.inject({
    method: 'POST',
    url: '/v1/accounts',
    headers: api.auth(`${tag}-account`),
    payload: { clientId, productId: 'eu-classic' },
  });
  const accountId = body<{ id: string }>(account).id;
  await untilOpen(api, accountId);
  return accountId;
}

export async function transfers(api: ApiWorld): Promise<TransferRow[]> {
  return api.world.store.transaction((tx) => tx.select('transfers', {}));
}

/**
 * Posts `raw` to the provider's webhook as the provider would: signed with `secret` (the test secret) at
 * `signedAtMs` (the world's clock now), or carrying `signature` as given.
 */
export function deliverWebhook(
  api: ApiWorld,
  raw: string,
  options: { secret?: string; signedAtMs?: number; signature?: string } = {},
): Promise<LightMyRequestResponse> {
  const t = options.signedAtMs ?? api.world.scheduler.nowMs();
  return api.app.inject({
    method: 'POST',
    url: '/v1/psp/webhook',
    headers: {
      'content-type': 'application/json',
      'x-mtproof-signature': options.signature ?? signWebhook(options.secret ?? WEBHOOK_SECRET, raw, t),
    },
    payload: raw,
  });
}
