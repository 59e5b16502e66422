import type { Tx } from './port.ts';

/** `PREFIX000…N` from a committed sequence: ids are never reused, and sort in creation order. */
export async function nextId(tx: Tx, sequence: string, prefix: string, width: number): Promise<string> {
  return `${prefix}${String(await tx.nextValue(sequence)).padStart(width, '0')}`;
}
