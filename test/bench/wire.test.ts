import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { renderWireReport, runLoad, runWireBench } from '../../bench/wire.ts';

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

  it('measures the simulator (native and Web API) and Mountebank at a small size, and the money adds up', async () => {
    const options = { requests: 150, concurrency: 4, accounts: 5, warmupMs: 100, rounds: 1 };
    const report = await runWireBench(options);
    expect(report.problems).toEqual([]);
    expect(report.targets.map((t) => t.target)).toEqual([
      'simulator native',
      'simulator MT5 Web API',
      'Mountebank 2.9.1 stub',
    ]);
    for (const row of report.rows) {
      expect(row.requests).toBeGreaterThanOrEqual(150);
      expect(row.wrong).toBe(0);
    }
    expect(report.ratio).toBeGreaterThan(0);
    expect(renderWireReport(report, options).join('\n')).toMatch(/simulator native \/ Mountebank: \d+\.\d+×/);
  }, 60_000);
});
