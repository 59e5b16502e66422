import type { BalanceOp } from '../adapters/port/manager-api.ts';
import { commentFor, type Leg } from './domain/reference.ts';
import { legEffect } from './posting.ts';
import type { PspRecord } from './psp/port.ts';
import type { Finding, TransferRow, TransferState } from './store/schema.ts';

/**
 * The reconciliation engine: a pure, streaming function of the servers' histories, the payment provider's
 * records and the service's ledger (transfers), fed in that order, returning the findings. No I/O, no clock:
 * `reconcile.ts` feeds it from the store, the servers and the provider.
 *
 * It keeps what a later input needs to be checked, in compact form, and nothing else:
 * - every server operation whose comment is one of our references: 32 bytes (login, ticket, amount, and
 *   server, leg and kind packed), at the index of its reference's sequence number in pages of typed arrays.
 *   References take their numbers from one store sequence, so the index is dense, and the ledger, read in
 *   reference order, walks it in order. Operations past the first with the same number (a refund, a
 *   duplicate) go to an overflow list. An operation whose comment is not ours is reported as it arrives;
 * - every succeeded provider record: 24 bytes, its id's characters in a byte arena, in a hash table by id;
 * - small interning tables (server ids, currencies, money kinds), and the findings.
 * A transfer is checked as it arrives against what is kept for it, and is not kept. Memory: about 32 bytes
 * per reference number up to the highest seen on a server (pages of 1,024 numbers are allocated where an
 * operation lands), about 24 + 11 to 22 (the table) + the id's length per provider record, and the findings.
 *
 * It finds exactly what the three-way algorithm it replaces found (a test compares both on random inputs):
 * the same findings, with the same keys, fields (in the same property order) and order (sorted by key, ties
 * in the order the old algorithm raised them). It relies on one thing the store guarantees: transfer
 * references are unique (the table's primary key).
 */

const ON_SERVER_MAIN: ReadonlySet<TransferState> = new Set(['posted', 'done', 'refunding', 'refunded']);
const NEVER_POSTED: ReadonlySet<TransferState> = new Set(['rejected', 'failed']);
/** Ledger states that do not carry money the provider says it moved (a payout result still awaited counts). */
const NOT_CARRIED: Readonly<Record<'deposit' | 'withdrawal', ReadonlySet<TransferState>>> = {
  deposit: new Set(['rejected', 'failed']),
  withdrawal: new Set(['posted', 'refunding', 'refunded', 'rejected', 'failed']),
};
/** States in which a withdrawal has certainly not been refunded. */
const NO_REFUND: ReadonlySet<TransferState> = new Set(['hold', 'posting', 'posted', 'done', 'rejected', 'failed']);

export interface ReconcileEngineOptions {
  /** The broker's reference prefix (`config.references.prefix`): a comment with another is not ours. */
  prefix: string;
  /** Transfers and payments at or after this instant are in flight, not findings. */
  settledBeforeMs: number;
  /** The id of the open account at (server, login), named in a wrong-account finding's detail. */
  accountIdAt?: (serverId: string, login: number) => string | undefined;
}

// Operations: 4 float64 words each: login, ticket, amount; then two int32s, the overflow link (index + 1,
// 0 for none) and META.
const PAGE_SHIFT = 10;
const PAGE = 1 << PAGE_SHIFT;
/** Pages for sequence numbers below 2^26 are found by index, the rest (a stray number) through a map. */
const LOW_PAGES = 1 << 16;
const META_PRESENT = 1;
const META_REFUND = 2;
const LETTER_SHIFT = 2;
const SERVER_SHIFT = 4;
const KIND_SHIFT = 16;
/** Bits 28..30: the kind letters whose transfer arrived (its operations were classified then). */
const CONSUMED_SHIFT = 28;
const MAX_SERVERS = 0xfff;
const MAX_MONEY_KINDS = 0xfff;
/** Operations are stored this many at a time, in the order of where they go: see #flushOps. */
const STAGE = 1 << 15;
/** Staged operations are put in order by a counting sort on 16 bits of their page number. */
const BUCKETS = 1 << 16;
/** A block of 512 slots of the provider records' table is one 4 KiB memory page: see #indexRecords. */
const TABLE_BLOCK_SHIFT = 9;

// Chunked lists (the overflow, the undo log, the provider records): a chunk is allocated when the last is
// full, so storage grows without copying and never holds more than one chunk of slack.
const SHIFT = 16;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;

/**
 * Provider records: 3 float64 words each: the amount; then as int32s the id's arena offset, the next record
 * with the same id (-1: none), flags | id length << 8, currency | kind << 16.
 */
const REC_WORDS = 3;
const REC_SETTLED = 1;
const REC_MATCHED = 2;
const REC_TENTATIVE = 4;
/** Arena chunks hold the ids' characters (Latin-1); an id longer, or with a wider character, is kept as is. */
const ARENA_SHIFT = 20;
const ARENA_CHUNK = 1 << ARENA_SHIFT;
const LONG_ID = 255;
/** How many records after the last one found a transfer's is looked for before the table. */
const CURSOR_WINDOW = 4;

const ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const CHECK_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const KIND_LETTERS = 'DWC';
const FNV_PRIME = 16777619;

/** Ties in the final order break by the phase the old algorithm raised a finding in, then by input order. */
const PHASE_OPS = 0;
const PHASE_LEGS = 1;
const PHASE_PSP = 2;
const PHASE_LEDGER = 3;

interface Ranked {
  finding: Finding;
  phase: number;
  ord: number;
}

type Draft = Omit<Finding, 'key'> & { key?: string };

/** As the old algorithm built them: the key, computed when not given, is then the last property. */
function finding(f: Draft): Finding {
  const key = f.key ?? `${f.class}:${f.ref ?? `${f.serverId}:${f.login}:${f.ticket}`}`;
  return { ...f, key };
}

/** An operation taken out of storage, on the slow path (a finding, or more than one operation). */
interface OpView {
  serverId: string;
  server: number;
  login: number;
  ticket: number;
  amountCents: number;
  kind: string;
  leg: Leg;
  letter: number;
  /** Its place among the operations with its reference number, in arrival order. */
  ord: number;
}

const NO_OPS: readonly OpView[] = Object.freeze([]);

class Interner {
  readonly #ids = new Map<string, number>();
  readonly names: string[] = [];
  /** The last name asked for: inputs repeat the same few (one currency, one kind) row after row. */
  #lastName: string | null = null;
  #lastId = -1;

  constructor(
    readonly what: string,
    readonly max: number,
  ) {}

  id(name: string): number {
    if (name === this.#lastName) return this.#lastId;
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      if (id > this.max) throw new Error(`reconcile engine: more than ${this.max + 1} distinct ${this.what}`);
      this.#ids.set(name, id);
      this.names.push(name);
    }
    this.#lastName = name;
    this.#lastId = id;
    return id;
  }

  /** The id, or -1 for a name never interned. */
  find(name: string): number {
    if (name === this.#lastName) return this.#lastId;
    const id = this.#ids.get(name);
    if (id === undefined) return -1;
    this.#lastName = name;
    this.#lastId = id;
    return id;
  }
}

/** A page of operations: PAGE slots of 4 words, seen as float64s and as int32s. */
interface Page {
  words: Float64Array;
  ints: Int32Array;
}

/** The page of a sequence number. */
function pageOf(sequence: number): number {
  return sequence < 0x80000000 ? sequence >>> PAGE_SHIFT : Math.floor(sequence / PAGE);
}

/** The slot of a sequence number in its page. */
function slotOf(sequence: number): number {
  return sequence < 0x80000000 ? sequence & (PAGE - 1) : sequence % PAGE;
}

function newPage(): Page {
  const buffer = new ArrayBuffer(PAGE * 32);
  return { words: new Float64Array(buffer), ints: new Int32Array(buffer) };
}

/** A final avalanche, so that ids differing only in their last characters spread over the table. */
function spread(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

function fnv(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

export class ReconcileEngine {
  readonly #prefixDash: string;
  readonly #prefixCodes: Uint16Array;
  /** FNV state after `PREFIX-`, or null if the prefix can never be parsed (then no comment is ours). */
  readonly #prefixHash: number | null;
  readonly #settledBeforeMs: number;
  readonly #accountIdAt: (serverId: string, login: number) => string | undefined;
  #phase: 'ops' | 'server' | 'psp' | 'transfers' | 'done' = 'ops';
  /** Set by #parse. */
  #parsedLetter = 0;
  #parsedRefund = false;

  readonly #servers = new Interner('servers', MAX_SERVERS);
  readonly #moneyKinds = new Interner('money kinds', MAX_MONEY_KINDS);
  readonly #currencies = new Interner('currencies', 0xffff);
  readonly #pspKinds = new Interner('provider record kinds', 0x7fff);
  readonly #reconciled = new Uint8Array(MAX_SERVERS + 1);

  // Operations kept, by reference sequence number.
  readonly #lowPages: (Page | undefined)[] = new Array(LOW_PAGES);
  readonly #highPages = new Map<number, Page>();
  #overflow: Float64Array[] = [];
  #overflowInts: Int32Array[] = [];
  #overflowCount = 0;
  #opsKept = 0;
  /** Every operation seen, ours or not: the order of unknown-operation findings. */
  #opSeen = 0;
  #server = -1;
  /**
   * Operations parsed but not yet stored: [sequence, login, ticket, amount], their META, their bucket (see
   * #flushOps); and the counting sort's counts and result. Allocated with the first server.
   */
  #staged = new Float64Array(0);
  #stagedMeta = new Int32Array(0);
  #stagedCount = 0;
  #bucketOf = new Uint16Array(0);
  #bucketStart = new Int32Array(0);
  #order = new Int32Array(0);
  /** The sequence numbers of the current server's operations, newest last: to undo it if it breaks off. */
  #undo: Float64Array[] = [];
  #undoCount = 0;
  #serverMark = { overflow: 0, kept: 0, seen: 0, findings: 0 };

  // Provider records (succeeded ones only), by id.
  #pspActive = false;
  #recWords: Float64Array[] = [];
  #recInts: Int32Array[] = [];
  #recCount = 0;
  #arena: Uint8Array[] = [];
  #arenaPos = ARENA_CHUNK;
  #longIds: string[] = [];
  /**
   * Open addressing, linear probing: [first record of an id (-1: empty), the id's hash] pairs, so that a
   * probe past another id rarely reads that id's record.
   */
  #pspTable = new Int32Array(0);
  #pspMask = -1;
  /** Set by #storeId: the id's hash. */
  #storedHash = 0;
  /** Each record's id hash, until the table is built. */
  #recHashes: Int32Array[] = [];
  /** Where the next transfer's record is looked for first. */
  #cursor = 0;
  /** A record's finding as of the last transfer with its id (the old algorithm took the last). */
  #tentative = new Map<number, Finding>();

  #transferCount = 0;
  readonly #findings: Ranked[] = [];

  constructor(options: ReconcileEngineOptions) {
    this.#settledBeforeMs = options.settledBeforeMs;
    this.#accountIdAt = options.accountIdAt ?? (() => undefined);
    this.#prefixDash = `${options.prefix}-`;
    this.#prefixCodes = Uint16Array.from(this.#prefixDash, (c) => c.charCodeAt(0));
    this.#prefixHash = /^[A-Z][A-Z0-9]{0,7}$/.test(options.prefix) ? fnv(this.#prefixDash) : null;
    // Fixed ids, so that kinds compare by number on the common path.
    this.#moneyKinds.id('balance');
    this.#moneyKinds.id('credit');
    this.#pspKinds.id('deposit');
  }

  /** Operations kept (ours, awaiting their transfer), for the benchmark's figures. */
  get operationsKept(): number {
    return this.#opsKept;
  }

  // ---------------------------------------------------------------------------------------------------
  // Server histories

  beginServer(serverId: string): void {
    if (this.#phase !== 'ops') throw new Error(`reconcile engine: beginServer in phase ${this.#phase}`);
    this.#phase = 'server';
    this.#server = this.#servers.id(serverId);
    if (this.#staged.length === 0) {
      this.#staged = new Float64Array(STAGE * 4);
      this.#stagedMeta = new Int32Array(STAGE);
      this.#bucketOf = new Uint16Array(STAGE);
      this.#bucketStart = new Int32Array(BUCKETS + 1);
      this.#order = new Int32Array(STAGE);
    }
    this.#undoCount = 0;
    this.#serverMark = {
      overflow: this.#overflowCount,
      kept: this.#opsKept,
      seen: this.#opSeen,
      findings: this.#findings.length,
    };
  }

  addOperation(op: BalanceOp): void {
    if (this.#phase !== 'server') throw new Error(`reconcile engine: addOperation in phase ${this.#phase}`);
    const seen = this.#opSeen++;
    const sequence = this.#parse(op.comment);
    if (sequence < 0) {
      this.#add(PHASE_OPS, seen, {
        class: 'unknown_operation',
        serverId: this.#servers.names[this.#server] as string,
        login: op.login,
        ticket: op.ticket,
        ref: null,
        pspRef: null,
        expectedCents: null,
        actualCents: op.amountCents,
        detail: `${op.kind} ${op.amountCents} "${op.comment}" not made by the service`,
      });
      return;
    }
    const kind = op.kind === 'balance' ? 0 : op.kind === 'credit' ? 1 : this.#moneyKinds.id(op.kind);
    const meta =
      META_PRESENT |
      (this.#parsedRefund ? META_REFUND : 0) |
      (this.#parsedLetter << LETTER_SHIFT) |
      (this.#server << SERVER_SHIFT) |
      (kind << KIND_SHIFT);
    const k = this.#stagedCount++;
    const staged = this.#staged;
    staged[k * 4] = sequence;
    staged[k * 4 + 1] = op.login;
    staged[k * 4 + 2] = op.ticket;
    staged[k * 4 + 3] = op.amountCents;
    this.#stagedMeta[k] = meta;
    this.#bucketOf[k] = pageOf(sequence) & (BUCKETS - 1);
    if (k + 1 === STAGE) this.#flushOps();
  }

  /** Orders the first `count` staged items by bucket, stably (arrival order within a bucket). */
  #sortStaged(count: number): Int32Array {
    const start = this.#bucketStart.fill(0);
    const bucketOf = this.#bucketOf;
    for (let k = 0; k < count; k++) {
      const b = (bucketOf[k] as number) + 1;
      start[b] = (start[b] as number) + 1;
    }
    for (let b = 1; b <= BUCKETS; b++) start[b] = (start[b] as number) + (start[b - 1] as number);
    const order = this.#order;
    for (let k = 0; k < count; k++) {
      const b = bucketOf[k] as number;
      const at = start[b] as number;
      order[at] = k;
      start[b] = at + 1;
    }
    return order;
  }

  /**
   * Stores the staged operations at their numbers, page by page (in arrival order within a page, so within
   * a number). Operations arrive account by account, their numbers scattered over all the pages: stored as
   * they come, each would be a cache and TLB miss somewhere in hundreds of megabytes; in page order, they
   * walk the pages forward. On the benchmark, this made storing them several times faster.
   */
  #flushOps(): void {
    const staged = this.#staged;
    const count = this.#stagedCount;
    const order = this.#sortStaged(count);
    for (let r = 0; r < count; r++) {
      const k = order[r] as number;
      const sequence = staged[k * 4] as number;
      const meta = this.#stagedMeta[k] as number;
      const page = this.#page(sequence, true) as Page;
      const o = slotOf(sequence) * 4;
      const ints = page.ints;
      if ((ints[o * 2 + 7] as number) === 0) {
        const words = page.words;
        words[o] = staged[k * 4 + 1] as number;
        words[o + 1] = staged[k * 4 + 2] as number;
        words[o + 2] = staged[k * 4 + 3] as number;
        ints[o * 2 + 7] = meta;
      } else {
        // Another operation with this number: onto the overflow list, newest first.
        const i = this.#overflowCount++;
        const c = i >>> SHIFT;
        if (c === this.#overflow.length) {
          const buffer = new ArrayBuffer(CHUNK * 32);
          this.#overflow.push(new Float64Array(buffer));
          this.#overflowInts.push(new Int32Array(buffer));
        }
        const w = this.#overflow[c] as Float64Array;
        const n = this.#overflowInts[c] as Int32Array;
        const x = (i & MASK) * 4;
        w[x] = staged[k * 4 + 1] as number;
        w[x + 1] = staged[k * 4 + 2] as number;
        w[x + 2] = staged[k * 4 + 3] as number;
        n[x * 2 + 6] = ints[o * 2 + 6] as number;
        n[x * 2 + 7] = meta;
        ints[o * 2 + 6] = i + 1;
      }
      const u = this.#undoCount++;
      if (u >>> SHIFT === this.#undo.length) this.#undo.push(new Float64Array(CHUNK));
      (this.#undo[u >>> SHIFT] as Float64Array)[u & MASK] = sequence;
    }
    this.#opsKept += count;
    this.#stagedCount = 0;
  }

  /** `complete: false`: the history broke off; everything this server gave is dropped, it is not reconciled. */
  endServer(complete: boolean): void {
    if (this.#phase !== 'server') throw new Error(`reconcile engine: endServer in phase ${this.#phase}`);
    this.#phase = 'ops';
    if (complete) {
      this.#flushOps();
      this.#reconciled[this.#server] = 1;
    } else {
      this.#stagedCount = 0;
      // Newest first: each operation undone is then the newest with its number.
      for (let u = this.#undoCount - 1; u >= 0; u--) {
        const sequence = (this.#undo[u >>> SHIFT] as Float64Array)[u & MASK] as number;
        const page = this.#page(sequence, false) as Page;
        const o = slotOf(sequence) * 4;
        const link = page.ints[o * 2 + 6] as number;
        if (link !== 0) {
          const i = link - 1;
          page.ints[o * 2 + 6] = (this.#overflowInts[i >>> SHIFT] as Int32Array)[(i & MASK) * 8 + 6] as number;
        } else {
          page.ints[o * 2 + 7] = 0;
        }
      }
      const mark = this.#serverMark;
      this.#overflowCount = mark.overflow;
      this.#opsKept = mark.kept;
      this.#opSeen = mark.seen;
      this.#findings.length = mark.findings;
    }
    this.#undo = [];
    this.#undoCount = 0;
  }

  #page(sequence: number, create: boolean): Page | undefined {
    const number = pageOf(sequence);
    if (number < LOW_PAGES) {
      let page = this.#lowPages[number];
      if (page === undefined && create) {
        page = newPage();
        this.#lowPages[number] = page;
      }
      return page;
    }
    let page = this.#highPages.get(number);
    if (page === undefined && create) {
      page = newPage();
      this.#highPages.set(number, page);
    }
    return page;
  }

  // ---------------------------------------------------------------------------------------------------
  // Provider records

  beginPsp(): void {
    if (this.#phase !== 'ops') throw new Error(`reconcile engine: beginPsp in phase ${this.#phase}`);
    this.#phase = 'psp';
    this.#pspActive = true;
  }

  addPspRecord(record: PspRecord): void {
    if (this.#phase !== 'psp') throw new Error(`reconcile engine: addPspRecord in phase ${this.#phase}`);
    // Only succeeded payments are checked (and only they make a ledger deposit "seen").
    if (record.status !== 'succeeded') return;
    const i = this.#recCount++;
    const c = i >>> SHIFT;
    if (c === this.#recWords.length) {
      const buffer = new ArrayBuffer(CHUNK * REC_WORDS * 8);
      this.#recWords.push(new Float64Array(buffer));
      this.#recInts.push(new Int32Array(buffer));
    }
    if (c === this.#recHashes.length) this.#recHashes.push(new Int32Array(CHUNK));
    const w = this.#recWords[c] as Float64Array;
    const n = this.#recInts[c] as Int32Array;
    const o = (i & MASK) * REC_WORDS;
    w[o] = record.amountCents;
    const length = this.#storeId(record.pspRef, n, o * 2);
    const settled = record.atMs >= this.#settledBeforeMs ? 0 : REC_SETTLED;
    n[o * 2 + 4] = settled | (length << 8);
    n[o * 2 + 5] = this.#currencies.id(record.currency) | (this.#pspKinds.id(record.kind) << 16);
    (this.#recHashes[c] as Int32Array)[i & MASK] = this.#storedHash;
  }

  /**
   * The table of the records by id, built once all are in: sized for them (load at most 3/4; a probe
   * reads the hashes beside the slots, not the records), and filled block of slots by block, the records
   * put in that order by a counting sort. Inserted as they came, each would be a cache and TLB miss
   * somewhere in a table of a hundred megabytes or more; in block order they walk it forward.
   */
  #indexRecords(): void {
    const count = this.#recCount;
    let slots = 1 << 12;
    while (slots * 3 < count * 4) slots *= 2;
    const table = new Int32Array(slots * 2).fill(-1);
    const mask = slots - 1;
    const shift = Math.max(TABLE_BLOCK_SHIFT, Math.log2(slots) - 16);
    const blocks = (slots >>> shift) + 1;
    const start = new Int32Array(blocks + 1);
    const hashOf = (i: number) => (this.#recHashes[i >>> SHIFT] as Int32Array)[i & MASK] as number;
    for (let i = 0; i < count; i++) {
      const b = ((hashOf(i) & mask) >>> shift) + 1;
      start[b] = (start[b] as number) + 1;
    }
    for (let b = 1; b <= blocks; b++) start[b] = (start[b] as number) + (start[b - 1] as number);
    const order = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const b = (hashOf(i) & mask) >>> shift;
      const at = start[b] as number;
      order[at] = i;
      start[b] = at + 1;
    }
    this.#pspTable = table;
    this.#pspMask = mask;
    for (let r = 0; r < count; r++) {
      const i = order[r] as number;
      const hash = hashOf(i);
      const n = this.#recInts[i >>> SHIFT] as Int32Array;
      const o = (i & MASK) * REC_WORDS * 2;
      // Records with the same id (only in a malformed export) form a ring: any of them leads to all.
      const slot = this.#pspSlot(i, hash);
      const head = table[slot * 2] as number;
      if (head < 0) {
        table[slot * 2] = i;
        table[slot * 2 + 1] = hash;
        n[o + 3] = i;
      } else {
        const hn = this.#recInts[head >>> SHIFT] as Int32Array;
        const ho = (head & MASK) * REC_WORDS * 2;
        n[o + 3] = hn[ho + 3] as number;
        hn[ho + 3] = i;
      }
    }
    this.#recHashes = [];
  }

  /** `complete: false`: the records could not be read in full; the provider's side is not reconciled. */
  endPsp(complete: boolean): void {
    if (this.#phase !== 'psp') throw new Error(`reconcile engine: endPsp in phase ${this.#phase}`);
    this.#phase = 'ops';
    if (complete) {
      this.#indexRecords();
      return;
    }
    this.#pspActive = false;
    this.#recWords = [];
    this.#recInts = [];
    this.#recCount = 0;
    this.#arena = [];
    this.#arenaPos = ARENA_CHUNK;
    this.#longIds = [];
    this.#recHashes = [];
    this.#tentative.clear();
  }

  // ---------------------------------------------------------------------------------------------------
  // Transfers

  addTransfer(t: TransferRow): void {
    if (this.#phase === 'ops') this.#phase = 'transfers';
    if (this.#phase !== 'transfers') throw new Error(`reconcile engine: addTransfer in phase ${this.#phase}`);
    const ord = this.#transferCount++;
    const server = this.#servers.find(t.serverId);
    const reconciled = server >= 0 && this.#reconciled[server] === 1;
    let main = NO_OPS;
    let refund = NO_OPS;
    /** The common case: one operation, on the main leg, on the transfer's account: checked in place. */
    let single: Page | null = null;
    let singleAt = 0;
    const sequence = this.#parse(t.ref);
    // Only a reference in its own form (no refund suffix) is the one a comment carries.
    if (sequence >= 0 && !this.#parsedRefund) {
      const letter = this.#parsedLetter;
      const page = this.#page(sequence, false);
      const o = slotOf(sequence) * 4;
      const meta = page === undefined ? 0 : (page.ints[o * 2 + 7] as number);
      if (page !== undefined && meta !== 0 && ((meta >>> CONSUMED_SHIFT) & (1 << letter)) === 0) {
        page.ints[o * 2 + 7] = meta | (1 << (CONSUMED_SHIFT + letter));
        if (
          page.ints[o * 2 + 6] === 0 &&
          (meta & (META_REFUND | (3 << LETTER_SHIFT))) === letter << LETTER_SHIFT &&
          ((meta >>> SERVER_SHIFT) & MAX_SERVERS) === server &&
          page.words[o] === t.login
        ) {
          single = page;
          singleAt = o;
        } else {
          for (const op of this.#opsAt(page, o)) {
            if (op.letter !== letter) continue; // another reference's (the same number, another kind letter)
            if (op.server !== server || op.login !== t.login) this.#wrongAccount(op, t);
            else if (op.leg === 'main') main = [...main, op];
            else refund = [...refund, op];
          }
        }
      }
    }
    if (reconciled) {
      if (single !== null) {
        const expected = (t.kind === 'withdrawal' ? -1 : 1) * t.amountCents;
        const meta = single.ints[singleAt * 2 + 7] as number;
        const kind = (meta >>> KIND_SHIFT) & MAX_MONEY_KINDS;
        const ok =
          single.words[singleAt + 2] === expected &&
          kind === (t.kind === 'credit' ? 1 : 0) &&
          !NEVER_POSTED.has(t.state);
        if (!ok) main = [this.#view(single.words, single.ints, singleAt, 0)];
      }
      if (single === null || main.length > 0) this.#checkLeg(ord, t, 'main', main);
      if (t.kind === 'withdrawal') this.#checkLeg(ord, t, 'refund', refund);
    }
    if (this.#pspActive && t.pspRef !== null) this.#checkTransferPsp(ord, t, t.pspRef);
  }

  /** Every operation with the number stored at (page, o), in arrival order. */
  #opsAt(page: Page, o: number): OpView[] {
    const list = [this.#view(page.words, page.ints, o, 0)];
    const overflow: OpView[] = [];
    for (let link = page.ints[o * 2 + 6] as number; link !== 0; ) {
      const i = link - 1;
      const n = this.#overflowInts[i >>> SHIFT] as Int32Array;
      const x = (i & MASK) * 4;
      overflow.push(this.#view(this.#overflow[i >>> SHIFT] as Float64Array, n, x, 0));
      link = n[x * 2 + 6] as number;
    }
    for (let k = overflow.length - 1; k >= 0; k--) list.push(overflow[k] as OpView);
    for (let k = 0; k < list.length; k++) (list[k] as OpView).ord = k;
    return list;
  }

  #view(words: Float64Array, ints: Int32Array, o: number, ord: number): OpView {
    const meta = ints[o * 2 + 7] as number;
    const server = (meta >>> SERVER_SHIFT) & MAX_SERVERS;
    return {
      serverId: this.#servers.names[server] as string,
      server,
      login: words[o] as number,
      ticket: words[o + 1] as number,
      amountCents: words[o + 2] as number,
      kind: this.#moneyKinds.names[(meta >>> KIND_SHIFT) & MAX_MONEY_KINDS] as string,
      leg: (meta & META_REFUND) === 0 ? 'main' : 'refund',
      letter: (meta >>> LETTER_SHIFT) & 3,
      ord,
    };
  }

  // ---------------------------------------------------------------------------------------------------
  // The end

  /** The findings, sorted by key. The engine takes nothing more. */
  finish(): Finding[] {
    if (this.#phase === 'server' || this.#phase === 'psp' || this.#phase === 'done') {
      throw new Error(`reconcile engine: finish in phase ${this.#phase}`);
    }
    this.#phase = 'done';
    // Operations whose reference no transfer carries.
    const visit = (number: number, page: Page) => {
      for (let slot = 0; slot < PAGE; slot++) {
        const meta = page.ints[slot * 8 + 7] as number;
        if (meta === 0) continue;
        const consumed = meta >>> CONSUMED_SHIFT;
        // The common case: one operation, and its transfer arrived.
        if (page.ints[slot * 8 + 6] === 0 && (consumed & (1 << ((meta >>> LETTER_SHIFT) & 3))) !== 0) continue;
        const sequence = number * PAGE + slot;
        for (const op of this.#opsAt(page, slot * 4)) {
          if ((consumed & (1 << op.letter)) === 0) this.#notInLedger(op, this.#refOf(sequence, op.letter));
        }
      }
    };
    this.#lowPages.forEach((page, number) => {
      if (page !== undefined) visit(number, page);
    });
    for (const [number, page] of this.#highPages) visit(number, page);
    // Provider records: those a transfer arrived for were judged then; the rest have none.
    if (this.#pspActive) {
      for (let i = 0; i < this.#recCount; i++) {
        const n = this.#recInts[i >>> SHIFT] as Int32Array;
        const o = (i & MASK) * REC_WORDS * 2;
        const flags = (n[o + 4] as number) & 0xff;
        if ((flags & REC_MATCHED) !== 0) {
          const f = this.#tentative.get(i);
          if (f !== undefined) this.#findings.push({ finding: f, phase: PHASE_PSP, ord: i });
        } else if ((flags & REC_SETTLED) !== 0) {
          const f = this.#pspVerdict(i, this.#idAt(i), undefined);
          if (f !== null) this.#findings.push({ finding: f, phase: PHASE_PSP, ord: i });
        }
      }
    }
    const ranked = this.#findings;
    ranked.sort((a, b) =>
      a.finding.key < b.finding.key
        ? -1
        : a.finding.key > b.finding.key
          ? 1
          : a.phase !== b.phase
            ? a.phase - b.phase
            : a.ord - b.ord,
    );
    return ranked.map((r) => r.finding);
  }

  // ---------------------------------------------------------------------------------------------------
  // Checks

  #add(phase: number, ord: number, f: Draft): void {
    this.#findings.push({ finding: finding(f), phase, ord });
  }

  #wrongAccount(op: OpView, transfer: TransferRow): void {
    const owner = this.#accountIdAt(op.serverId, op.login);
    this.#add(PHASE_OPS, op.ord, {
      key: `wrong_account:${transfer.ref}:${op.leg}:${op.serverId}:${op.login}`,
      class: 'wrong_account',
      serverId: op.serverId,
      login: op.login,
      ticket: op.ticket,
      ref: transfer.ref,
      pspRef: null,
      expectedCents: null,
      actualCents: op.amountCents,
      detail: `posted to ${op.serverId} ${op.login}${owner === undefined ? '' : ` (account ${owner})`}, the ledger says ${transfer.serverId} ${transfer.login}`,
    });
  }

  #notInLedger(op: OpView, ref: string): void {
    this.#add(PHASE_OPS, op.ord, {
      key: `not_in_ledger:${ref}:${op.leg}:${op.serverId}:${op.ticket}`,
      class: 'not_in_ledger',
      serverId: op.serverId,
      login: op.login,
      ticket: op.ticket,
      ref,
      pspRef: null,
      expectedCents: null,
      actualCents: op.amountCents,
      detail: `reference ${ref} is not in the ledger`,
    });
  }

  #checkLeg(ord: number, transfer: TransferRow, leg: Leg, ops: readonly OpView[]): void {
    // Transfers still being posted (or in review) may or may not be on the server: neither is a finding.
    const onServer = leg === 'main' ? ON_SERVER_MAIN.has(transfer.state) : transfer.state === 'refunded';
    if (ops.length === 0 && !onServer) return;
    const neverPosted = leg === 'main' ? NEVER_POSTED.has(transfer.state) : NO_REFUND.has(transfer.state);
    const effect = legEffect(transfer, leg);
    const expected = effect.amountCents;
    const base = { serverId: transfer.serverId, login: transfer.login, ref: transfer.ref, pspRef: transfer.pspRef };
    const comment = commentFor(transfer.ref, leg);
    if (ops.length > 1) {
      this.#add(PHASE_LEGS, ord, {
        key: `duplicate_on_server:${transfer.ref}:${leg}`,
        class: 'duplicate_on_server',
        ...base,
        ticket: (ops[1] as OpView).ticket,
        expectedCents: expected,
        actualCents: ops.reduce((sum, op) => sum + op.amountCents, 0),
        detail: `"${comment}" is on the server ${ops.length} times (tickets ${ops.map((op) => op.ticket).join(', ')})`,
      });
    }
    const first = ops[0];
    if (first !== undefined && (first.amountCents !== expected || first.kind !== effect.kind)) {
      this.#add(PHASE_LEGS, ord, {
        key: `amount_mismatch:${transfer.ref}:${leg}`,
        class: 'amount_mismatch',
        ...base,
        ticket: first.ticket,
        expectedCents: expected,
        actualCents: first.amountCents,
        detail: `"${comment}" is ${first.kind} ${first.amountCents} on the server, ${effect.kind} ${expected} in the ledger`,
      });
    }
    if (onServer && first === undefined) {
      const since =
        leg === 'main' ? (transfer.postedMs ?? transfer.updatedMs) : (transfer.finishedMs ?? transfer.updatedMs);
      if (since >= this.#settledBeforeMs) return;
      const ticket = leg === 'main' ? transfer.ticket : transfer.refundTicket;
      this.#add(PHASE_LEGS, ord, {
        key: `missing_on_server:${transfer.ref}:${leg}`,
        class: 'missing_on_server',
        ...base,
        ticket,
        expectedCents: expected,
        actualCents: null,
        detail: `the ledger has "${comment}" posted (ticket ${ticket}) but the server's history does not`,
      });
    }
    if (neverPosted && first !== undefined) {
      this.#add(PHASE_LEGS, ord, {
        key: `not_in_ledger:${transfer.ref}:${leg}`,
        class: 'not_in_ledger',
        ...base,
        ticket: first.ticket,
        expectedCents: 0,
        actualCents: first.amountCents,
        detail: `"${comment}" is on the server (ticket ${first.ticket}) but the ledger says ${transfer.state}`,
      });
    }
  }

  #checkTransferPsp(ord: number, transfer: TransferRow, pspRef: string): void {
    const head = this.#recordOf(pspRef);
    // Every record with this id is judged against this transfer, the last with the id so far.
    for (let i = head; i >= 0; ) {
      const n = this.#recInts[i >>> SHIFT] as Int32Array;
      const o = (i & MASK) * REC_WORDS * 2;
      const flags = n[o + 4] as number;
      const f = this.#pspAgrees(i, transfer) ? null : this.#pspVerdict(i, pspRef, transfer);
      if (f !== null) {
        this.#tentative.set(i, f);
        n[o + 4] = flags | REC_MATCHED | REC_TENTATIVE;
      } else {
        if ((flags & REC_TENTATIVE) !== 0) this.#tentative.delete(i);
        n[o + 4] = (flags | REC_MATCHED) & ~REC_TENTATIVE;
      }
      i = n[o + 3] as number;
      if (i === head) break;
    }
    // Deposits from the provider must be in its records; paid-out withdrawals must have their payout.
    const needsRecord =
      (transfer.kind === 'deposit' && transfer.state !== 'rejected') ||
      (transfer.kind === 'withdrawal' && transfer.state === 'done');
    if (!needsRecord || head >= 0) return;
    if (transfer.acceptedMs >= this.#settledBeforeMs) return;
    this.#add(PHASE_LEDGER, ord, {
      key: `ledger_only:${transfer.ref}`,
      class: 'ledger_only',
      serverId: transfer.serverId,
      login: transfer.login,
      ticket: transfer.ticket,
      ref: transfer.ref,
      pspRef: transfer.pspRef,
      expectedCents: null,
      actualCents: transfer.amountCents,
      detail: `the ledger's ${transfer.kind} ${transfer.ref} (provider id ${transfer.pspRef}) is not in the provider's records`,
    });
  }

  /**
   * A record with this id, or -1. The provider's records and the ledger come in about the same order (time,
   * and references from a sequence): the few records after the last one found are tried first, in order in
   * memory, before the table, where every lookup is a cache miss.
   */
  #recordOf(pspRef: string): number {
    const end = Math.min(this.#recCount, this.#cursor + CURSOR_WINDOW);
    for (let i = this.#cursor; i < end; i++) {
      if (this.#idEquals(i, pspRef)) {
        this.#cursor = i + 1;
        return i;
      }
    }
    const found = this.#pspTable[this.#pspFind(pspRef, spread(fnv(pspRef))) * 2] as number;
    if (found >= 0) this.#cursor = found + 1;
    return found;
  }

  /** The common case, without building anything: record i and the transfer agree (no finding). */
  #pspAgrees(i: number, transfer: TransferRow): boolean {
    const n = this.#recInts[i >>> SHIFT] as Int32Array;
    const o = (i & MASK) * REC_WORDS;
    const packed = n[o * 2 + 5] as number;
    const want = packed >>> 16 === 0 ? 'deposit' : 'withdrawal';
    return (
      transfer.kind === want &&
      !NOT_CARRIED[want].has(transfer.state) &&
      transfer.amountCents === (this.#recWords[i >>> SHIFT] as Float64Array)[o] &&
      transfer.currency === this.#currencies.names[packed & 0xffff]
    );
  }

  /** What record i says against the last transfer with its id (none: undefined). */
  #pspVerdict(i: number, pspRef: string, transfer: TransferRow | undefined): Finding | null {
    const w = this.#recWords[i >>> SHIFT] as Float64Array;
    const n = this.#recInts[i >>> SHIFT] as Int32Array;
    const o = (i & MASK) * REC_WORDS;
    const amountCents = w[o] as number;
    const settled = ((n[o * 2 + 4] as number) & REC_SETTLED) !== 0;
    const packed = n[o * 2 + 5] as number;
    const kind = this.#pspKinds.names[packed >>> 16] as string;
    const currency = this.#currencies.names[packed & 0xffff] as string;
    const want = kind === 'deposit' ? 'deposit' : 'withdrawal';
    const base = { serverId: null, login: null, ticket: null, pspRef };
    if (transfer === undefined || transfer.kind !== want) {
      if (!settled) return null;
      return finding({
        key: `psp_only:${pspRef}`,
        class: 'psp_only',
        ...base,
        ref: transfer?.ref ?? null,
        expectedCents: amountCents,
        actualCents: null,
        detail: `the provider's ${kind} ${pspRef} of ${amountCents} ${currency} has no ${want} in the ledger`,
      });
    }
    if (NOT_CARRIED[want].has(transfer.state)) {
      // The provider moved the money, the ledger did not: a deposit it refused, a payout it refunded.
      if (!settled) return null;
      return finding({
        key: `psp_only:${pspRef}`,
        class: 'psp_only',
        ...base,
        serverId: transfer.serverId,
        login: transfer.login,
        ref: transfer.ref,
        expectedCents: amountCents,
        actualCents: null,
        detail: `the provider's ${kind} ${pspRef} succeeded but the ledger has ${transfer.ref} ${transfer.state}`,
      });
    }
    if (transfer.amountCents !== amountCents || transfer.currency !== currency) {
      return finding({
        key: `amount_mismatch:psp:${pspRef}`,
        class: 'amount_mismatch',
        ...base,
        serverId: transfer.serverId,
        login: transfer.login,
        ref: transfer.ref,
        expectedCents: amountCents,
        actualCents: transfer.amountCents,
        detail: `the provider has ${amountCents} ${currency}, the ledger ${transfer.amountCents} ${transfer.currency}`,
      });
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------------
  // References

  /**
   * `parseComment` without a regular expression or a string built: the reference's sequence number, its
   * kind letter's index in #parsedLetter and whether it is a refund's in #parsedRefund; or -1 when the
   * comment is not ours. The sequence and the letter name the reference exactly (the check follows).
   */
  #parse(comment: string): number {
    const prefix = this.#prefixCodes;
    const start = prefix.length;
    const length = comment.length;
    if (this.#prefixHash === null || (length !== start + 14 && length !== start + 16)) return -1;
    for (let i = 0; i < start; i++) if (comment.charCodeAt(i) !== prefix[i]) return -1;
    const letter = comment.charCodeAt(start);
    const kind = letter === 68 ? 0 : letter === 87 ? 1 : letter === 67 ? 2 : -1;
    if (kind < 0) return -1;
    let h = Math.imul(this.#prefixHash ^ letter, FNV_PRIME);
    // Ten digits as two int32 halves: no floating-point arithmetic in the loop.
    let high = 0;
    let low = 0;
    for (let i = start + 1; i <= start + 10; i++) {
      const d = comment.charCodeAt(i);
      if (d < 48 || d > 57) return -1;
      if (i <= start + 5) high = high * 10 + (d - 48);
      else low = low * 10 + (d - 48);
      h = Math.imul(h ^ d, FNV_PRIME);
    }
    if (comment.charCodeAt(start + 11) !== 45) return -1;
    const unsigned = h >>> 0;
    const quotient = (unsigned / 34) | 0;
    if (comment.charCodeAt(start + 12) !== CHECK_CODES[unsigned - quotient * 34]) return -1;
    if (comment.charCodeAt(start + 13) !== CHECK_CODES[quotient % 34]) return -1;
    const sequence = high * 100_000 + low;
    let refund = false;
    if (length === start + 16) {
      if (comment.charCodeAt(start + 14) !== 45 || comment.charCodeAt(start + 15) !== 82 || kind !== 1) return -1;
      refund = true;
    }
    this.#parsedLetter = kind;
    this.#parsedRefund = refund;
    return sequence;
  }

  /** The reference a sequence and a kind letter name (the inverse of #parse on a main leg). */
  #refOf(sequence: number, letter: number): string {
    const body = `${this.#prefixDash}${KIND_LETTERS[letter]}${String(sequence).padStart(10, '0')}`;
    const h = fnv(body) >>> 0;
    return `${body}-${ALPHABET[h % 34]}${ALPHABET[Math.floor(h / 34) % 34]}`;
  }

  // ---------------------------------------------------------------------------------------------------
  // The provider records' table and their ids

  /**
   * Stores a record's id: its offset in the arena at ints[at + 2]; returns its length, or LONG_ID for an id
   * kept as a string (too long, or a character beyond Latin-1), whose index in #longIds is then the offset.
   */
  #storeId(id: string, ints: Int32Array, at: number): number {
    const length = id.length;
    if (length < LONG_ID) {
      if (this.#arenaPos + length > ARENA_CHUNK) {
        this.#arena.push(new Uint8Array(ARENA_CHUNK));
        this.#arenaPos = 0;
      }
      const chunk = this.#arena[this.#arena.length - 1] as Uint8Array;
      const from = this.#arenaPos;
      // Copies, hashes (as fnv) and checks in one pass; a wide character abandons the copy.
      let h = 2166136261;
      let k = 0;
      for (; k < length; k++) {
        const c = id.charCodeAt(k);
        if (c > 0xff) break;
        chunk[from + k] = c;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      if (k === length) {
        ints[at + 2] = ((this.#arena.length - 1) << ARENA_SHIFT) | from;
        this.#arenaPos = from + length;
        this.#storedHash = spread(h);
        return length;
      }
    }
    ints[at + 2] = this.#longIds.length;
    this.#longIds.push(id);
    this.#storedHash = spread(fnv(id));
    return LONG_ID;
  }

  #idAt(i: number): string {
    const n = this.#recInts[i >>> SHIFT] as Int32Array;
    const o = (i & MASK) * REC_WORDS * 2;
    const length = ((n[o + 4] as number) >>> 8) & 0xff;
    const at = n[o + 2] as number;
    if (length === LONG_ID) return this.#longIds[at] as string;
    const chunk = this.#arena[at >>> ARENA_SHIFT] as Uint8Array;
    const from = at & (ARENA_CHUNK - 1);
    return String.fromCharCode(...chunk.subarray(from, from + length));
  }

  #idEquals(i: number, id: string): boolean {
    const n = this.#recInts[i >>> SHIFT] as Int32Array;
    const o = (i & MASK) * REC_WORDS * 2;
    const length = ((n[o + 4] as number) >>> 8) & 0xff;
    const at = n[o + 2] as number;
    if (length === LONG_ID) return this.#longIds[at] === id;
    if (length !== id.length) return false;
    const chunk = this.#arena[at >>> ARENA_SHIFT] as Uint8Array;
    const from = at & (ARENA_CHUNK - 1);
    for (let k = 0; k < length; k++) if (chunk[from + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  /** The slot holding this id's first record, or the empty slot where it would go. */
  #pspFind(id: string, hash: number): number {
    const table = this.#pspTable;
    const mask = this.#pspMask;
    let s = hash & mask;
    for (;;) {
      const head = table[s * 2] as number;
      if (head < 0 || (table[s * 2 + 1] === hash && this.#idEquals(head, id))) return s;
      s = (s + 1) & mask;
    }
  }

  /** As #pspFind, for the id of record i. */
  #pspSlot(i: number, hash: number): number {
    const table = this.#pspTable;
    const mask = this.#pspMask;
    let s = hash & mask;
    for (;;) {
      const head = table[s * 2] as number;
      if (head < 0 || (table[s * 2 + 1] === hash && this.#sameId(head, i))) return s;
      s = (s + 1) & mask;
    }
  }

  #sameId(a: number, b: number): boolean {
    const na = this.#recInts[a >>> SHIFT] as Int32Array;
    const oa = (a & MASK) * REC_WORDS * 2;
    const nb = this.#recInts[b >>> SHIFT] as Int32Array;
    const ob = (b & MASK) * REC_WORDS * 2;
    const length = ((na[oa + 4] as number) >>> 8) & 0xff;
    if (length !== (((nb[ob + 4] as number) >>> 8) & 0xff)) return false;
    if (length === LONG_ID) return this.#longIds[na[oa + 2] as number] === this.#longIds[nb[ob + 2] as number];
    const at = na[oa + 2] as number;
    const bt = nb[ob + 2] as number;
    const ca = this.#arena[at >>> ARENA_SHIFT] as Uint8Array;
    const cb = this.#arena[bt >>> ARENA_SHIFT] as Uint8Array;
    const fa = at & (ARENA_CHUNK - 1);
    const fb = bt & (ARENA_CHUNK - 1);
    for (let k = 0; k < length; k++) if (ca[fa + k] !== cb[fb + k]) return false;
    return true;
  }
}
