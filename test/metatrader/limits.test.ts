import { describe, expect, it } from 'vitest';
import { cutMt4Comment, cutMt5Comment, MT4_LIMITS, MT5_LIMITS, mt5PasswordProblem } from '../../metatrader/index.ts';

describe('MT4 comment cut', () => {
  it('cuts an MT4 comment at 31 bytes and maps non-Latin-1 characters to ?', () => {
    const cut = cutMt4Comment(`Привет ${'a'.repeat(40)}`);
    expect(cut).toBe(`?????? ${'a'.repeat(24)}`);
    expect(cut).toHaveLength(31);
    expect(MT4_LIMITS.commentBytes).toBe(31);
  });

  it('keeps Latin-1 characters such as é and £ as they are', () => {
    expect(cutMt4Comment('café £5')).toBe('café £5');
  });

  it('turns a character outside the BMP into one ?, not two', () => {
    expect(cutMt4Comment('deposit 😀 ok')).toBe('deposit ? ok');
  });

  it('leaves a comment of 31 characters or fewer unchanged', () => {
    const exact = 'x'.repeat(31);
    expect(cutMt4Comment(exact)).toBe(exact);
    expect(cutMt4Comment('')).toBe('');
  });

  it('never yields a character above 0xFF or more than 31 characters', () => {
    const samples = ['', 'a', '€'.repeat(50), `${'😀'.repeat(20)}x`, 'ß'.repeat(32), 'mix€ed ✓ 日本 ü'];
    for (const s of samples) {
      const cut = cutMt4Comment(s);
      expect(cut.length).toBeLessThanOrEqual(31);
      expect([...cut].every((ch) => (ch.codePointAt(0) ?? 0) <= 0xff)).toBe(true);
    }
  });
});

describe('MT5 comment cut', () => {
  it('keeps the first 31 UTF-16 code units', () => {
    expect(cutMt5Comment('b'.repeat(40))).toBe('b'.repeat(31));
    expect(MT5_LIMITS.commentChars).toBe(31);
  });

  it('never splits a surrogate pair when cutting an MT5 comment', () => {
    // The pair sits at units 30–31: keeping 31 units would leave a lone high surrogate.
    expect(cutMt5Comment(`${'a'.repeat(30)}😀tail`)).toBe('a'.repeat(30));
    // The pair sits at units 29–30: it fits entirely and is kept.
    expect(cutMt5Comment(`${'a'.repeat(29)}😀tail`)).toBe(`${'a'.repeat(29)}😀`);
  });

  it('keeps non-Latin text, since MT5 strings are UTF-16', () => {
    expect(cutMt5Comment('Пополнение счёта')).toBe('Пополнение счёта');
  });

  it('never ends a cut in a high surrogate', () => {
    for (let pad = 0; pad < 40; pad++) {
      const cut = cutMt5Comment(`${'a'.repeat(pad)}${'😀'.repeat(20)}`);
      expect(cut.length).toBeLessThanOrEqual(31);
      const last = cut.charCodeAt(cut.length - 1);
      expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
    }
  });
});

describe('MT5 limits', () => {
  it('stores Web API lengths as array size minus the terminator', () => {
    expect(MT5_LIMITS.nameChars).toBe(127);
    expect(MT5_LIMITS.companyChars).toBe(63);
    expect(MT5_LIMITS.addressChars).toBe(127);
    expect(MT5_LIMITS.commentUserChars).toBe(63);
  });

  it('caps one balance operation at 1 000 000 000 and leverage at 1–500', () => {
    expect(MT5_LIMITS.balanceAmountMax).toBe(1_000_000_000);
    expect([MT5_LIMITS.leverageMin, MT5_LIMITS.leverageMax]).toEqual([1, 500]);
  });
});

describe('MT5 password rule', () => {
  it('accepts 8–16 characters with lower, upper, digit and special character', () => {
    expect(mt5PasswordProblem('Passw0rd!')).toBeNull();
    expect(mt5PasswordProblem('Aa1!Aa1!')).toBeNull();
    expect(mt5PasswordProblem('Aa1!Aa1!Aa1!Aa1!')).toBeNull();
  });

  it.each([
    ['Aa1!Aa1', 'shorter than 8 characters'],
    ['Aa1!Aa1!Aa1!Aa1!A', 'longer than 16 characters'],
    ['PASSW0RD!', 'no lower-case letter'],
    ['passw0rd!', 'no upper-case letter'],
    ['Password!', 'no digit'],
    ['Password1', 'no special character'],
  ])('rejects %s: %s', (pw, reason) => {
    expect(mt5PasswordProblem(pw)).toBe(reason);
  });
});
