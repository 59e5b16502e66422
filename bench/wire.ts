import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { srvRandAnswer } from '../simulator/http/webapi/auth.ts';

/**
 * `npm run bench:wire [-- --seconds S --requests N --concurrency C --accounts K --rounds R --skip-webapi]`: the served
 * simulator's requests per second and latency over loopback, beside Mountebank serving an equivalent
 * balance-operation stub, measured in the same run by the same load generator (goal: the simulator ≥ 5× the
 * Mountebank rate).
 *
 * The simulator runs as `mtproof sim serve --port 0 --mt5-webapi-port 0` (a process of its own, quiet: no
 * random faults). Set-up, not timed: one native session per connection, connected as manager 1000, and K
 * accounts on mt5-live-global. Timed: C keep-alive connections (one `http.Agent` of one socket each) POST
 * `/v1/sessions/:session/postBalance` deposits with unique comments for S seconds (or N requests), after a
 * one-second warm-up; every answer must be `{ ok: true }`, and afterwards every account's balance must be
 * the sum of its acknowledged deposits, read back through `getAccount` and the control API's ground truth.
 * A second row does the same through the MT5 Web API (`trade/balance`, type 2, after the real handshake on
 * each connection). Then Mountebank (`mb start`, a process of its own) gets an imposter whose one stub
 * answers POST /v1/sessions/{any}/postBalance with a static receipt: the cheapest stub Mountebank has (a
 * fixed `is` response, `recordRequests: false`, no predicates but method and path, and `connection:
 * keep-alive`, without which Mountebank closes every connection); the same load, paths and bodies go to it.
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
  /** Where the imposter answers. */
  url: string;
}

/** Mountebank on a free port, with the balance-operation imposter on another. */
export async function startMountebank(receipt: unknown): Promise<MountebankProcess> {
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
    const imposterPort = await freePort();
    const imposter = {
      protocol: 'http',
      port: imposterPort,
      host: '127.0.0.1',
      recordRequests: false,
      defaultResponse: { statusCode: 404, headers: { connection: 'keep-alive' } },
      stubs: [
        {
          predicates: [{ matches: { method: 'POST', path: '^/v1/sessions/[^/]+/postBalance$' } }],
          responses: [
            {
              is: {
                statusCode: 200,
                headers: { 'content-type': 'application/json; charset=utf-8', connection: 'keep-alive' },
                body: JSON.stringify(receipt),
              },
            },
          ],
        },
      ],
    };
    const created = await send(admin, { method: 'POST', path: '/imposters', body: JSON.stringify(imposter) });
    if (created.status !== 201) throw new Error(`mountebank refused the imposter (${created.status}): ${created.body}`);
    return { child, stop, url: `http://127.0.0.1:${imposterPort}` };
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
    if (options.body !== undefined) req.write(options.body);
    req.end();
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

// ---- CPU of a child (Linux /proc; null elsewhere) ----

const TICKS_PER_SEC = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function cpuSecOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  } catch {
    return null;
  }
}

async function withServerCpu(
  pid: number | undefined,
  run: () => Promise<LoadResult>,
): Promise<LoadResult & { serverCpu: number | null }> {
  const before = cpuSecOf(pid);
  const t0 = performance.now();
  const result = await run();
  const after = cpuSecOf(pid);
  const wallSec = (performance.now() - t0) / 1000;
  // Over the whole run, warm-up included: the share of one core the target used.
  return { ...result, serverCpu: before === null || after === null ? null : (after - before) / wallSec };
}

// ---- the benchmark ----

export interface WireBenchOptions {
  durationMs?: number;
  requests?: number;
  concurrency: number;
  accounts: number;
  warmupMs?: number;
  /** Measurements of each target, interleaved (default 3): the machine's other load drifts between them. */
  rounds?: number;
  webApi?: boolean;
  log?: (line: string) => void;
}

export interface Row extends LoadResult {
  target: string;
  round: number;
  serverCpu: number | null;
}

export interface TargetSummary {
  target: string;
  /** The round with the median req/s (its latencies and CPU shares are the ones shown). */
  median: Row;
  minReqPerSec: number;
  maxReqPerSec: number;
}

export interface WireBenchReport {
  rows: Row[];
  targets: TargetSummary[];
  /** Simulator native median req/s over Mountebank's. */
  ratio: number;
  /** The same ratio within each round. */
  roundRatios: number[];
  problems: string[];
}

const NATIVE = 'simulator native';
const WEBAPI = 'simulator MT5 Web API';
const MOUNTEBANK = 'Mountebank 2.9.1 stub';

export async function runWireBench(options: WireBenchOptions): Promise<WireBenchReport> {
  const log = options.log ?? (() => {});
  const rounds = options.rounds ?? 3;
  const problems: string[] = [];
  const rows: Row[] = [];
  const run = randomBytes(3).toString('hex');
  const load = {
    concurrency: options.concurrency,
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    ...(options.requests === undefined ? {} : { requests: options.requests }),
    ...(options.warmupMs === undefined ? {} : { warmupMs: options.warmupMs }),
  };
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
    log('starting Mountebank…');
    const receipt = {
      ok: true,
      value: { ticket: 1, login: logins[0], amountCents: 100, kind: 'balance', comment: 'bw' },
    };
    const mb = await startMountebank(receipt);
    procs.mb = mb;

    const expected = new Map<number, number>(logins.map((l) => [l, 0]));
    // Request i of a round: the same path and body whichever target gets it.
    let offset = 0;
    const depositOf = (i: number, worker: number) => {
      const n = offset + i;
      const login = logins[n % logins.length] as number;
      const amountCents = 100 + (n % 900);
      return {
        login,
        amountCents,
        path: `/v1/sessions/${sessions[worker]}/postBalance`,
        body: JSON.stringify({ request: { login, amountCents, kind: 'balance', comment: `bw-${run}-${n}` } }),
      };
    };
    const deposit = (i: number, worker: number): Work => {
      const d = depositOf(i, worker);
      return {
        method: 'POST',
        path: d.path,
        body: d.body,
        check: (answer) => {
          if (answer.status !== 200) return false;
          const body = JSON.parse(answer.body) as { ok?: boolean; value?: { amountCents?: number } };
          if (body.ok !== true || body.value?.amountCents !== d.amountCents) return false;
          expected.set(d.login, (expected.get(d.login) ?? 0) + d.amountCents);
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

    for (let round = 1; round <= rounds; round++) {
      const measure = async (target: string, pid: number | undefined, options: LoadOptions): Promise<void> => {
        log(`round ${round}/${rounds}: ${target}, ${options.concurrency} connections…`);
        const row = { target, round, ...(await withServerCpu(pid, () => runLoad(options))) };
        rows.push(row);
        // Unique comments across targets and rounds.
        offset += 10_000_000;
      };
      await measure(NATIVE, sim.child.pid, { ...load, base: sim.url, work: deposit });
      if (options.webApi !== false) {
        await measure(WEBAPI, sim.child.pid, { ...load, base: sim.webApiUrl, work: dealOf, prepare: handshake });
      }
      await measure(MOUNTEBANK, mb.child.pid, { ...load, base: mb.url, work: stub });
    }

    // Money adds up: through the port (getAccount) and the world's ground truth (control API).
    const truth = (await sendJson(sim.url, 'GET', `/control/servers/${MT5}/accounts`)) as {
      accounts: { login: number; balanceCents: number }[];
    };
    const truthOf = new Map(truth.accounts.map((a) => [a.login, a.balanceCents]));
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
  } finally {
    await procs.mb?.stop();
    await procs.sim?.stop();
  }

  for (const row of rows) {
    if (row.wrong > 0)
      problems.push(`${row.target} round ${row.round}: ${row.wrong} wrong answers (${row.errors.join(' | ')})`);
    if (row.requests === 0) problems.push(`${row.target} round ${row.round}: no request measured`);
  }
  const targets: TargetSummary[] = [];
  for (const target of [NATIVE, WEBAPI, MOUNTEBANK]) {
    const of = rows.filter((r) => r.target === target).sort((x, y) => x.reqPerSec - y.reqPerSec);
    if (of.length === 0) continue;
    targets.push({
      target,
      median: of[Math.floor((of.length - 1) / 2)] as Row,
      minReqPerSec: (of[0] as Row).reqPerSec,
      maxReqPerSec: (of[of.length - 1] as Row).reqPerSec,
    });
  }
  const rateOf = (target: string) => targets.find((t) => t.target === target)?.median.reqPerSec ?? 0;
  const ratio = rateOf(MOUNTEBANK) > 0 ? rateOf(NATIVE) / rateOf(MOUNTEBANK) : 0;
  const roundRatios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const native = rows.find((r) => r.target === NATIVE && r.round === round);
    const mountebank = rows.find((r) => r.target === MOUNTEBANK && r.round === round);
    if (native !== undefined && mountebank !== undefined && mountebank.reqPerSec > 0) {
      roundRatios.push(native.reqPerSec / mountebank.reqPerSec);
    }
  }
  return { rows, targets, ratio, roundRatios, problems };
}

function perCpu(row: Row): number | null {
  return row.serverCpu === null || row.serverCpu <= 0 ? null : row.reqPerSec / row.serverCpu;
}

export function renderWireReport(report: WireBenchReport, options: WireBenchOptions): string[] {
  const pad = (text: string, n: number) => text.padStart(n);
  const pct = (share: number | null) => (share === null ? 'n/a' : `${Math.round(share * 100)}%`);
  const lines = [
    `bench:wire — ${options.concurrency} keep-alive connections, ${options.durationMs === undefined ? `${options.requests} requests` : `${options.durationMs / 1000} s`} per measurement after a ${(options.warmupMs ?? 1000) / 1000} s warm-up, ${options.rounds ?? 3} rounds, targets one after another (median round shown)`,
    `${'target'.padEnd(24)}${pad('requests', 10)}${pad('req/s', 9)}${pad('(min–max)', 15)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('max ms', 8)}${pad('client CPU', 12)}${pad('target CPU', 12)}${pad('req/CPU-s', 11)}`,
  ];
  for (const t of report.targets) {
    const r = t.median;
    lines.push(
      `${t.target.padEnd(24)}${pad(String(r.requests), 10)}${pad(r.reqPerSec.toFixed(0), 9)}${pad(`(${t.minReqPerSec.toFixed(0)}–${t.maxReqPerSec.toFixed(0)})`, 15)}${pad(r.p50Ms.toFixed(2), 8)}${pad(r.p99Ms.toFixed(2), 8)}${pad(r.maxMs.toFixed(1), 8)}${pad(pct(r.clientCpu), 12)}${pad(pct(r.serverCpu), 12)}${pad(perCpu(r) === null ? 'n/a' : (perCpu(r) as number).toFixed(0), 11)}`,
    );
  }
  // Requests per second of the target's own CPU: what the target costs, whatever else loads the machine.
  const native = report.targets.find((t) => t.target === NATIVE)?.median;
  const mountebank = report.targets.find((t) => t.target === MOUNTEBANK)?.median;
  const nativePerCpu = native === undefined ? null : perCpu(native);
  const mountebankPerCpu = mountebank === undefined ? null : perCpu(mountebank);
  if (nativePerCpu !== null && mountebankPerCpu !== null && mountebankPerCpu > 0) {
    lines.push(
      `per CPU-second of the target: simulator native / Mountebank ${(nativePerCpu / mountebankPerCpu).toFixed(2)}×`,
    );
  }
  lines.push(
    `simulator native / Mountebank: ${report.ratio.toFixed(2)}× (per round: ${report.roundRatios.map((x) => `${x.toFixed(2)}×`).join(', ')}; goal ≥ ${GOAL_RATIO}×: ${report.ratio >= GOAL_RATIO ? 'met' : 'missed'})`,
  );
  const busy = report.targets.filter((t) => t.median.clientCpu >= 0.85);
  if (busy.length > 0) {
    lines.push(
      `note: the load generator used ≥ 85% of a core against ${busy.map((t) => t.target).join(', ')}: it may be the bottleneck there (2 CPUs shared by client and target)`,
    );
  }
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

async function main(): Promise<number> {
  const requests = positive('requests', undefined);
  const seconds = positive('seconds', requests === undefined ? 5 : undefined);
  const options: WireBenchOptions = {
    concurrency: Math.floor(positive('concurrency', 16) as number),
    accounts: Math.floor(positive('accounts', 100) as number),
    rounds: Math.floor(positive('rounds', 3) as number),
    webApi: !process.argv.includes('--skip-webapi'),
    log: (line) => console.error(line),
    ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
    ...(requests === undefined ? {} : { requests: Math.floor(requests) }),
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
