import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../../kit/errors.ts';
import { columnsOf, INSERT_ORDER_COLUMN, keysOf, TABLES } from '../../../service/store/columns.ts';
import { dropSchema, migrate, migrations } from '../../../service/store/migrate.ts';
import { PgliteStore, pgliteClient } from '../../../service/store/pglite.ts';
import { poolClient } from '../../../service/store/postgres.ts';
import type { SqlClient } from '../../../service/store/sql.ts';

/**
 * The SQL migrations against columns.ts (the mapping the adapters use) and schema.ts's keys: what the
 * database has after migrating is what the adapters assume, on PGlite always and on Postgres when
 * DATABASE_URL is set. (That columns.ts covers every field of every row is checked by the compiler, its
 * mapped type, and at run time by the contract's full-row round trips.)
 */

const URL = process.env.DATABASE_URL;

async function rows(client: SqlClient, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const connection = await client.connect();
  try {
    return (await connection.query({ text, values })).rows;
  } finally {
    connection.release();
  }
}

function describeMigrations(name: string, open: () => Promise<{ client: SqlClient; close: () => Promise<void> }>) {
  describe(`migrations on ${name}`, () => {
    let client: SqlClient;
    let close: () => Promise<void>;
    let schemas = 0;
    const fresh = () => `mtp_migr_${process.pid}_${++schemas}`;

    beforeAll(async () => {
      ({ client, close } = await open());
    }, 60_000);

    afterAll(async () => {
      if (client === undefined) return;
      for (let i = 1; i <= schemas; i++) await dropSchema(client, `mtp_migr_${process.pid}_${i}`);
      await close();
    });

    it('creates every table with exactly the columns, types and nullability of columns.ts', async () => {
      const schema = fresh();
      expect(await migrate(client, schema)).toEqual(migrations().map((m) => m.version));
      const found = await rows(
        client,
        `SELECT table_name, column_name, data_type, is_nullable, collation_name
           FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
        [schema],
      );
      const actual = found
        .filter((r) => r.table_name !== 'schema_migrations')
        .map((r) => [r.table_name, r.column_name, r.data_type, r.is_nullable, r.collation_name]);
      const expected = [...TABLES]
        .sort()
        .flatMap((table) => [
          ...columnsOf(table).map((c) => [
            table,
            c.column,
            c.type,
            c.nullable ? 'YES' : 'NO',
            c.type === 'text' ? 'C' : null,
          ]),
          [table, INSERT_ORDER_COLUMN, 'bigint', 'NO', null],
        ]);
      expect(actual).toEqual(expected);
    });

    it("gives every table schema.ts's primary key and unique keys", async () => {
      const schema = fresh();
      await migrate(client, schema);
      const found = await rows(
        client,
        `SELECT tc.table_name, tc.constraint_type, kcu.column_name
           FROM information_schema.table_constraints tc
           JOIN information_schema.key_column_usage kcu
             ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
          WHERE tc.table_schema = $1 AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
            AND tc.table_name <> 'schema_migrations'
          ORDER BY 1, 2, 3`,
        [schema],
      );
      const expected = [...TABLES]
        .sort()
        .flatMap((table) => {
          const { primary, unique } = keysOf(table);
          return [[table, 'PRIMARY KEY', primary.column], ...unique.map((u) => [table, 'UNIQUE', u.column])];
        })
        .sort((a, b) => (a.join() < b.join() ? -1 : 1));
      expect(found.map((r) => [r.table_name, r.constraint_type, r.column_name])).toEqual(expected);
    });

    it('indexes the hot filters', async () => {
      const schema = fresh();
      await migrate(client, schema);
      const found = await rows(client, 'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1', [schema]);
      const defs = new Map(found.map((r) => [String(r.indexname), String(r.indexdef)]));
      expect(defs.get('accounts_server_id_state_idx')).toMatch(/\(server_id, state\)/);
      expect(defs.get('accounts_server_id_login_idx')).toMatch(/\(server_id, login\)/);
      expect(defs.get('accounts_state_idx')).toMatch(/\(state\)/);
      expect(defs.get('transfers_state_idx')).toMatch(/\(state\)/);
      expect(defs.get('jobs_state_run_at_ms_idx')).toMatch(/\(state, run_at_ms\)/);
      expect(defs.get('outbox_unpublished_idx')).toMatch(/\(seq\) WHERE \(published_ms IS NULL\)/);
      expect(defs.get('ib_commissions_partner_id_idx')).toMatch(/\(partner_id\)/);
      expect(defs.get('trades_server_id_login_idx')).toMatch(/\(server_id, login\)/);
      // The CRM write-back: a queued sync of an account, a client's accounts.
      expect(defs.get('jobs_kind_subject_state_idx')).toMatch(/\(kind, subject, state\)/);
      expect(defs.get('accounts_client_id_idx')).toMatch(/\(client_id\)/);
    });

    it('refuses a schema one of whose applied migrations has changed since, naming the file', async () => {
      const schema = fresh();
      await migrate(client, schema);
      await rows(client, `UPDATE "${schema}".schema_migrations SET sha256 = repeat('0', 64) WHERE version = '0001'`);
      const error = await migrate(client, schema).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MtproofError);
      expect((error as MtproofError).code).toBe('MTP_STORE_SCHEMA_MISMATCH');
      expect((error as Error).message).toMatch(/migration 0001_init\.sql has changed since it was applied/);
    });

    it('refuses a schema a newer version migrated (a migration this version does not have)', async () => {
      const schema = fresh();
      await migrate(client, schema);
      await rows(
        client,
        `INSERT INTO "${schema}".schema_migrations (version, file, sha256) VALUES ('9999', '9999_future.sql', 'x')`,
      );
      const error = await migrate(client, schema).catch((e: unknown) => e);
      expect((error as MtproofError).code).toBe('MTP_STORE_SCHEMA_MISMATCH');
      expect((error as Error).message).toMatch(/9999_future\.sql applied, which this version of mtproof does not have/);
    });

    it('keeps the checksum of each migration, filling it in on a schema migrated before checksums were kept', async () => {
      const schema = fresh();
      await migrate(client, schema);
      await rows(client, `ALTER TABLE "${schema}".schema_migrations DROP COLUMN sha256`);
      expect(await migrate(client, schema)).toEqual([]);
      const recorded = await rows(client, `SELECT version, sha256 FROM "${schema}".schema_migrations ORDER BY version`);
      expect(recorded.map((r) => [r.version, r.sha256])).toEqual(migrations().map((m) => [m.version, m.sha256]));
      expect(await migrate(client, schema)).toEqual([]);
    });

    it('records each migration once: migrating again applies nothing, and the files themselves re-run harmlessly', async () => {
      const schema = fresh();
      await migrate(client, schema);
      expect(await migrate(client, schema)).toEqual([]);
      const recorded = await rows(client, `SELECT version, file FROM "${schema}".schema_migrations ORDER BY version`);
      expect(recorded.map((r) => [r.version, r.file])).toEqual(migrations().map((m) => [m.version, m.file]));
      // A file applied by hand a second time changes nothing either (IF NOT EXISTS throughout).
      const connection = await client.connect();
      try {
        for (const m of migrations())
          await connection.exec(`SET search_path TO "${schema}";\n${m.sql}\nRESET search_path;`);
      } finally {
        connection.release();
      }
      const tables = await rows(client, 'SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1', [
        schema,
      ]);
      expect(Number(tables[0]?.n)).toBe(TABLES.length + 1);
    });
  });
}

describeMigrations('PGlite', async () => {
  const store = await PgliteStore.open('memory');
  return { client: pgliteClient(store.db, {}), close: () => store.close() };
});

describe.skipIf(URL === undefined)('on Postgres (DATABASE_URL)', () => {
  describeMigrations('Postgres', async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 4 });
    return { client: poolClient(pool), close: () => pool.end() };
  });

  it('applies each migration once when two processes migrate one schema at the same time', async () => {
    const schema = `mtp_migr_race_${process.pid}`;
    const pools = [1, 2, 3].map(() => new pg.Pool({ connectionString: URL, max: 1 }));
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(poolClient(pool), schema)));
      const all = migrations().map((m) => m.version);
      expect(applied.filter((a) => a.length > 0)).toEqual([all]);
      expect(applied.filter((a) => a.length === 0)).toHaveLength(2);
    } finally {
      await dropSchema(poolClient(pools[0] as pg.Pool), schema);
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
