/**
 * Harness benchmark: generated scenario runs per minute; the virtual-time compression of a 24 h broker day
 * (`--clients` clients onboarding, funding, trading and withdrawing, dealers editing, random faults on)
 * against our integration service; and, per planted bug, the time to catch it. Prints figures; asserts
 * nothing.
 *
 * Usage: npm run bench:scenarios [-- --runs N --steps N --clients N --seed S --skip-day --skip-mutants]
 */
import { failedInvariants, firstCatch, type Incident, loadIncidents } from '../scenarios/certify.ts';
import { generateScript, safetyFaults } from '../scenarios/generate.ts';
import { mtproofIntegration } from '../scenarios/integrations/mtproof.ts';
import { MUTANTS } from '../scenarios/mutants/index.ts';
import { runScript } from '../scenarios/runner.ts';
import { parseScript, type Script, type StepInput } from '../scenarios/script.ts';
import { DEFAULT_BROKER_CONFIG, parseBrokerConfig } from '../service/index.ts';
import { flag as benchFlag } from './flags.ts';

function flag(name: string, fallback: number): number {
  return benchFlag('bench:scenarios', name, fallback);
}

const runs = flag('runs', 8);
const steps = flag('steps', 300);
const clients = flag('clients', 10_000);
const seed = String(flag('seed', 1));
const config = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
const DAY_MS = 86_400_000;

// 1. Generated runs per minute (every profile in turn), against our service.
{
  const start = performance.now();
  let virtualMs = 0;
  let failed = 0;
  for (let run = 0; run < runs; run++) {
    const script = generateScript({ seed, run, steps });
    const { report } = await runScript(script, { factory: mtproofIntegration(), config, detail: false });
    virtualMs += report.endMs - report.startMs;
    if (report.verdict === 'fail') failed++;
  }
  const wallMs = performance.now() - start;
  console.log(
    `scenario runs: ${runs} runs of ${steps} steps in ${(wallMs / 1000).toFixed(1)} s = ${((runs * 60_000) / wallMs).toFixed(1)} runs/min ` +
      `(${(virtualMs / runs / 3_600_000).toFixed(1)} h virtual per run, ${failed} failed)`,
  );
}

// 2. A 24 h broker day with `clients` clients and faults on.
if (!process.argv.includes('--skip-day')) {
  const script = brokerDay(clients);
  const start = performance.now();
  const { report } = await runScript(script, { factory: mtproofIntegration(), config, detail: false });
  const wallMs = performance.now() - start;
  const virtualMs = report.endMs - report.startMs;
  const calls = Object.values(report.stats.managerCalls).reduce(
    (sum, byOutcome) => sum + Object.values(byOutcome).reduce((a, b) => a + b, 0),
    0,
  );
  const faults = Object.values(report.stats.faults).reduce((a, b) => a + b, 0);
  console.log(
    `broker day: ${clients} clients, ${script.steps.length} steps, ${report.stats.transfers} transfers, ${calls} Manager API calls, ${faults} faults; ` +
      `${(virtualMs / 3_600_000).toFixed(1)} h virtual in ${(wallMs / 1000).toFixed(1)} s wall = ${Math.round(virtualMs / wallMs)}x real time ` +
      `(goal >= 10000x); verdict ${report.verdict}${report.verdict === 'fail' ? ` (${failedInvariants(report).join(', ')})` : ''}; ` +
      `heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`,
  );
}

// 3. Per planted bug: runs and wall time until an invariant catches it, with the incidents first and, to see
// how long the random broker days alone take to find each bug, with generated runs only.
if (!process.argv.includes('--skip-mutants')) {
  const library = loadIncidents();
  for (const [label, incidents] of [
    ['', library],
    [' generated runs only:', []],
  ] as [string, Incident[]][]) {
    for (const mutant of MUTANTS) {
      const start = performance.now();
      const { runs: made, caught } = await firstCatch({
        integration: mutant,
        config,
        incidents,
        seed,
        runs: 20,
        steps,
      });
      const ms = performance.now() - start;
      const verdict = caught === null ? (incidents.length > 0 ? 'SURVIVED' : 'not caught') : 'caught';
      const by = caught === null ? '' : `: ${failedInvariants(caught.report).join('+')} in ${caught.by}`;
      console.log(`mutant ${mutant.name.padEnd(24)}${label} ${verdict} after ${made} run(s), ${ms.toFixed(0)} ms${by}`);
    }
  }
}

/**
 * A day of `n` clients spread over 24 h: each registers, most pass KYC and open an account (EU and other
 * countries, live and demo), fund it by card, some trade, some withdraw; dealers edit a few balances;
 * random faults on all day (swarm).
 */
function brokerDay(n: number): Script {
  const countries = ['DE', 'FR', 'IT', 'ES', 'GB', 'AE', 'ZA', 'TH', 'BR', 'AU'];
  const products = ['eu-classic', 'pro', 'global-standard', 'islamic', 'demo-standard'];
  const stepsOut: StepInput[] = [];
  const gapMs = Math.max(1, Math.floor(DAY_MS / n));
  for (let i = 0; i < n; i++) {
    const c = `c${i}`;
    const a = `a${i}`;
    const country = countries[i % countries.length] as string;
    const eu = ['DE', 'FR', 'IT', 'ES'].includes(country);
    let product = products[(i * 7) % products.length] as string;
    if (!eu && product === 'eu-classic') product = 'global-standard';
    stepsOut.push({ do: 'client', id: c, country });
    if (i % 10 !== 9) stepsOut.push({ do: 'kyc', client: c, decision: 'approved' });
    stepsOut.push({ do: 'open', id: a, client: c, product });
    stepsOut.push({ do: 'wait', ms: gapMs });
    // Accounts opened earlier in the day are funded, traded and drawn on now.
    const j = i - 5;
    if (j >= 0) {
      const earlier = `a${j}`;
      stepsOut.push({ do: 'deposit', account: earlier, amountCents: 10_000 + ((j * 7919) % 500_000) });
      if (j % 4 === 0) stepsOut.push({ do: 'trade-open', id: `t${j}`, account: earlier, volume: 1 + (j % 20) });
      if (j % 5 === 0) stepsOut.push({ do: 'withdraw', account: earlier, amountCents: 5_000 + (j % 20_000) });
      if (j % 500 === 0)
        stepsOut.push({ do: 'dealer-balance', account: earlier, amountCents: 1_500, comment: 'correction' });
      if (j >= 20 && (j - 20) % 4 === 0) stepsOut.push({ do: 'trade-close', trade: `t${j - 20}` });
    }
  }
  return parseScript({
    mtproof: 'scenario/1',
    name: `broker-day-${n}`,
    seed: `day-${seed}`,
    faults: safetyFaults('busy-monday', `day-${seed}`),
    steps: stepsOut,
  });
}
