import {
  type SelectOptions,
  type Store,
  StoreConflictError,
  StoreConstraintError,
  type Tx,
  type Where,
} from './port.ts';
import { type JobRow, TABLE_KEYS, type TableName, type Tables } from './schema.ts';

/**
 * The store in process memory, with the transaction semantics of the SQL adapters: reads see committed
 * data plus the transaction's own writes; a commit is all-or-nothing and checks (optimistically) that no
 * row it read or wrote was committed by someone else in between, else the transaction is rerun. A
 * transaction that never finishes (its process was killed) leaves no trace. Rows are copied in and out,
 * so nothing outside a transaction can change stored data.
 */

interface Versioned {
  row: Record<string, unknown>;
  version: number;
  /** Order of first insert: a scan's order, which an index lookup keeps. */
  ordinal: number;
}

type AnyRow = Record<string, unknown>;

const TABLES = Object.keys(TABLE_KEYS) as TableName[];
const MAX_RERUNS = 50;

/**
 * Columns the service filters on in its hot paths (every pump event, fill and stuck check), indexed besides
 * the unique ones: a `select` or `count` naming one reads only the rows holding that value, not the table.
 */
const INDEXED: { readonly [K in TableName]?: readonly (keyof Tables[K])[] } = {
  // clientId and the jobs' subject: the CRM write-back's lookups (a client's accounts, a subject's jobs).
  accounts: ['serverId', 'state', 'login', 'clientId'],
  transfers: ['state'],
  jobs: ['subject'],
  // The outbox relay's unpublished rows (publishedMs null), an account's trades, a partner's commissions.
  outbox: ['publishedMs'],
  trades: ['login'],
  ib_commissions: ['partnerId'],
};

export class MemoryStore implements Store {
  readonly #rows = new Map<TableName, Map<string, Versioned>>();
  /** table → column → value → primary keys of the committed rows holding it (unique and INDEXED columns). */
  readonly #index = new Map<TableName, Map<string, Map<unknown, Set<string>>>>();
  /** Ids of queued jobs, so a claim does not scan finished ones. */
  readonly #queued = new Set<string>();
  #commits = 0;
  #inserts = 0;

  constructor() {
    for (const table of TABLES) {
      this.#rows.set(table, new Map());
      const columns = new Map<string, Map<unknown, Set<string>>>();
      const indexed: readonly PropertyKey[] = [...TABLE_KEYS[table].unique, ...(INDEXED[table] ?? [])];
      for (const column of indexed) columns.set(String(column), new Map());
      this.#index.set(table, columns);
    }
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let run = 1; ; run++) {
      const tx = new MemoryTx(this);
      try {
        const value = await fn(tx);
        this.#commit(tx);
        return value;
      } catch (error) {
        if (!(error instanceof StoreConflictError) || run >= MAX_RERUNS) throw error;
      }
    }
  }

  async close(): Promise<void> {}

  /** Committed transactions so far (a test's measure of progress). */
  get commits(): number {
    return this.#commits;
  }

  /** @internal */
  committed(table: TableName, key: string): Versioned | undefined {
    return (this.#rows.get(table) as Map<string, Versioned>).get(key);
  }

  /** @internal */
  table(table: TableName): Map<string, Versioned> {
    return this.#rows.get(table) as Map<string, Versioned>;
  }

  /** @internal The committed row holding `value` in a unique column (at most one does). */
  uniqueOwner(table: TableName, column: string, value: unknown): string | undefined {
    const [owner] = this.#index.get(table)?.get(column)?.get(value) ?? [];
    return owner;
  }

  /**
   * @internal The keys of the committed rows that may match `where`, in scan order: those holding the value
   * of its most selective indexed column, or every row when it names none.
   */
  candidates(table: TableName, where: AnyRow): Iterable<string> {
    const rows = this.table(table);
    const columns = this.#index.get(table) as Map<string, Map<unknown, Set<string>>>;
    let best: Set<string> | undefined;
    for (const [column, value] of Object.entries(where)) {
      const index = columns.get(column);
      if (index === undefined) continue;
      const keys = index.get(value);
      if (keys === undefined) return [];
      if (best === undefined || keys.size < best.size) best = keys;
    }
    if (best === undefined) return rows.keys();
    const ordinal = (key: string) => (rows.get(key) as Versioned).ordinal;
    return [...best].sort((a, b) => ordinal(a) - ordinal(b));
  }

  /** @internal */
  queuedJobIds(): Iterable<string> {
    return this.#queued;
  }

  #commit(tx: MemoryTx): void {
    // Validate everything first: a commit applies all of its writes or none.
    for (const [id, version] of tx.reads) {
      const [table, key] = splitId(id);
      const now = this.committed(table, key)?.version ?? 0;
      if (now !== version) throw new StoreConflictError(`${table} ${key} changed since it was read`);
    }
    for (const [id, row] of tx.writes) {
      const [table, key] = splitId(id);
      for (const column of TABLE_KEYS[table].unique) {
        const value = row[String(column)];
        if (value === null || value === undefined) continue;
        const owner = this.uniqueOwner(table, String(column), value);
        if (owner !== undefined && owner !== key && !tx.releases(table, String(column), owner)) {
          throw new StoreConstraintError(table, key, `duplicate ${String(column)} ${String(value)} (held by ${owner})`);
        }
      }
    }
    const version = ++this.#commits;
    for (const [id, row] of tx.writes) {
      const [table, key] = splitId(id);
      const rows = this.table(table);
      const previous = rows.get(key);
      for (const [column, index] of this.#index.get(table) as Map<string, Map<unknown, Set<string>>>) {
        const before = previous?.row[column];
        const value = row[column];
        if (previous !== undefined && before === value) continue;
        if (previous !== undefined) {
          const holders = index.get(before) as Set<string>;
          holders.delete(key);
          if (holders.size === 0) index.delete(before);
        }
        const holders = index.get(value);
        if (holders === undefined) index.set(value, new Set([key]));
        else holders.add(key);
      }
      rows.set(key, { row, version, ordinal: previous?.ordinal ?? this.#inserts++ });
      if (table === 'jobs') {
        if (row.state === 'queued') this.#queued.add(key);
        else this.#queued.delete(key);
      }
    }
  }
}

class MemoryTx implements Tx {
  readonly #store: MemoryStore;
  /** `table\u0000key` → committed version seen (0: absent). */
  readonly reads = new Map<string, number>();
  readonly writes = new Map<string, AnyRow>();

  constructor(store: MemoryStore) {
    this.#store = store;
  }

  async get<K extends TableName>(table: K, key: string): Promise<Tables[K] | undefined> {
    const row = this.#read(table, key);
    return row === undefined ? undefined : (copy(row) as unknown as Tables[K]);
  }

  async insert<K extends TableName>(table: K, row: Tables[K]): Promise<void> {
    const stored = copy(row) as unknown as AnyRow;
    const key = String(stored[String(TABLE_KEYS[table].primary)]);
    if (this.#read(table, key) !== undefined) this.#violation(table, key, 'duplicate primary key');
    this.#checkUnique(table, key, stored);
    this.writes.set(rowId(table, key), stored);
  }

  async update<K extends TableName>(table: K, key: string, patch: Partial<Tables[K]>): Promise<Tables[K]> {
    const current = this.#read(table, key);
    if (current === undefined) this.#violation(table, key, 'no such row');
    const primary = String(TABLE_KEYS[table].primary);
    if (primary in patch && (patch as AnyRow)[primary] !== key) {
      throw new StoreConstraintError(table, key, 'the primary key cannot change');
    }
    const next = { ...current, ...(copy(patch) as AnyRow) };
    this.#checkUnique(table, key, next);
    this.writes.set(rowId(table, key), next);
    return copy(next) as unknown as Tables[K];
  }

  async select<K extends TableName>(table: K, where: Where<K>, options: SelectOptions<K> = {}): Promise<Tables[K][]> {
    const out = this.#matching(table, where as AnyRow);
    if (options.orderBy !== undefined) {
      const column = String(options.orderBy);
      const sign = options.descending === true ? -1 : 1;
      out.sort((a, b) => sign * compare(a[column], b[column]));
    }
    const limited = options.limit === undefined ? out : out.slice(0, options.limit);
    return limited.map((row) => copy(row) as unknown as Tables[K]);
  }

  async count<K extends TableName>(table: K, where: Where<K>): Promise<number> {
    return this.#matching(table, where as AnyRow).length;
  }

  async nextValue(sequence: string): Promise<number> {
    const current = this.#read('sequences', sequence);
    const value = current === undefined ? 1 : (current.value as number) + 1;
    this.writes.set(rowId('sequences', sequence), { name: sequence, value });
    return value;
  }

  async claimJobs(nowMs: number, owner: string, leaseMs: number, limit: number): Promise<JobRow[]> {
    const due: JobRow[] = [];
    // Jobs looked at but not claimed are skipped, not locked (SKIP LOCKED): only claims are checked at commit.
    for (const key of this.#queuedKeys()) {
      const job = this.#peek('jobs', key) as unknown as JobRow | undefined;
      if (job === undefined || job.state !== 'queued') continue;
      if (job.runAtMs <= nowMs && job.leaseUntilMs <= nowMs) due.push(job);
    }
    due.sort((a, b) => a.runAtMs - b.runAtMs || compare(a.id, b.id));
    const claimed: JobRow[] = [];
    for (const job of due.slice(0, limit)) {
      // Read again, checked at commit: a job another transaction claimed meanwhile is skipped.
      const current = this.#read('jobs', job.id) as unknown as JobRow;
      if (current.state !== 'queued' || current.runAtMs > nowMs || current.leaseUntilMs > nowMs) continue;
      claimed.push(await this.update('jobs', job.id, { leaseOwner: owner, leaseUntilMs: nowMs + leaseMs }));
    }
    return claimed;
  }

  async nextJobAtMs(): Promise<number | null> {
    let next: number | null = null;
    // A hint for when to look again, not a decision: read without conflict checks.
    for (const key of this.#queuedKeys()) {
      const job = this.#peek('jobs', key) as unknown as JobRow | undefined;
      if (job === undefined || job.state !== 'queued') continue;
      const at = Math.max(job.runAtMs, job.leaseUntilMs);
      if (next === null || at < next) next = at;
    }
    return next;
  }

  /** Whether this transaction moves `owner` off the unique value it holds (so another row may take it). */
  releases(table: TableName, column: string, owner: string): boolean {
    const written = this.writes.get(rowId(table, owner));
    if (written === undefined) return false;
    const committed = this.#store.committed(table, owner)?.row[column];
    return written[column] !== committed;
  }

  #queuedKeys(): Set<string> {
    const keys = new Set(this.#store.queuedJobIds());
    for (const id of this.writes.keys()) {
      const [table, key] = splitId(id);
      if (table === 'jobs') keys.add(key);
    }
    return keys;
  }

  /**
   * A constraint violation, unless something this transaction read has changed since: then the violation
   * may be an artefact of the stale read (two transactions took the same sequence value), and the
   * transaction is rerun instead, as a serializable SQL transaction would be.
   */
  #violation(table: TableName, key: string, message: string): never {
    for (const [id, version] of this.reads) {
      const [t, k] = splitId(id);
      if ((this.#store.committed(t, k)?.version ?? 0) !== version) {
        throw new StoreConflictError(`${t} ${k} changed since it was read`);
      }
    }
    throw new StoreConstraintError(table, key, message);
  }

  /** A read that is not checked at commit. */
  #peek(table: TableName, key: string): AnyRow | undefined {
    return this.writes.get(rowId(table, key)) ?? this.#store.committed(table, key)?.row;
  }

  #read(table: TableName, key: string): AnyRow | undefined {
    const id = rowId(table, key);
    const written = this.writes.get(id);
    if (written !== undefined) return written;
    const committed = this.#store.committed(table, key);
    if (!this.reads.has(id)) this.reads.set(id, committed?.version ?? 0);
    return committed?.row;
  }

  #matching(table: TableName, where: AnyRow): AnyRow[] {
    const entries = Object.entries(where);
    const out: AnyRow[] = [];
    const seen = new Set<string>();
    const matches = (row: AnyRow) => entries.every(([column, value]) => row[column] === value);
    for (const [id, row] of this.writes) {
      const [t, key] = splitId(id);
      if (t !== table) continue;
      seen.add(key);
      if (matches(row)) out.push(row);
    }
    for (const key of this.#store.candidates(table, where)) {
      const row = (this.#store.committed(table, key) as Versioned).row;
      if (seen.has(key) || !matches(row)) continue;
      // What a transaction read must not change under it before it commits.
      this.#read(table, key);
      out.push(row);
    }
    return out;
  }

  #checkUnique(table: TableName, key: string, row: AnyRow): void {
    for (const column of TABLE_KEYS[table].unique) {
      const value = row[String(column)];
      if (value === null || value === undefined) continue;
      for (const [id, other] of this.writes) {
        const [t, otherKey] = splitId(id);
        if (t === table && otherKey !== key && other[String(column)] === value) {
          this.#violation(table, key, `duplicate ${String(column)} ${String(value)}`);
        }
      }
      const owner = this.#store.uniqueOwner(table, String(column), value);
      if (owner !== undefined && owner !== key && !this.releases(table, String(column), owner)) {
        this.#violation(table, key, `duplicate ${String(column)} ${String(value)} (held by ${owner})`);
      }
    }
  }
}

function rowId(table: TableName, key: string): string {
  return `${table}\u0000${key}`;
}

function splitId(id: string): [TableName, string] {
  const at = id.indexOf('\u0000');
  return [id.slice(0, at) as TableName, id.slice(at + 1)];
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as number | string) < (b as number | string) ? -1 : 1;
}

/**
 * A deep copy of a row: rows are plain data (what a SQL row holds, JSON columns included), and copying them
 * by hand costs a fraction of `structuredClone` on the store's hottest path. Anything else goes through
 * `structuredClone`, which copies what it can and refuses what a row cannot hold (a function).
 */
function copy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'function' || typeof value === 'symbol' ? structuredClone(value) : value;
  }
  if (Array.isArray(value)) return value.map(copy);
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const out: AnyRow = {};
  for (const [key, field] of Object.entries(value)) out[key] = copy(field);
  return out;
}
