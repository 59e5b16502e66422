/**
 * Reading and writing the values of the MT5 Web API's JSON (facts 3.3): numbers and tickets come as JSON
 * strings ("764636"), money as decimal strings ("100.05"), the result as a retcode string "<code> <text>".
 * A value the adapter cannot read is an AnswerError: the adapter turns it into a platform_error, never a
 * crash and never a guess.
 */

/** The server's answer does not have the shape the adapter needs (a missing or malformed field). */
export class AnswerError extends Error {
  override readonly name = 'AnswerError';
}

/** `"<code> <text>"` → its parts; a bare number (some clients serialise it so) is accepted too. */
export function parseRetcode(value: unknown): { code: number; text: string } | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? { code: value, text: '' } : null;
  if (typeof value !== 'string') return null;
  const match = /^\s*(\d+)(?:\s+(.*))?$/s.exec(value);
  if (match === null) return null;
  const code = Number(match[1]);
  if (!Number.isSafeInteger(code)) return null;
  return { code, text: (match[2] ?? '').trim() };
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/**
 * A decimal amount (string or JSON number) in integer cents, exactly: the digits are shifted by two places
 * as text, so "100.05" is 10005 and "0.30000000000000004" is 30, with no binary-float drift. Digits
 * beyond the cent round half away from zero (MT5 keeps money to the currency's digits; a longer text is a
 * double printed in full). Throws AnswerError for anything that is not a finite decimal.
 */
export function parseMoneyCents(value: unknown, field = 'amount'): number {
  // A JSON number prints as its shortest round-trip decimal, which is the text the server meant.
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  if (typeof text !== 'string') throw new AnswerError(`${field}: expected a decimal string, got ${typeof value}`);
  const match = DECIMAL.exec(text.trim());
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (match === null || whole.length + fraction.length === 0) {
    throw new AnswerError(`${field}: "${text}" is not a decimal amount`);
  }
  const exponent = match[4] === undefined ? 0 : Number(match[4]);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 400) {
    throw new AnswerError(`${field}: "${text}" has an exponent out of range`);
  }
  const digits = whole + fraction;
  // Where the decimal point falls in `digits` once the value is in cents.
  const point = whole.length + exponent + 2;
  let integer: string;
  let rest: string;
  if (point <= 0) {
    integer = '0';
    rest = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    integer = digits + '0'.repeat(point - digits.length);
    rest = '';
  } else {
    integer = digits.slice(0, point);
    rest = digits.slice(point);
  }
  let cents = Number(integer.replace(/^0+(?=\d)/, '') || '0');
  if ((rest[0] ?? '0') >= '5') cents += 1;
  if (!Number.isSafeInteger(cents)) throw new AnswerError(`${field}: "${text}" is too large`);
  return match[1] === '-' && cents !== 0 ? -cents : cents;
}

/** Integer cents as the Web API's signed decimal string: -25000 → "-250.00", 5 → "0.05". */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new Error(`formatCents: ${cents} is not an integer amount of cents`);
  const magnitude = Math.abs(cents);
  const units = Math.floor(magnitude / 100);
  const rest = String(magnitude % 100).padStart(2, '0');
  return `${cents < 0 ? '-' : ''}${units}.${rest}`;
}

/** An integer field ("764636" or 764636): logins, tickets, times, flags. */
export function intField(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  const n = typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new AnswerError(`${field}: expected an integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A number field (prices, percentages): a finite number or a decimal string. */
export function numberField(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  const n = typeof value === 'string' && DECIMAL.test(value.trim()) && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new AnswerError(`${field}: expected a number, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A text field; absent counts as empty (the server leaves out personal fields a manager may not see). */
export function textField(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new AnswerError(`${field}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** A money field of a record in cents. */
export function moneyField(record: Record<string, unknown>, field: string): number {
  return parseMoneyCents(record[field], field);
}

/** A boolean flag: true/false, "true"/"false", 1/0 or "1"/"0". */
export function boolField(record: Record<string, unknown>, field: string): boolean {
  const value = record[field];
  if (value === true || value === 'true' || value === 1 || value === '1') return true;
  if (value === false || value === 'false' || value === 0 || value === '0') return false;
  throw new AnswerError(`${field}: expected a flag, got ${JSON.stringify(value)}`);
}

/** The `answer` as one record. */
export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AnswerError(`${what}: expected an object in the answer`);
  }
  return value as Record<string, unknown>;
}

/** The `answer` as a list of records (an absent answer is an empty list). */
export function asRecords(value: unknown, what: string): Record<string, unknown>[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AnswerError(`${what}: expected an array in the answer`);
  return value.map((item, i) => asRecord(item, `${what}[${i}]`));
}
