import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { hasPgbench, parsePgbenchTps, runDepositBench, statementGist, WireCounter } from '../../bench/deposits.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DATABASE_URL = process.env.DATABASE_URL;

describe('bench:deposits helpers', () => {
  it("reads pgbench's tps without the initial connection time", () => {
    const out = [
      'number of transactions actually processed: 12345',
      'latency average = 3.241 ms',
      'initial connection time = 4.512 ms',
      'tps = 2468.024610 (without initial connection time)',
    ].join('\n');
    expect(parsePgbenchTps(out)).toBeCloseTo(2468.02461, 5);
    expect(parsePgbenchTps('pgbench: error: connection failed')).toBeNull();
  });

  it('names a statement by its verb, table and condition', () => {
    expect(statementGist('SELECT "ref" FROM "public"."transfers" WHERE "psp_ref" = $1::text ORDER BY _ord')).toBe(
      'SELECT transfers WHERE psp_ref = ?::text ORDER BY _ord',
    );
    expect(statementGist('INSERT INTO "public"."jobs" ("id") VALUES ($1) ON CONFLICT DO NOTHING')).toBe(
      'INSERT jobs ON CONFLICT',
    );
    expect(statementGist('BEGIN ISOLATION LEVEL SERIALIZABLE')).toBe('BEGIN ISOLATION LEVEL SERIALIZABLE');
  });

  it('refuses to run without DATABASE_URL, with exit 2 and what to set', () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'deposits.ts')], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bench:deposits: needs DATABASE_URL');
  });
});

describe.skipIf(DATABASE_URL === undefined)('bench:deposits on Postgres (DATABASE_URL)', () => {
  const url = DATABASE_URL as string;

  it('counts the statements a client sends through its proxy, prepared ones by their text', async () => {
    const target = new URL(url);
    const wire = await WireCounter.start({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(wire.port);
    const client = new pg.Client({ connectionString: proxied.toString() });
    try {
      await client.connect();
      wire.reset();
      for (let i = 0; i < 3; i++) await client.query({ name: 'bench_probe', text: 'SELECT $1::int AS n', values: [i] });
      await client.query('SELECT 42');
      expect(wire.counts.statements.get('SELECT $1::int AS n')).toBe(3);
      expect(wire.counts.statements.get('SELECT 42')).toBe(1);
      expect(wire.counts.roundTrips).toBe(4);
    } finally {
      await client.end();
      await wire.close();
    }
  });

  it('runs at a tiny size, every deposit done exactly once, and drops its database', { timeout: 180_000 }, async () => {
    const report = await runDepositBench({
      databaseUrl: url,
      // The count ends the run, long before the time (which is also pgbench's, twice).
      seconds: 4,
      concurrency: 2,
      accounts: 2,
      deposits: 20,
      pgbench: hasPgbench(),
      pgbenchScale: 1,
      storeStats: false,
      countStatements: true,
      replaySample: 10,
    });
    expect(report.problems).toEqual([]);
    expect(report.sent).toBe(20);
    expect(report.accepted).toBe(20);
    expect(report.done).toBe(20);
    expect(report.checks).toEqual({
      replays: 10,
      pspRefReplays: 1,
      readBack: 10,
      reconciliation: { id: 'RC00000001', state: 'done', findings: 0 },
    });
    expect(report.wire?.statements).toBeGreaterThan(0);
    if (report.pgbench !== null) expect(report.pgbench.tpsOne).toBeGreaterThan(0);

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [report.database]);
      expect(left.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
