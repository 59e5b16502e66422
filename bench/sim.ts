/**
 * Simulator benchmark: in-process Manager-API calls per second through the sim adapters, with the
 * default faults on, and how much faster than real time the workload's virtual time runs.
 * Usage: npm run bench:sim [-- --steps N --seed S --runs R]
 */
import { runWorkload, type WorkloadSummary } from '../adapters/sim/workload.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`bench:sim: --${name} needs a positive integer`);
    process.exit(2);
  }
  return value;
}

const steps = flag('steps', 1_000_000);
const seed = flag('seed', 1);
const runs = flag('runs', 3);

function managerCalls(summary: WorkloadSummary): number {
  let calls = 0;
  for (const [op, n] of Object.entries(summary.operations)) if (!op.startsWith('trade.')) calls += n;
  return calls;
}

type Options = Parameters<typeof runWorkload>[0];

async function measure(label: string, faults: Options['faults'], mix: Options['mix']) {
  // One warm-up run so the JIT has compiled the hot paths before timing.
  await runWorkload({ seed, steps: Math.min(steps, 50_000), faults, mix });
  const rates: number[] = [];
  let last: WorkloadSummary | undefined;
  let wallMs = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const { summary } = await runWorkload({ seed: seed + r, steps, faults, mix });
    const ms = performance.now() - t0;
    rates.push(managerCalls(summary) / (ms / 1000));
    last = summary;
    wallMs = ms;
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)] as number;
  const s = last as WorkloadSummary;
  const faultsFired = Object.values(s.faults).reduce((a, b) => a + b, 0);
  console.log(`${label}`);
  console.log(
    `  manager calls/s (median of ${runs}): ${Math.round(median).toLocaleString('en-US')}   [min ${Math.round(rates[0] as number).toLocaleString('en-US')}, max ${Math.round(rates[rates.length - 1] as number).toLocaleString('en-US')}]`,
  );
  console.log(
    `  calls per run: ${managerCalls(s).toLocaleString('en-US')}   faults fired: ${faultsFired.toLocaleString('en-US')} (${Object.keys(s.faults).length} kinds)`,
  );
  console.log(
    `  virtual time: ${(s.virtualMs / 3_600_000).toFixed(1)} h in ${(wallMs / 1000).toFixed(2)} s wall   compression: ${Math.round(s.virtualMs / wallMs).toLocaleString('en-US')}x`,
  );
  return median;
}

console.log(
  `bench:sim — node ${process.version}, ${steps.toLocaleString('en-US')} steps per run, seeds ${seed}..${seed + runs - 1}`,
);
const withFaults = await measure('integration mix, faults on (defaults, swarm)', {}, 'integration');
const withoutFaults = await measure(
  'integration mix, faults off (peer: same workload, no faults)',
  { intensity: 0, swarm: false },
  'integration',
);
const broad = await measure('broad mix (listings, week-long statements), faults on', {}, 'broad');
console.log(`ratio faults-on / faults-off: ${(withFaults / withoutFaults).toFixed(2)}`);
console.log(`broad / integration: ${(broad / withFaults).toFixed(2)}`);
console.log(`goal >= 500,000 calls/s with faults on (integration mix): ${withFaults >= 500_000 ? 'met' : 'NOT met'}`);
