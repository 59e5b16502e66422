import { describe, expect, it } from 'vitest';
import type { Process } from '../../kit/scheduler.ts';
import type { SimCluster } from '../../simulator/cluster.ts';
import { FAULT_KINDS, type FaultKind } from '../../simulator/faults.ts';
import { Mt4ManagerInterface } from '../../simulator/mt4.ts';
import { faultEvents, inProcess, MT4, mt4Account, mt4Balance, mt4Connected, quietCluster } from './helpers.ts';

/** Every fault that fires is written to the trace as a 'fault' event named after its kind. */

type Trigger = (cluster: SimCluster, proc: Process) => Promise<void>;

/** A request fault fires on the next request to the server. */
const onNextRequest =
  (kind: FaultKind, params: Record<string, number | boolean> = {}): Trigger =>
  async (cluster, proc) => {
    const mt4 = await mt4Connected(cluster, proc);
    const login = await mt4Account(mt4);
    cluster.inject(MT4, kind, params);
    await mt4Balance(mt4, login, 1, kind);
  };

/** A server fault fires at once; the dealer kinds need an account to act on. */
const atOnce =
  (kind: FaultKind): Trigger =>
  async (cluster, proc) => {
    const mt4 = await mt4Connected(cluster, proc);
    await mt4Account(mt4, 'eu-std-usd', 1_000_00);
    cluster.inject(MT4, kind);
  };

/** A pump fault fires on the next pumped event(s). */
const onPumpedEvents =
  (kind: FaultKind): Trigger =>
  async (cluster, proc) => {
    const pump = await mt4Connected(cluster, proc);
    await pump.PumpingSwitchEx(() => {});
    const mt4 = await mt4Connected(cluster, proc);
    const login = await mt4Account(mt4);
    await proc.sleep(1);
    cluster.inject(MT4, kind);
    await mt4Balance(mt4, login, 1, 'one');
    await mt4Balance(mt4, login, 1, 'two');
    await proc.sleep(1);
  };

const TRIGGERS: Record<FaultKind, Trigger> = {
  timeoutBeforeApply: onNextRequest('timeoutBeforeApply'),
  timeoutAfterApply: onNextRequest('timeoutAfterApply'),
  connectionDrop: onNextRequest('connectionDrop'),
  silentLogout: onNextRequest('silentLogout'),
  restart: onNextRequest('restart', { downtimeMs: 1_000 }),
  tooFrequent: onNextRequest('tooFrequent'),
  latency: onNextRequest('latency'),
  permissionDenied: onNextRequest('permissionDenied'),
  historyLag: atOnce('historyLag'),
  pumpStall: atOnce('pumpStall'),
  pumpDuplicate: onPumpedEvents('pumpDuplicate'),
  pumpReorder: onPumpedEvents('pumpReorder'),
  dealerBalanceEdit: atOnce('dealerBalanceEdit'),
  dealerGroupChange: atOnce('dealerGroupChange'),
  dealerDisable: atOnce('dealerDisable'),
  dealerLeverageChange: atOnce('dealerLeverageChange'),
  clockSkew: atOnce('clockSkew'),
  timezoneShift: atOnce('timezoneShift'),
};

describe('the trace of fired faults', () => {
  it('has a trigger for every fault kind (a new kind needs a trace test)', () => {
    expect(Object.keys(TRIGGERS).sort()).toEqual([...FAULT_KINDS].sort());
  });

  it.each([...FAULT_KINDS])('%s appears once as a fault event named after it, on the server it hit', async (kind) => {
    const cluster = quietCluster();
    await inProcess(cluster, (proc) => TRIGGERS[kind](cluster, proc));
    const events = faultEvents(cluster, kind);
    expect(events).toHaveLength(1);
    expect(events[0]?.where).toBe(MT4);
    // No other kind fired by accident.
    expect(faultEvents(cluster).map((e) => e.name)).toEqual([kind]);
  });

  it('request faults are traced at the instant the request was sent', async () => {
    const cluster = quietCluster();
    const sentAt = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      await proc.sleep(1_234);
      cluster.inject(MT4, 'timeoutBeforeApply');
      const at = proc.nowMs();
      await mt4.Ping();
      return at;
    });
    expect(faultEvents(cluster, 'timeoutBeforeApply').map((e) => e.atMs)).toEqual([sentAt]);
  });

  it('random faults are traced too: a run with every request faulted traces one fault per request', async () => {
    const cluster = quietCluster({
      faults: { intensity: 0, swarm: false, kinds: { tooFrequent: { probability: 1 } } },
    });
    const codes = await inProcess(cluster, async (proc) => {
      const mt4 = new Mt4ManagerInterface(cluster, { clock: proc });
      await mt4.Connect(MT4);
      const out: number[] = [];
      for (let i = 0; i < 5; i++) out.push(await mt4.Login(1000, 'Manager#1'));
      return out;
    });
    expect(codes).toEqual([8, 8, 8, 8, 8]);
    expect(faultEvents(cluster, 'tooFrequent')).toHaveLength(5);
  });
});
