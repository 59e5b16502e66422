import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failedInvariants, loadIncidents } from '../../scenarios/certify.ts';
import { mtproofIntegration } from '../../scenarios/integrations/mtproof.ts';
import { MUTANTS } from '../../scenarios/mutants/index.ts';
import { liteIntegration } from '../../scenarios/mutants/lite.ts';
import { INVARIANT_NAMES } from '../../scenarios/script.ts';
import { allPass, run, verdicts } from './helpers.ts';

/**
 * The incident library: every incident passes against our service and against the correct lite control,
 * so that when a mutant (the lite integration with one planted bug) fails one, the bug is why; and every
 * mutant is caught by some incident, on the invariant its entry says should catch it.
 */

const INCIDENTS = loadIncidents();

describe('the incident library', () => {
  it('holds ten incidents, in file-name order, each named and explained', () => {
    expect(INCIDENTS.map((i) => basename(i.file))).toEqual([
      '01-busy-monday-card-deposit-timeout.yaml',
      '02-dealer-edits-balance-in-mt4.yaml',
      '03-eu-client-routed-to-eu-server.yaml',
      '04-restart-mid-deposit.yaml',
      '05-withdrawal-races-losing-trade.yaml',
      '06-pumping-silently-stops.yaml',
      '07-retry-after-history-lag.yaml',
      '08-product-mapped-to-wrong-group.yaml',
      '09-kyc-before-live-account.yaml',
      '10-webhook-retried-and-lost.yaml',
    ]);
    for (const { file, script } of INCIDENTS) {
      expect(basename(file)).toBe(`${basename(file).slice(0, 3)}${script.name}.yaml`);
      expect(script.proves?.length ?? 0).toBeGreaterThan(100);
    }
  });

  for (const [label, factory] of [
    ['our service', mtproofIntegration()],
    ['the correct lite control', liteIntegration()],
  ] as const) {
    it(`passes every incident against ${label}, each invariant at the verdict the incident expects`, async () => {
      const outcomes: Record<string, unknown> = {};
      const wanted: Record<string, unknown> = {};
      for (const { script } of INCIDENTS) {
        const { report } = await run(script, factory, { detail: false });
        outcomes[script.name] = { verdict: report.verdict, invariants: verdicts(report) };
        wanted[script.name] = { verdict: 'pass', invariants: allPass(script.expect) };
      }
      expect(outcomes).toEqual(wanted);
    });
  }

  it('expects a routing failure only where the incident shows a mis-deployment', () => {
    const expecting = INCIDENTS.filter((i) => Object.keys(i.script.expect).length > 0);
    expect(expecting.map((i) => [i.script.name, i.script.expect])).toEqual([
      ['product-mapped-to-wrong-group', { routing: 'fail' }],
    ]);
  });
});

describe('the planted bugs', () => {
  it('each name at least one invariant that should catch them, in report order', () => {
    expect(MUTANTS.map((m) => [m.name, m.catchBy.length > 0])).toEqual(MUTANTS.map((m) => [m.name, true]));
    for (const m of MUTANTS) {
      expect([m.name, [...m.catchBy]]).toEqual([m.name, INVARIANT_NAMES.filter((n) => m.catchBy.includes(n))]);
    }
  });

  it('are each caught by an incident on the invariant their entry names', async () => {
    const catches: Record<string, string[]> = {};
    for (const mutant of MUTANTS) {
      const named = mutant.catchBy;
      catches[mutant.name] = [];
      for (const { script } of INCIDENTS) {
        const { report } = await run(script, mutant.factory, { detail: false });
        const failed = failedInvariants(report);
        if (failed.some((f) => named.includes(f))) catches[mutant.name]?.push(script.name);
      }
    }
    const survivors = Object.entries(catches).filter(([, by]) => by.length === 0);
    expect(survivors.map(([name]) => name)).toEqual([]);
    // The incidents written for them catch the bugs they were written for.
    expect(catches['blind-retry']).toContain('busy-monday-card-deposit-timeout');
    expect(catches['blind-retry']).toContain('retry-after-history-lag');
    expect(catches['ref-after-send']).toContain('restart-mid-deposit');
    expect(catches['jurisdiction-precedence']).toContain('eu-client-routed-to-eu-server');
    expect(catches['no-free-margin']).toContain('withdrawal-races-losing-trade');
    expect(catches['recon-ignores-credit']).toContain('dealer-edits-balance-in-mt4');
    expect(catches['kyc-skip-product']).toContain('kyc-before-live-account');
    expect(catches['no-resubscribe']).toContain('pumping-silently-stops');
  });
});
