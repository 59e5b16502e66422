import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MtproofError } from '../kit/errors.ts';
import { SEED_PATTERN, SimHost } from '../simulator/http/host.ts';
import { serveSimulator } from '../simulator/http/serve.ts';
import {
  type ClusterConfig,
  DEFAULT_CLUSTER,
  type FaultConfigInput,
  parseClusterConfig,
  parseFaultConfig,
} from '../simulator/index.ts';
import { count } from './certify.ts';
import { readConfigFile } from './config-files.ts';
import { type Output, processSignal } from './io.ts';

/**
 * `mtproof sim serve`: the simulated cluster on the network — native and control APIs (with OpenAPI at /docs)
 * on --port, the MT5 Web API of each MT5 server on a port of its own from --mt5-webapi-port — at real-time
 * pace until SIGINT/SIGTERM.
 */

export interface SimServeFlags {
  config?: string;
  faults?: string;
  host: string;
  port: string;
  mt5WebapiPort: string;
  tokenEnv?: string;
  seed?: string;
  timeoutMs?: string;
  frozen: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export interface SimServeTerminal {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Resolves when the simulator must stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<string>;
}

export async function simServeCommand(flags: SimServeFlags, io: Output, term: SimServeTerminal): Promise<number> {
  const port = portFlag(flags.port, '--port');
  const webApiBasePort = flags.mt5WebapiPort === 'off' ? null : portFlag(flags.mt5WebapiPort, '--mt5-webapi-port');
  const timeoutMs = flags.timeoutMs === undefined ? undefined : count(flags.timeoutMs, '--timeout-ms', 1, 600_000);
  let token: string | undefined;
  if (flags.tokenEnv !== undefined) {
    token = term.env[flags.tokenEnv];
    if (token === undefined || token.length < 8) {
      throw new MtproofError(
        'MTP_CLI_BAD_FLAG',
        `--token-env ${flags.tokenEnv}: that variable must hold a token of 8 characters or more`,
        [{ path: '--token-env', message: token === undefined ? 'unset' : 'shorter than 8 characters' }],
      );
    }
  }
  const config: ClusterConfig =
    flags.config === undefined
      ? parseClusterConfig(DEFAULT_CLUSTER)
      : parseClusterConfig((await readConfigFile(flags.config, 'cluster config')).value, flags.config);
  let faults: FaultConfigInput | undefined;
  if (flags.faults !== undefined) {
    faults = (await readConfigFile(flags.faults, 'fault config')).value as FaultConfigInput;
    parseFaultConfig(faults, flags.faults);
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    const missing = flags.tlsCert === undefined ? '--tls-cert' : '--tls-key';
    throw new MtproofError('MTP_CLI_BAD_FLAG', '--tls-cert and --tls-key go together', [
      { path: missing, message: 'required with the other' },
    ]);
  }
  const tls =
    flags.tlsCert === undefined || flags.tlsKey === undefined
      ? undefined
      : {
          cert: await readPem(flags.tlsCert, '--tls-cert', term.cwd),
          key: await readPem(flags.tlsKey, '--tls-key', term.cwd),
        };
  const seed = flags.seed ?? randomBytes(6).toString('hex');
  if (!SEED_PATTERN.test(seed)) {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      `--seed must be 1 to 128 characters without /, not ${JSON.stringify(seed)}`,
      [{ path: '--seed', message: 'not a seed' }],
    );
  }
  const host = new SimHost({ seed, config, ...(faults === undefined ? {} : { faults }), frozen: flags.frozen });
  const served = await serveSimulator(host, {
    bind: flags.host,
    port,
    webApiBasePort,
    ...(token === undefined ? {} : { token }),
    app: { sessions: timeoutMs === undefined ? {} : { timeoutMs } },
    webApi: {
      ...(timeoutMs === undefined ? {} : { requestTimeoutMs: timeoutMs }),
      ...(tls === undefined ? {} : { tls }),
    },
  });
  host.start();
  let failed: (error: unknown) => void = () => {};
  const failure = new Promise<string>((resolve) => {
    failed = (error) => resolve(`simulator failure: ${String(error)}`);
  });
  host.onFailure((error) => failed(error));

  const managers = config.servers.map((s) => `${s.id}: ${s.managers.map((m) => m.login).join(', ')}`).join('; ');
  const usesDefaultPasswords = config.servers.every((s) => s.managers.every((m) => m.password === 'Manager#1'));
  const banner = [
    `mtproof sim listening on ${served.url}`,
    `  seed:     ${seed}${flags.frozen ? ' (time frozen: POST /control/time to move it)' : ''}`,
    `  servers:  ${config.servers.map((s) => `${s.id} (${s.platform} ${s.kind})`).join(', ')}`,
    `  native:   ${served.url}/v1 (the ManagerApi port: POST /v1/sessions, then /v1/sessions/{session}/{method})`,
    `  control:  ${served.url}/control (faults, time, journal, reset, ground truth)`,
    `  docs:     ${served.url}/docs (OpenAPI: ${served.url}/docs/json)`,
    ...served.webApi.map(
      (w) =>
        `  MT5 Web API of ${w.serverId}: ${w.url}/api/${tls === undefined ? ' (plain HTTP; a real server is HTTPS: --tls-cert/--tls-key)' : ''}`,
    ),
    `  managers: ${managers}${usesDefaultPasswords ? ' — password Manager#1' : ' (passwords from the config)'}`,
    `  token:    ${token === undefined ? 'none (loopback only)' : `required (from ${flags.tokenEnv})`}`,
  ];
  io.out(`${banner.join('\n')}\n`);

  const reason = await Promise.race([term.stopSignal ?? processSignal(), failure]);
  io.out(`stopping (${reason})...\n`);
  await served.close();
  await host.stop();
  if (host.failure !== null) {
    const error = host.failure;
    io.err(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 3;
  }
  io.out('stopped\n');
  return 0;
}

function portFlag(value: string, flag: string): number {
  return count(value, flag, 0, 65_535);
}

async function readPem(path: string, flag: string, cwd: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), 'utf8');
  } catch (error) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `${flag} ${path}: ${(error as Error).message}`, [
      { path: flag, message: 'unreadable' },
    ]);
  }
  if (!text.includes('-----BEGIN ')) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `${flag} ${path} is not a PEM file`, [
      { path: flag, message: 'not PEM' },
    ]);
  }
  return text;
}
