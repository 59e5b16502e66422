/**
 * Reconciliation benchmark: the engine (service/reconcile-engine.ts) on `--accounts` accounts (default
 * 1,000,000) over `--servers` servers and `--ops` server operations (default 10,000,000): deposits,
 * withdrawals, refunds and credits, each with its ledger transfer and, for deposits and payouts, the payment
 * provider's record; plus `--planted` discrepancies of each of ten kinds (every finding class). The findings
 * must be exactly the planted ones: the benchmark fails (exit 1) otherwise. Prints the engine's wall time,
 * operations per second and peak memory against the goals (≤ 10 s, ≤ 1.5 GB).
 *
 * The inputs are generated as a function of each transfer's index (seeded), in batches handed to the engine:
 * no more than one batch of objects exists at a time. Generating a batch and the engine taking it are timed
 * apart; the engine's time is the sum of the latter (the garbage collections that happen while it runs,
 * of its own garbage and of the generator's, included).
 *
 * Usage: npm run bench:reconcile [-- --accounts N --ops N --servers N --planted N --seed S]
 */
import { PerformanceObserver } from 'node:perf_hooks';
import type { BalanceOp } from '../adapters/port/manager-api.ts';
import { commentFor, type Leg, makeReference } from '../service/domain/reference.ts';
import type { PspRecord } from '../service/psp/port.ts';
import { ReconcileEngine } from '../service/reconcile-engine.ts';
import type { FindingClass, TransferKind, TransferRow, TransferState } from '../service/store/schema.ts';
import { flag as benchFlag } from './flags.ts';

function flag(name: string, fallback: number): number {
  return benchFlag('bench:reconcile', name, fallback);
}

const ACCOUNTS = flag('accounts', 1_000_000);
const OPS = flag('ops', 10_000_000);
const SERVERS = flag('servers', 4);
const PLANTED = flag('planted', 100);
const SEED = flag('seed', 1);
const BATCH = 2_048;
const GOAL_SEC = 10;
const GOAL_BYTES = 1.5 * 1024 ** 3;

const PREFIX = 'MTP';
const SETTLED_BEFORE_MS = 1_800_000_000_000;
/** Settled transfers are accepted from here on, one a millisecond: all before SETTLED_BEFORE_MS. */
const BASE_MS = SETTLED_BEFORE_MS - 100_000_000;
const serverIds = Array.from({ length: SERVERS }, (_, s) => `mt${s % 2 === 0 ? 4 : 5}-live-${s}`);

// ---------------------------------------------------------------------------------------------------------
// The workload, as a function of the transfer index j (reference sequence j + 1).

function hash(j: number, salt: number): number {
  let h = Math.imul(j ^ Math.imul(SEED, 0x9e3779b1), 0x85ebca6b) ^ salt;
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2d);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The planted discrepancies: each makes exactly one finding. */
const PLANTS = [
  'missing_on_server', // the posting is not in the history
  'duplicate_on_server', // the posting is in it twice
  'amount_mismatch:server', // with another amount
  'amount_mismatch:psp', // the provider has another amount
  'unknown_operation', // a dealer's edit on the account
  'wrong_account', // a second copy on the next account of the server
  'not_in_ledger:reference', // a reference of ours the ledger never issued
  'not_in_ledger:rejected', // on the server though the ledger says rejected
  'psp_only', // a provider payment without a transfer
  'ledger_only', // a deposit the provider has no record of
] as const;
type Plant = (typeof PLANTS)[number];
const CLASS_OF: Record<Plant, FindingClass> = {
  missing_on_server: 'missing_on_server',
  duplicate_on_server: 'duplicate_on_server',
  'amount_mismatch:server': 'amount_mismatch',
  'amount_mismatch:psp': 'amount_mismatch',
  unknown_operation: 'unknown_operation',
  wrong_account: 'wrong_account',
  'not_in_ledger:reference': 'not_in_ledger',
  'not_in_ledger:rejected': 'not_in_ledger',
  psp_only: 'psp_only',
  ledger_only: 'ledger_only',
};
/** Planted transfers are spread evenly over the first 80 % of the ledger (its length is known only later). */
const PLANT_STRIDE = Math.max(1, Math.floor((OPS * 0.8) / (PLANTS.length * PLANTED + 1)));
const PLANT_OFFSET = 17;

function plantAt(j: number): { plant: Plant; m: number } | null {
  const k = j - PLANT_OFFSET;
  if (k < 0 || k % PLANT_STRIDE !== 0) return null;
  const index = k / PLANT_STRIDE;
  if (index >= PLANTS.length * PLANTED) return null;
  return { plant: PLANTS[Math.floor(index / PLANTED)] as Plant, m: index % PLANTED };
}

/** A multiplier coprime with ACCOUNTS: transfers are spread over accounts as j × M mod ACCOUNTS. */
function coprimeMultiplier(n: number): { m: number; inverse: number } {
  for (const m of [999_983, 1_000_003, 1_299_709, 15_485_863, 32_452_843]) {
    // Extended Euclid: the inverse of m modulo n, when gcd is 1.
    let [r0, r1, s0, s1] = [m % n, n, 1, 0];
    while (r1 !== 0) {
      const q = Math.floor(r0 / r1);
      [r0, r1] = [r1, r0 - q * r1];
      [s0, s1] = [s1, s0 - q * s1];
    }
    if (r0 === 1 || n === 1) return { m, inverse: (((s0 % n) + n) % n) % Math.max(n, 1) };
  }
  throw new Error(`no multiplier coprime with ${n}`);
}
const { m: SPREAD, inverse: SPREAD_INVERSE } = coprimeMultiplier(ACCOUNTS);

interface Spec {
  j: number;
  kind: TransferKind;
  account: number;
  amountCents: number;
  /** A withdrawal whose payout failed and was refunded (two operations). */
  refunded: boolean;
  /** Accepted within the settle time, still being posted: nothing on the server yet, and no finding. */
  inFlight: boolean;
  plant: Plant | null;
  m: number;
}

/** A transfer whose last operation would overshoot --ops exactly is made a deposit (see countTransfers). */
let forcedDeposit = -1;

function spec(j: number): Spec {
  const planted = plantAt(j);
  const h = hash(j, 1);
  let kind: TransferKind = h % 100 < 55 ? 'deposit' : h % 100 < 85 ? 'withdrawal' : 'credit';
  if (planted !== null || j === forcedDeposit) kind = 'deposit';
  const inFlight = planted === null && j % 10_007 === 5;
  return {
    j,
    kind,
    account: (j * SPREAD) % ACCOUNTS,
    amountCents: ((hash(j, 2) % 100_000) + 1) * 100,
    refunded: kind === 'withdrawal' && !inFlight && hash(j, 3) % 10 === 0,
    inFlight,
    plant: planted?.plant ?? null,
    m: planted?.m ?? 0,
  };
}

/** Operations the transfer puts on the server (planted extras on other accounts included). */
function opsOf(s: Spec): number {
  if (s.inFlight) return 0;
  switch (s.plant) {
    case 'missing_on_server':
      return 0;
    case 'duplicate_on_server':
    case 'unknown_operation':
    case 'wrong_account':
    case 'not_in_ledger:reference':
      return 2;
    default:
      return s.refunded ? 2 : 1;
  }
}

/** How many transfers make exactly OPS operations. */
function countTransfers(): number {
  let total = 0;
  let j = 0;
  while (total < OPS) {
    const n = opsOf(spec(j));
    if (total + n > OPS) {
      forcedDeposit = j; // one operation instead of two
      if (total + opsOf(spec(j)) > OPS) throw new Error(`cannot make exactly ${OPS} operations`);
    }
    total += opsOf(spec(j));
    j++;
  }
  return j;
}

const serverOf = (account: number): number => account % SERVERS;
const loginOf = (account: number): number => 100_000 + Math.floor(account / SERVERS);
/** The next account on the same server (wrapping), where a wrong-account copy lands. */
const neighbourOf = (account: number): number => (account + SERVERS < ACCOUNTS ? account + SERVERS : serverOf(account));
/**
 * A string built by concatenation is a rope (flattened on first read); one a driver decodes from the wire
 * (pg, a socket) is a flat sequence of bytes. The generator's strings are copied into that form, so that
 * the engine's time neither includes flattening them nor runs on a shape real inputs do not have.
 */
function flat<T extends string | null>(text: T): T {
  if (text === null) return text;
  // A case conversion that changes nothing returns the flat string, without the cost of a Buffer.
  const upper = text.toUpperCase();
  if (upper === text) return upper as T;
  const lower = text.toLowerCase();
  return (lower === text ? lower : Buffer.from(text, 'latin1').toString('latin1')) as T;
}
const refOf = (s: Spec): string => flat(makeReference(PREFIX, s.kind, s.j + 1));
const pspRefOf = (s: Spec): string | null =>
  flat(s.kind === 'deposit' ? `CARD-${s.j + 1}` : s.kind === 'withdrawal' ? `PO-${s.j + 1}` : null);
const acceptedMsOf = (s: Spec): number => (s.inFlight ? SETTLED_BEFORE_MS + s.j : BASE_MS + s.j);

function op(s: Spec, account: number, leg: Leg, ticket: number, amountCents: number, comment?: string): BalanceOp {
  return {
    ticket,
    login: loginOf(account),
    amountCents,
    kind: s.kind === 'credit' ? 'credit' : 'balance',
    comment: flat(comment ?? commentFor(refOf(s), leg)),
    timeServerSec: Math.floor(acceptedMsOf(s) / 1000),
    platformType: 0,
  };
}

/** The operations transfer s puts on its own account's history, in order. */
function ownOps(s: Spec, out: BalanceOp[]): void {
  if (s.inFlight || s.plant === 'missing_on_server') return;
  const ticket = 10_000_000 + s.j * 2;
  const signed = s.kind === 'withdrawal' ? -s.amountCents : s.amountCents;
  out.push(op(s, s.account, 'main', ticket, s.plant === 'amount_mismatch:server' ? signed + 1 : signed));
  if (s.refunded) out.push(op(s, s.account, 'refund', ticket + 1, s.amountCents));
  if (s.plant === 'duplicate_on_server') out.push(op(s, s.account, 'main', 3_000_000_000 + s.m, signed));
  if (s.plant === 'unknown_operation') {
    out.push({ ...op(s, s.account, 'main', 4_000_000_000 + s.m, -25_00), comment: flat(`desk adj ${s.m}`) });
  }
  if (s.plant === 'not_in_ledger:reference') {
    const stray = makeReference(PREFIX, 'deposit', 9_000_000_000 + s.m);
    out.push(op(s, s.account, 'main', 5_000_000_000 + s.m, 10_00, stray));
  }
}

/** Expected findings: key → class. */
function expectedFindings(transfers: number): Map<string, FindingClass> {
  const expected = new Map<string, FindingClass>();
  for (let index = 0; index < PLANTS.length * PLANTED; index++) {
    const j = PLANT_OFFSET + index * PLANT_STRIDE;
    if (j >= transfers) throw new Error(`planted transfer ${j} beyond the ledger (${transfers}): lower --planted`);
    const s = spec(j);
    const plant = s.plant as Plant;
    const ref = refOf(s);
    const server = serverIds[serverOf(s.account)] as string;
    const key = {
      missing_on_server: `missing_on_server:${ref}:main`,
      duplicate_on_server: `duplicate_on_server:${ref}:main`,
      'amount_mismatch:server': `amount_mismatch:${ref}:main`,
      'amount_mismatch:psp': `amount_mismatch:psp:${pspRefOf(s)}`,
      unknown_operation: `unknown_operation:${server}:${loginOf(s.account)}:${4_000_000_000 + s.m}`,
      wrong_account: `wrong_account:${ref}:main:${server}:${loginOf(neighbourOf(s.account))}`,
      'not_in_ledger:reference': `not_in_ledger:${makeReference(PREFIX, 'deposit', 9_000_000_000 + s.m)}:main:${server}:${5_000_000_000 + s.m}`,
      'not_in_ledger:rejected': `not_in_ledger:${ref}:main`,
      psp_only: `psp_only:LOST-${s.m}`,
      ledger_only: `ledger_only:${ref}`,
    }[plant];
    expected.set(key, CLASS_OF[plant]);
  }
  return expected;
}

function transferRow(s: Spec): TransferRow {
  const acceptedMs = acceptedMsOf(s);
  const ticket = 10_000_000 + s.j * 2;
  let state: TransferState = s.kind === 'withdrawal' ? (s.refunded ? 'refunded' : 'done') : 'done';
  if (s.inFlight) state = 'posting';
  if (s.plant === 'not_in_ledger:rejected') state = 'rejected';
  return {
    ref: refOf(s),
    kind: s.kind,
    clientId: flat(`C${s.account}`),
    accountId: flat(`A${s.account}`),
    serverId: serverIds[serverOf(s.account)] as string,
    login: loginOf(s.account),
    amountCents: s.amountCents,
    currency: 'USD',
    state,
    pspRef: pspRefOf(s),
    ticket: s.inFlight ? null : ticket,
    refundTicket: s.refunded ? ticket + 1 : null,
    attempts: 1,
    uncertainSinceMs: null,
    lastError: null,
    reason: null,
    acceptedMs,
    legStartedMs: acceptedMs,
    updatedMs: acceptedMs + 2_000,
    postedMs: s.inFlight ? null : acceptedMs + 1_000,
    finishedMs: s.refunded ? acceptedMs + 2_000 : null,
  };
}

/** The provider's records for transfer s, in time order. */
function recordsOf(s: Spec, out: PspRecord[]): void {
  const pspRef = pspRefOf(s);
  const atMs = acceptedMsOf(s) + 500;
  if (s.plant === 'psp_only') {
    const lost = flat(`LOST-${s.m}`);
    out.push({
      pspRef: lost,
      kind: 'deposit',
      status: 'succeeded',
      amountCents: 77_00,
      currency: 'USD',
      reference: null,
      atMs,
    });
  }
  if (pspRef === null || s.plant === 'ledger_only' || s.plant === 'not_in_ledger:rejected') return;
  if (s.kind === 'withdrawal' && s.inFlight) return; // no payout before the posting
  out.push({
    pspRef,
    kind: s.kind === 'deposit' ? 'deposit' : 'payout',
    status: s.refunded ? 'failed' : 'succeeded',
    amountCents: s.plant === 'amount_mismatch:psp' ? s.amountCents + 1 : s.amountCents,
    currency: 'USD',
    reference: flat(`A${s.account}`),
    atMs,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

const clock = {
  generateMs: 0,
  engineMs: 0,
  /** CPU time of the whole process (every thread: the collector's helpers too) while the engine ran. */
  engineCpuUs: 0,
  /** The engine's time in the current input, then each input's. */
  phaseMs: 0,
  phases: [] as string[],
  gcMs: 0,
};
const memory = { rss: 0, heapUsed: 0, arrayBuffers: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) clock.gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

function sample(): void {
  const m = process.memoryUsage();
  memory.rss = Math.max(memory.rss, m.rss);
  memory.heapUsed = Math.max(memory.heapUsed, m.heapUsed);
  memory.arrayBuffers = Math.max(memory.arrayBuffers, m.arrayBuffers);
}

function phaseEnd(name: string): void {
  clock.phases.push(`${name} ${(clock.phaseMs / 1000).toFixed(2)} s`);
  clock.phaseMs = 0;
}

/** Runs `call` as the engine's time. */
function engineCall<T>(call: () => T): T {
  const e0 = performance.now();
  const c0 = process.cpuUsage();
  const value = call();
  const c1 = process.cpuUsage(c0);
  const ms = performance.now() - e0;
  clock.engineMs += ms;
  clock.phaseMs += ms;
  clock.engineCpuUs += c1.user + c1.system;
  return value;
}

/** Fills a batch (`generate`, until it says there is no more) and hands it to the engine, timed apart. */
function timed<T>(generate: (batch: T[]) => boolean, consume: (batch: T[]) => void): void {
  const batch: T[] = [];
  for (;;) {
    batch.length = 0;
    const g0 = performance.now();
    const more = generate(batch);
    clock.generateMs += performance.now() - g0;
    engineCall(() => consume(batch));
    sample();
    if (!more) return;
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GB`;

const wall0 = performance.now();
const TRANSFERS = countTransfers();
clock.generateMs += performance.now() - wall0;
const expected = expectedFindings(TRANSFERS);

/** Extra operations planted on other accounts than their transfer's: account → operations. */
const extraOps = new Map<number, BalanceOp[]>();
for (let index = 0; index < PLANTS.length * PLANTED; index++) {
  const s = spec(PLANT_OFFSET + index * PLANT_STRIDE);
  if (s.plant !== 'wrong_account') continue;
  const to = neighbourOf(s.account);
  const signed = s.amountCents;
  const list = extraOps.get(to) ?? [];
  list.push(op(s, to, 'main', 6_000_000_000 + s.m, signed));
  extraOps.set(to, list);
}

const engine = new ReconcileEngine({
  prefix: PREFIX,
  settledBeforeMs: SETTLED_BEFORE_MS,
  accountIdAt: (serverId, login) => {
    const s = serverIds.indexOf(serverId);
    return s < 0 ? undefined : `A${(login - 100_000) * SERVERS + s}`;
  },
});

// 1. The servers' histories: server by server, account by account, each account's operations in order.
let operations = 0;
for (let server = 0; server < SERVERS; server++) {
  engine.beginServer(serverIds[server] as string);
  let account = server;
  timed<BalanceOp>(
    (batch) => {
      while (account < ACCOUNTS && batch.length < BATCH) {
        // Transfers of this account: j ≡ account × M⁻¹ (mod ACCOUNTS), in order.
        for (let j = (account * SPREAD_INVERSE) % ACCOUNTS; j < TRANSFERS; j += ACCOUNTS) ownOps(spec(j), batch);
        for (const extra of extraOps.get(account) ?? []) batch.push(extra);
        account += SERVERS;
      }
      operations += batch.length;
      return account < ACCOUNTS;
    },
    (batch) => {
      for (const o of batch) engine.addOperation(o);
    },
  );
  engineCall(() => engine.endServer(true));
}
phaseEnd('histories');
if (operations !== OPS) throw new Error(`generated ${operations} operations, not ${OPS}`);
const kept = engine.operationsKept;

// 2. The provider's records, in time order.
let records = 0;
{
  engineCall(() => engine.beginPsp());
  let j = 0;
  timed<PspRecord>(
    (batch) => {
      while (j < TRANSFERS && batch.length < BATCH) recordsOf(spec(j++), batch);
      records += batch.length;
      return j < TRANSFERS;
    },
    (batch) => {
      for (const r of batch) engine.addPspRecord(r);
    },
  );
  engineCall(() => engine.endPsp(true));
  phaseEnd('provider records');
}

// 3. The ledger, in reference order.
{
  let j = 0;
  timed<TransferRow>(
    (batch) => {
      while (j < TRANSFERS && batch.length < BATCH) batch.push(transferRow(spec(j++)));
      return j < TRANSFERS;
    },
    (batch) => {
      for (const t of batch) engine.addTransfer(t);
    },
  );
}
phaseEnd('transfers');
const findings = engineCall(() => engine.finish());
phaseEnd('finish');
sample();
const wallMs = performance.now() - wall0;
// The collector's entries arrive in a later task: let it run.
await new Promise((resolve) => setTimeout(resolve, 50));
const maxRss = process.resourceUsage().maxRSS * 1024;

// Exactly the planted discrepancies, or the benchmark fails.
const wrong: string[] = [];
const found = new Set<string>();
for (const f of findings) {
  found.add(f.key);
  const cls = expected.get(f.key);
  if (cls === undefined) wrong.push(`unexpected ${f.class} ${f.key}: ${f.detail}`);
  else if (cls !== f.class) wrong.push(`${f.key}: ${f.class}, expected ${cls}`);
}
for (const [key, cls] of expected) if (!found.has(key)) wrong.push(`missing ${cls} ${key}`);
if (findings.length !== expected.size) wrong.push(`${findings.length} findings, ${expected.size} planted`);
if (wrong.length > 0) {
  console.error(`bench:reconcile: the findings are not the planted discrepancies (${wrong.length} differences):`);
  for (const w of wrong.slice(0, 20)) console.error(`  ${w}`);
  process.exit(1);
}

const byClass = new Map<string, number>();
for (const f of findings) byClass.set(f.class, (byClass.get(f.class) ?? 0) + 1);
const engineSec = clock.engineMs / 1000;
const cpuSec = clock.engineCpuUs / 1e6;
const peak = Math.max(memory.rss, maxRss);
const fullSize = ACCOUNTS === 1_000_000 && OPS === 10_000_000;
const verdict = (met: boolean) => (!fullSize ? 'set for the full size' : met ? 'met' : 'MISSED');
const lines = [
  `reconciliation engine: ${fmt(ACCOUNTS)} accounts on ${SERVERS} servers, ${fmt(OPS)} server operations ` +
    `(${fmt(kept)} of them ours), ${fmt(TRANSFERS)} transfers, ${fmt(records)} provider records`,
  `  findings           ${fmt(findings.length)}: the ${PLANTS.length} × ${PLANTED} planted, exactly ` +
    `(${[...byClass].map(([c, n]) => `${c} ${n}`).join(', ')})`,
  `  engine time        ${engineSec.toFixed(2)} s   (goal ≤ ${GOAL_SEC} s: ${verdict(engineSec <= GOAL_SEC)})`,
  `    by input         ${clock.phases.join(', ')}`,
  `    CPU              ${cpuSec.toFixed(2)} s   (the process's, every thread, while the engine ran: ` +
    `${Math.round((100 * cpuSec) / engineSec)}% of its wall time; below 100%, other work had the CPUs)`,
  `  operations/s       ${fmt(OPS / engineSec)}   (all inputs: ${fmt((OPS + TRANSFERS + records) / engineSec)}/s)`,
  `  peak RSS           ${gb(peak)}   (goal ≤ ${gb(GOAL_BYTES)}: ${verdict(peak <= GOAL_BYTES)}; ` +
    `maxRSS ${gb(maxRss)}, sampled ${gb(memory.rss)})`,
  `  peak heap used     ${gb(memory.heapUsed)}   (typed arrays, outside the heap: ${gb(memory.arrayBuffers)})`,
  `  generating inputs  ${(clock.generateMs / 1000).toFixed(2)} s   (not in the engine time; ` +
    `garbage collection in the whole run ${(clock.gcMs / 1000).toFixed(2)} s; wall, all ${(wallMs / 1000).toFixed(2)} s)`,
  '  The engine time is from the first operation handed to the engine to the sorted findings: parsing every',
  '  comment, storing and indexing, every check, the findings, and the garbage collections that fall in it (of',
  "  the generator's garbage too). It excludes generating the inputs, reading them (the histories over the",
  '  Manager API, ten million rows from Postgres) and writing the run and its alerts. Peak RSS is the whole',
  "  process's: the engine, a batch of generated inputs, Node.",
];
for (const line of lines) console.log(line);
