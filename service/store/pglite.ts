import { mkdirSync } from 'node:fs';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
import { type Clock, SystemClock } from '../../kit/clock.ts';
import { MtproofError } from '../../kit/errors.ts';
import { dropSchema, migrate } from './migrate.ts';
import type { SqlClient, SqlConnection, SqlQuery, SqlResult, SqlStoreOptions } from './sql.ts';
import { SqlStore } from './sql.ts';

/**
 * The store embedded in the process: Postgres compiled to WebAssembly (PGlite), on disk (`dataDir`) or in
 * memory. The default when no DATABASE_URL is given: a fresh machine needs no server.
 *
 * PGlite is one database session. Transactions take it in turn (first come, first served); one that holds
 * it without running a statement for `preemptIdleMs` while another waits (its process died mid-transaction,
 * or it waits on something outside the store, which the port forbids) is rolled back and hands the session
 * over: its `fn` is rerun later, as after a serialization failure. So an abandoned transaction cannot wedge
 * the store, and one transaction never sees another's uncommitted writes.
 */

export interface PgliteStoreOptions extends SqlStoreOptions {
  /** How long a transaction may hold the session idle while another waits (default 250 ms). */
  preemptIdleMs?: number;
  /** The clock of that wait (default: the system clock; the wait is real time, whatever the service's). */
  clock?: Clock;
}

export class PgliteStore extends SqlStore {
  readonly db: PGlite;
  readonly #client: SqlClient;

  private constructor(db: PGlite, client: SqlClient, options: SqlStoreOptions) {
    super(client, options);
    this.db = db;
    this.#client = client;
  }

  /**
   * Opens (creating if needed) the database in folder `dataDir`, or an in-memory one for `'memory'`, and
   * migrates the schema. Startup takes a second or two (the WebAssembly module).
   */
  static async open(dataDir: string, options: PgliteStoreOptions = {}): Promise<PgliteStore> {
    let db: PGlite;
    try {
      if (dataDir !== 'memory') mkdirSync(dataDir, { recursive: true });
      db = await PGlite.create(dataDir === 'memory' ? undefined : dataDir);
    } catch (error) {
      throw new MtproofError(
        'MTP_STORE_UNAVAILABLE',
        `cannot open the PGlite store in ${dataDir}: ${(error as Error).message}`,
      );
    }
    const client = pgliteClient(db, options);
    await migrate(client, options.schema ?? 'public');
    return new PgliteStore(db, client, options);
  }

  /**
   * A further store on the same database, in another schema (migrated now): tests and the harness give
   * each run a fresh schema without paying PGlite's startup again. `temporary`: closing it drops the schema.
   * Closing it never closes the database: `close()` this one.
   */
  async sibling(schema: string, options: { temporary?: boolean } = {}): Promise<SqlStore> {
    // The same session queue: PGlite has one session, which every store on it must take in turn.
    await migrate(this.#client, schema);
    return new SqlStore(this.#client, { schema }, () =>
      options.temporary === true ? dropSchema(this.#client, schema) : Promise.resolve(),
    );
  }
}

/** A serialization-failure-coded error: what the wounded transaction's statements fail with. */
class Preempted extends Error {
  readonly code = '40001';
  constructor() {
    super('pglite: the transaction held the session idle while another waited: rolled back, to be rerun');
  }
}

/** One PGlite database as a SqlClient whose sessions are handed out one at a time. */
export function pgliteClient(db: PGlite, options: Pick<PgliteStoreOptions, 'clock' | 'preemptIdleMs'>): SqlClient {
  return new PgliteSessions(db, options.clock ?? new SystemClock(), options.preemptIdleMs ?? 250);
}

class PgliteSessions implements SqlClient {
  /** One session, taken in turn: see SqlClient.exclusive. */
  readonly exclusive = true;
  readonly #db: PGlite;
  readonly #clock: Clock;
  readonly #preemptIdleMs: number;
  #holder: Session | null = null;
  readonly #waiting: ((session: Session) => void)[] = [];
  #watching = false;
  /** Statements prepared on the session, by name (their text is in the name's hash: see sql.ts). */
  readonly #prepared = new Set<string>();

  constructor(db: PGlite, clock: Clock, preemptIdleMs: number) {
    this.#db = db;
    this.#clock = clock;
    this.#preemptIdleMs = preemptIdleMs;
  }

  connect(): Promise<SqlConnection> {
    if (this.#holder === null) return Promise.resolve(this.#grant());
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      void this.#watch();
    });
  }

  async end(): Promise<void> {
    if (!this.#db.closed) await this.#db.close();
  }

  /** @internal */
  query(query: SqlQuery): Promise<SqlResult> {
    if (query.name === undefined) return this.#db.query(query.text, query.values ?? []) as Promise<SqlResult>;
    return this.#named(query.name, query.text, query.values ?? []);
  }

  /**
   * A named statement, prepared once, then each run in one round trip into the database (bind, describe,
   * execute, sync): PGlite's own `query` parses, plans and describes the text on every call, four times the
   * cost of the statements the store runs most (a worker's poll, an audit row).
   */
  async #named(name: string, text: string, values: unknown[]): Promise<SqlResult> {
    const db = this.#db;
    const serialize = protocol.serialize;
    return db.runExclusive(async () => {
      if (!this.#prepared.has(name)) {
        await db.execProtocol(concat(serialize.parse({ name, text }), serialize.sync()), { syncToFs: false });
        this.#prepared.add(name);
      }
      const bind = serialize.bind({ statement: name, values: values.map(textParam) });
      const message = concat(bind, serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
      const { messages } = await db.execProtocol(message);
      const [result] = parse.parseResults(messages, db.parsers);
      return { rows: (result?.rows ?? []) as Record<string, unknown>[] };
    });
  }

  /** @internal */
  async exec(script: string): Promise<void> {
    await this.#db.exec(script);
  }

  /** @internal */
  nowMs(): number {
    return this.#clock.nowMs();
  }

  /** @internal */
  release(session: Session): void {
    if (this.#holder !== session) return;
    this.#holder = null;
    const next = this.#waiting.shift();
    if (next !== undefined) next(this.#grant());
  }

  #grant(): Session {
    const session = new Session(this);
    this.#holder = session;
    return session;
  }

  /** While someone waits: preempts a holder idle for too long. One watcher at a time. */
  async #watch(): Promise<void> {
    if (this.#watching) return;
    this.#watching = true;
    try {
      while (this.#waiting.length > 0 && this.#holder !== null) {
        const holder = this.#holder;
        const idleMs = holder.idleMs();
        if (idleMs === null || idleMs < this.#preemptIdleMs) {
          await this.#clock.sleep(this.#preemptIdleMs - (idleMs ?? 0));
          continue;
        }
        holder.wound();
        // The session's transaction is the holder's: end it before anyone else runs a statement.
        await this.#db.query('ROLLBACK').catch(() => {});
        this.release(holder);
      }
    } finally {
      this.#watching = false;
    }
  }
}

class Session implements SqlConnection {
  readonly #sessions: PgliteSessions;
  #running = 0;
  #idleSinceMs: number;
  #wounded = false;

  constructor(sessions: PgliteSessions) {
    this.#sessions = sessions;
    this.#idleSinceMs = sessions.nowMs();
  }

  /** How long the session has run no statement, or null while one runs. */
  idleMs(): number | null {
    return this.#running > 0 ? null : this.#sessions.nowMs() - this.#idleSinceMs;
  }

  wound(): void {
    this.#wounded = true;
  }

  query(query: SqlQuery): Promise<SqlResult> {
    return this.#use(() => this.#sessions.query(query));
  }

  exec(script: string): Promise<void> {
    return this.#use(() => this.#sessions.exec(script));
  }

  release(): void {
    this.#sessions.release(this);
  }

  async #use<T>(work: () => Promise<T>): Promise<T> {
    if (this.#wounded) throw new Preempted();
    this.#running++;
    try {
      return await work();
    } finally {
      this.#running--;
      this.#idleSinceMs = this.#sessions.nowMs();
    }
  }
}

/** A parameter in Postgres's text format (the statements cast each to its column's type). */
function textParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : String(value);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
