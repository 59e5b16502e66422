import { MtproofError } from '../kit/errors.ts';
import { PgliteStore } from '../service/store/pglite.ts';
import type { Store, Tx } from '../service/store/port.ts';
import { PostgresStore, redact } from '../service/store/postgres.ts';

/**
 * A Store for the harness over a real database (PGlite, Postgres): transactions run one at a time, in the
 * order they were asked for, and each is registered with the run's scheduler as external work.
 *
 * Why: a query to a real database settles on the event loop, not in virtual time. Registered, it holds the
 * scheduler (no timer fires, no time passes) until it is done, as a memory-store transaction (microtasks
 * only) would. One at a time, first come first served, because two transactions in flight at once would
 * finish in whatever order the database answers: the same script would give different runs. With both, a
 * scenario on PGlite or Postgres replays exactly, and gives the same trace as on the memory store.
 *
 * The service never waits on anything but the store inside a transaction (the port forbids it), so a
 * transaction never waits on virtual time, and the queue cannot deadlock.
 */

/** Where the store registers its work: the run's `Scheduler.external` (or a Process's). */
export type ExternalWork = (work: Promise<unknown>) => void;

export class SerialStore implements Store {
  readonly #inner: Store;
  /** Null until `attach`: transactions run in order, registered with no scheduler. */
  #external: ExternalWork | null = null;
  /** Settles when the last transaction asked for has. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(inner: Store) {
    this.#inner = inner;
  }

  /** Registers transactions from now on with `external` (the scheduler of the run that uses the store). */
  attach(external: ExternalWork): void {
    this.#external = external;
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => this.#inner.transaction(fn));
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#external?.(run);
    return run;
  }

  /** Closes the inner store once every transaction asked for has settled. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#inner.close();
  }
}

export type HarnessStoreKind = 'memory' | 'pglite' | 'postgres';
export const HARNESS_STORE_KINDS: readonly HarnessStoreKind[] = ['memory', 'pglite', 'postgres'];

export interface HarnessStores {
  kind: HarnessStoreKind;
  /** What the runs use, for messages: `memory`, `PGlite (in memory)`, `Postgres at postgres://…`. */
  label: string;
  /**
   * Opens a fresh, empty store for one run (for `mtproofIntegration({ store })`), whose `close` removes it;
   * undefined for memory (the integration's own MemoryStore).
   */
  factory: (() => Promise<Store>) | undefined;
  /** Closes the database the runs' stores were on. */
  close(): Promise<void>;
}

/**
 * The stores of a certification on `kind`: one database for the whole command (PGlite in memory, or the
 * Postgres server at `databaseUrl`), and in it a schema of its own for each run, dropped when the run is
 * over. A Postgres that is not given or does not answer is MTP_STORE_UNAVAILABLE, before any run.
 */
export async function openHarnessStores(
  kind: HarnessStoreKind,
  options: { databaseUrl?: string | undefined } = {},
): Promise<HarnessStores> {
  if (kind === 'memory') return { kind, label: 'memory', factory: undefined, close: async () => {} };
  let runs = 0;
  // Unique per process: two certifications on one server never share a schema.
  const schema = () => `mtproof_certify_${process.pid}_${++runs}`;
  if (kind === 'pglite') {
    const db = await PgliteStore.open('memory');
    return {
      kind,
      label: 'PGlite (in memory)',
      factory: () => db.sibling(schema(), { temporary: true }),
      close: () => db.close(),
    };
  }
  const url = options.databaseUrl;
  if (url === undefined || url === '') {
    throw new MtproofError(
      'MTP_STORE_UNAVAILABLE',
      '--store postgres needs DATABASE_URL (postgres://user:password@host:5432/db): it is not set',
      [{ path: 'DATABASE_URL', message: 'not set' }],
    );
  }
  // Asked once before any run, so that a server that does not answer is a coded error, not a failed run.
  try {
    await (await PostgresStore.connect(url, { migrate: false, maxConnections: 1 })).close();
  } catch (error) {
    if (!(error instanceof MtproofError)) throw error;
    throw new MtproofError(error.code, `${error.message} (the server DATABASE_URL names does not answer)`, [
      { path: 'DATABASE_URL', message: 'unreachable' },
    ]);
  }
  return {
    kind,
    label: `Postgres at ${redact(url)}`,
    // Each run on connections of its own, closed with it: a server connection keeps every statement it
    // prepared, and every run's schema has statements of its own (about 1 MB a run on each connection,
    // which a long certification would pile up on connections shared by all its runs). A run's data is
    // thrown away after it: no commit needs to wait for the disk.
    factory: () =>
      PostgresStore.connect(url, { schema: schema(), maxConnections: 2, synchronousCommit: false, temporary: true }),
    close: async () => {},
  };
}
