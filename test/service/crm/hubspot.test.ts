import { HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HUBSPOT_DEFAULT_PROPERTIES, HubSpotCrm } from '../../../service/crm/hubspot.ts';
import { BASE_URL, byFact, capturing, describeCrmContract, TestClock, TOKEN, UPDATE } from './crm.contract.ts';

// One msw server for this file only: it intercepts fetch in this worker while the file runs, and any
// request no handler expects fails the test instead of reaching the network.
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const pathFor = (id: string) => `/crm/v3/objects/contacts/${encodeURIComponent(id)}`;

/** HubSpot's answers: the updated contact, and its error body. */
function contact(properties: Record<string, string>): Response {
  return HttpResponse.json({ id: UPDATE.crmClientId, properties, archived: false });
}
function hubspotError(status: number, message: string, headers: Record<string, string> = {}): Response {
  const category = status === 429 ? 'RATE_LIMITS' : status === 404 ? 'OBJECT_NOT_FOUND' : 'VALIDATION_ERROR';
  return HttpResponse.json({ status: 'error', message, correlationId: 'c0ffee', category }, { status, headers });
}

function fieldsOf(body: unknown): Record<string, unknown> {
  return byFact((body as { properties: Record<string, unknown> }).properties, HUBSPOT_DEFAULT_PROPERTIES);
}

describeCrmContract({
  name: 'HubSpot',
  server,
  pathFor,
  make: (options) => new HubSpotCrm(options),
  success: () => contact({}),
  error: hubspotError,
  fieldsOf,
});

describe('HubSpot adapter', () => {
  const capture = (answer: () => Response = () => contact({})) =>
    capturing(server, pathFor(UPDATE.crmClientId), answer);
  const options = { baseUrl: BASE_URL, token: TOKEN, timeoutMs: 1_000, clock: new TestClock() };

  it('sends every property as a string under its default name', async () => {
    const bodies = capture();
    await new HubSpotCrm(options).writeBack(UPDATE);
    expect(bodies).toEqual([
      {
        properties: {
          mtproof_account_id: 'MTP-A0000000007',
          mtproof_account_status: 'open',
          mtproof_onboarding_state: 'account_open',
          mtproof_mt_login: '100042',
          mtproof_mt_server: 'mt4-live-eu',
          mtproof_mt_group: 'eu-std-usd',
          mtproof_synced_at: '2025-01-15T09:30:00.000Z',
        },
      },
    ]);
  });

  it('clears the login property (an empty string) while the account has no login', async () => {
    const bodies = capture();
    await new HubSpotCrm(options).writeBack({ ...UPDATE, login: null, status: 'pending', onboarding: 'kyc_pending' });
    expect((bodies[0] as { properties: Record<string, string> }).properties.mtproof_mt_login).toBe('');
  });

  it('writes to the property names it is given', async () => {
    const bodies = capture();
    await new HubSpotCrm({ ...options, properties: { status: 'trading_account_status', login: 'mt_login' } }).writeBack(
      UPDATE,
    );
    const { properties } = bodies[0] as { properties: Record<string, string> };
    expect(properties.trading_account_status).toBe('open');
    expect(properties.mt_login).toBe('100042');
    expect(properties.mtproof_account_status).toBeUndefined();
    expect(properties.mtproof_account_id).toBe('MTP-A0000000007');
  });

  it("quotes HubSpot's category, message and detailed errors in a refusal", async () => {
    capture(() =>
      HttpResponse.json(
        {
          status: 'error',
          message: 'Property values were not valid',
          category: 'VALIDATION_ERROR',
          errors: [{ message: 'Property "mtproof_mt_group" does not exist' }],
        },
        { status: 400 },
      ),
    );
    const result = await new HubSpotCrm(options).writeBack(UPDATE);
    expect(result.ok ? '' : result.message).toBe(
      'HTTP 400: VALIDATION_ERROR: Property values were not valid Property "mtproof_mt_group" does not exist',
    );
  });

  it('answers an expired token (401) as rejected: retrying cannot renew it', async () => {
    capture(() => hubspotError(401, 'Authentication credentials not found'));
    expect(await new HubSpotCrm(options).writeBack(UPDATE)).toMatchObject({ outcome: 'rejected', status: 401 });
  });

  it('keeps the start of a body that is not JSON as the message', async () => {
    capture(() => new HttpResponse('<html>Bad Gateway</html>', { status: 502 }));
    const result = await new HubSpotCrm(options).writeBack(UPDATE);
    expect(result).toMatchObject({ outcome: 'unavailable', message: 'HTTP 502: <html>Bad Gateway</html>' });
  });
});
