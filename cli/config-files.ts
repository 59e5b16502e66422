import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { MtproofError } from '../kit/errors.ts';

/**
 * Reads a YAML or JSON file (YAML is a superset of JSON), with the SHA-256 of its bytes. Unreadable or
 * unparsable: MTP_CONFIG_UNREADABLE.
 */
export async function readConfigFile(path: string, what: string): Promise<{ value: unknown; sha256: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new MtproofError('MTP_CONFIG_UNREADABLE', `cannot read ${what} ${path}: ${reason}`);
  }
  const sha256 = createHash('sha256').update(text).digest('hex');
  try {
    return { value: parseYaml(text, { prettyErrors: true }), sha256 };
  } catch (error) {
    throw new MtproofError(
      'MTP_CONFIG_UNREADABLE',
      `${what} ${path} is not valid YAML or JSON: ${(error as Error).message}`,
    );
  }
}
