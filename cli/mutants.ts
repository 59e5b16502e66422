import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MtproofError } from '../kit/errors.ts';
import { failedInvariants, loadIncidents, minimise } from '../scenarios/certify.ts';
import { generateScript, profileForRun } from '../scenarios/generate.ts';
import { MUTANTS } from '../scenarios/mutants/index.ts';
import type { RunReport } from '../scenarios/result.ts';
import { runScript } from '../scenarios/runner.ts';
import type { InvariantName, Script } from '../scenarios/script.ts';
import { count, ensureDir, readBroker, saveScript, type Terminal } from './certify.ts';
import type { Output } from './io.ts';

/**
 * `mtproof mutants`: certifies each planted bug (scenarios/mutants/) — the incident library first, then
 * generated runs — until an invariant catches it, shrinks the catching script and saves it. Exit 1 if any
 * bug survives.
 */

export interface MutantsFlags {
  runs: string;
  steps: string;
  seed: string;
  out?: string;
  json: boolean;
  only?: string;
  incidents: boolean;
  shrinkRuns: string;
}

export interface MutantOutcome {
  name: string;
  module: string;
  plants: string;
  caught: boolean;
  invariant: InvariantName | null;
  /** Runs until the first one that caught it (all runs made, if none did). */
  runs: number;
  /** Wall time to detection (or of every run made), shrinking excluded. */
  ms: number;
  /** What caught it: an incident's name, or `generated run N (profile)`. */
  caughtBy: string | null;
  shrunkSteps: number | null;
  originalSteps: number | null;
  script: string | null;
  traceHash: string | null;
}

export async function mutantsCommand(flags: MutantsFlags, io: Output, term: Terminal): Promise<number> {
  const runs = count(flags.runs, '--runs', 0, 100_000);
  const steps = count(flags.steps, '--steps', 1, 1_000_000);
  const shrinkRuns = count(flags.shrinkRuns, '--shrink-runs', 0, 100_000);
  const broker = await readBroker(undefined);
  const outDir = resolve(term.cwd, flags.out ?? join('reports', 'out', `mutants-${stamp()}`));
  ensureDir(outDir);
  const wanted = flags.only?.split(',').map((n) => n.trim());
  const unknown = (wanted ?? []).filter((n) => !MUTANTS.some((m) => m.name === n));
  if (unknown.length > 0) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', `--only: no planted bug named ${unknown.join(', ')}`, [
      { path: '--only', message: `known: ${MUTANTS.map((m) => m.name).join(', ')}` },
    ]);
  }
  const selected = wanted === undefined ? MUTANTS : MUTANTS.filter((m) => wanted.includes(m.name));
  const incidents = flags.incidents ? loadIncidents() : [];
  const outcomes: MutantOutcome[] = [];

  for (const mutant of selected) {
    const integration = { module: mutant.module, name: mutant.name, factory: mutant.factory };
    const runOptions = { factory: mutant.factory, config: broker.config, detail: false };
    const start = performance.now();
    let made = 0;
    let caught: { script: Script; report: RunReport; by: string } | null = null;
    const candidates: (() => Script)[] = [
      ...incidents.map((i) => () => ({ ...i.script, integration: mutant.module })),
      ...Array.from({ length: runs }, (_, run) => () => {
        const profile = profileForRun(flags.seed, run);
        return {
          ...generateScript({ seed: flags.seed, run, profile, steps, config: broker.config }),
          integration: mutant.module,
        };
      }),
    ];
    for (const make of candidates) {
      const script = make();
      const { report } = await runScript(script, runOptions);
      made++;
      if (failedInvariants(report).length > 0) {
        caught = {
          script,
          report,
          by:
            script.origin?.profile === undefined
              ? script.name
              : `generated run ${script.origin.run} (${script.origin.profile})`,
        };
        break;
      }
    }
    const ms = Math.round(performance.now() - start);
    if (caught === null) {
      outcomes.push({
        name: mutant.name,
        module: mutant.module,
        plants: mutant.plants,
        caught: false,
        invariant: null,
        runs: made,
        ms,
        caughtBy: null,
        shrunkSteps: null,
        originalSteps: null,
        script: null,
        traceHash: null,
      });
    } else {
      const failed = failedInvariants(caught.report);
      const invariant = (failed.find((f) => f === mutant.catchBy) ?? failed[0]) as InvariantName;
      const cx = await minimise(caught.script, [invariant], {
        integration,
        config: broker.config,
        configInput: broker.configInput,
        shrinkRuns,
        saveScript: (script) => saveScript(script, join(outDir, `${mutant.name}.yaml`)),
      });
      outcomes.push({
        name: mutant.name,
        module: mutant.module,
        plants: mutant.plants,
        caught: true,
        invariant,
        runs: made,
        ms,
        caughtBy: caught.by,
        shrunkSteps: cx.steps,
        originalSteps: cx.originalSteps,
        script: cx.script,
        traceHash: cx.traceHash,
      });
    }
    if (!flags.json && term.progress) io.err(`${mutant.name}: ${outcomes.at(-1)?.caught ? 'caught' : 'SURVIVED'}\n`);
  }

  writeFileSync(join(outDir, 'mutants.json'), `${JSON.stringify({ mutants: outcomes }, null, 2)}\n`);
  if (flags.json) {
    io.out(`${JSON.stringify({ mutants: outcomes })}\n`);
  } else {
    const lines = [
      `mtproof mutants: ${selected.length} planted bugs, incidents ${flags.incidents ? 'first' : 'off'}, then up to ${runs} generated runs of ${steps} steps (seed ${flags.seed})`,
    ];
    for (const o of outcomes) {
      lines.push(
        o.caught
          ? `  caught    ${o.name.padEnd(24)} by ${String(o.invariant).padEnd(14)} after ${o.runs} run(s), ${o.ms} ms (${o.caughtBy}); shrunk ${o.originalSteps} → ${o.shrunkSteps} steps: ${o.script}`
          : `  SURVIVED  ${o.name.padEnd(24)} ${o.runs} run(s), ${o.ms} ms: ${o.plants}`,
      );
    }
    const survived = outcomes.filter((o) => !o.caught).length;
    lines.push(`${outcomes.length - survived}/${outcomes.length} caught; results in ${join(outDir, 'mutants.json')}`);
    io.out(`${lines.join('\n')}\n`);
  }
  return outcomes.every((o) => o.caught) ? 0 : 1;
}

function stamp(): string {
  return new Date()
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
}
