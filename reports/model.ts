import { failedInvariants } from '../scenarios/certify.ts';
import type { CertifyResult, Evidence, InvariantResult, RunReport, Verdict } from '../scenarios/result.ts';
import { INVARIANT_NAMES, type InvariantName } from '../scenarios/script.ts';

/**
 * What the JUnit and HTML renderers both derive from a `CertifyResult`, so the two never disagree on which
 * invariants an incident missed or which summary stands for an invariant.
 */

/** An invariant of one run that did not reach the verdict its script expects. */
export interface Miss {
  name: InvariantName;
  expected: Verdict;
  got: Verdict;
  summary: string;
  evidence: Evidence[];
}

/** The verdict a run's script expects of an invariant: pass unless it says otherwise. */
function expectedVerdict(run: RunReport, name: InvariantName): Verdict {
  return run.expected[name] ?? 'pass';
}

/**
 * The invariants of a run that missed their expected verdict, as the certification counts them
 * (`failedInvariants`): an unexpected fail, or an incident that expects a catch and did not get it. An
 * unknown where a pass is expected is no miss: the report says what could not be judged, it does not fail it.
 */
export function misses(run: RunReport): Miss[] {
  const failed = new Set(failedInvariants(run));
  return run.invariants
    .filter((inv) => failed.has(inv.name))
    .map((inv) => ({
      name: inv.name,
      expected: expectedVerdict(run, inv.name),
      got: inv.verdict,
      summary: inv.summary,
      evidence: inv.evidence,
    }));
}

/** One line for a miss: `conservation: fail (expected pass) — summary`. */
export function missLine(miss: Miss): string {
  const verdict = miss.expected === 'pass' ? miss.got : `${miss.got} (expected ${miss.expected})`;
  return `${miss.name}: ${verdict} — ${miss.summary}`;
}

/** A run report the result carries in full, with how a reader should call it. */
export interface ShownRun {
  label: string;
  run: RunReport;
}

/** The full run reports of a result: the counterexample's first (it is what a developer opens first). */
function fullRuns(result: CertifyResult): ShownRun[] {
  const out: ShownRun[] = [];
  if (result.counterexample !== null) {
    out.push({ label: `counterexample ${result.counterexample.run.name}`, run: result.counterexample.run });
  }
  for (const run of result.incidentRuns) out.push({ label: `incident ${run.name}`, run });
  return out;
}

/** The run reports the charts draw: the counterexample's if there is one, else every incident's. */
export function chartedRuns(result: CertifyResult): ShownRun[] {
  const runs = fullRuns(result);
  return result.counterexample !== null ? runs.slice(0, 1) : runs;
}

/** Where one invariant's verdict was found: a run's own summary and evidence. */
export interface Finding {
  source: string;
  summary: string;
  evidence: Evidence[];
}

/** An invariant as the reports show it: the overall verdict, and the run results that explain it. */
export interface InvariantView {
  name: InvariantName;
  verdict: Verdict;
  /** One line: the first finding's summary, or what the result says when no full run report explains it. */
  summary: string;
  findings: Finding[];
  /** Indexes of the generated runs that failed it (only summaries of those are in the result). */
  failedGenerated: number[];
}

/**
 * The invariants in INVARIANT_NAMES order. A fail is explained by the runs where it failed unexpectedly (an
 * incident that expects the fail and gets it is a pass of that incident, not a failure of the invariant);
 * an unknown by the runs that could not decide it; a pass by a run where it passed. Runs that expect other
 * than a pass of the invariant are left out, as the certification leaves them out of its verdict.
 */
export function invariantViews(result: CertifyResult): InvariantView[] {
  const runs = fullRuns(result);
  return INVARIANT_NAMES.map((name) => {
    const verdict: Verdict = result.invariants[name] ?? 'unknown';
    const findings: Finding[] = [];
    for (const { label, run } of runs) {
      const inv = run.invariants.find((i) => i.name === name);
      if (inv === undefined || !explains(run, inv, verdict)) continue;
      findings.push({ source: label, summary: inv.summary, evidence: inv.evidence });
      // A pass needs one witness; a fail or an unknown is shown wherever it happened.
      if (verdict === 'pass') break;
    }
    const failedGenerated = result.generated.filter((g) => g.failed.includes(name)).map((g) => g.index);
    return {
      name,
      verdict,
      summary: findings[0]?.summary ?? fallbackSummary(verdict, failedGenerated),
      findings,
      failedGenerated,
    };
  });
}

function explains(run: RunReport, inv: InvariantResult, verdict: Verdict): boolean {
  // As in the certification's aggregate: a run that expects anything but a pass of this invariant (an
  // incident showing a catch) proves nothing about it either way.
  return inv.verdict === verdict && expectedVerdict(run, inv.name) === 'pass';
}

function fallbackSummary(verdict: Verdict, failedGenerated: number[]): string {
  if (verdict === 'fail') {
    return failedGenerated.length > 0
      ? `failed in generated run${failedGenerated.length === 1 ? '' : 's'} ${failedGenerated.map((i) => `#${i}`).join(', ')}`
      : 'failed (no run report in this result explains it)';
  }
  if (verdict === 'unknown') return 'no run decided it';
  return 'held in every run';
}

/** An evidence item on one line: its message, then what a person would look up. */
export function evidenceLine(e: Evidence): string {
  const facts: string[] = [];
  if (e.serverId !== undefined) facts.push(`server ${e.serverId}`);
  if (e.login !== undefined) facts.push(`login ${e.login}`);
  if (e.account !== undefined || e.accountId !== undefined) {
    facts.push(`account ${[e.account, e.accountId].filter((v) => v !== undefined).join(' / ')}`);
  }
  if (e.ref !== undefined) facts.push(`ref ${e.ref}`);
  if (e.ticket !== undefined) facts.push(`ticket ${e.ticket}`);
  if (e.pspRef !== undefined) facts.push(`PSP ref ${e.pspRef}`);
  return facts.length === 0 ? e.message : `${e.message} (${facts.join(', ')})`;
}

/** A time relative to a run's start, as `+h:mm:ss.mmm` (hours unbounded: a broker day runs past 24 h). */
export function relTime(ms: number, withMillis = true): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.round(Math.abs(ms));
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = Math.floor((abs % 60_000) / 1000);
  const base = `${sign}${h}:${pad(m, 2)}:${pad(s, 2)}`;
  return withMillis ? `${base}.${pad(abs % 1000, 3)}` : base;
}

/** Wall milliseconds as JUnit seconds (`12.345`). */
export function seconds(wallMs: number): string {
  return (Math.max(0, wallMs) / 1000).toFixed(3);
}

/** A wall duration for people: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function duration(wallMs: number): string {
  if (wallMs < 1000) return `${Math.round(wallMs)} ms`;
  if (wallMs < 60_000) return `${(wallMs / 1000).toFixed(1)} s`;
  const s = Math.round(wallMs / 1000);
  return `${Math.floor(s / 60)} min ${pad(s % 60, 2)} s`;
}

/** A count and its noun: `1 run`, `3 runs`. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
