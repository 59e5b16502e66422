import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import { dropSchema, migrate } from '../../../service/store/migrate.ts';
import { PostgresStore, poolClient } from '../../../service/store/postgres.ts';
import type { JobRow } from '../../../service/store/schema.ts';
import { type SqlClient, SqlStore } from '../../../service/store/sql.ts';
import { describeStoreContract, job } from './store.contract.ts';

/**
 * The Store contract on a real Postgres server (DATABASE_URL; CI always sets it), each test on a fresh
 * schema of this file's own, dropped at the end; and what only a shared server shows: two store instances
 * (two service workers) on one database.
 */

const URL = process.env.DATABASE_URL;
const T0 = 1_700_000_000_000;
const PREFIX = `mtp_pgtest_${process.pid}`;
let schemas = 0;
const used: string[] = [];

function freshSchema(): string {
  const schema = `${PREFIX}_${++schemas}`;
  used.push(schema);
  return schema;
}

afterAll(async () => {
  if (URL === undefined || used.length === 0) return;
  const pool = new pg.Pool({ connectionString: URL, max: 1 });
  try {
    for (const schema of used) await dropSchema(poolClient(pool), schema);
  } finally {
    await pool.end();
  }
});

describe.skipIf(URL === undefined)('PostgresStore (DATABASE_URL)', () => {
  describeStoreContract('PostgresStore', () => PostgresStore.connect(URL as string, { schema: freshSchema() }));

  describe('two stores on one database (two workers)', () => {
    const pair = async () => {
      const schema = freshSchema();
      const a = await PostgresStore.connect(URL as string, { schema });
      const b = await PostgresStore.connect(URL as string, { schema });
      return { a, b, close: () => Promise.all([a.close(), b.close()]) };
    };

    it('claim disjoint jobs, skipping the ones the other holds locked, until every job is claimed once', async () => {
      const { a, b, close } = await pair();
      try {
        await a.transaction(async (tx) => {
          for (let i = 0; i < 24; i++)
            await tx.insert('jobs', job(`J${String(i).padStart(2, '0')}`, { runAtMs: T0 + i }));
        });
        const claimsOf = async (store: PostgresStore, owner: string) => {
          const mine: string[] = [];
          for (let round = 0; round < 12; round++) {
            const jobs = await store.transaction((tx) => tx.claimJobs(T0 + 100, owner, 60_000, 3));
            if (jobs.length === 0) break;
            mine.push(...jobs.map((j) => j.id));
          }
          return mine;
        };
        const [fromA, fromB] = await Promise.all([claimsOf(a, 'w-a'), claimsOf(b, 'w-b')]);
        const all = [...fromA, ...fromB].sort();
        expect(new Set(all).size).toBe(all.length);
        expect(all).toHaveLength(24);
        expect(fromA.length).toBeGreaterThan(0);
        expect(fromB.length).toBeGreaterThan(0);
        const rows = await a.transaction((tx) => tx.select('jobs', {}, { orderBy: 'id' }));
        for (const row of rows) expect(row.leaseOwner).toBe(fromA.includes(row.id) ? 'w-a' : 'w-b');
      } finally {
        await close();
      }
    });

    it('skips rows the other worker holds: a claim made while the other transaction is open gets other jobs', async () => {
      const { a, b, close } = await pair();
      try {
        await a.transaction(async (tx) => {
          for (let i = 0; i < 4; i++) await tx.insert('jobs', job(`J${i}`, { runAtMs: T0 + i }));
        });
        let release!: () => void;
        const hold = new Promise<void>((resolve) => {
          release = resolve;
        });
        let claimed!: (jobs: JobRow[]) => void;
        const firstClaim = new Promise<JobRow[]>((resolve) => {
          claimed = resolve;
        });
        const holder = a.transaction(async (tx) => {
          const jobs = await tx.claimJobs(T0 + 100, 'w-a', 60_000, 2);
          claimed(jobs);
          await hold;
          return jobs.map((j) => j.id);
        });
        expect((await firstClaim).map((j) => j.id)).toEqual(['J0', 'J1']);
        // b does not wait for a's locks: it takes the next two at once.
        const second = await b.transaction((tx) => tx.claimJobs(T0 + 100, 'w-b', 60_000, 4));
        expect(second.map((j) => j.id)).toEqual(['J2', 'J3']);
        release();
        expect(await holder).toEqual(['J0', 'J1']);
      } finally {
        await close();
      }
    });

    it('commit every one of many concurrent transactions that take sequence values, with no value twice', async () => {
      const { a, b, close } = await pair();
      try {
        // 2 stores × 8 at once, each a transaction shaped like accepting a deposit: read, take a value, insert.
        const accept = (store: PostgresStore, i: number) =>
          store.transaction(async (tx) => {
            await tx.get('jobs', `J-${i - 1}`);
            const n = await tx.nextValue('transfers');
            await tx.insert('jobs', job(`J-${i}`, { subject: `MTP-D${n}`, attempts: n }));
            return n;
          });
        const values = await Promise.all(
          Array.from({ length: 16 }, async (_, lane) => {
            const mine: number[] = [];
            for (let k = 0; k < 6; k++) mine.push(await accept(lane % 2 === 0 ? a : b, lane * 100 + k));
            return mine;
          }),
        );
        // A value taken by a run that lost a conflict is skipped (a Postgres sequence), never handed out twice.
        const all = values.flat();
        expect(new Set(all).size).toBe(96);
        expect(Math.min(...all)).toBeGreaterThanOrEqual(1);
        expect(await a.transaction((tx) => tx.count('jobs', {}))).toBe(96);
      } finally {
        await close();
      }
    });

    it('rerun a transaction that loses a serialization conflict instead of failing it', async () => {
      const { a, b, close } = await pair();
      try {
        await a.transaction(async (tx) => {
          await tx.insert('jobs', job('J1'));
          await tx.insert('jobs', job('J2'));
        });
        // Write skew: each reads both rows and bumps one; only serializable isolation sees the conflict.
        let runs = 0;
        let arrived = 0;
        let open!: () => void;
        const both = new Promise<void>((resolve) => {
          open = resolve;
        });
        const bump = (store: PostgresStore, id: string) =>
          store.transaction(async (tx) => {
            runs++;
            const total = ((await tx.get('jobs', 'J1'))?.attempts ?? 0) + ((await tx.get('jobs', 'J2'))?.attempts ?? 0);
            if (++arrived === 2) open();
            await Promise.race([both, new Promise((resolve) => setTimeout(resolve, 500))]);
            await tx.update('jobs', id, { attempts: total + 1 });
          });
        await Promise.all([bump(a, 'J1'), bump(b, 'J2')]);
        // At least one ran again (Postgres may fail both of a conflicting pair); neither failed.
        expect(runs).toBeGreaterThanOrEqual(3);
        const rows = await a.transaction((tx) => tx.select('jobs', {}, { orderBy: 'id' }));
        // Serially: the first sets its row to 1, the second sees that and sets its own to 2.
        expect(rows.map((r) => r.attempts).sort()).toEqual([1, 2]);
      } finally {
        await close();
      }
    });
  });

  it("sends an idle worker's poll (a claim that finds nothing, then the next job's time) as one statement", async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: URL, max: 1 });
    const sent: string[] = [];
    const inner = poolClient(pool);
    const counting: SqlClient = {
      connect: async () => {
        const connection = await inner.connect();
        return {
          ...connection,
          query: (query) => {
            sent.push(query.text.split(' ')[0] as string);
            return connection.query(query);
          },
        };
      },
      end: () => inner.end(),
    };
    try {
      await migrate(inner, schema);
      const store = new SqlStore(counting, { schema }, async () => {});
      await store.transaction((tx) => tx.insert('jobs', job('J1', { runAtMs: T0 + 1_000 })));
      sent.length = 0;
      const poll = await store.transaction(async (tx) => {
        const [claimed] = await tx.claimJobs(T0, 'w1', 60_000, 1);
        return { claimed, nextAtMs: claimed === undefined ? await tx.nextJobAtMs() : null };
      });
      expect(poll).toEqual({ claimed: undefined, nextAtMs: T0 + 1_000 });
      expect(sent).toEqual(['SELECT']);
      // A due job: the claim begins the transaction, serializable.
      sent.length = 0;
      const [claimed] = await store.transaction((tx) => tx.claimJobs(T0 + 1_000, 'w1', 60_000, 1));
      expect(claimed?.id).toBe('J1');
      expect(sent).toEqual(['SELECT', 'BEGIN', 'WITH', 'COMMIT']);
    } finally {
      await pool.end();
    }
  });

  it('says MTP_STORE_UNAVAILABLE, without the password, when the server refuses', async () => {
    const error = await PostgresStore.connect('postgres://postgres:secret@127.0.0.1:1/none', {
      connectTimeoutMs: 2_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MtproofError);
    expect((error as MtproofError).code).toBe('MTP_STORE_UNAVAILABLE');
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect((error as Error).message).not.toContain('secret');
  });
});
