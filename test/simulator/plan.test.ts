import { describe, expect, it } from 'vitest';
import { Random } from '../../kit/random.ts';
import { SimCluster } from '../../simulator/cluster.ts';
import {
  DEFAULT_PROBABILITY,
  FAULT_KINDS,
  type FaultConfigInput,
  FaultTable,
  parseFaultConfig,
  planFaults,
} from '../../simulator/faults.ts';

/** planFaults: what one seed makes of a fault configuration. */

function plan(seed: number, config: FaultConfigInput = {}) {
  return planFaults(parseFaultConfig(config), new Random(seed).fork('faults'));
}

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

describe('planFaults', () => {
  it('with swarm on, some seed among 1..20 switches kinds off, and no seed more than 4', () => {
    const off = SEEDS.map((seed) => plan(seed, { swarm: true }).swarmedOff);
    expect(off.some((kinds) => kinds.length > 0)).toBe(true);
    expect(Math.max(...off.map((kinds) => kinds.length))).toBeLessThanOrEqual(4);
  });

  it("a kind the swarm switched off has probability 0 in that seed's plan", () => {
    for (const seed of SEEDS) {
      const p = plan(seed, { swarm: true });
      for (const kind of p.swarmedOff) expect(p.probability[kind]).toBe(0);
    }
  });

  it('with swarm off, no kind is switched off for any seed', () => {
    for (const seed of SEEDS) {
      const p = plan(seed, { swarm: false });
      expect(p.swarmedOff).toEqual([]);
      for (const kind of FAULT_KINDS) expect(p.probability[kind]).toBeGreaterThan(0);
    }
  });

  it('a kind explicitly enabled is never swarmed off', () => {
    for (const seed of SEEDS) {
      expect(plan(seed, { swarm: true, kinds: { restart: { enabled: true } } }).swarmedOff).not.toContain('restart');
    }
  });

  it("enabled: false makes the kind's probability 0 for every seed", () => {
    for (const seed of SEEDS)
      expect(plan(seed, { swarm: false, kinds: { latency: { enabled: false } } }).probability.latency).toBe(0);
  });

  it('an explicit probability is used exactly, without the per-seed factor', () => {
    for (const seed of SEEDS) {
      expect(plan(seed, { swarm: false, kinds: { tooFrequent: { probability: 0.123 } } }).probability.tooFrequent).toBe(
        0.123,
      );
    }
  });

  it('per-seed factors lie in [0.25, 2) x default x intensity', () => {
    for (const seed of SEEDS) {
      const p = plan(seed, { swarm: false, intensity: 2 });
      for (const kind of FAULT_KINDS) {
        expect(p.probability[kind]).toBeGreaterThanOrEqual(DEFAULT_PROBABILITY[kind] * 2 * 0.25);
        expect(p.probability[kind]).toBeLessThan(DEFAULT_PROBABILITY[kind] * 2 * 2);
      }
    }
  });

  it('different seeds give different per-kind probabilities', () => {
    const a = plan(1, { swarm: false }).probability;
    const b = plan(2, { swarm: false }).probability;
    const differing = FAULT_KINDS.filter((k) => a[k] !== b[k]);
    expect(differing.length).toBeGreaterThan(FAULT_KINDS.length / 2);
  });

  it('the same seed gives the same plan', () => {
    expect(plan(42, { swarm: true })).toEqual(plan(42, { swarm: true }));
  });

  it('intensity 0 makes every random probability 0 while keeping explicit ones', () => {
    const p = plan(3, { swarm: false, intensity: 0, kinds: { latency: { probability: 0.5 } } });
    for (const kind of FAULT_KINDS) expect(p.probability[kind]).toBe(kind === 'latency' ? 0.5 : 0);
  });

  it('request and server probabilities adding up above 1 are rejected with MTP_FAULTS_INVALID', () => {
    const faults: FaultConfigInput = {
      swarm: false,
      intensity: 0,
      kinds: { timeoutBeforeApply: { probability: 0.6 }, historyLag: { probability: 0.6 } },
    };
    expect(() => new SimCluster({ seed: 1, faults })).toThrow(expect.objectContaining({ code: 'MTP_FAULTS_INVALID' }));
    expect(() => new FaultTable(plan(1, faults), ['request', 'server'])).toThrow(/add up to/);
  });

  it('pump probabilities adding up above 1 are rejected too (they share one draw per event)', () => {
    const faults: FaultConfigInput = {
      swarm: false,
      intensity: 0,
      kinds: { pumpDuplicate: { probability: 0.7 }, pumpReorder: { probability: 0.7 } },
    };
    expect(() => new SimCluster({ seed: 1, faults })).toThrow(expect.objectContaining({ code: 'MTP_FAULTS_INVALID' }));
  });

  it('probabilities adding up to exactly 1 are accepted', () => {
    const faults: FaultConfigInput = {
      swarm: false,
      intensity: 0,
      kinds: { timeoutBeforeApply: { probability: 0.5 }, tooFrequent: { probability: 0.5 } },
    };
    expect(() => new SimCluster({ seed: 1, faults })).not.toThrow();
  });

  it('probabilities whose decimal sum is exactly 1 are accepted despite floating-point rounding (0.1 + 0.2 + 0.7)', () => {
    const faults: FaultConfigInput = {
      swarm: false,
      intensity: 0,
      kinds: {
        timeoutBeforeApply: { probability: 0.1 },
        tooFrequent: { probability: 0.2 },
        latency: { probability: 0.7 },
      },
    };
    expect(() => new SimCluster({ seed: 1, faults })).not.toThrow();
  });

  it('a fault config with an unknown kind or a bad probability is rejected', () => {
    expect(() => parseFaultConfig({ kinds: { meteorStrike: { enabled: true } } })).toThrow(
      expect.objectContaining({ code: 'MTP_FAULTS_INVALID' }),
    );
    expect(() => parseFaultConfig({ kinds: { latency: { probability: 1.5 } } })).toThrow(
      expect.objectContaining({
        code: 'MTP_FAULTS_INVALID',
        issues: [expect.objectContaining({ path: 'kinds.latency.probability' })],
      }),
    );
    expect(() => parseFaultConfig({ params: { latencyMs: [500, 5] } })).toThrow(
      expect.objectContaining({ code: 'MTP_FAULTS_INVALID' }),
    );
  });
});

describe('FaultTable', () => {
  it('picks kinds by a cumulative table over the kinds of the asked scopes, and null beyond the total', () => {
    const p = plan(1, {
      swarm: false,
      intensity: 0,
      kinds: {
        timeoutBeforeApply: { probability: 0.1 },
        historyLag: { probability: 0.2 },
        pumpDuplicate: { probability: 0.5 },
      },
    });
    const table = new FaultTable(p, ['request', 'server']);
    expect(table.total).toBeCloseTo(0.3, 12);
    expect(table.pick(0)).toBe('timeoutBeforeApply');
    expect(table.pick(0.0999)).toBe('timeoutBeforeApply');
    expect(table.pick(0.1)).toBe('historyLag');
    expect(table.pick(0.2999)).toBe('historyLag');
    expect(table.pick(0.31)).toBeNull();
    expect(table.pick(0.99)).toBeNull();
    expect(new FaultTable(p, ['request']).total).toBe(0.1);
  });
});
