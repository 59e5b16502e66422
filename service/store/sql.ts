import { createHash } from 'node:crypto';
import { type Clock, SystemClock } from '../../kit/clock.ts';
import { Random } from '../../kit/random.ts';
import { type Column, columnOf, columnsOf, INSERT_ORDER_COLUMN, keysOf, TABLES } from './columns.ts';
import {
  type SelectOptions,
  type Store,
  StoreConflictError,
  StoreConstraintError,
  type Tx,
  type Where,
} from './port.ts';
import type { JobRow, TableName, Tables } from './schema.ts';

/**
 * The Store on SQL (Postgres, PGlite), over a client interface small enough that both fit it with a thin
 * adapter (postgres.ts, pglite.ts). Every transaction is SERIALIZABLE: the service reads, decides and
 * writes in one transaction ("is this pspRef new? then insert"), and only serializable isolation makes
 * that safe without the service taking locks itself; the price, a serialization failure (40001) or a
 * deadlock (40P01) now and then, is paid here by running `fn` again, as the port allows.
 *
 * Every statement is parameterised; identifiers come from columns.ts only (and a checked schema name).
 * Statements are built once per shape and named, so Postgres parses and plans each once per connection.
 */

/** A statement: `name` lets Postgres keep it prepared on the connection (PGlite ignores it). */
export interface SqlQuery {
  text: string;
  values?: unknown[];
  name?: string;
}

export interface SqlResult {
  rows: Record<string, unknown>[];
}

/** One database session, held by one transaction at a time. */
export interface SqlConnection {
  query(query: SqlQuery): Promise<SqlResult>;
  /**
   * True when a statement may be sent before the previous one is answered, the answers coming back in
   * order (pg's pipeline mode): BEGIN then goes out with the transaction's first statement, one round trip.
   */
  readonly pipelined?: boolean;
  /** Runs a script of several statements without parameters (the migrations). */
  exec(script: string): Promise<void>;
  /** Gives the session back; `error`: it may be broken (a failed rollback), so discard it. */
  release(error?: unknown): void;
}

/** What pg's Pool and the PGlite adapter both provide. */
export interface SqlClient {
  connect(): Promise<SqlConnection>;
  end(): Promise<void>;
  /**
   * True when the client has one session that transactions take in turn (PGlite): no statement of another
   * transaction can run between two of one transaction's, so the store sends BEGIN only before the first
   * write (a transaction that only reads needs neither BEGIN nor COMMIT, and reads the same as it would
   * inside one), and no isolation level (there is nothing to isolate from).
   */
  readonly exclusive?: boolean;
}

export interface SqlStoreOptions {
  /** The Postgres schema holding the tables (default `public`): several stores can share one database. */
  schema?: string;
  /** The clock of the pause before a rerun after a conflict (default: the system clock: real time). */
  clock?: Clock;
  /** The jitter of that pause (default: a fixed seed; jitter needs spread, not unpredictability). */
  random?: Random;
}

/** Postgres error codes the store acts on. */
const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';
const UNIQUE_VIOLATION = '23505';
/** Reruns of a transaction that keeps conflicting before its conflict is surfaced (as the memory store). */
const MAX_RERUNS = 50;
/** The pause before the n-th rerun after a conflict is drawn from [0, min(2^(n-1), cap)) milliseconds. */
const RERUN_PAUSE_CAP_MS = 64;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A schema name the store will put in SQL: lower-case letters, digits and underscores only. */
export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`store: schema "${schema}" is not a plain identifier (a-z, 0-9, _; at most 63)`);
  }
  return schema;
}

export function quote(identifier: string): string {
  return `"${identifier}"`;
}

/** The Postgres error code of `error`, if it is a database error. */
export function sqlErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether `error` is the database's answer (a SQLSTATE: five digits or capitals), as opposed to a failure of
 * the connection, whose Node error has a code too (`ECONNRESET`): after the first the session is sound.
 */
function fromDatabase(error: unknown): boolean {
  return /^[0-9A-Z]{5}$/.test(sqlErrorCode(error) ?? '');
}

export class SqlStore implements Store {
  readonly #client: SqlClient;
  readonly #statements: Statements;
  readonly #onClose: () => Promise<void>;
  readonly #clock: Clock;
  readonly #random: Random;

  /**
   * A store on `client`, whose schema must already be migrated (see migrate.ts; PostgresStore and
   * PgliteStore do it on open). `onClose` runs on `close()` (the default ends the client).
   */
  constructor(client: SqlClient, options: SqlStoreOptions = {}, onClose?: () => Promise<void>) {
    this.#client = client;
    this.#statements = new Statements(assertSchemaName(options.schema ?? 'public'));
    this.#onClose = onClose ?? (() => client.end());
    this.#clock = options.clock ?? new SystemClock();
    this.#random = options.random ?? new Random('mtproof-sql-store');
  }

  get schema(): string {
    return this.#statements.schema;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const exclusive = this.#client.exclusive === true;
    let strict = false;
    let conflicts = 0;
    let pauseMs = 0;
    for (let run = 1; ; run++) {
      // Transactions that conflicted would, rerun at once, meet again and conflict again (on a new database,
      // where serializable isolation locks whole indexes, until all 50 runs are spent): each waits a random
      // while first, growing with its conflicts, holding no connection.
      if (pauseMs > 0) await this.#clock.sleep(pauseMs);
      const connection = await this.#client.connect();
      const tx = new SqlTx(connection, this.#statements, exclusive, strict);
      let broken: unknown;
      try {
        const value = await fn(tx);
        await tx.commit();
        return value;
      } catch (error) {
        broken = await tx.rollback();
        if (!(error instanceof StoreConflictError) || run >= MAX_RERUNS) throw error;
        // A peek that went on, or a preempted turn on one session (PGlite): nobody to make room for.
        const contended = !exclusive && !(error instanceof PeekedOutside);
        strict ||= error instanceof PeekedOutside;
        if (contended) conflicts++;
        pauseMs = contended ? this.#random.float() * Math.min(2 ** (conflicts - 1), RERUN_PAUSE_CAP_MS) : 0;
      } finally {
        tx.end();
        connection.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.#onClose();
  }
}

/** The SQL text of every statement shape, built once, with a stable name for Postgres to keep prepared. */
class Statements {
  readonly schema: string;
  /** Counters whose Postgres sequence this store has seen committed (created by it or before it). */
  readonly sequences = new Set<string>();
  readonly #cache = new Map<string, SqlQuery>();
  readonly #tables = new Map<TableName, TableSql>();

  constructor(schema: string) {
    this.schema = schema;
    for (const table of TABLES) this.#tables.set(table, new TableSql(schema, table));
  }

  table(table: TableName): TableSql {
    const sql = this.#tables.get(table);
    if (sql === undefined) throw new Error(`store: no table ${String(table)}`);
    return sql;
  }

  /** The statement cached under `key`, built by `build` the first time. */
  get(key: string, build: () => string): SqlQuery {
    let statement = this.#cache.get(key);
    if (statement === undefined) {
      const text = build();
      const name = `mtp_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
      statement = { text, name };
      this.#cache.set(key, statement);
    }
    return statement;
  }
}

/** One table's identifiers and select list. */
class TableSql {
  readonly table: TableName;
  /** `"schema"."table"` */
  readonly name: string;
  readonly columns: readonly Column[];
  readonly primary: Column;
  readonly unique: readonly Column[];
  /** `"col" AS "field", ...`: rows come back with the row type's field names. */
  readonly selectList: string;

  constructor(schema: string, table: TableName) {
    this.table = table;
    this.name = `${quote(schema)}.${quote(table)}`;
    this.columns = columnsOf(table);
    const keys = keysOf(table);
    this.primary = keys.primary;
    this.unique = keys.unique;
    this.selectList = this.columns.map((c) => `${quote(c.column)} AS ${quote(c.field)}`).join(', ');
  }

  column(field: string): Column {
    const column = columnOf(this.table, field);
    if (column === undefined) throw new Error(`store: table ${this.table} has no column ${field}`);
    return column;
  }
}

/** `$n` with the column's type, so a prepared statement's parameter types never depend on the values. */
function param(n: number, column: Column): string {
  return `$${n}::${column.type}`;
}

/** A row field as a statement parameter: JSON columns as JSON text (SQL NULL for null). */
function toParam(column: Column, value: unknown): unknown {
  if (value === undefined) return null;
  if (column.type === 'jsonb') return value === null ? null : JSON.stringify(value);
  return value;
}

interface Condition {
  sql: string;
  values: unknown[];
  key: string;
}

/** A transaction that peeked at the jobs before beginning went on to other statements: rerun it strictly. */
class PeekedOutside extends StoreConflictError {
  constructor() {
    super('a transaction that looked for due jobs before it began went on: run again, begun from the start');
  }
}

const OVER = 'store: the transaction is over (a Tx was used after its transaction ended)';

/** What a statement needs of the transaction before it runs (see SqlTx.#run). */
type Needs = 'read' | 'write' | 'nothing';

class SqlTx implements Tx {
  readonly #connection: SqlConnection;
  readonly #statements: Statements;
  /** The session is the transaction's alone (see SqlClient.exclusive): BEGIN waits for the first write. */
  readonly #exclusive: boolean;
  /** No peek at the jobs before BEGIN (a rerun of a transaction that peeked and went on). */
  readonly #strict: boolean;
  /** Set by a statement that failed: Postgres has aborted the transaction, nothing more may run in it. */
  #aborted: unknown = null;
  #ended = false;
  /**
   * Operations started and not yet settled. COMMIT and ROLLBACK wait for them: a statement fn started and
   * did not wait for belongs to the transaction (as on the memory store, where it is done before fn goes on),
   * and must not run on the connection after it has been given back.
   */
  readonly #pending = new Set<Promise<unknown>>();
  /** BEGIN has been sent: it is sent just before the first statement that needs it, not before. */
  #began = false;
  /** Counters whose sequence this transaction created: known to exist once it commits. */
  readonly #createdSequences: string[] = [];
  /** BEGIN sent on a pipelining connection and not yet answered: its answer comes with the next (#send). */
  #beginning: Promise<unknown> | undefined;
  /** On a shared session, a claim's peek ran before BEGIN: the transaction may do nothing else. */
  #peekedOutside = false;
  /** What nextJobAtMs answers without asking, when the statement just before found it (a claim of none). */
  #knownNextJobAtMs: number | null | undefined;

  constructor(connection: SqlConnection, statements: Statements, exclusive: boolean, strict: boolean) {
    this.#connection = connection;
    this.#statements = statements;
    this.#exclusive = exclusive;
    this.#strict = strict;
  }

  async #beginNow(): Promise<void> {
    const begin = this.#query({ text: this.#exclusive ? 'BEGIN' : 'BEGIN ISOLATION LEVEL SERIALIZABLE' });
    if (this.#connection.pipelined === true) {
      // Not waited for: the statement that needed it follows it on the wire at once (see #send). Begun from
      // now on, so that a failure rolls back whatever the server did of it.
      this.#began = true;
      this.#beginning = begin;
      begin.catch(() => {});
      return;
    }
    await begin;
    this.#began = true;
  }

  /** Sends BEGIN if `needs` says this statement must run inside the transaction and it has not begun. */
  async #ready(needs: Needs): Promise<void> {
    if (this.#began || needs === 'nothing' || (needs === 'read' && this.#exclusive)) return;
    // A peek before BEGIN is one snapshot; a transaction that goes on would read at another: run again.
    if (this.#peekedOutside) throw this.#abort(undefined, '', new PeekedOutside());
    await this.#beginNow();
  }

  /** Runs one operation of the Tx, counted as pending until it settles. */
  #op<T>(work: () => Promise<T>): Promise<T> {
    if (this.#ended) return Promise.reject(new Error(OVER));
    const promise = work();
    this.#pending.add(promise);
    const settled = () => this.#pending.delete(promise);
    promise.then(settled, settled);
    return promise;
  }

  /** Waits until no operation is pending (the continuation of one may have started another). */
  async #quiesce(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async commit(): Promise<void> {
    await this.#quiesce();
    // COMMIT of an aborted transaction "succeeds" as a rollback: never send it.
    if (this.#aborted !== null) throw this.#aborted;
    if (!this.#began) return;
    await this.#query({ text: 'COMMIT' });
    this.#began = false;
    for (const sequence of this.#createdSequences) this.#statements.sequences.add(sequence);
  }

  /** Rolls back (after a failure); returns the error if the session could not even do that. */
  async rollback(): Promise<unknown> {
    await this.#quiesce();
    if (!this.#began) {
      // Nothing to roll back; but a statement that failed without a database error (the connection broke
      // while sending BEGIN or a peek) leaves a session that must not go back to the pool.
      const failed = this.#aborted;
      const databaseSaid = failed instanceof StoreConflictError || fromDatabase(failed);
      return failed === null || databaseSaid ? undefined : failed;
    }
    this.#began = false;
    try {
      await this.#connection.query({ text: 'ROLLBACK' });
      return undefined;
    } catch (error) {
      return error;
    }
  }

  end(): void {
    this.#ended = true;
  }

  get<K extends TableName>(table: K, key: string): Promise<Tables[K] | undefined> {
    return this.#op(() => this.#get(table, key));
  }

  async #get<K extends TableName>(table: K, key: string): Promise<Tables[K] | undefined> {
    const t = this.#statements.table(table);
    const statement = this.#statements.get(
      `get ${table}`,
      () => `SELECT ${t.selectList} FROM ${t.name} WHERE ${quote(t.primary.column)} = ${param(1, t.primary)}`,
    );
    const { rows } = await this.#run(table, key, statement, [key]);
    return rows[0] as Tables[K] | undefined;
  }

  insert<K extends TableName>(table: K, row: Tables[K]): Promise<void> {
    return this.#op(() => this.#insert(table, row));
  }

  async #insert<K extends TableName>(table: K, row: Tables[K]): Promise<void> {
    const t = this.#statements.table(table);
    const statement = this.#statements.get(`insert ${table}`, () => {
      const names = t.columns.map((c) => quote(c.column)).join(', ');
      const params = t.columns.map((c, i) => param(i + 1, c)).join(', ');
      // DO NOTHING rather than an error: a duplicate does not abort the transaction (the memory store's
      // caller may go on after one), and a row a concurrent transaction committed since this one began
      // still fails it with a serialization failure, so it is rerun and sees that row.
      return `INSERT INTO ${t.name} (${names}) VALUES (${params}) ON CONFLICT DO NOTHING RETURNING 1 AS inserted`;
    });
    const record = row as unknown as Record<string, unknown>;
    const key = String(record[t.primary.field]);
    const values = t.columns.map((c) => toParam(c, record[c.field]));
    const { rows } = await this.#run(table, key, statement, values, 'write');
    if (rows.length === 0) throw new StoreConstraintError(table, key, await this.#duplicate(t, record));
  }

  update<K extends TableName>(table: K, key: string, patch: Partial<Tables[K]>): Promise<Tables[K]> {
    return this.#op(() => this.#update(table, key, patch));
  }

  async #update<K extends TableName>(table: K, key: string, patch: Partial<Tables[K]>): Promise<Tables[K]> {
    const t = this.#statements.table(table);
    const fields: string[] = [];
    for (const [field, value] of Object.entries(patch as Record<string, unknown>)) {
      if (value === undefined) continue;
      if (field === t.primary.field) {
        if (value !== key) throw new StoreConstraintError(table, key, 'the primary key cannot change');
        continue;
      }
      t.column(field);
      fields.push(field);
    }
    fields.sort();
    const statement = this.#statements.get(`update ${table} ${fields.join(',')}`, () => {
      const set =
        fields.length === 0
          ? // An empty patch still writes the row, as the memory store does: a concurrent writer conflicts.
            `${quote(t.primary.column)} = ${quote(t.primary.column)}`
          : fields.map((f, i) => `${quote(t.column(f).column)} = ${param(i + 2, t.column(f))}`).join(', ');
      return `UPDATE ${t.name} SET ${set} WHERE ${quote(t.primary.column)} = ${param(1, t.primary)} RETURNING ${t.selectList}`;
    });
    const record = patch as Record<string, unknown>;
    const values = [key, ...fields.map((f) => toParam(t.column(f), record[f]))];
    // A unique column may collide: under a savepoint, so the transaction survives the refusal.
    const guarded = t.unique.some((u) => fields.includes(u.field));
    const { rows } = guarded
      ? await this.#guarded(table, key, statement, values)
      : await this.#run(table, key, statement, values, 'write');
    const updated = rows[0];
    if (updated === undefined) throw new StoreConstraintError(table, key, 'no such row');
    return updated as unknown as Tables[K];
  }

  select<K extends TableName>(table: K, where: Where<K>, options: SelectOptions<K> = {}): Promise<Tables[K][]> {
    return this.#op(() => this.#select(table, where, options));
  }

  async #select<K extends TableName>(table: K, where: Where<K>, options: SelectOptions<K>): Promise<Tables[K][]> {
    const t = this.#statements.table(table);
    const condition = this.#where(t, where as Record<string, unknown>, 1);
    const order = options.orderBy === undefined ? null : t.column(String(options.orderBy));
    const descending = options.descending === true;
    const limited = options.limit !== undefined;
    const key = `select ${table} ${condition.key} ${order?.field ?? ''} ${descending} ${limited}`;
    const statement = this.#statements.get(key, () => {
      // Nulls sort as the smallest value (first ascending, last descending), ties in insertion order: what
      // the memory store's stable sort of its scan gives. A column that cannot be null says nothing of them,
      // so that an index in its default order (nulls last) still serves the ORDER BY: with NULLS FIRST the
      // outbox relay's next batch would sort the whole backlog, and read all of it (a lock on the table, for
      // serializable isolation) rather than the first rows of its index.
      const nulls = order?.nullable === true ? (descending ? ' NULLS LAST' : ' NULLS FIRST') : '';
      const by = order === null ? '' : `${quote(order.column)} ${descending ? 'DESC' : 'ASC'}${nulls}, `;
      const limit = limited ? ` LIMIT $${condition.values.length + 1}` : '';
      return `SELECT ${t.selectList} FROM ${t.name}${condition.sql} ORDER BY ${by}${quote(INSERT_ORDER_COLUMN)}${limit}`;
    });
    const values = limited ? [...condition.values, Math.max(0, options.limit as number)] : condition.values;
    const { rows } = await this.#run(table, '', statement, values);
    return rows as unknown as Tables[K][];
  }

  count<K extends TableName>(table: K, where: Where<K>): Promise<number> {
    return this.#op(() => this.#count(table, where));
  }

  async #count<K extends TableName>(table: K, where: Where<K>): Promise<number> {
    const t = this.#statements.table(table);
    const condition = this.#where(t, where as Record<string, unknown>, 1);
    const statement = this.#statements.get(
      `count ${table} ${condition.key}`,
      () => `SELECT count(*) AS n FROM ${t.name}${condition.sql}`,
    );
    const { rows } = await this.#run(table, '', statement, condition.values);
    return Number(rows[0]?.n ?? 0);
  }

  nextValue(sequence: string): Promise<number> {
    return this.#op(() => (this.#exclusive ? this.#nextFromRow(sequence) : this.#nextFromSequence(sequence)));
  }

  /** On one session (PGlite) a counter is a `sequences` row: gap-free, and nothing to conflict with. */
  async #nextFromRow(sequence: string): Promise<number> {
    const t = this.#statements.table('sequences');
    const statement = this.#statements.get(
      'next value',
      () =>
        `INSERT INTO ${t.name} ("name", "value") VALUES ($1::text, 1) ` +
        `ON CONFLICT ("name") DO UPDATE SET "value" = ${t.name}."value" + 1 RETURNING "value"`,
    );
    const { rows } = await this.#run('sequences', sequence, statement, [sequence], 'write');
    return Number(rows[0]?.value);
  }

  /**
   * On a shared database a counter is a Postgres sequence: `nextval` takes a value without writing a row,
   * so concurrent transactions never conflict over it (a row every one of them updates would serialize them
   * all, under serializable isolation by failing all but one). The price: a value taken by a transaction that
   * rolls back is skipped, never handed out again (the port promises no reuse, not no gaps). The sequence is
   * created on first use, starting after the value a `sequences` row holds from an earlier version.
   */
  async #nextFromSequence(sequence: string): Promise<number> {
    const name = `${quote(this.#statements.schema)}.${quote(sequenceName(sequence))}`;
    if (!this.#statements.sequences.has(sequence)) {
      const t = this.#statements.table('sequences');
      const exists = await this.#run(
        'sequences',
        sequence,
        { text: 'SELECT to_regclass($1::text) IS NOT NULL AS present', name: 'mtp_sequence_exists' },
        [name],
      );
      if (exists.rows[0]?.present !== true) {
        const held = await this.#run(
          'sequences',
          sequence,
          this.#statements.get('sequence row', () => `SELECT "value" FROM ${t.name} WHERE "name" = $1::text`),
          [sequence],
        );
        const taken = Number(held.rows[0]?.value ?? 0);
        await this.#ready('write');
        try {
          await this.#send({ text: `CREATE SEQUENCE IF NOT EXISTS ${name}` });
          // The next value follows the row's: set as a parameter, no value is ever spelled into SQL text.
          if (taken > 0) {
            await this.#send({
              text: 'SELECT setval($1::regclass, $2::bigint)',
              values: [name, taken],
              name: 'mtp_setval',
            });
          }
          this.#createdSequences.push(sequence);
        } catch (error) {
          // Two transactions created it at once: the loser runs again and finds it.
          const conflict = sqlErrorCode(error) === UNIQUE_VIOLATION || sqlErrorCode(error) === SERIALIZATION_FAILURE;
          throw this.#abort(
            'sequences',
            sequence,
            conflict ? new StoreConflictError(`sequence ${sequence} was created concurrently`) : error,
          );
        }
      } else {
        this.#statements.sequences.add(sequence);
      }
    }
    const { rows } = await this.#run(
      'sequences',
      sequence,
      { text: 'SELECT nextval($1::regclass) AS value', name: 'mtp_nextval' },
      [name],
      'write',
    );
    return Number(rows[0]?.value);
  }

  claimJobs(nowMs: number, owner: string, leaseMs: number, limit: number): Promise<JobRow[]> {
    return this.#op(() => this.#claimJobs(nowMs, owner, leaseMs, limit));
  }

  async #claimJobs(nowMs: number, owner: string, leaseMs: number, limit: number): Promise<JobRow[]> {
    const t = this.#statements.table('jobs');
    if (!this.#began && !this.#strict) {
      // Most claims find nothing (an idle worker's poll): find that out with one read, before BEGIN, which
      // also answers the nextJobAtMs that follows; begin only when there is a job to take. On a shared
      // session the transaction that peeked may do nothing else (it would read at two snapshots): if it
      // does, it is run again strictly.
      const peek = this.#statements.get(
        'peek jobs',
        () =>
          `SELECT EXISTS (SELECT 1 FROM ${t.name} WHERE "state" = 'queued' AND "run_at_ms" <= $1::bigint ` +
          `AND "lease_until_ms" <= $1::bigint) AS due, (SELECT min(GREATEST("run_at_ms", "lease_until_ms")) ` +
          `FROM ${t.name} WHERE "state" = 'queued') AS at`,
      );
      const { rows } = await this.#run('jobs', '', peek, [nowMs], 'nothing');
      if (rows[0]?.due !== true || limit <= 0) {
        const at = rows[0]?.at;
        this.#knownNextJobAtMs = at === null || at === undefined ? null : Number(at);
        this.#peekedOutside = !this.#exclusive;
        return [];
      }
    }
    const statement = this.#statements.get('claim jobs', () => {
      const list = t.columns.map((c) => `j.${quote(c.column)} AS ${quote(c.field)}`).join(', ');
      // A job another worker holds locked is skipped, not waited for: each worker takes different jobs.
      return (
        `WITH due AS (SELECT "id" FROM ${t.name} WHERE "state" = 'queued' AND "run_at_ms" <= $1::bigint ` +
        `AND "lease_until_ms" <= $1::bigint ORDER BY "run_at_ms", "id" LIMIT $4::bigint FOR UPDATE SKIP LOCKED) ` +
        `UPDATE ${t.name} AS j SET "lease_owner" = $2::text, "lease_until_ms" = $1::bigint + $3::bigint ` +
        `FROM due WHERE j."id" = due."id" RETURNING ${list}`
      );
    });
    const { rows } = await this.#run('jobs', '', statement, [nowMs, owner, leaseMs, Math.max(0, limit)], 'write');
    const jobs = rows as unknown as JobRow[];
    // RETURNING has no order: oldest due first, as claimed.
    return jobs.sort((a, b) => a.runAtMs - b.runAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  nextJobAtMs(): Promise<number | null> {
    return this.#op(() => this.#nextJobAt());
  }

  async #nextJobAt(): Promise<number | null> {
    if (this.#knownNextJobAtMs !== undefined) return this.#knownNextJobAtMs;
    const t = this.#statements.table('jobs');
    const statement = this.#statements.get(
      'next job',
      () => `SELECT min(GREATEST("run_at_ms", "lease_until_ms")) AS at FROM ${t.name} WHERE "state" = 'queued'`,
    );
    const { rows } = await this.#run('jobs', '', statement, []);
    const at = rows[0]?.at;
    return at === null || at === undefined ? null : Number(at);
  }

  /** `WHERE a = $1 AND b IS NULL ...` for an equality filter (fields sorted, so one shape per field set). */
  #where(t: TableSql, where: Record<string, unknown>, first: number): Condition {
    const parts: string[] = [];
    const keyParts: string[] = [];
    const values: unknown[] = [];
    for (const field of Object.keys(where).sort()) {
      const column = t.column(field);
      const value = where[field];
      if (value === null) {
        parts.push(`${quote(column.column)} IS NULL`);
        keyParts.push(`${field}=null`);
      } else if (value === undefined) {
        // No stored field is undefined: the memory store matches nothing, and so does this.
        parts.push('FALSE');
        keyParts.push(`${field}=undefined`);
      } else {
        values.push(toParam(column, value));
        parts.push(`${quote(column.column)} = ${param(first + values.length - 1, column)}`);
        keyParts.push(field);
      }
    }
    return { sql: parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`, values, key: keyParts.join(',') };
  }

  /** Which key an insert collided with, for the error message. */
  async #duplicate(t: TableSql, row: Record<string, unknown>): Promise<string> {
    const key = row[t.primary.field];
    if ((await this.#get(t.table, String(key))) !== undefined) return 'duplicate primary key';
    for (const u of t.unique) {
      const value = row[u.field];
      if (value === null || value === undefined) continue;
      const [holder] = await this.#select(t.table, { [u.field]: value } as Where<TableName>, { limit: 1 });
      if (holder !== undefined) {
        const owner = (holder as unknown as Record<string, unknown>)[t.primary.field];
        return `duplicate ${u.field} ${String(value)} (held by ${String(owner)})`;
      }
    }
    return 'duplicate key';
  }

  /** Runs a statement that may hit a unique key under a savepoint: a refusal leaves the transaction usable. */
  async #guarded(table: TableName, key: string, statement: SqlQuery, values: unknown[]): Promise<SqlResult> {
    await this.#ready('write');
    await this.#query({ text: 'SAVEPOINT mtp_unique' });
    try {
      const result = await this.#send({ ...statement, values });
      await this.#query({ text: 'RELEASE SAVEPOINT mtp_unique' });
      return result;
    } catch (error) {
      if (sqlErrorCode(error) !== UNIQUE_VIOLATION) throw this.#abort(table, key, error);
      await this.#query({ text: 'ROLLBACK TO SAVEPOINT mtp_unique' });
      throw translate(table, key, error);
    }
  }

  async #run(
    table: TableName,
    key: string,
    statement: SqlQuery,
    values: unknown[],
    needs: Needs = 'read',
  ): Promise<SqlResult> {
    if (this.#ended) throw new Error(OVER);
    if (this.#aborted !== null) throw this.#aborted;
    await this.#ready(needs);
    return this.#query({ ...statement, values }, table, key);
  }

  async #query(query: SqlQuery, table?: TableName, key = ''): Promise<SqlResult> {
    if (this.#ended) throw new Error(OVER);
    if (this.#aborted !== null) throw this.#aborted;
    // Valid only right after the statement that found it: any other may change the jobs.
    this.#knownNextJobAtMs = undefined;
    try {
      return await this.#send(query);
    } catch (error) {
      throw this.#abort(table, key, error);
    }
  }

  /** Sends a statement; the first after a pipelined BEGIN answers for it too: BEGIN failed, so did this. */
  async #send(query: SqlQuery): Promise<SqlResult> {
    const answer = this.#connection.query(query);
    const beginning = this.#beginning;
    if (beginning === undefined) return answer;
    this.#beginning = undefined;
    try {
      await beginning;
    } catch (error) {
      answer.catch(() => {});
      throw error;
    }
    return answer;
  }

  /** A failed statement aborts the Postgres transaction: every later statement fails with the same error. */
  #abort(table: TableName | undefined, key: string, error: unknown): unknown {
    const translated = translate(table, key, error);
    this.#aborted = translated;
    return translated;
  }
}

/** The Postgres sequence behind counter `name`: its name when plain, else a digest of it. */
function sequenceName(name: string): string {
  if (/^[a-z0-9_]{1,40}$/.test(name)) return `seq_${name}`;
  return `seq_${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

/** A database error as the port's: a conflict to rerun on, a constraint, or itself (a bug or an outage). */
function translate(table: TableName | undefined, key: string, error: unknown): unknown {
  const code = sqlErrorCode(error);
  if (code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED) {
    return new StoreConflictError(`${(error as Error).message} (${code})`);
  }
  if (code === UNIQUE_VIOLATION && table !== undefined) {
    const detail = (error as { detail?: unknown }).detail;
    return new StoreConstraintError(table, key, typeof detail === 'string' ? detail : (error as Error).message);
  }
  return error;
}
