/**
 * The trace of a run: every call, fault and state change, in order, with a stable hash.
 *
 * The hash is a 64-bit FNV-1a variant (two 32-bit lanes) over each event's time and the 32-bit FNV-1a
 * hashes of its text fields, so two runs with the
 * same seed and script give the same hash on any machine, and any difference in order, time or detail
 * changes it. Events are kept only when asked (`retain`), because a benchmark records millions.
 */

export type TraceEventType = 'call' | 'fault' | 'state';

export interface TraceEvent {
  seq: number;
  atMs: number;
  type: TraceEventType;
  /** The server (or process) the event happened on. */
  where: string;
  /** Call: the operation; fault: the fault kind; state: what changed. */
  name: string;
  /** Call: the answer code; fault and state: a short canonical description. */
  detail: string;
}

export interface TraceOptions {
  /** Keep events in memory (for tests, reports and replays). Counts and the hash are always kept. */
  retain?: boolean;
  /** With `retain`, keep at most this many of the latest events. */
  limit?: number;
  /** Called with every fault event as it is recorded (a scenario run charts faults without retaining all). */
  onFault?: (event: TraceEvent) => void;
}

export class Trace {
  #h1 = 0x811c9dc5;
  #h2 = 0x050c5d1f;
  #seq = 0;
  #events: TraceEvent[] = [];
  readonly #retain: boolean;
  readonly #limit: number;
  readonly #counts = new Map<TraceEventType, Map<string, number>>([
    ['call', new Map()],
    ['fault', new Map()],
    ['state', new Map()],
  ]);
  readonly #now: () => number;
  readonly #onFault: ((event: TraceEvent) => void) | undefined;

  constructor(now: () => number, options: TraceOptions = {}) {
    this.#now = now;
    this.#onFault = options.onFault;
    this.#retain = options.retain ?? false;
    this.#limit = options.limit ?? Number.POSITIVE_INFINITY;
  }

  call(where: string, op: string, code: number | string): void {
    const detail = String(code);
    // Codes repeat endlessly: their hashes are remembered with the names'.
    this.#record('call', where, op, detail, this.#fieldHash(detail));
  }

  fault(where: string, kind: string, detail = ''): void {
    // Fault and state details name tickets, logins and amounts: mostly unique, so hashed as they come
    // instead of filling the cache of repeated fields.
    this.#record('fault', where, kind, detail, fnv1a(detail), this.#onFault);
  }

  state(where: string, what: string, detail = ''): void {
    this.#record('state', where, what, detail, fnv1a(detail));
  }

  /** Number of events recorded. */
  get length(): number {
    return this.#seq;
  }

  /** The hash of everything recorded so far, as 16 hex digits. */
  hash(): string {
    return (this.#h1 >>> 0).toString(16).padStart(8, '0') + (this.#h2 >>> 0).toString(16).padStart(8, '0');
  }

  /** Counts by name for one event type, sorted by name (stable output). */
  counts(type: TraceEventType): Record<string, number> {
    const counts = this.#counts.get(type) as Map<string, number>;
    const out: Record<string, number> = {};
    for (const key of [...counts.keys()].sort()) out[key] = counts.get(key) as number;
    return out;
  }

  /** Retained events (empty unless constructed with `retain`; the latest `limit` with a limit). */
  events(): readonly TraceEvent[] {
    if (this.#events.length > this.#limit) this.#events.splice(0, this.#events.length - this.#limit);
    return this.#events;
  }

  #record(
    type: TraceEventType,
    where: string,
    name: string,
    detail: string,
    detailHash: number,
    listener?: (event: TraceEvent) => void,
  ): void {
    const seq = this.#seq++;
    const atMs = this.#now();
    // Field by field, each followed by a separator, without building a string on the hot path.
    if (Number.isSafeInteger(atMs) && atMs >= 0) this.#mixNumber(atMs);
    else this.#mixWord(fnv1a(String(atMs)));
    this.#mixWord(TYPE_HASH[type]);
    this.#mixWord(this.#fieldHash(where));
    this.#mixWord(this.#fieldHash(name));
    this.#mixWord(detailHash);
    const counts = this.#counts.get(type) as Map<string, number>;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (!this.#retain && listener === undefined) return;
    const event: TraceEvent = { seq, atMs, type, where, name, detail };
    if (this.#retain) {
      this.#events.push(event);
      // Trim in batches: shifting one event per record would make a long run quadratic.
      if (this.#events.length >= 2 * this.#limit) this.#events.splice(0, this.#events.length - this.#limit);
    }
    listener?.(event);
  }

  /**
   * The hash of a field that repeats: server names, operations, codes. Remembered, up to a bound (a
   * caller may name its servers or operations without limit).
   */
  #fieldHash(text: string): number {
    const known = this.#fieldHashes.get(text);
    if (known !== undefined) return known;
    const h = fnv1a(text);
    if (this.#fieldHashes.size < 4096) this.#fieldHashes.set(text, h);
    return h;
  }

  readonly #fieldHashes = new Map<string, number>();

  /** Mixes a 32-bit word as four bytes, then a field separator. */
  #mixWord(word: number): void {
    this.#mixBytes(word);
    this.#mixBytes(0x1f, 1);
  }

  /** Mixes a non-negative integer below 2^53 as eight little-endian bytes, then a separator. */
  #mixNumber(n: number): void {
    this.#mixBytes(n >>> 0);
    this.#mixBytes(Math.floor(n / 4294967296) >>> 0);
    this.#mixBytes(0x1f, 1);
  }

  /** Mixes the low `count` bytes of `word`, lowest first, into both lanes. */
  #mixBytes(word: number, count = 4): void {
    let h1 = this.#h1;
    let h2 = this.#h2;
    for (let i = 0; i < count; i++) {
      const c = (word >>> (i * 8)) & 0xff;
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
    }
    this.#h1 = h1;
    this.#h2 = h2;
  }
}

/** A text field's own 32-bit FNV-1a hash (over its UTF-16 code units). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The event types' hashes, computed once. */
const TYPE_HASH: Readonly<Record<TraceEventType, number>> = Object.freeze({
  call: fnv1a('call'),
  fault: fnv1a('fault'),
  state: fnv1a('state'),
});
