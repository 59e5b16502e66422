import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApi } from '../../../service/api/app.ts';
import { readGauges } from '../../../service/api/metrics.ts';
import { type ApiKeyRow, MemoryStore } from '../../../service/index.ts';
import { type ApiWorld, apiWorld, body, openAccountViaApi, transfers } from './helpers.ts';

let api: ApiWorld;
afterEach(async () => {
  await api?.app.close();
});

const deposit = (accountId: string, amountCents = 50_000) => ({ accountId, amountCents, currency: 'USD' });

describe('the HTTP API: the happy path', () => {
  it('registers a client, approves KYC, opens an account, takes a deposit and shows it done', async () => {
    api = await apiWorld();
    const { app } = api;
    const client = await app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: api.auth('c-1'),
      payload: { name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE', externalId: 'crm-1' },
    });
    expect(client.statusCode).toBe(201);
    const clientId = body<{ id: string }>(client).id;

    const kyc = await app.inject({
      method: 'POST',
      url: `/v1/clients/${clientId}/kyc`,
      headers: api.auth('k-1'),
      payload: { state: 'approved' },
    });
    expect(kyc.statusCode).toBe(200);
    expect(body(kyc)).toMatchObject({ id: clientId, kyc: 'approved' });

    const opened = await app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: api.auth('a-1'),
      payload: { clientId, productId: 'eu-classic' },
    });
    expect(opened.statusCode).toBe(202);
    const account = body<{ id: string; state: string }>(opened);
    expect(account.state).toBe('pending');
    await api.world.until(async () => (await api.world.service.account(account.id))?.state === 'open', 600_000);
    const read = await app.inject({ method: 'GET', url: `/v1/accounts/${account.id}`, headers: api.auth() });
    expect(body(read)).toMatchObject({ id: account.id, state: 'open', serverId: 'mt4-live-eu', group: 'eu-std-usd' });

    const accepted = await app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('d-1'),
      payload: { ...deposit(account.id), pspRef: 'PAY-1' },
    });
    expect(accepted.statusCode).toBe(202);
    const { ref } = body<{ ref: string }>(accepted);
    await api.world.until(async () => (await api.world.service.transfer(ref))?.state === 'done', 600_000);
    const transfer = await app.inject({ method: 'GET', url: `/v1/transfers/${ref}`, headers: api.auth() });
    expect(transfer.statusCode).toBe(200);
    expect(body(transfer)).toMatchObject({ ref, state: 'done', amountCents: 50_000, pspRef: 'PAY-1' });
    expect(
      body(await app.inject({ method: 'GET', url: `/v1/clients/${clientId}`, headers: api.auth() })),
    ).toMatchObject({ id: clientId, externalId: 'crm-1' });
  });

  it('takes a withdrawal and its payout result, and answers a reconciliation and its findings by id', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'w');
    const funded = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('w-dep'),
      payload: deposit(accountId, 100_000),
    });
    await api.world.until(
      async () => (await api.world.service.transfer(body<{ ref: string }>(funded).ref))?.state === 'done',
      600_000,
    );
    const withdrawal = await api.app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: api.auth('w-1'),
      payload: { accountId, amountCents: 20_000, currency: 'USD' },
    });
    expect(withdrawal.statusCode).toBe(202);
    const { ref } = body<{ ref: string; state: string }>(withdrawal);
    expect(body(withdrawal)).toMatchObject({ state: 'hold' });
    await api.world.until(async () => (await api.world.service.transfer(ref))?.state === 'posted', 600_000);
    const payout = await api.app.inject({
      method: 'POST',
      url: `/v1/withdrawals/${ref}/payout`,
      headers: api.auth('w-2'),
      payload: { succeeded: true, pspRef: 'PO-1' },
    });
    expect(payout.statusCode).toBe(200);
    expect(body(payout)).toMatchObject({ ref, state: 'done', pspRef: 'PO-1' });

    const run = await api.app.inject({ method: 'POST', url: '/v1/reconciliations', headers: api.auth() });
    expect(run.statusCode).toBe(201);
    const { id } = body<{ id: string }>(run);
    const read = await api.app.inject({ method: 'GET', url: `/v1/reconciliations/${id}`, headers: api.auth() });
    expect(read.statusCode).toBe(200);
    expect(body(read)).toMatchObject({ id, state: 'done', findings: [] });
    const missing = await api.app.inject({ method: 'GET', url: '/v1/reconciliations/RC99', headers: api.auth() });
    expect(missing.statusCode).toBe(404);
    expect(body(missing)).toMatchObject({ error: { code: 'MTP_UNKNOWN_RECONCILIATION' } });
  });

  it('maps refusals of the service to their statuses: unknown → 404, KYC → 422, state → 409', async () => {
    api = await apiWorld();
    const unknown = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('r-1'),
      payload: deposit('MTP-A404'),
    });
    expect(unknown.statusCode).toBe(404);
    expect(body(unknown)).toEqual({
      error: {
        code: 'MTP_UNKNOWN_ACCOUNT',
        message: 'no account MTP-A404',
        issues: [{ path: 'accountId', message: 'unknown account' }],
      },
    });
    const client = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: api.auth('r-2'),
        payload: { name: 'Bo', email: 'bo@example.com', country: 'DE' },
      }),
    );
    const refused = await api.app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: api.auth('r-3'),
      payload: { clientId: client.id, productId: 'eu-classic' },
    });
    expect(refused.statusCode).toBe(422);
    expect(body(refused)).toMatchObject({ error: { code: 'MTP_KYC_REQUIRED' } });
    const payout = await api.app.inject({
      method: 'POST',
      url: '/v1/withdrawals/MTP-W1/payout',
      headers: api.auth('r-4'),
      payload: { succeeded: true },
    });
    expect(payout.statusCode).toBe(404);
    expect(body(payout)).toMatchObject({ error: { code: 'MTP_UNKNOWN_TRANSFER' } });
  });
});

describe('the HTTP API: introducing brokers', () => {
  it("answers a partner's statement: the commission on its client's close", async () => {
    api = await apiWorld();
    const client = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: api.auth('ib-1'),
        payload: { name: 'Iris Berg', email: 'iris@example.com', country: 'DE', partnerId: 'ib-acme' },
      }),
    );
    await api.app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/kyc`,
      headers: api.auth('ib-2'),
      payload: { state: 'approved' },
    });
    const account = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        headers: api.auth('ib-3'),
        payload: { clientId: client.id, productId: 'eu-classic' },
      }),
    );
    await api.world.until(async () => (await api.world.service.account(account.id))?.state === 'open', 600_000);
    const funded = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('ib-4'),
      payload: deposit(account.id, 1_000_000),
    });
    await api.world.until(
      async () => (await api.world.service.transfer(body<{ ref: string }>(funded).ref))?.state === 'done',
      600_000,
    );
    const { login } = (await api.world.service.account(account.id)) as { login: number };
    const opened = api.world.cluster.client('mt4-live-eu').open(login, 'EURUSD', 'buy', 37);
    if (!opened.ok) throw new Error('the trade did not open');
    await api.world.runFor(1_000);
    expect(api.world.cluster.client('mt4-live-eu').close(opened.value.ticket).ok).toBe(true);
    const url = '/v1/ib/partners/ib-acme/statement';
    const counted = await api.world.until(async () => {
      const r = await api.app.inject({ method: 'GET', url, headers: api.auth() });
      return body<{ totals: unknown[] }>(r).totals.length > 0;
    }, 600_000);
    expect(counted).toBe(true);
    const r = await api.app.inject({ method: 'GET', url, headers: api.auth() });
    expect(r.statusCode).toBe(200);
    expect(body(r)).toMatchObject({
      partnerId: 'ib-acme',
      accounts: [{ accountId: account.id, closedTrades: 1, volumeCentiLots: 37, commissionCentiCents: 37 * 700 }],
      totals: [{ currency: 'USD', closedTrades: 1, commissionCentiCents: 37 * 700 }],
    });
    // The close's time is the server's (a time zone ahead): a day later is after it whatever the zone.
    const later = await api.app.inject({
      method: 'GET',
      url: `${url}?fromMs=${api.world.scheduler.nowMs() + 86_400_000}`,
      headers: api.auth(),
    });
    expect(body(later)).toMatchObject({ accounts: [], totals: [] });
    const volume = await api.app.inject({
      method: 'GET',
      url: `/v1/accounts/${account.id}/volume`,
      headers: api.auth(),
    });
    expect(volume.statusCode).toBe(200);
    expect(body(volume)).toEqual({
      accountId: account.id,
      serverId: 'mt4-live-eu',
      login,
      openedTrades: 1,
      closedTrades: 1,
      volumeCentiLots: 37,
      bySymbol: [{ symbol: 'EURUSD', closedTrades: 1, volumeCentiLots: 37 }],
    });
    const nobody = await api.app.inject({ method: 'GET', url: '/v1/accounts/MTP-A9/volume', headers: api.auth() });
    expect(nobody.statusCode).toBe(404);
    expect(body(nobody)).toMatchObject({ error: { code: 'MTP_UNKNOWN_ACCOUNT' } });
  });

  it('answers an unknown partner with 404 and a bad range with a coded 400 naming the query field', async () => {
    api = await apiWorld();
    const unknown = await api.app.inject({
      method: 'GET',
      url: '/v1/ib/partners/ib-nobody/statement',
      headers: api.auth(),
    });
    expect(unknown.statusCode).toBe(404);
    expect(body(unknown)).toMatchObject({ error: { code: 'MTP_UNKNOWN_PARTNER' } });
    const bad = await api.app.inject({
      method: 'GET',
      url: '/v1/ib/partners/ib-acme/statement?fromMs=yesterday&x=1',
      headers: api.auth(),
    });
    expect(bad.statusCode).toBe(400);
    expect(
      body<{ error: { issues: { path: string }[] } }>(bad)
        .error.issues.map((i) => i.path)
        .sort(),
    ).toEqual(['query.fromMs', 'query.x']);
  });
});

describe('the HTTP API: idempotency keys', () => {
  it('answers the same key and body with the first answer, status included, and marks it replayed', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'i');
    const first = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-1'),
      payload: deposit(accountId),
    });
    // The transfer moves on meanwhile: the replay answers what the first request was answered.
    await api.world.until(
      async () => (await api.world.service.transfer(body<{ ref: string }>(first).ref))?.state === 'done',
      600_000,
    );
    const again = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-1'),
      payload: deposit(accountId),
    });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.body).toBe(first.body);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await transfers(api)).toHaveLength(1);
  });

  it('refuses the same key with another body with 409, naming the differing fields as dotted paths', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'c');
    await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-2'),
      payload: deposit(accountId),
    });
    const other = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-2'),
      payload: { ...deposit(accountId, 70_000), pspRef: 'P-9' },
    });
    expect(other.statusCode).toBe(409);
    expect(body(other)).toMatchObject({
      error: {
        code: 'MTP_IDEMPOTENCY_CONFLICT',
        issues: [
          { path: 'amountCents', message: 'differs from the first request with this key' },
          { path: 'pspRef', message: 'differs from the first request with this key' },
        ],
      },
    });
    // Path parameters are part of the request: the key used for one client's KYC cannot decide another's.
    const c1 = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: api.auth('p-1'),
        payload: { name: 'A', email: 'a@x.io', country: 'FR' },
      }),
    );
    const c2 = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: api.auth('p-2'),
        payload: { name: 'B', email: 'b@x.io', country: 'FR' },
      }),
    );
    await api.app.inject({
      method: 'POST',
      url: `/v1/clients/${c1.id}/kyc`,
      headers: api.auth('kyc-x'),
      payload: { state: 'approved' },
    });
    const reused = await api.app.inject({
      method: 'POST',
      url: `/v1/clients/${c2.id}/kyc`,
      headers: api.auth('kyc-x'),
      payload: { state: 'approved' },
    });
    expect(reused.statusCode).toBe(409);
    expect(body(reused)).toMatchObject({ error: { code: 'MTP_IDEMPOTENCY_CONFLICT', issues: [{ path: 'clientId' }] } });
    expect((await api.world.service.client(c2.id))?.kyc).toBe('none');
  });

  it('refuses a POST without Idempotency-Key with a coded 400 and accepts nothing', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'm');
    for (const [url, payload] of [
      ['/v1/deposits', deposit(accountId)],
      ['/v1/withdrawals', deposit(accountId)],
      ['/v1/clients', { name: 'C', email: 'c@x.io', country: 'FR' }],
      ['/v1/accounts', { clientId: 'C1', productId: 'pro' }],
    ] as const) {
      const r = await api.app.inject({ method: 'POST', url, headers: api.auth(), payload });
      expect(r.statusCode, url).toBe(400);
      expect(body(r), url).toMatchObject({
        error: {
          code: 'MTP_IDEMPOTENCY_KEY_MISSING',
          issues: [{ path: 'headers.idempotency-key', message: 'required' }],
        },
      });
    }
    expect(await transfers(api)).toHaveLength(0);
    const badKey = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('has space'),
      payload: deposit(accountId),
    });
    expect(badKey.statusCode).toBe(400);
    expect(body(badKey)).toMatchObject({
      error: { code: 'MTP_BAD_REQUEST', issues: [{ path: 'headers.idempotency-key' }] },
    });
  });

  it('keeps keys permanently: an app rebuilt on the same store (a restart) answers the first answer', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'p');
    const first = await api.app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-3'),
      payload: deposit(accountId),
    });
    const app = await api.rebuild();
    const again = await app.inject({
      method: 'POST',
      url: '/v1/deposits',
      headers: api.auth('dep-3'),
      payload: deposit(accountId),
    });
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await transfers(api)).toHaveLength(1);
  });

  it('answers two concurrent requests with one key with one transfer and the same answer', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 'cc');
    const [a, b] = await Promise.all([
      api.app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth('dep-4'), payload: deposit(accountId) }),
      api.app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth('dep-4'), payload: deposit(accountId) }),
    ]);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.body).toBe(b.body);
    expect([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].filter(Boolean)).toEqual(['true']);
    expect(await transfers(api)).toHaveLength(1);
  });

  it('does not keep a refusal: the same key is accepted once its cause is fixed', async () => {
    api = await apiWorld();
    const client = body<{ id: string }>(
      await api.app.inject({
        method: 'POST',
        url: '/v1/clients',
        headers: api.auth('f-1'),
        payload: { name: 'D', email: 'd@x.io', country: 'DE' },
      }),
    );
    const open = () =>
      api.app.inject({
        method: 'POST',
        url: '/v1/accounts',
        headers: api.auth('f-2'),
        payload: { clientId: client.id, productId: 'eu-classic' },
      });
    expect((await open()).statusCode).toBe(422);
    await api.app.inject({
      method: 'POST',
      url: `/v1/clients/${client.id}/kyc`,
      headers: api.auth('f-3'),
      payload: { state: 'approved' },
    });
    const accepted = await open();
    expect(accepted.statusCode).toBe(202);
    expect(accepted.headers['idempotent-replayed']).toBeUndefined();
  });

  it('keeps an optional key on a reconciliation: the same key answers the same run', async () => {
    api = await apiWorld();
    const first = await api.app.inject({ method: 'POST', url: '/v1/reconciliations', headers: api.auth('rc-1') });
    const again = await api.app.inject({ method: 'POST', url: '/v1/reconciliations', headers: api.auth('rc-1') });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await api.app.inject({ method: 'POST', url: '/v1/reconciliations', headers: api.auth() });
    expect(body<{ id: string }>(other).id).not.toBe(body<{ id: string }>(first).id);
  });
  it('scopes a key to its route: the same key on a deposit and on a withdrawal is two requests', async () => {
    api = await apiWorld();
    const accountId = await openAccountViaApi(api, 's');
    const payload = deposit(accountId, 10_000);
    const paid = await api.app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth('same'), payload });
    const taken = await api.app.inject({ method: 'POST', url: '/v1/withdrawals', headers: api.auth('same'), payload });
    expect([paid.statusCode, taken.statusCode]).toEqual([202, 202]);
    expect(taken.headers['idempotent-replayed']).toBeUndefined();
    expect((await transfers(api)).map((t) => t.kind).sort()).toEqual(['deposit', 'withdrawal']);
  });
});

describe('the HTTP API: API keys', () => {
  const call = (headers: Record<string, string>) =>
    api.app.inject({ method: 'GET', url: '/v1/clients/C0000000001', headers });

  it('refuses a missing, malformed or unknown key with a coded 401', async () => {
    api = await apiWorld();
    const cases: Record<string, string>[] = [
      {},
      { authorization: `Basic ${api.key}` },
      { authorization: 'Bearer mtp_not-a-key-of-this-service' },
    ];
    for (const headers of cases) {
      const r = await call(headers);
      expect(r.statusCode).toBe(401);
      expect(body(r)).toMatchObject({
        error: { code: 'MTP_UNAUTHORIZED', issues: [{ path: 'headers.authorization' }] },
      });
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('refuses a revoked key, and after a rotation the new key only', async () => {
    api = await apiWorld();
    expect((await call(api.auth())).statusCode).toBe(404);
    const [info] = await api.keys.list();
    const rotated = await api.keys.rotate(info?.id as string);
    expect((await call(api.auth())).statusCode).toBe(401);
    expect((await call({ authorization: `Bearer ${rotated.key}` })).statusCode).toBe(404);
    await api.keys.revoke(rotated.info.id);
    expect((await call({ authorization: `Bearer ${rotated.key}` })).statusCode).toBe(401);
  });

  it('trusts a verified key for authCacheMs at most: a key revoked elsewhere is refused once that has passed', async () => {
    api = await apiWorld();
    const clock = api.world.scheduler.clock;
    const app = buildApi({
      service: api.world.service,
      store: api.world.store,
      clock,
      secrets: () => undefined,
      authCacheMs: 2_000,
    });
    const get = () => app.inject({ method: 'GET', url: '/v1/clients/C0000000001', headers: api.auth() });
    try {
      expect((await get()).statusCode).toBe(404);
      // Revoked by another process (another ApiKeys on the store): this app's cache does not hear of it.
      const [info] = await api.keys.list();
      await api.keys.revoke(info?.id as string);
      await api.world.runFor(1_999);
      expect((await get()).statusCode).toBe(404);
      await api.world.runFor(1);
      expect((await get()).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('stores keys hashed, with a short prefix, never the key', async () => {
    api = await apiWorld();
    const rows = await api.world.store.transaction((tx) => tx.select('api_keys', {}));
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(api.key);
    const [row] = rows as [ApiKeyRow];
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(api.key.startsWith(row.prefix)).toBe(true);
    expect(row.prefix.length).toBeLessThanOrEqual(12);
  });

  it('leaves /health, /ready, /metrics and /docs open', async () => {
    api = await apiWorld();
    for (const url of ['/health', '/ready', '/metrics', '/docs/json']) {
      expect((await api.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });
});

interface BadInput {
  what: string;
  payload: string;
  headers: Record<string, string>;
  status: number;
  code: string;
}

describe('the HTTP API: bad input is a coded 4xx', () => {
  const post = (payload: string, headers: Record<string, string> = {}) =>
    api.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...api.auth('b-1'), 'content-type': 'application/json', ...headers },
      payload,
    });

  it.each<BadInput>([
    { what: 'malformed JSON', payload: '{"name": "A",', headers: {}, status: 400, code: 'MTP_MALFORMED_JSON' },
    { what: 'an empty JSON body', payload: '', headers: {}, status: 400, code: 'MTP_MALFORMED_JSON' },
    {
      what: 'prototype poisoning',
      payload: '{"__proto__": {"admin": true}}',
      headers: {},
      status: 400,
      code: 'MTP_MALFORMED_JSON',
    },
    { what: 'a body that is not an object', payload: '[1, 2]', headers: {}, status: 400, code: 'MTP_BAD_REQUEST' },
    {
      what: 'a wrong content type',
      payload: 'name=A',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'MTP_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'an oversized body',
      payload: JSON.stringify({ name: 'x'.repeat(70_000) }),
      headers: {},
      status: 413,
      code: 'MTP_PAYLOAD_TOO_LARGE',
    },
  ])('answers $what with $status $code', async ({ payload, headers, status, code }) => {
    api = await apiWorld();
    const r = await post(payload, headers);
    expect(r.statusCode).toBe(status);
    expect(body(r)).toMatchObject({ error: { code } });
    expect(typeof body<{ error: { message: string } }>(r).error.message).toBe('string');
  });

  it('names an unknown field and each field of a wrong type', async () => {
    api = await apiWorld();
    const r = await post(JSON.stringify({ name: 7, email: 'a@b.cd', country: 'Germany', colour: 'red' }));
    expect(r.statusCode).toBe(400);
    const issues = body<{ error: { issues: { path: string }[] } }>(r).error.issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['name', 'country', 'colour']));
    expect(body(r)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST' } });
  });

  it('names a bad path parameter, and answers an unknown route and a malformed URL', async () => {
    api = await apiWorld();
    const param = await api.app.inject({ method: 'GET', url: '/v1/transfers/has%20space', headers: api.auth() });
    expect(param.statusCode).toBe(400);
    expect(body(param)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [{ path: 'params.ref' }] } });
    const route = await api.app.inject({ method: 'GET', url: '/v1/nothing', headers: api.auth() });
    expect(route.statusCode).toBe(404);
    expect(body(route)).toMatchObject({ error: { code: 'MTP_NOT_FOUND' } });
    const url = await api.app.inject({ method: 'GET', url: '/v1/transfers/%E0%A4%A', headers: api.auth() });
    expect(url.statusCode).toBe(400);
    expect(body(url)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST' } });
  });

  it('refuses text the store cannot keep (NUL, an unpaired surrogate) naming the field, and takes any other unicode', async () => {
    api = await apiWorld();
    const client = { name: 'Zoë Ångström 🚀', email: 'zoe@example.com', country: 'DE' };
    const cases: [string, string][] = [
      [JSON.stringify({ ...client, externalId: 'crm\u0000x' }), 'externalId'],
      ['{"name":"A\\ud800B","email":"a@b.cd","country":"DE"}', 'name'],
      ['{"name":"A\\udc00","email":"a@b.cd","country":"DE"}', 'name'],
      [JSON.stringify({ ...client, 'odd\u0000key': 1 }), 'odd\u0000key'],
    ];
    for (const [payload, path] of cases) {
      const r = await post(payload);
      expect(r.statusCode, payload).toBe(400);
      expect(body(r), payload).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [{ path }] } });
    }
    const taken = await post(JSON.stringify(client));
    expect(taken.statusCode).toBe(201);
    expect(body(taken)).toMatchObject({ name: 'Zoë Ångström 🚀' });
  });

  it('refuses epoch milliseconds beyond a safe integer in a query, naming the query field', async () => {
    api = await apiWorld();
    const r = await api.app.inject({
      method: 'GET',
      url: '/v1/ib/partners/ib-acme/statement?toMs=9999999999999999',
      headers: api.auth(),
    });
    expect(r.statusCode).toBe(400);
    expect(body(r)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [{ path: 'query.toMs' }] } });
  });

  it('answers what is not even HTTP (a garbage request line, headers too large) with a coded JSON body', async () => {
    api = await apiWorld();
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = api.app.server.address() as { port: number };
    const garbage = await rawHttp(port, 'NOT HTTP AT ALL\r\n\r\n');
    const huge = await rawHttp(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    for (const [answer, status] of [
      [garbage, 400],
      [huge, 431],
    ] as const) {
      expect(answer.status).toBe(status);
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [] } });
    }
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it("redacts the Authorization and signature headers from a request's headers logged through the API's logger", async () => {
    api = await apiWorld();
    const headers = { authorization: `Bearer ${api.key}`, 'x-mtproof-signature': 't=1,v1=SIGNATURE-HEX' };
    api.app.log.warn({ req: { headers } }, 'a request logged whole');
    api.app.log.warn({ headers }, 'its headers alone');
    const logged = api.logs.slice(-2).join('\n');
    expect(logged).toContain('[redacted]');
    expect(logged).not.toContain(api.key);
    expect(logged).not.toContain('SIGNATURE-HEX');
  });

  it('answers a bug with 500 MTP_INTERNAL, logs it without the API key, and keeps answering', async () => {
    api = await apiWorld();
    // A query that fails the way a bug would: the route has no answer for it.
    const service = api.world.service;
    const original = service.transfer.bind(service);
    service.transfer = () => Promise.reject(new Error('boom: a bug'));
    const r = await api.app.inject({ method: 'GET', url: '/v1/transfers/MTP-D1', headers: api.auth() });
    service.transfer = original;
    expect(r.statusCode).toBe(500);
    expect(body(r)).toMatchObject({ error: { code: 'MTP_INTERNAL' } });
    expect(api.logs.some((line) => line.includes('boom: a bug'))).toBe(true);
    expect(api.logs.join('\n')).not.toContain(api.key);
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});

describe('the HTTP API: operations', () => {
  it('serves Prometheus text that parses: requests by route and status, durations, transfers by state', async () => {
    api = await apiWorld();
    await api.app.inject({ method: 'GET', url: '/v1/clients/C1', headers: api.auth() });
    await api.app.inject({ method: 'POST', url: '/v1/deposits', headers: api.auth() });
    const r = await api.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheus(r.body);
    expect(samples.get('mtproof_http_requests_total{method="GET",route="/v1/clients/:id",status="404"}')).toBe(1);
    expect(samples.get('mtproof_http_requests_total{method="POST",route="/v1/deposits",status="400"}')).toBe(1);
    expect(samples.get('mtproof_http_request_duration_seconds_count{method="GET",route="/v1/clients/:id"}')).toBe(1);
    expect(samples.get('mtproof_transfers{state="posting"}')).toBe(0);
    expect(samples.get('mtproof_transfers{state="review"}')).toBe(0);
    expect(samples.has('mtproof_jobs_queued')).toBe(true);
    expect(samples.get('mtproof_server_connected{server="mt4-live-eu"}')).toBe(0);
  });

  it('counts at each scrape only the transfers in flight or in review, never the settled ones that pile up', async () => {
    const counted: Record<string, unknown>[] = [];
    const store = new MemoryStore();
    const transaction = store.transaction.bind(store);
    store.transaction = (fn) =>
      transaction((tx) => {
        const count = tx.count.bind(tx);
        tx.count = (table, filter) => {
          counted.push({ table, ...filter });
          return count(table, filter);
        };
        return fn(tx);
      });
    await readGauges(store);
    const states = counted.filter((c) => c.table === 'transfers').map((c) => c.state);
    expect(states).toEqual(expect.arrayContaining(['accepted', 'hold', 'posting', 'posted', 'refunding', 'review']));
    expect(states).not.toContain('done');
    expect(states).not.toContain('refunded');
    expect(states).not.toContain('rejected');
  });

  it('is ready when the store answers, and lists each server as connected or not', async () => {
    api = await apiWorld();
    await api.world.runFor(5_000);
    const r = await api.app.inject({ method: 'GET', url: '/ready' });
    expect(r.statusCode).toBe(200);
    expect(body(r)).toMatchObject({
      ready: true,
      store: { ok: true },
      servers: expect.arrayContaining([expect.objectContaining({ id: 'mt4-live-eu', connected: true })]),
    });
  });

  it('is not ready (503, coded) when the store does not answer', async () => {
    api = await apiWorld();
    const failing = new MemoryStore();
    failing.transaction = () => Promise.reject(new Error('connection refused'));
    const app = buildApi({
      service: api.world.service,
      store: failing,
      clock: api.world.scheduler.clock,
      secrets: () => undefined,
    });
    const r = await app.inject({ method: 'GET', url: '/ready' });
    await app.close();
    expect(r.statusCode).toBe(503);
    expect(body(r)).toMatchObject({
      ready: false,
      store: { ok: false },
      error: { code: 'MTP_NOT_READY', issues: [{ path: 'store' }] },
    });
  });

  it('publishes an OpenAPI 3 document listing every route with its schemas', async () => {
    api = await apiWorld();
    const r = await api.app.inject({ method: 'GET', url: '/docs/json' });
    const doc = body<{ openapi: string; paths: Record<string, Record<string, OpenApiOperation>> }>(r);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/health',
        '/metrics',
        '/ready',
        '/v1/accounts',
        '/v1/accounts/{id}',
        '/v1/accounts/{id}/volume',
        '/v1/clients',
        '/v1/clients/{id}',
        '/v1/clients/{id}/kyc',
        '/v1/deposits',
        '/v1/ib/partners/{id}/statement',
        '/v1/psp/webhook',
        '/v1/reconciliations',
        '/v1/reconciliations/{id}',
        '/v1/transfers/{ref}',
        '/v1/withdrawals',
        '/v1/withdrawals/{ref}/payout',
      ].sort(),
    );
    // Every operation documents its answers, every {param} of a path is a required path parameter, and every
    // /v1 route but the webhook asks for the bearer key.
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
          expect(op.parameters, `${method} ${path}`).toContainEqual(
            expect.objectContaining({ name, in: 'path', required: true }),
          );
        }
        const secured = path.startsWith('/v1/') && path !== '/v1/psp/webhook';
        expect((op.security ?? []).length > 0, `${method} ${path} security`).toBe(secured);
      }
    }
    expect(doc.paths['/v1/deposits']?.post?.requestBody).toBeDefined();
    expect(doc.paths['/v1/deposits']?.post?.parameters).toContainEqual(
      expect.objectContaining({ name: 'idempotency-key', in: 'header' }),
    );
    const ui = await api.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger-ui');
  });
});

interface OpenApiOperation {
  requestBody?: unknown;
  parameters?: { name: string; in: string; required?: boolean }[];
  responses?: Record<string, unknown>;
  security?: unknown[];
}

/** Parses the Prometheus text format strictly enough to catch a malformed line: name{labels} value. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        types.set(meta[2] as string, meta[3] as string);
      }
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(
        line,
      );
    if (sample === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const name = sample[1] as string;
    const family = name.replace(/_(bucket|sum|count|total)$/, '');
    expect(types.has(name) || types.has(family), `TYPE for ${name}`).toBe(true);
    samples.set(`${name}${sample[2] ?? ''}`, Number(sample[3]));
  }
  return samples;
}

/** Sends `text` on a fresh TCP connection and reads the answer until the server closes it. */
function rawHttp(port: number, text: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        contentType: /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1] ?? '',
        body,
      });
    });
  });
}
