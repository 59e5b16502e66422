import { Command, CommanderError, Option } from 'commander';
import { WORKLOAD_MIXES, type WorkloadMix } from '../adapters/sim/workload.ts';
import { MtproofError } from '../kit/errors.ts';
import { certifyCommand, runCommand, type Terminal } from './certify.ts';
import { blackBoxCommand, realStackCommand } from './certify-wire.ts';
import type { Output } from './io.ts';
import { mutantsCommand } from './mutants.ts';
import { PROBE_ADAPTERS, probeCommand } from './probe.ts';
import { keysCommand, STORE_KINDS, serviceCommand, storeFlags } from './service.ts';
import { checkConfig } from './service-config.ts';
import { addProxyCommand } from './sim-proxy.ts';
import { simServeCommand } from './sim-serve.ts';
import { simTrace } from './sim-trace.ts';

// `--store` of the service and its `keys` (a lasting store), and of the harness commands (a fresh one per run).
const SERVICE_STORE_HELP = `${STORE_KINDS.join(' | ')} (default: postgres when DATABASE_URL is set, else pglite)`;
const HARNESS_STORE_HELP =
  "the store mtproof's integration runs on, fresh for every run: memory (default), pglite (in memory) or postgres (DATABASE_URL)";

/**
 * The `mtproof` command. Bad flags and bad input files end with a coded message on stderr and exit
 * code 2; a bug of mtproof ends with its stack and exit code 3.
 */
export async function main(
  argv: readonly string[],
  io: Output,
  term: Terminal = { progress: false, cwd: process.cwd() },
): Promise<number> {
  let exitCode = 0;
  const program = new Command('mtproof')
    .description('Prove a broker back office ↔ MetaTrader 4/5 integration correct when the world misbehaves.')
    .exitOverride()
    // Commander's own error line is replaced by the coded one below.
    .configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t), outputError: () => {} });

  const sim = program.command('sim').description('the simulated MT4/MT5 cluster').exitOverride();
  sim
    .command('trace')
    .description('drive a random manager workload with faults against the simulator alone and summarise it')
    .requiredOption('--seed <seed>', 'seed of the run (every choice derives from it)')
    .requiredOption('--steps <n>', 'manager operations to perform')
    .option('--servers <file>', 'cluster layout (YAML or JSON); default: MT4 live EU, MT5 live global, MT4 demo')
    .option('--faults <file>', 'fault configuration (YAML or JSON): probabilities, swarm, schedules')
    .option('--no-faults', 'switch random and scheduled faults off')
    .addOption(
      new Option('--mix <mix>', 'which calls the manager makes').choices(Object.keys(WORKLOAD_MIXES)).default('broad'),
    )
    .option('--json', 'print one JSON object instead of the text summary', false)
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      // Commander keeps whichever of --faults FILE / --no-faults came last: refuse the pair instead.
      if (argv.includes('--no-faults') && argv.some((a) => a === '--faults' || a.startsWith('--faults='))) {
        throw new MtproofError('MTP_CLI_BAD_FLAG', '--faults and --no-faults contradict each other: give one', [
          { path: '--no-faults', message: 'given together with --faults' },
        ]);
      }
      exitCode = await simTrace(
        {
          seed: String(options.seed),
          steps: String(options.steps),
          servers: options.servers as string | undefined,
          faults: typeof options.faults === 'string' ? options.faults : undefined,
          faultsOn: options.faults !== false,
          // commander has checked it against the choices.
          mix: options.mix as WorkloadMix,
          json: options.json === true,
        },
        io,
      );
    });

  addProxyCommand(sim);
  sim
    .command('serve')
    .description(
      'serve the simulated cluster over HTTP: the native JSON API (the ManagerApi port), the control API (faults, time, journal, reset) with OpenAPI at /docs, and the MT5 Web API of each MT5 server on its own port',
    )
    .option('--config <file>', 'cluster layout (YAML or JSON): servers, groups, managers; default: the embedded one')
    .option('--faults <file>', 'fault configuration to start with (default: none; switch faults on through /control)')
    .option('--host <host>', 'address to listen on (beyond loopback a token is required)', '127.0.0.1')
    .option('--port <n>', 'port of the native and control APIs (0: any free one)', '7070')
    .option(
      '--mt5-webapi-port <base>',
      "the first MT5 server's Web API port, the next at +1 … (0: any free; off: none)",
      '7080',
    )
    .option('--token-env <var>', 'environment variable holding the bearer token the native and control APIs require')
    .option('--seed <seed>', 'seed of the simulated world (default: a random one, printed)')
    .option('--timeout-ms <ms>', "the simulated manager library's answer timeout (default 10000)")
    .option('--frozen', 'start with virtual time frozen (move it with POST /control/time)', false)
    .option('--tls-cert <file>', 'serve the MT5 Web API over HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', "the certificate's PEM private key")
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      exitCode = await simServeCommand(
        {
          config: options.config as string | undefined,
          faults: options.faults as string | undefined,
          host: String(options.host),
          port: String(options.port),
          mt5WebapiPort: String(options.mt5WebapiPort),
          tokenEnv: options.tokenEnv as string | undefined,
          seed: options.seed as string | undefined,
          timeoutMs: options.timeoutMs as string | undefined,
          frozen: options.frozen === true,
          tlsCert: options.tlsCert as string | undefined,
          tlsKey: options.tlsKey as string | undefined,
        },
        io,
        { cwd: term.cwd, env: process.env },
      );
    });

  // Positional options: `mtproof service --config F` is the service's, `service check-config --config F` the check's.
  program.enablePositionalOptions();
  const service = program
    .command('service')
    .description(
      'run the integration service: its HTTP API (/v1, /docs, /health, /ready, /metrics) and its workers, on PGlite in ./.mtproof/ and the in-process bus unless DATABASE_URL / AMQP_URL say otherwise',
    )
    .enablePositionalOptions()
    .option('--config <file>', 'broker config (YAML or JSON); default: the embedded one (examples/broker.yaml)')
    .option('--servers <file>', 'layout of the simulated cluster the service talks to; default: the embedded one')
    .option('--port <n>', 'TCP port (0: any free one)', '8080')
    .option('--host <host>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--store <kind>', SERVICE_STORE_HELP)
    .option('--data <dir>', 'the PGlite folder', '.mtproof')
    .option('--containers', 'start Postgres and RabbitMQ with testcontainers (needs Docker)', false)
    .option(
      '--sim-url <url>',
      'talk to a served simulator (mtproof sim serve) through its native API instead of the embedded one',
    )
    .option('--sim-token-env <var>', "environment variable holding the served simulator's token")
    .option('--mt5-webapi', "MT5 servers through the MT5 Web API at their config 'address'", false)
    .option('--mt5-webapi-scheme <scheme>', 'http or https (default https; the simulator serves http)')
    .option('--mt4-dll', "MT4 servers through mtmanapi64.dll (MTPROOF_MT4_DLL) at their config 'address'", false)
    .option('--mt5-dll', "MT5 servers through MT5APIManager64.dll (MTPROOF_MT5_DLL) at their config 'address'", false)
    .option(
      '--harness-contract',
      'also serve the black-box harness contract under /harness/v1 (for mtproof certify --integration-url)',
      false,
    )
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      exitCode = await serviceCommand(
        {
          ...storeFlags(options),
          config: options.config as string | undefined,
          servers: options.servers as string | undefined,
          port: String(options.port),
          host: String(options.host),
          containers: options.containers === true,
          simUrl: options.simUrl as string | undefined,
          simTokenEnv: options.simTokenEnv as string | undefined,
          mt5WebApi: options.mt5Webapi === true,
          mt5WebApiScheme: options.mt5WebapiScheme as string | undefined,
          mt4Dll: options.mt4Dll === true,
          mt5Dll: options.mt5Dll === true,
          harnessContract: options.harnessContract === true,
        },
        io,
        process.env,
        { cwd: term.cwd },
      );
    });
  const keys = service
    .command('keys')
    .description('API keys of the HTTP API (stored hashed, in the store the service runs on)')
    .exitOverride();
  const keyCommand = (name: string, description: string, argument?: string) =>
    keys
      .command(argument === undefined ? name : `${name} <${argument}>`)
      .description(description)
      .option('--store <kind>', SERVICE_STORE_HELP)
      .option('--data <dir>', 'the PGlite folder', '.mtproof')
      .option('--json', 'print one JSON object', false)
      .exitOverride();
  keyCommand('create', 'create a key and print it (once: only its hash is stored)')
    .option('--name <name>', 'what the key is for', 'default')
    .action(async (options: Record<string, unknown>) => {
      const args = { ...storeFlags(options), name: String(options.name), json: options.json === true };
      exitCode = await keysCommand('create', args, io, process.env, term.cwd);
    });
  keyCommand('list', 'list the keys (id, first characters, name, created, revoked)').action(
    async (options: Record<string, unknown>) => {
      const args = { ...storeFlags(options), json: options.json === true };
      exitCode = await keysCommand('list', args, io, process.env, term.cwd);
    },
  );
  for (const action of ['revoke', 'rotate'] as const) {
    keyCommand(
      action,
      action === 'revoke'
        ? 'revoke a key: refused from then on'
        : 'create a new key with the same name and revoke the old one (printed once)',
      'id',
    ).action(async (id: string, options: Record<string, unknown>) => {
      const args = { ...storeFlags(options), id, json: options.json === true };
      exitCode = await keysCommand(action, args, io, process.env, term.cwd);
    });
  }
  service
    .command('check-config')
    .description('validate a broker config, check it against the cluster, and print where clients are routed')
    .option('--config <file>', 'broker config (YAML or JSON); default: the embedded one (examples/broker.yaml)')
    .option('--servers <file>', 'cluster layout to check against; default: the embedded simulated cluster')
    .option('--json', 'print one JSON object', false)
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      exitCode = await checkConfig(
        {
          config: options.config as string | undefined,
          servers: options.servers as string | undefined,
          json: options.json === true,
        },
        io,
        process.env,
      );
    });

  program
    .command('probe')
    .description(
      'the go-live probe: read-only checks of one server through an adapter (connect, rights, time, groups, one account, history), and optionally a deposit-and-withdraw round trip on a demo account',
    )
    .requiredOption('--adapter <adapter>', `the adapter: ${PROBE_ADAPTERS.join(' | ')}`)
    .requiredOption('--server <host:port>', 'the server (MT5 Web API: its Access server; http: the served simulator)')
    .requiredOption('--login <login>', 'the manager login')
    .requiredOption('--password-env <var>', "environment variable holding the manager's password")
    .option('--round-trip <login>', 'a demo account: deposit one unit, withdraw it, check the balance is back')
    .option('--account <login>', 'the account to read (default: the first the manager sees)')
    .option('--server-id <id>', 'the server id (http: a server of the served simulator)')
    .option('--scheme <scheme>', 'http or https (default https for mt5-webapi; the simulator serves http)')
    .option('--timeout-ms <ms>', 'wait for each answer', '10000')
    .option(
      '--dll <path>',
      'mt4-dll / mt5-dll: path of mtmanapi64.dll / MT5APIManager64.dll (default: MTPROOF_MT4_DLL / MTPROOF_MT5_DLL)',
    )
    .option('--code-page <name>', "mt4-dll: the server's ANSI code page (default windows-1252)")
    .option('--json', 'print one JSON object', false)
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      exitCode = await probeCommand(
        {
          adapter: String(options.adapter),
          server: String(options.server),
          login: String(options.login),
          passwordEnv: String(options.passwordEnv),
          roundTrip: options.roundTrip as string | undefined,
          account: options.account as string | undefined,
          serverId: options.serverId as string | undefined,
          scheme: options.scheme as string | undefined,
          timeoutMs: String(options.timeoutMs),
          json: options.json === true,
          dll: options.dll as string | undefined,
          codePage: options.codePage as string | undefined,
        },
        io,
        process.env,
      );
    });

  program
    .command('certify')
    .description(
      'certify an integration: the incident library and generated broker days with faults, invariants checked, a failure shrunk and saved; reports written',
    )
    .option('--config <file>', 'broker config (YAML or JSON); default: the embedded one (examples/broker.yaml)')
    .option('--runs <n>', 'generated broker days to run', '8')
    .option('--steps <n>', 'steps per generated day', '300')
    .option('--seed <seed>', 'seed of the certification (default: a random one, printed)')
    .option('--out <dir>', 'report folder (default: reports/out/<timestamp>/)')
    .option(
      '--integration <module>',
      'the integration to certify: a module exporting an IntegrationFactory, or mtproof (ours)',
    )
    .option('--shard <i/n>', 'run only the i-th of n shards of the generated runs (incidents on shard 0)')
    .option('--no-incidents', 'skip the incident library')
    .option('--shrink-runs <n>', 'at most this many runs to shrink a failure', '150')
    .option('--store <kind>', HARNESS_STORE_HELP)
    .option('--json', 'print one JSON object', false)
    .addOption(
      new Option(
        '--stack <stack>',
        'in-process (default: virtual time) or real: separate processes, sockets, kill -9',
      ).choices(['in-process', 'real']),
    )
    .option('--clients <n>', '(--stack real) clients, each with an account', '6')
    .option('--ops <n>', '(--stack real) deposits and withdrawals in the day', '40')
    .option('--concurrency <n>', '(--stack real) operations in flight at once', '4')
    .option('--kills <n>', '(--stack real) SIGKILLs of the service during the day', '2')
    .option('--toxics <n>', '(--stack real, --integration-url) toxic episodes on the fault proxies', '3')
    .option('--fault-intensity <x>', "(--stack real) the simulator's random fault intensity during the day", '0.5')
    .option('--containers', '(--stack real) Postgres and RabbitMQ from testcontainers (needs Docker)', false)
    .option(
      '--settle-ms <ms>',
      '(--stack real, --integration-url) how long every transfer has to settle after healing',
      '90000',
    )
    .option(
      '--integration-url <url>',
      'certify an external integration over the documented HTTP contract (scenarios/README.md)',
    )
    .option(
      '--integration-token-env <var>',
      "(--integration-url) environment variable holding the integration's bearer token",
    )
    .option('--sim-port <n>', "(--integration-url) port of the simulator's native and control APIs", '7070')
    .option('--mt5-webapi-port <base>', '(--integration-url) port of the first MT5 Web API (the next at +1 …)', '7080')
    .option('--health-wait-ms <ms>', '(--integration-url) how long to wait for the integration to be healthy', '60000')
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      const wire = {
        seed: options.seed as string | undefined,
        out: options.out as string | undefined,
        json: options.json === true,
        clients: String(options.clients),
        ops: String(options.ops),
        concurrency: String(options.concurrency),
        kills: String(options.kills),
        toxics: String(options.toxics),
        faultIntensity: String(options.faultIntensity),
        settleMs: String(options.settleMs),
        containers: options.containers === true,
      };
      if (options.integrationUrl !== undefined) {
        if (options.stack === 'real') {
          throw new MtproofError(
            'MTP_CLI_BAD_FLAG',
            '--integration-url certifies an integration the harness does not run: it cannot go with --stack real',
            [{ path: '--stack', message: 'contradicts --integration-url' }],
          );
        }
        exitCode = await blackBoxCommand(
          {
            ...wire,
            integrationUrl: String(options.integrationUrl),
            integrationTokenEnv: options.integrationTokenEnv as string | undefined,
            simPort: String(options.simPort),
            mt5WebapiPort: String(options.mt5WebapiPort),
            healthWaitMs: String(options.healthWaitMs),
          },
          io,
          process.env,
          term.cwd,
        );
        return;
      }
      if (options.stack === 'real') {
        exitCode = await realStackCommand(wire, io, process.env, term.cwd);
        return;
      }
      exitCode = await certifyCommand(
        {
          config: options.config as string | undefined,
          runs: String(options.runs),
          steps: String(options.steps),
          seed: options.seed as string | undefined,
          out: options.out as string | undefined,
          integration: options.integration as string | undefined,
          shard: options.shard as string | undefined,
          incidents: options.incidents !== false,
          shrinkRuns: String(options.shrinkRuns),
          store: options.store as string | undefined,
          json: options.json === true,
        },
        io,
        term,
      );
    });

  for (const mode of ['run', 'replay'] as const) {
    const command = program
      .command(`${mode} <script>`)
      .description(
        mode === 'run'
          ? 'run one scenario script (hand-written, an incident, or saved) and check the invariants'
          : 'replay a saved counterexample exactly (its seed, config and integration) and compare its trace hash',
      )
      .option('--json', 'print one JSON object', false)
      .option('--out <dir>', 'also write result.json, junit.xml and report.html there')
      .option('--store <kind>', HARNESS_STORE_HELP)
      .exitOverride();
    if (mode === 'run') {
      command
        .option('--config <file>', 'broker config, when the script carries none; default: the embedded one')
        .option('--integration <module>', "the integration (default: the script's, else mtproof)");
    }
    command.action(async (script: string, options: Record<string, unknown>) => {
      exitCode = await runCommand(
        script,
        {
          config: options.config as string | undefined,
          integration: options.integration as string | undefined,
          json: options.json === true,
          out: options.out as string | undefined,
          store: options.store as string | undefined,
        },
        io,
        term,
        mode,
      );
    });
  }

  program
    .command('mutants')
    .description('certify each planted bug (scenarios/mutants/) until an invariant catches it; exit 1 if any survives')
    .option('--runs <n>', 'generated runs per mutant after the incidents', '20')
    .option('--steps <n>', 'steps per generated run', '300')
    .option('--seed <seed>', 'seed of the generated runs', '1')
    .option('--only <names>', 'comma-separated mutant names')
    .option('--no-incidents', 'generated runs only')
    .option('--shrink-runs <n>', 'at most this many runs to shrink each catch', '150')
    .option('--out <dir>', 'where the counterexamples go (default: reports/out/mutants-<timestamp>/)')
    .option('--json', 'print { mutants: [...] }', false)
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      exitCode = await mutantsCommand(
        {
          runs: String(options.runs),
          steps: String(options.steps),
          seed: String(options.seed),
          only: options.only as string | undefined,
          incidents: options.incidents !== false,
          shrinkRuns: String(options.shrinkRuns),
          out: options.out as string | undefined,
          json: options.json === true,
        },
        io,
        term,
      );
    });

  try {
    await program.parseAsync(['node', 'mtproof', ...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; commander has already printed the message otherwise.
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return 0;
      }
      if (error.code === 'commander.executeSubCommandAsync') return 1;
      io.err(`error MTP_CLI_BAD_FLAG: ${error.message.replace(/^error: /, '')} (see mtproof --help)\n`);
      return 2;
    }
    if (error instanceof MtproofError) {
      io.err(`error ${error.code}: ${error.message}\n`);
      return 2;
    }
    // A bug of mtproof itself: say so, with the stack, and exit 3 (an invariant failure is 1, bad input 2).
    io.err(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 3;
  }
}
