import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { MtproofError } from '../../kit/errors.ts';
import { assertSchemaName, quote, type SqlClient, type SqlConnection } from './sql.ts';

/**
 * The SQL migrations (migrations/NNNN_name.sql), applied in order, each once, into one schema, and recorded
 * in its `schema_migrations` table with the file's sha256. Every run takes a transaction-scoped advisory
 * lock on the schema first, so two processes starting at once (two service instances, two test files) apply
 * each migration once: the second waits, then finds it recorded. A migration is applied in the same
 * transaction as its record. A recorded migration whose file has changed since, or that this version does
 * not have (a newer one migrated the schema), is MTP_STORE_SCHEMA_MISMATCH: the schema is not what the
 * code expects, and running on it would fail in ways far from the cause.
 */

export interface Migration {
  /** `0001` */
  version: string;
  /** `0001_init.sql` */
  file: string;
  sql: string;
  /** Of the text with LF line ends (a checkout that turns them into CRLF changes nothing). */
  sha256: string;
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
    .map((file) => {
      const sql = readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8');
      const sha256 = createHash('sha256').update(sql.replaceAll('\r\n', '\n')).digest('hex');
      return { version: (FILE.exec(file) as RegExpExecArray)[1] as string, file, sql, sha256 };
    });
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
          `"version" text PRIMARY KEY, "file" text NOT NULL, "applied_at" timestamptz NOT NULL DEFAULT now(), ` +
          `"sha256" text);\n` +
          // A schema migrated before the checksums were kept.
          `ALTER TABLE ${name}."schema_migrations" ADD COLUMN IF NOT EXISTS "sha256" text;`,
      );
      const done = await checkApplied(connection, schema);
      const applied: string[] = [];
      for (const migration of migrations()) {
        if (done.has(migration.version)) continue;
        // The files name tables without a schema: they land in the first schema of the path.
        await connection.exec(`SET LOCAL search_path TO ${name};\n${migration.sql}`);
        await connection.query({
          text: `INSERT INTO ${name}."schema_migrations" ("version", "file", "sha256") VALUES ($1, $2, $3)`,
          values: [migration.version, migration.file, migration.sha256],
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

/**
 * The versions applied to `schema`, each checked against this version's file: the same text, or the
 * schema is refused. A record without a checksum (written before they were kept) is given the file's.
 */
async function checkApplied(connection: SqlConnection, schema: string): Promise<Set<string>> {
  const table = `${quote(schema)}."schema_migrations"`;
  const { rows } = await connection.query({ text: `SELECT "version", "file", "sha256" FROM ${table}` });
  const shipped = new Map(migrations().map((m) => [m.version, m]));
  const done = new Set<string>();
  for (const row of rows) {
    const version = String(row.version);
    const migration = shipped.get(version);
    if (migration === undefined) {
      throw new MtproofError(
        'MTP_STORE_SCHEMA_MISMATCH',
        `schema ${schema} has migration ${String(row.file)} applied, which this version of mtproof does not have: a newer version migrated it`,
      );
    }
    if (row.sha256 === null) {
      await connection.query({
        text: `UPDATE ${table} SET "sha256" = $2 WHERE "version" = $1`,
        values: [version, migration.sha256],
      });
    } else if (row.sha256 !== migration.sha256) {
      throw new MtproofError(
        'MTP_STORE_SCHEMA_MISMATCH',
        `schema ${schema}: migration ${migration.file} has changed since it was applied (sha256 then ${String(row.sha256).slice(0, 12)}, now ${migration.sha256.slice(0, 12)}): a change to the schema is a new migration file, never an edit of one that has been applied`,
      );
    }
    done.add(version);
  }
  return done;
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
