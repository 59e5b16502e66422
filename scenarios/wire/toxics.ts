import type { Random } from '../../kit/random.ts';
import type { FaultProxy } from '../../simulator/proxy/proxy.ts';
import type { Disturbance } from './run.ts';

/**
 * Toxic episodes on the fault proxies in front of the simulator: each a toxic (latency, resets, a slow close, a
 * thin pipe) added on one proxy before one operation and removed a few operations later, all drawn from `random`.
 */

const TOXICS = [
  { type: 'latency', attributes: { latencyMs: 150, jitterMs: 100 }, direction: 'both' },
  { type: 'reset', attributes: { afterBytes: 0, delayMs: 20 }, direction: 'downstream', toxicity: 0.3 },
  { type: 'slowClose', attributes: { delayMs: 300 }, direction: 'downstream' },
  { type: 'bandwidth', attributes: { rateBytesPerSec: 20_000 }, direction: 'downstream' },
] as const;

export function toxicEpisodes(
  random: Random,
  proxies: readonly FaultProxy[],
  operations: number,
  episodes: number,
): Disturbance[] {
  const out: Disturbance[] = [];
  if (proxies.length === 0) return out;
  for (let i = 0; i < episodes; i++) {
    const proxy = proxies[random.int(0, proxies.length - 1)] as FaultProxy;
    const toxic = TOXICS[random.int(0, TOXICS.length - 1)] as (typeof TOXICS)[number];
    const from = random.int(0, Math.max(0, operations - 2));
    const until = Math.min(operations - 1, from + random.int(1, 8));
    const name = `${toxic.type}-${i}`;
    out.push({
      atOp: from,
      kind: `toxic ${toxic.type} on ${proxy.name}`,
      run: async () => {
        proxy.addToxic({ name, toxicity: 1, enabled: true, ...toxic } as Parameters<FaultProxy['addToxic']>[0]);
      },
    });
    out.push({
      atOp: until,
      kind: 'toxic removed',
      run: async () => {
        if (proxy.toxics().some((t) => t.name === name)) proxy.removeToxic(name);
      },
    });
  }
  return out;
}
