import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  MB_EQUIVALENT,
  MB_STATIC,
  NATIVE,
  parseWrk,
  renderWireReport,
  runLoad,
  runWireBench,
  startMountebank,
  WEBAPI,
  wrkAvailable,
} from '../../bench/wire.ts';

const WRK_OUTPUT = `Running 5s test @ http://127.0.0.1:40001
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms    1.02ms    1.20s    89.00%
    Req/Sec     3.50k   200.00     4.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    2.50ms
     90%    3.00ms
     99%   12.40ms
  34567 requests in 5.00s, 6.00MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 1, write 0, timeout 3
Requests/sec:   6913.40
Transfer/sec:      1.20MB
`;

async function post(base: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/v1/sessions/s1-1/postBalance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, json: await res.json() };
}

describe('bench:wire', () => {
  it('counts the answers its check refuses, and measures only after the warm-up', async () => {
    let served = 0;
    const server = createServer((_req, res) => {
      served++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: served % 2 === 0 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const result = await runLoad({
        base,
        concurrency: 2,
        requests: 40,
        warmupMs: 50,
        work: () => ({
          method: 'POST',
          path: '/x',
          body: '{}',
          check: (answer) => (JSON.parse(answer.body) as { ok: boolean }).ok,
        }),
      });
      expect(result.requests).toBeGreaterThanOrEqual(40);
      expect(result.wrong).toBeGreaterThan(0);
      expect(served).toBeGreaterThan(result.requests);
      expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    } finally {
      server.close();
    }
  });

  it("reads wrk's latency report in its own units, with its non-2xx answers and socket errors", () => {
    expect(parseWrk(WRK_OUTPUT)).toEqual({
      requests: 34567,
      elapsedMs: 5000,
      reqPerSec: 6913.4,
      p50Ms: 0.85,
      p99Ms: 12.4,
      maxMs: 1200,
      non2xx: 12,
      socketErrors: 4,
    });
    expect(parseWrk(WRK_OUTPUT.replace(/ {2}Non-2xx.*\n {2}Socket.*\n/, ''))).toMatchObject({
      non2xx: 0,
      socketErrors: 0,
    });
    expect(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused')).toThrow(/unreadable/);
  });

  it("Mountebank's equivalent stub validates, books and refuses as the native postBalance does", async () => {
    const mb = await startMountebank({ ok: true }, [5000000, 5000001]);
    try {
      const deposit = (request: Record<string, unknown>) => post(mb.equivalentUrl, JSON.stringify({ request }));
      const good = { login: 5000000, amountCents: 500, kind: 'balance', comment: 'dep-1' };
      expect(await deposit(good)).toEqual({
        status: 200,
        json: { ok: true, value: { ticket: 1000000, ...good } },
      });
      expect(((await deposit({ ...good, comment: 'dep-2' })).json as { value: { ticket: number } }).value.ticket).toBe(
        1000001,
      );
      const overdraft = await deposit({ ...good, amountCents: -1001 });
      expect(overdraft).toMatchObject({ status: 200, json: { ok: false, error: { reason: 'no_money', code: 10019 } } });
      expect(await deposit({ ...good, amountCents: -1000 })).toMatchObject({ status: 200, json: { ok: true } });
      expect(await deposit({ ...good, login: 5000002 })).toMatchObject({
        json: { ok: false, error: { reason: 'not_found' } },
      });
      expect(await deposit({ ...good, kind: 'credit', amountCents: 700 })).toMatchObject({ json: { ok: true } });
      for (const [bad, field] of [
        [{ ...good, amountCents: 0 }, 'request.amountCents'],
        [{ ...good, amountCents: 1.5 }, 'request.amountCents'],
        [{ ...good, amountCents: 10_000_000_000_001 }, 'request.amountCents'],
        [{ ...good, login: 0 }, 'request.login'],
        [{ ...good, login: '5000000' }, 'request.login'],
        [{ ...good, kind: 'bal' }, 'request.kind'],
        [{ ...good, comment: 'x'.repeat(257) }, 'request.comment'],
        [{ ...good, extra: 1 }, 'request.extra'],
      ] as const) {
        const answer = await deposit(bad);
        expect(answer.status, field).toBe(400);
        expect(answer.json, field).toMatchObject({ error: { code: 'MTP_BAD_REQUEST', issues: [{ path: field }] } });
      }
      expect((await post(mb.equivalentUrl, '{"request":')).status).toBe(400);
      expect((await post(mb.equivalentUrl, '{"other":{}}')).status).toBe(400);
      expect(await mb.books()).toEqual({
        balances: { 5000000: 0, 5000001: 0 },
        credits: { 5000000: 700, 5000001: 0 },
        nextTicket: 1000004,
      });
      // The static stub answers its fixed receipt whatever comes.
      expect(await post(mb.staticUrl, 'not json')).toEqual({ status: 200, json: { ok: true } });
    } finally {
      await mb.stop();
    }
  }, 30_000);

  it('measures the simulator (native and Web API) and both Mountebank stubs at a small size, and the money adds up', async () => {
    // wrk rows only where wrk is installed (not in CI): one second each.
    const clients = wrkAvailable() ? (['node', 'wrk'] as const) : (['node'] as const);
    const options = { requests: 150, concurrency: 4, accounts: 5, warmupMs: 100, rounds: 1, clients, wrkSeconds: 1 };
    const report = await runWireBench(options);
    expect(report.problems).toEqual([]);
    expect(report.targets.filter((t) => t.client === 'node').map((t) => t.target)).toEqual([
      NATIVE,
      WEBAPI,
      MB_EQUIVALENT,
      MB_STATIC,
    ]);
    for (const row of report.rows) {
      expect(row.requests).toBeGreaterThanOrEqual(row.client === 'node' ? 150 : 1);
      expect(row.wrong).toBe(0);
    }
    if (clients.length === 2) {
      expect(report.targets.filter((t) => t.client === 'wrk').map((t) => t.target)).toEqual([
        NATIVE,
        MB_EQUIVALENT,
        MB_STATIC,
      ]);
    }
    for (const ratio of report.ratios) {
      expect(ratio.equivalent).toBeGreaterThan(0);
      expect(ratio.static).toBeGreaterThan(0);
    }
    const text = renderWireReport(report, options).join('\n');
    expect(text).toMatch(/simulator native \/ Mountebank equivalent: \d+\.\d+×/);
    expect(text).toMatch(/simulator native \/ Mountebank static: +\d+\.\d+×/);
  }, 90_000);
});
