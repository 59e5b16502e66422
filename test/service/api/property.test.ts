import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../../service/api/webhook.ts';
import { propertyParams } from '../../property.ts';
import { type ApiWorld, apiWorld, openAccountViaApi, WEBHOOK_SECRET, webhookConfig } from './helpers.ts';

/**
 * Random bodies at every POST route: whatever arrives, the answer is a 2xx or a coded 4xx, never a 5xx, and
 * the process keeps answering. Bodies mix arbitrary JSON, near-valid objects (the routes' own fields with
 * values of any type, plus strangers) and raw text that is not JSON.
 */

let api: ApiWorld;
let accountId: string;

beforeAll(async () => {
  api = await apiWorld({ broker: webhookConfig() });
  accountId = await openAccountViaApi(api, 'prop');
});

afterAll(async () => {
  await api?.app.close();
});

const FIELDS = [
  'name',
  'email',
  'country',
  'externalId',
  'partnerId',
  'state',
  'clientId',
  'productId',
  'accountId',
  'amountCents',
  'currency',
  'pspRef',
  'succeeded',
  'id',
  'type',
  'data',
];

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('DE', 'USD', 'approved', 'eu-classic', 'anna@example.com', 'payment.confirmed', 'C0000000001'),
  fc.integer({ min: -2, max: 2_000_000_000 }),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
);

const nearValid = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), value, {
  maxKeys: 6,
});

const jsonBody = fc.oneof(nearValid, fc.jsonValue({ maxDepth: 3 }));

/** Valid bodies of the routes (the account id is filled in when the test runs). */
const VALID = [
  '{"name":"Anna","email":"anna@example.com","country":"DE"}',
  '{"state":"approved"}',
  '{"clientId":"C0000000001","productId":"eu-classic"}',
  '{"accountId":"@ACCOUNT","amountCents":5000,"currency":"USD"}',
  '{"succeeded":true}',
  '{}',
  '{"id":"e1","type":"payment.confirmed","data":{"paymentId":"p1","accountId":"@ACCOUNT","amountCents":5000,"currency":"USD"}}',
  '{"id":"e2","type":"charge.updated","data":{}}',
];

const rawBody = fc.oneof(
  fc.constantFrom(...VALID),
  jsonBody.map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '{', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '[]', 'null', '"x"'),
);

const pathParam = fc.oneof(
  fc.constantFrom('C0000000001', 'MTP-A0000000001', 'MTP-D0000000001-U5', 'x'),
  fc.string({ minLength: 1, maxLength: 20 }).map(encodeURIComponent),
);

const route = fc.oneof(
  fc.constantFrom(
    '/v1/clients',
    '/v1/accounts',
    '/v1/deposits',
    '/v1/withdrawals',
    '/v1/reconciliations',
    '/v1/psp/webhook',
  ),
  pathParam.map((id) => `/v1/clients/${id}/kyc`),
  pathParam.map((ref) => `/v1/withdrawals/${ref}/payout`),
);

/** A route with its own kind of body, one field dropped or given any value now and then. */
const COHERENT: [string, Record<string, unknown>][] = [
  ['/v1/clients', { name: 'Anna', email: 'anna@example.com', country: 'DE' }],
  ['/v1/clients/C0000000001/kyc', { state: 'approved' }],
  ['/v1/accounts', { clientId: 'C0000000001', productId: 'eu-classic' }],
  ['/v1/deposits', { accountId: '@ACCOUNT', amountCents: 5000, currency: 'USD' }],
  ['/v1/withdrawals', { accountId: '@ACCOUNT', amountCents: 5000, currency: 'USD' }],
  ['/v1/withdrawals/MTP-W0000000001-AA/payout', { succeeded: true }],
  ['/v1/reconciliations', {}],
  [
    '/v1/psp/webhook',
    {
      id: 'e1',
      type: 'payment.confirmed',
      data: { paymentId: 'p1', accountId: '@ACCOUNT', amountCents: 5000, currency: 'USD' },
    },
  ],
];

const coherent = fc
  .tuple(
    fc.constantFrom(...COHERENT),
    fc.option(fc.tuple(fc.constantFrom(...FIELDS), fc.option(value, { nil: undefined }))),
  )
  .map(([[url, template], change]) => {
    const payload: Record<string, unknown> = { ...template };
    if (change !== null) {
      const [field, replacement] = change;
      if (replacement === undefined) delete payload[field];
      else payload[field] = replacement;
    }
    return { url, raw: JSON.stringify(payload) };
  });

const request = fc.record({
  target: fc.oneof(
    { arbitrary: coherent, weight: 2 },
    { arbitrary: fc.record({ url: route, raw: rawBody }), weight: 1 },
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    undefined,
  ),
  idempotencyKey: fc.option(fc.oneof(fc.uuid(), fc.uuid(), fc.string({ maxLength: 10 })), { nil: undefined }),
  withKey: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  signed: fc.boolean(),
  withAccount: fc.boolean(),
});

describe('the HTTP API under random input', () => {
  it('answers every random POST with a 2xx or a coded 4xx, never a 5xx', async () => {
    const params = propertyParams('api random bodies', 300);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const { url } = r.target;
        let raw = r.target.raw.replaceAll('@ACCOUNT', accountId);
        // Now and then aim at the real account, so that some bodies get past validation into the service.
        if (r.withAccount && raw.startsWith('{"') && !raw.includes('accountId')) {
          raw = raw.replace('{', `{"accountId":"${accountId}",`);
        }
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.withKey) headers.authorization = `Bearer ${api.key}`;
        if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
        if (r.signed) headers['x-mtproof-signature'] = signWebhook(WEBHOOK_SECRET, raw, api.world.scheduler.nowMs());
        const answer = await api.app.inject({ method: 'POST', url, headers, payload: raw });
        statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
        expect(answer.statusCode, `${url} ${raw}`).toBeLessThan(500);
        const parsed = JSON.parse(answer.body) as { error?: { code: string; message: string; issues: unknown[] } };
        if (answer.statusCode >= 400) {
          expect(parsed.error?.code).toMatch(/^MTP_[A-Z_]+$/);
          expect(typeof parsed.error?.message).toBe('string');
          expect(Array.isArray(parsed.error?.issues)).toBe(true);
        }
      }),
      { seed: params.seed, numRuns: params.numRuns },
    );
    console.log(
      `api random bodies: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}`,
    );
    // The generator reaches past the edge: some requests were accepted, many refused in different ways.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    // (At least three kinds of refusal: 400, 401 and 415 come from a third of the draws each; 404 and 422 only
    // from some seeds, so asking for more would fail by chance, e.g. seed 1430229519.)
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThanOrEqual(3);
    expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});
