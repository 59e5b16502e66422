/**
 * Simulator benchmark: in-process Manager-API calls per second with the default faults on, and how much
 * faster than real time the workload's virtual time runs. Prints figures; asserts nothing.
 *
 * Two counts per run: port calls (ManagerApi methods the workload called) and Manager-API requests (what
 * the simulated MT4/MT5 servers handled: an MT4 margin read, for instance, is two requests). Each
 * configuration runs `--runs` times on seeds S..S+runs-1 after one warm-up; the median is reported.
 *
 * Usage: npm run bench:sim [-- --steps N --seed S --runs R]
 */
import { runWorkload, type WorkloadOptions } from '../adapters/sim/workload.ts';
import { flag as benchFlag } from './flags.ts';

function flag(name: string, fallback: number): number {
  return benchFlag('bench:sim', name, fallback);
}

const steps = flag('steps', 1_000_000);
const seed = flag('seed', 1);
const runs = flag('runs', 3);

interface Figures {
  callsPerSec: number;
  requestsPerSec: number;
  compression: number;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(label: string, options: Omit<WorkloadOptions, 'seed' | 'steps'>): Promise<Figures> {
  await runWorkload({ ...options, seed, steps: Math.min(steps, 50_000) });
  const calls: number[] = [];
  const requests: number[] = [];
  const compression: number[] = [];
  let faultKinds = 0;
  let faultsFired = 0;
  let virtualMs = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const { summary, cluster } = await runWorkload({ ...options, seed: seed + r, steps });
    const wallMs = performance.now() - t0;
    let portCalls = 0;
    for (const [op, n] of Object.entries(summary.operations)) if (!op.startsWith('trade.')) portCalls += n;
    calls.push(portCalls / (wallMs / 1000));
    requests.push(cluster.step / (wallMs / 1000));
    compression.push(summary.virtualMs / wallMs);
    faultKinds = Object.keys(summary.faults).length;
    faultsFired = Object.values(summary.faults).reduce((a, b) => a + b, 0);
    virtualMs = summary.virtualMs;
  }
  const figures = { callsPerSec: median(calls), requestsPerSec: median(requests), compression: median(compression) };
  console.log(label);
  console.log(
    `  port calls/s            ${fmt(figures.callsPerSec).padStart(10)}   (runs: ${calls.map(fmt).join(', ')})`,
  );
  console.log(
    `  Manager-API requests/s  ${fmt(figures.requestsPerSec).padStart(10)}   (runs: ${requests.map(fmt).join(', ')})`,
  );
  console.log(
    `  virtual time            ${(virtualMs / 3_600_000).toFixed(1)} h per run, compression ${fmt(figures.compression)}x; ` +
      `faults fired ${fmt(faultsFired)} in ${faultKinds} kinds (last run)`,
  );
  return figures;
}

console.log(
  `bench:sim — node ${process.version}, ${fmt(steps)} steps per run, ${runs} runs (seeds ${seed}..${seed + runs - 1}), ` +
    `exec flags ${process.execArgv.filter((a) => a.startsWith('--max')).join(' ') || '(none)'}`,
);
const day = await measure(
  'broker day (integration mix: money, reads, recent history; pumping on; clients trading), faults on',
  {
    mix: 'integration',
  },
);
const peer = await measure('same broker day, faults off (peer)', {
  mix: 'integration',
  faults: { intensity: 0, swarm: false },
});
const stream = await measure('manager-call stream (integration mix, no pumping subscriber), faults on', {
  mix: 'integration',
  pump: false,
});
const broad = await measure('broad mix (whole-server listings, week-long statements), faults on', { mix: 'broad' });
console.log('ratios');
console.log(`  faults on / faults off (broker day):  ${(day.requestsPerSec / peer.requestsPerSec).toFixed(2)}`);
console.log(`  broker day / manager-call stream:     ${(day.requestsPerSec / stream.requestsPerSec).toFixed(2)}`);
console.log(`  broad mix / broker day:               ${(broad.requestsPerSec / day.requestsPerSec).toFixed(2)}`);
const verdict = (n: number): string => (n >= 500_000 ? 'met' : 'not met');
console.log(
  `goal >= 500,000 Manager-API calls/s with faults on: broker day ${verdict(day.requestsPerSec)} (${fmt(day.requestsPerSec)}), ` +
    `manager-call stream ${verdict(stream.requestsPerSec)} (${fmt(stream.requestsPerSec)})`,
);
