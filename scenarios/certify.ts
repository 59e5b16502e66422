import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MtproofError } from '../kit/errors.ts';
import type { BrokerConfig, BrokerConfigInput } from '../service/config.ts';
import { parseClusterConfig } from '../simulator/config.ts';
import { DEFAULT_CLUSTER } from '../simulator/default-cluster.ts';
import { checkBrokerAgainstCluster } from './config-check.ts';
import { generateScript, profileForRun } from './generate.ts';
import type { LoadedIntegration } from './load.ts';
import type {
  CertifyResult,
  ChecklistItem,
  Counterexample,
  GeneratedRunSummary,
  InvariantResult,
  RunReport,
  Verdict,
} from './result.ts';
import { type RunOutcome, runScript } from './runner.ts';
import { INVARIANT_NAMES, type InvariantName, parseScriptText, type Script } from './script.ts';
import { shrinkScript } from './shrink.ts';

/**
 * A certification: the incident library and `runs` generated broker days against one integration and one
 * broker config. The first generated run that fails is shrunk to a minimal script, run once more in full
 * detail, and handed back as the counterexample (the caller saves it and writes the reports).
 */

const INCIDENTS_DIR = resolve(fileURLToPath(new URL('./incidents', import.meta.url)));
const TOOL_VERSION = '0.1.0';

export interface CertifyOptions {
  integration: LoadedIntegration;
  config: Readonly<BrokerConfig>;
  /** The config as given (inlined into a saved counterexample so that it replays alone). */
  configInput: BrokerConfigInput;
  configPath: string | null;
  configSha256: string;
  seed: string;
  runs: number;
  steps: number;
  shard: { index: number; count: number } | null;
  /** Run the incident library (default true). */
  incidents?: boolean;
  /** Stop shrinking after this many runs. */
  shrinkRuns?: number;
  /** Called after every run (a progress bar). */
  onRun?: (event: { kind: 'incident' | 'generated' | 'shrink'; done: number; total: number; label: string }) => void;
  /** Saves the counterexample script; returns its path. */
  saveScript: (script: Script) => string;
}

export interface Incident {
  file: string;
  script: Script;
}

/** The incident library: every `*.yaml` in scenarios/incidents/, in name order. */
export function loadIncidents(dir = INCIDENTS_DIR): Incident[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
  } catch {
    return [];
  }
  return files.sort().map((file) => {
    const path = join(dir, file);
    return { file: path, script: parseScriptText(readFileSync(path, 'utf8'), path) };
  });
}

/** Which runs of `runs` a shard takes: every `count`-th, starting at `index`. */
export function shardRuns(runs: number, shard: { index: number; count: number } | null): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) if (shard === null || i % shard.count === shard.index) out.push(i);
  return out;
}

export async function certify(options: CertifyOptions): Promise<CertifyResult> {
  // Wall-clock facts for the report only: nothing of a run depends on them.
  const wallStart = performance.now();
  const startedAt = new Date().toISOString();
  const runOptions = { factory: options.integration.factory, config: options.config };
  const incidents = options.incidents === false ? [] : loadIncidents();
  const indices = shardRuns(options.runs, options.shard);
  const total = incidents.length + indices.length;
  let done = 0;

  const incidentRuns: RunReport[] = [];
  let counterexample: Counterexample | null = null;
  const shrinkProgress = (label: string) => options.onRun?.({ kind: 'shrink', done, total, label });
  // Incidents run only on the first shard: one copy of each per certification.
  if (options.shard === null || options.shard.index === 0) {
    for (const incident of incidents) {
      const script = { ...incident.script, integration: options.integration.module };
      const { report } = await runScript(script, runOptions);
      incidentRuns.push(report);
      options.onRun?.({ kind: 'incident', done: ++done, total, label: report.name });
      // The first incident that fails is shrunk like a generated failure: the smallest script that shows it.
      if (report.verdict === 'fail' && counterexample === null) {
        counterexample = await minimise(script, failedInvariants(report), options, shrinkProgress);
      }
    }
  }

  const generated: GeneratedRunSummary[] = [];
  const generatedResults: InvariantResult[][] = [];
  for (const run of indices) {
    const profile = profileForRun(options.seed, run);
    const script = generatedRun(options, run);
    const { report } = await runScript(script, { ...runOptions, detail: false });
    const failed = failedInvariants(report);
    generated.push({
      index: run,
      seed: script.seed,
      profile,
      steps: script.steps.length,
      verdict: report.verdict,
      failed,
      traceHash: report.traceHash,
      wallMs: report.wallMs,
    });
    generatedResults.push(report.invariants);
    options.onRun?.({ kind: 'generated', done: ++done, total, label: `${profile} run ${run}` });
    if (report.verdict === 'fail') {
      counterexample ??= await minimise(script, failed, options, shrinkProgress);
      break;
    }
  }

  return summarise(options, {
    incidentRuns,
    generated,
    generatedResults,
    counterexample,
    startedAt,
    wallMs: performance.now() - wallStart,
  });
}

/**
 * One run as a certification result (`mtproof run` and `replay` with `--out`): the run stands where the
 * incidents do, its invariants and the go-live checklist are judged as a certification judges them, and a
 * failing run is its own counterexample, as it is (not shrunk): the script at `scriptPath`, which `replay`
 * runs again.
 */
export function runResult(
  report: RunReport,
  options: Pick<CertifyOptions, 'integration' | 'config' | 'configPath' | 'configSha256'> & {
    script: Script;
    scriptPath: string;
    replay: string;
    startedAt: string;
  },
): CertifyResult {
  const { script } = options;
  const failed = failedInvariants(report);
  const counterexample: Counterexample | null =
    failed.length === 0
      ? null
      : {
          script: options.scriptPath,
          traceHash: report.traceHash,
          seed: script.seed,
          steps: script.steps.length,
          originalSteps: script.steps.length,
          shrinkRuns: 0,
          failed,
          replay: options.replay,
          run: report,
        };
  return summarise(
    { ...options, seed: script.seed, steps: script.steps.length, shard: null },
    {
      incidentRuns: [report],
      generated: [],
      generatedResults: [],
      counterexample,
      startedAt: options.startedAt,
      wallMs: report.wallMs,
    },
  );
}

/** A certification's result from its runs: the verdicts aggregated, the checklist judged. */
function summarise(
  options: Pick<CertifyOptions, 'integration' | 'config' | 'configPath' | 'configSha256' | 'seed' | 'steps' | 'shard'>,
  runs: {
    incidentRuns: RunReport[];
    generated: GeneratedRunSummary[];
    generatedResults: InvariantResult[][];
    counterexample: Counterexample | null;
    startedAt: string;
    wallMs: number;
  },
): CertifyResult {
  const { incidentRuns, generated } = runs;
  const invariants = aggregate([
    ...incidentRuns.map((r) => ({ results: r.invariants, expected: r.expected })),
    ...runs.generatedResults.map((results) => ({ results, expected: {} })),
  ]);
  const verdict =
    incidentRuns.every((r) => r.verdict === 'pass') && generated.every((g) => g.verdict === 'pass') ? 'pass' : 'fail';
  return {
    tool: { name: 'mtproof', version: TOOL_VERSION },
    verdict,
    seed: options.seed,
    runs: generated.length,
    steps: options.steps,
    shard: options.shard,
    integration: { module: options.integration.module, name: options.integration.name },
    config: { path: options.configPath, sha256: options.configSha256 },
    startedAt: runs.startedAt,
    wallMs: Math.round(runs.wallMs),
    invariants,
    incidents: Object.fromEntries(incidentRuns.map((r) => [r.name, r.verdict])),
    incidentRuns,
    generated,
    checklist: checklist(options.config, invariants),
    counterexample: runs.counterexample,
    out: null,
  };
}

/** Generated run `run` of a certification, recorded against the integration it is run against. */
function generatedRun(
  options: { seed: string; steps: number; config: Readonly<BrokerConfig>; integration: { module: string } },
  run: number,
): Script {
  const { seed, steps, config } = options;
  return { ...generateScript({ seed, run, steps, config }), integration: options.integration.module };
}

export interface Catch {
  script: Script;
  report: RunReport;
  /** What caught it: an incident's name, or `generated run N (profile)`. */
  by: string;
}

/**
 * Runs one integration through the incidents given, then `runs` generated days, until a run misses a
 * verdict it expects: how long a planted bug survives (`mtproof mutants`, the scenario benchmark). Returns
 * the runs made (up to and including the catch) and the catch, null if none caught it.
 */
export async function firstCatch(options: {
  integration: Pick<LoadedIntegration, 'module' | 'factory'>;
  config: Readonly<BrokerConfig>;
  incidents: readonly Incident[];
  seed: string;
  runs: number;
  steps: number;
}): Promise<{ runs: number; caught: Catch | null }> {
  const { integration, incidents } = options;
  const runOptions = { factory: integration.factory, config: options.config, detail: false };
  // Scripts are made one at a time: a bug caught early spares generating the days after it.
  const scripts = function* (): Generator<Script> {
    for (const incident of incidents) yield { ...incident.script, integration: integration.module };
    for (let run = 0; run < options.runs; run++) yield generatedRun(options, run);
  };
  let made = 0;
  for (const script of scripts()) {
    const { report } = await runScript(script, runOptions);
    made++;
    if (failedInvariants(report).length > 0) {
      const origin = script.origin;
      const by = origin?.run === undefined ? script.name : `generated run ${origin.run} (${origin.profile})`;
      return { runs: made, caught: { script, report, by } };
    }
  }
  return { runs: made, caught: null };
}

/** Shrinks a failing generated script, runs the result in detail, saves it and describes it. */
export async function minimise(
  script: Script,
  failed: InvariantName[],
  options: Pick<CertifyOptions, 'integration' | 'config' | 'configInput' | 'shrinkRuns' | 'saveScript'>,
  progress?: (label: string) => void,
): Promise<Counterexample> {
  const runOptions = { factory: options.integration.factory, config: options.config, detail: false };
  const { script: small, runs } = await shrinkScript(
    script,
    async (candidate) => {
      const { report } = await runScript(candidate, runOptions);
      progress?.(`shrinking: ${candidate.steps.length} steps`);
      return failedInvariants(report).some((name) => failed.includes(name));
    },
    options.shrinkRuns ?? 150,
  );
  const saved: Script = {
    ...small,
    name: `${script.name}-shrunk`,
    proves: `Counterexample: fails ${failed.join(', ')}; shrunk from ${script.steps.length} to ${small.steps.length} steps.`,
    config: options.configInput as Record<string, unknown>,
    integration: options.integration.module,
  };
  const final: RunOutcome = await runScript(saved, { factory: options.integration.factory, config: options.config });
  const finalFailed = failedInvariants(final.report);
  saved.origin = {
    ...saved.origin,
    traceHash: final.report.traceHash,
    failed: finalFailed,
    originalSteps: script.steps.length,
  };
  const path = options.saveScript(saved);
  return {
    script: path,
    traceHash: final.report.traceHash,
    seed: saved.seed,
    steps: saved.steps.length,
    originalSteps: script.steps.length,
    shrinkRuns: runs,
    failed: finalFailed,
    replay: mtproofCommand('replay', path),
    run: final.report,
  };
}

export function failedInvariants(report: RunReport): InvariantName[] {
  return report.invariants
    .filter((r) => {
      const expected = report.expected[r.name] ?? 'pass';
      return expected === 'pass' ? r.verdict === 'fail' : r.verdict !== expected;
    })
    .map((r) => r.name);
}

function aggregate(
  runs: { results: InvariantResult[]; expected: Partial<Record<InvariantName, Verdict>> }[],
): Record<InvariantName, Verdict> {
  const out = {} as Record<InvariantName, Verdict>;
  for (const name of INVARIANT_NAMES) {
    let verdict: Verdict = 'unknown';
    for (const { results, expected } of runs) {
      const r = results.find((x) => x.name === name);
      if (r === undefined) continue;
      // A run that expects this invariant to fail (an incident showing a catch) proves nothing about it.
      if ((expected[name] ?? 'pass') !== 'pass') continue;
      if (r.verdict === 'fail') verdict = 'fail';
      else if (r.verdict === 'pass' && verdict === 'unknown') verdict = 'pass';
    }
    out[name] = verdict;
  }
  return out;
}

/** The go-live checklist of the seed article, each item judged by the checks it rests on. */
function checklist(config: Readonly<BrokerConfig>, invariants: Record<InvariantName, Verdict>): ChecklistItem[] {
  const issues = checkBrokerAgainstCluster(config, parseClusterConfig(DEFAULT_CLUSTER));
  const configOk = issues.length === 0;
  const combine = (...verdicts: Verdict[]): Verdict =>
    verdicts.includes('fail') ? 'fail' : verdicts.every((v) => v === 'pass') ? 'pass' : 'unknown';
  const said = (names: InvariantName[]) => names.map((n) => `${n}: ${invariants[n]}`).join(', ');
  const groupIssues = issues.filter((i) => i.path.startsWith('products'));
  const serverIssues = issues.filter((i) => i.path.startsWith('servers'));
  return [
    {
      item: 'Server access',
      verdict: combine(serverIssues.length === 0 ? 'pass' : 'fail', invariants.audit, invariants.routing),
      detail:
        `${config.servers.length} servers (${config.servers.map((s) => `${s.id} ${s.platform} ${s.kind}`).join(', ')}); manager logins exist; every call audited; live and demo kept apart. ${serverIssues.map((i) => `${i.path}: ${i.message}`).join('; ')} ${said(['audit', 'routing'])}`.trim(),
      basis: ['config check', 'audit', 'routing'],
    },
    {
      item: 'CRM-to-group mapping',
      verdict: combine(groupIssues.length === 0 ? 'pass' : 'fail', invariants.routing),
      detail: `${config.products.length} products mapped to groups that exist on their servers${configOk ? '' : ` (${groupIssues.map((i) => `${i.path}: ${i.message}`).join('; ')})`}; accounts land where the config maps them. ${said(['routing'])}`,
      basis: ['config check', 'routing'],
    },
    {
      item: 'KYC-linked trading permissions',
      verdict: invariants.gating,
      detail: `no account of a KYC-gated product before approval; no withdrawal above free margin. ${said(['gating'])}`,
      basis: ['gating'],
    },
    {
      item: 'Payment flow rules',
      verdict: combine(
        invariants['exactly-once'],
        invariants.conservation,
        invariants.liveness,
        invariants.reconciliation,
      ),
      detail: `deposits and withdrawals posted exactly once through lost answers, restarts and crashes; balances add up; failed and pending cases settle or go to review with an alert; reconciliation exact. ${said(['exactly-once', 'conservation', 'liveness', 'reconciliation'])}`,
      basis: ['exactly-once', 'conservation', 'liveness', 'reconciliation'],
    },
    {
      item: 'Trade data setup',
      verdict: invariants['trade-sync'],
      detail: `every trade open and close on the integration's accounts is in its records once. ${said(['trade-sync'])}`,
      basis: ['trade-sync'],
    },
  ];
}

/** The command line that runs `npx mtproof` with these arguments, each quoted for a POSIX shell as needed. */
export function mtproofCommand(...args: string[]): string {
  const quote = (arg: string) => (/^[\w./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);
  return ['npx', 'mtproof', ...args.map(quote)].join(' ');
}

export function assertShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || !(count >= 1) || !(index >= 0) || index >= count) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--shard takes i/n with 0 <= i < n, not "${text}"`, [
      { path: '--shard', message: 'e.g. 0/4 for the first of four shards' },
    ]);
  }
  return { index, count };
}
