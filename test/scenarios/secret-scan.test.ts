import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findAll } from '../../scenarios/invariants/audit.ts';
import { propertyParams } from '../property.ts';

describe('the secret scan', () => {
  it('finds exactly the needles a plain substring search finds', () => {
    const alphabet = fc.constantFrom('a', 'b', 'M', '#', '1', '!', ' ');
    const word = (min: number, max: number) =>
      fc.array(alphabet, { minLength: min, maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(word(0, 200), fc.array(word(4, 9), { maxLength: 12 }), (text, needles) => {
        const expected = new Set(needles.filter((n) => text.includes(n)));
        expect(findAll(text, needles)).toEqual(expected);
      }),
      propertyParams('secret scan', 300),
    );
  });

  it('finds a manager password in a long log and nothing else', () => {
    const log = `${'x'.repeat(100_000)} password=Manager#1 ${'y'.repeat(100_000)}`;
    expect([...findAll(log, ['Manager#1', 'Passw0rd!x', 'Manager#2'])]).toEqual(['Manager#1']);
  });
});
