import { HttpManagerApi } from '../adapters/http/index.ts';
import { Mt4DllManagerApi } from '../adapters/mt4-dll/index.ts';
import { Mt5DllManagerApi } from '../adapters/mt5-dll/index.ts';
import { createMt5WebApiManagerApi } from '../adapters/mt5-webapi/index.ts';
import type { ManagerApi, Platform } from '../adapters/port/manager-api.ts';
import { SystemClock } from '../kit/clock.ts';
import { MtproofError } from '../kit/errors.ts';
import { type ProbeReport, runProbe } from '../scenarios/probe.ts';
import { count } from './certify.ts';
import type { Output } from './io.ts';

/**
 * `mtproof probe`: the go-live probe (scenarios/probe.ts) through the adapter the service will use, against one
 * server. Exit 0 when every check passed (warnings and skips included), 1 when one failed, 2 on bad flags.
 */

export const PROBE_ADAPTERS = ['mt4-dll', 'mt5-dll', 'mt5-webapi', 'http'] as const;
export type ProbeAdapter = (typeof PROBE_ADAPTERS)[number];

export interface ProbeFlags {
  adapter: string;
  server: string;
  login: string;
  passwordEnv: string;
  roundTrip?: string;
  account?: string;
  serverId?: string;
  scheme?: string;
  timeoutMs: string;
  json: boolean;
  /** mt4-dll / mt5-dll: the library's path (default: MTPROOF_MT4_DLL / MTPROOF_MT5_DLL). */
  dll?: string;
  /** mt4-dll: the server's ANSI code page (default windows-1252). */
  codePage?: string;
}

export async function probeCommand(flags: ProbeFlags, io: Output, env: NodeJS.ProcessEnv): Promise<number> {
  if (!(PROBE_ADAPTERS as readonly string[]).includes(flags.adapter)) {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      `--adapter must be one of ${PROBE_ADAPTERS.join(', ')}, not ${flags.adapter}`,
      [{ path: '--adapter', message: 'unknown adapter' }],
    );
  }
  if (!/^[^\s/:]+:\d{1,5}$/.test(flags.server) || Number(flags.server.split(':')[1]) > 65_535) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--server must be HOST:PORT, not ${flags.server}`, [
      { path: '--server', message: 'not HOST:PORT' },
    ]);
  }
  const login = count(flags.login, '--login', 1, 2 ** 32 - 1);
  const password = env[flags.passwordEnv];
  if (password === undefined || password === '') {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--password-env ${flags.passwordEnv}: that variable is unset`, [
      { path: '--password-env', message: 'unset (the password never goes on the command line)' },
    ]);
  }
  const roundTrip = flags.roundTrip === undefined ? undefined : count(flags.roundTrip, '--round-trip', 1, 2 ** 32 - 1);
  const account = flags.account === undefined ? undefined : count(flags.account, '--account', 1, 2 ** 32 - 1);
  const timeoutMs = count(flags.timeoutMs, '--timeout-ms', 100, 600_000);
  const scheme = flags.scheme ?? (flags.adapter === 'http' ? 'http' : 'https');
  if (scheme !== 'http' && scheme !== 'https') {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--scheme must be http or https, not ${scheme}`, [
      { path: '--scheme', message: 'not http or https' },
    ]);
  }
  const url = `${scheme}://${flags.server}`;
  const api =
    flags.adapter === 'mt5-dll'
      ? new Mt5DllManagerApi({
          serverId: flags.serverId ?? flags.server,
          address: flags.server,
          ...(flags.dll === undefined ? {} : { dllPath: flags.dll }),
        })
      : flags.adapter === 'mt4-dll'
        ? new Mt4DllManagerApi({
            serverId: flags.serverId ?? flags.server,
            address: flags.server,
            ...(flags.dll === undefined ? {} : { libraryPath: flags.dll }),
            ...(flags.codePage === undefined ? {} : { codePage: flags.codePage }),
            env,
          })
        : await adapterFor(flags.adapter as 'mt5-webapi' | 'http', url, flags.serverId, timeoutMs);
  const report = await runProbe({
    api,
    clock: new SystemClock(),
    credentials: { login, password },
    ...(account === undefined ? {} : { account }),
    ...(roundTrip === undefined ? {} : { roundTrip }),
  });
  io.out(flags.json ? `${JSON.stringify(report)}\n` : render(report, flags.adapter, url));
  return report.passed ? 0 : 1;
}

async function adapterFor(
  adapter: ProbeAdapter,
  url: string,
  serverId: string | undefined,
  timeoutMs: number,
): Promise<ManagerApi> {
  if (adapter === 'mt5-webapi')
    return createMt5WebApiManagerApi({ serverId: serverId ?? url.replace(/^https?:\/\//, ''), url, timeoutMs });
  // The served simulator's native API: which server, and its platform, come from the simulator itself.
  if (serverId === undefined) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', '--adapter http needs --server-id (a server of the served simulator)', [
      { path: '--server-id', message: 'required with --adapter http' },
    ]);
  }
  let servers: { id: string; platform: Platform }[];
  try {
    const res = await fetch(`${url}/v1/servers`, { signal: AbortSignal.timeout(timeoutMs) });
    servers = ((await res.json()) as { servers: { id: string; platform: Platform }[] }).servers;
  } catch (error) {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      `cannot read the served simulator's servers at ${url}: ${(error as Error).message}`,
      [{ path: '--server', message: 'no served simulator answers there' }],
    );
  }
  const server = servers.find((s) => s.id === serverId);
  if (server === undefined) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `no server ${serverId} there (${servers.map((s) => s.id).join(', ')})`, [
      { path: '--server-id', message: 'unknown server' },
    ]);
  }
  return new HttpManagerApi({ url, serverId, platform: server.platform, timeoutMs });
}

function render(report: ProbeReport, adapter: string, url: string): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = [
    `probe ${report.serverId} (${report.platform}) through ${adapter} at ${url}`,
    ...report.checks.map(
      (c) =>
        `  ${c.status.padEnd(7)} ${c.name.padEnd(width)}  ${c.detail}${c.durationMs > 0 ? ` (${c.durationMs} ms)` : ''}`,
    ),
    report.passed ? 'verdict: PASS' : 'verdict: FAIL',
  ];
  return `${lines.join('\n')}\n`;
}
