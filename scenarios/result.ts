import type { InvariantName } from './script.ts';

/**
 * What a run and a certification produce: plain JSON-able data, the input of every report renderer
 * (reports/) and of `--json`. Times are virtual epoch milliseconds unless named `wall…`.
 */

export type Verdict = 'pass' | 'fail' | 'unknown';

/** One fact behind a verdict, pointing at what a person would look up. */
export interface Evidence {
  message: string;
  serverId?: string;
  login?: number;
  /** The script's id of the account (`a1`) and the integration's. */
  account?: string;
  accountId?: string;
  ref?: string;
  ticket?: number;
  pspRef?: string;
}

export interface InvariantResult {
  name: InvariantName;
  verdict: Verdict;
  /** One line: what was checked and what was found. */
  summary: string;
  /** The facts behind a fail (or an unknown), at most a few dozen. */
  evidence: Evidence[];
}

export type TimelineKind =
  | 'step'
  | 'request'
  | 'answer'
  | 'no-answer'
  | 'server-op'
  | 'call'
  | 'lost-answer'
  | 'retry'
  | 'fault'
  | 'crash'
  | 'restart'
  | 'reconciliation'
  | 'skipped'
  | 'phase';

/** The story of a run, as the report's per-account money timeline tells it. */
export interface TimelineEntry {
  atMs: number;
  kind: TimelineKind;
  text: string;
  /** The script's account id, when the entry concerns one account. */
  account?: string;
  serverId?: string;
  login?: number;
  ref?: string;
}

/** A point of a chart: something happened on a server at a time. */
export interface SeriesPoint {
  atMs: number;
  serverId: string;
  /** A fault kind, or a Manager API operation. */
  name: string;
  /** Operations: ok | rejected | unavailable | unknown; faults: empty. */
  outcome?: string;
}

export interface RunReport {
  name: string;
  seed: string;
  profile?: string;
  steps: number;
  /** pass: every invariant reached its expected verdict (pass unless the script expects otherwise). */
  verdict: 'pass' | 'fail';
  invariants: InvariantResult[];
  /** What the script expected where it is not `pass`. */
  expected: Partial<Record<InvariantName, Verdict>>;
  traceHash: string;
  startMs: number;
  endMs: number;
  wallMs: number;
  stats: {
    commands: number;
    skipped: number;
    crashes: number;
    accounts: number;
    transfers: number;
    managerCalls: Record<string, Record<string, number>>;
    faults: Record<string, number>;
  };
  series: { faults: SeriesPoint[]; operations: SeriesPoint[] };
  timeline: TimelineEntry[];
}

export interface ChecklistItem {
  /** The go-live checklist item (seed article 001). */
  item:
    | 'Server access'
    | 'CRM-to-group mapping'
    | 'KYC-linked trading permissions'
    | 'Payment flow rules'
    | 'Trade data setup';
  verdict: Verdict;
  detail: string;
  /** The invariants and checks it rests on. */
  basis: string[];
}

export interface Counterexample {
  /** Path of the saved script (replayable alone). */
  script: string;
  traceHash: string;
  seed: string;
  steps: number;
  originalSteps: number;
  shrinkRuns: number;
  failed: InvariantName[];
  replay: string;
  run: RunReport;
}

export interface GeneratedRunSummary {
  index: number;
  seed: string;
  profile: string;
  steps: number;
  verdict: 'pass' | 'fail';
  failed: InvariantName[];
  traceHash: string;
  wallMs: number;
}

export interface CertifyResult {
  tool: { name: 'mtproof'; version: string };
  verdict: 'pass' | 'fail';
  seed: string;
  runs: number;
  steps: number;
  shard: { index: number; count: number } | null;
  integration: { module: string; name: string };
  config: { path: string | null; sha256: string };
  startedAt: string;
  wallMs: number;
  /** Over the generated runs and the incidents: fail if any failed unexpectedly, unknown if none decided. */
  invariants: Record<InvariantName, Verdict>;
  /** Incident name → pass (it reached what it expects) or fail. */
  incidents: Record<string, 'pass' | 'fail'>;
  incidentRuns: RunReport[];
  generated: GeneratedRunSummary[];
  checklist: ChecklistItem[];
  counterexample: Counterexample | null;
  /** The folder the reports were written to. */
  out: string | null;
}
