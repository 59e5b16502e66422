import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { srvRandAnswer } from '../simulator/http/webapi/auth.ts';

/**
 * `npm run bench:wire [-- --seconds S --requests N --concurrency C --accounts K --rounds R --client node|wrk|both
 * --skip-webapi]`: the served simulator's requests per second and latency over loopback, beside Mountebank doing
 * an equivalent balance operation, measured in the same run by the same load generators (goal: the simulator
 * ≥ 5× the equivalent Mountebank stub's rate).
 *
 * The simulator runs as `mtproof sim serve --port 0 --mt5-webapi-port 0` (a process of its own, quiet: no
 * random faults). Set-up, not timed: one native session per connection, connected as manager 1000, and K
 * accounts on mt5-live-global. Targets, all fed `POST /v1/sessions/:session/postBalance` deposits with unique
 * comments: the simulator's native API; its MT5 Web API (`trade/balance`, type 2, after the real handshake on
 * each connection); Mountebank (`mb start --allowInjection`, a process of its own) with an `inject` stub doing
 * the same balance operation (validation, books, tickets, overdraft refusal: `balanceInjection`), the one the
 * goal is judged against; and Mountebank's cheapest stub, a fixed `is` receipt (moves no money), for
 * reference. Both imposters: `recordRequests: false`, `connection: keep-alive` (without which Mountebank
 * closes every connection).
 *
 * The figures depend heavily on the client, so there are two, each with its own rows and ratios: `node`
 * (this process: C keep-alive connections, one `http.Agent` of one socket each, closed loop, every answer
 * checked, after a one-second warm-up) and, when it is on PATH, `wrk` (C connections over 2 threads, a Lua
 * `request()` per request, `--latency`, after a warm-up run; a valid row has no non-2xx answer and no socket
 * error). Money must add up afterwards: each simulator account's balance is the sum of its acknowledged
 * deposits through `getAccount` and the control API's ground truth, and the equivalent stub's books likewise;
 * for wrk, which cannot say which deposits were acknowledged, the deposits applied during its run must be at
 * least its completed requests and at most C more (those in flight when it stopped).
 * Targets are measured one after another, each alone with the load generator (the other process idles), in
 * R interleaved rounds (default 3) whose median is shown, since the machine's other load drifts.
 */

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'mtproof.js');
const MB = join(ROOT, 'node_modules', 'mountebank', 'bin', 'mb');
const MT5 = 'mt5-live-global';
const MT5_GROUP = 'real\\standard-usd';
const MANAGER = { login: 1000, password: 'Manager#1' };
export const GOAL_RATIO = 5;

// ---- processes ----

const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

process.on('exit', killChildren);

interface Started {
  child: ChildProcess;
  /** Resolves when it has exited (after `stop`). */
  stop(): Promise<void>;
}

function track(child: ChildProcess): Started {
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      children.delete(child);
    },
  };
}

/** Waits for `pattern` on the child's stdout (everything it printed so far on failure). */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => done(new Error(`${what} did not start within ${timeoutMs} ms: ${out}${err}`)),
      timeoutMs,
    );
    const onOut = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (pattern.test(out)) done(null);
    };
    const onErr = (chunk: Buffer) => {
      err += chunk.toString('utf8');
    };
    const onExit = (code: number | null) =>
      done(new Error(`${what} exited (${code}) before it was ready: ${out}${err}`));
    function done(error: Error | null): void {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (error === null) resolve(out);
      else reject(error);
    }
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

export interface SimProcess extends Started {
  url: string;
  webApiUrl: string;
}

/** `mtproof sim serve` on free ports; its URLs from its banner. */
export async function startSimulator(): Promise<SimProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'sim', 'serve', '--port', '0', '--mt5-webapi-port', '0', '--seed', 'bench-wire'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const started = track(child);
  try {
    const banner = await waitForOutput(child, /\n {2}token:/, 30_000, 'mtproof sim serve');
    const url = /^mtproof sim listening on (http:\/\/\S+)/m.exec(banner)?.[1];
    const webApiUrl = new RegExp(`MT5 Web API of ${MT5}: (http://\\S+?)/api/`).exec(banner)?.[1];
    if (url === undefined || webApiUrl === undefined) throw new Error(`unexpected banner: ${banner}`);
    // Drain what it prints from now on (a full pipe would block it).
    child.stdout?.resume();
    child.stderr?.resume();
    return { ...started, url, webApiUrl };
  } catch (error) {
    await started.stop();
    throw error;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface MountebankProcess extends Started {
  /** The static stub: a fixed receipt whatever the request (moves no money). */
  staticUrl: string;
  /** The equivalent stub: validates, keeps balances and tickets, refuses an overdraft (JS injection). */
  equivalentUrl: string;
  /** The equivalent stub's books (`GET /mountebank-state` on its imposter). */
  books(): Promise<MountebankBooks>;
}

export interface MountebankBooks {
  balances: Record<string, number>;
  credits: Record<string, number>;
  nextTicket: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', connection: 'keep-alive' };

/**
 * The equivalent stub's response injection: what the native `postBalance` does, in Mountebank's own terms.
 * It parses the body, validates it field by field as the native API's schema does (strict objects; login a
 * 32-bit positive integer; amountCents a non-zero integer within ±10^13; kind balance|credit; comment a string
 * of ≤ 256 characters) with a 400 naming the field, answers `not_found` for a login it does not hold and
 * `no_money` for a withdrawal above the balance (the native API's port Results, with HTTP 200), and otherwise
 * books the amount and answers the receipt with the next ticket. The books live in the imposter's `state`
 * (Mountebank keeps it between requests); the logins are the bench's accounts, known from the start, as the
 * simulator's are. `connection: keep-alive`, or Mountebank closes every connection.
 */
export function balanceInjection(logins: readonly number[]): string {
  return `function (config) {
  var state = config.state;
  if (state.balances === undefined) {
    state.balances = {};
    state.credits = {};
    state.nextTicket = 1000000;
    ${JSON.stringify(logins)}.forEach(function (login) { state.balances[login] = 0; state.credits[login] = 0; });
  }
  var headers = ${JSON.stringify(JSON_HEADERS)};
  function answer(statusCode, value) { return { statusCode: statusCode, headers: headers, body: JSON.stringify(value) }; }
  function bad(path, message) {
    return answer(400, { error: { code: 'MTP_BAD_REQUEST', message: 'bad request: ' + path + ': ' + message,
      issues: [{ path: path, message: message }] } });
  }
  function refused(code, codeName, reason) {
    return answer(200, { ok: false, error: { platform: 'mt5', code: code, codeName: codeName, outcome: 'rejected',
      reason: reason, serverId: 'mt5-live-global', op: 'postBalance', detail: '' } });
  }
  function isObject(x) { return x !== null && typeof x === 'object' && !Array.isArray(x); }
  function extra(object, allowed) { return Object.keys(object).filter(function (k) { return allowed.indexOf(k) < 0; })[0]; }
  var body;
  try { body = typeof config.request.body === 'string' ? JSON.parse(config.request.body) : config.request.body; }
  catch (e) { return bad('', 'not JSON'); }
  if (!isObject(body)) return bad('', 'expected an object');
  if (extra(body, ['request']) !== undefined) return bad(extra(body, ['request']), 'unrecognized key');
  var r = body.request;
  if (!isObject(r)) return bad('request', 'expected an object');
  var unknown = extra(r, ['login', 'amountCents', 'kind', 'comment']);
  if (unknown !== undefined) return bad('request.' + unknown, 'unrecognized key');
  if (!Number.isInteger(r.login) || r.login < 1 || r.login > 2147483647) return bad('request.login', 'expected a login');
  if (!Number.isInteger(r.amountCents) || Math.abs(r.amountCents) > 10000000000000) {
    return bad('request.amountCents', 'expected an integer within 10^13');
  }
  if (r.amountCents === 0) return bad('request.amountCents', 'must not be 0');
  if (r.kind !== 'balance' && r.kind !== 'credit') return bad('request.kind', 'expected one of "balance"|"credit"');
  if (typeof r.comment !== 'string' || r.comment.length > 256) return bad('request.comment', 'expected ≤ 256 characters');
  var book = r.kind === 'balance' ? state.balances : state.credits;
  if (!Object.prototype.hasOwnProperty.call(book, r.login)) return refused(13, 'MT_RET_ERR_NOTFOUND', 'not_found');
  if (r.amountCents < 0 && book[r.login] + r.amountCents < 0) return refused(10019, 'MT_RET_REQUEST_NO_MONEY', 'no_money');
  book[r.login] += r.amountCents;
  var ticket = state.nextTicket++;
  return answer(200, { ok: true, value: { ticket: ticket, login: r.login, amountCents: r.amountCents, kind: r.kind,
    comment: r.comment } });
}`;
}

const BOOKS_INJECTION = `function (config) {
  var state = config.state;
  return { statusCode: 200, headers: ${JSON.stringify(JSON_HEADERS)},
    body: JSON.stringify({ balances: state.balances || {}, credits: state.credits || {}, nextTicket: state.nextTicket || 0 }) };
}`;

/**
 * The route's predicates, in Mountebank's cheapest form: `equals` on the method and `endsWith` on the path. A
 * `matches` (regular expression) predicate on the path costs Mountebank about four fifths of its rate here
 * (about 1,150 against 4,900 requests a second with wrk), so it would flatter the simulator.
 */
const POST_BALANCE = [{ equals: { method: 'POST' } }, { endsWith: { path: '/postBalance' } }];

/**
 * Mountebank on a free port (`--allowInjection`, for the equivalent stub), with two imposters: the static
 * receipt and the equivalent balance operation for `logins`.
 */
export async function startMountebank(receipt: unknown, logins: readonly number[]): Promise<MountebankProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-mb-'));
  const child = spawn(
    process.execPath,
    [
      MB,
      'start',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--allowInjection',
      '--loglevel',
      'warn',
      '--nologfile',
      '--pidfile',
      join(dir, 'mb.pid'),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const started = track(child);
  const stop = async () => {
    await started.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    child.stdout?.resume();
    child.stderr?.resume();
    const admin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`mountebank exited (${child.exitCode}) at start`);
      const up = await send(admin, { method: 'GET', path: '/imposters' }).catch(() => null);
      if (up?.status === 200) break;
      if (Date.now() > deadline) throw new Error('mountebank did not answer within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const imposter = async (stubs: unknown[]): Promise<string> => {
      const imposterPort = await freePort();
      const definition = {
        protocol: 'http',
        port: imposterPort,
        host: '127.0.0.1',
        recordRequests: false,
        defaultResponse: { statusCode: 404, headers: { connection: 'keep-alive' } },
        stubs,
      };
      const created = await send(admin, { method: 'POST', path: '/imposters', body: JSON.stringify(definition) });
      if (created.status !== 201) {
        throw new Error(`mountebank refused an imposter (${created.status}): ${created.body}`);
      }
      return `http://127.0.0.1:${imposterPort}`;
    };
    // The cheapest stub Mountebank has: a fixed `is` response behind the cheapest predicates.
    const staticUrl = await imposter([
      {
        predicates: POST_BALANCE,
        responses: [{ is: { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify(receipt) } }],
      },
    ]);
    const equivalentUrl = await imposter([
      { predicates: POST_BALANCE, responses: [{ inject: balanceInjection(logins) }] },
      {
        predicates: [{ equals: { method: 'GET', path: '/mountebank-state' } }],
        responses: [{ inject: BOOKS_INJECTION }],
      },
    ]);
    return {
      child,
      stop,
      staticUrl,
      equivalentUrl,
      books: async () => (await sendJson(equivalentUrl, 'GET', '/mountebank-state')) as MountebankBooks,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---- HTTP ----

interface Sent {
  status: number;
  body: string;
}

function send(base: string, options: { method: string; path: string; body?: string; agent?: Agent }): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.path, base);
    const req = httpRequest(
      {
        hostname: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method,
        agent: options.agent ?? false,
        headers:
          options.body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // Headers and body in one `end`: the plainest client, the same for every target.
    req.end(options.body);
  });
}

async function sendJson(base: string, method: string, path: string, body?: unknown, agent?: Agent): Promise<unknown> {
  const res = await send(base, {
    method,
    path,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(agent === undefined ? {} : { agent }),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as unknown;
}

// ---- the load generator ----

/** One request of the measured workload: what to send and whether the answer is the expected one. */
export interface Work {
  method: string;
  path: string;
  body?: string;
  /** Checks the answer; returns false for a wrong one (counted, and the run reported as failed). */
  check(answer: Sent): boolean;
}

export interface LoadOptions {
  base: string;
  concurrency: number;
  /** Measure for this long (after the warm-up)… */
  durationMs?: number;
  /** …or until this many requests are done. */
  requests?: number;
  warmupMs?: number;
  /** The i-th request (i from 0, warm-up included) of connection `worker`. */
  work(i: number, worker: number): Work;
  /** Per connection, before anything is timed (the Web API's handshake). */
  prepare?(worker: number, agent: Agent): Promise<void>;
}

export interface LoadResult {
  requests: number;
  wrong: number;
  errors: string[];
  elapsedMs: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU time the load generator (this process) used while measuring, as a share of one core. */
  clientCpu: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** C connections, each sending its next request when the previous answer is in (closed loop). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agents = Array.from({ length: options.concurrency }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    if (options.prepare !== undefined) {
      await Promise.all(agents.map((agent, w) => options.prepare?.(w, agent)));
    }
    let next = 0;
    const latencies: number[] = [];
    let wrong = 0;
    const errors: string[] = [];
    let measuring = false;
    let stopAt = Number.POSITIVE_INFINITY;
    let measuredStart = 0n;
    let measured = 0;
    const worker = async (w: number): Promise<void> => {
      const agent = agents[w] as Agent;
      for (;;) {
        const now = process.hrtime.bigint();
        if (
          measuring &&
          (now >= BigInt(Math.floor(stopAt)) || (options.requests !== undefined && measured >= options.requests))
        )
          return;
        const i = next++;
        const work = options.work(i, w);
        const started = process.hrtime.bigint();
        const counted = measuring;
        if (counted) measured++;
        let answer: Sent;
        try {
          answer = await send(options.base, {
            method: work.method,
            path: work.path,
            ...(work.body === undefined ? {} : { body: work.body }),
            agent,
          });
        } catch (error) {
          if (errors.length < 5) errors.push((error as Error).message);
          wrong++;
          continue;
        }
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        let right: boolean;
        try {
          right = work.check(answer);
        } catch {
          right = false;
        }
        if (!right) {
          wrong++;
          if (errors.length < 5) errors.push(`${answer.status} ${answer.body.slice(0, 200)}`);
        }
        if (counted) latencies.push(ms);
      }
    };
    const warmupMs = options.warmupMs ?? 1_000;
    const running = agents.map((_, w) => worker(w));
    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    const cpuBefore = process.cpuUsage();
    measuredStart = process.hrtime.bigint();
    stopAt =
      Number(measuredStart) + (options.durationMs ?? (options.requests === undefined ? 10_000 : 3_600_000)) * 1e6;
    measuring = true;
    await Promise.all(running);
    const elapsedMs = Number(process.hrtime.bigint() - measuredStart) / 1e6;
    const cpu = process.cpuUsage(cpuBefore);
    const sorted = Float64Array.from(latencies).sort();
    return {
      requests: latencies.length,
      wrong,
      errors,
      elapsedMs,
      reqPerSec: (latencies.length / elapsedMs) * 1000,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length === 0 ? 0 : (sorted[sorted.length - 1] as number),
      clientCpu: (cpu.user + cpu.system) / 1000 / elapsedMs,
    };
  } finally {
    for (const agent of agents) agent.destroy();
  }
}

// ---- CPU of a process (Linux /proc; null elsewhere) ----

const TICKS_PER_SEC = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime+stime of `pid` (or, with `reapedChildren`, of its children it has waited for: wrk, once exited). */
function cpuSecOf(pid: number | undefined | 'self', reapedChildren = false): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const at = reapedChildren ? 13 : 11;
    return (Number(fields[at]) + Number(fields[at + 1])) / TICKS_PER_SEC;
  } catch {
    return null;
  }
}

async function withServerCpu<R>(
  pid: number | undefined,
  run: () => Promise<R>,
): Promise<R & { serverCpu: number | null }> {
  const before = cpuSecOf(pid);
  const t0 = performance.now();
  const result = await run();
  const after = cpuSecOf(pid);
  const wallSec = (performance.now() - t0) / 1000;
  // Over the whole run, warm-up included: the share of one core the target used.
  return { ...result, serverCpu: before === null || after === null ? null : (after - before) / wallSec };
}

// ---- wrk ----

/** Whether `wrk` (https://github.com/wg/wrk; Debian's package) is on PATH. */
export function wrkAvailable(): boolean {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  return r.error === undefined && /wrk/.test(`${r.stdout}${r.stderr}`);
}

export interface WrkSummary {
  requests: number;
  elapsedMs: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
}

function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (m === null) throw new Error(`wrk: unreadable time ${text}`);
  const scale = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'us' | 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * scale;
}

/** Reads `wrk --latency` output: requests, req/s, p50/p99/max, non-2xx/3xx answers and socket errors. */
export function parseWrk(output: string): WrkSummary {
  const done = /^\s*(\d+) requests in ([\d.]+\w+),/m.exec(output);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p50 = /^\s*50%\s+(\S+)/m.exec(output);
  const p99 = /^\s*99%\s+(\S+)/m.exec(output);
  const max = /^\s*Latency\s+\S+\s+\S+\s+(\S+)/m.exec(output);
  if (done === null || rate === null || p50 === null || p99 === null || max === null) {
    throw new Error(`wrk: unreadable output: ${output}`);
  }
  const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requests: Number(done[1]),
    elapsedMs: wrkMs(done[2] as string),
    reqPerSec: Number(rate[1]),
    p50Ms: wrkMs(p50[1] as string),
    p99Ms: wrkMs(p99[1] as string),
    maxMs: wrkMs(max[1] as string),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: sockets === null ? 0 : sockets.slice(1).reduce((sum, n) => sum + Number(n), 0),
  };
}

/**
 * A wrk Lua script POSTing deposits of `amountCents` with unique comments: request n of the run goes to
 * `paths[n % P]` for `logins[n % K]` (wrk's `request()` runs per thread, not per connection, so the paths
 * rotate per request; the simulator allows concurrent calls on a session).
 */
export function wrkScript(options: {
  paths: readonly string[];
  logins: readonly number[];
  amountCents: number;
  commentPrefix: string;
  threads: number;
}): string {
  const list = (items: readonly (string | number)[]) => `{ ${items.map((x) => JSON.stringify(x)).join(', ')} }`;
  return `local paths = ${list(options.paths)}
local logins = ${list(options.logins)}
local amountCents = ${options.amountCents}
local prefix = ${JSON.stringify(options.commentPrefix)}
local threads = ${options.threads}
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
local nextThread = 0

function setup(thread)
  thread:set("threadIndex", nextThread)
  nextThread = nextThread + 1
end

function request()
  local n = counter * threads + threadIndex
  counter = counter + 1
  local body = string.format('{"request":{"login":%d,"amountCents":%d,"kind":"balance","comment":"%s%d"}}',
    logins[n % #logins + 1], amountCents, prefix, n)
  return wrk.format("POST", paths[n % #paths + 1], headers, body)
end
`;
}

export interface WrkRun extends WrkSummary {
  /** CPU wrk used, as a share of one core over its run. */
  clientCpu: number;
}

/** One wrk run (`-t threads -c connections -d seconds --latency -s script`) against `base`. */
export async function runWrk(options: {
  base: string;
  script: string;
  connections: number;
  seconds: number;
}): Promise<WrkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-wrk-'));
  try {
    const scriptPath = join(dir, 'deposits.lua');
    writeFileSync(scriptPath, options.script);
    const threads = Math.min(2, options.connections);
    const cpuBefore = cpuSecOf('self', true);
    const t0 = performance.now();
    const child = spawn(
      'wrk',
      [
        '-t',
        String(threads),
        '-c',
        String(options.connections),
        '-d',
        `${options.seconds}s`,
        '--latency',
        '-s',
        scriptPath,
        options.base,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const started = track(child);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    await started.stop();
    if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`);
    const wallSec = (performance.now() - t0) / 1000;
    const cpuAfter = cpuSecOf('self', true);
    const summary = parseWrk(out);
    return { ...summary, clientCpu: cpuBefore === null || cpuAfter === null ? 0 : (cpuAfter - cpuBefore) / wallSec };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the benchmark ----

export type Client = 'node' | 'wrk';

export interface WireBenchOptions {
  durationMs?: number;
  requests?: number;
  concurrency: number;
  accounts: number;
  warmupMs?: number;
  /** Measurements of each target, interleaved (default 3): the machine's other load drifts between them. */
  rounds?: number;
  webApi?: boolean;
  /** Load generators (default: node, and wrk when it is on PATH). */
  clients?: readonly Client[];
  /** wrk's measured run, in whole seconds (default: the node client's duration rounded up, or 2 s). */
  wrkSeconds?: number;
  log?: (line: string) => void;
}

export interface Row extends LoadResult {
  client: Client;
  target: string;
  round: number;
  serverCpu: number | null;
}

export interface TargetSummary {
  client: Client;
  target: string;
  /** The round with the median req/s (its latencies and CPU shares are the ones shown). */
  median: Row;
  minReqPerSec: number;
  maxReqPerSec: number;
}

export interface ClientRatios {
  client: Client;
  /** Simulator native median req/s over the equivalent Mountebank stub's: what the goal is judged on. */
  equivalent: number;
  /** Simulator native median req/s over the static Mountebank stub's (moves no money). */
  static: number;
  /** The equivalent ratio within each round. */
  roundEquivalent: number[];
}

export interface WireBenchReport {
  clients: Client[];
  rows: Row[];
  targets: TargetSummary[];
  ratios: ClientRatios[];
  problems: string[];
}

export const NATIVE = 'simulator native';
export const WEBAPI = 'simulator MT5 Web API';
export const MB_EQUIVALENT = 'Mountebank equivalent';
export const MB_STATIC = 'Mountebank static';
const TARGETS = [NATIVE, WEBAPI, MB_EQUIVALENT, MB_STATIC];
/** Each deposit of a wrk run: a constant, so a balance delta counts the deposits applied. */
const WRK_AMOUNT_CENTS = 100;

/** wrk counts time in whole seconds and has no request count. */
function wrkSecondsOf(options: WireBenchOptions): number {
  return Math.max(1, Math.ceil(options.wrkSeconds ?? (options.durationMs ?? 2_000) / 1000));
}

export async function runWireBench(options: WireBenchOptions): Promise<WireBenchReport> {
  const log = options.log ?? (() => {});
  const rounds = options.rounds ?? 3;
  const clients: Client[] = [...(options.clients ?? (wrkAvailable() ? ['node', 'wrk'] : ['node']))];
  const problems: string[] = [];
  const rows: Row[] = [];
  const run = randomBytes(3).toString('hex');
  const load = {
    concurrency: options.concurrency,
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    ...(options.requests === undefined ? {} : { requests: options.requests }),
    ...(options.warmupMs === undefined ? {} : { warmupMs: options.warmupMs }),
  };
  const wrkSeconds = wrkSecondsOf(options);
  const wrkWarmupSeconds = Math.max(1, Math.round((options.warmupMs ?? 1_000) / 1000));
  const procs: { sim: SimProcess | null; mb: MountebankProcess | null } = { sim: null, mb: null };
  try {
    log('starting the simulator (mtproof sim serve)…');
    const sim = await startSimulator();
    procs.sim = sim;
    const sessions = await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        const { session } = (await sendJson(sim.url, 'POST', '/v1/sessions', { serverId: MT5 })) as { session: string };
        const connected = (await sendJson(sim.url, 'POST', `/v1/sessions/${session}/connect`, MANAGER)) as {
          ok: boolean;
        };
        if (!connected.ok) throw new Error(`cannot connect a native session: ${JSON.stringify(connected)}`);
        return session;
      }),
    );
    const logins: number[] = [];
    for (let a = 0; a < options.accounts; a++) {
      const created = (await sendJson(sim.url, 'POST', `/v1/sessions/${sessions[0]}/createAccount`, {
        account: { group: MT5_GROUP, name: `Bench ${a}`, password: 'Passw0rd!x' },
      })) as { ok: boolean; value?: { login: number } };
      if (!created.ok || created.value === undefined) {
        throw new Error(`cannot create an account: ${JSON.stringify(created)}`);
      }
      logins.push(created.value.login);
    }
    log('starting Mountebank (--allowInjection)…');
    const receipt = {
      ok: true,
      value: { ticket: 1, login: logins[0], amountCents: 100, kind: 'balance', comment: 'bw' },
    };
    const mb = await startMountebank(receipt, logins);
    procs.mb = mb;
    const paths = sessions.map((s) => `/v1/sessions/${s}/postBalance`);

    // What each side must hold at the end: the simulator's accounts and the equivalent stub's books.
    const expected = new Map<number, number>(logins.map((l) => [l, 0]));
    const expectedMb = new Map<number, number>(logins.map((l) => [l, 0]));
    // Request i of a round: the same path and body whichever target gets it.
    let offset = 0;
    const depositOf = (i: number, worker: number) => {
      const n = offset + i;
      const login = logins[n % logins.length] as number;
      const amountCents = 100 + (n % 900);
      return {
        login,
        amountCents,
        path: paths[worker] as string,
        body: JSON.stringify({ request: { login, amountCents, kind: 'balance', comment: `bw-${run}-${n}` } }),
      };
    };
    const receiptCheck = (books: Map<number, number>, i: number, worker: number): Work => {
      const d = depositOf(i, worker);
      return {
        method: 'POST',
        path: d.path,
        body: d.body,
        check: (answer) => {
          if (answer.status !== 200) return false;
          const body = JSON.parse(answer.body) as { ok?: boolean; value?: { amountCents?: number; login?: number } };
          if (body.ok !== true || body.value?.amountCents !== d.amountCents || body.value.login !== d.login) {
            return false;
          }
          books.set(d.login, (books.get(d.login) ?? 0) + d.amountCents);
          return true;
        },
      };
    };
    const stub = (i: number, worker: number): Work => {
      const d = depositOf(i, worker);
      return {
        method: 'POST',
        path: d.path,
        body: d.body,
        check: (answer) => answer.status === 200 && (JSON.parse(answer.body) as { ok?: boolean }).ok === true,
      };
    };
    const dealOf = (i: number): Work => {
      const n = offset + i;
      const login = logins[n % logins.length] as number;
      const amountCents = 100 + (n % 900);
      return {
        method: 'GET',
        path: `/api/trade/balance?login=${login}&type=2&balance=${(amountCents / 100).toFixed(2)}&comment=bwa-${run}-${n}`,
        check: (answer) => {
          if (answer.status !== 200) return false;
          const body = JSON.parse(answer.body) as { retcode?: string; answer?: { Ticket?: string } };
          if (body.retcode?.startsWith('0 ') !== true || body.answer?.Ticket === undefined) return false;
          expected.set(login, (expected.get(login) ?? 0) + amountCents);
          return true;
        },
      };
    };
    const handshake = async (_worker: number, agent: Agent): Promise<void> => {
      const start = (await sendJson(
        sim.webApiUrl,
        'GET',
        `/api/auth/start?version=484&agent=bench&login=${MANAGER.login}&type=manager`,
        undefined,
        agent,
      )) as { srv_rand?: string };
      if (start.srv_rand === undefined) throw new Error(`Web API auth/start: ${JSON.stringify(start)}`);
      const answered = (await sendJson(
        sim.webApiUrl,
        'GET',
        `/api/auth/answer?srv_rand_answer=${srvRandAnswer(MANAGER.password, start.srv_rand)}&cli_rand=${randomBytes(16).toString('hex')}`,
        undefined,
        agent,
      )) as { retcode?: string };
      if (answered.retcode?.startsWith('0 ') !== true) {
        throw new Error(`Web API auth/answer: ${JSON.stringify(answered)}`);
      }
    };

    const simBalances = async (): Promise<Map<number, number>> => {
      const truth = (await sendJson(sim.url, 'GET', `/control/servers/${MT5}/accounts`)) as {
        accounts: { login: number; balanceCents: number }[];
      };
      return new Map(truth.accounts.map((a) => [a.login, a.balanceCents]));
    };
    const mbBalances = async (): Promise<Map<number, number>> =>
      new Map(Object.entries((await mb.books()).balances).map(([login, cents]) => [Number(login), cents]));
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

    /**
     * wrk against one target: a warm-up run, then the measured run. wrk cannot tell which deposits were
     * acknowledged, so the books are read before and after: the measured run's deposits applied
     * (balance delta / amount) must be at least wrk's completed requests and at most C more (the requests in
     * flight when wrk stopped, applied but not counted); the deltas go into the expected balances.
     */
    const measureWrk = async (
      target: string,
      base: string,
      round: number,
      balances: (() => Promise<Map<number, number>>) | null,
      books: Map<number, number> | null,
    ): Promise<WrkRun & { wrong: number; errors: string[] }> => {
      const script = (phase: string) =>
        wrkScript({
          paths,
          logins,
          amountCents: WRK_AMOUNT_CENTS,
          commentPrefix: `bww-${run}-${round}-${target.replace(/\W/g, '')}-${phase}-`,
          threads: Math.min(2, options.concurrency),
        });
      const b0 = balances === null ? null : await balances();
      await runWrk({ base, script: script('w'), connections: options.concurrency, seconds: wrkWarmupSeconds });
      await settle();
      const b1 = balances === null ? null : await balances();
      const measured = await runWrk({
        base,
        script: script('m'),
        connections: options.concurrency,
        seconds: wrkSeconds,
      });
      await settle();
      const errors: string[] = [];
      if (measured.non2xx > 0) errors.push(`${measured.non2xx} non-2xx answers`);
      if (measured.socketErrors > 0) errors.push(`${measured.socketErrors} socket errors`);
      if (balances !== null && b0 !== null && b1 !== null && books !== null) {
        const b2 = await balances();
        let appliedCents = 0;
        for (const login of logins) {
          appliedCents += (b2.get(login) ?? 0) - (b1.get(login) ?? 0);
          books.set(login, (books.get(login) ?? 0) + (b2.get(login) ?? 0) - (b0.get(login) ?? 0));
        }
        const applied = appliedCents / WRK_AMOUNT_CENTS;
        if (
          !Number.isInteger(applied) ||
          applied < measured.requests ||
          applied > measured.requests + options.concurrency
        ) {
          errors.push(
            `${applied} deposits applied for ${measured.requests} completed requests (allowed: up to ${options.concurrency} more, in flight at the end)`,
          );
        }
      }
      return { ...measured, wrong: measured.non2xx + measured.socketErrors + (errors.length > 0 ? 1 : 0), errors };
    };

    for (let round = 1; round <= rounds; round++) {
      for (const client of clients) {
        const push = (target: string, result: LoadResult & { serverCpu: number | null }) => {
          rows.push({ client, target, round, ...result });
          // Unique comments across targets and rounds.
          offset += 10_000_000;
        };
        if (client === 'node') {
          const measure = async (target: string, pid: number | undefined, options: LoadOptions): Promise<void> => {
            log(`round ${round}/${rounds}, node client: ${target}, ${options.concurrency} connections…`);
            push(target, await withServerCpu(pid, () => runLoad(options)));
          };
          await measure(NATIVE, sim.child.pid, {
            ...load,
            base: sim.url,
            work: (i, w) => receiptCheck(expected, i, w),
          });
          if (options.webApi !== false) {
            await measure(WEBAPI, sim.child.pid, { ...load, base: sim.webApiUrl, work: dealOf, prepare: handshake });
          }
          await measure(MB_EQUIVALENT, mb.child.pid, {
            ...load,
            base: mb.equivalentUrl,
            work: (i, w) => receiptCheck(expectedMb, i, w),
          });
          await measure(MB_STATIC, mb.child.pid, { ...load, base: mb.staticUrl, work: stub });
        } else {
          const measure = async (
            target: string,
            pid: number | undefined,
            base: string,
            balances: (() => Promise<Map<number, number>>) | null,
            books: Map<number, number> | null,
          ): Promise<void> => {
            log(`round ${round}/${rounds}, wrk: ${target}, ${options.concurrency} connections…`);
            const r = await withServerCpu(pid, () => measureWrk(target, base, round, balances, books));
            push(target, {
              requests: r.requests,
              wrong: r.wrong,
              errors: r.errors,
              elapsedMs: r.elapsedMs,
              reqPerSec: r.reqPerSec,
              p50Ms: r.p50Ms,
              p99Ms: r.p99Ms,
              maxMs: r.maxMs,
              clientCpu: r.clientCpu,
              serverCpu: r.serverCpu,
            });
          };
          // The Web API binds its login to the TCP connection (a handshake per connection), which wrk cannot do.
          await measure(NATIVE, sim.child.pid, sim.url, simBalances, expected);
          await measure(MB_EQUIVALENT, mb.child.pid, mb.equivalentUrl, mbBalances, expectedMb);
          await measure(MB_STATIC, mb.child.pid, mb.staticUrl, null, null);
        }
      }
    }

    // Money adds up: through the port (getAccount) and the world's ground truth (control API)…
    const truthOf = await simBalances();
    for (const [login, cents] of expected) {
      const read = (await sendJson(sim.url, 'POST', `/v1/sessions/${sessions[0]}/getAccount`, { login })) as {
        value?: { balanceCents?: number };
      };
      if (read.value?.balanceCents !== cents || truthOf.get(login) !== cents) {
        problems.push(
          `account ${login}: acknowledged deposits ${cents}, getAccount ${read.value?.balanceCents}, ground truth ${truthOf.get(login)}`,
        );
      }
    }
    // …and in the equivalent stub's books.
    const mbOf = await mbBalances();
    for (const [login, cents] of expectedMb) {
      if (mbOf.get(login) !== cents) {
        problems.push(
          `Mountebank equivalent, login ${login}: acknowledged deposits ${cents}, books ${mbOf.get(login)}`,
        );
      }
    }
  } finally {
    await procs.mb?.stop();
    await procs.sim?.stop();
  }

  for (const row of rows) {
    if (row.wrong > 0) {
      problems.push(
        `${row.target} (${row.client}) round ${row.round}: ${row.wrong} wrong answers (${row.errors.join(' | ')})`,
      );
    }
    if (row.requests === 0) problems.push(`${row.target} (${row.client}) round ${row.round}: no request measured`);
  }
  const targets: TargetSummary[] = [];
  const ratios: ClientRatios[] = [];
  for (const client of clients) {
    for (const target of TARGETS) {
      const of = rows
        .filter((r) => r.client === client && r.target === target)
        .sort((x, y) => x.reqPerSec - y.reqPerSec);
      if (of.length === 0) continue;
      targets.push({
        client,
        target,
        median: of[Math.floor((of.length - 1) / 2)] as Row,
        minReqPerSec: (of[0] as Row).reqPerSec,
        maxReqPerSec: (of[of.length - 1] as Row).reqPerSec,
      });
    }
    const rateOf = (target: string) =>
      targets.find((t) => t.client === client && t.target === target)?.median.reqPerSec ?? 0;
    const over = (target: string) => (rateOf(target) > 0 ? rateOf(NATIVE) / rateOf(target) : 0);
    const roundEquivalent: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const of = (target: string) => rows.find((r) => r.client === client && r.target === target && r.round === round);
      const native = of(NATIVE);
      const equivalent = of(MB_EQUIVALENT);
      if (native !== undefined && equivalent !== undefined && equivalent.reqPerSec > 0) {
        roundEquivalent.push(native.reqPerSec / equivalent.reqPerSec);
      }
    }
    ratios.push({ client, equivalent: over(MB_EQUIVALENT), static: over(MB_STATIC), roundEquivalent });
  }
  return { clients, rows, targets, ratios, problems };
}

function perCpu(row: Row): number | null {
  return row.serverCpu === null || row.serverCpu <= 0 ? null : row.reqPerSec / row.serverCpu;
}

const CLIENT_NAMES: Record<Client, string> = {
  node: 'node:http client (this process, closed loop, one Agent of one socket per connection)',
  wrk: 'wrk (C, 2 threads, Lua request() per request, --latency)',
};

export function renderWireReport(report: WireBenchReport, options: WireBenchOptions): string[] {
  const pad = (text: string, n: number) => text.padStart(n);
  const pct = (share: number | null) => (share === null ? 'n/a' : `${Math.round(share * 100)}%`);
  const wrkSeconds = wrkSecondsOf(options);
  const lines = [
    `bench:wire — ${options.concurrency} keep-alive connections, ${options.rounds ?? 3} rounds, targets one after another, each alone with its load generator (median round shown)`,
    `  node client: ${options.durationMs === undefined ? `${options.requests} requests` : `${options.durationMs / 1000} s`} per measurement after a ${(options.warmupMs ?? 1000) / 1000} s warm-up; wrk: ${wrkSeconds} s after a warm-up run`,
    `  targets: ${NATIVE} = POST /v1/sessions/:s/postBalance; ${WEBAPI} = trade/balance after the per-connection handshake;`,
    `  ${MB_EQUIVALENT} = Mountebank 2.9.1 inject stub doing the same balance operation (validates, books, tickets, refuses overdrafts);`,
    `  ${MB_STATIC} = Mountebank 2.9.1 fixed 'is' receipt (static, moves no money)`,
  ];
  for (const client of report.clients) {
    lines.push('', `client: ${CLIENT_NAMES[client]}`);
    lines.push(
      `${'target'.padEnd(24)}${pad('requests', 10)}${pad('req/s', 9)}${pad('(min–max)', 15)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('max ms', 8)}${pad('client CPU', 12)}${pad('target CPU', 12)}${pad('req/CPU-s', 11)}`,
    );
    for (const t of report.targets.filter((x) => x.client === client)) {
      const r = t.median;
      lines.push(
        `${t.target.padEnd(24)}${pad(String(r.requests), 10)}${pad(r.reqPerSec.toFixed(0), 9)}${pad(`(${t.minReqPerSec.toFixed(0)}–${t.maxReqPerSec.toFixed(0)})`, 15)}${pad(r.p50Ms.toFixed(2), 8)}${pad(r.p99Ms.toFixed(2), 8)}${pad(r.maxMs.toFixed(1), 8)}${pad(pct(r.clientCpu), 12)}${pad(pct(r.serverCpu), 12)}${pad(perCpu(r) === null ? 'n/a' : (perCpu(r) as number).toFixed(0), 11)}`,
      );
    }
    if (client === 'wrk' && (options.webApi ?? true)) {
      lines.push(`${WEBAPI.padEnd(24)}  n/a: its login is bound to the TCP connection; wrk cannot do the handshake`);
    }
    const ratio = report.ratios.find((r) => r.client === client);
    if (ratio !== undefined) {
      // Requests per second of the target's own CPU: what the target costs, whatever else loads the machine.
      const medianOf = (target: string) =>
        report.targets.find((t) => t.client === client && t.target === target)?.median;
      const native = medianOf(NATIVE);
      const equivalent = medianOf(MB_EQUIVALENT);
      const nativePerCpu = native === undefined ? null : perCpu(native);
      const equivalentPerCpu = equivalent === undefined ? null : perCpu(equivalent);
      lines.push(
        `simulator native / Mountebank equivalent: ${ratio.equivalent.toFixed(2)}× (per round: ${ratio.roundEquivalent.map((x) => `${x.toFixed(2)}×`).join(', ')}; goal ≥ ${GOAL_RATIO}×: ${ratio.equivalent >= GOAL_RATIO ? 'met' : 'missed'})${nativePerCpu !== null && equivalentPerCpu !== null && equivalentPerCpu > 0 ? `; per CPU-second of the target: ${(nativePerCpu / equivalentPerCpu).toFixed(2)}×` : ''}`,
        `simulator native / Mountebank static:     ${ratio.static.toFixed(2)}× (a fixed receipt, not an equivalent: for reference only)`,
      );
    }
    const busy = report.targets.filter((t) => t.client === client && t.median.clientCpu >= 0.85);
    if (busy.length > 0) {
      lines.push(
        `note: the load generator used ≥ 85% of a core against ${busy.map((t) => t.target).join(', ')}: it may be the bottleneck there (2 CPUs shared by client and target)`,
      );
    }
  }
  lines.push(
    '',
    `the goal (simulator ≥ ${GOAL_RATIO}× Mountebank serving an equivalent balance-operation stub) is judged on the equivalent rows: ${report.ratios.map((r) => `${r.client} ${r.equivalent.toFixed(2)}× ${r.equivalent >= GOAL_RATIO ? 'met' : 'missed'}`).join(', ')}`,
  );
  for (const p of report.problems) lines.push(`PROBLEM ${p}`);
  return lines;
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

function positive(name: string, fallback: number | undefined): number | undefined {
  const text = argument(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`bench:wire: --${name} needs a positive number`);
    process.exit(2);
  }
  return n;
}

function clientsArgument(): Client[] | undefined {
  const text = argument('client');
  if (text === undefined) return undefined;
  const clients = text === 'both' ? ['node', 'wrk'] : text.split(',');
  if (clients.length === 0 || clients.some((c) => c !== 'node' && c !== 'wrk')) {
    console.error('bench:wire: --client needs node, wrk, both or node,wrk');
    process.exit(2);
  }
  if (clients.includes('wrk') && !wrkAvailable()) {
    console.error('bench:wire: --client wrk needs wrk on PATH (Debian: apt-get install wrk)');
    process.exit(2);
  }
  return clients as Client[];
}

async function main(): Promise<number> {
  const requests = positive('requests', undefined);
  const seconds = positive('seconds', requests === undefined ? 5 : undefined);
  const clients = clientsArgument();
  const options: WireBenchOptions = {
    concurrency: Math.floor(positive('concurrency', 16) as number),
    accounts: Math.floor(positive('accounts', 100) as number),
    rounds: Math.floor(positive('rounds', 3) as number),
    webApi: !process.argv.includes('--skip-webapi'),
    log: (line) => console.error(line),
    ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
    ...(requests === undefined ? {} : { requests: Math.floor(requests) }),
    ...(clients === undefined ? {} : { clients }),
  };
  const report = await runWireBench(options);
  for (const line of renderWireReport(report, options)) console.log(line);
  return report.problems.length === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const interrupted = () => {
    killChildren();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`bench:wire: ${error instanceof Error ? error.message : String(error)}`);
      killChildren();
      process.exit(1);
    },
  );
}
