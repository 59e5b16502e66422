import { describe, expect, it } from 'vitest';
import {
  MT4_API_PROGRAM_BUILD,
  MT4_API_PROGRAM_VERSION,
  MT4_API_VERSION,
  MT4_OP,
  MT4_PUMP,
  MT4_TT,
  MT5_DEAL_ACTION,
  MT5_DEAL_REASON,
  MT5_DEALER_BALANCE_TYPES,
  MT5_PUMP_MODE,
  MT5_USER_RIGHT,
} from '../../metatrader/index.ts';

function isContiguousFromZero(table: Readonly<Record<string, number>>): boolean {
  const values = Object.values(table).sort((a, b) => a - b);
  return values.every((value, i) => value === i);
}

describe('MT4 constants', () => {
  it('computes ManAPIVersion 26215803 for build 1403', () => {
    expect(MT4_API_VERSION).toBe(26215803);
    expect(MT4_API_VERSION).toBe(0x0190057b);
    // MAKELONG(build, version): build in the low word, program version in the high word.
    expect(MT4_API_VERSION & 0xffff).toBe(MT4_API_PROGRAM_BUILD);
    expect(MT4_API_VERSION >>> 16).toBe(MT4_API_PROGRAM_VERSION);
  });

  it('posts balance and credit with TT_BR_BALANCE 83 and OP_BALANCE 6 / OP_CREDIT 7', () => {
    expect(MT4_TT.TT_BR_BALANCE).toBe(83);
    expect(MT4_OP.OP_BALANCE).toBe(6);
    expect(MT4_OP.OP_CREDIT).toBe(7);
    expect(Object.keys(MT4_TT)).not.toContain('TT_BR_CREDIT');
  });

  it('numbers the pumping codes 0–16 without gaps, PUMP_STOP_PUMPING being 14', () => {
    expect(isContiguousFromZero(MT4_PUMP)).toBe(true);
    expect(MT4_PUMP.PUMP_STOP_PUMPING).toBe(14);
  });
});

describe('MT5 constants', () => {
  it('numbers deal actions 0–20 and deal reasons 0–18 without gaps', () => {
    expect(isContiguousFromZero(MT5_DEAL_ACTION)).toBe(true);
    expect(MT5_DEAL_ACTION.DEAL_SO_COMPENSATION_CREDIT).toBe(20);
    expect(isContiguousFromZero(MT5_DEAL_REASON)).toBe(true);
    expect(MT5_DEAL_REASON.DEAL_REASON_SPLIT).toBe(18);
  });

  it('makes USER_RIGHT_DEFAULT the OR of ENABLED, PASSWORD, TRAILING, EXPERT and REPORTS', () => {
    const r = MT5_USER_RIGHT;
    const parts = r.USER_RIGHT_ENABLED | r.USER_RIGHT_PASSWORD | r.USER_RIGHT_TRAILING;
    expect(parts | r.USER_RIGHT_EXPERT | r.USER_RIGHT_REPORTS).toBe(r.USER_RIGHT_DEFAULT);
    expect(r.USER_RIGHT_DEFAULT).toBe(0x163);
  });

  it('gives each user right except DEFAULT a single distinct bit', () => {
    const bits = Object.entries(MT5_USER_RIGHT)
      .filter(([name]) => name !== 'USER_RIGHT_DEFAULT')
      .map(([, value]) => value);
    for (const bit of bits) expect(bit & (bit - 1)).toBe(0);
    expect(new Set(bits).size).toBe(bits.length);
  });

  it('lets DealerBalance take the nine balance-like deal types but not buy, sell or agent deals', () => {
    expect(MT5_DEALER_BALANCE_TYPES).toHaveLength(9);
    expect(MT5_DEALER_BALANCE_TYPES).toContain(MT5_DEAL_ACTION.DEAL_BALANCE);
    expect(MT5_DEALER_BALANCE_TYPES).toContain(MT5_DEAL_ACTION.DEAL_DIVIDEND_FRANKED);
    const types: readonly number[] = MT5_DEALER_BALANCE_TYPES;
    expect(types).not.toContain(MT5_DEAL_ACTION.DEAL_BUY);
    expect(types).not.toContain(MT5_DEAL_ACTION.DEAL_SELL);
    expect(types).not.toContain(MT5_DEAL_ACTION.DEAL_AGENT);
  });

  it('keeps PUMP_MODE_FULL as the unsigned all-ones mask covering every other mode', () => {
    const others = Object.entries(MT5_PUMP_MODE).filter(([name]) => name !== 'PUMP_MODE_FULL');
    for (const [, flag] of others) expect((MT5_PUMP_MODE.PUMP_MODE_FULL & flag) >>> 0).toBe(flag);
    expect(MT5_PUMP_MODE.PUMP_MODE_FULL).toBe(2 ** 32 - 1);
  });
});
