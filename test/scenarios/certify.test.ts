import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../kit/errors.ts';
import {
  assertShard,
  type CertifyOptions,
  certify,
  failedInvariants,
  firstCatch,
  loadIncidents,
  shardRuns,
} from '../../scenarios/certify.ts';
import { profileForRun } from '../../scenarios/generate.ts';
import type { IntegrationFactory } from '../../scenarios/integration.ts';
import { mtproofIntegration } from '../../scenarios/integrations/mtproof.ts';
import { liteIntegration } from '../../scenarios/mutants/index.ts';
import type { RunReport } from '../../scenarios/result.ts';
import { runScript } from '../../scenarios/runner.ts';
import { INVARIANT_NAMES, parseScriptText, type Script, scriptToYaml } from '../../scenarios/script.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import { propertyParams } from '../property.ts';
import { allPass, CONFIG, mutantEntry, wrap } from './helpers.ts';

/** certify(): the incident library and generated days; the first failure shrunk, saved and replayable. */

const scratch = mkdtempSync(join(tmpdir(), 'mtproof-certify-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let saved = 0;
function options(module: string, factory: IntegrationFactory, more: Partial<CertifyOptions> = {}): CertifyOptions {
  return {
    integration: { module, name: module, factory },
    config: CONFIG,
    configInput: DEFAULT_BROKER_CONFIG,
    configPath: null,
    configSha256: 'test',
    seed: '5',
    runs: 2,
    steps: 60,
    shard: null,
    shrinkRuns: 40,
    saveScript: (script: Script) => {
      const path = join(scratch, `counterexample-${++saved}.yaml`);
      writeFileSync(path, scriptToYaml(script));
      return path;
    },
    ...more,
  };
}

const INCIDENT_NAMES = loadIncidents().map((i) => i.script.name);
const ALL_PASS_CHECKLIST = [
  'Server access',
  'CRM-to-group mapping',
  'KYC-linked trading permissions',
  'Payment flow rules',
  'Trade data setup',
].map((item) => [item, 'pass']);

describe('certify', () => {
  it('passes our service: every incident, two generated days, every invariant and checklist item', async () => {
    const events: string[] = [];
    const result = await certify(
      options('mtproof', mtproofIntegration(), {
        onRun: (e) => events.push(`${e.kind} ${e.done}/${e.total}`),
      }),
    );
    expect(result.verdict).toBe('pass');
    expect([result.seed, result.runs, result.steps, result.shard]).toEqual(['5', 2, 60, null]);
    expect(result.incidents).toEqual(Object.fromEntries(INCIDENT_NAMES.map((n) => [n, 'pass'])));
    expect(result.generated.map((g) => [g.index, g.seed, g.verdict, g.failed])).toEqual([
      [0, '5.0', 'pass', []],
      [1, '5.1', 'pass', []],
    ]);
    expect(result.invariants).toEqual(allPass());
    expect(result.checklist.map((c) => [c.item, c.verdict])).toEqual(ALL_PASS_CHECKLIST);
    expect(result.counterexample).toBeNull();
    expect(events).toEqual([
      ...INCIDENT_NAMES.map((_, i) => `incident ${i + 1}/12`),
      'generated 11/12',
      'generated 12/12',
    ]);
    // The incident expecting a routing failure shows it, and proves nothing against routing.
    const wrongGroup = result.incidentRuns.find((r) => r.name === 'product-mapped-to-wrong-group');
    expect(wrongGroup?.invariants.find((i) => i.name === 'routing')?.verdict).toBe('fail');
    expect(result.invariants.routing).toBe('pass');
  });

  it('on shard 1/2 takes only the odd runs and no incidents', async () => {
    const result = await certify(
      options('lite', liteIntegration(), { runs: 4, steps: 30, shard: { index: 1, count: 2 } }),
    );
    expect(result.generated.map((g) => [g.index, g.seed])).toEqual([
      [1, '5.1'],
      [3, '5.3'],
    ]);
    expect(result.incidents).toEqual({});
    expect(result.incidentRuns).toEqual([]);
    expect(result.runs).toBe(2);
    expect(result.shard).toEqual({ index: 1, count: 2 });
    expect(result.verdict).toBe('pass');
  });

  it('hands back a shrunk counterexample of a failing integration that replays to its trace hash', async () => {
    const blindRetry = mutantEntry('blind-retry');
    const result = await certify(options(blindRetry.module, blindRetry.factory, { runs: 1 }));
    expect(result.verdict).toBe('fail');
    const cx = result.counterexample;
    if (cx === null) throw new Error('no counterexample');
    // The first incident it fails is the busy Monday: 22 steps, shrunk.
    expect(result.incidents['busy-monday-card-deposit-timeout']).toBe('fail');
    expect(cx.originalSteps).toBe(22);
    expect(cx.steps).toBeLessThan(cx.originalSteps);
    expect(cx.shrinkRuns).toBeLessThanOrEqual(40);
    expect(cx.failed).toContain('exactly-once');
    expect(cx.replay).toBe(`npx mtproof replay ${cx.script}`);

    expect(existsSync(cx.script)).toBe(true);
    const script = parseScriptText(readFileSync(cx.script, 'utf8'), cx.script);
    expect(script.steps).toHaveLength(cx.steps);
    expect(script.name).toBe('busy-monday-card-deposit-timeout-shrunk');
    expect(script.integration).toBe(blindRetry.module);
    expect(script.config).toEqual(JSON.parse(JSON.stringify(DEFAULT_BROKER_CONFIG)));
    expect(script.origin).toMatchObject({ traceHash: cx.traceHash, failed: cx.failed, originalSteps: 22 });
    // The saved file alone reproduces the failure: same trace, same invariants failed.
    const { report } = await runScript(script, { factory: blindRetry.factory, config: CONFIG });
    expect(report.traceHash).toBe(cx.traceHash);
    expect(failedInvariants(report)).toEqual(cx.failed);
    expect(report.traceHash).toBe(cx.run.traceHash);

    // Aggregated verdicts and the checklist agree with what failed.
    expect(result.invariants['exactly-once']).toBe('fail');
    expect(result.invariants.conservation).toBe('fail');
    const checklist = Object.fromEntries(result.checklist.map((c) => [c.item, c.verdict]));
    expect(checklist['Payment flow rules']).toBe('fail');
    expect(checklist['KYC-linked trading permissions']).toBe(result.invariants.gating);
    expect(checklist['Trade data setup']).toBe(result.invariants['trade-sync']);
    for (const name of INVARIANT_NAMES) {
      const failedSomewhere = result.incidentRuns.some((r) => failedInvariants(r).includes(name));
      const failedInGenerated = result.generated.some((g) => g.failed.includes(name));
      expect([name, result.invariants[name] === 'fail']).toEqual([name, failedSomewhere || failedInGenerated]);
    }
  });

  it('shrinks the first failing generated day, and stops the generated runs there', async () => {
    // The integration writes the manager password to its log whenever an account is requested.
    const leaky = wrap(liteIntegration(), (inner, runtime) => ({
      openAccount: (input) => {
        runtime()?.log(`opening with ${runtime()?.secret('MTPROOF_MT4_LIVE_EU_PASSWORD')}`);
        return inner.openAccount(input);
      },
    }));
    const result = await certify(options('leaky', leaky, { incidents: false, runs: 3 }));
    expect(result.incidents).toEqual({});
    expect(result.generated.map((g) => [g.index, g.verdict, g.failed])).toEqual([[0, 'fail', ['audit']]]);
    expect(result.runs).toBe(1);
    const cx = result.counterexample;
    if (cx === null) throw new Error('no counterexample');
    expect([cx.failed, cx.seed, cx.originalSteps]).toEqual([['audit'], '5.0', result.generated[0]?.steps]);
    const script = parseScriptText(readFileSync(cx.script, 'utf8'));
    // A client and an account request are all it takes.
    expect(script.steps.map((s) => s.do)).toEqual(['client', 'open']);
    expect(script.origin).toMatchObject({ runSeed: '5', run: 0, profile: result.generated[0]?.profile });
    expect(result.invariants.audit).toBe('fail');
    expect(result.checklist.find((c) => c.item === 'Server access')?.verdict).toBe('fail');
  });
});

describe('firstCatch', () => {
  it('runs the incidents first and stops at the first that misses its verdict', async () => {
    const blindRetry = mutantEntry('blind-retry');
    const incidents = loadIncidents();
    const { runs, caught } = await firstCatch({
      integration: blindRetry,
      config: CONFIG,
      incidents,
      seed: '5',
      runs: 2,
      steps: 30,
    });
    expect([runs, caught?.by, caught?.script.name]).toEqual([
      1,
      'busy-monday-card-deposit-timeout',
      'busy-monday-card-deposit-timeout',
    ]);
    // The caught script records the integration, so that it saves replayable.
    expect(caught?.script.integration).toBe(blindRetry.module);
    expect(failedInvariants(caught?.report as RunReport)).toContain('exactly-once');
  });

  it('then the generated days, naming the one that caught it', async () => {
    const leaky = wrap(liteIntegration(), (inner, runtime) => ({
      openAccount: (input) => {
        runtime()?.log(`opening with ${runtime()?.secret('MTPROOF_MT4_LIVE_EU_PASSWORD')}`);
        return inner.openAccount(input);
      },
    }));
    const { runs, caught } = await firstCatch({
      integration: { module: 'leaky', factory: leaky },
      config: CONFIG,
      incidents: [],
      seed: '5',
      runs: 3,
      steps: 60,
    });
    expect([runs, caught?.by, caught?.script.seed]).toEqual([1, `generated run 0 (${profileForRun('5', 0)})`, '5.0']);
    expect(failedInvariants(caught?.report as RunReport)).toEqual(['audit']);
  });

  it('says nothing caught it after every run, when nothing did', async () => {
    const result = await firstCatch({
      integration: { module: 'lite', factory: liteIntegration() },
      config: CONFIG,
      incidents: loadIncidents().slice(0, 2),
      seed: '5',
      runs: 1,
      steps: 30,
    });
    expect(result).toEqual({ runs: 3, caught: null });
  });
});

describe('shards', () => {
  it('split the runs: every n-th from i', () => {
    expect(shardRuns(5, null)).toEqual([0, 1, 2, 3, 4]);
    expect(shardRuns(5, { index: 0, count: 2 })).toEqual([0, 2, 4]);
    expect(shardRuns(4, { index: 1, count: 2 })).toEqual([1, 3]);
    expect(shardRuns(2, { index: 2, count: 3 })).toEqual([]);
  });

  it('together take every run exactly once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 12 }), (runs, count) => {
        const all = Array.from({ length: count }, (_, index) => shardRuns(runs, { index, count })).flat();
        expect(all.sort((a, b) => a - b)).toEqual(shardRuns(runs, null));
      }),
      propertyParams('shards partition the runs', 200),
    );
  });

  it('are given as i/n with 0 <= i < n', () => {
    expect(assertShard('1/2')).toEqual({ index: 1, count: 2 });
    for (const bad of ['3/2', '2/2', '0/0', '-1/2', 'a/b', '1', '']) {
      expect(() => assertShard(bad)).toThrow(MtproofError);
      try {
        assertShard(bad);
      } catch (error) {
        expect((error as MtproofError).code).toBe('MTP_CLI_BAD_FLAG');
        expect((error as MtproofError).issues[0]?.path).toBe('--shard');
      }
    }
  });
});

describe('failedInvariants', () => {
  const report = (verdicts: [string, string][], expected: Record<string, string>): RunReport =>
    ({
      invariants: verdicts.map(([name, verdict]) => ({ name, verdict, summary: '', evidence: [] })),
      expected,
    }) as unknown as RunReport;

  it('lists the invariants that missed their expected verdict', () => {
    expect(
      failedInvariants(
        report(
          [
            ['exactly-once', 'fail'],
            ['routing', 'fail'],
            ['audit', 'unknown'],
            ['gating', 'pass'],
            ['liveness', 'pass'],
          ],
          { routing: 'fail', gating: 'fail' },
        ),
      ),
    ).toEqual(['exactly-once', 'gating']);
  });
});

describe('loadIncidents', () => {
  it('reads every .yaml and .yml file of a folder in name order, and nothing else', () => {
    const dir = join(scratch, 'library');
    mkdirSync(dir);
    const text = (name: string) => `mtproof: scenario/1\nname: ${name}\nseed: s\nsteps: []\n`;
    writeFileSync(join(dir, 'b.yml'), text('second'));
    writeFileSync(join(dir, 'a.yaml'), text('first'));
    writeFileSync(join(dir, 'notes.txt'), 'not a script');
    expect(loadIncidents(dir).map((i) => i.script.name)).toEqual(['first', 'second']);
  });

  it('is empty for a missing folder, and names the file of a bad incident', () => {
    expect(loadIncidents(join(scratch, 'nowhere'))).toEqual([]);
    const dir = join(scratch, 'bad-library');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x.yaml'), 'mtproof: scenario/1\nname: x\nseed: s\nsteps: [{ do: wait, ms: -1 }]\n');
    expect(() => loadIncidents(dir)).toThrow(
      expect.objectContaining({ code: 'MTP_SCRIPT_INVALID', message: expect.stringContaining(`${dir}/x.yaml`) }),
    );
  });
});
