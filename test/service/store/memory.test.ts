import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../../kit/scheduler.ts';
import { MemoryStore } from '../../../service/store/memory.ts';
import { StoreConflictError } from '../../../service/store/port.ts';
import { describeStoreContract, job, transfer } from './store.contract.ts';

describeStoreContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore', () => {
  it('a killed process loses exactly its uncommitted work', async () => {
    const scheduler = new Scheduler({ startMs: 0 });
    const store = new MemoryStore();
    let reachedSleep = false;
    const worker = scheduler.spawn('worker', async (proc) => {
      await store.transaction((tx) => tx.insert('transfers', transfer('R-committed')));
      await proc.sleep(1);
      await store.transaction(async (tx) => {
        await tx.insert('transfers', transfer('R-uncommitted'));
        await tx.update('transfers', 'R-committed', { state: 'posting' });
        await tx.nextValue('refs');
        reachedSleep = true;
        await proc.sleep(10);
      });
      throw new Error('the killed process went on after its transaction');
    });
    scheduler.spawn('killer', async (proc) => {
      await proc.sleep(5);
      scheduler.kill(worker);
    });
    await scheduler.run();

    expect(reachedSleep).toBe(true);
    expect(worker.state).toBe('killed');
    const after = await store.transaction(async (tx) => ({
      committed: await tx.get('transfers', 'R-committed'),
      uncommitted: await tx.get('transfers', 'R-uncommitted'),
      next: await tx.nextValue('refs'),
    }));
    expect(after.committed).toEqual(transfer('R-committed'));
    expect(after.uncommitted).toBeUndefined();
    expect(after.next).toBe(1);
    // The dead transaction holds nothing: its keys are free for anyone.
    await store.transaction((tx) => tx.insert('transfers', transfer('R-uncommitted')));
  });

  it('counts committed transactions only', async () => {
    const store = new MemoryStore();
    await store.transaction((tx) => tx.insert('jobs', job('J1')));
    await store
      .transaction(async (tx) => {
        await tx.insert('jobs', job('J2'));
        throw new Error('abort');
      })
      .catch(() => {});
    expect(store.commits).toBe(1);
  });

  it('gives up with StoreConflictError after rerunning a transaction that always conflicts', async () => {
    const store = new MemoryStore();
    await store.transaction((tx) => tx.insert('jobs', job('J1')));
    let runs = 0;
    const error = await store
      .transaction(async (tx) => {
        runs += 1;
        const row = await tx.get('jobs', 'J1');
        // Someone else commits a change to the row this transaction read, every time.
        await store.transaction((other) => other.update('jobs', 'J1', { attempts: (row?.attempts ?? 0) + runs }));
        await tx.update('jobs', 'J1', { lastError: 'x' });
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(runs).toBeGreaterThan(1);
    expect((await store.transaction((tx) => tx.get('jobs', 'J1')))?.lastError).toBeNull();
  });
});
