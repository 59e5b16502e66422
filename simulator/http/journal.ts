/**
 * The request journal of a served simulator (the control API's `GET /control/journal`): one entry per HTTP
 * request on any surface, newest last, in a ring of bounded size so a long-running server keeps its memory.
 */

export type Surface = 'native' | 'control' | 'webapi';

export interface JournalEntry {
  /** 1, 2, 3 … over the host's life (never reused, also across resets). */
  readonly seq: number;
  readonly surface: Surface;
  /** The server the request addressed, when it addressed one. */
  readonly serverId: string | null;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly status: number;
  /** Virtual time at the answer (the simulator's clock). */
  readonly atMs: number;
  readonly durationMs: number;
  /** The platform code or the error code the answer carried, when it carried one. */
  readonly code: string | null;
}

export interface JournalFilter {
  surface?: Surface;
  serverId?: string;
  method?: string;
  /** Entries whose path starts with this. */
  pathPrefix?: string;
  status?: number;
  /** Entries after this sequence number. */
  afterSeq?: number;
  /** At most this many, the newest ones (default 1000). */
  limit?: number;
}

export const DEFAULT_JOURNAL_LIMIT = 10_000;

export class Journal {
  readonly #capacity: number;
  #entries: JournalEntry[] = [];
  #seq = 0;
  #dropped = 0;

  constructor(capacity = DEFAULT_JOURNAL_LIMIT) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`journal: bad capacity ${capacity}`);
    this.#capacity = capacity;
  }

  /** Entries pushed out of the ring since the last clear. */
  get dropped(): number {
    return this.#dropped;
  }

  get size(): number {
    return this.#entries.length;
  }

  record(entry: Omit<JournalEntry, 'seq'>): JournalEntry {
    const full = { seq: ++this.#seq, ...entry };
    this.#entries.push(full);
    // Trimmed in chunks: one splice per tenth of the capacity, not one shift per request.
    if (this.#entries.length > this.#capacity + Math.ceil(this.#capacity / 10)) {
      const excess = this.#entries.length - this.#capacity;
      this.#entries.splice(0, excess);
      this.#dropped += excess;
    }
    return full;
  }

  /**
   * Entries matching `filter`, oldest first: with `afterSeq`, the first `limit` after it (so that a reader can
   * page forward without a gap); without, the newest `limit`.
   */
  query(filter: JournalFilter = {}): JournalEntry[] {
    const limit = filter.limit ?? 1000;
    const oldestSeq = this.#seq - this.#capacity;
    const matches = (e: JournalEntry): boolean =>
      e.seq > oldestSeq &&
      (filter.surface === undefined || e.surface === filter.surface) &&
      (filter.serverId === undefined || e.serverId === filter.serverId) &&
      (filter.method === undefined || e.method === filter.method.toUpperCase()) &&
      (filter.pathPrefix === undefined || e.path.startsWith(filter.pathPrefix)) &&
      (filter.status === undefined || e.status === filter.status);
    const out: JournalEntry[] = [];
    if (filter.afterSeq !== undefined) {
      for (const e of this.#entries) {
        if (out.length >= limit) break;
        if (e.seq > filter.afterSeq && matches(e)) out.push(e);
      }
      return out;
    }
    for (let i = this.#entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.#entries[i] as JournalEntry;
      if (matches(e)) out.push(e);
    }
    return out.reverse();
  }

  clear(): void {
    this.#dropped += this.#entries.length;
    this.#entries = [];
  }
}
