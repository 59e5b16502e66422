import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../service/index.ts';
import { dropSchema } from '../../../service/store/migrate.ts';
import { PgliteStore } from '../../../service/store/pglite.ts';
import { PostgresStore, poolClient } from '../../../service/store/postgres.ts';
import { type ApiWorld, apiWorld, body, deliverWebhook, transfers, webhookConfig } from './helpers.ts';

/**
 * Idempotency keys on the SQL stores: kept across a restart, and one transfer for concurrent requests with one
 * key or one provider payment id — the key's row commits with the transfer, and a loser of the race reruns and
 * finds it. The account is written straight into the store (open on mt4-live-eu): only the commands' own
 * transactions are under test, not provisioning.
 */

const URL = process.env.DATABASE_URL;
const SCHEMA = `mtp_apitest_${process.pid}`;
const opened: PostgresStore[] = [];

afterAll(async () => {
  for (const store of opened.splice(0)) {
    await dropSchema(poolClient(store.pool), SCHEMA).catch(() => {});
    await store.close();
  }
});

async function withOpenAccount(store: Store): Promise<string> {
  await store.transaction(async (tx) => {
    await tx.insert('clients', {
      id: 'C-SQL',
      externalId: null,
      name: 'Sql Client',
      email: 'sql@example.com',
      country: 'DE',
      kyc: 'approved',
      partnerId: null,
      createdMs: 0,
      updatedMs: 0,
    });
    await tx.insert('accounts', {
      id: 'MTP-A-SQL',
      clientId: 'C-SQL',
      productId: 'eu-classic',
      kind: 'live',
      serverId: 'mt4-live-eu',
      group: 'eu-std-usd',
      currency: 'USD',
      leverage: 30,
      state: 'open',
      login: 100_000,
      attempts: 1,
      uncertainSinceMs: null,
      lastError: null,
      createdMs: 0,
      updatedMs: 0,
      openedMs: 0,
    });
  });
  return 'MTP-A-SQL';
}

const STORES: [string, boolean, () => Promise<Store>][] = [
  ['PGlite', true, () => PgliteStore.open('memory')],
  [
    'Postgres (DATABASE_URL)',
    URL !== undefined,
    async () => {
      const store = await PostgresStore.connect(URL as string, { schema: SCHEMA });
      opened.push(store);
      return store;
    },
  ],
];

for (const [name, available, open] of STORES) {
  describe.skipIf(!available)(`idempotency keys on ${name}`, () => {
    let api: ApiWorld;
    let accountId: string;
    afterAll(async () => {
      await api?.app.close();
    });

    it('keeps a key across a restart and answers concurrent requests with one key with one transfer', async () => {
      const store = await open();
      accountId = await withOpenAccount(store);
      api = await apiWorld({ store, broker: webhookConfig() });
      const payload = { accountId, amountCents: 40_000, currency: 'USD' };
      const request = () =>
        api.app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth('sql-1'), payload });
      const answers = await Promise.all([request(), request(), request()]);
      expect(answers.map((a) => a.statusCode)).toEqual([202, 202, 202]);
      expect(new Set(answers.map((a) => a.body)).size).toBe(1);
      expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(2);

      const app = await api.rebuild();
      const again = await app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth('sql-1'), payload });
      expect(again.statusCode).toBe(202);
      expect(again.body).toBe(answers[0]?.body);
      const conflict = await app.inject({
        method: 'POST',
        url: '/v1/deposits',
        headers: api.auth('sql-1'),
        payload: { ...payload, amountCents: 40_001 },
      });
      expect(conflict.statusCode).toBe(409);
      expect(body(conflict)).toMatchObject({
        error: { code: 'MTP_IDEMPOTENCY_CONFLICT', issues: [{ path: 'amountCents' }] },
      });
      expect(await transfers(api)).toHaveLength(1);
    });

    it('refuses text the database cannot keep (NUL, an unpaired surrogate) with a coded 400, never a 500', async () => {
      const client = await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: { ...api.auth('sql-nul'), 'content-type': 'application/json' },
        payload: '{"name":"A\\u0000B","email":"a@b.cd","country":"DE","externalId":"crm-\\ud800"}',
      });
      expect(client.statusCode).toBe(400);
      expect(body(client)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST' } });
      const raw = JSON.stringify({
        id: 'evt_nul',
        type: 'payment.confirmed',
        data: { paymentId: 'pay\u0000', accountId, amountCents: 30_000, currency: 'USD' },
      });
      const payment = await deliverWebhook(api, raw);
      expect(payment.statusCode).toBe(400);
      expect(body(payment)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [{ path: 'data.paymentId' }] } });
    });

    it('answers a webhook delivered three times at once with one transfer', async () => {
      const raw = JSON.stringify({
        id: 'evt_sql',
        type: 'payment.confirmed',
        data: { paymentId: 'pay_sql', accountId, amountCents: 30_000, currency: 'USD' },
      });
      const deliver = () => deliverWebhook(api, raw);
      const answers = await Promise.all([deliver(), deliver(), deliver()]);
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
      expect(new Set(answers.map((a) => body<{ transfer: { ref: string } }>(a).transfer.ref)).size).toBe(1);
      expect((await transfers(api)).filter((t) => t.pspRef === 'pay_sql')).toHaveLength(1);
    });
  });
}
