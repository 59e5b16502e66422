import pg from 'pg';
import { MtproofError } from '../../kit/errors.ts';
import { dropSchema, migrate } from './migrate.ts';
import type { SqlClient, SqlConnection, SqlQuery, SqlResult, SqlStoreOptions } from './sql.ts';
import { SqlStore } from './sql.ts';

/**
 * The store on a Postgres server (pg's Pool): `PostgresStore.connect(url)` migrates the schema and answers a
 * SqlStore. Several service instances (workers) may share one database: job claims skip each other's locked
 * rows, and every transaction is serializable.
 */

export interface PostgresStoreOptions extends SqlStoreOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** How long to wait for a connection to the server before failing (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Migrate `schema` on connect (default true). False: only check that the server answers (as the harness
   * does once, before its runs, each of which then opens a store of its own).
   */
  migrate?: boolean;
  /**
   * Wait for each commit to reach the disk (default true). False (Postgres's `synchronous_commit = off`):
   * a crash of the server may lose the last few commits, never corrupt; for throwaway data only, such as a
   * harness run's schema, where the disk flush of every commit is most of the time a run takes.
   */
  synchronousCommit?: boolean;
  /** Drop `schema` when the store closes (a harness run's own: see scenarios/serial-store.ts). */
  temporary?: boolean;
}

const INT8 = 20;

/** bigint columns as JS numbers: every integer the store keeps (ms, minor units) fits in 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8 && format !== 'binary'
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export class PostgresStore extends SqlStore {
  readonly pool: pg.Pool;

  private constructor(pool: pg.Pool, client: SqlClient, options: PostgresStoreOptions) {
    const schema = options.schema ?? 'public';
    super(
      client,
      options,
      options.temporary === true ? () => dropSchema(client, schema).finally(() => client.end()) : undefined,
    );
    this.pool = pool;
  }

  /**
   * Connects to `url` (postgres://user:password@host:port/db), creates and migrates the schema, and answers
   * the store. An unreachable or refusing server is `MTP_STORE_UNAVAILABLE` (the pool is closed again).
   */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      types,
      // A transaction's BEGIN goes out with its first statement (sql.ts): one round trip fewer each.
      pipeline: true,
      ...(options.synchronousCommit === false ? { options: '-c synchronous_commit=off' } : {}),
    });
    // An idle connection the server drops (a restart) is an event on the pool, not a crash of the process:
    // the pool discards it, and the next transaction gets a fresh one.
    pool.on('error', () => {});
    const client = poolClient(pool);
    try {
      if (options.migrate === false) await ping(client);
      else await migrate(client, options.schema ?? 'public');
    } catch (error) {
      await pool.end().catch(() => {});
      // The server answered, but the schema is not this version's (migrate.ts says which way).
      if (error instanceof MtproofError) throw error;
      throw new MtproofError(
        'MTP_STORE_UNAVAILABLE',
        `cannot open the Postgres store at ${redact(url)}: ${(error as Error).message}`,
      );
    }
    return new PostgresStore(pool, client, options);
  }
}

async function ping(client: SqlClient): Promise<void> {
  const connection = await client.connect();
  try {
    await connection.query({ text: 'SELECT 1' });
  } finally {
    connection.release();
  }
}

/** A pg Pool as the SqlClient of sql.ts. */
export function poolClient(pool: pg.Pool): SqlClient {
  return {
    async connect(): Promise<SqlConnection> {
      const client = await pool.connect();
      // The server dropping a connection that is checked out (a restart, an admin's kill) is an 'error'
      // event on it, which with no listener would end the process: the statement in flight fails anyway,
      // and the transaction gives the connection back as broken.
      const dropped = () => {};
      client.on('error', dropped);
      return {
        query: (query: SqlQuery) => client.query(query) as unknown as Promise<SqlResult>,
        pipelined: client.pipeline,
        exec: async (script: string) => {
          // Without parameters pg uses the simple protocol, which runs several statements.
          await client.query(script);
        },
        release: (error?: unknown) => {
          client.off('error', dropped);
          client.release(error === undefined ? undefined : (error as Error));
        },
      };
    },
    end: () => pool.end(),
  };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable DATABASE_URL)';
  }
}
