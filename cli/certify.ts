import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { MtproofError } from '../kit/errors.ts';
import { writeReports } from '../reports/index.ts';
import { assertShard, certify, failedInvariants, mtproofCommand, runResult } from '../scenarios/certify.ts';
import { checkBrokerAgainstCluster } from '../scenarios/config-check.ts';
import { mtproofIntegration } from '../scenarios/integrations/mtproof.ts';
import { type LoadedIntegration, loadIntegration } from '../scenarios/load.ts';
import type { CertifyResult, RunReport } from '../scenarios/result.ts';
import { runScript } from '../scenarios/runner.ts';
import { parseScriptText, type Script, scriptToYaml } from '../scenarios/script.ts';
import {
  HARNESS_STORE_KINDS,
  type HarnessStoreKind,
  type HarnessStores,
  openHarnessStores,
} from '../scenarios/serial-store.ts';
import { DEFAULT_CLUSTER, parseClusterConfig } from '../simulator/index.ts';
import { readBroker } from './config-files.ts';
import type { Output } from './io.ts';

/**
 * `mtproof certify`, `run`, `replay`: the harness from the command line. Exit codes: 0 every invariant
 * held, 1 an invariant failed, 2 bad usage or input (thrown as MtproofError, mapped by main), 3 an internal
 * error (main).
 */

export interface CertifyFlags {
  config?: string;
  runs: string;
  steps: string;
  seed?: string;
  out?: string;
  integration?: string;
  json: boolean;
  shard?: string;
  incidents: boolean;
  shrinkRuns: string;
  /** memory (default), pglite or postgres: the store mtproof's integration runs on. */
  store?: string;
}

export interface Terminal {
  /** Draw a progress bar (stderr is a terminal and no --json). */
  progress: boolean;
  cwd: string;
  /** Where DATABASE_URL is read (default: the process's environment). */
  env?: NodeJS.ProcessEnv;
}

export async function certifyCommand(flags: CertifyFlags, io: Output, term: Terminal): Promise<number> {
  const runs = count(flags.runs, '--runs', 0, 100_000);
  const steps = count(flags.steps, '--steps', 1, 1_000_000);
  const shrinkRuns = count(flags.shrinkRuns, '--shrink-runs', 0, 100_000);
  const seed = flags.seed ?? String(randomInt(1, 2 ** 31));
  if (!/^[\w.-]{1,40}$/.test(seed)) throw badFlag('--seed', `"${seed}" is not a seed: 1 to 40 letters, digits, . _ -`);
  const shard = flags.shard === undefined ? null : assertShard(flags.shard);
  const { config, configInput, configPath, sha256 } = await readBroker(flags.config, term.cwd);
  // A config that does not fit the simulated cluster is bad input, found before any run.
  const issues = checkBrokerAgainstCluster(config, parseClusterConfig(DEFAULT_CLUSTER));
  if (issues.length > 0) {
    throw new MtproofError(
      'MTP_CONFIG_INVALID',
      `${configPath ?? 'the broker config'} does not match the simulated cluster`,
      issues,
    );
  }
  const loaded = await loadIntegration(flags.integration, term.cwd);
  const { integration, stores } = await onStore(flags.store, loaded, term);
  try {
    const broker = { config, configInput, configPath, sha256 };
    return await certifyOn(integration, stores, { flags, runs, steps, shrinkRuns, seed, shard, broker }, io, term);
  } finally {
    await stores.close();
  }
}

async function certifyOn(
  integration: LoadedIntegration,
  stores: HarnessStores,
  parsed: {
    flags: CertifyFlags;
    runs: number;
    steps: number;
    shrinkRuns: number;
    seed: string;
    shard: ReturnType<typeof assertShard> | null;
    broker: Awaited<ReturnType<typeof readBroker>>;
  },
  io: Output,
  term: Terminal,
): Promise<number> {
  const { flags, runs, steps, shrinkRuns, seed, shard } = parsed;
  const { config, configInput, configPath, sha256 } = parsed.broker;
  const outDir = reportDir(term.cwd, flags.out);

  if (!flags.json) {
    io.out(
      `mtproof certify: integration ${integration.module}${integration.name === integration.module ? '' : ` (${integration.name})`}, config ${configPath ?? 'embedded default'} (sha256 ${sha256.slice(0, 12)})${stores.kind === 'memory' ? '' : `, store ${stores.label}`}\n` +
        `seed ${seed}, ${runs} generated run(s) of ${steps} steps${shard === null ? '' : `, shard ${shard.index}/${shard.count}`}\n`,
    );
  }
  const bar =
    term.progress && !flags.json ? new SingleBar({ format: '{bar} {value}/{total} {label}', hideCursor: true }) : null;
  let started = false;
  const result = await certify({
    integration,
    config,
    configInput,
    configPath,
    configSha256: sha256,
    seed,
    runs,
    steps,
    shard,
    incidents: flags.incidents,
    shrinkRuns,
    onRun: ({ done, total, label }) => {
      if (bar === null) return;
      if (!started) {
        bar.start(total, 0, { label });
        started = true;
      }
      bar.update(done, { label });
    },
    saveScript: (script) => saveScript(script, join(outDir, 'counterexample.yaml')),
  });
  bar?.stop();
  result.out = outDir;
  const paths = await writeReports(result, outDir);
  if (flags.json) {
    io.out(`${JSON.stringify(summaryJson(result))}\n`);
  } else {
    io.out(certifyText(result));
    io.out(`reports: ${paths.json}\n         ${paths.junit}\n         ${paths.html}\n`);
  }
  return result.verdict === 'pass' ? 0 : 1;
}

/** `--json`: the result without the bulky run details (those are in result.json). */
function summaryJson(result: CertifyResult) {
  const { incidentRuns: _runs, counterexample, ...rest } = result;
  return {
    ...rest,
    counterexample:
      counterexample === null
        ? null
        : {
            script: counterexample.script,
            traceHash: counterexample.traceHash,
            seed: counterexample.seed,
            steps: counterexample.steps,
            originalSteps: counterexample.originalSteps,
            shrinkRuns: counterexample.shrinkRuns,
            failed: counterexample.failed,
            replay: counterexample.replay,
          },
  };
}

function certifyText(result: CertifyResult): string {
  const lines: string[] = [];
  const names = Object.keys(result.incidents);
  if (names.length > 0) {
    lines.push(`incidents: ${names.filter((n) => result.incidents[n] === 'pass').length}/${names.length} as expected`);
    for (const run of result.incidentRuns)
      lines.push(`  ${run.verdict === 'pass' ? 'pass' : 'FAIL'}  ${run.name}${missText(run)}`);
  }
  const failedRuns = result.generated.filter((g) => g.verdict === 'fail');
  lines.push(`generated runs: ${result.generated.length - failedRuns.length}/${result.generated.length} pass`);
  lines.push('invariants:');
  for (const [name, verdict] of Object.entries(result.invariants)) lines.push(`  ${verdict.padEnd(7)} ${name}`);
  lines.push('go-live checklist:');
  for (const item of result.checklist) lines.push(`  ${item.verdict.padEnd(7)} ${item.item}`);
  const cx = result.counterexample;
  if (cx !== null) {
    const run = failedRuns[0];
    const where =
      run !== undefined && run.seed === cx.seed
        ? `generated run ${run.index} (${run.profile}, seed ${cx.seed})`
        : `incident ${cx.run.name.replace(/-shrunk$/, '')} (seed ${cx.seed})`;
    lines.push('');
    lines.push(
      `FAIL: ${cx.failed.join(', ')} in ${where}; shrunk from ${cx.originalSteps} to ${cx.steps} steps in ${cx.shrinkRuns} runs`,
    );
    for (const r of cx.run.invariants.filter((i) => cx.failed.includes(i.name))) {
      lines.push(`  ${r.name}: ${r.summary}`);
      for (const e of r.evidence.slice(0, 5)) lines.push(`    - ${e.message}`);
    }
    lines.push('minimal script:');
    const script = parseScriptText(readFileSync(cx.script, 'utf8'), cx.script);
    for (const step of script.steps) lines.push(`  - ${JSON.stringify(step)}`);
    lines.push(`seed ${cx.seed}, trace ${cx.traceHash}`);
    lines.push(`saved: ${cx.script}`);
    lines.push(`replay: ${cx.replay}`);
  }
  lines.push(`verdict: ${result.verdict === 'pass' ? 'PASS' : 'FAIL'} (${(result.wallMs / 1000).toFixed(1)} s)`);
  return `${lines.join('\n')}\n`;
}

function missText(run: RunReport): string {
  const failed = failedInvariants(run);
  return failed.length === 0 ? '' : `: ${failed.join(', ')} not as expected`;
}

export interface RunFlags {
  config?: string;
  integration?: string;
  json: boolean;
  out?: string;
  /** memory (default), pglite or postgres: the store mtproof's integration runs on. */
  store?: string;
}

/**
 * `mtproof run SCRIPT` runs a script (hand-written or saved); `mtproof replay SCRIPT` runs a saved
 * counterexample exactly as it was (its own config and integration) and says whether the trace hash is the
 * saved one.
 */
export async function runCommand(
  path: string,
  flags: RunFlags,
  io: Output,
  term: Terminal,
  mode: 'run' | 'replay',
): Promise<number> {
  const scriptPath = resolve(term.cwd, path);
  const script = await readScript(scriptPath);
  // Replay has no --config or --integration (main does not offer them): it takes the script's own.
  const broker = await readBroker(flags.config, term.cwd);
  const loaded = await loadIntegration(flags.integration ?? script.integration, term.cwd);
  const { integration, stores } = await onStore(flags.store, loaded, term);
  const startedAt = new Date().toISOString();
  let report: RunReport;
  try {
    ({ report } = await runScript(script, { factory: integration.factory, config: broker.config }));
  } finally {
    await stores.close();
  }
  const failed = failedInvariants(report);
  const savedHash = script.origin?.traceHash;
  const reproduced = savedHash === undefined ? null : savedHash === report.traceHash;
  if (flags.out !== undefined) {
    const outDir = reportDir(term.cwd, flags.out);
    // The command that runs it again, as this one did.
    const again = [mode, path];
    if (flags.config !== undefined) again.push('--config', flags.config);
    if (flags.integration !== undefined) again.push('--integration', flags.integration);
    if (flags.store !== undefined) again.push('--store', flags.store);
    const result = runResult(report, {
      script,
      scriptPath,
      replay: mtproofCommand(...again),
      startedAt,
      integration,
      config: broker.config,
      configPath: broker.configPath,
      configSha256: broker.sha256,
    });
    await writeReports({ ...result, out: outDir }, outDir);
  }
  if (flags.json) {
    io.out(
      `${JSON.stringify({
        verdict: report.verdict,
        traceHash: report.traceHash,
        savedTraceHash: savedHash ?? null,
        reproduced,
        name: report.name,
        seed: report.seed,
        steps: report.steps,
        integration: integration.module,
        failed,
        invariants: Object.fromEntries(report.invariants.map((r) => [r.name, r.verdict])),
        evidence: Object.fromEntries(
          report.invariants.filter((r) => r.verdict !== 'pass').map((r) => [r.name, r.evidence]),
        ),
      })}\n`,
    );
  } else {
    const lines = [
      `${mode} ${path}: ${report.name} (seed ${report.seed}, ${report.steps} steps) against ${integration.module}`,
    ];
    for (const r of report.invariants) {
      const expected = report.expected[r.name];
      lines.push(
        `  ${r.verdict.padEnd(7)} ${r.name}${expected === undefined ? '' : ` (expected ${expected})`}: ${r.summary}`,
      );
      if (r.verdict !== 'pass') for (const e of r.evidence.slice(0, 8)) lines.push(`      - ${e.message}`);
    }
    lines.push(
      `trace ${report.traceHash}${savedHash === undefined ? '' : reproduced ? ' (the saved hash: reproduced)' : ` (saved ${savedHash}: NOT reproduced)`}`,
    );
    lines.push(`verdict: ${report.verdict === 'pass' ? 'PASS' : 'FAIL'}`);
    io.out(`${lines.join('\n')}\n`);
  }
  return report.verdict === 'pass' ? 0 : 1;
}

/**
 * The integration on the store `--store` names: mtproof's own on a fresh store of that kind per run (memory
 * when absent); another integration brings its own storage, so it takes only memory (the default).
 */
async function onStore(
  flag: string | undefined,
  integration: LoadedIntegration,
  term: Terminal,
): Promise<{ integration: LoadedIntegration; stores: HarnessStores }> {
  const kind = (flag ?? 'memory') as HarnessStoreKind;
  if (!HARNESS_STORE_KINDS.includes(kind)) {
    throw badFlag('--store', `"${flag}" is not a store: ${HARNESS_STORE_KINDS.join(', ')}`);
  }
  if (kind !== 'memory' && integration.module !== 'mtproof') {
    throw badFlag('--store', `${kind} runs mtproof's own integration only; ${integration.module} keeps its own state`);
  }
  const stores = await openHarnessStores(kind, { databaseUrl: (term.env ?? process.env).DATABASE_URL });
  if (stores.factory === undefined) return { integration, stores };
  return { integration: { ...integration, factory: mtproofIntegration({ store: stores.factory }) }, stores };
}

async function readScript(path: string): Promise<Script> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new MtproofError('MTP_SCRIPT_UNREADABLE', `cannot read scenario script ${path}: ${reason}`);
  }
  return parseScriptText(text, path);
}

export function saveScript(script: Script, path: string): string {
  try {
    writeFileSync(
      path,
      `# mtproof scenario script: replay with \`npx mtproof replay ${path}\`\n${scriptToYaml(script)}`,
    );
  } catch (error) {
    throw new MtproofError('MTP_OUT_DIR', `cannot write ${path}: ${(error as Error).message}`);
  }
  return path;
}

/** The report folder, created: `given` (from the working folder), else `reports/out/<prefix><timestamp>/`. */
export function reportDir(cwd: string, given: string | undefined, prefix = ''): string {
  const stamp = new Date()
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
  const dir = resolve(cwd, given ?? join('reports', 'out', `${prefix}${stamp}`));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new MtproofError('MTP_OUT_DIR', `cannot create the report folder ${dir}: ${(error as Error).message}`);
  }
  return dir;
}

export function count(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw badFlag(flag, `"${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}

function badFlag(flag: string, message: string): MtproofError {
  return new MtproofError('MTP_CLI_BAD_FLAG', `${flag}: ${message}`, [{ path: flag, message }]);
}
