import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import { type CsvMapping, parsePspCsv, toMinorUnits } from '../../../service/psp/csv.ts';

const HEADER = 'id,type,status,amount,currency,reference,created_at';
const AT = '2024-03-01T12:00:00Z';
const AT_MS = Date.UTC(2024, 2, 1, 12);

function csv(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

function rejection(text: string, mapping?: Readonly<CsvMapping>): MtproofError {
  try {
    parsePspCsv(text, mapping);
  } catch (error) {
    if (error instanceof MtproofError) return error;
    throw error;
  }
  throw new Error('the export was accepted');
}

describe('parsePspCsv reads', () => {
  it('each row into a record, by the default column names', () => {
    const records = parsePspCsv(
      csv(
        HEADER,
        `ch_1,deposit,succeeded,100.00,USD,A0000000001,${AT}`,
        `po_1,payout,failed,25.5,eur,MTP-W0000000001-AB,2024-03-01T13:30:00+01:00`,
        'ch_2,charge,pending,0.07,USD,,2024-03-02',
      ),
    );
    expect(records).toEqual([
      {
        pspRef: 'ch_1',
        kind: 'deposit',
        status: 'succeeded',
        amountCents: 10_000,
        currency: 'USD',
        reference: 'A0000000001',
        atMs: AT_MS,
      },
      {
        pspRef: 'po_1',
        kind: 'payout',
        status: 'failed',
        amountCents: 2550,
        currency: 'EUR',
        reference: 'MTP-W0000000001-AB',
        atMs: Date.UTC(2024, 2, 1, 12, 30),
      },
      {
        pspRef: 'ch_2',
        kind: 'deposit',
        status: 'pending',
        amountCents: 7,
        currency: 'USD',
        reference: null,
        atMs: Date.UTC(2024, 2, 2),
      },
    ]);
  });

  it('columns by the mapping, in any order, ignoring extra columns and case of kind and status words', () => {
    const mapping: CsvMapping = {
      columns: {
        pspRef: 'Transaction ID',
        kind: 'Type',
        status: 'State',
        amount: 'Net',
        currency: 'Ccy',
        at: 'Settled At',
      },
      kinds: { deposit: ['IN'], payout: ['OUT'] },
      statuses: { succeeded: ['ok'], failed: ['ko'], pending: ['wait'] },
      minorDigits: 3,
    };
    const records = parsePspCsv(
      csv(
        'Fee, Settled At ,Ccy,Net,State,Type,Transaction ID',
        `0.10,${AT},KWD,1.234,OK,in,T-1`,
        `0.10,${AT},KWD,-2,Ko,Out,T-2`,
      ),
      mapping,
    );
    expect(records.map((r) => [r.pspRef, r.kind, r.status, r.amountCents, r.currency, r.reference])).toEqual([
      ['T-1', 'deposit', 'succeeded', 1234, 'KWD', null],
      ['T-2', 'payout', 'failed', 2000, 'KWD', null],
    ]);
  });

  it('quoted fields with commas, newlines and doubled quotes', () => {
    const [record] = parsePspCsv(
      csv(HEADER, `"ch,1",deposit,succeeded,"1000.00",USD,"line one\nline two, ""quoted""",${AT}`),
    );
    expect(record?.pspRef).toBe('ch,1');
    expect(record?.amountCents).toBe(100_000);
    expect(record?.reference).toBe('line one\nline two, "quoted"');
  });

  it('CRLF line ends, keeping a CRLF inside a quoted field', () => {
    const text = [HEADER, `a,deposit,succeeded,1,USD,"x\r\ny",${AT}`, `b,deposit,succeeded,2,USD,,${AT}`, ''].join(
      '\r\n',
    );
    const records = parsePspCsv(text);
    expect(records.map((r) => [r.pspRef, r.amountCents, r.reference, r.atMs])).toEqual([
      ['a', 100, 'x\r\ny', AT_MS],
      ['b', 200, null, AT_MS],
    ]);
  });

  it('a file starting with a byte-order mark', () => {
    const records = parsePspCsv(`\uFEFF${csv(HEADER, `a,deposit,succeeded,1,USD,,${AT}`)}`);
    expect(records.map((r) => r.pspRef)).toEqual(['a']);
  });

  it('a last row without a line end, and blank lines', () => {
    const text = `${HEADER}\n\na,deposit,succeeded,1,USD,,${AT}\n\nb,payout,paid,2,USD,,${AT}`;
    expect(parsePspCsv(text).map((r) => r.pspRef)).toEqual(['a', 'b']);
  });

  it('a negative payout amount as a positive amount (the kind says the direction)', () => {
    const [record] = parsePspCsv(csv(HEADER, `po_1,payout,succeeded,-150.25,USD,,${AT}`));
    expect(record).toMatchObject({ kind: 'payout', amountCents: 15_025 });
  });

  it('a header only as no records', () => {
    expect(parsePspCsv(csv(HEADER))).toEqual([]);
  });
});

describe('toMinorUnits', () => {
  it('converts decimal text to minor units without floating point', () => {
    expect(toMinorUnits('2000.5', 2)).toBe(200_050);
    expect(toMinorUnits('0.01', 2)).toBe(1);
    expect(toMinorUnits('12', 2)).toBe(1200);
    expect(toMinorUnits('-3.1', 2)).toBe(-310);
    expect(toMinorUnits('+4', 2)).toBe(400);
    expect(toMinorUnits('0.29', 2)).toBe(29);
    expect(toMinorUnits('1.005', 3)).toBe(1005);
    expect(toMinorUnits('7', 0)).toBe(7);
    expect(toMinorUnits('90071992547409.91', 2)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses thousands separators, too many decimals and other shapes', () => {
    for (const bad of ['2,000.50', '2 000.50', '1.005', '1.', '.5', '1e3', '', ' 1', '1 ', 'USD 1', '--1', '0x10']) {
      expect(toMinorUnits(bad, 2), bad).toBeNull();
    }
    expect(toMinorUnits('1.0', 0)).toBeNull();
  });

  it('refuses an amount beyond exact integers', () => {
    expect(toMinorUnits('90071992547409.92', 2)).toBeNull();
    expect(toMinorUnits('100000000000000000000', 2)).toBeNull();
  });
});

describe('parsePspCsv refuses', () => {
  it('an amount with a thousands separator or 3 decimals, by row and column', () => {
    const error = rejection(
      csv(HEADER, `a,deposit,succeeded,1.00,USD,,${AT}`, `b,deposit,succeeded,"2,000.50",USD,,${AT}`),
    );
    expect(error.code).toBe('MTP_PSP_CSV_INVALID');
    expect(error.issues).toEqual([
      { path: 'row 3, column amount', message: '"2,000.50" is not an amount with at most 2 decimals' },
    ]);
    expect(rejection(csv(HEADER, `a,deposit,succeeded,1.005,USD,,${AT}`)).issues.map((i) => i.path)).toEqual([
      'row 2, column amount',
    ]);
  });

  it('every bad cell of every row at once, importing nothing', () => {
    const error = rejection(
      csv(
        HEADER,
        `a,deposit,succeeded,1.00,USD,,${AT}`,
        `b,refund,succeeded,1.00,USD,,${AT}`,
        `c,deposit,lost,1.00,US,,yesterday`,
        `,deposit,succeeded,abc,USD,,${AT}`,
      ),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      'row 3, column type',
      'row 4, column status',
      'row 4, column currency',
      'row 4, column created_at',
      'row 5, column id',
      'row 5, column amount',
    ]);
  });

  it('a missing column, named in the header issue', () => {
    const error = rejection(csv('id,type,status,currency,reference,created_at', `a,deposit,succeeded,USD,,${AT}`));
    expect(error.code).toBe('MTP_PSP_CSV_INVALID');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe('header');
    expect(error.issues[0]?.message).toContain('no column "amount"');
  });

  it('a duplicate pspRef, naming the earlier row', () => {
    const error = rejection(
      csv(
        HEADER,
        `a,deposit,succeeded,1,USD,,${AT}`,
        `b,deposit,succeeded,1,USD,,${AT}`,
        `a,payout,succeeded,1,USD,,${AT}`,
      ),
    );
    expect(error.issues).toEqual([{ path: 'row 4, column id', message: 'duplicate of row 2' }]);
  });

  it('a row with the wrong number of fields', () => {
    const error = rejection(csv(HEADER, `a,deposit,succeeded,2,000.50,USD,,${AT}`));
    expect(error.issues).toEqual([{ path: 'row 2', message: '8 fields, the header has 7' }]);
  });

  it('an unterminated quote', () => {
    const error = rejection(csv(HEADER, `a,deposit,succeeded,1,USD,"open,${AT}`, `b,deposit,succeeded,1,USD,,${AT}`));
    expect(error.code).toBe('MTP_PSP_CSV_INVALID');
    expect(error.message).toMatch(/never closes/);
  });

  it('an empty export', () => {
    expect(rejection('').code).toBe('MTP_PSP_CSV_INVALID');
    expect(rejection('\n\n').message).toMatch(/empty/);
  });
});

describe('parsePspCsv times', () => {
  const text = csv(
    HEADER,
    'a,deposit,succeeded,1,USD,,2024-03-01T21:00:00+09:00',
    'b,deposit,succeeded,1,USD,,2024-03-01 12:00:00',
  );

  it('reads a time with an offset, and one without as UTC', () => {
    expect(parsePspCsv(text).map((r) => r.atMs)).toEqual([AT_MS, AT_MS]);
  });

  // Regression: service/psp/csv.ts (the `Date.parse(at)` in parsePspCsv) read a time without an offset
  // ("2024-03-01 12:00:00", common in provider exports) in the host's local time zone, so the same export
  // gave different atMs on differently configured machines. A worker thread ignores a change of
  // process.env.TZ, so the parse runs in a child process started in another zone.
  it('reads the same times in another host time zone', async () => {
    const root = path.join(import.meta.dirname, '../../..');
    const module = pathToFileURL(path.join(root, 'service/psp/csv.ts')).href;
    const code = `import(${JSON.stringify(module)}).then(({ parsePspCsv }) => {
      const atMs = parsePspCsv(${JSON.stringify(text)}).map((r) => r.atMs);
      console.log(JSON.stringify({ offsetMin: new Date(2024, 2, 1).getTimezoneOffset(), atMs }));
    });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: root,
      env: { ...process.env, TZ: 'Asia/Tokyo' },
      timeout: 30_000,
    });
    // The child really is in Tokyo (UTC+9), and reads both times as this process does.
    expect(JSON.parse(stdout)).toEqual({ offsetMin: -540, atMs: [AT_MS, AT_MS] });
  }, 30_000);
});
