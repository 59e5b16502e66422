import type { CertifyResult } from '../scenarios/result.ts';

/**
 * The result as JSON: keys in the object's own order (the result is built in a fixed order, so two runs of
 * the same certification diff cleanly), 2-space indent, a trailing newline as every text file should have.
 */
export function resultJson(result: CertifyResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}
