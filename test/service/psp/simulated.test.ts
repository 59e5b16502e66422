import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../kit/clock.ts';
import { SimulatedPsp } from '../../../service/psp/simulated.ts';

const T0 = 1_700_000_000_000;

/** A clock the test moves by hand. */
function fakeClock(startMs = T0): Clock & { set(ms: number): void } {
  let t = startMs;
  return {
    nowMs: () => t,
    sleep: async () => {},
    set: (ms: number) => {
      t = ms;
    },
  };
}

describe('SimulatedPsp', () => {
  it('records confirmed and declined deposits and payouts at the clock time', () => {
    const clock = fakeClock();
    const psp = new SimulatedPsp(clock);
    const deposit = psp.confirmDeposit({ amountCents: 10_000, currency: 'USD', reference: 'A1' });
    clock.set(T0 + 1000);
    const declined = psp.declineDeposit({ amountCents: 500, currency: 'USD' });
    clock.set(T0 + 2000);
    const paid = psp.payout({ amountCents: 2500, currency: 'EUR', reference: 'MTP-W1', succeeded: true });
    const failed = psp.payout({
      amountCents: 2600,
      currency: 'EUR',
      reference: 'MTP-W2',
      succeeded: false,
      pspRef: 'PO-9',
    });

    expect(deposit).toEqual({
      pspRef: deposit.pspRef,
      kind: 'deposit',
      status: 'succeeded',
      amountCents: 10_000,
      currency: 'USD',
      reference: 'A1',
      atMs: T0,
    });
    expect(declined).toMatchObject({ kind: 'deposit', status: 'failed', reference: null, atMs: T0 + 1000 });
    expect(paid).toMatchObject({ kind: 'payout', status: 'succeeded', reference: 'MTP-W1', atMs: T0 + 2000 });
    expect(failed).toMatchObject({ pspRef: 'PO-9', kind: 'payout', status: 'failed', amountCents: 2600 });
    expect(psp.all()).toEqual([deposit, declined, paid, failed]);
  });

  it('gives each record its own provider id when none is given', () => {
    const psp = new SimulatedPsp(fakeClock());
    const refs = Array.from({ length: 5 }, () => psp.confirmDeposit({ amountCents: 1, currency: 'USD' }).pspRef);
    expect(new Set(refs).size).toBe(5);
  });

  it('lists the records whose time lies in [fromMs, toMs], both ends included', async () => {
    const clock = fakeClock();
    const psp = new SimulatedPsp(clock);
    for (const at of [T0, T0 + 10, T0 + 20, T0 + 30]) {
      clock.set(at);
      psp.confirmDeposit({ amountCents: 100, currency: 'USD', pspRef: `P${at - T0}` });
    }
    const refs = async (from: number, to: number) => (await psp.records(from, to)).map((r) => r.pspRef);
    expect(await refs(T0 + 10, T0 + 20)).toEqual(['P10', 'P20']);
    expect(await refs(T0 + 11, T0 + 19)).toEqual([]);
    expect(await refs(0, Number.MAX_SAFE_INTEGER)).toEqual(['P0', 'P10', 'P20', 'P30']);
    expect(await refs(T0 + 30, T0 + 30)).toEqual(['P30']);
  });

  it('hands out copies: changing a returned record changes nothing it holds', async () => {
    const psp = new SimulatedPsp(fakeClock());
    const record = psp.confirmDeposit({ amountCents: 100, currency: 'USD', pspRef: 'P1' });
    record.amountCents = 1;
    const [listed] = psp.all();
    (listed as { status: string }).status = 'failed';
    const [ranged] = await psp.records(0, Number.MAX_SAFE_INTEGER);
    (ranged as { currency: string }).currency = 'EUR';
    expect(psp.all()).toEqual([
      {
        pspRef: 'P1',
        kind: 'deposit',
        status: 'succeeded',
        amountCents: 100,
        currency: 'USD',
        reference: null,
        atMs: T0,
      },
    ]);
  });

  it('refuses an amount that is not a positive whole number of minor units', () => {
    const psp = new SimulatedPsp(fakeClock());
    for (const amountCents of [0, -100, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => psp.confirmDeposit({ amountCents, currency: 'USD' })).toThrow(/positive integer/);
      expect(() => psp.payout({ amountCents, currency: 'USD', reference: 'W', succeeded: true })).toThrow(
        /positive integer/,
      );
    }
    expect(psp.all()).toEqual([]);
  });

  it('refuses a duplicate pspRef and keeps the first record', () => {
    const psp = new SimulatedPsp(fakeClock());
    psp.confirmDeposit({ amountCents: 100, currency: 'USD', pspRef: 'P1' });
    expect(() => psp.declineDeposit({ amountCents: 200, currency: 'USD', pspRef: 'P1' })).toThrow(
      /duplicate pspRef P1/,
    );
    expect(() =>
      psp.payout({ amountCents: 300, currency: 'USD', reference: 'W', succeeded: true, pspRef: 'P1' }),
    ).toThrow(/duplicate pspRef P1/);
    expect(psp.all()).toEqual([expect.objectContaining({ pspRef: 'P1', amountCents: 100, status: 'succeeded' })]);
  });

  // Regression: service/psp/simulated.ts (#add, the generated `PSP${...}` id) did not skip ids a caller
  // had already given explicitly, so a call without a pspRef failed with "duplicate pspRef".
  it('never generates a provider id a caller already used', () => {
    const psp = new SimulatedPsp(fakeClock());
    psp.confirmDeposit({ amountCents: 100, currency: 'USD', pspRef: 'PSP00000001' });
    const generated = psp.confirmDeposit({ amountCents: 200, currency: 'USD' });
    expect(generated.pspRef).not.toBe('PSP00000001');
    expect(psp.all()).toHaveLength(2);
  });
});
