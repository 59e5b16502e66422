import { describe, expect, it } from 'vitest';
import { Random } from '../../kit/random.ts';
import { backoffMs } from '../../service/backoff.ts';

const POLICY = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.5 } as const;
const NO_JITTER = { ...POLICY, jitter: 0 };

describe('backoffMs', () => {
  it('grows by the factor from the initial delay', () => {
    const random = new Random('seed');
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffMs(NO_JITTER, attempt, random))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000,
    ]);
    expect([1, 2, 3].map((a) => backoffMs({ ...NO_JITTER, factor: 3, initialDelayMs: 10 }, a, random))).toEqual([
      10, 30, 90,
    ]);
  });

  it('is capped at maxDelayMs, even for very late attempts', () => {
    const random = new Random('seed');
    expect(backoffMs(NO_JITTER, 7, random)).toBe(60_000);
    expect(backoffMs(NO_JITTER, 50, random)).toBe(60_000);
    expect(backoffMs(NO_JITTER, 10_000, random)).toBe(60_000);
    for (let i = 0; i < 200; i++) expect(backoffMs(POLICY, 10_000, random)).toBeLessThanOrEqual(60_000);
  });

  it('stays constant with factor 1', () => {
    const random = new Random('seed');
    expect([1, 5, 20].map((a) => backoffMs({ ...NO_JITTER, factor: 1 }, a, random))).toEqual([1000, 1000, 1000]);
  });

  it('draws each delay from [d × (1 − jitter), d], using the whole range', () => {
    const random = new Random('seed');
    for (const [attempt, d] of [
      [1, 1000],
      [3, 4000],
      [9, 60_000],
    ] as const) {
      const drawn: number[] = [];
      for (let i = 0; i < 500; i++) drawn.push(backoffMs(POLICY, attempt, random));
      expect(Math.min(...drawn)).toBeGreaterThanOrEqual(d * (1 - POLICY.jitter));
      expect(Math.max(...drawn)).toBeLessThanOrEqual(d);
      // Spread over the range, not stuck at one end.
      expect(Math.min(...drawn)).toBeLessThan(d * 0.6);
      expect(Math.max(...drawn)).toBeGreaterThan(d * 0.9);
    }
  });

  it('draws from [0, d] with full jitter, but never waits less than 1 ms', () => {
    const random = new Random('seed');
    for (let i = 0; i < 500; i++) {
      const delay = backoffMs({ ...POLICY, jitter: 1 }, 1, random);
      expect(delay).toBeGreaterThanOrEqual(1);
      expect(delay).toBeLessThanOrEqual(1000);
      expect(Number.isInteger(delay)).toBe(true);
    }
  });

  it('returns whole milliseconds', () => {
    const random = new Random('seed');
    for (let i = 0; i < 100; i++) expect(Number.isInteger(backoffMs({ ...POLICY, factor: 1.7 }, 5, random))).toBe(true);
  });

  it('is deterministic for the same Random seed, and differs for another seed', () => {
    const draw = (seed: string) => {
      const random = new Random(seed);
      return Array.from({ length: 20 }, (_, i) => backoffMs(POLICY, (i % 8) + 1, random));
    };
    expect(draw('seed')).toEqual(draw('seed'));
    expect(draw('seed')).not.toEqual(draw('other-seed'));
  });

  it('rejects an attempt below 1 or not a whole number', () => {
    const random = new Random('seed');
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => backoffMs(POLICY, bad, random)).toThrow(/attempt must be >= 1/);
    }
  });
});
