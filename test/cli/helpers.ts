import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { main } from '../../cli/main.ts';

/** Shared fixtures for the CLI tests: the command run in process, the examples folder, scratch files. */

export const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

/** Runs `mtproof ...argv` in process and collects its exit code and output. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to a fresh temporary file (removed after the test file) and returns its path. */
export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-cli-'));
  scratch.push(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
