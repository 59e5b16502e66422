import { describe, expect, it } from 'vitest';
import { resultJson } from '../../reports/json.ts';
import { failingResult, passingResult } from './fixtures.ts';

describe('resultJson', () => {
  it('round-trips a failing result with its counterexample, timeline and series', () => {
    const result = failingResult();
    expect(JSON.parse(resultJson(result))).toEqual(result);
  });

  it('round-trips a passing result (no counterexample, no shard, no config path)', () => {
    const result = { ...passingResult(), config: { path: null, sha256: 'abc' } };
    expect(JSON.parse(resultJson(result))).toEqual(result);
  });

  it('keeps the keys in the order of the object, indents by two spaces and ends with a newline', () => {
    const result = failingResult();
    const text = resultJson(result);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.split('\n')[1]).toBe('  "tool": {');
    expect(Object.keys(JSON.parse(text))).toEqual(Object.keys(result));
    const topLevel = [...text.matchAll(/^ {2}"([^"]+)":/gm)].map((m) => m[1]);
    expect(topLevel).toEqual(Object.keys(result));
  });
});
