import { describe, expect, it } from 'vitest';
import { runWorkload } from '../../adapters/sim/workload.ts';

describe('determinism of a simulated run', () => {
  it('gives one trace hash for one seed, run twice in the same process', async () => {
    const a = await runWorkload({ seed: 42, steps: 3_000, retainTrace: true });
    const b = await runWorkload({ seed: 42, steps: 3_000, retainTrace: true });
    expect(b.summary.hash).toBe(a.summary.hash);
    expect(b.summary).toEqual(a.summary);
    expect(b.cluster.trace.events()).toEqual(a.cluster.trace.events());
  });

  it('gives another hash for another seed', async () => {
    const a = await runWorkload({ seed: 42, steps: 3_000 });
    const b = await runWorkload({ seed: 43, steps: 3_000 });
    expect(b.summary.hash).not.toBe(a.summary.hash);
  });

  it('gives another hash when only the fault configuration changes', async () => {
    const a = await runWorkload({ seed: 42, steps: 3_000 });
    const b = await runWorkload({ seed: 42, steps: 3_000, faults: { intensity: 2 } });
    expect(b.summary.hash).not.toBe(a.summary.hash);
  });

  it('fires at least 12 distinct fault kinds in 20,000 steps at default settings for seeds 1 to 5', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { summary } = await runWorkload({ seed, steps: 20_000 });
      expect(
        Object.keys(summary.faults).length,
        `seed ${seed}: ${Object.keys(summary.faults).join(', ')}`,
      ).toBeGreaterThanOrEqual(12);
    }
  });

  it('fires no fault with faults switched off', async () => {
    const { summary } = await runWorkload({ seed: 1, steps: 5_000, faults: { intensity: 0, swarm: false } });
    expect(summary.faults).toEqual({});
    expect(summary.outcomes.unknown).toBe(0);
  });
});
