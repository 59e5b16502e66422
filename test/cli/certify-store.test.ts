import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';

/**
 * `--store` of `mtproof run`, `replay` and `certify`: the harness runs our service on PGlite or Postgres, a
 * fresh store per run, with the trace it has on memory; a store that cannot be had is a coded error (exit 2).
 */

const INCIDENT = join(import.meta.dirname, '..', '..', 'scenarios', 'incidents', '04-restart-mid-deposit.yaml');

async function mtproof(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  let out = '';
  let err = '';
  const code = await main(
    argv,
    { out: (t) => (out += t), err: (t) => (err += t) },
    { progress: false, cwd: process.cwd(), env },
  );
  return { code, out, err };
}

describe('--store', () => {
  it('runs an incident on PGlite with the verdict and trace hash it has on memory', async () => {
    const memory = await mtproof(['run', INCIDENT, '--json']);
    const pglite = await mtproof(['run', INCIDENT, '--store', 'pglite', '--json']);
    expect([pglite.code, pglite.err]).toEqual([0, '']);
    const [a, b] = [JSON.parse(memory.out), JSON.parse(pglite.out)];
    expect(b.verdict).toBe('pass');
    expect(b.traceHash).toBe(a.traceHash);
  }, 60_000);

  it('refuses postgres without DATABASE_URL with MTP_STORE_UNAVAILABLE naming it, exit 2, before any run', async () => {
    for (const command of [
      ['certify', '--runs', '0', '--no-incidents'],
      ['run', INCIDENT],
    ]) {
      const { code, out, err } = await mtproof([...command, '--store', 'postgres'], {});
      expect([command[0], code]).toEqual([command[0], 2]);
      expect(err).toMatch(/^error MTP_STORE_UNAVAILABLE: .*DATABASE_URL/);
      expect(out).toBe('');
    }
  });

  it('refuses a Postgres that does not answer, naming DATABASE_URL and hiding the password', async () => {
    const { code, err } = await mtproof(['run', INCIDENT, '--store', 'postgres'], {
      DATABASE_URL: 'postgres://mtproof:hunter2@127.0.0.1:1/none',
    });
    expect(code).toBe(2);
    expect(err).toMatch(/MTP_STORE_UNAVAILABLE/);
    expect(err).toMatch(/DATABASE_URL/);
    expect(err).not.toMatch(/hunter2/);
  });

  it('refuses an unknown store, and a database store for an integration other than ours', async () => {
    const bogus = await mtproof(['run', INCIDENT, '--store', 'mysql']);
    expect(bogus.code).toBe(2);
    expect(bogus.err).toMatch(/MTP_CLI_BAD_FLAG: --store: "mysql" is not a store: memory, pglite, postgres/);
    const other = await mtproof([
      'run',
      INCIDENT,
      '--store',
      'pglite',
      '--integration',
      'scenarios/mutants/blind-retry.ts',
    ]);
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/MTP_CLI_BAD_FLAG: --store: pglite runs mtproof's own integration only/);
  });
});
