/**
 * Exactly-once deposits through the HTTP API on real Postgres, beside pgbench on the same server in the same run.
 *
 * 1. A database of its own (`mtproof_bench_<pid>_<hex>`, created on the server DATABASE_URL names and dropped at
 *    the end): `mtproof service` cannot be given a schema, so a database is what keeps it apart from anything
 *    else on the server — and it makes Postgres's per-database statistics the service's alone.
 * 2. The peer: pgbench's default TPC-B-like script in that database (`pgbench -i -s SCALE`, SCALE = the
 *    concurrency unless `--scale`), `--seconds` at one client and at `--concurrency` clients; its tps.
 * 3. `mtproof service` as a process of its own (as Postgres is for pgbench) on that database, the embedded
 *    simulated cluster, the in-process bus; its broker config is the embedded one with `reconciliation.settleMs`
 *    0, so that the reconciliation at the end holds every posted deposit to be on its server.
 * 4. Set-up, not timed: `--accounts` clients registered, KYC approved, one live account each (half on the MT4
 *    server, half on the MT5 one), waited for until open.
 * 5. Timed: `--concurrency` HTTP clients (fetch, keep-alive) POST /v1/deposits, each with its own
 *    Idempotency-Key and pspRef, for `--seconds` or until `--deposits` were sent; then the run waits until
 *    every accepted deposit is `done` (posted on its server once). The figure is deposits done per second
 *    from the first POST to the last `done` (seen by polling /metrics), beside pgbench's tps.
 * 6. Exactly-once, or exit 1: every deposit done and no other transfer; a sample replayed with its key (same
 *    status, byte-identical body, `Idempotent-Replayed`), some with a new key and the same pspRef (the same
 *    transfer), one with its key and another body (409); no transfer created by any of it; a sample read back
 *    (done, with a ticket); and the service's three-way reconciliation against the servers' histories with
 *    no finding.
 *
 * Usage: npm run bench:deposits [-- --seconds S --concurrency C --accounts K --deposits D --scale N]
 * Analysis: `--cpu-prof` profiles the service process (node --cpu-prof) and prints where its CPU time went;
 * `--count-statements` counts the statements it sends per deposit (through a protocol proxy: slower);
 * `--workers N` sets its posting workers; `--sequential-keys` sends keys that sort in sending order.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { DEFAULT_BROKER_CONFIG } from '../service/index.ts';
import { flag as benchFlag } from './flags.ts';

const ROOT = join(import.meta.dirname, '..');
/** The clean-up steps of the run under way (its database, its service): run on Ctrl-C too. */
const running = new Set<(() => Promise<unknown>)[]>();
const BIN = join(ROOT, 'bin', 'mtproof.js');
const BENCH = 'bench:deposits';
/** The goal of issue 5: deposits done per second at least half pgbench's tps at the same concurrency. */
export const GOAL_RATIO = 0.5;

export interface DepositBenchOptions {
  /** The Postgres server (any database on it the user may create databases from). */
  databaseUrl: string;
  seconds: number;
  concurrency: number;
  accounts: number;
  /** At most this many deposits (Infinity: as many as `seconds` allows). */
  deposits: number;
  /** Run pgbench beside it (needs `pgbench` on PATH). */
  pgbench: boolean;
  /** pgbench's scale factor (branches): pgbench advises at least the number of clients. */
  pgbenchScale: number;
  /** Profile the service process into this folder (node --cpu-prof). */
  cpuProfileDir?: string;
  /**
   * Idempotency-Keys and pspRefs that sort in the order they are sent (`dep_<run>_<i>`), instead of random ones
   * (UUIDs, random provider ids, as clients and providers send them). Sequential keys land on the same index
   * pages, where Postgres's SERIALIZABLE predicate locks (page-grained) make concurrent deposits conflict.
   */
  sequentialKeys?: boolean;
  /** The service's posting workers (`posting.concurrency`); default: the embedded config's. */
  workers?: number;
  /** Count the statements the service sends, through a proxy of the protocol (adds a hop: figures drop). */
  countStatements?: boolean;
  /** Read Postgres's per-database counters before and after (11 s each to settle); default true. */
  storeStats?: boolean;
  /** Deposits replayed with their key (and a tenth of them with a new key and the same pspRef). */
  replaySample?: number;
  log?: (line: string) => void;
}

export interface PgbenchFigures {
  scale: number;
  seconds: number;
  tpsOne: number;
  tpsMany: number;
  clients: number;
}

export interface StoreFigures {
  /** Transactions Postgres committed and rolled back in the service's database, per deposit done. */
  commitsPerDeposit: number;
  rollbacksPerDeposit: number;
  /** Rows inserted, updated, deleted per deposit, by table (those the run touched; reruns included). */
  rowsPerDeposit: Record<string, { ins: number; upd: number; del: number }>;
}

export interface DepositBenchReport {
  machine: { cpus: number; model: string; load: string };
  pgbench: PgbenchFigures | null;
  database: string;
  /** The service's posting workers (posting.concurrency) and HTTP clients. */
  workers: number;
  concurrency: number;
  sent: number;
  accepted: number;
  /** Answers of 5xx or none, retried with the same key (set-up and deposits): a bug of the service each. */
  retried: number;
  failed: { status: number | string; count: number; example: string }[];
  done: number;
  acceptSec: number;
  doneSec: number;
  drainMs: number;
  acceptedPerSec: number;
  donePerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  ratio: number | null;
  cpu: { serviceSec: number | null; postgresSec: number | null; benchSec: number; wallSec: number };
  store: StoreFigures | null;
  /** Per deposit done, with `countStatements`: round trips, statements, and the statements by their gist. */
  wire: { roundTrips: number; statements: number; byGist: [string, number][] } | null;
  checks: {
    replays: number;
    pspRefReplays: number;
    readBack: number;
    reconciliation: { id: string; state: string; findings: number } | null;
  };
  /** Empty: every deposit is on its server exactly once, and every check passed. */
  problems: string[];
  profile: string[] | null;
}

// ---------------------------------------------------------------------------------------------------------
// pgbench

/** pgbench's tps from its report (the figure without the initial connection time). */
export function parsePgbenchTps(output: string): number | null {
  const match = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(output) ?? /^tps = ([\d.]+)/m.exec(output);
  return match === null ? null : Number(match[1]);
}

export function hasPgbench(): boolean {
  const r = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

async function run(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0)
    throw new Error(`${command} ${args.filter((a) => !a.includes('://')).join(' ')} failed (${code}):\n${out}`);
  return out;
}

async function pgbenchRun(url: string, clients: number, seconds: number): Promise<number> {
  const threads = Math.min(2, clients);
  const out = await run('pgbench', ['-c', String(clients), '-j', String(threads), '-T', String(seconds), url]);
  const tps = parsePgbenchTps(out);
  if (tps === null) throw new Error(`no tps in pgbench's output:\n${out}`);
  return tps;
}

// ---------------------------------------------------------------------------------------------------------
// The database

function withDatabase(url: string, database: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL must be a URL: postgres://user:password@host:5432/db');
  }
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Transfer states the service still has work for (/metrics gauges them). */
const IN_FLIGHT = ['accepted', 'hold', 'posting', 'posted', 'refunding'];

/** The service's transfers by state, read from its table (the store's schema: `transfers.state`). */
async function transfersByState(client: pg.Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM transfers GROUP BY state ORDER BY state',
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

interface DbStats {
  commits: number;
  rollbacks: number;
  tables: Map<string, { ins: number; upd: number; del: number }>;
}

/**
 * A backend reports its counts at most once a second while busy, and an idle one that reported less than a
 * second ago only after PGSTAT_IDLE_INTERVAL (10 s): a reading waits that long first, or it misses counts.
 */
const STATS_SETTLE_MS = 11_000;

/** Postgres's counters for one database, once every backend has reported. */
async function dbStats(client: pg.Client, database: string): Promise<DbStats> {
  await sleep(STATS_SETTLE_MS);
  const db = await client.query<{ c: string; r: string }>(
    'SELECT xact_commit AS c, xact_rollback AS r FROM pg_stat_database WHERE datname = $1',
    [database],
  );
  const rows = await client.query<{ t: string; i: string; u: string; d: string }>(
    "SELECT relname AS t, n_tup_ins AS i, n_tup_upd AS u, n_tup_del AS d FROM pg_stat_user_tables WHERE relname NOT LIKE 'pgbench%'",
  );
  const tables = new Map<string, { ins: number; upd: number; del: number }>();
  for (const r of rows.rows) tables.set(r.t, { ins: Number(r.i), upd: Number(r.u), del: Number(r.d) });
  return { commits: Number(db.rows[0]?.c ?? 0), rollbacks: Number(db.rows[0]?.r ?? 0), tables };
}

// ---------------------------------------------------------------------------------------------------------
// CPU time of processes on this machine (Linux /proc; null elsewhere)

const TICKS_PER_SEC = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function cpuSecOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  } catch {
    return null;
  }
}

/**
 * The CPU time of the Postgres backends serving one database, summed over every backend seen while sampling
 * (each counted from its first sighting: a backend that comes and goes between two samples is missed).
 * Only meaningful when Postgres runs on this machine; null when its processes cannot be read.
 */
class BackendCpu {
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();
  #readable = true;

  constructor(
    readonly client: pg.Client,
    readonly database: string,
  ) {}

  async sample(): Promise<void> {
    if (!this.#readable) return;
    const { rows } = await this.client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
      [this.database],
    );
    for (const { pid } of rows) {
      const sec = cpuSecOf(pid);
      if (sec === null) {
        this.#readable = false;
        return;
      }
      if (!this.#first.has(pid)) this.#first.set(pid, sec);
      this.#last.set(pid, sec);
    }
  }

  /** Seconds of CPU since the last `reset()` (or each backend's first sighting after it). */
  sec(): number | null {
    if (!this.#readable) return null;
    let sum = 0;
    for (const [pid, last] of this.#last) sum += last - (this.#first.get(pid) ?? last);
    return sum;
  }

  reset(): void {
    this.#first.clear();
    for (const [pid, sec] of this.#last) this.#first.set(pid, sec);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Statements on the wire (`--count-statements`): a proxy between the service and Postgres that reads what the
// service sends. pg_stat_statements needs a server restart to load; this needs nothing of the server.

/** Executions by statement text, and round trips (a Sync or a simple Query: the client then waits). */
export interface WireCounts {
  statements: Map<string, number>;
  roundTrips: number;
}

/**
 * A TCP proxy to `target` that parses the frontend's messages (protocol 3.0; bytes are forwarded untouched and
 * at once) and counts each statement executed, by its text: Parse names a statement, Bind runs a named one,
 * Query runs its text. Connections that switch to TLS are forwarded without being read.
 */
export class WireCounter {
  readonly counts: WireCounts = { statements: new Map(), roundTrips: 0 };
  readonly #named = new Map<string, string>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #counting = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<WireCounter & { port: number }> {
    const server = createServer();
    const counter = new WireCounter(server);
    server.on('connection', (client) => counter.#pipe(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return Object.assign(counter, { port: (server.address() as AddressInfo).port });
  }

  /** Counts from now on (statements seen before are still named). */
  reset(): void {
    this.counts.statements.clear();
    this.counts.roundTrips = 0;
    this.#counting = true;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pipe(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.pipe(client);
    let buffered: Buffer = Buffer.alloc(0);
    let startup = true;
    let reading = true;
    // The unnamed statement is the connection's own.
    let unnamed = '';
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (!reading) return;
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const head = startup ? 0 : 1;
        if (buffered.length < head + 4) break;
        const length = buffered.readInt32BE(head);
        if (buffered.length < head + length) break;
        const body = buffered.subarray(head + 4, head + length);
        if (startup) {
          const code = body.readInt32BE(0);
          if (code === 80_877_103 || code === 80_877_104)
            reading = false; // SSL or GSS: unreadable from here
          else if (code === 196_608) startup = false; // protocol 3.0
        } else {
          const type = String.fromCharCode(buffered[0] as number);
          if (type === 'P') {
            const name = cstring(body, 0);
            const text = cstring(body, name.length + 1);
            if (name === '') unnamed = text;
            else this.#named.set(name, text);
          } else if (type === 'B') {
            const portal = cstring(body, 0);
            const name = cstring(body, portal.length + 1);
            this.#count(name === '' ? unnamed : (this.#named.get(name) ?? name));
          } else if (type === 'Q') {
            this.#count(cstring(body, 0));
            if (this.#counting) this.counts.roundTrips++;
          } else if (type === 'S' && this.#counting) this.counts.roundTrips++;
        }
        buffered = buffered.subarray(head + length);
        if (!reading) break;
      }
    });
    client.on('end', () => upstream.end());
  }

  #count(text: string): void {
    if (!this.#counting) return;
    const key = text.replace(/\s+/g, ' ').trim();
    this.counts.statements.set(key, (this.counts.statements.get(key) ?? 0) + 1);
  }
}

function cstring(buffer: Buffer, from: number): string {
  const end = buffer.indexOf(0, from);
  return buffer.toString('utf8', from, end < 0 ? buffer.length : end);
}

/** `INSERT INTO "public"."transfers" (...) VALUES ...` → `INSERT transfers`, and the like: a statement's gist. */
export function statementGist(text: string): string {
  const t = text.replace(/"public"\./g, '').replace(/"/g, '');
  const verb = /^\s*(\w+)/.exec(t)?.[1]?.toUpperCase() ?? '?';
  const table = /\b(?:FROM|INTO|UPDATE|TABLE)\s+([\w.]+)/i.exec(t)?.[1];
  const where = /\bWHERE\s+(.{0,60})/i.exec(t)?.[1];
  if (table === undefined) return t.slice(0, 80);
  return `${verb} ${table}${/ON CONFLICT/i.test(t) ? ' ON CONFLICT' : ''}${/FOR UPDATE/i.test(t) ? ' FOR UPDATE' : ''}${where === undefined ? '' : ` WHERE ${where.replace(/\$\d+/g, '?')}`}`;
}

// ---------------------------------------------------------------------------------------------------------
// The service

interface RunningService {
  url: string;
  child: ChildProcess;
  stop: () => Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

async function startService(
  databaseUrl: string,
  apiKey: string,
  dir: string,
  cpuProfileDir: string | undefined,
  workers: number | undefined,
): Promise<RunningService> {
  // The embedded config, but every posted deposit held to be on its server at once (no settling window).
  const config = {
    ...DEFAULT_BROKER_CONFIG,
    reconciliation: { ...DEFAULT_BROKER_CONFIG.reconciliation, settleMs: 0 },
    ...(workers === undefined ? {} : { posting: { ...DEFAULT_BROKER_CONFIG.posting, concurrency: workers } }),
  };
  const configPath = join(dir, 'broker.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    MTPROOF_API_KEY: apiKey,
    MTPROOF_LOG_LEVEL: 'warn',
  };
  delete env.AMQP_URL;
  const nodeArgs = cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir];
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'service', '--port', '0', '--config', configPath], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  // Only the tail: a service that logs a warning per request must not grow the benchmark's memory.
  child.stderr?.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = performance.now() + 120_000;
  let url: string | null = null;
  let gone = false;
  void exited.then(() => (gone = true));
  while (url === null) {
    const match = /listening on (http:\/\/\S+)[\s\S]*docs: /.exec(out);
    if (match !== null) url = match[1] as string;
    else if (gone) throw new Error(`mtproof service exited before listening:\n${out}${err}`);
    else if (performance.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`mtproof service printed no URL in 120 s:\n${out}${err}`);
    } else await sleep(50);
  }
  return {
    url,
    child,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

interface Answer {
  status: number | string;
  text: string;
  replayed: boolean;
}

class Api {
  constructor(
    readonly url: string,
    readonly key: string,
  ) {}

  async call(method: 'GET' | 'POST', path: string, body?: unknown, idempotencyKey?: string): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    try {
      const response = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, text, replayed: response.headers.get('idempotent-replayed') === 'true' };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return { status: cause ?? 'fetch failed', text: (error as Error).message, replayed: false };
    }
  }

  /** A call that must answer `status`; anything else ends the set-up. */
  /** Answers of 5xx or no answer, each retried with the same request and key (what a client should do). */
  readonly retried: Answer[] = [];

  /** `call`, retried up to 4 times (100 ms, 200 ms, ...) while the answer is a 5xx or none. */
  async send(method: 'GET' | 'POST', path: string, body?: unknown, idempotencyKey?: string): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.call(method, path, body, idempotencyKey);
      const transient = typeof answer.status === 'string' || answer.status >= 500;
      if (!transient || attempt === 5) return answer;
      this.retried.push(answer);
      await sleep(100 * 2 ** (attempt - 1));
    }
  }

  async must<T>(status: number, method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<T> {
    const answer = await this.send(method, path, body, key);
    if (answer.status !== status) throw new Error(`${method} ${path}: ${answer.status} ${answer.text.slice(0, 500)}`);
    return JSON.parse(answer.text) as T;
  }

  /** The transfers in flight by state, from /metrics (older services also gauged the settled states). */
  async transfers(): Promise<Record<string, number>> {
    const answer = await this.call('GET', '/metrics');
    if (answer.status !== 200) throw new Error(`GET /metrics: ${answer.status} ${answer.text.slice(0, 500)}`);
    const states: Record<string, number> = {};
    for (const m of answer.text.matchAll(/^mtproof_transfers\{state="([a-z]+)"\} (\d+)$/gm))
      states[m[1] as string] = Number(m[2]);
    return states;
  }
}

/** Runs `fn(i)` for i in [0, n) on `concurrency` lanes. */
async function lanes(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The run

interface Sent {
  key: string;
  body: string;
  answer: Answer;
  latencyMs: number;
}

export async function runDepositBench(options: DepositBenchOptions): Promise<DepositBenchReport> {
  const log = options.log ?? (() => {});
  const { concurrency: C, seconds: S } = options;
  const runId = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `mtproof_bench_${runId}`;
  const dbUrl = withDatabase(options.databaseUrl, database);
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-bench-deposits-'));
  const cleanup: (() => Promise<unknown>)[] = [];
  running.add(cleanup);
  cleanup.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const problems: string[] = [];
  const cpuInfo = cpus();
  const machine = {
    cpus: cpuInfo.length,
    model: cpuInfo[0]?.model ?? 'unknown',
    load: loadavg()
      .map((l) => l.toFixed(1))
      .join(' '),
  };

  try {
    await admin(options.databaseUrl, (c) => c.query(`CREATE DATABASE "${database}"`)).catch((error: Error) => {
      throw new Error(`cannot create the benchmark's database ${database} (the user needs CREATEDB): ${error.message}`);
    });
    cleanup.push(() =>
      admin(options.databaseUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)),
    );
    log(`database ${database}; machine: ${machine.cpus} CPUs (${machine.model}), load ${machine.load}`);

    // ---- the peer: pgbench on the same server, before the service runs (nothing else in the database) ----
    let pgbench: PgbenchFigures | null = null;
    if (options.pgbench) {
      log(`pgbench -i -s ${options.pgbenchScale} ...`);
      await run('pgbench', ['-i', '-q', '-s', String(options.pgbenchScale), dbUrl]);
      log(`pgbench -c 1 -T ${S} ...`);
      const tpsOne = await pgbenchRun(dbUrl, 1, S);
      log(`pgbench -c ${C} -j ${Math.min(2, C)} -T ${S} ...`);
      const tpsMany = C === 1 ? tpsOne : await pgbenchRun(dbUrl, C, S);
      // Its tables go before the service starts: `-I d` drops them.
      await run('pgbench', ['-i', '-I', 'd', dbUrl]);
      pgbench = { scale: options.pgbenchScale, seconds: S, tpsOne, tpsMany, clients: C };
      log(`pgbench: ${tpsOne.toFixed(0)} tps at 1 client, ${tpsMany.toFixed(0)} tps at ${C}`);
    }

    // ---- the service ----
    const apiKey = `mtp_bench_${randomBytes(24).toString('base64url')}`;
    if (options.cpuProfileDir !== undefined) mkdirSync(options.cpuProfileDir, { recursive: true });
    let wire: (WireCounter & { port: number }) | null = null;
    let serviceDbUrl = dbUrl;
    if (options.countStatements === true) {
      const target = new URL(dbUrl);
      wire = await WireCounter.start({ host: target.hostname, port: Number(target.port || 5432) });
      const proxied = new URL(dbUrl);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(wire.port);
      serviceDbUrl = proxied.toString();
      const counter = wire;
      cleanup.push(() => counter.close());
      log(`counting the service's statements through a proxy on port ${wire.port}`);
    }
    log('starting mtproof service ...');
    const service = await startService(serviceDbUrl, apiKey, dir, options.cpuProfileDir, options.workers);
    let stopped = false;
    // The service stopped by itself (a failed loop stops it): the figures so far are reported, the checks skipped.
    let died = false;
    const stopService = async () => {
      if (stopped) return;
      stopped = true;
      const code = await service.stop();
      if (code !== 0 && !died)
        problems.push(`mtproof service exited ${code} on SIGTERM:\n${service.stderr().slice(-3_000)}`);
    };
    cleanup.push(stopService);
    const api = new Api(service.url, apiKey);
    log(`service at ${service.url}`);

    // ---- set-up: clients, KYC, accounts (not timed) ----
    const accountIds: string[] = new Array(options.accounts);
    const setupStart = performance.now();
    try {
      await lanes(options.accounts, C, async (i) => {
        const eu = i % 2 === 0;
        const client = await api.must<{ id: string }>(
          201,
          'POST',
          '/v1/clients',
          {
            externalId: `bench-${i}`,
            name: `Bench Client ${i}`,
            email: `client${i}@bench.example`,
            country: eu ? 'DE' : 'US',
          },
          `setup-client-${i}`,
        );
        await api.must(200, 'POST', `/v1/clients/${client.id}/kyc`, { state: 'approved' }, `setup-kyc-${i}`);
        const account = await api.must<{ id: string }>(
          202,
          'POST',
          '/v1/accounts',
          { clientId: client.id, productId: eu ? 'eu-classic' : 'global-standard' },
          `setup-account-${i}`,
        );
        accountIds[i] = account.id;
      });
      await lanes(options.accounts, C, async (i) => {
        const id = accountIds[i] as string;
        for (;;) {
          const account = await api.must<{ state: string }>(200, 'GET', `/v1/accounts/${id}`);
          if (account.state === 'open') return;
          if (account.state !== 'pending') throw new Error(`account ${id} is ${account.state}, not open`);
          await sleep(100);
        }
      });
    } catch (error) {
      throw new Error(
        `set-up failed: ${(error as Error).message}\nthe service's log (its last lines):\n${service.stderr().slice(-4_000)}`,
      );
    }
    log(`set-up: ${options.accounts} accounts open in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

    // ---- Postgres's counters before the run ----
    const stats = new pg.Client({ connectionString: dbUrl });
    await stats.connect();
    cleanup.push(() => stats.end());
    const backends = new BackendCpu(stats, database);
    const storeStats = options.storeStats ?? true;
    if (storeStats) log(`reading Postgres's counters (${STATS_SETTLE_MS / 1000} s for every backend to report) ...`);
    const before = storeStats ? await dbStats(stats, database) : null;
    await backends.sample();
    backends.reset();
    const serviceCpu0 = service.child.pid === undefined ? null : cpuSecOf(service.child.pid);
    const benchCpu0 = process.cpuUsage();
    wire?.reset();

    // ---- timed: deposits ----
    const sent: Sent[] = [];
    let issued = 0;
    const t0 = performance.now();
    const deadline = t0 + S * 1000;
    let lastAcceptMs = t0;
    const progress = setInterval(() => {
      const accepted = sent.filter((s) => s.answer.status === 202).length;
      log(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${accepted} accepted`);
      void backends.sample().catch(() => {});
    }, 2_000);
    // Each lane sends one deposit after the other until the time or the count is up.
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (issued < options.deposits && performance.now() < deadline) {
          const i = issued++;
          const body = JSON.stringify({
            accountId: accountIds[i % options.accounts],
            amountCents: 1_000 + (i % 9_000),
            currency: 'USD',
            pspRef: options.sequentialKeys === true ? `pay_${runId}_${i}` : `pay_${randomBytes(12).toString('hex')}`,
          });
          const key = options.sequentialKeys === true ? `dep_${runId}_${i}` : randomUUID();
          const start = performance.now();
          const answer = await api.send('POST', '/v1/deposits', body, key);
          const end = performance.now();
          if (answer.status === 202 && end > lastAcceptMs) lastAcceptMs = end;
          sent.push({ key, body, answer, latencyMs: end - start });
        }
      }),
    );
    clearInterval(progress);
    const accepted = sent.filter((s) => s.answer.status === 202);
    const failures = new Map<number | string, { count: number; example: string }>();
    for (const s of sent) {
      if (s.answer.status === 202) continue;
      const f = failures.get(s.answer.status) ?? { count: 0, example: s.answer.text.slice(0, 300) };
      f.count++;
      failures.set(s.answer.status, f);
    }
    const failed = [...failures].map(([status, f]) => ({ status, ...f }));
    for (const f of failed) problems.push(`${f.count} deposits answered ${f.status}, not 202 (e.g. ${f.example})`);
    const retried = new Map<number | string, { count: number; example: string }>();
    for (const a of api.retried) {
      const r = retried.get(a.status) ?? { count: 0, example: a.text.slice(0, 300) };
      r.count++;
      retried.set(a.status, r);
    }
    for (const [status, r] of retried)
      problems.push(`${r.count} answers ${status} (set-up or deposits), each retried with its key (e.g. ${r.example})`);
    if (failed.some((f) => typeof f.status !== 'number' || f.status >= 500) || retried.size > 0)
      problems.push(`the service's log (its last lines):\n${service.stderr().slice(-4_000)}`);
    log(`sent ${sent.length} deposits, ${accepted.length} accepted; waiting until every one is done ...`);

    // ---- until every accepted deposit is done: none left in flight (the /metrics gauges) ----
    let lastDoneAt = t0;
    let gauges: Record<string, number> = {};
    let seenPending = -1;
    let progressAt = performance.now();
    let loggedAt = progressAt;
    for (;;) {
      try {
        gauges = await api.transfers();
      } catch (error) {
        // A service that stops closes its port first, then exits: give it a moment to say why.
        await sleep(2_000);
        const output = `${service.stdout().slice(-1_000)}${service.stderr().slice(-6_000)}`;
        problems.push(
          `the service stopped answering while posting (${(error as Error).message}; exit ${service.child.exitCode}):\n${output}`,
        );
        died = true;
        lastDoneAt = performance.now();
        break;
      }
      const pending = IN_FLIGHT.reduce((sum, state) => sum + (gauges[state] ?? 0), 0);
      const now = performance.now();
      if (pending !== seenPending) {
        seenPending = pending;
        progressAt = now;
      }
      if (pending === 0) {
        lastDoneAt = now;
        break;
      }
      if (now - progressAt > 60_000) {
        problems.push(
          `no deposit became done for 60 s: ${pending} of ${accepted.length} in flight, ${JSON.stringify(gauges)}`,
        );
        lastDoneAt = now;
        break;
      }
      if (now - loggedAt >= 2_000) {
        loggedAt = now;
        log(`  ${((now - t0) / 1000).toFixed(0)} s: ${accepted.length - pending} of ${accepted.length} out of flight`);
        await backends.sample().catch(() => {});
      }
      // Each scrape is a serializable transaction of counts beside the workers: often only near the end, where
      // it sets the figure's precision (a Prometheus server scrapes every 15 s or so).
      await sleep(pending > 4 * C ? 500 : 100);
    }
    await backends.sample().catch(() => {});
    const serviceCpu1 = service.child.pid === undefined ? null : cpuSecOf(service.child.pid);
    const benchCpu = process.cpuUsage(benchCpu0);
    const wireCounts =
      wire === null ? null : { roundTrips: wire.counts.roundTrips, statements: new Map(wire.counts.statements) };
    const after = before === null ? null : await dbStats(stats, database);
    // Every transfer of the database by state (/metrics counts only those in flight): read from the table.
    const states = await transfersByState(stats);
    const done = states.done ?? 0;
    const total = Object.values(states).reduce((sum, n) => sum + n, 0);
    if (done !== accepted.length)
      problems.push(`${done} of ${accepted.length} accepted deposits done: ${JSON.stringify(states)}`);
    if (total !== accepted.length)
      problems.push(`${total} transfers in the store, ${accepted.length} deposits accepted`);

    // ---- exactly-once checks (the service must still run) ----
    const checks = died
      ? { replays: 0, pspRefReplays: 0, readBack: 0, reconciliation: null }
      : await exactlyOnceChecks(api, stats, accepted, total, runId, options.replaySample ?? 50, problems, log);

    await stopService();
    let profile: string[] | null = null;
    if (options.cpuProfileDir !== undefined) profile = summariseProfile(options.cpuProfileDir);

    // ---- figures ----
    const latencies = accepted.map((s) => s.latencyMs).sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    const acceptSec = (lastAcceptMs - t0) / 1000;
    const doneSec = (lastDoneAt - t0) / 1000;
    const donePerSec = done / doneSec;
    const deposits = Math.max(done, 1);
    let store: StoreFigures | null = null;
    if (before !== null && after !== null) {
      const rowsPerDeposit: StoreFigures['rowsPerDeposit'] = {};
      for (const [table, a] of after.tables) {
        const b = before.tables.get(table) ?? { ins: 0, upd: 0, del: 0 };
        const d = { ins: (a.ins - b.ins) / deposits, upd: (a.upd - b.upd) / deposits, del: (a.del - b.del) / deposits };
        if (d.ins + d.upd + d.del > 0) rowsPerDeposit[table] = d;
      }
      store = {
        commitsPerDeposit: (after.commits - before.commits) / deposits,
        rollbacksPerDeposit: (after.rollbacks - before.rollbacks) / deposits,
        rowsPerDeposit,
      };
    }
    return {
      machine,
      pgbench,
      database,
      workers: options.workers ?? DEFAULT_BROKER_CONFIG.posting?.concurrency ?? 4,
      concurrency: C,
      sent: sent.length,
      accepted: accepted.length,
      failed,
      retried: api.retried.length,
      done,
      acceptSec,
      doneSec,
      drainMs: lastDoneAt - lastAcceptMs,
      acceptedPerSec: accepted.length / acceptSec,
      donePerSec,
      latencyMs: { p50: pct(0.5), p99: pct(0.99), max: latencies.at(-1) ?? 0 },
      ratio: pgbench === null ? null : donePerSec / pgbench.tpsMany,
      cpu: {
        serviceSec: serviceCpu0 === null || serviceCpu1 === null ? null : serviceCpu1 - serviceCpu0,
        postgresSec: backends.sec(),
        benchSec: (benchCpu.user + benchCpu.system) / 1e6,
        wallSec: doneSec,
      },
      store,
      wire:
        wireCounts === null
          ? null
          : {
              roundTrips: wireCounts.roundTrips / deposits,
              statements: [...wireCounts.statements.values()].reduce((a, b) => a + b, 0) / deposits,
              byGist: [
                ...[...wireCounts.statements]
                  .reduce(
                    (m, [text, n]) => m.set(statementGist(text), (m.get(statementGist(text)) ?? 0) + n),
                    new Map<string, number>(),
                  )
                  .entries(),
              ]
                .map(([gist, n]): [string, number] => [gist, n / deposits])
                .sort((a, b) => b[1] - a[1]),
            },
      checks,
      problems,
      profile,
    };
  } finally {
    for (const step of cleanup.splice(0).reverse())
      await step().catch((error: Error) => log(`cleanup: ${error.message}`));
    running.delete(cleanup);
  }
}

/**
 * Every accepted deposit is on its server exactly once: replays with the same key answer the first answer
 * byte for byte; the same pspRef under a new key answers the same transfer; another body under a used key is
 * a conflict; none of it creates a transfer; a sample reads back done with its ticket; the service's
 * reconciliation against the servers' histories finds nothing. Each failure is added to `problems`.
 */
async function exactlyOnceChecks(
  api: Api,
  db: pg.Client,
  accepted: readonly Sent[],
  total: number,
  runId: string,
  replaySample: number,
  problems: string[],
  log: (line: string) => void,
): Promise<DepositBenchReport['checks']> {
  log('checking exactly-once: replays, read-back, reconciliation ...');
  const sampleSize = Math.min(replaySample, accepted.length);
  const sample = Array.from(
    { length: sampleSize },
    (_, j) => accepted[Math.floor((j * accepted.length) / sampleSize)] as Sent,
  );
  let replays = 0;
  let pspRefReplays = 0;
  let readBack = 0;
  for (const [j, s] of sample.entries()) {
    const again = await api.call('POST', '/v1/deposits', s.body, s.key);
    if (again.status !== 202 || !again.replayed || again.text !== s.answer.text) {
      problems.push(
        `replay of ${s.key}: ${again.status} replayed=${again.replayed}, ${again.text.slice(0, 200)} (first: ${s.answer.text.slice(0, 200)})`,
      );
    } else replays++;
    const ref = (JSON.parse(s.answer.text) as { ref: string }).ref;
    if (j % 10 === 0) {
      // The provider retries its webhook under a new request id: the same pspRef answers the same transfer.
      const retried = await api.call('POST', '/v1/deposits', s.body, `${s.key}_retry`);
      const retriedRef = retried.status === 202 ? (JSON.parse(retried.text) as { ref: string }).ref : null;
      if (retriedRef !== ref)
        problems.push(
          `pspRef retried with a new key: ${retried.status} ${retried.text.slice(0, 200)}, expected ${ref}`,
        );
      else pspRefReplays++;
    }
    const read = await api.call('GET', `/v1/transfers/${ref}`);
    const row = read.status === 200 ? (JSON.parse(read.text) as { state: string; ticket: number | null }) : null;
    if (row === null || row.state !== 'done' || row.ticket === null)
      problems.push(`GET /v1/transfers/${ref}: ${read.status} ${read.text.slice(0, 200)}`);
    else readBack++;
  }
  const first = sample[0];
  if (first !== undefined) {
    const changed = JSON.stringify({ ...(JSON.parse(first.body) as object), amountCents: 999_999 });
    const conflict = await api.call('POST', '/v1/deposits', changed, first.key);
    if (conflict.status !== 409 || !conflict.text.includes('MTP_IDEMPOTENCY_CONFLICT'))
      problems.push(
        `another body under ${first.key}: ${conflict.status} ${conflict.text.slice(0, 200)}, expected 409 MTP_IDEMPOTENCY_CONFLICT`,
      );
  }
  const totalAfter = Object.values(await transfersByState(db)).reduce((sum, n) => sum + n, 0);
  if (totalAfter !== total) problems.push(`the replays created transfers: ${total} before, ${totalAfter} after`);

  let reconciliation: DepositBenchReport['checks']['reconciliation'] = null;
  const rec = await api.call('POST', '/v1/reconciliations', {}, `rec_${runId}`);
  if (rec.status !== 201) problems.push(`POST /v1/reconciliations: ${rec.status} ${rec.text.slice(0, 300)}`);
  else {
    const run = JSON.parse(rec.text) as { id: string; state: string; findings: { class: string; detail: string }[] };
    reconciliation = { id: run.id, state: run.state, findings: run.findings.length };
    if (run.state !== 'done') problems.push(`reconciliation ${run.id} is ${run.state}`);
    for (const f of run.findings.slice(0, 10)) problems.push(`reconciliation ${run.id}: ${f.class}: ${f.detail}`);
    if (run.findings.length > 10) problems.push(`... ${run.findings.length} findings in all`);
  }

  return { replays, pspRefReplays, readBack, reconciliation };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------
// The service's CPU profile, summarised

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Where the service's CPU time went: by area (our folders, each npm package, Node) and the top functions. */
export function summariseProfile(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return ['no .cpuprofile written (did the service exit cleanly?)'];
  // One file per thread (tsx's loader has a thread of its own): the service's is the busiest.
  const profiles = files.map((file) => ({
    file,
    profile: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile,
  }));
  const busiest = profiles
    .map((p) => ({
      ...p,
      samples: p.profile.samples.filter(
        (id) => p.profile.nodes.find((n) => n.id === id)?.callFrame.functionName !== '(idle)',
      ).length,
    }))
    .sort((a, b) => b.samples - a.samples)[0] as { file: string; profile: Profile };
  const { profile, file } = busiest;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where =
      frame.url === ''
        ? ''
        : ` ${frame.url.replace(/^file:\/\/.*?\/(node_modules|main)\//, '')}:${frame.lineNumber + 1}`;
    const fn = `${frame.functionName || '(anonymous)'}${where}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  const lines = [
    `service CPU profile (${file}, the busiest of ${files.length} threads): ${(busyUs / 1e6).toFixed(1)} s busy of ${(totalUs / 1e6).toFixed(1)} s profiled (whole life of the process: start-up, set-up and checks included)`,
    '  by area (self time):',
  ];
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 14)) lines.push(`    ${pct(us)}  ${area}`);
  lines.push('  top functions (self time):');
  for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 20)) lines.push(`    ${pct(us)}  ${fn}`);
  return lines;
}

function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1] as string;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const ours = /\/(kit|metatrader|simulator|adapters|service|scenarios|cli)\/(?:([a-z-]+)\/)?/.exec(url);
  if (ours !== null) return ours[1] === 'service' && ours[2] !== undefined ? `service/${ours[2]}` : (ours[1] as string);
  return url;
}

// ---------------------------------------------------------------------------------------------------------
// The command

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function renderReport(r: DepositBenchReport): string[] {
  const lines = [
    `exactly-once deposits through the HTTP API on Postgres — ${r.machine.cpus} CPUs (${r.machine.model}), load at start ${r.machine.load}`,
  ];
  if (r.pgbench !== null) {
    const p = r.pgbench;
    lines.push(
      `  pgbench (TPC-B-like, scale ${p.scale}, ${p.seconds} s)  ${fmt(p.tpsOne).padStart(8)} tps at 1 client   ${fmt(p.tpsMany).padStart(8)} tps at ${p.clients}`,
    );
  } else lines.push('  pgbench                   not run');
  lines.push(
    `  service                   ${r.concurrency} HTTP clients (keep-alive), ${r.workers} posting workers (posting.concurrency)`,
  );
  const verdict = r.ratio === null ? '' : `  (goal ≥ ${GOAL_RATIO}×: ${r.ratio >= GOAL_RATIO ? 'met' : 'MISSED'})`;
  lines.push(
    `  deposits done/s           ${fmt(r.donePerSec, 1).padStart(8)}   ${fmt(r.done)} deposits, first POST to last done ${r.doneSec.toFixed(1)} s`,
    `  ratio to pgbench (c=${r.pgbench?.clients ?? '-'})    ${r.ratio === null ? '       -' : `${r.ratio.toFixed(3).padStart(8)}×`}${verdict}`,
    `  accepted/s                ${fmt(r.acceptedPerSec, 1).padStart(8)}   ${fmt(r.accepted)} of ${fmt(r.sent)} POSTs answered 202 in ${r.acceptSec.toFixed(1)} s${r.retried > 0 ? ` (${r.retried} 5xx answers retried with their key)` : ''}; the last done ${(r.drainMs / 1000).toFixed(1)} s after the last 202`,
    `  acceptance latency        p50 ${r.latencyMs.p50.toFixed(1)} ms   p99 ${r.latencyMs.p99.toFixed(1)} ms   max ${r.latencyMs.max.toFixed(1)} ms`,
  );
  const c = r.cpu;
  const share = (sec: number | null) =>
    sec === null ? 'n/a' : `${sec.toFixed(1)} s (${fmt((100 * sec) / c.wallSec)}% of one CPU)`;
  lines.push(
    `  CPU over the run           service ${share(c.serviceSec)}, its Postgres backends ≈ ${share(c.postgresSec)}, this load generator ${share(c.benchSec)}`,
  );
  if (r.store !== null) {
    const s = r.store;
    const rows = Object.entries(s.rowsPerDeposit)
      .sort((a, b) => b[1].ins + b[1].upd + b[1].del - (a[1].ins + a[1].upd + a[1].del))
      .map(([t, d]) => `${t} +${d.ins.toFixed(2)}/~${d.upd.toFixed(2)}${d.del > 0 ? `/-${d.del.toFixed(2)}` : ''}`)
      .join(', ');
    lines.push(
      `  per deposit on Postgres    ${s.commitsPerDeposit.toFixed(2)} commits, ${s.rollbacksPerDeposit.toFixed(3)} rollbacks (serialization failures rerun)`,
      `  rows per deposit           ${rows}  (+inserted/~updated, reruns included)`,
    );
  }
  if (r.wire !== null) {
    lines.push(
      `  on the wire per deposit    ${r.wire.roundTrips.toFixed(2)} round trips, ${r.wire.statements.toFixed(2)} statements (reruns and the drain's /metrics polls included):`,
    );
    for (const [gist, n] of r.wire.byGist.slice(0, 25)) lines.push(`    ${n.toFixed(2).padStart(7)}  ${gist}`);
  }
  const k = r.checks;
  lines.push(
    `  exactly-once               ${r.problems.length === 0 ? 'verified' : `FAILED (${r.problems.length} problems)`}: ${k.replays} replays byte-identical, ${k.pspRefReplays} pspRef retries same transfer, ${k.readBack} read back done` +
      (k.reconciliation === null
        ? ', no reconciliation'
        : `, reconciliation ${k.reconciliation.id} ${k.reconciliation.state} with ${k.reconciliation.findings} findings`),
  );
  for (const p of r.problems) lines.push(`    ! ${p}`);
  if (r.profile !== null) lines.push(...r.profile.map((l) => `  ${l}`));
  return lines;
}

async function main(): Promise<number> {
  const flag = (name: string, fallback: number) => benchFlag(BENCH, name, fallback);
  const seconds = flag('seconds', 20);
  const concurrency = flag('concurrency', 8);
  const accounts = flag('accounts', 200);
  const deposits = flag('deposits', Number.POSITIVE_INFINITY);
  const scale = flag('scale', concurrency);
  const workers = process.argv.includes('--workers') ? flag('workers', 1) : undefined;
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '') {
    console.error(
      `${BENCH}: needs DATABASE_URL, a Postgres server on which it may create a database (postgres://user:password@host:5432/db)`,
    );
    return 2;
  }
  if (!hasPgbench()) {
    console.error(
      `${BENCH}: needs pgbench on PATH (the peer it is measured against; e.g. apt-get install postgresql-client)`,
    );
    return 2;
  }
  const cpuProfileDir = process.argv.includes('--cpu-prof')
    ? join(tmpdir(), `mtproof-deposits-prof-${Date.now()}`)
    : undefined;
  process.once('SIGINT', () => {
    console.error(`${BENCH}: interrupted; dropping its database ...`);
    void (async () => {
      for (const steps of running) for (const step of steps.splice(0).reverse()) await step().catch(() => {});
      process.exit(130);
    })();
  });
  const report = await runDepositBench({
    databaseUrl,
    seconds,
    concurrency,
    accounts,
    deposits,
    pgbench: true,
    pgbenchScale: scale,
    cpuProfileDir,
    sequentialKeys: process.argv.includes('--sequential-keys'),
    countStatements: process.argv.includes('--count-statements'),
    workers,
    log: (line) => console.error(line),
  });
  for (const line of renderReport(report)) console.log(line);
  if (cpuProfileDir !== undefined) console.log(`  profile kept in ${cpuProfileDir} (open it in Chrome DevTools)`);
  return report.problems.length === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`${BENCH}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
