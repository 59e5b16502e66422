import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import {
  ContractIntegration,
  ContractViolation,
  IntegrationRefused,
  IntegrationUnreachable,
  parseBaseUrl,
  RECEIVED_EXCERPT_CHARS,
} from '../../../scenarios/wire/contract.ts';

/**
 * The harness's client of the black-box contract against a fake integration (fastify on loopback): answers
 * parsed as the contract says, every way of breaking it a ContractViolation, every way of not answering an
 * IntegrationUnreachable, a rule's refusal an IntegrationRefused.
 */

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

type Answer = { status: number; body: unknown } | 'hang';

let fake: FastifyInstance | null = null;
afterEach(async () => {
  await fake?.close();
  fake = null;
});

/** A fake integration answering `answers[METHOD path]` (path with its parameters), recording each request. */
async function fakeIntegration(answers: Record<string, Answer>): Promise<{ baseUrl: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.all('/base/*', async (request, reply) => {
    const path = request.url.replace(/^\/base/, '');
    seen.push({
      method: request.method,
      url: path,
      authorization: request.headers.authorization,
      body: request.body,
    });
    const answer = answers[`${request.method} ${path}`];
    if (answer === undefined) return reply.code(404).send({ error: { code: 'NOPE', message: 'no such route' } });
    if (answer === 'hang') return new Promise(() => {});
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    return reply.code(answer.status).type('application/json').send(text);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  fake = app;
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { baseUrl: `http://127.0.0.1:${port}/base/`, seen };
}

const transfer = (over: Record<string, unknown> = {}) => ({
  reference: 'H-1',
  accountRef: 'ACC-1',
  kind: 'deposit',
  amountCents: 50_000,
  state: 'done',
  ticket: 777,
  ...over,
});

const moveInput = { reference: 'H-1', accountRef: 'ACC-1', amountCents: 50_000 };

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('ContractIntegration: the happy path', () => {
  it('drives every route with the bearer token and parses the answers into wire values', async () => {
    const { baseUrl, seen } = await fakeIntegration({
      'GET /health': { status: 200, body: { status: 'ok' } },
      'POST /accounts': {
        status: 202,
        body: { accountRef: 'ACC-1', serverId: null, login: null, state: 'pending', extra: 'ignored' },
      },
      'GET /accounts/ACC%201': {
        status: 200,
        body: { accountRef: 'ACC 1', serverId: 'mt5-live-global', login: 5001, state: 'open' },
      },
      'POST /deposits': { status: 200, body: transfer() },
      'POST /withdrawals': {
        status: 202,
        body: transfer({ reference: 'H-2', kind: 'withdrawal', amountCents: 1_000, state: 'pending', ticket: null }),
      },
      'GET /transfers/H-1': { status: 200, body: transfer() },
      'POST /reconcile': {
        status: 200,
        body: { findings: [{ serverId: 'mt5-live-global', login: 5001, kind: 'unknown_operation', ticket: 9, x: 1 }] },
      },
    });
    const integration = new ContractIntegration({ baseUrl, token: 'tok-1' });
    expect(integration.name).toMatch(/^127\.0\.0\.1:\d+$/);
    await integration.health();
    expect(
      await integration.openAccount({ clientRef: 'c-1', name: 'Ann Lee', email: 'ann@example.com', country: 'US' }),
    ).toEqual({ accountRef: 'ACC-1', serverId: null, login: null, state: 'pending' });
    expect(await integration.account('ACC 1')).toEqual({
      accountRef: 'ACC 1',
      serverId: 'mt5-live-global',
      login: 5001,
      state: 'open',
    });
    expect(await integration.deposit(moveInput)).toEqual(transfer());
    expect(await integration.withdraw({ reference: 'H-2', accountRef: 'ACC-1', amountCents: 1_000 })).toMatchObject({
      kind: 'withdrawal',
      state: 'pending',
      ticket: null,
    });
    expect(await integration.transfer('H-1')).toEqual(transfer());
    expect(await integration.transfer('H-unknown')).toBeNull();
    expect(await integration.reconcile()).toEqual({
      findings: [{ serverId: 'mt5-live-global', login: 5001, kind: 'unknown_operation', ticket: 9 }],
    });

    expect(seen.every((s) => s.authorization === 'Bearer tok-1')).toBe(true);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /health',
      'POST /accounts',
      'GET /accounts/ACC%201',
      'POST /deposits',
      'POST /withdrawals',
      'GET /transfers/H-1',
      'GET /transfers/H-unknown',
      'POST /reconcile',
    ]);
    expect(seen[1]?.body).toEqual({ clientRef: 'c-1', name: 'Ann Lee', email: 'ann@example.com', country: 'US' });
    expect(seen[3]?.body).toEqual(moveInput);
    expect(seen[7]?.body).toEqual({});
  });

  it('sends no Authorization header without a token', async () => {
    const { baseUrl, seen } = await fakeIntegration({ 'GET /health': { status: 200, body: {} } });
    await new ContractIntegration({ baseUrl }).health();
    expect(seen[0]?.authorization).toBeUndefined();
  });
});

describe('ContractIntegration: answers that break the contract', () => {
  const cases: { name: string; answer: Answer; path: string | null; what: RegExp }[] = [
    {
      name: 'a done transfer without a ticket',
      answer: { status: 200, body: transfer({ ticket: null }) },
      path: 'ticket',
      what: /schema/,
    },
    {
      name: 'a missing field',
      answer: { status: 200, body: { ...transfer(), state: undefined } },
      path: 'state',
      what: /schema/,
    },
    {
      name: 'an unknown state',
      answer: { status: 202, body: transfer({ state: 'posted' }) },
      path: 'state',
      what: /schema/,
    },
    {
      name: 'a fractional amount',
      answer: { status: 200, body: transfer({ amountCents: 500.5 }) },
      path: 'amountCents',
      what: /schema/,
    },
    {
      name: 'another amount than sent',
      answer: { status: 200, body: transfer({ amountCents: 5_000 }) },
      path: 'amountCents',
      what: /not the one sent/,
    },
    {
      name: 'another reference than sent',
      answer: { status: 200, body: transfer({ reference: 'H-9' }) },
      path: 'reference',
      what: /not the one sent/,
    },
    {
      name: 'a withdrawal answered to a deposit',
      answer: { status: 200, body: transfer({ kind: 'withdrawal' }) },
      path: 'kind',
      what: /not the one sent/,
    },
    { name: 'a body that is not JSON', answer: { status: 200, body: '<html>ok</html>' }, path: null, what: /not JSON/ },
    {
      name: '409 to the same request',
      answer: { status: 409, body: { error: { code: 'DUP', message: 'dup' } } },
      path: null,
      what: /409/,
    },
    {
      name: 'a 400',
      answer: { status: 400, body: { error: { code: 'BAD', message: 'bad' } } },
      path: null,
      what: /does not allow/,
    },
    { name: 'an unknown account (404)', answer: { status: 404, body: {} }, path: null, what: /unknown account ACC-1/ },
    {
      name: 'a 422 without an error body',
      answer: { status: 422, body: { nope: true } },
      path: 'error',
      what: /422 must carry/,
    },
    { name: 'a refused token (401)', answer: { status: 401, body: {} }, path: null, what: /credentials/ },
    { name: 'a redirect', answer: { status: 302, body: {} }, path: null, what: /does not allow/ },
  ];
  for (const c of cases) {
    it(`is a ContractViolation: ${c.name}`, async () => {
      const { baseUrl } = await fakeIntegration({ 'POST /deposits': c.answer });
      const error = await rejection(new ContractIntegration({ baseUrl }).deposit(moveInput));
      expect(error).toBeInstanceOf(ContractViolation);
      const violation = error as ContractViolation;
      expect(violation.code).toBe('MTP_CONTRACT_VIOLATION');
      expect(violation.route).toBe('POST /deposits');
      expect(violation.message).toMatch(c.what);
      if (c.path !== null) expect(violation.issues.map((i) => i.path)).toContain(c.path);
      expect(violation).not.toBeInstanceOf(IntegrationUnreachable);
    });
  }

  it('quotes at most 300 characters of what it received', async () => {
    const long = JSON.stringify({ ...transfer({ ticket: null }), padding: 'x'.repeat(5_000) });
    const { baseUrl } = await fakeIntegration({ 'POST /deposits': { status: 200, body: long } });
    const violation = (await rejection(new ContractIntegration({ baseUrl }).deposit(moveInput))) as ContractViolation;
    expect(RECEIVED_EXCERPT_CHARS).toBe(300);
    expect(violation.received).toBe(`${long.slice(0, 300)}…`);
    expect(violation.message.length).toBeLessThan(600);
  });

  it('calls an open account without a login a violation, and an unknown accountRef too', async () => {
    const { baseUrl } = await fakeIntegration({
      'GET /accounts/A1': { status: 200, body: { accountRef: 'A1', serverId: 's', login: null, state: 'open' } },
      'GET /accounts/A2': { status: 200, body: { accountRef: 'A3', serverId: 's', login: 1, state: 'open' } },
    });
    const integration = new ContractIntegration({ baseUrl });
    const noLogin = (await rejection(integration.account('A1'))) as ContractViolation;
    expect(noLogin.issues).toEqual([{ path: 'login', message: 'null on an open account' }]);
    const other = (await rejection(integration.account('A2'))) as ContractViolation;
    expect(other.message).toMatch(/another account/);
    expect((await rejection(integration.account('A404'))) as ContractViolation).toBeInstanceOf(ContractViolation);
  });

  it('says the base URL is wrong when /health is not there', async () => {
    const { baseUrl } = await fakeIntegration({});
    const error = (await rejection(new ContractIntegration({ baseUrl }).health())) as ContractViolation;
    expect(error).toBeInstanceOf(ContractViolation);
    expect(error.message).toMatch(/no harness contract at this base URL/);
  });

  it('checks findings: a finding without its kind is a violation', async () => {
    const { baseUrl } = await fakeIntegration({
      'POST /reconcile': { status: 200, body: { findings: [{ serverId: null, login: null, ticket: null }] } },
    });
    const error = (await rejection(new ContractIntegration({ baseUrl }).reconcile())) as ContractViolation;
    expect(error.issues.map((i) => i.path)).toEqual(['findings[0].kind']);
  });
});

describe('ContractIntegration: an integration that cannot answer now', () => {
  for (const status of [408, 429, 500, 502, 503]) {
    it(`is IntegrationUnreachable on ${status}, with the status`, async () => {
      const { baseUrl } = await fakeIntegration({ 'POST /withdrawals': { status, body: 'busy' } });
      const error = (await rejection(
        new ContractIntegration({ baseUrl }).withdraw(moveInput),
      )) as IntegrationUnreachable;
      expect(error).toBeInstanceOf(IntegrationUnreachable);
      expect(error.code).toBe('MTP_INTEGRATION_UNREACHABLE');
      expect(error.status).toBe(status);
      expect(error.route).toBe('POST /withdrawals');
    });
  }

  it('is IntegrationUnreachable when nothing listens (ECONNREFUSED)', async () => {
    const { baseUrl } = await fakeIntegration({});
    await fake?.close();
    fake = null;
    const error = (await rejection(new ContractIntegration({ baseUrl }).transfer('H-1'))) as IntegrationUnreachable;
    expect(error).toBeInstanceOf(IntegrationUnreachable);
    expect(error.status).toBeNull();
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('is IntegrationUnreachable when no answer comes within the timeout', async () => {
    const { baseUrl } = await fakeIntegration({ 'POST /reconcile': 'hang' });
    const started = performance.now();
    const error = (await rejection(
      new ContractIntegration({ baseUrl, timeoutMs: 150 }).reconcile(),
    )) as IntegrationUnreachable;
    expect(error).toBeInstanceOf(IntegrationUnreachable);
    expect(error.message).toMatch(/no answer within 150 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('is IntegrationUnreachable when /health answers 503', async () => {
    const { baseUrl } = await fakeIntegration({ 'GET /health': { status: 503, body: { ready: false } } });
    expect(await rejection(new ContractIntegration({ baseUrl }).health())).toBeInstanceOf(IntegrationUnreachable);
  });
});

describe('ContractIntegration: refusals and bad input', () => {
  it("is IntegrationRefused on 422, with the integration's code and message", async () => {
    const { baseUrl } = await fakeIntegration({
      'POST /accounts': { status: 422, body: { error: { code: 'NO_ROUTE', message: 'country not served' } } },
    });
    const error = (await rejection(
      new ContractIntegration({ baseUrl }).openAccount({
        clientRef: 'c-1',
        name: 'A',
        email: 'a@b.co',
        country: 'KP',
      }),
    )) as IntegrationRefused;
    expect(error).toBeInstanceOf(IntegrationRefused);
    expect(error.code).toBe('MTP_INTEGRATION_REFUSED');
    expect([error.refusal, error.refusalMessage]).toEqual(['NO_ROUTE', 'country not served']);
  });

  it('refuses a bad base URL, naming the flag', () => {
    for (const url of ['not a url', 'ftp://x/harness', 'http://x/h?q=1', 'http://u:p@x/h']) {
      expect(() => new ContractIntegration({ baseUrl: url })).toThrow(MtproofError);
      try {
        parseBaseUrl(url);
      } catch (error) {
        expect((error as MtproofError).code).toBe('MTP_INTEGRATION_URL_INVALID');
        expect((error as MtproofError).issues[0]?.path).toBe('--integration-url');
      }
    }
    expect(parseBaseUrl('http://127.0.0.1:8080/harness/v1///')).toBe('http://127.0.0.1:8080/harness/v1');
  });

  it('does not send a request the contract does not allow (a harness bug), and says which field', async () => {
    const { baseUrl, seen } = await fakeIntegration({ 'POST /deposits': { status: 200, body: transfer() } });
    const integration = new ContractIntegration({ baseUrl });
    const error = (await rejection(
      integration.deposit({ reference: 'has space', accountRef: 'ACC-1', amountCents: 0 }),
    )) as MtproofError;
    expect(error.code).toBe('MTP_BAD_REQUEST');
    expect(error.issues.map((i) => i.path).sort()).toEqual(['amountCents', 'reference']);
    expect(seen).toEqual([]);
  });
});
