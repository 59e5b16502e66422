import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import { dropSchema, migrate } from '../../../service/store/migrate.ts';
import { PostgresStore, poolClient } from '../../../service/store/postgres.ts';
import type { JobRow } from '../../../service/store/schema.ts';
import { type SqlClient, type SqlQuery, type SqlResult, SqlStore } from '../../../service/store/sql.ts';
import { describeStoreContract, job, transfer } from './store.contract.ts';

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

/** `inner`, every statement passing through `watch`, which sends it on. */
function watched(
  inner: SqlClient,
  watch: (query: SqlQuery, send: (query: SqlQuery) => Promise<SqlResult>) => Promise<SqlResult>,
): SqlClient {
  return {
    connect: async () => {
      const connection = await inner.connect();
      return { ...connection, query: (query) => watch(query, connection.query) };
    },
    end: () => inner.end(),
  };
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
        // Which worker gets how many depends on timing (the next test pins the skipping itself).
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
    const counting = watched(inner, (query, send) => {
      sent.push(query.text.split(' ')[0] as string);
      return send(query);
    });
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

  it('sends BEGIN with the first statement: a deposit-shaped transaction is five round trips', async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: URL, max: 1, pipeline: true });
    const inner = poolClient(pool);
    // A round trip: a statement sent while no other is waiting for its answer.
    let inFlight = 0;
    const trips: string[][] = [];
    const counting = watched(inner, (query, send) => {
      const word = query.text.split(' ')[0] as string;
      if (inFlight === 0) trips.push([word]);
      else trips.at(-1)?.push(word);
      inFlight++;
      return send(query).finally(() => inFlight--);
    });
    try {
      await migrate(inner, schema);
      const store = new SqlStore(counting, { schema }, async () => {});
      await store.transaction((tx) => tx.nextValue('transfers'));
      trips.length = 0;
      const deposit = () =>
        store.transaction(async (tx) => {
          const [existing] = await tx.select('transfers', { pspRef: 'PSP-1' });
          if (existing !== undefined) return existing.ref;
          const ref = `MTP-D${await tx.nextValue('transfers')}`;
          await tx.insert('transfers', transfer(ref, { pspRef: 'PSP-1' }));
          await tx.insert('jobs', job(`J-${ref}`, { subject: ref }));
          return ref;
        });
      expect(await deposit()).toBe('MTP-D2');
      expect(trips).toEqual([['BEGIN', 'SELECT'], ['SELECT'], ['INSERT'], ['INSERT'], ['COMMIT']]);
      // The same key again: the read answers, nothing is written.
      trips.length = 0;
      expect(await deposit()).toBe('MTP-D2');
      expect(trips).toEqual([['BEGIN', 'SELECT'], ['COMMIT']]);
    } finally {
      await pool.end();
    }
  });

  it('discards a connection the server drops mid-transaction: nothing of it commits, the next one gets a fresh one', async () => {
    const name = `mtp_drop_${process.pid}`;
    const store = await PostgresStore.connect(`${URL}?application_name=${name}`, {
      schema: freshSchema(),
      maxConnections: 1,
    });
    const admin = new pg.Pool({ connectionString: URL, max: 1 });
    try {
      const failed = await store
        .transaction(async (tx) => {
          await tx.insert('jobs', job('J1'));
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
            name,
          ]);
          await tx.insert('jobs', job('J2'));
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(failed).toBeInstanceOf(Error);
      // The only connection of the pool was the dropped one: the next transaction works on a new one.
      await store.transaction((tx) => tx.insert('jobs', job('J3')));
      const ids = await store.transaction((tx) => tx.select('jobs', {}, { orderBy: 'id' }));
      expect(ids.map((j) => j.id)).toEqual(['J3']);
      expect(store.pool.totalCount).toBe(1);
    } finally {
      await store.close();
      await admin.end();
    }
  });

  it("reads the outbox relay's next batch from the first rows of its index, not by sorting the backlog", async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: URL, max: 1 });
    const inner = poolClient(pool);
    let relayQuery = '';
    const capturing = watched(inner, (query, send) => {
      if (query.text.includes('"outbox"') && query.text.includes('LIMIT')) relayQuery = query.text;
      return send(query);
    });
    try {
      await migrate(inner, schema);
      // A backlog: the bus was away for a while.
      await pool.query(
        `INSERT INTO "${schema}".outbox (id, seq, topic, payload, created_ms, published_ms)
         SELECT 'M' || g, g, 'trade.open', '{}', 0, CASE WHEN g <= 2000 THEN 1 END FROM generate_series(1, 20000) g`,
      );
      await pool.query(`ANALYZE "${schema}".outbox`);
      const store = new SqlStore(capturing, { schema }, async () => {});
      const batch = await store.transaction((tx) =>
        tx.select('outbox', { publishedMs: null }, { orderBy: 'seq', limit: 100 }),
      );
      expect(batch.map((m) => Number(m.seq))).toEqual(Array.from({ length: 100 }, (_, i) => 2001 + i));
      await pool.query(`PREPARE relay AS ${relayQuery}`);
      const plan = (await pool.query('EXPLAIN EXECUTE relay(100)')).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/Index Scan using outbox_unpublished_idx/);
      expect(plan).not.toMatch(/Sort Key: seq NULLS FIRST/);
    } finally {
      await pool.end();
    }
  });

  it('starts a counter after the value its sequences row holds (a schema an earlier version wrote)', async () => {
    const store = await PostgresStore.connect(URL as string, { schema: freshSchema() });
    try {
      await store.transaction((tx) => tx.insert('sequences', { name: 'transfers', value: 41 }));
      expect(await store.transaction((tx) => tx.nextValue('transfers'))).toBe(42);
      expect(await store.transaction((tx) => tx.nextValue('transfers'))).toBe(43);
      expect(await store.transaction((tx) => tx.nextValue('refs'))).toBe(1);
    } finally {
      await store.close();
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
