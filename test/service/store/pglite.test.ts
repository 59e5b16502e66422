import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../../service/store/migrate.ts';
import { PgliteStore, pgliteClient } from '../../../service/store/pglite.ts';
import { describeStoreContract, job } from './store.contract.ts';

/**
 * The Store contract on PGlite (in memory). PGlite takes a second or two to start: one database for the
 * file, and every test gets a store on a fresh schema of it.
 */

let db: PgliteStore;
let schemas = 0;

beforeAll(async () => {
  db = await PgliteStore.open('memory');
}, 60_000);

afterAll(async () => {
  await db?.close();
});

describeStoreContract('PgliteStore', () => db.sibling(`contract_${++schemas}`));

describe('PgliteStore on disk', () => {
  it('keeps what it committed in its folder across a close and a reopen (migrating once)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtproof-pglite-'));
    try {
      const first = await PgliteStore.open(join(dir, 'db'));
      await first.transaction((tx) => tx.insert('jobs', job('J1')));
      expect(await first.transaction((tx) => tx.nextValue('refs'))).toBe(1);
      await first.close();
      const again = await PgliteStore.open(join(dir, 'db'));
      try {
        expect(await again.transaction((tx) => tx.get('jobs', 'J1'))).toEqual(job('J1'));
        expect(await again.transaction((tx) => tx.nextValue('refs'))).toBe(2);
        expect(await migrate(pgliteClient(again.db, {}), 'public')).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
