import { describe, expect, it } from 'vitest';
import { ERROR_CODES, formatPath, MtproofError } from '../../kit/errors.ts';

describe('formatPath', () => {
  it('formats a zod-style path with indexes in brackets and keys joined by dots', () => {
    expect(formatPath(['servers', 1, 'logins', 'from'])).toBe('servers[1].logins.from');
  });

  it('formats the empty path as (root)', () => {
    expect(formatPath([])).toBe('(root)');
  });

  it('formats a single key, a leading index and consecutive indexes', () => {
    expect(formatPath(['steps'])).toBe('steps');
    expect(formatPath([0, 'name'])).toBe('[0].name');
    expect(formatPath(['matrix', 2, 3])).toBe('matrix[2][3]');
  });
});

describe('MtproofError', () => {
  it('keeps its code, issues and name and is an Error', () => {
    const issues = [{ path: 'servers[0].host', message: 'required' }];
    const error = new MtproofError('MTP_CONFIG_INVALID', 'config is invalid', issues);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(MtproofError);
    expect(error.name).toBe('MtproofError');
    expect(error.code).toBe('MTP_CONFIG_INVALID');
    expect(error.issues).toEqual(issues);
  });

  it('lists each issue with its path in the message', () => {
    const error = new MtproofError('MTP_CONFIG_INVALID', 'config is invalid', [
      { path: formatPath(['servers', 1, 'logins', 'from']), message: 'must be <= to' },
      { path: '--steps', message: 'must be a positive integer' },
      { path: formatPath([]), message: 'unknown key "extra"' },
    ]);
    expect(error.message).toBe(
      [
        'config is invalid',
        '  - servers[1].logins.from: must be <= to',
        '  - --steps: must be a positive integer',
        '  - (root): unknown key "extra"',
      ].join('\n'),
    );
  });

  it('uses the bare message when there are no issues', () => {
    const error = new MtproofError('MTP_CLI_BAD_FLAG', 'bad --seed');
    expect(error.message).toBe('bad --seed');
    expect(error.issues).toEqual([]);
  });

  it('describes every code in the registry', () => {
    for (const [code, description] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^MTP_[A-Z0-9_]+$/);
      expect(description.length).toBeGreaterThan(0);
    }
    expect(Object.keys(ERROR_CODES)).toContain('MTP_CONFIG_INVALID');
  });
});
