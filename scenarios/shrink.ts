import type { Script, Step } from './script.ts';

/**
 * Shrinks a failing script to a small one that still fails the same way, by delta debugging over its
 * steps: remove chunks (halves, quarters, …), then single steps, then shorten waits; keep any change after
 * which the script still fails. The runner skips steps whose entities no longer exist, so every subsequence
 * is a valid script. Deterministic, and bounded by `maxRuns` script runs.
 *
 * fast-check generates the scripts; shrinking is done here rather than by fast-check's own shrinker
 * because a run is a whole broker day: the budget must be in runs, and a removal that breaks the failure
 * should be abandoned after one run, not explored.
 */

export interface ShrinkResult {
  script: Script;
  runs: number;
}

export async function shrinkScript(
  script: Script,
  stillFails: (candidate: Script) => Promise<boolean>,
  maxRuns = 150,
): Promise<ShrinkResult> {
  let steps = script.steps;
  let runs = 0;
  const attempt = async (candidate: Step[]): Promise<boolean> => {
    if (runs >= maxRuns) return false;
    runs++;
    return stillFails({ ...script, steps: candidate });
  };

  // ddmin: try removing each of n chunks; on success keep the rest and coarsen, else refine.
  let n = 2;
  while (steps.length >= 2 && runs < maxRuns) {
    const size = Math.ceil(steps.length / n);
    let removed = false;
    for (let start = 0; start < steps.length && runs < maxRuns; start += size) {
      const candidate = [...steps.slice(0, start), ...steps.slice(start + size)];
      if (await attempt(candidate)) {
        steps = candidate;
        n = Math.max(n - 1, 2);
        removed = true;
        break;
      }
    }
    if (!removed) {
      if (size <= 1) break;
      n = Math.min(n * 2, steps.length);
    }
  }
  // One step at a time, from the end (later steps depend on earlier ones, rarely the reverse).
  for (let i = steps.length - 1; i >= 0 && runs < maxRuns; i--) {
    const candidate = [...steps.slice(0, i), ...steps.slice(i + 1)];
    if (await attempt(candidate)) steps = candidate;
  }
  // Shorter waits make a script easier to read and quicker to replay.
  for (let i = 0; i < steps.length && runs < maxRuns; i++) {
    const step = steps[i] as Step;
    if (step.do !== 'wait' || step.ms <= 1_000) continue;
    const candidate = [...steps];
    candidate[i] = { ...step, ms: Math.max(1_000, Math.round(step.ms / 10)) };
    if (await attempt(candidate)) steps = candidate;
  }
  return { script: { ...script, steps }, runs };
}
