import { randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MtproofError } from '../kit/errors.ts';
import { certifyBlackBox } from '../scenarios/wire/black-box.ts';
import { ContractViolation, parseBaseUrl } from '../scenarios/wire/contract.ts';
import { IntegrationRefused, IntegrationUnreachable } from '../scenarios/wire/integration.ts';
import { certifyRealStack } from '../scenarios/wire/real-stack.ts';
import type { WireRunResult } from '../scenarios/wire/run.ts';
import { count } from './certify.ts';
import type { Output } from './io.ts';
import { ServiceClock, startContainers } from './service.ts';

/**
 * `mtproof certify --stack real` (and `--integration-url`): a certification over the wire, printed as it goes,
 * summarised at the end with a one-line replay command, saved as result.json.
 */

export interface WireCertifyFlags {
  seed?: string;
  out?: string;
  json: boolean;
  clients: string;
  ops: string;
  concurrency: string;
  kills: string;
  toxics: string;
  faultIntensity: string;
  settleMs: string;
  /** --stack real: Postgres and RabbitMQ from testcontainers instead of the environment. */
  containers?: boolean;
}

export interface BlackBoxFlags extends WireCertifyFlags {
  integrationUrl: string;
  integrationTokenEnv?: string;
  simPort: string;
  mt5WebapiPort: string;
  healthWaitMs: string;
}

export async function blackBoxCommand(
  flags: BlackBoxFlags,
  io: Output,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  const seed = flags.seed ?? String(randomInt(1, 2 ** 31));
  const integrationUrl = parseBaseUrl(flags.integrationUrl);
  let token: string | undefined;
  if (flags.integrationTokenEnv !== undefined) {
    token = env[flags.integrationTokenEnv];
    if (token === undefined || token === '') {
      throw new MtproofError(
        'MTP_CLI_BAD_FLAG',
        `--integration-token-env ${flags.integrationTokenEnv}: that variable is unset`,
        [{ path: '--integration-token-env', message: 'unset' }],
      );
    }
  }
  const options = {
    clients: count(flags.clients, '--clients', 1, 1_000),
    operations: count(flags.ops, '--ops', 1, 1_000_000),
    concurrency: count(flags.concurrency, '--concurrency', 1, 64),
    settleTimeoutMs: count(flags.settleMs, '--settle-ms', 1_000, 3_600_000),
    simPort: count(flags.simPort, '--sim-port', 0, 65_535),
    webApiBasePort: count(flags.mt5WebapiPort, '--mt5-webapi-port', 0, 65_535),
    healthWaitMs: count(flags.healthWaitMs, '--health-wait-ms', 0, 3_600_000),
    toxics: count(flags.toxics, '--toxics', 0, 10_000),
  };
  const faultIntensity = intensityFlag(flags.faultIntensity);
  const replay = `mtproof certify --integration-url ${integrationUrl} --seed ${seed} --clients ${options.clients} --ops ${options.operations} --concurrency ${options.concurrency} --fault-intensity ${faultIntensity} --toxics ${options.toxics} --settle-ms ${options.settleTimeoutMs} --health-wait-ms ${options.healthWaitMs} --sim-port ${options.simPort} --mt5-webapi-port ${options.webApiBasePort}${flags.integrationTokenEnv === undefined ? '' : ` --integration-token-env ${flags.integrationTokenEnv}`}`;
  const started = Date.now();
  let result: WireRunResult;
  try {
    result = await certifyBlackBox({
      seed,
      clock: new ServiceClock(),
      integrationUrl,
      ...(token === undefined ? {} : { token }),
      ...options,
      faultIntensity,
      onListening: (where) => {
        if (flags.json) return;
        io.out(
          `certify --integration-url ${integrationUrl}, seed ${seed}\n  simulator ${where.simUrl} (control: ${where.simUrl}/control)\n`,
        );
        for (const w of where.webApi)
          io.out(`  MT5 Web API of ${w.serverId}: ${w.url} (manager 1000, password Manager#1)\n`);
        io.out(`  waiting up to ${options.healthWaitMs} ms for ${integrationUrl}/health\n`);
      },
      log: (line) => {
        if (!flags.json) io.out(`  ${line}\n`);
      },
    });
  } catch (error) {
    return gaveUp(error, integrationUrl, replay, io);
  }
  return report(
    result,
    { ...flags, replay, elapsedMs: Date.now() - started, cwd, label: 'black box over the documented contract' },
    io,
  );
}

/** The integration broke the contract, refused what it must accept, or stayed unreachable: a FAIL, not bad input. */
function gaveUp(error: unknown, who: string, replay: string, io: Output): number {
  const why =
    error instanceof ContractViolation
      ? 'the integration broke the contract'
      : error instanceof IntegrationRefused
        ? 'the integration refused what the run needs (an account or a transfer)'
        : error instanceof IntegrationUnreachable
          ? 'the integration stayed unreachable'
          : null;
  if (why === null) throw error;
  io.out(`FAIL ${who}: ${why}\n  ${(error as Error).message}\n  replay: ${replay}\n`);
  return 1;
}

function intensityFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--fault-intensity must be a number from 0 to 100, not ${value}`, [
      { path: '--fault-intensity', message: 'out of range' },
    ]);
  }
  return n;
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

export async function realStackCommand(
  flags: WireCertifyFlags,
  io: Output,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  const seed = flags.seed ?? String(randomInt(1, 2 ** 31));
  const options = {
    clients: count(flags.clients, '--clients', 1, 1_000),
    operations: count(flags.ops, '--ops', 1, 1_000_000),
    concurrency: count(flags.concurrency, '--concurrency', 1, 64),
    kills: count(flags.kills, '--kills', 0, 10_000),
    toxics: count(flags.toxics, '--toxics', 0, 10_000),
    settleTimeoutMs: count(flags.settleMs, '--settle-ms', 1_000, 3_600_000),
  };
  const faultIntensity = intensityFlag(flags.faultIntensity);
  const replay = `mtproof certify --stack real --seed ${seed} --clients ${options.clients} --ops ${options.operations} --concurrency ${options.concurrency} --kills ${options.kills} --toxics ${options.toxics} --fault-intensity ${faultIntensity} --settle-ms ${options.settleTimeoutMs}`;
  if (!flags.json) io.out(`certify --stack real, seed ${seed}\n`);
  const started = Date.now();
  let result: Awaited<ReturnType<typeof certifyRealStack>>;
  let runEnv = env;
  let stopContainers: () => Promise<void> = async () => {};
  if (flags.containers === true) {
    const started = await startContainers(io);
    stopContainers = started.stop;
    runEnv = { ...env, DATABASE_URL: started.databaseUrl, AMQP_URL: started.amqpUrl };
  }
  try {
    result = await certifyRealStack({
      seed,
      // Its waits do not keep the process alive: a deadline still pending when the run ends is not waited out.
      clock: new ServiceClock(),
      cwd: REPO,
      env: runEnv,
      ...options,
      faultIntensity,
      log: (line) => {
        if (!flags.json) io.out(`  ${line}\n`);
      },
    });
  } catch (error) {
    return gaveUp(error, 'mtproof service (real stack)', replay, io);
  } finally {
    await stopContainers();
  }
  const elapsedMs = Date.now() - started;
  return report(
    result,
    {
      ...flags,
      replay,
      elapsedMs,
      cwd,
      label: `real stack: ${result.stack.store}, bus ${result.stack.bus}, ${result.stack.serviceStarts} service starts`,
    },
    io,
    result.logs,
  );
}

export async function report(
  result: WireRunResult,
  context: { json: boolean; out?: string; replay: string; elapsedMs: number; cwd: string; label: string },
  io: Output,
  logs: Record<string, string[]> = {},
): Promise<number> {
  const out = resolve(
    context.cwd,
    context.out ?? join('reports', 'out', `wire-${new Date().toISOString().replace(/[:.]/g, '-')}`),
  );
  await mkdir(out, { recursive: true });
  const full = { ...result, replay: context.replay, elapsedMs: context.elapsedMs, label: context.label, logs };
  await writeFile(join(out, 'result.json'), `${JSON.stringify(full, null, 2)}\n`);
  if (context.json) {
    io.out(`${JSON.stringify(full)}\n`);
    return result.passed ? 0 : 1;
  }
  const s = result.stats;
  const lines = [
    `${result.passed ? 'PASS' : 'FAIL'} ${result.integration} — ${context.label} — ${(context.elapsedMs / 1000).toFixed(1)} s`,
    `  ${s.accounts} accounts, ${s.transfers} transfers (${s.done} done, ${s.failed} failed), ${s.dealerEdits} dealer edits, ${s.unreachableRetries} calls repeated while unreachable`,
    `  disturbances: ${
      Object.entries(s.disturbances)
        .map(([k, n]) => `${k} ×${n}`)
        .join(', ') || 'none'
    }`,
    `  simulator faults: ${
      Object.entries(s.simulatorFaults)
        .map(([k, n]) => `${k} ×${n}`)
        .join(', ') || 'none'
    }`,
    ...result.checks.map(
      (c) =>
        `  ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}${c.passed ? '' : `\n${c.problems.map((p) => `         - ${p}`).join('\n')}`}`,
    ),
    `  result: ${join(out, 'result.json')}`,
    ...(result.passed ? [] : [`  replay: ${context.replay}`]),
  ];
  io.out(`${lines.join('\n')}\n`);
  if (!result.passed) {
    for (const [name, tail] of Object.entries(logs)) io.err(`--- ${name} (last lines) ---\n${tail.join('\n')}\n`);
  }
  return result.passed ? 0 : 1;
}
