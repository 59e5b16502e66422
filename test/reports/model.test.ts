import { describe, expect, it } from 'vitest';
import { evidenceLine, invariantViews, misses, missLine, relTime, seconds } from '../../reports/model.ts';
import type { RunReport } from '../../scenarios/result.ts';
import { failingResult, passingResult } from './fixtures.ts';

describe('report model', () => {
  it('counts as missed an unexpected fail and a catch not made, but not an unknown where a pass is expected', () => {
    const result = failingResult();
    const run = structuredClone(result.incidentRuns[0] as RunReport); // dealer-edit-caught: expects reconciliation fail
    expect(misses(run)).toEqual([]);
    const reconciliation = run.invariants.find((i) => i.name === 'reconciliation');
    if (reconciliation === undefined) throw new Error('fixture has reconciliation');
    reconciliation.verdict = 'pass';
    reconciliation.summary = 'no discrepancy reported';
    const audit = run.invariants.find((i) => i.name === 'audit');
    if (audit !== undefined) audit.verdict = 'unknown';
    expect(misses(run).map(missLine)).toEqual(['reconciliation: pass (expected fail) — no discrepancy reported']);
  });

  it('explains a failed invariant by every run where it failed unexpectedly, and names the failed generated runs', () => {
    const [exactlyOnce] = invariantViews(failingResult());
    expect(exactlyOnce?.findings.map((f) => f.source)).toEqual([
      'counterexample shrunk-20250303-1',
      'incident lost-answer-lagging-history',
    ]);
    expect(exactlyOnce?.failedGenerated).toEqual([1]);
  });

  it('never explains an invariant by an incident that expects a catch of it', () => {
    const result = failingResult();
    result.counterexample = null;
    result.incidentRuns = result.incidentRuns.filter((r) => r.name === 'dealer-edit-caught');
    const reconciliation = invariantViews(result).find((v) => v.name === 'reconciliation');
    expect(reconciliation?.findings).toEqual([]);
    expect(reconciliation?.summary).toBe('held in every run');
  });

  it('falls back to the generated runs when no full run report explains a fail', () => {
    const result = failingResult();
    result.counterexample = null;
    result.incidentRuns = [];
    const view = invariantViews(result).find((v) => v.name === 'conservation');
    expect(view?.summary).toBe('failed in generated run #1');
    expect(invariantViews(passingResult()).every((v) => v.verdict === 'pass')).toBe(true);
  });

  it('formats times relative to the run start and wall times in seconds', () => {
    expect(relTime(0)).toBe('+0:00:00.000');
    expect(relTime(3_700_042)).toBe('+1:01:40.042');
    expect(relTime(90_000_000, false)).toBe('+25:00:00');
    expect(relTime(-1_500)).toBe('-0:00:01.500');
    expect(seconds(12_840)).toBe('12.840');
  });

  it('puts what a person would look up after the evidence message', () => {
    expect(evidenceLine({ message: 'missing' })).toBe('missing');
    expect(evidenceLine({ message: 'x', accountId: 'acc_9', pspRef: 'p1' })).toBe('x (account acc_9, PSP ref p1)');
  });
});
