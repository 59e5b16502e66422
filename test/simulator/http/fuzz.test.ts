import { describe, expect, it } from 'vitest';
import {
  answerProblem,
  type FuzzReport,
  FuzzWorld,
  loopbackOnly,
  renderFuzzReport,
  runFuzz,
  SURFACES,
  shortPolls,
} from '../../../bench/fuzz-wire.ts';
import { propertyParams } from '../../property.ts';

/**
 * The wire fuzzer (bench/fuzz-wire.ts) at a small size on every surface of the served simulator — native,
 * control, MT5 Web API (fresh and authenticated connections), fault-proxy control — and its oracle and money
 * check on answers and worlds made wrong on purpose. `npm run fuzz:wire` runs the same at 120,000 requests.
 */

function failures(report: FuzzReport): string {
  return report.failures.length === 0 ? '' : renderFuzzReport(report).join('\n');
}

describe('fuzzing the served simulator', () => {
  for (const surface of SURFACES) {
    it(`answers malformed requests on the ${surface} surface with no 5xx, a coded refusal or a 2xx, and loses no money`, async () => {
      const { seed, numRuns } = propertyParams(`fuzz ${surface}`, 400);
      const report = await runFuzz({ seed, requests: numRuns, surfaces: [surface] });
      expect(failures(report)).toBe('');
      const stats = report.stats[0];
      expect(stats?.requests).toBe(numRuns);
      // The fuzz reaches past the edge: some requests are refused, some run (on the Web API's fresh
      // connections, where all but the handshake is refused, the handshake may not come up in a small run).
      const statuses = [...(stats?.statuses.keys() ?? [])];
      expect(statuses.some((s) => s >= 400)).toBe(true);
      if (surface !== 'webapi') expect(statuses.some((s) => s < 300)).toBe(true);
      if (surface === 'webapi-auth') expect(stats?.commandsRun).toBeGreaterThan(numRuns / 2);
    }, 60_000);
  }

  it('interleaves every surface on one world, resets and faults included, and money still adds up', async () => {
    const { seed, numRuns } = propertyParams('fuzz all surfaces', 1_000);
    const report = await runFuzz({ seed, requests: numRuns });
    expect(failures(report)).toBe('');
  }, 60_000);
});

describe('the fuzz oracle', () => {
  const request = { method: 'POST', url: '/v1/sessions/s1-1/postBalance', headers: {} };
  const answer = (status: number, body: unknown) => ({
    status,
    contentType: 'application/json',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  it('accepts a coded refusal and a Result, and refuses a 5xx, a bare 4xx, an unregistered code and a non-Result', () => {
    const refusal = { error: { code: 'MTP_BAD_REQUEST', message: 'bad', issues: [{ path: 'login', message: 'x' }] } };
    expect(answerProblem('native', request, answer(400, refusal))).toBeNull();
    expect(answerProblem('native', request, answer(200, { ok: true, value: { ticket: 1 } }))).toBeNull();
    expect(
      answerProblem('native', request, answer(200, { ok: false, error: { code: 3, outcome: 'rejected' } })),
    ).toBeNull();
    expect(answerProblem('native', request, answer(500, refusal))).toBe('status 500');
    expect(answerProblem('native', request, answer(400, 'Bad Request'))).toMatch(/not JSON/);
    expect(answerProblem('control', request, answer(404, { message: 'no' }))).toMatch(/without \{ error \}/);
    expect(
      answerProblem('proxy', request, answer(400, { error: { code: 'MTP_NOPE', message: 'x', issues: [] } })),
    ).toMatch(/unregistered code MTP_NOPE/);
    expect(answerProblem('native', request, answer(400, { error: { code: 'bad', message: 'x', issues: [] } }))).toMatch(
      /code is "bad"/,
    );
    expect(answerProblem('native', request, answer(200, { value: 1 }))).toBe('a 200 that is no Result');
    expect(answerProblem('native', request, answer(200, { ok: false, error: { code: 3 } }))).toMatch(/outcome/);
    // Swagger UI's page is HTML, wherever the path leads to it; elsewhere a 200 must be JSON.
    const page = { status: 200, contentType: 'text/html', body: '<!DOCTYPE html>' };
    expect(answerProblem('control', { method: 'GET', url: '/./docs', headers: {} }, page)).toBeNull();
    expect(answerProblem('control', { method: 'GET', url: '/control/state', headers: {} }, page)).toMatch(/not JSON/);
  });

  it('wants a "<number> <text>" retcode first in every Web API answer, whatever the status', () => {
    const web = { method: 'GET', url: '/api/trade/balance?login=1', headers: {} };
    expect(answerProblem('webapi', web, answer(403, { retcode: '8 Not enough permissions' }))).toBeNull();
    expect(answerProblem('webapi-auth', web, answer(200, { retcode: '0 Done', answer: { Ticket: '1' } }))).toBeNull();
    expect(answerProblem('webapi', web, answer(200, { answer: 1, retcode: '0 Done' }))).toMatch(/retcode first/);
    expect(answerProblem('webapi', web, answer(400, { retcode: 'Invalid' }))).toMatch(/retcode/);
    expect(answerProblem('webapi', web, answer(503, { retcode: '1 No service' }))).toBe('status 503');
  });

  it('sees money that does not add up, and an acknowledged deposit the server does not hold', async () => {
    const world = await FuzzWorld.create(7);
    try {
      expect(world.moneyProblems()).toEqual([]);
      const server = world.host.cluster.servers.get('mt4-live-eu');
      const account = [...(server?.accounts.values() ?? [])][0];
      if (account === undefined) throw new Error('the fuzz world has no account on mt4-live-eu');
      account.balanceCents += 1;
      expect(world.moneyProblems().join('\n')).toMatch(/balance .* ≠ operations and profit/);
    } finally {
      await world.close();
    }
  });

  it('keeps the proxies on loopback and the long polls short', () => {
    const proxy = loopbackOnly({
      method: 'POST',
      url: '/proxies',
      headers: {},
      payload: '{"name":"p","listen":"example.com:80","upstream":"10.0.0.1:5432","x":"127.0.0.1:0"}',
    });
    expect(JSON.parse(proxy.payload as string)).toEqual({
      name: 'p',
      listen: '127.0.0.1:0',
      upstream: '127.0.0.1:1',
      x: '127.0.0.1:0',
    });
    const poll = shortPolls({ method: 'POST', url: '/v1/sessions/s/events', headers: {}, payload: '{"waitMs":20000}' });
    expect(poll.payload).toBe('{"waitMs":5}');
  });
});
