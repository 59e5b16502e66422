import { failedInvariants } from '../../scenarios/certify.ts';
import type {
  CertifyResult,
  ChecklistItem,
  InvariantResult,
  RunReport,
  SeriesPoint,
  TimelineEntry,
} from '../../scenarios/result.ts';
import { INVARIANT_NAMES, type InvariantName } from '../../scenarios/script.ts';

/**
 * CertifyResult fixtures shaped like what `mtproof certify` produces: a passing certification, and a failing
 * one (a no-lag mutant that double-posts after a lost answer) with a shrunk counterexample whose run has a
 * two-account money timeline and chart series. Each call builds a fresh object, so a test may mutate it.
 */

/** 2025-03-03T09:00:00Z: the virtual start of every fixture run. */
export const T0 = Date.UTC(2025, 2, 3, 9, 0, 0);

const SHA = '3f6a1c2be0d94f7a8e5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b';

function passing(name: InvariantName, summary: string): InvariantResult {
  return { name, verdict: 'pass', summary, evidence: [] };
}

/** Every invariant passing, with the summaries the harness writes. */
function allPass(): InvariantResult[] {
  const summaries: Record<InvariantName, string> = {
    'exactly-once': '6 transfers, each posted once',
    conservation: '2 accounts: balances equal opening + postings + trades + dealer edits',
    routing: '2 accounts on the server and group their product maps to',
    gating: 'no money or live account before KYC approval; no withdrawal above free margin',
    reconciliation: '0 discrepancies caused, 0 reported',
    audit: '41 server calls, all audited; no secret in logs',
    liveness: 'every accepted transfer settled within the heal deadline',
    'trade-sync': '3 trade events on the bus, none missing',
  };
  return INVARIANT_NAMES.map((n) => passing(n, summaries[n]));
}

interface RunOptions {
  name: string;
  seed: string;
  steps: number;
  durationMs: number;
  invariants?: InvariantResult[];
  expected?: RunReport['expected'];
  faults?: SeriesPoint[];
  operations?: SeriesPoint[];
  timeline?: TimelineEntry[];
  profile?: string;
  wallMs?: number;
}

function run(o: RunOptions): RunReport {
  const invariants = o.invariants ?? allPass();
  const expected = o.expected ?? {};
  const faults = o.faults ?? [];
  const operations = o.operations ?? [];
  const managerCalls: Record<string, Record<string, number>> = {};
  for (const p of operations) {
    const byOp = managerCalls[p.name] ?? {};
    byOp[p.outcome ?? 'ok'] = (byOp[p.outcome ?? 'ok'] ?? 0) + 1;
    managerCalls[p.name] = byOp;
  }
  const faultCounts: Record<string, number> = {};
  for (const p of faults) faultCounts[p.name] = (faultCounts[p.name] ?? 0) + 1;
  const report: RunReport = {
    name: o.name,
    seed: o.seed,
    ...(o.profile === undefined ? {} : { profile: o.profile }),
    steps: o.steps,
    verdict: 'pass',
    invariants,
    expected,
    traceHash: hashOf(o.name),
    startMs: T0,
    endMs: T0 + o.durationMs,
    wallMs: o.wallMs ?? 420,
    stats: {
      commands: o.steps,
      skipped: 0,
      crashes: 0,
      accounts: 2,
      transfers: 4,
      managerCalls,
      faults: faultCounts,
    },
    series: { faults, operations },
    timeline: o.timeline ?? [],
  };
  // As the runner decides it: a run fails when an invariant misses the verdict its script expects.
  report.verdict = failedInvariants(report).length > 0 ? 'fail' : 'pass';
  return report;
}

/** A stable 16-hex-digit stand-in for a trace hash. */
function hashOf(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of text) h = ((h ^ BigInt(ch.codePointAt(0) as number)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

const op = (atSec: number, name: string, outcome: string, serverId = 'live-mt5'): SeriesPoint => ({
  atMs: T0 + atSec * 1000,
  serverId,
  name,
  outcome,
});
const fault = (atSec: number, name: string, serverId = 'live-mt5'): SeriesPoint => ({
  atMs: T0 + atSec * 1000,
  serverId,
  name,
});

function checklist(failing: boolean): ChecklistItem[] {
  return [
    {
      item: 'Server access',
      verdict: 'pass',
      detail: 'manager logins connect to live-mt5, live-mt4 and demo-mt5 with the rights the integration needs',
      basis: ['audit', 'config check: servers'],
    },
    {
      item: 'CRM-to-group mapping',
      verdict: 'pass',
      detail: 'every product maps to one group per jurisdiction; no live account opened on a demo server',
      basis: ['routing'],
    },
    {
      item: 'KYC-linked trading permissions',
      verdict: 'pass',
      detail: 'no live account and no deposit before KYC approval',
      basis: ['gating'],
    },
    {
      item: 'Payment flow rules',
      verdict: failing ? 'fail' : 'pass',
      detail: failing
        ? 'a deposit was posted twice after a lost answer: the integration retried without looking at the history'
        : 'every transfer posted exactly once, through lost answers, restarts and lagging history',
      basis: ['exactly-once', 'conservation', 'reconciliation', 'liveness'],
    },
    {
      item: 'Trade data setup',
      verdict: failing ? 'unknown' : 'pass',
      detail: failing ? 'no run traded while the bus was up: not decided' : 'trade events reach the bus once each',
      basis: ['trade-sync'],
    },
  ];
}

/** A certification where everything held: 3 generated runs, 2 incidents with charts. */
export function passingResult(): CertifyResult {
  const lostAnswer = run({
    name: 'lost-answer-deposit',
    seed: 'inc-lost-answer',
    steps: 9,
    durationMs: 7_260_000,
    faults: [fault(65, 'timeoutAfterApply'), fault(1800, 'historyLag')],
    operations: [
      op(1, 'createAccount', 'ok'),
      op(60, 'balanceHistory', 'ok'),
      op(65, 'postBalance', 'unknown'),
      op(95, 'balanceHistory', 'ok'),
      op(3600, 'balanceHistory', 'ok'),
    ],
  });
  const restart = run({
    name: 'server-restart-mid-withdrawal',
    seed: 'inc-restart',
    steps: 11,
    durationMs: 3_600_000,
    faults: [fault(120, 'restart', 'live-mt4')],
    operations: [
      op(2, 'createAccount', 'ok', 'live-mt4'),
      op(110, 'marginLevel', 'ok', 'live-mt4'),
      op(121, 'postBalance', 'unavailable', 'live-mt4'),
      op(160, 'postBalance', 'unavailable', 'live-mt4'),
      op(240, 'balanceHistory', 'ok', 'live-mt4'),
      op(241, 'postBalance', 'ok', 'live-mt4'),
    ],
  });
  return {
    tool: { name: 'mtproof', version: '0.1.0' },
    verdict: 'pass',
    seed: '20250303',
    runs: 3,
    steps: 200,
    shard: null,
    integration: { module: 'mtproof', name: 'mtproof reference integration' },
    config: { path: 'examples/broker.yaml', sha256: SHA },
    startedAt: '2025-03-03T09:00:00.000Z',
    wallMs: 12_840,
    invariants: Object.fromEntries(INVARIANT_NAMES.map((n) => [n, 'pass'])) as CertifyResult['invariants'],
    incidents: { 'lost-answer-deposit': 'pass', 'server-restart-mid-withdrawal': 'pass' },
    incidentRuns: [lostAnswer, restart],
    generated: [0, 1, 2].map((index) => ({
      index,
      seed: `20250303-${index}`,
      profile: ['mild', 'heavy', 'lost-answers'][index] as string,
      steps: 200,
      verdict: 'pass' as const,
      failed: [],
      traceHash: hashOf(`generated-${index}`),
      wallMs: 3_100 + index * 250,
    })),
    checklist: checklist(false),
    counterexample: null,
    out: null,
  };
}

/** The counterexample run's timeline: two accounts, each request → server-op → lost-answer → retry → reconciliation. */
function counterexampleTimeline(): TimelineEntry[] {
  const at = (sec: number) => T0 + sec * 1000;
  return [
    { atMs: at(0), kind: 'phase', text: 'safety phase: steps with faults' },
    { atMs: at(5), kind: 'request', text: 'deposit a1 50000 (psp_a1_1)', account: 'a1' },
    { atMs: at(6), kind: 'request', text: 'deposit a2 25000 (psp_a2_1)', account: 'a2' },
    { atMs: at(10), kind: 'fault', text: 'timeoutAfterApply armed on live-mt5 for postBalance' },
    {
      atMs: at(12),
      kind: 'server-op',
      text: 'manager balance 50000 "mtp:T-0001" applied, ticket 700001',
      account: 'a1',
      serverId: 'live-mt5',
      login: 5_000_101,
      ref: 'T-0001',
    },
    {
      atMs: at(42),
      kind: 'lost-answer',
      text: 'postBalance balance 50000 "mtp:T-0001": no answer (unknown (MT_RET_REQUEST_TIMEOUT))',
      account: 'a1',
      serverId: 'live-mt5',
      login: 5_000_101,
      ref: 'T-0001',
    },
    {
      atMs: at(14),
      kind: 'server-op',
      text: 'manager balance 25000 "mtp:T-0002" applied, ticket 700002',
      account: 'a2',
      serverId: 'live-mt5',
      login: 5_000_102,
      ref: 'T-0002',
    },
    {
      atMs: at(44),
      kind: 'lost-answer',
      text: 'postBalance balance 25000 "mtp:T-0002": no answer (unknown (MT_RET_REQUEST_TIMEOUT))',
      account: 'a2',
      serverId: 'live-mt5',
      login: 5_000_102,
      ref: 'T-0002',
    },
    { atMs: at(60), kind: 'crash', text: 'integration killed; restart in 5000 ms' },
    { atMs: at(65), kind: 'restart', text: 'integration started again (incarnation 2)' },
    {
      atMs: at(72),
      kind: 'retry',
      text: 'sent again: postBalance balance 50000 "mtp:T-0001"',
      account: 'a1',
      serverId: 'live-mt5',
      login: 5_000_101,
      ref: 'T-0001',
    },
    {
      atMs: at(74),
      kind: 'retry',
      text: 'sent again: postBalance balance 25000 "mtp:T-0002"',
      account: 'a2',
      serverId: 'live-mt5',
      login: 5_000_102,
      ref: 'T-0002',
    },
    {
      atMs: at(3_700),
      kind: 'reconciliation',
      text: 'final reconciliation: duplicate-posting: T-0001 posted twice (tickets 700001, 700003)',
      account: 'a1',
      serverId: 'live-mt5',
      login: 5_000_101,
      ref: 'T-0001',
    },
    {
      atMs: at(3_700),
      kind: 'reconciliation',
      text: 'final reconciliation: duplicate-posting: T-0002 posted twice (tickets 700002, 700004)',
      account: 'a2',
      serverId: 'live-mt5',
      login: 5_000_102,
      ref: 'T-0002',
    },
    { atMs: at(3_700), kind: 'reconciliation', text: 'final reconciliation: 2 finding(s)' },
  ];
}

/**
 * A failing certification of a mutant: exactly-once and conservation fail, trade-sync is undecided, one
 * incident misses its catch, one generated run fails, and the counterexample is a 6-step shrunk script.
 * A `<&>"'` summary and a control character come with it, as an integration's error text might.
 */
export function failingResult(): CertifyResult {
  const result = passingResult();
  const failedInvariants: InvariantResult[] = allPass().map((inv): InvariantResult => {
    if (inv.name === 'exactly-once') {
      return {
        name: 'exactly-once',
        verdict: 'fail',
        summary: '2 references posted twice',
        evidence: [
          {
            message: 'T-0001 posted twice (tickets 700001, 700003)',
            serverId: 'live-mt5',
            login: 5_000_101,
            account: 'a1',
            accountId: 'acc_01',
            ref: 'T-0001',
            ticket: 700_003,
          },
          {
            message: 'T-0002 posted twice (tickets 700002, 700004)',
            serverId: 'live-mt5',
            login: 5_000_102,
            account: 'a2',
            accountId: 'acc_02',
            ref: 'T-0002',
            ticket: 700_004,
            pspRef: 'psp_a2_1',
          },
        ],
      };
    }
    if (inv.name === 'conservation') {
      return {
        name: 'conservation',
        verdict: 'fail',
        summary: 'balance <server> & ledger differ: "a1" is 500.00 over, \'a2\' 250.00 over\u0007',
        evidence: [
          { message: 'a1: server 1000.00, expected 500.00', serverId: 'live-mt5', login: 5_000_101, account: 'a1' },
        ],
      };
    }
    if (inv.name === 'trade-sync') {
      return { name: 'trade-sync', verdict: 'unknown', summary: 'no trade while the bus was up', evidence: [] };
    }
    return inv;
  });
  const ceRun = run({
    name: 'shrunk-20250303-1',
    seed: '20250303-1',
    profile: 'lost-answers',
    steps: 6,
    durationMs: 3_720_000,
    invariants: failedInvariants,
    timeline: counterexampleTimeline(),
    faults: [fault(10, 'timeoutAfterApply'), fault(12, 'timeoutAfterApply'), fault(30, 'historyLag')],
    operations: [
      op(1, 'createAccount', 'ok'),
      op(2, 'createAccount', 'ok'),
      op(12, 'postBalance', 'unknown'),
      op(14, 'postBalance', 'unknown'),
      op(20, 'marginLevel', 'rejected'),
      op(50, 'balanceHistory', 'unavailable'),
      op(72, 'postBalance', 'ok'),
      op(74, 'postBalance', 'ok'),
      op(3_700, 'balanceHistory', 'ok'),
      op(3_700, 'balanceHistory', 'ok'),
    ],
    wallMs: 380,
  });
  const missedIncident = run({
    name: 'lost-answer-lagging-history',
    seed: 'inc-lag',
    steps: 8,
    durationMs: 7_200_000,
    invariants: failedInvariants.map((i) => (i.name === 'trade-sync' ? passing('trade-sync', 'no trade events') : i)),
    faults: [fault(65, 'timeoutAfterApply'), fault(66, 'historyLag')],
    operations: [op(65, 'postBalance', 'unknown'), op(95, 'balanceHistory', 'ok'), op(96, 'postBalance', 'ok')],
  });
  // An incident that shows a catch: the dealer edit must be found, and it is (a pass of the incident).
  const dealerEdit = run({
    name: 'dealer-edit-caught',
    seed: 'inc-dealer',
    steps: 5,
    durationMs: 600_000,
    invariants: allPass().map((i) =>
      i.name === 'reconciliation'
        ? { ...i, verdict: 'fail', summary: '1 dealer edit reported as unexplained', evidence: [] }
        : i,
    ),
    expected: { reconciliation: 'fail' },
  });
  return {
    ...result,
    verdict: 'fail',
    integration: { module: './mutants/no-lag-rule.ts', name: 'no-lag-rule mutant' },
    invariants: {
      ...result.invariants,
      'exactly-once': 'fail',
      conservation: 'fail',
      'trade-sync': 'unknown',
    },
    incidents: { 'dealer-edit-caught': 'pass', 'lost-answer-lagging-history': 'fail' },
    incidentRuns: [dealerEdit, missedIncident],
    generated: result.generated.map((g) =>
      g.index === 1 ? { ...g, verdict: 'fail', failed: ['exactly-once', 'conservation'] } : g,
    ),
    checklist: checklist(true),
    counterexample: {
      script: '.mtproof/counterexamples/20250303-1-shrunk.yaml',
      traceHash: ceRun.traceHash,
      seed: '20250303-1',
      steps: 6,
      originalSteps: 200,
      shrinkRuns: 143,
      failed: ['exactly-once', 'conservation'],
      replay: 'npx mtproof replay .mtproof/counterexamples/20250303-1-shrunk.yaml',
      run: ceRun,
    },
    out: 'reports/out',
  };
}

/** The accounts of the counterexample timeline and their entries, in time order, as the report must show them. */
export function laneEntries(result: CertifyResult, account: string | undefined): TimelineEntry[] {
  const run = result.counterexample?.run;
  if (run === undefined) return [];
  return run.timeline.filter((e) => e.account === account).sort((x, y) => x.atMs - y.atMs);
}
