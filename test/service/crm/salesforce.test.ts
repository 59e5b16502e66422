import { HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SALESFORCE_DEFAULT_FIELDS, SalesforceCrm } from '../../../service/crm/salesforce.ts';
import { BASE_URL, byFact, capturing, describeCrmContract, TestClock, TOKEN, UPDATE } from './crm.contract.ts';

// One msw server for this file only (see hubspot.test.ts).
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const pathFor = (id: string) => `/services/data/v60.0/sobjects/Contact/${encodeURIComponent(id)}`;

/** Salesforce's error body: a list of `{ message, errorCode }`. */
function salesforceError(status: number, message: string, headers: Record<string, string> = {}): Response {
  const errorCode = status === 404 ? 'NOT_FOUND' : status >= 500 ? 'SERVER_UNAVAILABLE' : 'INVALID_FIELD';
  return HttpResponse.json([{ message, errorCode, fields: [] }], { status, headers });
}

function fieldsOf(body: unknown): Record<string, unknown> {
  return byFact(body as Record<string, unknown>, SALESFORCE_DEFAULT_FIELDS);
}

describeCrmContract({
  name: 'Salesforce',
  server,
  pathFor,
  make: (options) => new SalesforceCrm(options),
  success: () => new HttpResponse(null, { status: 204 }),
  error: salesforceError,
  fieldsOf,
});

describe('Salesforce adapter', () => {
  const capture = (answer: () => Response = () => new HttpResponse(null, { status: 204 })) =>
    capturing(server, pathFor(UPDATE.crmClientId), answer);
  const options = { baseUrl: BASE_URL, token: TOKEN, timeoutMs: 1_000, clock: new TestClock() };

  it('sends the custom fields of Contact, the login as a number', async () => {
    const bodies = capture();
    expect(await new SalesforceCrm(options).writeBack(UPDATE)).toEqual({ ok: true, status: 204 });
    expect(bodies).toEqual([
      {
        MTProof_Account_Id__c: 'MTP-A0000000007',
        MTProof_Account_Status__c: 'open',
        MTProof_Onboarding_State__c: 'account_open',
        MTProof_MT_Login__c: 100_042,
        MTProof_MT_Server__c: 'mt4-live-eu',
        MTProof_MT_Group__c: 'eu-std-usd',
        MTProof_Synced_At__c: '2025-01-15T09:30:00.000Z',
      },
    ]);
  });

  it('clears the login field (null) while the account has no login', async () => {
    const bodies = capture();
    await new SalesforceCrm(options).writeBack({ ...UPDATE, login: null, status: 'pending' });
    expect((bodies[0] as Record<string, unknown>).MTProof_MT_Login__c).toBeNull();
  });

  it('writes to the field names it is given', async () => {
    const bodies = capture();
    await new SalesforceCrm({ ...options, fields: { accountId: 'Trading_Account__c' } }).writeBack(UPDATE);
    const fields = bodies[0] as Record<string, unknown>;
    expect(fields.Trading_Account__c).toBe('MTP-A0000000007');
    expect(fields.MTProof_Account_Id__c).toBeUndefined();
  });

  it('quotes the error code and message of each error in a refusal', async () => {
    capture(() =>
      HttpResponse.json(
        [
          { message: 'No such column MTProof_MT_Group__c on sobject of type Contact', errorCode: 'INVALID_FIELD' },
          { message: 'second', errorCode: 'OTHER' },
        ],
        { status: 400 },
      ),
    );
    const result = await new SalesforceCrm(options).writeBack(UPDATE);
    expect(result.ok ? '' : result.message).toBe(
      'HTTP 400: INVALID_FIELD: No such column MTProof_MT_Group__c on sobject of type Contact; OTHER: second',
    );
  });

  it("answers the org's request limit (403 REQUEST_LIMIT_EXCEEDED) as unavailable, other 403s as rejected", async () => {
    capture(() =>
      HttpResponse.json([{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }], {
        status: 403,
      }),
    );
    expect(await new SalesforceCrm(options).writeBack(UPDATE)).toMatchObject({
      outcome: 'unavailable',
      code: 'MTP_CRM_UNAVAILABLE',
      status: 403,
    });
    server.resetHandlers();
    capture(() => salesforceError(403, 'insufficient access rights on object id'));
    expect(await new SalesforceCrm(options).writeBack(UPDATE)).toMatchObject({ outcome: 'rejected', status: 403 });
  });
});
