import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MtproofError } from '../kit/errors.ts';
import { type BrokerConfigInput, DEFAULT_BROKER_CONFIG, parseBrokerConfig } from '../service/index.ts';

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

/**
 * The broker config a command runs with: the file at `path` (read from `cwd`, named as given), or the embedded
 * default; parsed, as given (a saved counterexample inlines it), and its SHA-256.
 */
export async function readBroker(path: string | undefined, cwd = process.cwd()) {
  if (path === undefined) {
    const text = JSON.stringify(DEFAULT_BROKER_CONFIG);
    return {
      config: parseBrokerConfig(DEFAULT_BROKER_CONFIG, 'embedded broker config'),
      configInput: DEFAULT_BROKER_CONFIG as BrokerConfigInput,
      configPath: null,
      sha256: createHash('sha256').update(text).digest('hex'),
    };
  }
  // Shown as given; read from the command's working folder.
  const { value, sha256 } = await readConfigFile(cwd === process.cwd() ? path : resolve(cwd, path), 'broker config');
  return { config: parseBrokerConfig(value, path), configInput: value as BrokerConfigInput, configPath: path, sha256 };
}
