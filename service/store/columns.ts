import { TABLE_KEYS, type TableName, type Tables } from './schema.ts';

/**
 * The one place that maps each table's fields (camelCase, schema.ts) to SQL columns and types, for the SQL
 * adapters (sql.ts) and their migrations (migrations/*.sql; a test checks the migrated columns against this).
 * The mapped type makes every field of every row type need an entry here: a field added to schema.ts and
 * not here does not compile.
 *
 * Types: integers (milliseconds, money in minor units, logins, tickets, counts) are `bigint` and come back
 * as JS numbers (they fit in 2^53); prices `double precision`; objects and arrays `jsonb`.
 */

export type SqlType = 'text' | 'bigint' | 'double precision' | 'jsonb';

export interface ColumnSpec {
  readonly type: SqlType;
  readonly nullable: boolean;
}

export interface Column extends ColumnSpec {
  /** The row's field. */
  readonly field: string;
  /** The SQL column: the field in snake_case. */
  readonly column: string;
}

/**
 * Every table also has this column of the adapter's own (not a field of the row): the order rows were
 * first inserted in, which is the order a select without `orderBy` returns them (and breaks ties of one),
 * as the memory store's scan does. Postgres's physical order changes with every update; a harness run
 * must see the same order on every store.
 */
export const INSERT_ORDER_COLUMN = '_ord';

const text: ColumnSpec = { type: 'text', nullable: false };
const textOrNull: ColumnSpec = { type: 'text', nullable: true };
const int: ColumnSpec = { type: 'bigint', nullable: false };
const intOrNull: ColumnSpec = { type: 'bigint', nullable: true };
const double: ColumnSpec = { type: 'double precision', nullable: false };
const json: ColumnSpec = { type: 'jsonb', nullable: false };
const jsonOrNull: ColumnSpec = { type: 'jsonb', nullable: true };

type TableColumns = { readonly [K in TableName]: { readonly [F in keyof Tables[K]]-?: ColumnSpec } };

export const COLUMN_SPECS: TableColumns = {
  clients: {
    id: text,
    externalId: textOrNull,
    name: text,
    email: text,
    country: text,
    kyc: text,
    partnerId: textOrNull,
    createdMs: int,
    updatedMs: int,
  },
  accounts: {
    id: text,
    clientId: text,
    productId: text,
    kind: text,
    serverId: text,
    group: text,
    currency: text,
    leverage: intOrNull,
    state: text,
    login: intOrNull,
    attempts: int,
    uncertainSinceMs: intOrNull,
    lastError: textOrNull,
    createdMs: int,
    updatedMs: int,
    openedMs: intOrNull,
  },
  transfers: {
    ref: text,
    kind: text,
    clientId: text,
    accountId: text,
    serverId: text,
    login: int,
    amountCents: int,
    currency: text,
    state: text,
    pspRef: textOrNull,
    ticket: intOrNull,
    refundTicket: intOrNull,
    attempts: int,
    uncertainSinceMs: intOrNull,
    lastError: textOrNull,
    reason: textOrNull,
    acceptedMs: int,
    legStartedMs: int,
    updatedMs: int,
    postedMs: intOrNull,
    finishedMs: intOrNull,
  },
  jobs: {
    id: text,
    kind: text,
    subject: text,
    state: text,
    runAtMs: int,
    attempts: int,
    leaseOwner: textOrNull,
    leaseUntilMs: int,
    lastError: textOrNull,
    createdMs: int,
    updatedMs: int,
  },
  ledger: {
    id: text,
    ref: text,
    kind: text,
    accountId: text,
    serverId: text,
    login: int,
    amountCents: int,
    ticket: int,
    atMs: int,
  },
  audit: {
    id: text,
    atMs: int,
    serverId: text,
    op: text,
    request: json,
    subject: textOrNull,
    outcome: textOrNull,
    code: intOrNull,
    codeName: textOrNull,
    reason: textOrNull,
    answer: jsonOrNull,
    answeredMs: intOrNull,
  },
  alerts: {
    id: text,
    key: text,
    kind: text,
    severity: text,
    subject: text,
    message: text,
    details: json,
    atMs: int,
    deliveredTo: json,
  },
  reconciliations: {
    id: text,
    startedMs: int,
    finishedMs: int,
    state: text,
    unreachable: json,
    findings: json,
  },
  trades: {
    id: text,
    serverId: text,
    login: int,
    ticket: int,
    action: text,
    symbol: text,
    side: text,
    volumeCentiLots: int,
    price: double,
    profitCents: intOrNull,
    serverSec: intOrNull,
    source: text,
    recordedMs: int,
  },
  outbox: {
    id: text,
    seq: int,
    topic: text,
    payload: json,
    createdMs: int,
    publishedMs: intOrNull,
  },
  ib_commissions: {
    tradeId: text,
    partnerId: text,
    planId: text,
    clientId: text,
    accountId: text,
    serverId: text,
    login: int,
    symbol: text,
    volumeCentiLots: int,
    ratePerLotCents: int,
    commissionCentiCents: int,
    currency: text,
    atMs: int,
  },
  idempotency: {
    id: text,
    key: text,
    method: text,
    route: text,
    bodyHash: text,
    body: json,
    status: int,
    response: json,
    createdMs: int,
  },
  api_keys: {
    id: text,
    name: text,
    hash: text,
    prefix: text,
    createdMs: int,
    revokedMs: intOrNull,
  },
  sequences: {
    name: text,
    value: int,
  },
};

export const TABLES = Object.keys(COLUMN_SPECS) as TableName[];

/** `uncertainSinceMs` → `uncertain_since_ms`. */
export function columnName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const COLUMNS = new Map<TableName, readonly Column[]>(
  TABLES.map((table) => [
    table,
    Object.entries(COLUMN_SPECS[table] as Record<string, ColumnSpec>).map(([field, spec]) => ({
      field,
      column: columnName(field),
      ...spec,
    })),
  ]),
);

/** The columns of `table`, in the order of the row type. */
export function columnsOf(table: TableName): readonly Column[] {
  const columns = COLUMNS.get(table);
  if (columns === undefined) throw new Error(`store: no table ${String(table)}`);
  return columns;
}

/** The column of `field` in `table`, or undefined if the row has no such field. */
export function columnOf(table: TableName, field: string): Column | undefined {
  return columnsOf(table).find((c) => c.field === field);
}

/** The primary key's column and the unique ones, from TABLE_KEYS. */
export function keysOf(table: TableName): { primary: Column; unique: readonly Column[] } {
  const keys = TABLE_KEYS[table];
  const find = (field: PropertyKey) => columnOf(table, String(field)) as Column;
  return { primary: find(keys.primary), unique: keys.unique.map(find) };
}
