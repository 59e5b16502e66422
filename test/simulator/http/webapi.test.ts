import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimHost } from '../../../simulator/http/host.ts';
import { listenWebApi, type WebApiListener } from '../../../simulator/http/webapi/index.ts';

/**
 * The served MT5 Web API over real sockets, driven by a client written only from the public documentation
 * (facts section 3): node:http with one kept-alive socket (the official sample's `maxSockets = 1`), the
 * auth/start + auth/answer handshake with the documented hash, and the server's proof checked.
 */

const SERVER = 'mt5-live-global';
const RETCODE = /^\d+ .+/;

interface Answer {
  status: number;
  body: Record<string, unknown> & { retcode: string };
}

/** A Web API client from the documentation alone (it imports nothing of the simulator). */
class DocumentedClient {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** The socket the last request went out on. */
  socket: Socket | null = null;

  constructor(readonly port: number) {}

  request(command: string, query: Record<string, string | number> = {}, body?: unknown): Promise<Answer> {
    const search = new URLSearchParams(
      Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: `/api/${command}${search === '' ? '' : `?${search}`}`,
          method: data === undefined ? 'GET' : 'POST',
          agent: this.agent,
          headers: {
            Connection: 'keep-alive',
            'Content-Type': 'application/x-www-form-urlencoded',
            'User-Agent': 'MetaTrader 5 Web API/5.2005 (documented client)',
            ...(data === undefined ? {} : { 'Content-Length': Buffer.byteLength(data) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          });
        },
      );
      req.on('socket', (s) => {
        this.socket = s;
      });
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  /** The documented hash: MD5( MD5(password as UTF-16LE) ‖ "WebAPI" ), then MD5( hash ‖ random bytes ). */
  static answer(password: string, randHex: string): string {
    const inner = createHash('md5').update(Buffer.from(password, 'utf16le')).digest();
    const hash = createHash('md5').update(inner).update(Buffer.from('WebAPI', 'ascii')).digest();
    return createHash('md5').update(hash).update(Buffer.from(randHex, 'hex')).digest('hex');
  }

  async authenticate(login: number, password: string): Promise<Answer> {
    const start = await this.request('auth/start', { version: 2005, agent: 'mtproof-test', login, type: 'manager' });
    if (start.status !== 200 || Number.parseInt(start.body.retcode, 10) !== 0) return start;
    const cliRand = randomBytes(16).toString('hex');
    const answer = await this.request('auth/answer', {
      srv_rand_answer: DocumentedClient.answer(password, start.body.srv_rand as string),
      cli_rand: cliRand,
    });
    // The official sample refuses a server whose proof is wrong.
    if (answer.status === 200 && answer.body.cli_rand_answer !== DocumentedClient.answer(password, cliRand)) {
      throw new Error('the server failed to prove it knows the password');
    }
    return answer;
  }

  close(): void {
    this.agent.destroy();
  }
}

function code(answer: Answer): number {
  return Number.parseInt(answer.body.retcode, 10);
}

/** Every value of a record is a JSON string (facts 3.3). */
function expectAllStrings(record: unknown): void {
  expect(typeof record).toBe('object');
  for (const [key, value] of Object.entries(record as object)) expect(typeof value, key).toBe('string');
}

/** Resolves when the client's socket has closed (the server dropped it). */
function closed(socket: Socket | null): Promise<void> {
  if (socket === null) throw new Error('no socket yet');
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Moves virtual time ahead in steps until `pending` settles (a request waiting on the simulator's clock). */
async function advanceUntil<T>(host: SimHost, pending: Promise<T>, stepMs = 1_000, maxSteps = 60): Promise<T> {
  let settled = false;
  const watched = pending.finally(() => {
    settled = true;
  });
  watched.catch(() => {});
  for (let i = 0; i < maxSteps && !settled; i++) {
    await host.advance(stepMs);
    await new Promise((r) => setTimeout(r, 2));
  }
  return watched;
}

let host: SimHost;
let server: WebApiListener;
const clients: DocumentedClient[] = [];

function client(): DocumentedClient {
  const c = new DocumentedClient(server.port);
  clients.push(c);
  return c;
}

async function manager(): Promise<DocumentedClient> {
  const c = client();
  const auth = await c.authenticate(1000, 'Manager#1');
  expect(auth.status).toBe(200);
  expect(auth.body.retcode).toBe('0 Done');
  return c;
}

async function newUser(c: DocumentedClient, leverage = 100): Promise<number> {
  const added = await c.request(
    'user/add',
    { group: 'real\\standard-usd', name: 'Ada Lovelace', leverage },
    { PassMain: 'Client#2024a', PassInvestor: 'Invest#2024a', Email: 'ada@example.com' },
  );
  expect(added.body.retcode).toBe('0 Done');
  return Number((added.body.answer as { Login: string }).Login);
}

beforeEach(async () => {
  host = new SimHost({ seed: 'webapi-test', frozen: true });
  server = await listenWebApi(host, SERVER, { host: '127.0.0.1', port: 0 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.close();
  await host.stop();
});

describe('MT5 Web API served by the simulator, used by a client written from the documentation', () => {
  it('authenticates, creates a user, posts a balance and reads the deal back', async () => {
    const c = await manager();
    const login = await newUser(c);

    const posted = await c.request('trade/balance', { login, type: 2, balance: '1500.25', comment: 'PSP-1 deposit' });
    expect(posted.status).toBe(200);
    expect(posted.body.retcode).toBe('0 Done');
    const ticket = (posted.body.answer as { Ticket: string }).Ticket;
    expect(ticket).toMatch(/^\d+$/);

    const deal = await c.request('deal/get', { ticket });
    expect(deal.body.retcode).toBe('0 Done');
    const record = deal.body.answer as Record<string, string>;
    expectAllStrings(record);
    expect(record).toMatchObject({
      Deal: ticket,
      Login: String(login),
      Action: '2',
      Profit: '1500.25',
      Comment: 'PSP-1 deposit',
    });

    const page = await c.request('deal/get_page', { login, from: 0, to: 2 ** 31 - 1, offset: 0, total: 100 });
    expect(page.body.retcode).toBe('0 Done');
    expect((page.body.answer as Record<string, string>[]).map((d) => d.Deal)).toEqual([ticket]);
    const count = await c.request('deal/get_total', { login, from: 0, to: 2 ** 31 - 1 });
    expect(count.body.answer).toEqual({ total: '1' });

    const account = await c.request('user/account/get', { login });
    expect(account.body.retcode).toBe('0 Done');
    expectAllStrings(account.body.answer);
    expect(account.body.answer).toMatchObject({ Login: String(login), Balance: '1500.25', Equity: '1500.25' });

    // All of it went over the one kept-alive socket.
    expect(c.socket?.destroyed).toBe(false);
    expect(host.journal.query({ surface: 'webapi' }).map((e) => e.code)).toEqual([
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
    ]);
  });

  it('answers every record with string values and every retcode as "<number> <text>"', async () => {
    const c = await manager();
    const login = await newUser(c);
    const user = await c.request('user/get', { login });
    expectAllStrings(user.body.answer);
    expect(user.body.answer).toMatchObject({
      Login: String(login),
      Leverage: '100',
      Balance: '0.00',
      Email: 'ada@example.com',
    });
    const time = await c.request('time/server');
    expect((time.body.answer as { Time: string }).Time).toMatch(/^\d+ \d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d$/);
    const groups = await c.request('group/get', { group: 'real\\*' });
    expect((groups.body.answer as unknown[]).length).toBe(3);
    for (const g of groups.body.answer as unknown[]) expectAllStrings(g);
    const total = await c.request('group/total');
    expect(total.body.answer).toEqual({ total: '3' });
    const next = await c.request('group/next', { index: 1 });
    expect(next.body.answer).toMatchObject({ Group: 'real\\pro-usd' });
    const missing = await c.request('user/get', { login: 5_999_998 });
    expect(missing.body.retcode).toMatch(/^13 /);
    for (const a of [user, time, groups, total, next, missing]) expect(a.body.retcode).toMatch(RETCODE);
  });

  it('answers the batch, position, update and password commands', async () => {
    const c = await manager();
    const first = await newUser(c);
    const second = await newUser(c);
    const t1 = (await c.request('trade/balance', { login: first, type: 2, balance: 3000 })).body.answer as {
      Ticket: string;
    };
    const t2 = (await c.request('trade/balance', { login: second, type: 2, balance: 4000 })).body.answer as {
      Ticket: string;
    };
    expect(host.cluster.client(SERVER).open(second, 'EURUSD', 'sell', 10).ok).toBe(true);

    const users = await c.request('user/get_batch', { login: `${first},${second},5999999` });
    expect((users.body.answer as Record<string, string>[]).map((u) => u.Login)).toEqual([
      String(first),
      String(second),
    ]);
    const logins = await c.request('user/logins', { group: 'real\\*' });
    expect(logins.body.answer).toEqual([String(first), String(second)]);
    const accounts = await c.request('user/account/get_batch', { group: 'real\\standard-usd' });
    expect((accounts.body.answer as Record<string, string>[]).map((a) => a.Balance)).toEqual(['3000.00', '4000.00']);

    const byTicket = await c.request('deal/get_batch', { ticket: `${t2.Ticket},${t1.Ticket},999999` });
    expect((byTicket.body.answer as Record<string, string>[]).map((d) => d.Deal)).toEqual([t1.Ticket, t2.Ticket]);
    const byGroup = await c.request('deal/get_batch', { group: 'real\\*', from: 0, to: 2 ** 31 - 1, symbol: 'EURUSD' });
    expect((byGroup.body.answer as Record<string, string>[]).map((d) => [d.Login, d.Symbol, d.Action])).toEqual([
      [String(second), 'EURUSD', '1'],
    ]);
    const noRange = await c.request('deal/get_batch', { login: first });
    expect(noRange.body.retcode).toMatch(/^3 .*from/);

    const position = await c.request('position/get', { login: second, symbol: 'EURUSD' });
    expectAllStrings(position.body.answer);
    expect(position.body.answer).toMatchObject({
      Login: String(second),
      Symbol: 'EURUSD',
      Action: '1',
      Volume: '1000',
    });
    expect((await c.request('position/get', { login: first, symbol: 'EURUSD' })).body.retcode).toMatch(/^13 /);
    expect((await c.request('position/get_total', { login: second })).body.answer).toEqual({ total: '1' });
    const positions = await c.request('position/get_batch', { login: `${first},${second}` });
    expect((positions.body.answer as unknown[]).length).toBe(1);
    expect((await c.request('position/get_page', { login: second, total: 101 })).body.retcode).toMatch(/^3 /);

    // user/update: invalid values are ignored field by field; a JSON body wins over the query.
    const updated = await c.request(
      'user/update',
      { login: first, leverage: 0, name: 'Query Name' },
      { Name: 'Body Name' },
    );
    expect(updated.body.answer).toMatchObject({ Leverage: '100', Name: 'Body Name' });
    expect((await c.request('user/get', { login: first })).body.answer).toMatchObject({ Name: 'Body Name' });
    expect((await c.request('user/update', { login: 5_999_999, name: 'x' })).body.retcode).toMatch(/^13 /);

    expect((await c.request('user/change_password', { login: first, password: 'Newpass#99' })).body.retcode).toBe(
      '0 Done',
    );
    expect(code(await c.request('user/change_password', { login: first, password: 'weak' }))).toBe(3006);
  });

  it('refuses a wrong password with HTTP 403 and an auth retcode', async () => {
    const c = client();
    const answer = await c.authenticate(1000, 'Wrong#pass1');
    expect(answer.status).toBe(403);
    expect(answer.body.retcode).toMatch(/^1001 /);
    const after = await c.request('test/access');
    expect(after.status).toBe(403);
  });

  it('refuses a command on a connection that never authenticated', async () => {
    const c = client();
    const answer = await c.request('user/get', { login: 5_000_000 });
    expect(answer.status).toBe(403);
    expect(answer.body.retcode).toMatch(/^8 /);
  });

  it("does not authenticate a second connection by the first one's handshake", async () => {
    const first = await manager();
    const second = client();
    expect((await first.request('test/access')).body.retcode).toBe('0 Done');
    const refused = await second.request('test/access');
    expect(refused.status).toBe(403);
    expect(first.socket).not.toBe(second.socket);
  });

  it('drops a connection that stayed idle for 180 s of virtual time; the next one must authenticate again', async () => {
    const c = await manager();
    const socket = c.socket;
    await host.advance(179_000);
    expect(socket?.destroyed).toBe(false);
    expect((await c.request('test/access')).body.retcode).toBe('0 Done');
    await host.advance(181_000);
    await closed(socket);
    const after = await c.request('test/access');
    expect(after.status).toBe(403);
    expect(c.socket).not.toBe(socket);
  });

  it('ends the session on quit and closes the connection', async () => {
    const c = await manager();
    const socket = c.socket;
    expect((await c.request('quit')).body.retcode).toBe('0 Done');
    await closed(socket);
    expect((await c.request('test/access')).status).toBe(403);
  });

  it('ends every session at a host reset', async () => {
    const c = await manager();
    const socket = c.socket;
    await host.reset();
    await closed(socket);
    expect((await c.request('test/access')).status).toBe(403);
  });
});

describe('trade/balance rules (facts 3.5)', () => {
  it('refuses a withdrawal above the free margin with 10019 unless check_margin=0, and never above the balance', async () => {
    const c = await manager();
    const login = await newUser(c);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: 5000 }))).toBe(0);
    const opened = host.cluster.client(SERVER).open(login, 'EURUSD', 'buy', 100);
    expect(opened.ok).toBe(true);
    const account = (await c.request('user/account/get', { login })).body.answer as Record<string, string>;
    const free = Number(account.MarginFree);
    expect(free).toBeLessThan(5000);
    const above = (free + 1).toFixed(2);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: `-${above}` }))).toBe(10019);
    // check_margin=0 (facts 3.5): above the free margin is allowed, above the balance never.
    expect(code(await c.request('trade/balance', { login, type: 2, balance: '-99999', check_margin: 0 }))).toBe(10019);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: `-${above}`, check_margin: 0 }))).toBe(0);
    expect(host.cluster.server(SERVER).accounts.get(Number(login))?.balanceCents).toBe(
      500_000 - Math.round(Number(above) * 100),
    );
    expect(code(await c.request('trade/balance', { login, type: 2, balance: '-99999' }))).toBe(10019);
  });

  it('answers 4005 above the cap, 3 for a bad type, and cuts the comment at 31 characters', async () => {
    const c = await manager();
    const login = await newUser(c);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: '1000000001' }))).toBe(4005);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: '100000000000000000000' }))).toBe(4005);
    const badType = await c.request('trade/balance', { login, type: 7, balance: 10 });
    expect(badType.body.retcode).toMatch(/^3 /);
    expect(code(await c.request('trade/balance', { login, type: 'deposit', balance: 10 }))).toBe(3);
    expect(code(await c.request('trade/balance', { login, type: 2, balance: '12,5' }))).toBe(3);
    const long = 'X'.repeat(20) + 'Y'.repeat(20);
    const posted = await c.request('trade/balance', { login, type: 3, balance: 10, comment: long });
    expect(code(posted)).toBe(0);
    const deal = await c.request('deal/get', { ticket: (posted.body.answer as { Ticket: string }).Ticket });
    expect(deal.body.answer).toMatchObject({ Action: '3', Comment: long.slice(0, 31) });
    const account = await c.request('user/account/get', { login });
    expect(account.body.answer).toMatchObject({ Balance: '0.00', Credit: '10.00' });
  });
});

describe('faults of the cluster over the Web API', () => {
  it('answers a timeout retcode while the deal exists afterwards (timeoutAfterApply)', async () => {
    const c = await manager();
    const login = await newUser(c);
    host.cluster.inject(SERVER, 'timeoutAfterApply');
    const answer = await advanceUntil(host, c.request('trade/balance', { login, type: 2, balance: 250 }));
    expect(answer.status).toBe(200);
    expect(answer.body.retcode).toMatch(/^9 /);
    // The session survives a timeout; the deal is in history.
    const page = await c.request('deal/get_page', { login, from: 0, to: 2 ** 31 - 1 });
    expect((page.body.answer as Record<string, string>[]).map((d) => d.Profit)).toEqual(['250.00']);
  });

  it('breaks the client connection on a dropped connection; the operation may have been applied', async () => {
    const c = await manager();
    const login = await newUser(c);
    const socket = c.socket;
    host.cluster.inject(SERVER, 'connectionDrop', { applied: true });
    await expect(c.request('trade/balance', { login, type: 2, balance: 75 })).rejects.toThrow();
    await closed(socket);
    expect((await c.request('test/access')).status).toBe(403);
    const again = await manager();
    const account = await again.request('user/account/get', { login });
    expect(account.body.answer).toMatchObject({ Balance: '75.00' });
    const entry = host.journal.query({ surface: 'webapi', pathPrefix: '/api/trade/balance' })[0];
    expect(entry).toMatchObject({ status: 0, code: '7' });
  });

  it('answers "10 No connection" and ends the session while the server is down, then accepts a new login', async () => {
    const c = await manager();
    host.cluster.restart(SERVER, 30_000);
    const down = await c.request('time/server');
    expect(down.body.retcode).toMatch(/^10 /);
    const retry = client();
    const refused = await retry.authenticate(1000, 'Manager#1');
    expect(refused.status).toBe(403);
    expect(refused.body.retcode).toMatch(/^10 /);
    await host.advance(30_001);
    await manager();
  });
});
