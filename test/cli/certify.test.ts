import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INVARIANT_NAMES, parseScriptText } from '../../scenarios/script.ts';
import { cli, tempFile } from './helpers.ts';

/** `mtproof certify`, `run`, `replay` and `mutants`, in process. */

const INVARIANTS = [...INVARIANT_NAMES];
const INCIDENTS = [
  'busy-monday-card-deposit-timeout',
  'dealer-edits-balance-in-mt4',
  'eu-client-routed-to-eu-server',
  'restart-mid-deposit',
  'withdrawal-races-losing-trade',
  'pumping-silently-stops',
  'retry-after-history-lag',
  'product-mapped-to-wrong-group',
  'kyc-before-live-account',
  'webhook-retried-and-lost',
];

const dirs: string[] = [];
function outDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-certify-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Every file written under the report folders of this test file, with its text. */
function reportFiles(): { path: string; text: string }[] {
  return dirs.flatMap((dir) =>
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const path = join(e.parentPath, e.name);
        return { path, text: readFileSync(path, 'utf8') };
      }),
  );
}

function onlyJson(out: string): Record<string, unknown> {
  const lines = out.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

describe('mtproof certify', () => {
  it('passes our service and prints one JSON object; writes result.json, junit.xml and report.html', async () => {
    const dir = outDir();
    const r = await cli('certify', '--runs', '1', '--steps', '40', '--seed', '5', '--out', dir, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = onlyJson(r.out);
    expect(summary).toMatchObject({
      verdict: 'pass',
      seed: '5',
      runs: 1,
      steps: 40,
      shard: null,
      integration: { module: 'mtproof', name: 'mtproof integration service' },
      config: { path: null },
      counterexample: null,
      out: dir,
    });
    expect(summary.invariants).toEqual(Object.fromEntries(INVARIANTS.map((n) => [n, 'pass'])));
    expect(summary.incidents).toEqual(Object.fromEntries(INCIDENTS.map((n) => [n, 'pass'])));
    expect(summary).not.toHaveProperty('incidentRuns');
    expect(readdirSync(dir).sort()).toEqual(['junit.xml', 'report.html', 'result.json']);
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect([result.verdict, result.seed, result.generated.length, result.incidentRuns.length]).toEqual([
      'pass',
      '5',
      1,
      10,
    ]);
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toMatch(/^<\?xml /);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toMatch(/^<!doctype html>/i);
  });

  it('prints the verdict, the invariants and the checklist as text', async () => {
    const r = await cli('certify', '--runs', '0', '--seed', '5', '--out', outDir());
    expect(r.code).toBe(0);
    expect(r.out).toContain('seed 5, 0 generated run(s) of 300 steps');
    expect(r.out).toContain('incidents: 10/10 as expected');
    expect(r.out).toMatch(/^ {2}pass {4}exactly-once$/m);
    expect(r.out).toMatch(/^ {2}pass {4}Payment flow rules$/m);
    expect(r.out).toMatch(/^verdict: PASS \(\d+\.\d s\)$/m);
  });

  it('fails a planted bug with a saved counterexample that `replay` reproduces', async () => {
    const dir = outDir();
    const r = await cli(
      'certify',
      '--integration',
      'scenarios/mutants/blind-retry.ts',
      '--runs',
      '1',
      '--steps',
      '40',
      '--seed',
      '5',
      '--shrink-runs',
      '30',
      '--json',
      '--out',
      dir,
    );
    expect(r.code).toBe(1);
    const summary = onlyJson(r.out) as {
      verdict: string;
      integration: { module: string; name: string };
      invariants: Record<string, string>;
      counterexample: { script: string; traceHash: string; failed: string[]; steps: number; originalSteps: number };
    };
    expect(summary.verdict).toBe('fail');
    expect(summary.integration).toEqual({ module: 'scenarios/mutants/blind-retry.ts', name: 'blind-retry' });
    expect(summary.invariants['exactly-once']).toBe('fail');
    const cx = summary.counterexample;
    expect(cx.script).toBe(join(dir, 'counterexample.yaml'));
    expect(existsSync(cx.script)).toBe(true);
    expect(cx.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(cx.failed).toContain('exactly-once');
    expect(cx.steps).toBeLessThan(cx.originalSteps);
    const saved = readFileSync(cx.script, 'utf8');
    expect(saved.split('\n')[0]).toBe(`# mtproof scenario script: replay with \`npx mtproof replay ${cx.script}\``);
    expect(parseScriptText(saved).steps).toHaveLength(cx.steps);

    const replay = await cli('replay', cx.script, '--json');
    expect(replay.code).toBe(1);
    const replayed = onlyJson(replay.out);
    expect(replayed).toMatchObject({
      verdict: 'fail',
      traceHash: cx.traceHash,
      savedTraceHash: cx.traceHash,
      reproduced: true,
      integration: 'scenarios/mutants/blind-retry.ts',
      failed: cx.failed,
      steps: cx.steps,
    });
  });

  it('says so when a replayed script no longer reproduces its saved trace', async () => {
    const script = readFileSync(join('scenarios', 'incidents', '10-webhook-retried-and-lost.yaml'), 'utf8');
    const path = tempFile('stale.yaml', `${script}origin: { traceHash: '0000000000000000' }\n`);
    const r = await cli('replay', path, '--json');
    expect(r.code).toBe(0);
    expect(onlyJson(r.out)).toMatchObject({ verdict: 'pass', savedTraceHash: '0000000000000000', reproduced: false });
    const text = await cli('replay', path);
    expect(text.out).toMatch(/\(saved 0000000000000000: NOT reproduced\)/);
  });
});

describe('bad input', () => {
  it('refuses a --runs that is not a number', async () => {
    const r = await cli('certify', '--runs', 'x');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      'error MTP_CLI_BAD_FLAG: --runs: "x" is not a whole number from 0 to 100000\n  - --runs: "x" is not a whole number from 0 to 100000\n',
    );
  });

  it('refuses a shard outside i/n with i < n', async () => {
    const r = await cli('certify', '--shard', '3/2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error MTP_CLI_BAD_FLAG: --shard takes i\/n with 0 <= i < n, not "3\/2"/);
  });

  it('refuses an integration module that does not exist', async () => {
    const r = await cli('certify', '--integration', 'does-not-exist.ts', '--runs', '0');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error MTP_INTEGRATION_INVALID: integration module not found: does-not-exist\.ts/);
  });

  it('refuses an integration module without a factory', async () => {
    const path = tempFile('no-factory.ts', 'export const answer = 42;\n');
    const r = await cli(
      'run',
      join('scenarios', 'incidents', '03-eu-client-routed-to-eu-server.yaml'),
      '--integration',
      path,
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_INTEGRATION_INVALID: integration module');
    expect(r.err).toContain('exports no factory');
  });

  it('names the step and field of a bad script', async () => {
    const path = tempFile(
      'bad.yaml',
      'mtproof: scenario/1\nname: bad\nseed: s\nsteps:\n  - { do: client, id: c1, country: DE }\n  - { do: deposit, account: a1, amountCents: -1 }\n',
    );
    const r = await cli('run', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_SCRIPT_INVALID: ');
    expect(r.err).toContain("steps[1].amountCents: Too small: expected number to be >0 (in a 'deposit' step)");
  });

  it('says a script file cannot be read', async () => {
    const r = await cli('run', 'no-such-script.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^error MTP_SCRIPT_UNREADABLE: cannot read scenario script .*no-such-script\.yaml: no such file/,
    );
  });

  it('says a --config file cannot be read', async () => {
    const r = await cli('certify', '--config', 'no-such-broker.yaml', '--runs', '0');
    expect(r.code).toBe(2);
    expect(r.err).toBe('error MTP_CONFIG_UNREADABLE: cannot read broker config no-such-broker.yaml: no such file\n');
  });

  it('refuses --config on replay, which takes the config the script recorded', async () => {
    const r = await cli(
      'replay',
      join('scenarios', 'incidents', '01-busy-monday-card-deposit-timeout.yaml'),
      '--config',
      'x.yaml',
    );
    expect(r.code).toBe(2);
    expect(r.err).toBe("error MTP_CLI_BAD_FLAG: unknown option '--config' (see mtproof --help)\n");
  });
});

describe('mtproof run', () => {
  it('runs an incident and passes it', async () => {
    const r = await cli('run', join('scenarios', 'incidents', '04-restart-mid-deposit.yaml'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^run .*04-restart-mid-deposit\.yaml: restart-mid-deposit \(seed restart-mid-deposit-1, 11 steps\) against mtproof$/m,
    );
    for (const name of INVARIANTS) expect(r.out).toMatch(new RegExp(`^ {2}pass {4}${name}: `, 'm'));
    expect(r.out).toMatch(/^trace [0-9a-f]{16}$/m);
    expect(r.out).toMatch(/verdict: PASS\n$/);
  });

  it('runs an incident against a planted bug, exits 1 and prints the evidence', async () => {
    const dir = outDir();
    const incident = join('scenarios', 'incidents', '03-eu-client-routed-to-eu-server.yaml');
    const mutant = 'scenarios/mutants/jurisdiction-precedence.ts';
    const r = await cli('run', incident, '--integration', mutant, '--json', '--out', dir);
    expect(r.code).toBe(1);
    const out = onlyJson(r.out) as {
      failed: string[];
      traceHash: string;
      evidence: Record<string, { account?: string }[]>;
    };
    expect(out.failed).toEqual(['routing']);
    expect(out.evidence.routing?.map((e) => e.account)).toEqual(['a1']);
    expect(readdirSync(dir).sort()).toEqual(['junit.xml', 'report.html', 'result.json']);

    // The reports are a certification of this one run: judged, with a checklist, and the failing run is its
    // own counterexample: the script itself, with the command that runs it again.
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(result).toMatchObject({
      verdict: 'fail',
      runs: 0,
      integration: { module: mutant },
      incidents: { 'eu-client-routed-to-eu-server': 'fail' },
      generated: [],
      out: dir,
    });
    expect(result.invariants.routing).toBe('fail');
    expect(result.checklist.map((c: { item: string; verdict: string }) => [c.item, c.verdict])).toEqual([
      ['Server access', 'fail'],
      ['CRM-to-group mapping', 'fail'],
      ['KYC-linked trading permissions', 'pass'],
      ['Payment flow rules', 'pass'],
      ['Trade data setup', 'pass'],
    ]);
    expect(result.counterexample).toMatchObject({
      script: resolve(incident),
      traceHash: out.traceHash,
      failed: ['routing'],
      shrinkRuns: 0,
      replay: `npx mtproof run ${incident} --integration ${mutant}`,
    });
    const again = onlyJson((await cli(...result.counterexample.replay.split(' ').slice(2), '--json')).out);
    expect([again.verdict, again.traceHash]).toEqual(['fail', out.traceHash]);
  });

  it('writes the reports of a run that shows an expected catch: it passes, and proves nothing of that invariant', async () => {
    const dir = outDir();
    const r = await cli('run', join('scenarios', 'incidents', '08-product-mapped-to-wrong-group.yaml'), '--out', dir);
    expect(r.code).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect([result.verdict, result.counterexample, result.invariants.routing]).toEqual(['pass', null, 'unknown']);
    expect(result.checklist.find((c: { item: string }) => c.item === 'CRM-to-group mapping')?.verdict).toBe('unknown');
  });
});

describe('mtproof mutants', () => {
  it('catches the chosen planted bugs with the incidents and prints them as JSON', async () => {
    const dir = outDir();
    const r = await cli(
      'mutants',
      '--runs',
      '0',
      '--only',
      'blind-retry,no-resubscribe',
      '--shrink-runs',
      '30',
      '--json',
      '--out',
      dir,
    );
    expect(r.code).toBe(0);
    const { mutants } = onlyJson(r.out) as { mutants: Record<string, unknown>[] };
    expect(mutants.map((m) => [m.name, m.module, m.caught, m.invariant, m.caughtBy])).toEqual([
      ['blind-retry', 'scenarios/mutants/blind-retry.ts', true, 'exactly-once', 'busy-monday-card-deposit-timeout'],
      ['no-resubscribe', 'scenarios/mutants/no-resubscribe.ts', true, 'trade-sync', 'pumping-silently-stops'],
    ]);
    for (const m of mutants) {
      expect(m.runs).toBeGreaterThanOrEqual(1);
      expect(typeof m.ms).toBe('number');
      expect(m.shrunkSteps).toBeLessThan(m.originalSteps as number);
      expect(m.script).toBe(join(dir, `${m.name}.yaml`));
      expect(existsSync(m.script as string)).toBe(true);
      expect(m.traceHash).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(JSON.parse(readFileSync(join(dir, 'mutants.json'), 'utf8'))).toEqual({ mutants });
    // Each saved catch replays to its hash.
    const replay = onlyJson((await cli('replay', mutants[1]?.script as string, '--json')).out);
    expect([replay.reproduced, replay.traceHash, replay.failed]).toEqual([true, mutants[1]?.traceHash, ['trade-sync']]);
  });
});

describe('reports', () => {
  // Reads what the commands above wrote (vitest runs a file's tests in order).
  it('never contain the manager password', () => {
    const files = reportFiles();
    expect(files.length).toBeGreaterThanOrEqual(10);
    expect(files.filter((f) => f.text.includes('Manager#1')).map((f) => f.path)).toEqual([]);
  });
});
