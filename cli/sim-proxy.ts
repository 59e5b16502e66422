import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MtproofError, schemaIssues } from '../kit/errors.ts';
import { buildProxyControlApp } from '../simulator/proxy/control.ts';
import { ProxyRegistry } from '../simulator/proxy/proxy.ts';
import {
  type Address,
  formatAddress,
  isLoopback,
  NAME_PATTERN,
  parseAddress,
  type ToxicInput,
  toxicList,
} from '../simulator/proxy/schema.ts';
import { readConfigFile } from './config-files.ts';
import { type Output, processSignal } from './io.ts';

/**
 * `mtproof sim proxy`: one TCP fault proxy (simulator/proxy/) in front of an upstream, with its control API,
 * until SIGINT or SIGTERM. Bad flags end with a coded error (exit 2, through `main`'s handler).
 */

export interface ProxyFlags {
  listen?: string;
  upstream?: string;
  name?: string;
  controlPort?: string;
  controlHost?: string;
  tokenEnv?: string;
  seed?: string;
  toxics?: string;
}

export interface ProxyTerminal {
  cwd: string;
  /** Resolves when the proxy must stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<string>;
}

/** Toxiproxy's control port, so that its habits carry over. */
export const DEFAULT_CONTROL_PORT = 8474;

/**
 * Adds `proxy` to the `sim` command. It writes where `sim` writes (commander's output configuration, which
 * `main` points at its Output); `term` is for tests.
 */
export function addProxyCommand(sim: Command, term?: Partial<ProxyTerminal>): Command {
  return sim
    .command('proxy')
    .description(
      'a TCP fault proxy (Toxiproxy-like: latency, bandwidth, blackhole, reset, slowClose, limitData, timeout) in front of an upstream, with a control API',
    )
    .requiredOption('--listen <host:port>', 'where the proxy listens (port 0: any free one)')
    .requiredOption('--upstream <host:port>', 'where it forwards every connection')
    .option('--name <name>', 'the proxy name in the control API', 'main')
    .option('--control-port <n>', 'port of the control API (0: any free one)', String(DEFAULT_CONTROL_PORT))
    .option('--control-host <host>', 'address of the control API (beyond loopback only with --token-env)', '127.0.0.1')
    .option('--token-env <var>', 'environment variable holding the control API token (Authorization: Bearer)')
    .option('--seed <seed>', 'seed of the toxicity draws (default: a random one, printed)')
    .option('--toxics <file>', 'toxics to start with: a YAML or JSON list, each as POST /proxies/:name/toxics takes')
    .exitOverride()
    .action(async (options: Record<string, unknown>) => {
      const output = sim.configureOutput();
      const io: Output = {
        out: (text) => (output.writeOut ?? ((t: string) => process.stdout.write(t)))(text),
        err: (text) => (output.writeErr ?? ((t: string) => process.stderr.write(t)))(text),
      };
      await proxyCommand(
        {
          listen: options.listen as string | undefined,
          upstream: options.upstream as string | undefined,
          name: options.name as string | undefined,
          controlPort: options.controlPort as string | undefined,
          controlHost: options.controlHost as string | undefined,
          tokenEnv: options.tokenEnv as string | undefined,
          seed: options.seed as string | undefined,
          toxics: options.toxics as string | undefined,
        },
        io,
        process.env,
        { cwd: term?.cwd ?? process.cwd(), stopSignal: term?.stopSignal },
      );
    });
}

/** Runs the proxy and its control API until the stop signal; 0 once everything is closed. */
export async function proxyCommand(
  flags: ProxyFlags,
  io: Output,
  env: NodeJS.ProcessEnv,
  term: ProxyTerminal,
): Promise<number> {
  const listen = address(flags.listen, '--listen', 0);
  const upstream = address(flags.upstream, '--upstream', 1);
  const name = flags.name ?? 'main';
  if (!NAME_PATTERN.test(name)) {
    throw badFlag(
      '--name',
      `--name must be 1 to 64 letters, digits, _ . - (the first a letter or a digit), not ${name}`,
    );
  }
  const controlPort = port(flags.controlPort ?? String(DEFAULT_CONTROL_PORT), '--control-port');
  const controlHost = flags.controlHost ?? '127.0.0.1';
  if (typeof parseAddress(`${controlHost.includes(':') ? `[${controlHost}]` : controlHost}:1`, 1) === 'string') {
    throw badFlag('--control-host', `--control-host must be an IP address or a host name, not ${controlHost}`);
  }
  const token = readToken(flags.tokenEnv, env);
  if (token === undefined && !isLoopback(controlHost)) {
    throw new MtproofError(
      'MTP_SIM_TOKEN_REQUIRED',
      `the control API would listen on ${controlHost} without a token: anyone who reaches it could reset connections through the proxy. Give --token-env VAR (a variable holding the token), or keep --control-host on loopback (127.0.0.1)`,
      [{ path: '--control-host', message: 'not loopback, and no --token-env' }],
    );
  }
  const seed = flags.seed ?? randomBytes(8).toString('hex');
  if (seed === '' || seed.includes('/') || seed.length > 128) {
    throw badFlag('--seed', '--seed must be 1 to 128 characters without /');
  }
  const toxics = flags.toxics === undefined ? [] : await readToxics(flags.toxics, term.cwd);

  const registry = new ProxyRegistry({ seed });
  const app = buildProxyControlApp(registry, token === undefined ? {} : { token });
  try {
    const proxy = await registry.create({ name, listen, upstream, enabled: true, toxics });
    try {
      await app.listen({ host: controlHost, port: controlPort });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new MtproofError(
        'MTP_CLI_BAD_FLAG',
        `the control API cannot listen on ${formatAddress({ host: controlHost, port: controlPort })}: ${(error as Error).message}`,
        [{ path: code === 'EADDRINUSE' || code === 'EACCES' ? '--control-port' : '--control-host', message: code }],
      );
    }
    const bound = app.server.address();
    const controlAddress = formatAddress({
      host: controlHost,
      port: typeof bound === 'object' && bound !== null ? bound.port : controlPort,
    });
    const proxyAddress = formatAddress(proxy.address ?? listen);
    // One write: whoever waits for the first line gets the addresses and the seed with it.
    io.out(
      [
        `proxy ${name} listening on ${proxyAddress} -> ${formatAddress(upstream)} (${toxics.length} toxic${toxics.length === 1 ? '' : 's'})`,
        `control API on http://${controlAddress} (OpenAPI: /docs/json; ${token === undefined ? 'no token: loopback only' : `token from ${flags.tokenEnv}`})`,
        `seed ${seed} (replay the same toxicity draws: --seed ${seed})`,
        '',
      ].join('\n'),
    );
    const reason = await (term.stopSignal ?? processSignal());
    io.out(`stopping (${reason})...\n`);
  } finally {
    await app.close();
    await registry.close();
  }
  io.out('stopped\n');
  return 0;
}

function badFlag(flag: string, message: string): MtproofError {
  return new MtproofError('MTP_CLI_BAD_FLAG', message, [{ path: flag, message: 'bad value' }]);
}

function address(value: string | undefined, flag: string, minPort: number): Address {
  if (value === undefined) throw badFlag(flag, `${flag} HOST:PORT is required`);
  const parsed = parseAddress(value, minPort);
  if (typeof parsed === 'string') throw badFlag(flag, `${flag} ${value}: ${parsed}`);
  return parsed;
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65_535)
    throw badFlag(flag, `${flag} must be a whole number from 0 to 65535, not ${value}`);
  return n;
}

function readToken(variable: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (variable === undefined) return undefined;
  const token = env[variable];
  if (token === undefined || token === '') {
    throw new MtproofError('MTP_SECRET_MISSING', `--token-env names ${variable}, which is not set (or empty)`, [
      { path: '--token-env', message: `${variable} unset` },
    ]);
  }
  if (!/^[\x21-\x7e]+$/.test(token) || token.length < 16) {
    throw badFlag('--token-env', `${variable} must hold at least 16 printable ASCII characters without spaces`);
  }
  return token;
}

async function readToxics(path: string, cwd: string): Promise<ToxicInput[]> {
  const { value } = await readConfigFile(resolve(cwd, path), 'toxics file');
  const parsed = toxicList.safeParse(value);
  if (!parsed.success) {
    const issues = schemaIssues(parsed.error).map((i) => ({
      ...i,
      path: i.path === '(root)' ? 'toxics' : `toxics${i.path.startsWith('[') ? '' : '.'}${i.path}`,
    }));
    throw new MtproofError('MTP_CONFIG_INVALID', `toxics file ${path} is not a valid list of toxics`, issues);
  }
  const names = new Set<string>();
  for (const [index, toxic] of parsed.data.entries()) {
    const name = toxic.name ?? `${toxic.type}_${toxic.direction}`;
    if (names.has(name)) {
      throw new MtproofError('MTP_CONFIG_INVALID', `toxics file ${path} names two toxics ${name}`, [
        { path: `toxics[${index}].name`, message: 'taken by an earlier toxic' },
      ]);
    }
    names.add(name);
  }
  return parsed.data;
}
