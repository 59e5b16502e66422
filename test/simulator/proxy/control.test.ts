import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../kit/errors.ts';
import { buildProxyControlApp } from '../../../simulator/proxy/control.ts';
import { ProxyRegistry } from '../../../simulator/proxy/proxy.ts';
import { propertyParams } from '../../property.ts';
import { client, type Upstream, upstream } from './helpers.ts';

const TOKEN = 'proxy-control-token-0123456789';

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const thing of opened.splice(0).reverse()) await thing.close();
});

async function setup(options: { token?: string; bodyLimitBytes?: number } = {}) {
  const server: Upstream = await upstream();
  opened.push(server);
  const registry = new ProxyRegistry({ seed: 'control-test' });
  opened.push(registry);
  const app: FastifyInstance = buildProxyControlApp(registry, options);
  opened.push(app);
  await app.ready();
  const auth = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => {
    const response = await app.inject({
      method,
      url,
      headers: auth,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: response.statusCode, body: response.body === '' ? null : response.json() };
  };
  const createProxy = (name = 'db', extra: Record<string, unknown> = {}) =>
    call('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${server.port}`, ...extra });
  return { server, registry, app, call, createProxy };
}

function expectError(
  response: { status: number; body: unknown },
  status: number,
  code: keyof typeof ERROR_CODES,
  path?: string,
) {
  expect(response.status).toBe(status);
  const error = (response.body as { error: { code: string; message: string; issues: { path: string }[] } }).error;
  expect(error.code).toBe(code);
  expect(error.message).not.toBe('');
  if (path !== undefined) expect(error.issues.map((i) => i.path)).toContain(path);
}

describe('proxy control API: proxies', () => {
  it('creates a proxy that forwards, lists it, shows it, and deletes it', async () => {
    const { call, createProxy } = await setup();
    const created = await createProxy();
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'db',
      listen: '127.0.0.1:0',
      enabled: true,
      seed: 'control-test',
      toxics: [],
      stats: { connectionsTotal: 0 },
    });
    const address = (created.body as { address: string }).address;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const c = await client(Number(address.split(':')[1]));
    c.socket.write('over the wire');
    expect((await c.read(13)).toString()).toBe('over the wire');
    c.socket.destroy();

    const list = await call('GET', '/proxies');
    expect(list.status).toBe(200);
    expect((list.body as { proxies: { name: string }[] }).proxies.map((p) => p.name)).toEqual(['db']);
    const one = await call('GET', '/proxies/db');
    expect((one.body as { stats: { connectionsTotal: number } }).stats.connectionsTotal).toBe(1);

    expect((await call('DELETE', '/proxies/db')).status).toBe(204);
    expectError(await call('GET', '/proxies/db'), 404, 'MTP_PROXY_UNKNOWN');
    expectError(await call('DELETE', '/proxies/db'), 404, 'MTP_PROXY_UNKNOWN');
  });

  it('refuses a second proxy with the same name, and one that cannot listen', async () => {
    const { createProxy, server } = await setup();
    await createProxy();
    expectError(await createProxy(), 409, 'MTP_PROXY_EXISTS', 'name');
    expectError(
      await createProxy('other', { listen: `127.0.0.1:${server.port}` }),
      409,
      'MTP_PROXY_LISTEN_FAILED',
      'listen',
    );
  });

  it('disables and enables a proxy, and changes its upstream', async () => {
    const { call, createProxy } = await setup();
    await createProxy();
    const disabled = await call('PATCH', '/proxies/db', { enabled: false });
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ enabled: false, address: null });
    const enabled = await call('PATCH', '/proxies/db', { enabled: true, upstream: 'localhost:9' });
    expect(enabled.body).toMatchObject({ enabled: true, upstream: 'localhost:9' });
  });

  it('names each bad field of a proxy, with no type coercion', async () => {
    const { call } = await setup();
    expectError(
      await call('POST', '/proxies', { name: 'x', listen: '127.0.0.1', upstream: 'h:1' }),
      400,
      'MTP_BAD_REQUEST',
      'listen',
    );
    expectError(
      await call('POST', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: '127.0.0.1:0' }),
      400,
      'MTP_BAD_REQUEST',
      'upstream',
    );
    expectError(
      await call('POST', '/proxies', { name: '../x', listen: '127.0.0.1:0', upstream: 'h:1' }),
      400,
      'MTP_BAD_REQUEST',
      'name',
    );
    expectError(
      await call('POST', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: 'h:1', enabled: 'true' }),
      400,
      'MTP_BAD_REQUEST',
      'enabled',
    );
    expectError(
      await call('POST', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: 'h:1', colour: 'red' }),
      400,
      'MTP_BAD_REQUEST',
      'colour',
    );
    expectError(await call('PATCH', '/proxies/db', { enabled: 1 }), 400, 'MTP_BAD_REQUEST', 'enabled');
    expectError(await call('GET', '/proxies/bad%20name'), 400, 'MTP_BAD_REQUEST', 'params.name');
  });
});

describe('proxy control API: toxics', () => {
  it('adds, lists, shows, changes and removes toxics', async () => {
    const { call, createProxy } = await setup();
    await createProxy();
    const added = await call('POST', '/proxies/db/toxics', { type: 'latency', attributes: { latencyMs: 100 } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      name: 'latency_downstream',
      type: 'latency',
      direction: 'downstream',
      toxicity: 1,
      enabled: true,
      attributes: { latencyMs: 100, jitterMs: 0 },
    });
    await call('POST', '/proxies/db/toxics', { type: 'reset', name: 'rst', toxicity: 0.25 });
    const list = await call('GET', '/proxies/db/toxics');
    expect((list.body as { toxics: { name: string }[] }).toxics.map((t) => t.name)).toEqual([
      'latency_downstream',
      'rst',
    ]);
    const changed = await call('PATCH', '/proxies/db/toxics/latency_downstream', {
      attributes: { jitterMs: 5 },
      direction: 'both',
    });
    expect(changed.body).toMatchObject({ direction: 'both', attributes: { latencyMs: 100, jitterMs: 5 } });
    expect((await call('GET', '/proxies/db/toxics/rst')).body).toMatchObject({ type: 'reset', toxicity: 0.25 });
    expect((await call('DELETE', '/proxies/db/toxics/rst')).status).toBe(204);
    expectError(await call('GET', '/proxies/db/toxics/rst'), 404, 'MTP_PROXY_TOXIC_UNKNOWN');
    expectError(await call('PATCH', '/proxies/db/toxics/rst', { enabled: false }), 404, 'MTP_PROXY_TOXIC_UNKNOWN');
    expectError(await call('POST', '/proxies/nope/toxics', { type: 'blackhole' }), 404, 'MTP_PROXY_UNKNOWN');
  });

  it('names each bad field of a toxic', async () => {
    const { call, createProxy } = await setup();
    await createProxy();
    expectError(await call('POST', '/proxies/db/toxics', { type: 'lag' }), 400, 'MTP_BAD_REQUEST', 'type');
    expectError(
      await call('POST', '/proxies/db/toxics', { type: 'latency', attributes: { latencyMs: -1 } }),
      400,
      'MTP_BAD_REQUEST',
      'attributes.latencyMs',
    );
    expectError(
      await call('POST', '/proxies/db/toxics', { type: 'latency', attributes: { latencyMs: '5' } }),
      400,
      'MTP_BAD_REQUEST',
      'attributes.latencyMs',
    );
    expectError(
      await call('POST', '/proxies/db/toxics', { type: 'reset', toxicity: 1.5 }),
      400,
      'MTP_BAD_REQUEST',
      'toxicity',
    );
    expectError(
      await call('POST', '/proxies/db/toxics', { type: 'bandwidth', attributes: { rateBytesPerSec: 10, burst: 1 } }),
      400,
      'MTP_BAD_REQUEST',
      'attributes.burst',
    );
    await call('POST', '/proxies/db/toxics', { type: 'slowClose', attributes: { delayMs: 10 } });
    expectError(
      await call('POST', '/proxies/db/toxics', { type: 'slowClose', attributes: { delayMs: 10 } }),
      409,
      'MTP_PROXY_TOXIC_EXISTS',
      'name',
    );
    expectError(
      await call('PATCH', '/proxies/db/toxics/slowClose_downstream', { attributes: { delayMs: 'soon' } }),
      400,
      'MTP_BAD_REQUEST',
      'attributes.delayMs',
    );
    expectError(
      await call('PATCH', '/proxies/db/toxics/slowClose_downstream', { type: 'latency' }),
      400,
      'MTP_BAD_REQUEST',
      'type',
    );
  });

  it('shows the draws of each connection', async () => {
    const { call, createProxy } = await setup();
    const created = await createProxy();
    await call('POST', '/proxies/db/toxics', { type: 'latency', name: 'slow', attributes: { latencyMs: 1 } });
    const c = await client(Number((created.body as { address: string }).address.split(':')[1]));
    c.socket.write('x');
    await c.read(1);
    c.socket.destroy();
    const decisions = await call('GET', '/proxies/db/decisions');
    expect(decisions.body).toEqual({ decisions: [{ connection: 1, toxic: 'slow', toxicity: 1, inEffect: true }] });
  });

  it('reset removes every toxic and enables every proxy', async () => {
    const { call, createProxy } = await setup();
    await createProxy('a');
    await createProxy('b', { enabled: false });
    await call('POST', '/proxies/a/toxics', { type: 'blackhole' });
    const reset = await call('POST', '/reset');
    expect(reset.status).toBe(200);
    const proxies = (reset.body as { proxies: { name: string; enabled: boolean; toxics: unknown[] }[] }).proxies;
    expect(proxies.map((p) => [p.name, p.enabled, p.toxics.length])).toEqual([
      ['a', true, 0],
      ['b', true, 0],
    ]);
  });
});

describe('proxy control API: the edge', () => {
  it('answers bad requests with coded 4xx bodies', async () => {
    const { app, createProxy } = await setup({ bodyLimitBytes: 1024 });
    await createProxy();
    const raw = async (method: 'POST' | 'GET', url: string, payload?: string, type = 'application/json') => {
      const response = await app.inject({
        method,
        url,
        ...(payload === undefined ? {} : { payload, headers: { 'content-type': type } }),
      });
      return { status: response.statusCode, body: response.json() };
    };
    expectError(await raw('POST', '/proxies/db/toxics', '{"type":'), 400, 'MTP_MALFORMED_JSON');
    expectError(await raw('POST', '/proxies/db/toxics', '{"__proto__":{"x":1}}'), 400, 'MTP_MALFORMED_JSON');
    expectError(await raw('GET', '/nowhere'), 404, 'MTP_NOT_FOUND');
    expectError(
      await raw('POST', '/proxies/db/toxics', JSON.stringify({ pad: 'x'.repeat(2048) })),
      413,
      'MTP_PAYLOAD_TOO_LARGE',
    );
    expectError(
      await raw('POST', '/proxies/db/toxics', '{"type":"blackhole","name":"a\\u0000b"}'),
      400,
      'MTP_BAD_REQUEST',
      'name',
    );
    expectError(
      await raw('POST', '/proxies/db/toxics', 'type=blackhole', 'text/plain'),
      415,
      'MTP_UNSUPPORTED_MEDIA_TYPE',
    );
    expectError(await raw('GET', '/proxies/%E0%A4%A'), 400, 'MTP_BAD_REQUEST');
  });

  it('needs the token on every route but /health when one is set', async () => {
    const { app, call } = await setup({ token: TOKEN });
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const none = await app.inject({ method: 'GET', url: '/proxies' });
    expectError({ status: none.statusCode, body: none.json() }, 401, 'MTP_UNAUTHORIZED', 'headers.authorization');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    for (const authorization of [`Bearer ${TOKEN}x`, `Basic ${TOKEN}`, 'Bearer', `Bearer ${TOKEN.slice(1)}`]) {
      const wrong = await app.inject({ method: 'GET', url: '/proxies', headers: { authorization } });
      expect(wrong.statusCode).toBe(401);
    }
    const docs = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(docs.statusCode).toBe(401);
    expect((await call('GET', '/proxies')).status).toBe(200);
    expect((await call('GET', '/docs/json')).status).toBe(200);
  });

  it('publishes an OpenAPI document of every route', async () => {
    const { call } = await setup();
    const docs = await call('GET', '/docs/json');
    expect(docs.status).toBe(200);
    const paths = Object.keys((docs.body as { paths: Record<string, unknown> }).paths);
    for (const path of [
      '/health',
      '/proxies',
      '/proxies/{name}',
      '/proxies/{name}/toxics',
      '/proxies/{name}/toxics/{toxic}',
      '/proxies/{name}/decisions',
      '/reset',
    ]) {
      expect(paths).toContain(path);
    }
  });

  it('never answers a 5xx to any body (fuzz)', async () => {
    const { call, createProxy, server } = await setup();
    await createProxy();
    await call('POST', '/proxies/db/toxics', { type: 'latency', name: 'lag', attributes: { latencyMs: 1 } });
    const direction = fc.constantFrom('upstream', 'downstream', 'both', 'sideways', 1, null);
    const nearToxic = fc.record(
      {
        type: fc.constantFrom('latency', 'bandwidth', 'blackhole', 'reset', 'slowClose', 'limitData', 'timeout', 'x'),
        name: fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), fc.string(), fc.constant('lag')),
        direction,
        toxicity: fc.oneof(fc.double(), fc.constant('0.5'), fc.integer()),
        enabled: fc.oneof(fc.boolean(), fc.constant('yes')),
        attributes: fc.dictionary(
          fc.constantFrom(
            'latencyMs',
            'jitterMs',
            'rateBytesPerSec',
            'afterBytes',
            'delayMs',
            'bytes',
            'timeoutMs',
            'z',
          ),
          fc.oneof(fc.integer({ min: -10, max: 5_000 }), fc.double(), fc.string(), fc.constant(null)),
        ),
      },
      { requiredKeys: [] },
    );
    // Proxies are only ever asked to listen on loopback: a fuzzed body must not open a port beyond it.
    const nearProxy = fc.record(
      {
        name: fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), fc.string(), fc.constant('db')),
        listen: fc.constantFrom('127.0.0.1:0', '127.0.0.1', '127.0.0.1:70000', ':0', 'x'),
        upstream: fc.oneof(fc.constant(`127.0.0.1:${server.port}`), fc.string(), fc.constant('[::1]:1')),
        enabled: fc.oneof(fc.boolean(), fc.constant(0)),
      },
      { requiredKeys: [] },
    );
    const request = fc.oneof(
      fc.record({
        method: fc.constant('POST' as const),
        url: fc.constant('/proxies/db/toxics'),
        body: fc.oneof(nearToxic, fc.jsonValue()),
      }),
      fc.record({
        method: fc.constant('PATCH' as const),
        url: fc.constant('/proxies/db/toxics/lag'),
        body: fc.oneof(nearToxic, fc.jsonValue()),
      }),
      fc.record({
        method: fc.constant('PATCH' as const),
        url: fc.constant('/proxies/db'),
        body: fc.oneof(
          nearProxy.map(({ listen: _, ...rest }) => rest),
          fc.jsonValue(),
        ),
      }),
      fc.record({
        method: fc.constant('POST' as const),
        url: fc.constant('/proxies'),
        body: fc.oneof(nearProxy, fc.jsonValue()),
      }),
    );
    const { seed, numRuns } = propertyParams('proxy control API fuzz', 300);
    await fc.assert(
      fc.asyncProperty(request, async ({ method, url, body }) => {
        const response = await call(method, url, body ?? {});
        expect(response.status).toBeLessThan(500);
        if (response.status >= 400) {
          const code = (response.body as { error: { code: string } }).error.code;
          expect(Object.keys(ERROR_CODES)).toContain(code);
        }
      }),
      { seed, numRuns },
    );
  });
});
