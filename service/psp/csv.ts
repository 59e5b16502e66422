import { type Issue, MtproofError } from '../../kit/errors.ts';
import { deepFreeze } from '../../kit/freeze.ts';
import type { PspRecord } from './port.ts';

/**
 * Imports a payment provider's CSV export (RFC 4180: quoted fields, doubled quotes, CRLF or LF) into
 * PSP records. Which column holds what, and which words mean deposit/payout and succeeded/failed, are
 * options, since every provider names them differently. Times without an offset are UTC. Amounts are decimal text converted to minor units
 * without floating point. Every bad row is reported by row number and column; nothing is half-imported.
 */

export interface CsvMapping {
  columns: {
    pspRef: string;
    kind: string;
    status: string;
    amount: string;
    currency: string;
    reference?: string;
    at: string;
  };
  kinds: { deposit: string[]; payout: string[] };
  statuses: { succeeded: string[]; failed: string[]; pending: string[] };
  /** Digits after the decimal point of the currencies' minor unit (2 for USD, EUR). */
  minorDigits: number;
}

export const DEFAULT_CSV_MAPPING: Readonly<CsvMapping> = deepFreeze({
  columns: {
    pspRef: 'id',
    kind: 'type',
    status: 'status',
    amount: 'amount',
    currency: 'currency',
    reference: 'reference',
    at: 'created_at',
  },
  kinds: { deposit: ['deposit', 'payment', 'charge'], payout: ['payout', 'withdrawal'] },
  statuses: {
    succeeded: ['succeeded', 'success', 'settled', 'completed', 'paid'],
    failed: ['failed', 'declined', 'error', 'rejected'],
    pending: ['pending', 'processing'],
  },
  minorDigits: 2,
});

export function parsePspCsv(
  text: string,
  mapping: Readonly<CsvMapping> = DEFAULT_CSV_MAPPING,
  source = 'PSP export',
): PspRecord[] {
  const rows = splitCsv(text, source);
  const header = rows[0];
  if (header === undefined || header.every((h) => h.trim() === '')) {
    throw new MtproofError('MTP_PSP_CSV_INVALID', `${source} is empty: expected a header row`);
  }
  const names = header.map((h) => h.trim());
  const issues: Issue[] = [];
  const index = new Map<string, number>();
  for (const [field, column] of Object.entries(mapping.columns)) {
    if (column === undefined) continue;
    const at = names.indexOf(column);
    if (at < 0)
      issues.push({ path: `header`, message: `no column "${column}" (for ${field}); columns are ${names.join(', ')}` });
    index.set(field, at);
  }
  if (issues.length > 0) throw new MtproofError('MTP_PSP_CSV_INVALID', `${source} has the wrong columns`, issues);

  const lookup = (words: Record<string, string[]>, value: string): string | undefined => {
    const lower = value.trim().toLowerCase();
    for (const [key, list] of Object.entries(words)) if (list.some((w) => w.toLowerCase() === lower)) return key;
    return undefined;
  };

  const records: PspRecord[] = [];
  const seen = new Map<string, number>();
  rows.slice(1).forEach((row, i) => {
    const line = i + 2;
    if (row.length === 1 && (row[0] as string).trim() === '') return;
    const cell = (field: string) => (row[index.get(field) as number] ?? '').trim();
    const where = (field: string) => `row ${line}, column ${mapping.columns[field as keyof CsvMapping['columns']]}`;
    if (row.length !== names.length) {
      issues.push({ path: `row ${line}`, message: `${row.length} fields, the header has ${names.length}` });
      return;
    }
    const pspRef = cell('pspRef');
    if (pspRef === '') issues.push({ path: where('pspRef'), message: 'empty' });
    const earlier = seen.get(pspRef);
    if (pspRef !== '' && earlier !== undefined) {
      issues.push({ path: where('pspRef'), message: `duplicate of row ${earlier}` });
    }
    seen.set(pspRef, line);
    const kind = lookup(mapping.kinds, cell('kind'));
    if (kind === undefined)
      issues.push({ path: where('kind'), message: `"${cell('kind')}" is neither a deposit nor a payout` });
    const status = lookup(mapping.statuses, cell('status'));
    if (status === undefined) issues.push({ path: where('status'), message: `unknown status "${cell('status')}"` });
    const amountCents = toMinorUnits(cell('amount'), mapping.minorDigits);
    if (amountCents === 0) issues.push({ path: where('amount'), message: 'a payment of zero' });
    if (amountCents === null) {
      issues.push({
        path: where('amount'),
        message: `"${cell('amount')}" is not an amount with at most ${mapping.minorDigits} decimals`,
      });
    }
    const currency = cell('currency').toUpperCase();
    if (!/^[A-Z]{3}$/.test(currency))
      issues.push({ path: where('currency'), message: `"${cell('currency')}" is not a currency code` });
    const at = cell('at');
    // A time without an offset is read as UTC, never as the importing machine's local time.
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(at) || !/\d{2}:\d{2}/.test(at) ? at : `${at.replace(' ', 'T')}Z`;
    const atMs = /^\d{4}-\d{2}-\d{2}/.test(at)
      ? Date.parse(/\d{2}:\d{2}/.test(at) ? zoned : `${at}T00:00:00Z`)
      : Number.NaN;
    if (Number.isNaN(atMs)) issues.push({ path: where('at'), message: `"${at}" is not an ISO 8601 time` });
    const reference = index.has('reference') && (index.get('reference') as number) >= 0 ? cell('reference') : '';
    if (kind === undefined || status === undefined || amountCents === null || amountCents === 0 || Number.isNaN(atMs)) {
      return;
    }
    records.push({
      pspRef,
      kind: kind as PspRecord['kind'],
      status: status as PspRecord['status'],
      // Exports sign payouts either way: the kind says the direction.
      amountCents: Math.abs(amountCents),
      currency,
      reference: reference === '' ? null : reference,
      atMs,
    });
  });
  if (issues.length > 0) throw new MtproofError('MTP_PSP_CSV_INVALID', `${source} has bad rows`, issues.slice(0, 50));
  return records;
}

/** "2,000.50" is refused (thousands separators are ambiguous across locales); "2000.5" is 200050. */
export function toMinorUnits(text: string, minorDigits: number): number | null {
  const match = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) return null;
  const fraction = match[3] ?? '';
  if (fraction.length > minorDigits) return null;
  const value = Number(match[2] as string) * 10 ** minorDigits + Number(fraction.padEnd(minorDigits, '0') || '0');
  if (!Number.isSafeInteger(value)) return null;
  return match[1] === '-' ? -value : value;
}

function splitCsv(text: string, source: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (quoted) {
      if (c === '"') {
        if (body[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      line++;
    } else field += c;
  }
  if (quoted)
    throw new MtproofError('MTP_PSP_CSV_INVALID', `${source}: a quoted field opened before line ${line} never closes`);
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
