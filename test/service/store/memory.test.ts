import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../../kit/scheduler.ts';
import { MemoryStore } from '../../../service/store/memory.ts';
import { StoreConflictError, StoreConstraintError, type Where } from '../../../service/store/port.ts';
import type { TransferRow } from '../../../service/store/schema.ts';
import { propertyParams } from '../../property.ts';
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

  it('refuses a row that holds something other than data (a function), storing nothing', async () => {
    const store = new MemoryStore();
    const bad = { ...transfer('R1'), lastError: (() => 'not data') as unknown as string };
    await expect(store.transaction((tx) => tx.insert('transfers', bad))).rejects.toThrow();
    expect(await store.transaction((tx) => tx.get('transfers', 'R1'))).toBeUndefined();
  });

  it('finds by an indexed column exactly the rows, in the order, a scan of the table finds', async () => {
    // Transfers are indexed by state (and pspRef, a unique column), not by serverId or amount: every mix.
    const STATES = ['accepted', 'posting', 'done'] as const;
    const fields = {
      state: fc.constantFrom(...STATES),
      pspRef: fc.constantFrom(null, 'P1', 'P2', 'P3'),
      serverId: fc.constantFrom('a', 'b'),
      amountCents: fc.constantFrom(1, 2),
    };
    // Few rows, each write moving its state: rows change places in the index often.
    const write = fc.record({
      ref: fc.constantFrom('R1', 'R2', 'R3', 'R4'),
      patch: fc.record(fields, { requiredKeys: ['state'] }),
    });
    const where = fc.oneof(fc.record({ state: fields.state }), fc.record(fields, { requiredKeys: [] }));
    const step = fc.record({ writes: fc.array(write, { maxLength: 3 }), commit: fc.boolean(), where });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const store = new MemoryStore();
        for (const { writes, commit, where } of steps) {
          await store
            .transaction(async (tx) => {
              for (const { ref, patch } of writes) {
                if ((await tx.get('transfers', ref)) === undefined) await tx.insert('transfers', transfer(ref, patch));
                else await tx.update('transfers', ref, patch);
              }
              // Within the transaction: its own writes, and the committed rows around them.
              const scanned = (await tx.select('transfers', {})).filter((row) =>
                Object.entries(where).every(([column, value]) => row[column as keyof TransferRow] === value),
              );
              expect(await tx.select('transfers', where as Where<'transfers'>)).toEqual(scanned);
              expect(await tx.count('transfers', where as Where<'transfers'>)).toBe(scanned.length);
              if (!commit) throw new RolledBack();
            })
            .catch((error: unknown) => {
              // A duplicate pspRef is refused, a step rolled back on purpose: the next step goes on.
              if (!(error instanceof RolledBack || error instanceof StoreConstraintError)) throw error;
            });
        }
      }),
      propertyParams('memory store index', 300),
    );
  });
});

class RolledBack extends Error {}
