import { readdirSync, readFileSync } from 'node:fs';
import { assertSchemaName, quote, type SqlClient } from './sql.ts';

/**
 * The SQL migrations (migrations/NNNN_name.sql), applied in order, each once, into one schema, and recorded
 * in its `schema_migrations` table. Every run takes a transaction-scoped advisory lock on the schema first,
 * so two processes starting at once (two service instances, two test files) apply each migration once: the
 * second waits, then finds it recorded. A migration is applied in the same transaction as its record.
 */

export interface Migration {
  /** `0001` */
  version: string;
  /** `0001_init.sql` */
  file: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;
/** The advisory lock's first key: "mtproof migrate" (the second is the schema name's hash). */
const LOCK_CLASS = 0x4d545052;

let cached: readonly Migration[] | undefined;

/** The migrations shipped with the store, in the order they apply. */
export function migrations(): readonly Migration[] {
  cached ??= readdirSync(MIGRATIONS_DIR)
    .filter((file) => FILE.test(file))
    .sort()
    .map((file) => ({
      version: (FILE.exec(file) as RegExpExecArray)[1] as string,
      file,
      sql: readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8'),
    }));
  return cached;
}

/**
 * Brings `schema` (created if absent) up to the latest migration. Returns the versions it applied (none
 * when the schema was already up to date).
 */
export async function migrate(client: SqlClient, schema: string): Promise<string[]> {
  const name = quote(assertSchemaName(schema));
  const connection = await client.connect();
  let broken: unknown;
  try {
    await connection.query({ text: 'BEGIN' });
    try {
      await connection.query({ text: 'SELECT pg_advisory_xact_lock($1, hashtext($2))', values: [LOCK_CLASS, schema] });
      await connection.exec(
        `CREATE SCHEMA IF NOT EXISTS ${name};\n` +
          `CREATE TABLE IF NOT EXISTS ${name}."schema_migrations" (` +
          `"version" text PRIMARY KEY, "file" text NOT NULL, "applied_at" timestamptz NOT NULL DEFAULT now());`,
      );
      const { rows } = await connection.query({ text: `SELECT "version" FROM ${name}."schema_migrations"` });
      const done = new Set(rows.map((r) => String(r.version)));
      const applied: string[] = [];
      for (const migration of migrations()) {
        if (done.has(migration.version)) continue;
        // The files name tables without a schema: they land in the first schema of the path.
        await connection.exec(`SET LOCAL search_path TO ${name};\n${migration.sql}`);
        await connection.query({
          text: `INSERT INTO ${name}."schema_migrations" ("version", "file") VALUES ($1, $2)`,
          values: [migration.version, migration.file],
        });
        applied.push(migration.version);
      }
      await connection.query({ text: 'COMMIT' });
      return applied;
    } catch (error) {
      await connection.query({ text: 'ROLLBACK' }).catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    connection.release(broken);
  }
}

/** Drops `schema` and everything in it (a test's or a harness run's own schema, when done with it). */
export async function dropSchema(client: SqlClient, schema: string): Promise<void> {
  const connection = await client.connect();
  let broken: unknown;
  try {
    await connection.query({ text: `DROP SCHEMA IF EXISTS ${quote(assertSchemaName(schema))} CASCADE` });
  } catch (error) {
    broken = error;
    throw error;
  } finally {
    connection.release(broken);
  }
}
