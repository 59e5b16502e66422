import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import { SimHost } from '../../../simulator/http/host.ts';
import {
  buildWebApiApp,
  CONNECTION_HEADER,
  cliRandAnswer,
  passwordDigest,
  srvRandAnswer,
  webApiPasswordHash,
} from '../../../simulator/http/webapi/index.ts';

const SERVER = 'mt5-live-global';

describe('the Web API hash (facts 3.2, the documentation test vectors)', () => {
  it('derives every documented value from Password1', () => {
    expect([...passwordDigest('Password1')]).toEqual([
      236, 46, 146, 255, 112, 191, 70, 145, 174, 12, 104, 224, 47, 220, 108, 34,
    ]);
    expect(webApiPasswordHash('Password1').toString('hex')).toBe('904ba8ecb16273d2f0ae9c3b8a023752');
    expect(srvRandAnswer('Password1', '73007dc7184747ce0f7c98516ef1c851')).toBe('77fe51827f7fa69dd80fbec9aa33f1bb');
    expect(cliRandAnswer('Password1', '4db98fec17aab4dc5a240bdc659e8395')).toBe('1732021b1b332f51660b2b315eed3a35');
  });

  it('refuses a random that is not 32 hex digits', () => {
    expect(() => srvRandAnswer('Password1', '73007dc7')).toThrow(/32 hex/);
  });
});

interface Injected {
  status: number;
  body: Record<string, string>;
}

let host: SimHost;
let app: FastifyInstance;

async function call(
  connection: string,
  command: string,
  query: Record<string, string | number> = {},
): Promise<Injected> {
  const response = await app.inject({
    method: 'GET',
    url: `/api/${command}`,
    query: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
    headers: { [CONNECTION_HEADER]: connection },
  });
  return { status: response.statusCode, body: response.json() };
}

async function start(connection: string, query: Record<string, string | number> = {}): Promise<Injected> {
  return call(connection, 'auth/start', { version: 4000, agent: 'test', login: 1000, type: 'manager', ...query });
}

async function answer(connection: string, srvRand: string, password = 'Manager#1'): Promise<Injected> {
  const cliRand = '4db98fec17aab4dc5a240bdc659e8395';
  return call(connection, 'auth/answer', { srv_rand_answer: srvRandAnswer(password, srvRand), cli_rand: cliRand });
}

beforeEach(() => {
  host = new SimHost({ seed: 'webapi-auth', frozen: true });
  app = buildWebApiApp(host, SERVER, { connectionKey: 'header' });
});

afterEach(async () => {
  await app.close();
});

describe('auth/start and auth/answer', () => {
  it('hands out a srv_rand, accepts the right answer and proves the server with cli_rand_answer', async () => {
    const started = await start('a');
    expect(started.status).toBe(200);
    expect(Object.keys(started.body)[0]).toBe('retcode');
    expect(started.body).toMatchObject({ retcode: '0 Done', version_access: '3802' });
    expect(started.body.srv_rand).toMatch(/^[0-9a-f]{32}$/);
    const answered = await answer('a', started.body.srv_rand as string);
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({
      retcode: '0 Done',
      version_trade: '3802',
      cli_rand_answer: cliRandAnswer('Manager#1', '4db98fec17aab4dc5a240bdc659e8395'),
    });
    expect((await call('a', 'test/access')).body.retcode).toBe('0 Done');
  });

  it('draws srv_rand from the host seed and the connection number: the same seed gives the same challenges', async () => {
    const first = [(await start('a')).body.srv_rand, (await start('b')).body.srv_rand];
    await app.close();
    app = buildWebApiApp(new SimHost({ seed: 'webapi-auth', frozen: true }), SERVER, { connectionKey: 'header' });
    const again = [(await start('x')).body.srv_rand, (await start('y')).body.srv_rand];
    expect(again).toEqual(first);
    expect(first[0]).not.toBe(first[1]);
    await app.close();
    app = buildWebApiApp(new SimHost({ seed: 'other', frozen: true }), SERVER, { connectionKey: 'header' });
    expect((await start('a')).body.srv_rand).not.toBe(first[0]);
  });

  it('refuses an answer given more than 10 s of virtual time after the start', async () => {
    const late = await start('a');
    await host.advance(10_001);
    const refused = await answer('a', late.body.srv_rand as string);
    expect(refused.status).toBe(403);
    expect(refused.body.retcode).toMatch(/^9 /);
    const inTime = await start('a');
    await host.advance(10_000);
    expect((await answer('a', inTime.body.srv_rand as string)).status).toBe(200);
  });

  it('refuses a wrong password, an unknown manager and a disabled one with 403', async () => {
    const wrong = await start('a');
    const refused = await answer('a', wrong.body.srv_rand as string, 'Manager#2');
    expect(refused).toMatchObject({ status: 403 });
    expect(refused.body.retcode).toMatch(/^1001 /);
    // One answer per start: the right password now finds no handshake.
    const replay = await answer('a', wrong.body.srv_rand as string);
    expect(replay.status).toBe(403);
    expect(replay.body.retcode).toMatch(/^1000 /);
    const unknown = await start('b', { login: 1001 });
    expect((await answer('b', unknown.body.srv_rand as string)).body.retcode).toMatch(/^1001 /);

    await app.close();
    const config = structuredClone(host.config) as { servers: { managers: { enabled: boolean }[] }[] };
    for (const s of config.servers) for (const m of s.managers) m.enabled = false;
    host = new SimHost({ seed: 'webapi-auth', frozen: true, config: config as never });
    app = buildWebApiApp(host, SERVER, { connectionKey: 'header' });
    const disabled = await start('a');
    const off = await answer('a', disabled.body.srv_rand as string);
    expect(off.status).toBe(403);
    expect(off.body.retcode).toMatch(/^1002 /);
  });

  it('checks version, agent and type', async () => {
    const old = await start('a', { version: 483 });
    expect(old.status).toBe(403);
    expect(old.body.retcode).toMatch(/^1010 /);
    const spaced = await start('a', { agent: 'my agent' });
    expect(spaced.status).toBe(403);
    expect(spaced.body.retcode).toMatch(/^3 .*agent/);
    const client = await start('a', { type: 'client' });
    expect(client.body.retcode).toMatch(/^1017 /);
    const noLogin = await call('a', 'auth/start', { version: 4000, agent: 'test', type: 'manager' });
    expect(noLogin.body.retcode).toMatch(/^3 .*login/);
    const badHex = await call('a', 'auth/answer', { srv_rand_answer: 'zz', cli_rand: 'zz' });
    expect(badHex.status).toBe(403);
  });

  it('keeps header-named connections apart: one handshake authenticates only its own connection', async () => {
    const started = await start('a');
    await answer('a', started.body.srv_rand as string);
    expect((await call('a', 'test/access')).status).toBe(200);
    expect((await call('b', 'test/access')).status).toBe(403);
    // Idle time is virtual: 180 s without a request ends the session.
    await host.advance(180_000);
    const idle = await call('a', 'test/access');
    expect(idle.status).toBe(403);
    expect(idle.body.retcode).toMatch(/^8 /);
  });
});

describe('buildWebApiApp', () => {
  it('refuses an MT4 server and an unknown one with coded errors', () => {
    expect(() => buildWebApiApp(host, 'mt4-live-eu')).toThrow(MtproofError);
    try {
      buildWebApiApp(host, 'mt4-live-eu');
    } catch (error) {
      expect((error as MtproofError).code).toBe('MTP_SIM_NOT_MT5');
      expect((error as Error).message).toContain('mt5-live-global');
    }
    expect(() => buildWebApiApp(host, 'nowhere')).toThrow(/no server "nowhere"/);
  });

  it('answers an unknown command with 404 and a retcode, and journals it', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/user/delete?login=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json().retcode).toMatch(/^12000 /);
    const outside = await app.inject({ method: 'PUT', url: '/favicon.ico' });
    expect(outside.statusCode).toBe(404);
    expect(outside.json().retcode).toMatch(/^\d+ .+/);
    expect(host.journal.query({ surface: 'webapi' }).map((e) => [e.path, e.status, e.code])).toEqual([
      ['/api/user/delete', 404, '12000'],
      ['/favicon.ico', 404, '12000'],
    ]);
  });

  it('answers a malformed body, a bad URL and an oversized body with an envelope, never a 5xx', async () => {
    const started = await start('a');
    await answer('a', started.body.srv_rand as string);
    const malformed = await app.inject({
      method: 'POST',
      url: '/api/user/add?group=real%5Cstandard-usd&name=x&leverage=100',
      headers: { [CONNECTION_HEADER]: 'a', 'content-type': 'application/json' },
      payload: '{"PassMain": ',
    });
    expect(malformed.statusCode).toBe(200);
    expect(malformed.json().retcode).toMatch(/^3 Invalid parameters \(\(body\): not valid JSON\)/);
    const badUrl = await app.inject({ method: 'GET', url: '/api/user/get%ZZ?login=1' });
    expect(badUrl.statusCode).toBeLessThan(500);
    expect(badUrl.json().retcode).toMatch(/^\d+ .+/);
    const small = buildWebApiApp(host, SERVER, { connectionKey: 'header', bodyLimitBytes: 16, journal: false });
    const large = await small.inject({ method: 'POST', url: '/api/test/access', payload: 'x'.repeat(100) });
    expect(large.statusCode).toBe(413);
    expect(large.json().retcode).toMatch(/^3 /);
    await small.close();
  });
});
