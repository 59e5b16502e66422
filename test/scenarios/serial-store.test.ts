import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../kit/errors.ts';
import { Scheduler } from '../../kit/scheduler.ts';
import { mtproofIntegration } from '../../scenarios/integrations/mtproof.ts';
import { type HarnessStores, openHarnessStores, SerialStore } from '../../scenarios/serial-store.ts';
import { MemoryStore } from '../../service/store/memory.ts';
import type { Store, Tx } from '../../service/store/port.ts';
import { PostgresStore } from '../../service/store/postgres.ts';
import type { SqlStore } from '../../service/store/sql.ts';
import { job } from '../service/store/store.contract.ts';
import { allPass, incident, run, verdicts } from './helpers.ts';

/**
 * The harness on a real database: SerialStore runs transactions one at a time, first come first served,
 * each registered as the scheduler's external work; with it a scenario gives the same trace on PGlite (and
 * Postgres, when DATABASE_URL is set) as on the memory store.
 */

const URL = process.env.DATABASE_URL;

/** A store whose transactions take real time (as a database's do) and log when they start and end. */
function slowStore(log: string[]): Store {
  const inner = new MemoryStore();
  return {
    transaction: async <T>(fn: (tx: Tx) => Promise<T>) => {
      log.push('begin');
      const value = await inner.transaction(fn);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push('end');
      return value;
    },
    close: () => inner.close(),
  };
}

describe('SerialStore', () => {
  it('runs transactions one at a time, in the order they were asked for', async () => {
    const log: string[] = [];
    const store = new SerialStore(slowStore(log));
    const results = await Promise.all(
      ['A', 'B', 'C'].map((id) =>
        store.transaction(async (tx) => {
          log.push(id);
          await tx.insert('jobs', job(id));
          return id;
        }),
      ),
    );
    expect(results).toEqual(['A', 'B', 'C']);
    expect(log).toEqual(['begin', 'A', 'end', 'begin', 'B', 'end', 'begin', 'C', 'end']);
  });

  it('goes on after a transaction that fails, which fails alone', async () => {
    const store = new SerialStore(new MemoryStore());
    const failing = store.transaction(async () => {
      throw new Error('handler bug');
    });
    const next = store.transaction((tx) => tx.insert('jobs', job('J1')));
    await expect(failing).rejects.toThrow('handler bug');
    await next;
    expect(await store.transaction((tx) => tx.count('jobs', {}))).toBe(1);
  });

  it("holds the run's virtual time while a transaction is in flight", async () => {
    for (const attached of [true, false]) {
      const scheduler = new Scheduler({ startMs: 0 });
      const log: string[] = [];
      const store = new SerialStore(slowStore([]));
      if (attached) store.attach((work) => scheduler.external(work));
      scheduler.spawn('writer', async (p) => {
        await store.transaction((tx) => tx.insert('jobs', job('J1')));
        log.push(`committed at ${p.nowMs()}`);
      });
      scheduler.spawn('ticker', async (p) => {
        await p.sleep(1);
        log.push(`tick at ${p.nowMs()}`);
      });
      await scheduler.run();
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Detached (the control), the tick comes first: the commit lands whenever the store answers.
      expect([attached, log]).toEqual([
        attached,
        attached ? ['committed at 0', 'tick at 1'] : ['tick at 1', 'committed at 1'],
      ]);
    }
  });

  it('closes the inner store after the transactions asked for have settled', async () => {
    const log: string[] = [];
    const inner = slowStore(log);
    const store = new SerialStore({ ...inner, close: async () => void log.push('closed') });
    const pending = store.transaction((tx) => tx.count('jobs', {}));
    await store.close();
    await pending;
    expect(log).toEqual(['begin', 'end', 'closed']);
  });
});

describe('harness stores', () => {
  it('uses the integration default for memory', async () => {
    const stores = await openHarnessStores('memory');
    expect(stores.factory).toBeUndefined();
    await stores.close();
  });

  it('refuses postgres without DATABASE_URL, naming it', async () => {
    const error = await openHarnessStores('postgres', { databaseUrl: undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MtproofError);
    expect((error as MtproofError).code).toBe('MTP_STORE_UNAVAILABLE');
    expect((error as Error).message).toContain('DATABASE_URL');
  });

  it('refuses a postgres that does not answer, naming DATABASE_URL', async () => {
    const error = await openHarnessStores('postgres', { databaseUrl: 'postgres://u:pw@127.0.0.1:1/x' }).catch(
      (e: unknown) => e,
    );
    expect((error as MtproofError).code).toBe('MTP_STORE_UNAVAILABLE');
    expect((error as Error).message).toContain('DATABASE_URL');
    expect((error as Error).message).not.toContain(':pw@');
  });
});

/** The scenario runs of this file on one database kind, each on a fresh store. */
function describeOnDatabase(kind: 'pglite' | 'postgres') {
  describe(`a scenario on ${kind}`, () => {
    let stores: HarnessStores;

    beforeAll(async () => {
      stores = await openHarnessStores(kind, { databaseUrl: URL });
    }, 60_000);

    afterAll(async () => {
      await stores?.close();
    });

    it('gives each run a fresh, empty store, removed when the run is over', async () => {
      const factory = stores.factory as () => Promise<Store>;
      const first = await factory();
      await first.transaction((tx) => tx.insert('jobs', job('J1')));
      const second = await factory();
      expect(await second.transaction((tx) => tx.count('jobs', {}))).toBe(0);
      await Promise.all([first.close(), second.close()]);
      if (kind === 'postgres') {
        const { schema } = first as SqlStore;
        const admin = new pg.Pool({ connectionString: URL, max: 1 });
        try {
          expect((await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rows).toEqual([]);
        } finally {
          await admin.end();
        }
        // The run's connections closed with it: what the server kept for them (the statements each prepared,
        // every run's its own) goes with them, rather than piling up on connections shared by all runs.
        expect(first).toBeInstanceOf(PostgresStore);
        expect([(first as PostgresStore).pool.ended, (first as PostgresStore).pool.totalCount]).toEqual([true, 0]);
      }
    });

    it.each(['01', '04'])('gives incident %s the trace and verdicts it has on the memory store', async (which) => {
      const script = incident(which);
      const memory = await run(script, mtproofIntegration(), { detail: false });
      const database = await run(script, mtproofIntegration({ store: stores.factory }), { detail: false });
      expect(verdicts(database.report)).toEqual(allPass(script.expect));
      expect(database.report.traceHash).toBe(memory.report.traceHash);
      expect(database.observation.integration.transfers).toEqual(memory.observation.integration.transfers);
    });
  });
}

describeOnDatabase('pglite');
describe.skipIf(URL === undefined)('on Postgres (DATABASE_URL)', () => describeOnDatabase('postgres'));
