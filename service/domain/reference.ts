import type { TransferKind } from '../store/schema.ts';

/**
 * Transfer references: `PREFIX-K0000000042-CC`, where K is the kind (D deposit, W withdrawal, C credit),
 * the number comes from a committed store sequence (never reused), and CC is a check of the rest, so a
 * dealer's comment that merely looks like a reference is not taken for one. The refund of a withdrawal
 * carries the reference plus `-R`. The longest (8-letter prefix, refund) is 25 characters: within the
 * 31 both platforms keep, so the server never cuts it and lookups compare whole comments.
 */

export type Leg = 'main' | 'refund';

/** The longest reference: an 8-character prefix, a refund. Within MT4's and MT5's 31 (a test holds it). */
export const MAX_REFERENCE_CHARS = 8 + 1 + 1 + 10 + 1 + 2 + 2;

const KIND_LETTER: Readonly<Record<TransferKind, string>> = { deposit: 'D', withdrawal: 'W', credit: 'C' };
const LETTER_KIND: Readonly<Record<string, TransferKind>> = { D: 'deposit', W: 'withdrawal', C: 'credit' };
const ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';

export function makeReference(prefix: string, kind: TransferKind, sequence: number): string {
  if (!Number.isSafeInteger(sequence) || sequence < 1 || sequence >= 1e10) {
    throw new Error(`reference: sequence out of range: ${sequence}`);
  }
  const body = `${prefix}-${KIND_LETTER[kind]}${String(sequence).padStart(10, '0')}`;
  return `${body}-${check(body)}`;
}

/** The comment a posting of this leg carries. */
export function commentFor(ref: string, leg: Leg): string {
  return leg === 'main' ? ref : `${ref}-R`;
}

/** The reference and leg a comment carries, or null if it is not one of ours (wrong prefix, bad check). */
export function parseComment(comment: string, prefix: string): { ref: string; leg: Leg; kind: TransferKind } | null {
  const match = /^([A-Z][A-Z0-9]{0,7})-([DWC])(\d{10})-([0-9A-Z]{2})(-R)?$/.exec(comment);
  if (match === null || match[1] !== prefix) return null;
  const body = `${match[1]}-${match[2]}${match[3]}`;
  if (check(body) !== match[4]) return null;
  const kind = LETTER_KIND[match[2] as string] as TransferKind;
  if (match[5] !== undefined && kind !== 'withdrawal') return null;
  return { ref: `${body}-${match[4]}`, leg: match[5] === undefined ? 'main' : 'refund', kind };
}

function check(body: string): string {
  let h = 2166136261;
  for (let i = 0; i < body.length; i++) h = Math.imul(h ^ body.charCodeAt(i), 16777619);
  h >>>= 0;
  return `${ALPHABET[h % 34]}${ALPHABET[Math.floor(h / 34) % 34]}`;
}
