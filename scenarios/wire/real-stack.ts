import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Clock } from '../../kit/clock.ts';
import { Random } from '../../kit/random.ts';
import type { BrokerConfigInput } from '../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import { FaultProxy } from '../../simulator/proxy/proxy.ts';
import { SimControl } from './control.ts';
import { MtproofServiceIntegration } from './mtproof-client.ts';
import { type Disturbance, runWireCertification, shortDay, type WireRunResult } from './run.ts';
import { MtproofProcess } from './stack.ts';
import { toxicEpisodes } from './toxics.ts';

/**
 * `mtproof certify --stack real`: the simulator (`mtproof sim serve`) and the service (`mtproof service`) as
 * separate processes on real sockets, the service on Postgres and RabbitMQ from the environment (PGlite on disk
 * and the in-process bus without them), MT4 servers reached through the simulator's native API and MT5 servers
 * through the MT5 Web API, both through seeded TCP fault proxies. During the day the simulator's faults are on,
 * toxics come and go on the proxies, and the service is killed with SIGKILL at seeded points and started again;
 * afterwards the same invariants as everywhere must hold (scenarios/wire/run.ts).
 */

export interface RealStackOptions {
  seed: string;
  clock: Clock;
  /** Where the processes run (the repository root, for bin/mtproof.js to find its packages). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  clients: number;
  operations: number;
  concurrency: number;
  /** SIGKILLs of the service during the day. */
  kills: number;
  /** Toxic episodes on the proxies during the day. */
  toxics: number;
  faultIntensity: number;
  settleTimeoutMs: number;
  log?: (line: string) => void;
}

export interface RealStackResult extends WireRunResult {
  stack: { store: string; bus: string; serviceStarts: number };
  /** The processes' last lines, when the run failed. */
  logs: Record<string, string[]>;
}

const API_KEY = 'mtproof-real-stack-key-0123456789';
const MANAGER_PASSWORD = 'Manager#1';

/** A short day's service settings: the same code, shorter waits, so that a killed service's work resumes in seconds. */
export function shortDayBrokerConfig(webApiAddress: string): BrokerConfigInput {
  const base = structuredClone(DEFAULT_BROKER_CONFIG) as BrokerConfigInput & Record<string, unknown>;
  return {
    ...base,
    servers: base.servers.map((s) => ({
      ...s,
      timeoutMs: 3_000,
      ...(s.platform === 'mt5' ? { address: webApiAddress } : {}),
    })),
    retry: { initialDelayMs: 200, factor: 2, maxDelayMs: 2_000, jitter: 0.5, deadlineMs: 3_600_000 },
    posting: { historyLagToleranceMs: 8_000, leaseMs: 12_000, concurrency: 4 },
    connections: { pingIntervalMs: 5_000, pumpQuietMs: 60_000, breaker: { failures: 5, openMs: 2_000 } },
    reconciliation: { settleMs: 1_000, kinds: ['live'] },
  } as BrokerConfigInput;
}

export async function certifyRealStack(options: RealStackOptions): Promise<RealStackResult> {
  const { clock, seed } = options;
  const log = options.log ?? (() => {});
  const random = new Random(seed).fork('real-stack');
  const cleanup: (() => Promise<void>)[] = [];
  const processes: MtproofProcess[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'mtproof-real-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  try {
    // ---- the simulator ----
    const sim = new MtproofProcess(
      'simulator',
      ['sim', 'serve', '--port', '0', '--mt5-webapi-port', '0', '--seed', seed, '--timeout-ms', '2000'],
      { ...options.env },
      clock,
      options.cwd,
    );
    processes.push(sim);
    cleanup.push(() => sim.stop());
    const simUrl = (await sim.waitFor(/listening on (http:\/\/\S+)/, 60_000))[1] as string;
    const webApiUrl = (await sim.waitFor(/MT5 Web API of \S+: (http:\/\/[^/\s]+)/, 10_000))[1] as string;
    const control = new SimControl(simUrl);
    log(`simulator ${simUrl}, MT5 Web API ${webApiUrl}`);

    // ---- the fault proxies in front of it ----
    const proxies: FaultProxy[] = [];
    for (const [name, target] of [
      ['native', simUrl],
      ['webapi', webApiUrl],
    ] as const) {
      const upstream = new URL(target);
      const proxy = new FaultProxy({
        name,
        seed,
        listen: { host: '127.0.0.1', port: 0 },
        upstream: { host: upstream.hostname, port: Number(upstream.port) },
      });
      await proxy.start();
      proxies.push(proxy);
      cleanup.push(() => proxy.close());
    }
    const [nativeProxy, webApiProxy] = proxies as [FaultProxy, FaultProxy];
    const proxied = (p: FaultProxy) => p.view().address as string;

    // ---- the service's store and bus ----
    const env: NodeJS.ProcessEnv = {
      ...options.env,
      MTPROOF_API_KEY: API_KEY,
      MTPROOF_MT4_LIVE_EU_PASSWORD: MANAGER_PASSWORD,
      MTPROOF_MT5_LIVE_GLOBAL_PASSWORD: MANAGER_PASSWORD,
      MTPROOF_MT4_DEMO_PASSWORD: MANAGER_PASSWORD,
    };
    let storeArgs: string[];
    let storeLabel: string;
    const adminUrl = options.env.DATABASE_URL;
    if (adminUrl !== undefined && adminUrl !== '') {
      const database = `mtproof_real_${seed
        .replace(/[^a-z0-9]/gi, '')
        .toLowerCase()
        .slice(0, 24)}_${process.pid}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.end();
      cleanup.push(async () => {
        const again = new pg.Client({ connectionString: adminUrl });
        await again.connect();
        await again.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => again.end());
      });
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      env.DATABASE_URL = url.toString();
      storeArgs = ['--store', 'postgres'];
      storeLabel = `Postgres (database ${database})`;
    } else {
      delete env.DATABASE_URL;
      storeArgs = ['--store', 'pglite', '--data', join(dir, 'pglite')];
      storeLabel = 'PGlite on disk (DATABASE_URL unset)';
    }
    const busLabel = env.AMQP_URL !== undefined && env.AMQP_URL !== '' ? 'RabbitMQ (AMQP_URL)' : 'in-process';
    const configPath = join(dir, 'broker.json');
    await writeFile(configPath, JSON.stringify(shortDayBrokerConfig(proxied(webApiProxy))));

    // ---- the service, killable ----
    const port = await freePort();
    const serviceArgs = [
      'service',
      '--config',
      configPath,
      '--port',
      String(port),
      ...storeArgs,
      '--sim-url',
      `http://${proxied(nativeProxy)}`,
      '--mt5-webapi',
      '--mt5-webapi-scheme',
      'http',
    ];
    let service: MtproofProcess | null = null;
    let starts = 0;
    const startService = async (): Promise<void> => {
      starts++;
      const started = new MtproofProcess(`service#${starts}`, serviceArgs, env, clock, options.cwd);
      processes.push(started);
      service = started;
      await started.waitFor(/mtproof service listening on/, 90_000);
    };
    // Every service process ever started, not only the last: none may outlive the run.
    cleanup.push(async () => {
      await Promise.all(processes.filter((p) => p !== sim).map((p) => p.stop()));
    });
    await startService();
    const integration = new MtproofServiceIntegration({
      url: `http://127.0.0.1:${port}`,
      apiKey: API_KEY,
      productId: 'pro',
      currency: 'USD',
      timeoutMs: 20_000,
    });

    // ---- the day's disturbances, from the seed ----
    const plan = random.fork('disturbances');
    const disturbances: Disturbance[] = [];
    for (let i = 0; i < options.kills; i++) {
      disturbances.push({
        atOp: plan.int(1, Math.max(1, options.operations - 1)),
        kind: 'kill -9 service',
        run: async () => {
          await (service as MtproofProcess | null)?.kill();
          await clock.sleep(plan.int(0, 1_500));
          await startService();
        },
      });
    }
    disturbances.push(...toxicEpisodes(plan, proxies, options.operations, options.toxics));

    const result = await runWireCertification({
      seed,
      integration,
      control,
      clock,
      clients: options.clients,
      operations: options.operations,
      concurrency: options.concurrency,
      ...shortDay(options.operations, options.faultIntensity),
      disturbances,
      heal: async () => {
        for (const proxy of proxies) proxy.removeAllToxics();
        const current = service as MtproofProcess | null;
        if (current === null || !current.running) await startService();
      },
      settleTimeoutMs: options.settleTimeoutMs,
      unreachableForMs: 120_000,
      log,
    });
    const logs: Record<string, string[]> = {};
    if (!result.passed) for (const p of processes) logs[p.name] = p.output.slice(-60);
    return { ...result, stack: { store: storeLabel, bus: busLabel, serviceStarts: starts }, logs };
  } finally {
    for (const step of cleanup.splice(0).reverse()) {
      const t0 = clock.nowMs();
      await step().catch(() => {});
      if (process.env.MTPROOF_DEBUG_TEARDOWN) log(`teardown step ${clock.nowMs() - t0} ms`);
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
