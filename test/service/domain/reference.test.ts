import { describe, expect, it } from 'vitest';
import { Random } from '../../../kit/random.ts';
import { MT4_LIMITS, MT5_LIMITS } from '../../../metatrader/limits.ts';
import { commentFor, MAX_REFERENCE_CHARS, makeReference, parseComment } from '../../../service/domain/reference.ts';
import type { TransferKind } from '../../../service/store/schema.ts';

const KINDS: readonly TransferKind[] = ['deposit', 'withdrawal', 'credit'];

/** Replaces the character at `at` with another one of the same class (digit or letter). */
function changeCharAt(text: string, at: number): string {
  const c = text[at] as string;
  const other = /\d/.test(c)
    ? String((Number(c) + 1) % 10)
    : c === 'Z'
      ? 'A'
      : String.fromCharCode(c.charCodeAt(0) + 1);
  return text.slice(0, at) + other + text.slice(at + 1);
}

describe('makeReference', () => {
  it('writes PREFIX-K0000000042-CC with the kind letter and a zero-padded sequence', () => {
    expect(makeReference('MTP', 'deposit', 42)).toMatch(/^MTP-D0000000042-[0-9A-Z]{2}$/);
    expect(makeReference('MTP', 'withdrawal', 1)).toMatch(/^MTP-W0000000001-[0-9A-Z]{2}$/);
    expect(makeReference('BRK1', 'credit', 9_999_999_999)).toMatch(/^BRK1-C9999999999-[0-9A-Z]{2}$/);
  });

  it('is a pure function of its inputs', () => {
    expect(makeReference('MTP', 'deposit', 42)).toBe(makeReference('MTP', 'deposit', 42));
  });

  it('draws check characters from digits and letters without I and O', () => {
    const checks = new Set<string>();
    for (let n = 1; n <= 2000; n++) {
      const ref = makeReference('MTP', 'deposit', n);
      checks.add(ref.slice(-2));
      expect(ref.slice(-2)).toMatch(/^[0-9A-HJ-NP-Z]{2}$/);
    }
    // Different bodies get different checks (a check of two characters that rarely changed would be no check).
    expect(checks.size).toBeGreaterThan(500);
  });

  it('refuses a sequence out of range', () => {
    for (const bad of [0, -1, 1.5, 1e10, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => makeReference('MTP', 'deposit', bad)).toThrow(/sequence out of range/);
    }
  });
});

describe('commentFor', () => {
  it('is the reference for the main leg and the reference plus -R for the refund', () => {
    const ref = makeReference('MTP', 'withdrawal', 7);
    expect(commentFor(ref, 'main')).toBe(ref);
    expect(commentFor(ref, 'refund')).toBe(`${ref}-R`);
  });

  it('fits the longest reference (8-character prefix, refund) in both platforms comments', () => {
    const longest = commentFor(makeReference('ABCDEFGH', 'withdrawal', 9_999_999_999), 'refund');
    expect(longest.length).toBe(MAX_REFERENCE_CHARS);
    expect(longest.length).toBeLessThanOrEqual(31);
    expect(longest.length).toBeLessThanOrEqual(MT4_LIMITS.commentBytes);
    expect(longest.length).toBeLessThanOrEqual(MT5_LIMITS.commentChars);
  });
});

describe('parseComment', () => {
  it('round-trips every kind and leg over many sequences', () => {
    const random = new Random('reference-round-trip');
    const sequences = [1, 2, 9, 10, 99_999, 1_000_000_000, 9_999_999_999];
    for (let i = 0; i < 1000; i++) sequences.push(random.int(1, 9_999_999_999));
    for (const prefix of ['MTP', 'B', 'ABCDEFGH', 'X9']) {
      for (const sequence of sequences) {
        for (const kind of KINDS) {
          const ref = makeReference(prefix, kind, sequence);
          expect(parseComment(commentFor(ref, 'main'), prefix)).toEqual({ ref, leg: 'main', kind });
          if (kind === 'withdrawal') {
            expect(parseComment(commentFor(ref, 'refund'), prefix)).toEqual({ ref, leg: 'refund', kind });
          }
        }
      }
    }
  });

  it('refuses a refund suffix on anything but a withdrawal', () => {
    expect(parseComment(`${makeReference('MTP', 'deposit', 5)}-R`, 'MTP')).toBeNull();
    expect(parseComment(`${makeReference('MTP', 'credit', 5)}-R`, 'MTP')).toBeNull();
    expect(parseComment(`${makeReference('MTP', 'withdrawal', 5)}-R`, 'MTP')).not.toBeNull();
  });

  it('refuses another broker prefix', () => {
    const ref = makeReference('MTP', 'deposit', 42);
    expect(parseComment(ref, 'MTX')).toBeNull();
    expect(parseComment(ref, 'MT')).toBeNull();
    expect(parseComment(makeReference('MTPX', 'deposit', 42), 'MTP')).toBeNull();
  });

  it('refuses wrong check characters', () => {
    const ref = makeReference('MTP', 'deposit', 42);
    expect(parseComment(changeCharAt(ref, ref.length - 1), 'MTP')).toBeNull();
    expect(parseComment(changeCharAt(ref, ref.length - 2), 'MTP')).toBeNull();
  });

  it('refuses a reference whose body was changed (the check no longer matches)', () => {
    const ref = makeReference('MTP', 'deposit', 42);
    // A typo in a digit, or another kind letter with the old check.
    for (let at = 5; at <= 14; at++) expect(parseComment(changeCharAt(ref, at), 'MTP')).toBeNull();
    expect(parseComment(ref.replace('-D', '-W'), 'MTP')).toBeNull();
    expect(parseComment(ref.replace('-D', '-C'), 'MTP')).toBeNull();
  });

  it('refuses the wrong length or shape', () => {
    const ref = makeReference('MTP', 'deposit', 42);
    expect(parseComment(ref.replace('D0000000042', 'D000000042'), 'MTP')).toBeNull();
    expect(parseComment(ref.replace('D0000000042', 'D00000000042'), 'MTP')).toBeNull();
    expect(parseComment(`${ref}-X`, 'MTP')).toBeNull();
    expect(parseComment(`${ref} `, 'MTP')).toBeNull();
    expect(parseComment(` ${ref}`, 'MTP')).toBeNull();
    expect(parseComment(ref.toLowerCase(), 'mtp')).toBeNull();
    expect(parseComment(`${ref}-R-R`, 'MTP')).toBeNull();
    expect(parseComment('', 'MTP')).toBeNull();
    expect(parseComment('MTP-X0000000042-AB', 'MTP')).toBeNull();
  });

  it('does not take a dealer comment that merely looks like a reference', () => {
    let accepted = 0;
    for (let n = 0; n < 34 * 34; n++) {
      const a = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ'[n % 34];
      const b = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ'[Math.floor(n / 34)];
      if (parseComment(`MTP-D0000000042-${a}${b}`, 'MTP') !== null) accepted += 1;
    }
    expect(accepted).toBe(1);
  });
});
