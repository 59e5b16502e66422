import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Mt5WebApiManagerApi, PING_INTERVAL_MS } from '../../adapters/mt5-webapi/index.ts';
import type { ManagerError } from '../../adapters/port/errors.ts';
import type { PumpEvent, Result } from '../../adapters/port/manager-api.ts';
import type { Clock } from '../../kit/clock.ts';
import { SimHost } from '../../simulator/http/host.ts';
import { buildWebApiApp } from '../../simulator/http/webapi/index.ts';
import { selfSigned } from '../tls.ts';

/**
 * The MT5 Web API adapter's session over real sockets against the served simulator: what it does when the
 * server drops an idle session, when a socket breaks before or after a request went out, when no answer
 * comes, when the server cannot prove the password, and its keep-alive ping.
 */

const SERVER_ID = 'mt5-live-global';
const CREDENTIALS = { login: 1000, password: 'Manager#1' } as const;
const GROUP = 'real\\standard-usd';

interface Served {
  host: SimHost;
  app: FastifyInstance;
  port: number;
  api: Mt5WebApiManagerApi;
  /** Requests the server received, by path (counted before anything answers them). */
  received: (path: string) => number;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A started SimHost, its Web API for mt5-live-global on a free loopback port (`hooks` add test behaviour to
 * the app before it listens) and an adapter pointed at it.
 */
async function serve(
  options: {
    hooks?: (app: FastifyInstance) => void;
    timeoutMs?: number;
    pollIntervalMs?: number;
    clock?: Clock;
    url?: (port: number) => string;
    tls?: { rejectUnauthorized?: boolean; ca?: string };
  } = {},
): Promise<Served> {
  const host = new SimHost({ seed: 'webapi-session' });
  host.start();
  const app = buildWebApiApp(host, SERVER_ID, { requestTimeoutMs: 300 });
  const counts = new Map<string, number>();
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?', 1)[0] as string;
    counts.set(path, (counts.get(path) ?? 0) + 1);
  });
  options.hooks?.(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const api = new Mt5WebApiManagerApi({
    serverId: SERVER_ID,
    url: options.url?.(port) ?? `http://127.0.0.1:${port}`,
    timeoutMs: options.timeoutMs ?? 5_000,
    // Long by default: a poll in flight would keep the session busy, and a busy session is never idle.
    pollIntervalMs: options.pollIntervalMs ?? 60_000,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const served: Served = {
    host,
    app,
    port,
    api,
    received: (path) => counts.get(path) ?? 0,
    async close() {
      await api.close();
      await app.close();
      await host.stop();
    },
  };
  cleanups.push(() => served.close());
  return served;
}

function must<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new Error(`${what} failed: ${result.error.message}`);
  return result.value;
}

function failure<T>(result: Result<T>, what: string): ManagerError {
  if (result.ok) throw new Error(`${what} succeeded, a failure was expected`);
  return result.error;
}

async function newAccount(api: Mt5WebApiManagerApi): Promise<number> {
  return must(await api.createAccount({ group: GROUP, name: 'Session Test', password: 'Passw0rd!x' }), 'createAccount')
    .login;
}

/** Waits (real time) until `condition` holds; fails the test after `withinMs`. */
async function until(condition: () => boolean, what: string, withinMs = 2_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A hook that does `act` to the next request on `path` once armed, then lets requests through again. */
function trap(path: string, act: 'destroy' | 'forbid' | 'hang') {
  let armed = 0;
  const released: (() => void)[] = [];
  return {
    arm(times = 1) {
      armed = times;
    },
    release() {
      for (const r of released.splice(0)) r();
    },
    install(app: FastifyInstance) {
      app.addHook('onRequest', async (request, reply) => {
        if (act === 'hang' || armed === 0 || request.url.split('?', 1)[0] !== path) return;
        armed -= 1;
        if (act === 'destroy') {
          // The request arrived, the connection breaks before the server runs it.
          reply.hijack();
          request.raw.socket.destroy();
        } else {
          await reply.code(403).type('text/plain').send('Forbidden');
        }
      });
      // 'hang': the command runs (the change is applied), its answer is held back until released.
      app.addHook('onSend', async (request, _reply, payload) => {
        if (act !== 'hang' || armed === 0 || request.url.split('?', 1)[0] !== path) return payload;
        armed -= 1;
        await new Promise<void>((resolve) => released.push(resolve));
        return payload;
      });
    },
  };
}

describe('mt5-webapi session: a session the server dropped', () => {
  it('logs in again transparently on the next read after the server dropped the idle session', async () => {
    const s = await serve();
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    const events: PumpEvent[] = [];
    must(await s.api.subscribe((e) => events.push(e)), 'subscribe');
    // The server drops a connection silent for 180 s of its (virtual) time.
    await s.host.advance(181_000);
    // The client sees the socket close: the subscription made on that session ends.
    await until(() => events.some((e) => e.type === 'stopped'), 'the subscription to stop');
    expect(events).toEqual([{ type: 'stopped' }]);
    expect(s.api.isConnected()).toBe(true);
    const account = must(await s.api.getAccount(login), 'getAccount after the idle drop');
    expect(account.login).toBe(login);
    expect(s.received('/api/auth/start')).toBe(2);
    expect(s.received('/api/auth/answer')).toBe(2);
    // Nothing went out on the dead socket: the read was the only one.
    expect(s.received('/api/user/get')).toBe(1);
    expect(s.host.journal.query({ surface: 'webapi', status: 0 })).toEqual([]);
  });

  it('reads again on a new session when the socket breaks under a read', async () => {
    const s = await serve();
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    // The server's link breaks with the read in flight: the socket is dropped without an answer.
    s.host.cluster.inject(SERVER_ID, 'connectionDrop', { applied: false });
    expect(must(await s.api.getAccount(login), 'getAccount across a dropped socket').login).toBe(login);
    expect(s.api.isConnected()).toBe(true);
    expect(s.received('/api/user/get')).toBe(2);
    expect(s.received('/api/auth/start')).toBe(2);
  });
});

describe('mt5-webapi session: a change whose answer never comes', () => {
  it('answers unknown when the socket is destroyed after the deposit was written, and does not send it again', async () => {
    const destroy = trap('/api/trade/balance', 'destroy');
    const s = await serve({ hooks: (app) => destroy.install(app) });
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    destroy.arm();
    const error = failure(
      await s.api.postBalance({ login, amountCents: 12_00, kind: 'balance', comment: 'wa-destroyed' }),
      'deposit on a destroyed socket',
    );
    expect([error.outcome, error.reason, error.code]).toEqual(['unknown', 'no_connection', 7]);
    expect(s.received('/api/trade/balance')).toBe(1);
    // As the MT5 API: unavailable until connect() again, and nothing is sent meanwhile.
    expect(s.api.isConnected()).toBe(false);
    expect(failure(await s.api.ping(), 'ping').outcome).toBe('unavailable');
    must(await s.api.connect(CREDENTIALS), 'connect again');
    const now = must(await s.api.serverTime(), 'serverTime');
    const ops = must(await s.api.balanceHistory(login, now - 3600, now + 3600), 'balanceHistory');
    // The hook destroyed it before the server ran it: not applied, and never sent twice.
    expect(ops.filter((op) => op.comment === 'wa-destroyed')).toEqual([]);
    expect(s.received('/api/trade/balance')).toBe(1);
  });

  it('answers unknown/timeout when a deposit is applied but its answer does not come, then logs in again', async () => {
    const hang = trap('/api/trade/balance', 'hang');
    const s = await serve({ hooks: (app) => hang.install(app), timeoutMs: 300 });
    cleanups.push(async () => hang.release());
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    const events: PumpEvent[] = [];
    must(await s.api.subscribe((e) => events.push(e)), 'subscribe');
    hang.arm();
    const error = failure(
      await s.api.postBalance({ login, amountCents: 34_00, kind: 'balance', comment: 'wa-hang' }),
      'deposit without an answer',
    );
    expect([error.outcome, error.reason, error.code]).toEqual(['unknown', 'timeout', 9]);
    // The socket had to go (a late answer would be read as the next one's): the session with it.
    await until(() => events.some((e) => e.type === 'stopped'), 'the subscription to stop');
    expect(s.api.isConnected()).toBe(true);
    const account = must(await s.api.getAccount(login), 'getAccount after the timeout');
    expect(account.balanceCents).toBe(34_00);
    expect(s.received('/api/trade/balance')).toBe(1);
    expect(s.received('/api/auth/start')).toBe(2);
  });
});

describe('mt5-webapi session: refusals', () => {
  it('a 403 without a retcode: logs in again and sends once more; a second one is no_rights', async () => {
    const forbid = trap('/api/user/get', 'forbid');
    const s = await serve({ hooks: (app) => forbid.install(app) });
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    forbid.arm(1);
    expect(must(await s.api.getAccount(login), 'getAccount after one 403').login).toBe(login);
    expect(s.received('/api/auth/start')).toBe(2);
    forbid.arm(2);
    const error = failure(await s.api.getAccount(login), 'getAccount after two 403s');
    expect([error.outcome, error.reason, error.code]).toEqual(['rejected', 'no_rights', 8]);
  });

  it('refuses a server that accepts the password but cannot prove it knows it', async () => {
    const s = await serve({
      hooks: (app) =>
        app.addHook('onSend', async (request, _reply, payload) => {
          if (!request.url.startsWith('/api/auth/answer') || typeof payload !== 'string') return payload;
          return payload.replace(/"cli_rand_answer":"[0-9a-f]{32}"/, `"cli_rand_answer":"${'0'.repeat(32)}"`);
        }),
    });
    const error = failure(await s.api.connect(CREDENTIALS), 'connect to an impostor');
    expect([error.outcome, error.reason, error.code, error.codeName]).toEqual([
      'rejected',
      'platform_error',
      1008,
      'MT_RET_AUTH_SERVER_BAD',
    ]);
    expect(s.api.isConnected()).toBe(false);
  });

  it('a refused connection is unavailable/no_connection, nothing sent', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const api = new Mt5WebApiManagerApi({ serverId: SERVER_ID, url: `http://127.0.0.1:${port}` });
    const error = failure(await api.connect(CREDENTIALS), 'connect to a closed port');
    expect([error.outcome, error.reason, error.code]).toEqual(['unavailable', 'no_connection', 10]);
    expect(api.isConnected()).toBe(false);
  });
});

describe('mt5-webapi session: emulated pumping', () => {
  it('polls on its own every pollIntervalMs, and stops polling when the subscription closes', async () => {
    const s = await serve({ pollIntervalMs: 50 });
    must(await s.api.connect(CREDENTIALS), 'connect');
    const login = await newAccount(s.api);
    const events: PumpEvent[] = [];
    const sub = must(await s.api.subscribe((e) => events.push(e)), 'subscribe');
    const receipt = must(
      await s.api.postBalance({ login, amountCents: 5_00, kind: 'balance', comment: 'wa-poll' }),
      'deposit',
    );
    // No pollNow: the subscription's own timer finds it.
    await until(() => events.some((e) => e.type === 'balance' && e.ticket === receipt.ticket), 'the balance event');
    expect(events).toEqual([
      { type: 'balance', login, ticket: receipt.ticket, kind: 'balance', amountCents: 5_00, comment: 'wa-poll' },
    ]);
    sub.close();
    const polls = s.received('/api/deal/get_batch');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // At most the poll that was under way when it closed.
    expect(s.received('/api/deal/get_batch') - polls).toBeLessThanOrEqual(1);
    const after = s.received('/api/deal/get_batch');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.received('/api/deal/get_batch')).toBe(after);
  });
});

/** A clock whose time moves only when the test says so. */
class ManualClock implements Clock {
  #nowMs = 1_700_000_000_000;
  #timers: { atMs: number; wake: () => void }[] = [];
  nowMs(): number {
    return this.#nowMs;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#timers.push({ atMs: this.#nowMs + ms, wake: resolve }));
  }
  /** Sleeps not yet woken. */
  get pending(): number {
    return this.#timers.length;
  }
  tick(ms: number): void {
    this.#nowMs += ms;
    const due = this.#timers.filter((t) => t.atMs <= this.#nowMs);
    this.#timers = this.#timers.filter((t) => t.atMs > this.#nowMs);
    for (const t of due) t.wake();
  }
}

describe('mt5-webapi session: keep-alive', () => {
  it('pings with test/access every 20 s of its clock while idle, and stops on close()', async () => {
    const clock = new ManualClock();
    const s = await serve({ clock });
    must(await s.api.connect(CREDENTIALS), 'connect');
    expect(s.received('/api/test/access')).toBe(0);
    // Each tick only once the loop sleeps again (after the previous ping's answer).
    await until(() => clock.pending === 1, 'the ping loop to sleep');
    clock.tick(PING_INTERVAL_MS);
    await until(() => s.received('/api/test/access') === 1, 'the first ping');
    await until(() => clock.pending === 1, 'the ping loop to sleep again');
    clock.tick(PING_INTERVAL_MS / 4);
    // Not due yet: nothing is sent, and the loop keeps its timer.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(s.received('/api/test/access')).toBe(1);
    clock.tick(PING_INTERVAL_MS);
    await until(() => s.received('/api/test/access') === 2, 'the second ping');
    await until(() => clock.pending === 1, 'the ping loop to sleep once more');
    await s.api.close();
    clock.tick(5 * PING_INTERVAL_MS);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(s.received('/api/test/access')).toBe(2);
  });
});

// openssl makes a throwaway certificate; the HTTPS test is skipped without it.
const certificate = selfSigned();

describe('mt5-webapi session: HTTPS', () => {
  /** TLS in front of the plain simulator, one backend connection per TLS connection (sessions stay bound). */
  async function tlsFront(backendPort: number, pair: { key: string; cert: string }): Promise<number> {
    const front = tls.createServer(pair, (client) => {
      const backend = net.connect(backendPort, '127.0.0.1');
      client.pipe(backend).pipe(client);
      client.on('error', () => backend.destroy());
      backend.on('error', () => client.destroy());
      client.on('close', () => backend.destroy());
      backend.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => front.close(() => resolve())));
    return (front.address() as AddressInfo).port;
  }

  it.skipIf(certificate === null)(
    'speaks HTTPS with the CA it is given, and refuses an untrusted certificate',
    async () => {
      const pair = certificate as { key: string; cert: string };
      const plain = await serve();
      const port = await tlsFront(plain.port, pair);
      const trusted = new Mt5WebApiManagerApi({
        serverId: SERVER_ID,
        url: `https://127.0.0.1:${port}`,
        tls: { ca: pair.cert },
      });
      cleanups.push(() => trusted.close());
      must(await trusted.connect(CREDENTIALS), 'connect over HTTPS');
      const login = await newAccount(trusted);
      must(
        await trusted.postBalance({ login, amountCents: 1_00, kind: 'balance', comment: 'tls' }),
        'deposit over HTTPS',
      );
      expect(must(await trusted.getAccount(login), 'getAccount over HTTPS').balanceCents).toBe(1_00);

      const untrusted = new Mt5WebApiManagerApi({ serverId: SERVER_ID, url: `https://127.0.0.1:${port}` });
      const error = failure(await untrusted.connect(CREDENTIALS), 'connect to an untrusted certificate');
      expect([error.outcome, error.reason]).toEqual(['unavailable', 'no_connection']);
      expect(error.detail).toMatch(/certificate/i);
    },
  );
});
