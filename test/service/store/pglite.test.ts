import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../../kit/clock.ts';
import { migrate } from '../../../service/store/migrate.ts';
import { PgliteStore, pgliteClient } from '../../../service/store/pglite.ts';
import { SqlStore } from '../../../service/store/sql.ts';
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

/** A clock the test moves; a sleeper due wakes as a macrotask, as a real timer does. */
class ManualClock implements Clock {
  #nowMs = 0;
  #sleepers: { atMs: number; wake: () => void }[] = [];

  nowMs(): number {
    return this.#nowMs;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.#sleepers.push({ atMs: this.#nowMs + ms, wake }));
  }

  advance(ms: number): void {
    this.#nowMs += ms;
    const due = this.#sleepers.filter((s) => s.atMs <= this.#nowMs);
    this.#sleepers = this.#sleepers.filter((s) => s.atMs > this.#nowMs);
    for (const sleeper of due) setImmediate(sleeper.wake);
  }
}

/** Lets every macrotask queued so far run (PGlite's own work included). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('PgliteStore: one session, taken in turn', () => {
  let schemas = 0;
  const onClock = async (clock: ManualClock) => {
    const client = pgliteClient(db.db, { clock, preemptIdleMs: 250 });
    const schema = `turns_${++schemas}`;
    await migrate(client, schema);
    return new SqlStore(client, { schema }, async () => {});
  };
  const ids = (store: SqlStore) => store.transaction((tx) => tx.select('jobs', {})).then((r) => r.map((j) => j.id));

  it('rolls back a transaction idle on something outside the store while another waits, and runs it again once', async () => {
    const clock = new ManualClock();
    const store = await onClock(clock);
    let runs = 0;
    let inserted!: () => void;
    const holding = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    let answer!: () => void;
    const outside = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const holder = store.transaction(async (tx) => {
      runs++;
      await tx.insert('jobs', job('J-holder'));
      inserted();
      // Forbidden by the port, and what an abandoned transaction looks like: a wait on something else.
      if (runs === 1) await outside;
      return runs;
    });
    await holding;
    const waiter = store.transaction((tx) => tx.insert('jobs', job('J-waiter')));
    await settle();
    clock.advance(300);
    // The waiter gets the session, and commits, while the holder still waits.
    await waiter;
    expect(runs).toBe(1);
    answer();
    // The holder's first run was rolled back: run again, it inserts its row once.
    expect(await holder).toBe(2);
    expect(await ids(store)).toEqual(['J-waiter', 'J-holder']);
  });
});
