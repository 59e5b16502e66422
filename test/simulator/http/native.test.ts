import { afterEach, describe, expect, it } from 'vitest';
import { buildSimApp, type SimApp } from '../../../simulator/http/app.ts';
import { SimHost } from '../../../simulator/http/host.ts';

/** The native surface through `inject` (no sockets): the port's calls as HTTP requests. */

let served: { host: SimHost; sim: SimApp } | null = null;

async function serve(options: { token?: string } = {}): Promise<{ host: SimHost; sim: SimApp }> {
  // At real-time pace: pump deliveries are timers of the world, fired as the real clock passes them.
  const host = new SimHost({ seed: 'native-test', tickMs: 2 });
  host.start();
  const sim = buildSimApp(host, options);
  served = { host, sim };
  return served;
}

afterEach(async () => {
  await served?.sim.app.close();
  await served?.host.stop();
  served = null;
});

async function call(sim: SimApp, session: string, method: string, body: unknown = {}) {
  const res = await sim.app.inject({
    method: 'POST',
    url: `/v1/sessions/${session}/${method}`,
    payload: body as object,
  });
  return { status: res.statusCode, body: res.json() };
}

async function openConnected(sim: SimApp, serverId: string): Promise<string> {
  const opened = await sim.app.inject({ method: 'POST', url: '/v1/sessions', payload: { serverId } });
  expect(opened.statusCode).toBe(201);
  const session = opened.json().session as string;
  const connected = await call(sim, session, 'connect', { login: 1000, password: 'Manager#1' });
  expect(connected.body.ok).toBe(true);
  return session;
}

describe('native API', () => {
  it('creates an account, posts a deposit and reads it back through the port over HTTP', async () => {
    const { sim } = await serve();
    for (const [serverId, group] of [
      ['mt4-live-eu', 'eu-std-usd'],
      ['mt5-live-global', 'real\\standard-usd'],
    ] as const) {
      const session = await openConnected(sim, serverId);
      const created = await call(sim, session, 'createAccount', {
        account: { group, name: 'Ada Lovelace', password: 'Passw0rd!x' },
      });
      expect(created.status).toBe(200);
      expect(created.body.ok).toBe(true);
      const login = created.body.value.login as number;
      const posted = await call(sim, session, 'postBalance', {
        request: { login, amountCents: 12_345, kind: 'balance', comment: 'dep-1' },
      });
      expect(posted.body).toMatchObject({ ok: true, value: { login, amountCents: 12_345, comment: 'dep-1' } });
      const account = await call(sim, session, 'getAccount', { login });
      expect(account.body.value.balanceCents).toBe(12_345);
      const now = (await call(sim, session, 'serverTime')).body.value as number;
      const history = await call(sim, session, 'balanceHistory', {
        login,
        fromServerSec: now - 3600,
        toServerSec: now + 3600,
      });
      expect(history.body.value.map((op: { ticket: number }) => op.ticket)).toEqual([posted.body.value.ticket]);
    }
  });

  it('answers a platform refusal as a 200 carrying the Result, with outcome and code', async () => {
    const { sim } = await serve();
    const session = await openConnected(sim, 'mt5-live-global');
    const refused = await call(sim, session, 'postBalance', {
      request: { login: 5_999_999, amountCents: -100, kind: 'balance', comment: 'w' },
    });
    expect(refused.status).toBe(200);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.error.outcome).toBe('rejected');
    expect(Number.isInteger(refused.body.error.code)).toBe(true);
  });

  it('refuses bad arguments with a coded 400 naming the field', async () => {
    const { sim } = await serve();
    const session = await openConnected(sim, 'mt4-live-eu');
    const zero = await call(sim, session, 'postBalance', {
      request: { login: 100_000, amountCents: 0, kind: 'balance', comment: 'x' },
    });
    expect(zero.status).toBe(400);
    expect(zero.body.error.code).toBe('MTP_BAD_REQUEST');
    expect(zero.body.error.issues[0].path).toBe('request.amountCents');
    const floaty = await call(sim, session, 'postBalance', {
      request: { login: 100_000, amountCents: 1.5, kind: 'balance', comment: 'x' },
    });
    expect(floaty.status).toBe(400);
    const stringy = await call(sim, session, 'getAccount', { login: '100000' });
    expect(stringy.status).toBe(400);
    const unknown = await call(sim, 'nope', 'ping');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('MTP_SIM_UNKNOWN_SESSION');
    const badJson = await sim.app.inject({
      method: 'POST',
      url: `/v1/sessions/${session}/ping`,
      headers: { 'content-type': 'application/json' },
      payload: '{"oops"',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('MTP_MALFORMED_JSON');
    const noRoute = await sim.app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(noRoute.statusCode).toBe(404);
    expect(noRoute.json().error.code).toBe('MTP_NOT_FOUND');
  });

  it('delivers pumped events to a long poll and releases the ones seen', async () => {
    const { sim } = await serve();
    const session = await openConnected(sim, 'mt5-live-global');
    const subscribed = await call(sim, session, 'subscribe');
    const subscription = subscribed.body.value.subscription as string;
    const created = await call(sim, session, 'createAccount', {
      account: { group: 'real\\standard-usd', name: 'Grace Hopper', password: 'Passw0rd!x' },
    });
    const login = created.body.value.login as number;
    await call(sim, session, 'postBalance', { request: { login, amountCents: 500, kind: 'balance', comment: 'd' } });
    const first = await call(sim, session, 'events', { subscription, after: 0, waitMs: 2_000 });
    expect(first.body.ok).toBe(true);
    const events = first.body.value.events as { seq: number; event: { type: string } }[];
    expect(events.map((e) => e.event.type)).toContain('user');
    const last = events.at(-1)?.seq as number;
    const more = await call(sim, session, 'events', { subscription, after: last, waitMs: 300 });
    const all = [...events, ...more.body.value.events];
    expect(all.some((e: { event: { type: string } }) => e.event.type === 'balance')).toBe(true);
    await call(sim, session, 'unsubscribe', { subscription });
    const gone = await call(sim, session, 'events', { subscription, after: 0 });
    expect(gone.body.error.code).toBe('MTP_SIM_UNKNOWN_SUBSCRIPTION');
  });

  it('needs the token on every route but /health when one is set', async () => {
    const { sim } = await serve({ token: 's3cret' });
    expect((await sim.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const refused = await sim.app.inject({ method: 'GET', url: '/v1/servers' });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('MTP_UNAUTHORIZED');
    const wrong = await sim.app.inject({
      method: 'GET',
      url: '/v1/servers',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    const ok = await sim.app.inject({ method: 'GET', url: '/v1/servers', headers: { authorization: 'Bearer s3cret' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().servers).toHaveLength(3);
  });

  it('publishes OpenAPI for the native and control surfaces', async () => {
    const { sim } = await serve();
    const doc = (await sim.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const paths = Object.keys(doc.paths);
    expect(paths).toContain('/v1/sessions/{session}/postBalance');
    expect(paths).toContain('/control/faults');
    expect(paths).toContain('/control/journal');
  });
});
