import { describe, expect, it } from 'vitest';
import { certifyToy } from './toys.ts';

/**
 * The wire certification's checks against toy integrations on a served simulator: a correct one must pass, and
 * each planted bug must be caught by the check that names it.
 */

function failing(result: Awaited<ReturnType<typeof certifyToy>>): string[] {
  return result.checks.filter((c) => !c.passed).map((c) => c.name);
}

describe('certification over the wire', () => {
  it('passes an integration that posts each reference once and reports the dealer edit', async () => {
    const result = await certifyToy('none');
    expect(failing(result)).toEqual([]);
    expect(result.stats.done + result.stats.failed).toBe(12);
    expect(result.stats.done).toBeGreaterThan(8);
    expect(result.stats.dealerEdits).toBe(1);
  });

  it('catches an integration that posts again when its answer was lost', async () => {
    const result = await certifyToy('blind-retry');
    expect(failing(result)).toEqual(expect.arrayContaining(['exactly-once', 'conservation']));
    const once = result.checks.find((c) => c.name === 'exactly-once');
    expect(once?.problems.join('\n')).toMatch(/matches no done transfer/);
    expect(result.stats.unreachableRetries).toBeGreaterThan(0);
  });

  it('fails an integration that refuses every transfer (nothing moved, nothing to find wrong)', async () => {
    const result = await certifyToy('refuse-all');
    expect(result.stats.done).toBe(0);
    expect(failing(result)).toContain('accepted');
  });

  it('fails an integration that posts each deposit a second time as credit', async () => {
    const result = await certifyToy('duplicate-as-credit');
    expect(failing(result)).toEqual(expect.arrayContaining(['exactly-once', 'conservation']));
  });

  it('fails an integration that created an account twice and moves money on the unreported one', async () => {
    const result = await certifyToy('orphan-account');
    expect(failing(result)).toContain('no-stray-accounts');
  });
});
