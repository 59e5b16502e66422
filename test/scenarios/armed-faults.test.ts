import { describe, expect, it } from 'vitest';
import { createSimManagerApi } from '../../adapters/sim/index.ts';
import { ArmedFaults, type ManagerCall } from '../../scenarios/armed-faults.ts';
import { inProcess, MANAGER, MANAGER_PASSWORD, MT4, MT5, quietCluster, TIMEOUT_MS } from '../simulator/helpers.ts';

/** One-shot faults armed for a ManagerApi operation: they fire on that operation's next call, once. */

describe('ArmedFaults', () => {
  it('fires a fault on the next call of its operation on its server only, once, whatever comes before', async () => {
    const cluster = quietCluster();
    const armed = new ArmedFaults(cluster);
    const calls: string[] = [];
    const record = (call: ManagerCall) => calls.push(`${call.serverId} ${call.op}`);
    const outcomes = await inProcess(cluster, async (proc) => {
      const mt4 = armed.wrap(createSimManagerApi(cluster, MT4, { clock: proc, timeoutMs: TIMEOUT_MS }), record);
      const mt5 = armed.wrap(createSimManagerApi(cluster, MT5, { clock: proc, timeoutMs: TIMEOUT_MS }), record);
      const credentials = { login: MANAGER, password: MANAGER_PASSWORD };
      armed.arm(MT4, 'serverTime', 'tooFrequent');
      const outcome = async (result: Promise<{ ok: boolean; error?: { outcome: string } }>) => {
        const r = await result;
        return r.ok ? 'ok' : r.error?.outcome;
      };
      return [
        await outcome(mt4.connect(credentials)),
        await outcome(mt5.connect(credentials)),
        await outcome(mt4.ping()),
        // Another server's call of the operation does not take the fault.
        await outcome(mt5.serverTime()),
        await outcome(mt4.serverTime()),
        await outcome(mt4.serverTime()),
      ];
    });
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'unavailable', 'ok']);
    expect(calls).toEqual([
      `${MT4} connect`,
      `${MT5} connect`,
      `${MT4} ping`,
      `${MT5} serverTime`,
      `${MT4} serverTime`,
      `${MT4} serverTime`,
    ]);
  });

  it('drops the faults that have not fired when cleared', async () => {
    const cluster = quietCluster();
    const armed = new ArmedFaults(cluster);
    armed.arm(MT4, 'ping', 'tooFrequent');
    armed.clear();
    const ok = await inProcess(cluster, async (proc) => {
      const api = armed.wrap(createSimManagerApi(cluster, MT4, { clock: proc, timeoutMs: TIMEOUT_MS }));
      await api.connect({ login: MANAGER, password: MANAGER_PASSWORD });
      return (await api.ping()).ok;
    });
    expect(ok).toBe(true);
  });
});
