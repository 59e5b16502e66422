import { describe, expect, it } from 'vitest';
import { assertWait, SystemClock } from '../../kit/clock.ts';

describe('SystemClock', () => {
  it('reads a time within one second of Date.now()', () => {
    const clock = new SystemClock();
    expect(Math.abs(clock.nowMs() - Date.now())).toBeLessThan(1_000);
  });

  it('resolves sleep(5)', async () => {
    const clock = new SystemClock();
    await expect(clock.sleep(5)).resolves.toBeUndefined();
  });

  it('refuses a negative or NaN sleep', () => {
    const clock = new SystemClock();
    expect(() => clock.sleep(-1)).toThrow(/invalid wait of -1 ms/);
    expect(() => clock.sleep(Number.NaN)).toThrow(/invalid wait of NaN ms/);
  });
});

describe('assertWait', () => {
  it('accepts zero and positive finite waits', () => {
    expect(() => assertWait(0)).not.toThrow();
    expect(() => assertWait(1.5)).not.toThrow();
    expect(() => assertWait(86_400_000)).not.toThrow();
  });

  it('rejects negative, NaN and infinite waits', () => {
    expect(() => assertWait(-0.001)).toThrow(/invalid wait/);
    expect(() => assertWait(Number.NaN)).toThrow(/invalid wait/);
    expect(() => assertWait(Number.POSITIVE_INFINITY)).toThrow(/invalid wait/);
  });
});
