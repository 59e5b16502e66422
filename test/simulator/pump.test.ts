import { describe, expect, it } from 'vitest';
import type { Process } from '../../kit/scheduler.ts';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT4_PUMP, MT4_TRANS, MT5_DEAL_ACTION } from '../../metatrader/constants.ts';
import type { SimCluster } from '../../simulator/cluster.ts';
import type { Mt4ManagerInterface, Mt4TradeRecord } from '../../simulator/mt4.ts';
import type { Mt5ManagerApi } from '../../simulator/mt5.ts';
import {
  clusterConfig,
  faultEvents,
  inProcess,
  MT4,
  MT4_GROUP,
  MT5,
  mt4Account,
  mt4Balance,
  mt4Connected,
  mt5Account,
  mt5Connected,
  quietCluster,
} from './helpers.ts';

/** Pumping: what a subscriber receives under the pump faults and when the connection breaks. */

interface Mt4Pumped {
  code: number;
  type: number;
  comment: string | null;
}

/** An MT4 interface that pumps into `out`; balance records are reported by their comment. */
async function mt4Pump(
  cluster: SimCluster,
  proc: Process,
  out: Mt4Pumped[],
  server = MT4,
): Promise<Mt4ManagerInterface> {
  const pump = await mt4Connected(cluster, proc, server);
  const code = await pump.PumpingSwitchEx((c, type, data) => {
    const record = data !== null && 'cmd' in data ? (data as Mt4TradeRecord) : null;
    out.push({ code: c, type, comment: record !== null && record.cmd === MT4_OP.OP_BALANCE ? record.comment : null });
  });
  if (code !== 0) throw new Error(`PumpingSwitchEx answered ${code}`);
  return pump;
}

/**
 * Lets queued pump deliveries run. They are timers owned by the process that opened the session, so
 * they are dropped once that process has finished: the body must not return before they fire.
 */
async function settle(proc: Process): Promise<void> {
  await proc.sleep(1);
}

function balanceComments(out: readonly Mt4Pumped[]): (string | null)[] {
  return out.filter((e) => e.code === MT4_PUMP.PUMP_UPDATE_TRADES && e.comment !== null).map((e) => e.comment);
}

/** An MT5 client with a sink collecting deal comments and connect/disconnect notices. */
async function mt5Sink(cluster: SimCluster, proc: Process, out: string[]): Promise<Mt5ManagerApi> {
  const mt5 = await mt5Connected(cluster, proc);
  mt5.Subscribe({
    OnConnect: () => out.push('<connect>'),
    OnDisconnect: () => out.push('<disconnect>'),
    OnDealAdd: (deal) => out.push(deal.Comment),
  });
  return mt5;
}

interface Mt4World {
  cluster: SimCluster;
  proc: Process;
  mt4: Mt4ManagerInterface;
  login: number;
}

/**
 * Runs `steps` with an MT4 pump listening on the live server and one account there; returns what the pump
 * received (the deliveries queued by the steps included).
 */
async function mt4Pumped(steps: (w: Mt4World) => Promise<void>, cluster = quietCluster()): Promise<Mt4Pumped[]> {
  const out: Mt4Pumped[] = [];
  await inProcess(cluster, async (proc) => {
    await mt4Pump(cluster, proc, out);
    const mt4 = await mt4Connected(cluster, proc);
    await steps({ cluster, proc, mt4, login: await mt4Account(mt4) });
    await settle(proc);
  });
  return out;
}

interface Mt5World {
  cluster: SimCluster;
  proc: Process;
  mt5: Mt5ManagerApi;
  login: number;
}

/** Runs `steps` with an MT5 sink on the live server and one account there; returns what the sink received. */
async function mt5Sunk(steps: (w: Mt5World) => Promise<void>, cluster = quietCluster()): Promise<string[]> {
  const out: string[] = [];
  await inProcess(cluster, async (proc) => {
    const mt5 = await mt5Sink(cluster, proc, out);
    await steps({ cluster, proc, mt5, login: await mt5Account(mt5) });
    await settle(proc);
  });
  return out;
}

describe('MT4 pumping basics', () => {
  it('starts with PUMP_START_PUMPING and delivers balance operations as PUMP_UPDATE_TRADES / TRANS_ADD', async () => {
    const out = await mt4Pumped(async ({ proc, mt4, login }) => {
      await proc.sleep(1);
      await mt4Balance(mt4, login, 10, 'pumped');
      await proc.sleep(1);
    });
    expect(out[0]).toEqual({ code: MT4_PUMP.PUMP_START_PUMPING, type: 0, comment: null });
    expect(out).toContainEqual({ code: MT4_PUMP.PUMP_UPDATE_USERS, type: MT4_TRANS.TRANS_ADD, comment: null });
    expect(out).toContainEqual({ code: MT4_PUMP.PUMP_UPDATE_TRADES, type: MT4_TRANS.TRANS_ADD, comment: 'pumped' });
  });
});

describe('pumpStall', () => {
  it('events during the stall never arrive; events after it do', async () => {
    const cluster = quietCluster();
    const out = await mt4Pumped(async ({ proc, mt4, login }) => {
      await mt4Balance(mt4, login, 10, 'before');
      await proc.sleep(1);
      cluster.inject(MT4, 'pumpStall', { stallMs: 10_000 });
      await mt4Balance(mt4, login, 1, 'during 1');
      await proc.sleep(9_999);
      await mt4Balance(mt4, login, 1, 'during 2');
      await proc.sleep(1);
      await mt4Balance(mt4, login, 1, 'after');
      await proc.sleep(60_000);
    }, cluster);
    expect(balanceComments(out)).toEqual(['before', 'after']);
    expect(faultEvents(cluster, 'pumpStall').map((e) => e.detail)).toEqual(['10000ms']);
    expect(cluster.trace.events().filter((e) => e.name === 'pump.lost')).toHaveLength(2);
  });

  it('MT5 sinks lose the deals of the stall too', async () => {
    const out = await mt5Sunk(async ({ cluster, proc, mt5, login }) => {
      cluster.inject(MT5, 'pumpStall', { stallMs: 10_000 });
      await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'during');
      await proc.sleep(10_000);
      await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'after');
    });
    expect(out).toEqual(['after']);
  });
});

describe('pumpDuplicate and pumpReorder', () => {
  it('pumpDuplicate: the next pumped event is delivered twice, the following ones once', async () => {
    const cluster = quietCluster();
    const out = await mt4Pumped(async ({ proc, mt4, login }) => {
      await proc.sleep(1);
      cluster.inject(MT4, 'pumpDuplicate');
      await mt4Balance(mt4, login, 1, 'one');
      await proc.sleep(1);
      await mt4Balance(mt4, login, 1, 'two');
    }, cluster);
    expect(balanceComments(out)).toEqual(['one', 'one', 'two']);
    expect(faultEvents(cluster, 'pumpDuplicate')).toHaveLength(1);
  });

  it('pumpReorder: two back-to-back events are delivered in swapped order', async () => {
    const cluster = quietCluster();
    const out = await mt4Pumped(async ({ proc, mt4, login }) => {
      await proc.sleep(1);
      cluster.inject(MT4, 'pumpReorder');
      await mt4Balance(mt4, login, 1, 'one');
      await mt4Balance(mt4, login, 1, 'two');
      await proc.sleep(1);
      await mt4Balance(mt4, login, 1, 'three');
    }, cluster);
    expect(balanceComments(out)).toEqual(['two', 'one', 'three']);
    expect(faultEvents(cluster, 'pumpReorder')).toHaveLength(1);
  });

  it('pumpReorder on MT5: OnDealAdd sees the two deals swapped', async () => {
    const out = await mt5Sunk(async ({ cluster, proc, mt5, login }) => {
      await proc.sleep(1);
      cluster.inject(MT5, 'pumpReorder');
      await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'one');
      await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'two');
    });
    expect(out).toEqual(['two', 'one']);
  });

  it("a pump fault injected for one server hits that server's stream, not the next event of another server", async () => {
    const cluster = quietCluster();
    const mt4Out: Mt4Pumped[] = [];
    const mt5Out: string[] = [];
    await inProcess(cluster, async (proc) => {
      await mt4Pump(cluster, proc, mt4Out);
      const mt4 = await mt4Connected(cluster, proc);
      const mt5 = await mt5Sink(cluster, proc, mt5Out);
      const l4 = await mt4Account(mt4);
      const l5 = await mt5Account(mt5);
      await proc.sleep(1);
      cluster.inject(MT5, 'pumpDuplicate');
      await mt4Balance(mt4, l4, 1, 'mt4 event');
      await proc.sleep(1);
      await mt5.DealerBalance(l5, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'mt5 event');
      await settle(proc);
    });
    expect(balanceComments(mt4Out)).toEqual(['mt4 event']);
    expect(mt5Out).toEqual(['mt5 event', 'mt5 event']);
    expect(faultEvents(cluster, 'pumpDuplicate').map((e) => e.where)).toEqual([MT5]);
  });
});

describe('the pump and a broken connection', () => {
  it('MT4 connectionDrop: the pumping callback receives PUMP_STOP_PUMPING and nothing after it', async () => {
    const cluster = quietCluster();
    const out: Mt4Pumped[] = [];
    const codes: number[] = [];
    await inProcess(cluster, async (proc) => {
      const pump = await mt4Pump(cluster, proc, out);
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4);
      await proc.sleep(1);
      cluster.inject(MT4, 'connectionDrop', { applied: false });
      codes.push(await pump.Ping());
      await proc.sleep(1);
      await mt4Balance(mt4, login, 1, 'after the drop');
      codes.push(pump.IsConnected());
      await settle(proc);
    });
    expect(codes).toEqual([MT4_RET.RET_NO_CONNECT, 0]);
    expect(out.at(-1)).toEqual({ code: MT4_PUMP.PUMP_STOP_PUMPING, type: 0, comment: null });
    expect(balanceComments(out)).toEqual([]);
  });

  it('MT4 restart: every pump of the server receives PUMP_STOP_PUMPING; a pump on another server does not', async () => {
    const cluster = quietCluster();
    const first: Mt4Pumped[] = [];
    const second: Mt4Pumped[] = [];
    const demo: Mt4Pumped[] = [];
    await inProcess(cluster, async (proc) => {
      await mt4Pump(cluster, proc, first);
      await mt4Pump(cluster, proc, second);
      await mt4Pump(cluster, proc, demo, 'mt4-demo');
      const mt4 = await mt4Connected(cluster, proc);
      await proc.sleep(1);
      cluster.inject(MT4, 'restart', { downtimeMs: 5_000, applied: false });
      await mt4.Ping();
      await settle(proc);
    });
    expect(first.map((e) => e.code)).toContain(MT4_PUMP.PUMP_STOP_PUMPING);
    expect(second.map((e) => e.code)).toContain(MT4_PUMP.PUMP_STOP_PUMPING);
    expect(demo.map((e) => e.code)).not.toContain(MT4_PUMP.PUMP_STOP_PUMPING);
  });

  it('MT5 connectionDrop: sinks get OnDisconnect, then OnConnect at the automatic reconnection, and later deals', async () => {
    const codes: number[] = [];
    const out = await mt5Sunk(async ({ cluster, proc, mt5, login }) => {
      await proc.sleep(1);
      cluster.inject(MT5, 'connectionDrop', { applied: false });
      codes.push((await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'lost')).code);
      await proc.sleep(1);
      codes.push((await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'after reconnect')).code);
    });
    expect(codes).toEqual([MT5_RET.MT_RET_ERR_NETWORK, MT5_RET.MT_RET_REQUEST_DONE]);
    expect(out).toEqual(['<disconnect>', '<connect>', 'after reconnect']);
  });
});

describe('pump faults by chance', () => {
  it('with pumpDuplicate at probability 1 every event arrives twice', async () => {
    const out = await mt4Pumped(
      async ({ proc, mt4, login }) => {
        await mt4Balance(mt4, login, 1, 'a');
        await proc.sleep(1);
        await mt4Balance(mt4, login, 1, 'b');
      },
      quietCluster({ faults: { intensity: 0, swarm: false, kinds: { pumpDuplicate: { probability: 1 } } } }),
    );
    expect(balanceComments(out)).toEqual(['a', 'a', 'b', 'b']);
  });
});

describe("pumping and the manager's groups", () => {
  it('MT4: a manager restricted to eu-pro* is not pumped balance records of an eu-std-usd account', async () => {
    const cluster = quietCluster({
      config: clusterConfig((c) => {
        c.servers[0]?.managers.push({ login: 1001, password: 'Pro#1', groups: ['eu-pro*'] });
      }),
    });
    const out: Mt4Pumped[] = [];
    await inProcess(cluster, async (proc) => {
      const pump = await mt4Connected(cluster, proc, MT4, 10_000, { login: 1001, password: 'Pro#1' });
      await pump.PumpingSwitchEx((c, type, data) => {
        const record = data !== null && 'cmd' in data ? (data as Mt4TradeRecord) : null;
        out.push({ code: c, type, comment: record?.comment ?? null });
      });
      const mt4 = await mt4Connected(cluster, proc);
      const std = await mt4Account(mt4, MT4_GROUP);
      const pro = await mt4Account(mt4, 'eu-pro-usd');
      await mt4Balance(mt4, std, 1, 'std deposit');
      await mt4Balance(mt4, pro, 1, 'pro deposit');
      await settle(proc);
    });
    expect(out.filter((e) => e.code === MT4_PUMP.PUMP_UPDATE_TRADES).map((e) => e.comment)).toEqual(['pro deposit']);
  });

  it('MT5: a manager restricted to real\\pro* gets no OnDealAdd for a real\\standard-usd account', async () => {
    const cluster = quietCluster({
      config: clusterConfig((c) => {
        c.servers[1]?.managers.push({ login: 1001, password: 'Pro#1', groups: ['real\\pro*'] });
      }),
    });
    const out: string[] = [];
    await inProcess(cluster, async (proc) => {
      const watcher = await mt5Connected(cluster, proc, MT5, 10_000, { login: 1001, password: 'Pro#1' });
      watcher.Subscribe({ OnDealAdd: (deal) => out.push(deal.Comment) });
      const mt5 = await mt5Connected(cluster, proc);
      const std = await mt5Account(mt5, 'real\\standard-usd');
      const pro = await mt5Account(mt5, 'real\\pro-usd');
      await mt5.DealerBalance(std, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'std deposit');
      await mt5.DealerBalance(pro, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'pro deposit');
      await settle(proc);
    });
    expect(out).toEqual(['pro deposit']);
  });
});
