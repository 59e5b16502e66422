import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { HttpManagerApi } from '../adapters/http/index.ts';
import { Mt4DllManagerApi } from '../adapters/mt4-dll/index.ts';
import { Mt5DllManagerApi } from '../adapters/mt5-dll/index.ts';
import { createMt5WebApiManagerApi } from '../adapters/mt5-webapi/index.ts';
import type { ManagerApi } from '../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../adapters/sim/index.ts';
import { assertWait, SystemClock } from '../kit/clock.ts';
import { type Issue, MtproofError } from '../kit/errors.ts';
import { Random } from '../kit/random.ts';
import { Scheduler } from '../kit/scheduler.ts';
import { checkBrokerAgainstCluster } from '../scenarios/config-check.ts';
import { buildApi, LOG_REDACT_PATHS } from '../service/api/app.ts';
import { type ApiKeyInfo, ApiKeys } from '../service/api/auth.ts';
import { InProcessBus } from '../service/bus/memory.ts';
import type { EventBus } from '../service/bus/port.ts';
import { RabbitMqBus } from '../service/bus/rabbitmq.ts';
import type { ServerConfig } from '../service/config.ts';
import { type BrokerConfig, buildService, type LogEntry, MemoryStore, type Store } from '../service/index.ts';
import { TRADE_QUEUE } from '../service/outbox.ts';
import { PgliteStore } from '../service/store/pglite.ts';
import { PostgresStore, redact } from '../service/store/postgres.ts';
import { RealtimeDriver } from '../simulator/http/realtime.ts';
import { type ClusterConfig, DEFAULT_CLUSTER, parseClusterConfig, SimCluster } from '../simulator/index.ts';
import { readBroker, readConfigFile } from './config-files.ts';
import { type Output, processSignal } from './io.ts';

/**
 * `mtproof service`: the integration service as a process — its HTTP API on a port, its loops running, on
 * the store and bus the environment names (PGlite in ./.mtproof/ and the in-process bus by default), talking
 * to the embedded simulated cluster in real time. `mtproof service keys ...` manages API keys in the same store.
 */

export type StoreKind = 'memory' | 'pglite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['memory', 'pglite', 'postgres'];

export interface StoreFlags {
  /** Absent: postgres when DATABASE_URL is set, else pglite. */
  store?: StoreKind;
  /** The PGlite folder (default `.mtproof`, from the working folder). */
  data?: string;
}

export interface ServiceFlags extends StoreFlags {
  config?: string;
  servers?: string;
  port?: string;
  host?: string;
  containers: boolean;
  /** A served simulator's URL (`mtproof sim serve`): every server through its native API. */
  simUrl?: string;
  /** Environment variable holding the served simulator's token. */
  simTokenEnv?: string;
  /** MT5 servers through the MT5 Web API at their `address`. */
  mt5WebApi?: boolean;
  /** Scheme of the Web API addresses (default https, as real servers serve it). */
  mt5WebApiScheme?: string;
  /** MT4 servers through mtmanapi64.dll (MTPROOF_MT4_DLL) at their `address`. */
  mt4Dll?: boolean;
  /** MT5 servers through MT5APIManager64.dll (MTPROOF_MT5_DLL) at their `address`. */
  mt5Dll?: boolean;
  /** Also serve the black-box harness contract under /harness/v1 (`mtproof certify --integration-url`). */
  harnessContract?: boolean;
}

/** Where the service finds its MetaTrader servers when they are not the embedded cluster. */
interface RemoteServers {
  simUrl: string | null;
  simToken: string | undefined;
  mt5WebApi: boolean;
  scheme: 'http' | 'https';
  mt4Dll: string | null;
  mt5Dll: string | null;
}

function remoteFlags(
  flags: ServiceFlags,
  config: Readonly<BrokerConfig>,
  env: NodeJS.ProcessEnv,
): RemoteServers | null {
  if (flags.simUrl === undefined && flags.mt5WebApi !== true && flags.mt4Dll !== true && flags.mt5Dll !== true) {
    if (flags.simTokenEnv !== undefined || flags.mt5WebApiScheme !== undefined) {
      throw new MtproofError(
        'MTP_CLI_BAD_FLAG',
        '--sim-token-env and --mt5-webapi-scheme go with --sim-url or --mt5-webapi',
        [
          {
            path: flags.simTokenEnv !== undefined ? '--sim-token-env' : '--mt5-webapi-scheme',
            message: 'nothing to apply it to',
          },
        ],
      );
    }
    return null;
  }
  let simUrl: string | null = null;
  if (flags.simUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(flags.simUrl);
    } catch {
      url = new URL('invalid:');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MtproofError('MTP_CLI_BAD_FLAG', `--sim-url must be an http(s) URL, not ${flags.simUrl}`, [
        { path: '--sim-url', message: 'not an http(s) URL' },
      ]);
    }
    simUrl = url.toString().replace(/\/+$/, '');
  }
  const scheme = flags.mt5WebApiScheme ?? 'https';
  if (scheme !== 'http' && scheme !== 'https') {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--mt5-webapi-scheme must be http or https, not ${scheme}`, [
      { path: '--mt5-webapi-scheme', message: 'not http or https' },
    ]);
  }
  if (flags.mt5WebApi === true && flags.mt5Dll === true) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', 'MT5 servers go through the Web API or the DLL, not both', [
      { path: '--mt5-dll', message: 'contradicts --mt5-webapi' },
    ]);
  }
  const library = (wanted: boolean | undefined, variable: string, flag: string): string | null => {
    if (wanted !== true) return null;
    const path = env[variable];
    if (path === undefined || path === '' || !existsSync(path)) {
      throw new MtproofError('MTP_CLI_BAD_FLAG', `${flag} needs ${variable}: the path of the vendor's DLL`, [
        { path: variable, message: path === undefined || path === '' ? 'unset' : `no file ${path}` },
      ]);
    }
    return path;
  };
  const mt4Dll = library(flags.mt4Dll, 'MTPROOF_MT4_DLL', '--mt4-dll');
  const mt5Dll = library(flags.mt5Dll, 'MTPROOF_MT5_DLL', '--mt5-dll');
  const issues: Issue[] = [];
  config.servers.forEach((server, i) => {
    const direct =
      (flags.mt5WebApi === true && server.platform === 'mt5') ||
      (mt5Dll !== null && server.platform === 'mt5') ||
      (mt4Dll !== null && server.platform === 'mt4');
    if (direct && server.address === undefined) {
      issues.push({ path: `servers[${i}].address`, message: `${server.id} is reached at its HOST:PORT: give it` });
    }
    if (!direct && simUrl === null) {
      issues.push({
        path: `servers[${i}]`,
        message: `${server.id} (${server.platform}) has no adapter: give --sim-url, --${server.platform}-dll${server.platform === 'mt5' ? ' or --mt5-webapi' : ''}`,
      });
    }
  });
  if (issues.length > 0) {
    throw new MtproofError(
      'MTP_CONFIG_INVALID',
      'the broker config names servers the chosen adapters cannot reach',
      issues,
    );
  }
  const simToken = flags.simTokenEnv === undefined ? undefined : env[flags.simTokenEnv];
  if (flags.simTokenEnv !== undefined && (simToken === undefined || simToken === '')) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--sim-token-env ${flags.simTokenEnv}: that variable is unset`, [
      { path: '--sim-token-env', message: 'unset' },
    ]);
  }
  return { simUrl, simToken, mt5WebApi: flags.mt5WebApi === true, scheme, mt4Dll, mt5Dll };
}

/** The adapter for one server: its DLL or the MT5 Web API at its address, else the served simulator's native API. */
function remoteManagerApi(server: ServerConfig, remote: RemoteServers): ManagerApi {
  const address = server.address as string;
  if (remote.mt4Dll !== null && server.platform === 'mt4') {
    return new Mt4DllManagerApi({ serverId: server.id, address, libraryPath: remote.mt4Dll });
  }
  if (remote.mt5Dll !== null && server.platform === 'mt5') {
    return new Mt5DllManagerApi({ serverId: server.id, address, dllPath: remote.mt5Dll });
  }
  if (remote.mt5WebApi && server.platform === 'mt5') {
    return createMt5WebApiManagerApi({
      serverId: server.id,
      url: `${remote.scheme}://${server.address as string}`,
      timeoutMs: server.timeoutMs,
    });
  }
  return new HttpManagerApi({
    url: remote.simUrl as string,
    serverId: server.id,
    platform: server.platform,
    timeoutMs: server.timeoutMs,
    ...(remote.simToken === undefined ? {} : { token: remote.simToken }),
  });
}

function describeRemote(config: Readonly<BrokerConfig>, remote: RemoteServers): string {
  return config.servers
    .map((s) =>
      (s.platform === 'mt4' ? remote.mt4Dll : remote.mt5Dll) !== null
        ? `${s.id} (${s.platform} DLL at ${s.address})`
        : remote.mt5WebApi && s.platform === 'mt5'
          ? `${s.id} (MT5 Web API at ${remote.scheme}://${s.address})`
          : `${s.id} (${s.platform}, native API of ${remote.simUrl})`,
    )
    .join(', ');
}

export interface ServiceTerminal {
  cwd: string;
  /** Resolves when the service must stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<string>;
}

/**
 * The system clock, whose waits do not keep the process alive: the service's loops sleep up to minutes
 * (trade sync, pings), and once everything is closed on SIGTERM the process must exit without waiting for them.
 * While it runs, the listening socket keeps it alive.
 */
export class ServiceClock extends SystemClock {
  override sleep(ms: number): Promise<void> {
    assertWait(ms);
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }
}

/** The simulator's manager password (`DEFAULT_CLUSTER`): used for simulated servers whose env variable is unset. */
const SIMULATOR_PASSWORD_NOTE = "the simulator's manager password";

interface OpenedStore {
  store: Store;
  label: string;
}

/** Opens the store the flags and the environment select. */
export async function openStore(flags: StoreFlags, env: NodeJS.ProcessEnv, cwd: string): Promise<OpenedStore> {
  const url = env.DATABASE_URL;
  const kind = flags.store ?? (url !== undefined && url !== '' ? 'postgres' : 'pglite');
  switch (kind) {
    case 'memory':
      return { store: new MemoryStore(), label: 'memory (nothing survives a restart)' };
    case 'pglite': {
      const dir = resolve(cwd, flags.data ?? '.mtproof');
      refuseIfOpenElsewhere(dir);
      const opened = await PgliteStore.open(dir);
      const release = holdPglite(dir);
      const store: Store = {
        transaction: (fn) => opened.transaction(fn),
        close: async () => {
          await opened.close();
          release();
        },
      };
      return {
        store,
        label: `PGlite in ${dir}${url === undefined || url === '' ? ' (DATABASE_URL unset)' : ' (--store pglite)'}`,
      };
    }
    case 'postgres': {
      if (url === undefined || url === '') {
        throw new MtproofError(
          'MTP_STORE_UNAVAILABLE',
          '--store postgres needs DATABASE_URL (postgres://user:password@host:5432/db), or use --containers where Docker runs',
        );
      }
      return { store: await PostgresStore.connect(url), label: `Postgres at ${redact(url)}` };
    }
  }
}

/** Names the process holding a PGlite folder (a file in it, removed when the store is closed). */
const PGLITE_HOLDER = 'mtproof.pid';

/**
 * PGlite is one process's database: a second process opening the same folder (a `keys` command while the
 * service runs) would corrupt it. Refused while the process named in the folder is alive.
 */
function refuseIfOpenElsewhere(dir: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, PGLITE_HOLDER), 'utf8'));
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return;
  throw new MtproofError(
    'MTP_STORE_UNAVAILABLE',
    `the PGlite store in ${dir} is open in process ${pid} (a running mtproof service?): PGlite is one process's database. Stop that process first, or run the service on Postgres (DATABASE_URL) to manage keys while it runs`,
  );
}

function holdPglite(dir: string): () => void {
  const path = join(dir, PGLITE_HOLDER);
  writeFileSync(path, String(process.pid));
  return () => {
    try {
      if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return 8080;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--port must be a whole number from 0 to 65535, not ${value}`, [
      { path: '--port', message: 'not a port' },
    ]);
  }
  return port;
}

function parseStoreKind(value: unknown): StoreKind | undefined {
  if (value === undefined) return undefined;
  if (STORE_KINDS.includes(value as StoreKind)) return value as StoreKind;
  throw new MtproofError('MTP_CLI_BAD_FLAG', `--store must be one of ${STORE_KINDS.join(', ')}, not ${String(value)}`, [
    { path: '--store', message: 'unknown store' },
  ]);
}

export function storeFlags(options: Record<string, unknown>): StoreFlags {
  return { store: parseStoreKind(options.store), data: options.data as string | undefined };
}

/** Starts Postgres and RabbitMQ in containers; where no container runtime answers, a coded error saying what to do. */
/** Postgres and RabbitMQ in containers (testcontainers), for `service --containers` and `certify --stack real --containers`. */
export async function startContainers(
  io: Output,
): Promise<{ databaseUrl: string; amqpUrl: string; stop: () => Promise<void> }> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch (error) {
    throw new MtproofError(
      'MTP_DOCKER_UNAVAILABLE',
      `--containers needs Docker (or another container runtime testcontainers can reach), and none answers here (${(error as Error).message}). Run instead with your own servers (DATABASE_URL=postgres://... AMQP_URL=amqp://...), or with neither set for the embedded PGlite store and the in-process bus`,
    );
  }
  io.out('starting Postgres and RabbitMQ containers (testcontainers)...\n');
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
  const [pg, mq] = await Promise.all([
    new PostgreSqlContainer('postgres:16-alpine').start(),
    new RabbitMQContainer('rabbitmq:3.13-alpine').start(),
  ]);
  return {
    databaseUrl: pg.getConnectionUri(),
    amqpUrl: mq.getAmqpUrl(),
    stop: async () => {
      await Promise.allSettled([pg.stop(), mq.stop()]);
    },
  };
}

/** Registers MTPROOF_API_KEY when set, and refuses to start without any usable key. */
async function ensureKeys(keys: ApiKeys, env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env.MTPROOF_API_KEY;
  let note = '';
  if (fromEnv !== undefined && fromEnv !== '') {
    const { info, created } = await keys.ensure(fromEnv, 'MTPROOF_API_KEY');
    if (info.revokedMs !== null) note = ` (MTPROOF_API_KEY is ${info.id}, revoked: it stays refused)`;
    else note = created ? ` (MTPROOF_API_KEY registered as ${info.id})` : ` (MTPROOF_API_KEY is ${info.id})`;
  }
  const active = await keys.activeCount();
  if (active === 0) {
    throw new MtproofError(
      'MTP_NO_API_KEY',
      'the service has no API key, so nobody could call it. Either set MTPROOF_API_KEY to a long random string (at least 24 characters) before starting, or create one in the same store with `mtproof service keys create --name NAME` (it is printed once)',
    );
  }
  return `${active} active${note}`;
}

/** MTPROOF_LOG_LEVEL, checked: pino throws on a level it does not know, which would be a crash, not a message. */
function logLevel(value: string | undefined): string {
  if (value === undefined || value === '') return 'info';
  const levels = [...Object.keys(pino.levels.values), 'silent'];
  if (levels.includes(value)) return value;
  throw new MtproofError('MTP_CLI_BAD_FLAG', `MTPROOF_LOG_LEVEL must be one of ${levels.join(', ')}, not ${value}`, [
    { path: 'MTPROOF_LOG_LEVEL', message: 'unknown level' },
  ]);
}

/** The service's log port on pino. */
function serviceLogger(logger: pino.Logger): (entry: LogEntry) => void {
  return (entry) => {
    const { level, msg, ...fields } = entry;
    logger[level](fields, msg);
  };
}

/** `mtproof service`: runs until SIGINT or SIGTERM, then stops everything in order and exits 0. */
export async function serviceCommand(
  flags: ServiceFlags,
  io: Output,
  env: NodeJS.ProcessEnv,
  term: ServiceTerminal,
): Promise<number> {
  const port = parsePort(flags.port);
  const level = logLevel(env.MTPROOF_LOG_LEVEL);
  if (flags.containers && flags.store !== undefined && flags.store !== 'postgres') {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      `--containers starts Postgres: it cannot go with --store ${flags.store}`,
      [{ path: '--store', message: 'contradicts --containers' }],
    );
  }
  const host = flags.host ?? '127.0.0.1';
  const { config, configPath } = await readBroker(flags.config, term.cwd);
  const clusterConfig = parseClusterConfig(
    flags.servers === undefined
      ? DEFAULT_CLUSTER
      : (await readConfigFile(resolve(term.cwd, flags.servers), 'servers file')).value,
    flags.servers ?? 'embedded cluster',
  );
  const remote = remoteFlags(flags, config, env);
  const issues = remote === null ? checkBrokerAgainstCluster(config, clusterConfig) : [];
  if (issues.length > 0) {
    throw new MtproofError(
      'MTP_CONFIG_INVALID',
      `${configPath ?? 'the broker config'} does not match the simulated cluster the service talks to`,
      issues,
    );
  }

  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    let runEnv = env;
    let containerNote = '';
    if (flags.containers) {
      const started = await startContainers(io);
      cleanup.push(started.stop);
      runEnv = { ...env, DATABASE_URL: started.databaseUrl, AMQP_URL: started.amqpUrl };
      containerNote = ' (container)';
    }
    const logger = pino({ level, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
    const log = serviceLogger(logger);
    const clock = new ServiceClock();
    const { store, label: storeLabel } = await openStore(
      { ...flags, store: flags.containers ? 'postgres' : flags.store },
      runEnv,
      term.cwd,
    );
    cleanup.push(() => store.close());
    const keysNote = await ensureKeys(new ApiKeys({ store, clock }), runEnv);

    const amqpUrl = runEnv.AMQP_URL;
    let bus: EventBus;
    let busLabel: string;
    let busConnected: () => boolean;
    if (amqpUrl !== undefined && amqpUrl !== '') {
      const rabbit = new RabbitMqBus({
        url: amqpUrl,
        clock,
        random: new Random(randomBytes(8).toString('hex')),
        connectionName: 'mtproof service',
        log,
      });
      const connected = await rabbit.connect();
      bus = rabbit;
      busConnected = () => rabbit.connected;
      busLabel = `RabbitMQ at ${redactAmqp(amqpUrl)}${containerNote}${connected.ok ? '' : ` — not connected yet (${connected.error.message}); retrying in the background`}`;
    } else {
      const inProcess = new InProcessBus({ clock });
      // Nothing else lives in this process to read the trade queue: without a reader it would grow for as
      // long as the service runs. Events are logged (debug) and acknowledged; the trades table keeps them all.
      const reader = await inProcess.consume(TRADE_QUEUE, async (message) => {
        logger.debug({ id: message.id, topic: message.topic }, 'trade event');
      });
      if (!reader.ok) throw new Error(`in-process bus: ${reader.error.message}`);
      bus = inProcess;
      busConnected = () => true;
      busLabel = 'in-process (AMQP_URL unset; trade events are logged at debug level)';
    }
    cleanup.push(() => bus.close());

    // The MetaTrader side: the embedded simulated cluster at real-time pace, or servers over the network.
    const seed = randomBytes(8).toString('hex');
    let failure: unknown = null;
    let fail: (reason: string) => void = () => {};
    const failed = new Promise<string>((resolve) => {
      fail = resolve;
    });
    const simulatedPasswords: string[] = [];
    let managers: (server: ServerConfig) => ManagerApi;
    let serversLabel: string;
    if (remote === null) {
      const scheduler = new Scheduler({ startMs: clock.nowMs() });
      const cluster = new SimCluster({
        seed,
        config: clusterConfig,
        scheduler,
        faults: { intensity: 0, swarm: false },
      });
      const driver = new RealtimeDriver(scheduler, {
        onError: (error) => {
          failure = error;
          fail('simulator failure');
        },
      });
      driver.start();
      cleanup.push(() => driver.stop());
      managers = (server) => createSimManagerApi(cluster, server.id, { clock, timeoutMs: server.timeoutMs });
      serversLabel = describeServers(config, clusterConfig);
    } else {
      managers = (server) => remoteManagerApi(server, remote);
      serversLabel = describeRemote(config, remote);
    }

    const secrets = (name: string): string | undefined => {
      const value = runEnv[name];
      if (value !== undefined && value !== '') return value;
      // Only the embedded cluster's passwords are known here; remote servers' come from the environment.
      if (remote !== null) return undefined;
      const server = config.servers.find((s) => s.passwordEnv === name);
      if (server === undefined) return undefined;
      const manager = clusterConfig.servers
        .find((s) => s.id === server.id)
        ?.managers.find((m) => m.login === server.login);
      if (manager === undefined) return undefined;
      if (!simulatedPasswords.includes(name)) simulatedPasswords.push(name);
      return manager.password;
    };

    const service = buildService({
      config,
      clock,
      random: new Random(seed).fork('service'),
      ports: {
        store,
        managers,
        secrets,
        log,
        bus,
      },
    });
    const running = service.run().then(
      () => {},
      (error: unknown) => {
        failure = error;
        fail('service failure');
      },
    );
    cleanup.push(async () => {
      await service.stop();
      await running;
    });

    const app = buildApi({
      service,
      store,
      clock,
      secrets,
      logger,
      authCacheMs: 2_000,
      harnessContract: flags.harnessContract === true,
      readiness: async () => [
        { name: 'bus', ok: busConnected(), required: false, detail: busConnected() ? 'connected' : 'reconnecting' },
      ],
      extraMetrics: async () =>
        '# HELP mtproof_bus_connected 1 while the event bus is connected.\n# TYPE mtproof_bus_connected gauge\n' +
        `mtproof_bus_connected ${busConnected() ? 1 : 0}\n`,
    });
    cleanup.push(() => app.close());
    try {
      await app.listen({ port, host });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL' && code !== 'ENOTFOUND') throw error;
      throw new MtproofError('MTP_CLI_BAD_FLAG', `cannot listen on ${host}:${port}: ${(error as Error).message}`, [
        { path: code === 'EADDRINUSE' || code === 'EACCES' ? '--port' : '--host', message: code },
      ]);
    }
    const address = app.server.address();
    const boundPort = typeof address === 'object' && address !== null ? address.port : port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

    // One write: whoever waits for the URL line gets the whole banner with it.
    const banner = [
      `mtproof service listening on ${url}`,
      `  store:   ${storeLabel}`,
      `  bus:     ${busLabel}`,
      `  servers: ${serversLabel}`,
      ...(simulatedPasswords.length > 0
        ? [
            `  manager passwords: ${SIMULATOR_PASSWORD_NOTE} (simulated servers; ${simulatedPasswords.join(', ')} unset)`,
          ]
        : []),
      `  API keys: ${keysNote}`,
      `  docs:    ${url}/docs (OpenAPI: ${url}/docs/json)`,
      ...(flags.harnessContract === true
        ? [`  harness contract: ${url}/harness/v1 (for mtproof certify --integration-url)`]
        : []),
    ];
    io.out(`${banner.join('\n')}\n`);

    const reason = await Promise.race([term.stopSignal ?? processSignal(), failed]);
    io.out(`stopping (${reason})...\n`);
    await closeAll();
    if (failure !== null) {
      io.err(`internal error: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
      return 3;
    }
    io.out('stopped\n');
    return 0;
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function describeServers(config: Readonly<BrokerConfig>, cluster: Readonly<ClusterConfig>): string {
  const ids = config.servers.map((s) => `${s.id} (${s.platform} ${s.kind})`).join(', ');
  return `${ids} — simulated in process (${cluster.servers.length} servers), in real time`;
}

function redactAmqp(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

// ---- keys ----

async function withKeys<T>(flags: StoreFlags, env: NodeJS.ProcessEnv, cwd: string, fn: (keys: ApiKeys) => Promise<T>) {
  if (flags.store === 'memory') {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      '--store memory keeps nothing once the command ends: manage keys in the store the service runs on (pglite or postgres)',
      [{ path: '--store', message: 'memory' }],
    );
  }
  const { store, label } = await openStore(flags, env, cwd);
  try {
    return { value: await fn(new ApiKeys({ store, clock: new SystemClock() })), label };
  } finally {
    await store.close();
  }
}

function line(info: ApiKeyInfo): string {
  const revoked = info.revokedMs === null ? 'active' : `revoked ${new Date(info.revokedMs).toISOString()}`;
  return `${info.id}  ${info.prefix}…  ${info.name}  created ${new Date(info.createdMs).toISOString()}  ${revoked}`;
}

export async function keysCommand(
  action: 'create' | 'list' | 'revoke' | 'rotate',
  args: { id?: string; name?: string; json: boolean } & StoreFlags,
  io: Output,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  const { value, label } = await withKeys(args, env, cwd, async (keys) => {
    switch (action) {
      case 'create':
        return { created: await keys.create(args.name ?? 'default') };
      case 'list':
        return { list: await keys.list() };
      case 'revoke':
        return { revoked: await keys.revoke(args.id as string) };
      case 'rotate':
        return { rotated: await keys.rotate(args.id as string) };
    }
  });
  if (args.json) {
    io.out(`${JSON.stringify(value)}\n`);
    return 0;
  }
  if ('created' in value && value.created !== undefined) {
    io.out(`API key ${value.created.info.id} (${value.created.info.name}) created in ${label}.\n`);
    io.out('It is shown this once (only its hash is stored): keep it now.\n');
    io.out(`${value.created.key}\n`);
  } else if ('list' in value && value.list !== undefined) {
    if (value.list.length === 0) io.out(`no API keys in ${label}\n`);
    for (const info of value.list) io.out(`${line(info)}\n`);
  } else if ('revoked' in value && value.revoked !== undefined) {
    io.out(`revoked: ${line(value.revoked)}\n`);
  } else if ('rotated' in value && value.rotated !== undefined) {
    io.out(`API key ${value.rotated.info.id} replaces ${value.rotated.revoked.id} (revoked now).\n`);
    io.out('It is shown this once (only its hash is stored): keep it now.\n');
    io.out(`${value.rotated.key}\n`);
  }
  return 0;
}
