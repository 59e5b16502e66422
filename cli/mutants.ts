import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MtproofError } from '../kit/errors.ts';
import { failedInvariants, firstCatch, loadIncidents, minimise } from '../scenarios/certify.ts';
import { MUTANTS } from '../scenarios/mutants/index.ts';
import type { InvariantName } from '../scenarios/script.ts';
import { count, reportDir, saveScript, type Terminal } from './certify.ts';
import { readBroker } from './config-files.ts';
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
  const outDir = reportDir(term.cwd, flags.out, 'mutants-');
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
    const start = performance.now();
    const { runs: made, caught } = await firstCatch({
      integration: mutant,
      config: broker.config,
      incidents,
      seed: flags.seed,
      runs,
      steps,
    });
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
      // The invariant its entry says should catch it, when that is one that did.
      const invariant = (failed.find((f) => mutant.catchBy.includes(f)) ?? failed[0]) as InvariantName;
      const cx = await minimise(caught.script, [invariant], {
        integration: mutant,
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
