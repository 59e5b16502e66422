import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** The service README's example runs as documented and prints what the README says it prints. */
describe('service README example', () => {
  it('posts the deposit once through the lost answer and prints what the README shows', async () => {
    const root = path.join(import.meta.dirname, '../..');
    const example = path.join(root, 'examples/service-deposit.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', example], {
      cwd: root,
      timeout: 60_000,
    });
    const readme = await readFile(path.join(root, 'service/README.md'), 'utf8');
    const printed = /It prints:\n\n```\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(printed).toBeDefined();
    expect(stdout).toBe(printed);
    expect(stdout).toContain('on the server 1 time(s)');
  }, 60_000);
});
