import type { JobRow, TableName, Tables } from './schema.ts';

/**
 * The store port: SQL-shaped, transactional. Everything the service must not forget (transfers and their
 * references, jobs, ledger, audit, alerts) is committed through it before the service acts on it.
 *
 * A transaction is all-or-nothing: if `fn` throws, or the process dies before `fn` settles, nothing of it
 * is visible to anyone. Transactions never hold a call to a MetaTrader server: send after commit.
 */
export interface Store {
  /**
   * Runs `fn` in a transaction and commits when it resolves. A conflict with a concurrent transaction
   * (serialization failure) reruns `fn` from the start, so `fn` must have no effect outside `tx`.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Releases connections (no-op for the memory store). */
  close(): Promise<void>;
}

export type Where<K extends TableName> = Partial<Tables[K]>;

export interface SelectOptions<K extends TableName> {
  orderBy?: keyof Tables[K];
  descending?: boolean;
  limit?: number;
}

export interface Tx {
  get<K extends TableName>(table: K, key: string): Promise<Tables[K] | undefined>;
  /** Fails with StoreConstraintError on a duplicate primary or unique key (at once or at commit). */
  insert<K extends TableName>(table: K, row: Tables[K]): Promise<void>;
  /** Fails with StoreConstraintError if the row does not exist. Returns the updated row. */
  update<K extends TableName>(table: K, key: string, patch: Partial<Tables[K]>): Promise<Tables[K]>;
  /**
   * Rows whose columns equal every value in `where` (SQL `=`, `null` matching IS NULL). Rows it returns are
   * protected against concurrent change until commit; rows it did not find are not (no predicate locks):
   * "insert unless present" must rest on a unique key or a sequence row, as every insert of the service does.
   * Ordering puts nulls first.
   */
  select<K extends TableName>(table: K, where: Where<K>, options?: SelectOptions<K>): Promise<Tables[K][]>;
  count<K extends TableName>(table: K, where: Where<K>): Promise<number>;
  /**
   * The next value of a named counter, counting up from 1, never handed out twice. A value taken by a
   * transaction that rolls back may be skipped (a Postgres sequence) or taken again (a counter row); either
   * way no two committed transactions hold the same value.
   */
  nextValue(sequence: string): Promise<number>;
  /**
   * Claims up to `limit` queued jobs due at `nowMs` whose lease has expired, oldest due first, leasing them
   * to `owner` until `nowMs + leaseMs` (SQL: `FOR UPDATE SKIP LOCKED`).
   */
  claimJobs(nowMs: number, owner: string, leaseMs: number, limit: number): Promise<JobRow[]>;
  /** When the earliest queued job becomes claimable (due and unleased), or null if none is queued. */
  nextJobAtMs(): Promise<number | null>;
}

/** A duplicate key or a missing row: a bug or a race the caller must handle, never silently ignored. */
export class StoreConstraintError extends Error {
  readonly table: TableName;
  readonly key: string;
  constructor(table: TableName, key: string, message: string) {
    super(`${table} ${key}: ${message}`);
    this.name = 'StoreConstraintError';
    this.table = table;
    this.key = key;
  }
}

/** A concurrent transaction changed what this one read: the transaction is rerun. */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}
