import { describe, expect, it } from 'vitest';
import { codeDescription, codeName, MT4_RET, MT5_RET, type Platform } from '../../metatrader/index.ts';

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function duplicateValues(table: Readonly<Record<string, number>>): string[] {
  const seen = new Map<number, string>();
  const clashes: string[] = [];
  for (const [name, value] of Object.entries(table)) {
    const other = seen.get(value);
    if (other !== undefined) clashes.push(`${other} and ${name} are both ${value}`);
    seen.set(value, name);
  }
  return clashes;
}

describe('MT4 RET_* table', () => {
  it('holds exactly the codes 0–11, 15, 64–66 and 128–150 of the build 1403 header', () => {
    const expected = [...range(0, 11), 15, ...range(64, 66), ...range(128, 150)];
    const actual = Object.values(MT4_RET).sort((a, b) => a - b);
    expect(actual).toEqual(expected);
  });

  it('has no two names with the same value', () => {
    expect(duplicateValues(MT4_RET)).toEqual([]);
  });

  it('names 15 RET_INVALID_COMPANY, 65 RET_BAD_ACCOUNT_INFO and 134 RET_TRADE_NO_MONEY', () => {
    expect(codeName('mt4', 15)).toBe('RET_INVALID_COMPANY');
    expect(codeName('mt4', 65)).toBe('RET_BAD_ACCOUNT_INFO');
    expect(codeName('mt4', 134)).toBe('RET_TRADE_NO_MONEY');
    expect(codeName('mt4', 150)).toBe('RET_TRADE_PROHIBITED_BY_FIFO');
  });
});

describe('MT5 MT_RET_* table', () => {
  it('contains every code of the required ranges', () => {
    const required = [
      ...range(0, 17),
      ...range(1000, 1034),
      2000,
      2001,
      ...range(3001, 3019),
      ...range(4001, 4009),
      ...range(10001, 10046),
      ...range(11000, 11002),
      ...range(12000, 12004),
    ];
    const missing = required.filter((code) => codeName('mt5', code).startsWith('UNKNOWN_'));
    expect(missing).toEqual([]);
  });

  it('has no two names with the same value', () => {
    expect(duplicateValues(MT5_RET)).toEqual([]);
  });

  it('names MT5 10009 MT_RET_REQUEST_DONE', () => {
    expect(codeName('mt5', 10009)).toBe('MT_RET_REQUEST_DONE');
  });

  it('expands the listed suffix orders to the right values', () => {
    expect(MT5_RET.MT_RET_USR_IMPORT_BALANCE).toBe(3011);
    expect(MT5_RET.MT_RET_USR_ACCOUNT_EXIST).toBe(3013);
    expect(MT5_RET.MT_RET_USR_API_LIMIT_REACHED).toBe(3019);
    expect(MT5_RET.MT_RET_CFG_NOT_EMPTY).toBe(2003);
    expect(MT5_RET.MT_RET_CFG_INVALID_COMPANY).toBe(2021);
    expect(MT5_RET.MT_RET_REPORT_LIMIT_REPORT).toBe(5008);
    expect(MT5_RET.MT_RET_SUBS_REAL_ONLY).toBe(15007);
  });

  it('names the codes the balance and user paths return', () => {
    expect(codeName('mt5', 3)).toBe('MT_RET_ERR_PARAMS');
    expect(codeName('mt5', 13)).toBe('MT_RET_ERR_NOTFOUND');
    expect(codeName('mt5', 4005)).toBe('MT_RET_TRADE_MAX_MONEY');
    expect(codeName('mt5', 10019)).toBe('MT_RET_REQUEST_NO_MONEY');
    expect(codeName('mt5', 1026)).toBe('MT_RET_AUTH_RESET_PASSWORD');
  });
});

describe('codeName', () => {
  it.each<[Platform, number]>([
    ['mt4', 12],
    ['mt4', 10009],
    ['mt5', 2002],
    ['mt5', 134],
    ['mt5', -1],
  ])('gives UNKNOWN_n for %s code %i, which the table lacks', (platform, code) => {
    expect(codeName(platform, code)).toBe(`UNKNOWN_${code}`);
  });

  it('maps every table value back to its own name', () => {
    for (const [name, value] of Object.entries(MT4_RET)) expect(codeName('mt4', value)).toBe(name);
    for (const [name, value] of Object.entries(MT5_RET)) expect(codeName('mt5', value)).toBe(name);
  });

  it('keeps the platforms apart: 0 is RET_OK on MT4 and MT_RET_OK on MT5', () => {
    expect(codeName('mt4', 0)).toBe('RET_OK');
    expect(codeName('mt5', 0)).toBe('MT_RET_OK');
  });
});

describe('codeDescription', () => {
  it("describes MT_RET_OK as 'Done', the Web API's text in \"0 Done\"", () => {
    expect(codeDescription('mt5', 0)).toBe('Done');
  });

  it('gives short texts for the common codes', () => {
    expect(codeDescription('mt5', 10009)).toBe('request completed');
    expect(codeDescription('mt5', 10019)).toBe('not enough money');
    expect(codeDescription('mt4', 134)).toBe('not enough money');
  });

  it('falls back to the name lower-cased with underscores as spaces', () => {
    expect(codeDescription('mt5', 1029)).toBe('mt ret auth migration mt4');
    expect(codeDescription('mt4', 66)).toBe('ret public key missing');
  });

  it('describes an unknown code from its UNKNOWN_n name', () => {
    expect(codeDescription('mt5', 99999)).toBe('unknown 99999');
  });
});
