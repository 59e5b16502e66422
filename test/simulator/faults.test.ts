import { describe, expect, it } from 'vitest';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT5_DEAL_ACTION, MT5_DEAL_REASON, MT5_USER_RIGHT } from '../../metatrader/constants.ts';
import { Mt4ManagerInterface } from '../../simulator/mt4.ts';
import { Mt5ManagerApi } from '../../simulator/mt5.ts';
import {
  callEvents,
  faultEvents,
  inProcess,
  MANAGER,
  MANAGER_PASSWORD,
  MT4,
  MT4_GROUP,
  MT5,
  MT5_GROUP,
  mt4Account,
  mt4Balance,
  mt4BalanceOf,
  mt4Connected,
  mt4History,
  mt4User,
  mt5Account,
  mt5BalanceOf,
  mt5Connected,
  mt5Deals,
  quietCluster,
  TIMEOUT_MS,
} from './helpers.ts';

/** Each fault kind's documented effect, injected with `cluster.inject` and observed through the dialects. */

describe('timeoutBeforeApply', () => {
  it('MT4: answers RET_TRADE_TIMEOUT after exactly timeoutMs, applies nothing', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'timeoutBeforeApply');
      const t0 = proc.nowMs();
      const code = await mt4Balance(mt4, login, 50, 'lost before apply');
      const elapsed = proc.nowMs() - t0;
      return { code, elapsed, balance: await mt4BalanceOf(mt4, login), history: await mt4History(mt4, login) };
    });
    expect(r.code).toBe(MT4_RET.RET_TRADE_TIMEOUT);
    expect(r.elapsed).toBe(TIMEOUT_MS);
    expect(r.balance).toBe(100);
    expect(r.history.map((h) => h.comment)).toEqual(['initial deposit']);
  });

  it('MT5: answers MT_RET_ERR_TIMEOUT after exactly timeoutMs, applies nothing', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc, MT5, 7_000);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'timeoutBeforeApply');
      const t0 = proc.nowMs();
      const res = await mt5.DealerBalance(login, 50, MT5_DEAL_ACTION.DEAL_BALANCE, 'lost before apply');
      const elapsed = proc.nowMs() - t0;
      return { res, elapsed, balance: await mt5BalanceOf(mt5, login), deals: await mt5Deals(mt5, login) };
    });
    expect(r.res).toEqual({ code: MT5_RET.MT_RET_ERR_TIMEOUT, dealId: 0 });
    expect(r.elapsed).toBe(7_000);
    expect(r.balance).toBe(100);
    expect(r.deals.map((d) => d.Comment)).toEqual(['initial deposit']);
  });
});

describe('timeoutAfterApply', () => {
  it('MT4: answers RET_TRADE_TIMEOUT, and exactly one operation with the comment is in history', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'timeoutAfterApply');
      const t0 = proc.nowMs();
      const code = await mt4Balance(mt4, login, 25, 'applied then lost');
      const elapsed = proc.nowMs() - t0;
      return { code, elapsed, balance: await mt4BalanceOf(mt4, login), history: await mt4History(mt4, login) };
    });
    expect(r.code).toBe(MT4_RET.RET_TRADE_TIMEOUT);
    expect(r.elapsed).toBe(TIMEOUT_MS);
    expect(r.balance).toBe(125);
    const ops = r.history.filter((h) => h.comment === 'applied then lost');
    expect(ops).toHaveLength(1);
    expect(ops[0]?.profit).toBe(25);
  });

  it('MT5: answers MT_RET_ERR_TIMEOUT, and exactly one deal with the comment is in history', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'timeoutAfterApply');
      const res = await mt5.DealerBalance(login, -30, MT5_DEAL_ACTION.DEAL_BALANCE, 'applied then lost');
      return { res, balance: await mt5BalanceOf(mt5, login), deals: await mt5Deals(mt5, login) };
    });
    expect(r.res.code).toBe(MT5_RET.MT_RET_ERR_TIMEOUT);
    expect(r.balance).toBe(70);
    const deals = r.deals.filter((d) => d.Comment === 'applied then lost');
    expect(deals).toHaveLength(1);
    expect(deals[0]?.Profit).toBe(-30);
  });
});

describe('connectionDrop', () => {
  it.each([true, false])(
    'MT4 applied=%s: RET_NO_CONNECT, applied as asked, IsConnected 0 until Connect+Login',
    async (applied) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        const mt4 = await mt4Connected(cluster, proc);
        const login = await mt4Account(mt4, MT4_GROUP, 100_00);
        cluster.inject(MT4, 'connectionDrop', { applied });
        const code = await mt4Balance(mt4, login, 10, 'in flight at drop');
        const connectedAfter = mt4.IsConnected();
        const next = await mt4.Ping();
        const nextBalanceCall = await mt4.UserRecordsRequest([login]);
        const reconnect = await mt4.Connect(MT4);
        const relogin = await mt4.Login(MANAGER, MANAGER_PASSWORD);
        return {
          code,
          connectedAfter,
          next,
          nextBalanceCall: nextBalanceCall.code,
          reconnect,
          relogin,
          connectedAgain: mt4.IsConnected(),
          balance: await mt4BalanceOf(mt4, login),
          history: await mt4History(mt4, login),
        };
      });
      expect(r.code).toBe(MT4_RET.RET_NO_CONNECT);
      expect(r.connectedAfter).toBe(0);
      expect(r.next).toBe(MT4_RET.RET_NO_CONNECT);
      expect(r.nextBalanceCall).toBe(MT4_RET.RET_NO_CONNECT);
      expect([r.reconnect, r.relogin, r.connectedAgain]).toEqual([0, 0, 1]);
      expect(r.balance).toBe(applied ? 110 : 100);
      expect(r.history.filter((h) => h.comment === 'in flight at drop')).toHaveLength(applied ? 1 : 0);
      expect(faultEvents(cluster, 'connectionDrop').map((e) => e.detail)).toEqual([
        expect.stringContaining(`applied=${applied}`),
      ]);
    },
  );

  it.each([true, false])(
    'MT5 applied=%s: MT_RET_ERR_NETWORK, then the next request reconnects by itself',
    async (applied) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        const mt5 = await mt5Connected(cluster, proc);
        const login = await mt5Account(mt5, MT5_GROUP, 100_00);
        cluster.inject(MT5, 'connectionDrop', { applied });
        const res = await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'in flight at drop');
        const reconnectsBefore = callEvents(cluster, 'Reconnect').length;
        const next = await mt5.UserRequest(login);
        return { res, reconnectsBefore, next, deals: await mt5Deals(mt5, login) };
      });
      expect(r.res.code).toBe(MT5_RET.MT_RET_ERR_NETWORK);
      expect(r.reconnectsBefore).toBe(0);
      expect(callEvents(cluster, 'Reconnect').map((e) => [e.where, e.detail])).toEqual([[MT5, '0']]);
      expect(r.next.code).toBe(MT5_RET.MT_RET_OK);
      expect(r.next.user?.Balance).toBe(applied ? 110 : 100);
      expect(r.deals.filter((d) => d.Comment === 'in flight at drop')).toHaveLength(applied ? 1 : 0);
    },
  );
});

describe('silentLogout', () => {
  it('MT4: IsConnected stays 1 but requests answer RET_NO_CONNECT; nothing applied; Disconnect/Connect/Login heals', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'silentLogout');
      const code = await mt4Balance(mt4, login, 10, 'after silent logout');
      const connected = mt4.IsConnected();
      const ping = await mt4.Ping();
      const users = await mt4.UserRecordsRequest([login]);
      mt4.Disconnect();
      const reconnect = await mt4.Connect(MT4);
      const relogin = await mt4.Login(MANAGER, MANAGER_PASSWORD);
      const ping2 = await mt4.Ping();
      return {
        code,
        connected,
        ping,
        users,
        reconnect,
        relogin,
        ping2,
        balance: await mt4BalanceOf(mt4, login),
        history: await mt4History(mt4, login),
      };
    });
    expect(r.code).toBe(MT4_RET.RET_NO_CONNECT);
    expect(r.connected).toBe(1);
    expect(r.ping).toBe(MT4_RET.RET_NO_CONNECT);
    expect(r.users).toEqual({ code: MT4_RET.RET_NO_CONNECT, records: [] });
    expect([r.reconnect, r.relogin, r.ping2]).toEqual([0, 0, 0]);
    expect(r.balance).toBe(100);
    expect(r.history.filter((h) => h.comment === 'after silent logout')).toHaveLength(0);
  });

  it('MT5: requests answer MT_RET_ERR_CONNECTION and nothing is applied', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'silentLogout');
      const res = await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'after silent logout');
      const next = await mt5.UserRequest(login);
      mt5.Disconnect();
      const reconnect = await mt5.Connect(MT5, MANAGER, MANAGER_PASSWORD);
      return { res, next: next.code, reconnect, balance: await mt5BalanceOf(mt5, login) };
    });
    expect(r.res.code).toBe(MT5_RET.MT_RET_ERR_CONNECTION);
    expect(r.next).toBe(MT5_RET.MT_RET_ERR_CONNECTION);
    expect(r.reconnect).toBe(0);
    expect(r.balance).toBe(100);
  });
});

describe('restart', () => {
  it.each([true, false])(
    'MT4 applied=%s: drops every session of the server, refuses Connect for the downtime, keeps state',
    async (applied) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        const mt4 = await mt4Connected(cluster, proc);
        const other = await mt4Connected(cluster, proc);
        const elsewhere = await mt5Connected(cluster, proc);
        const login = await mt4Account(mt4, MT4_GROUP, 100_00);
        const t0 = proc.nowMs();
        cluster.inject(MT4, 'restart', { downtimeMs: 30_000, applied });
        const code = await mt4Balance(mt4, login, 10, 'in flight at restart');
        const afterRestart = { mine: mt4.IsConnected(), other: other.IsConnected(), otherPing: await other.Ping() };
        const elsewherePing = (await elsewhere.TimeServerRequest()).code;
        const duringDowntime = await mt4.Connect(MT4);
        await proc.sleep(29_999 - (proc.nowMs() - t0));
        const justBefore = await mt4.Connect(MT4);
        await proc.sleep(1);
        const after = await mt4.Connect(MT4);
        const relogin = await mt4.Login(MANAGER, MANAGER_PASSWORD);
        return {
          code,
          afterRestart,
          elsewherePing,
          duringDowntime,
          justBefore,
          after,
          relogin,
          balance: await mt4BalanceOf(mt4, login),
          history: await mt4History(mt4, login),
          users: (await mt4.UsersRequest()).records.map((u) => u.login),
        };
      });
      expect(r.code).toBe(MT4_RET.RET_NO_CONNECT);
      expect(r.afterRestart).toEqual({ mine: 0, other: 0, otherPing: MT4_RET.RET_NO_CONNECT });
      expect(r.elsewherePing).toBe(MT5_RET.MT_RET_OK);
      expect(r.duringDowntime).toBe(MT4_RET.RET_NO_CONNECT);
      expect(r.justBefore).toBe(MT4_RET.RET_NO_CONNECT);
      expect([r.after, r.relogin]).toEqual([0, 0]);
      expect(r.users).toHaveLength(1);
      expect(r.balance).toBe(applied ? 110 : 100);
      expect(r.history.filter((h) => h.comment === 'in flight at restart')).toHaveLength(applied ? 1 : 0);
      expect(faultEvents(cluster, 'restart').map((e) => e.detail)).toEqual([`down 30000ms applied=${applied}`]);
    },
  );

  it.each([true, false])(
    'MT5 applied=%s: MT_RET_ERR_NETWORK, no connection during downtime, reconnects after it',
    async (applied) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        const mt5 = await mt5Connected(cluster, proc);
        const login = await mt5Account(mt5, MT5_GROUP, 100_00);
        cluster.inject(MT5, 'restart', { downtimeMs: 30_000, applied });
        const res = await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'in flight at restart');
        const during = (await mt5.UserRequest(login)).code;
        const fresh = new Mt5ManagerApi(cluster, { clock: proc, timeoutMs: TIMEOUT_MS });
        const freshConnect = await fresh.Connect(MT5, MANAGER, MANAGER_PASSWORD);
        await proc.sleep(30_000);
        const after = await mt5.UserRequest(login);
        return { res, during, freshConnect, after, deals: await mt5Deals(mt5, login) };
      });
      expect(r.res.code).toBe(MT5_RET.MT_RET_ERR_NETWORK);
      expect(r.during).toBe(MT5_RET.MT_RET_ERR_CONNECTION);
      expect(r.freshConnect).toBe(MT5_RET.MT_RET_ERR_CONNECTION);
      expect(r.after.code).toBe(MT5_RET.MT_RET_OK);
      expect(r.after.user?.Balance).toBe(applied ? 110 : 100);
      expect(r.deals.filter((d) => d.Comment === 'in flight at restart')).toHaveLength(applied ? 1 : 0);
    },
  );
});

describe('tooFrequent and permissionDenied', () => {
  it.each([
    ['tooFrequent', MT4_RET.RET_TOO_FREQUENT],
    ['permissionDenied', MT4_RET.RET_NOT_ENOUGH_RIGHTS],
  ] as const)('MT4 %s answers %i and applies nothing', async (kind, expected) => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, kind);
      const code = await mt4Balance(mt4, login, 10, 'refused');
      return { code, balance: await mt4BalanceOf(mt4, login), history: await mt4History(mt4, login) };
    });
    expect(r.code).toBe(expected);
    expect(r.balance).toBe(100);
    expect(r.history.filter((h) => h.comment === 'refused')).toHaveLength(0);
  });

  it.each([
    ['tooFrequent', MT5_RET.MT_RET_ERR_FREQUENT],
    ['permissionDenied', MT5_RET.MT_RET_ERR_PERMISSIONS],
  ] as const)('MT5 %s answers %i and applies nothing', async (kind, expected) => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, kind);
      const res = await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'refused');
      return { res, balance: await mt5BalanceOf(mt5, login), deals: await mt5Deals(mt5, login) };
    });
    expect(r.res.code).toBe(expected);
    expect(r.balance).toBe(100);
    expect(r.deals.filter((d) => d.Comment === 'refused')).toHaveLength(0);
  });
});

describe('latency', () => {
  it('MT4: the answer arrives latencyMs later and the operation is applied', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'latency', { latencyMs: 4_000 });
      const t0 = proc.nowMs();
      const code = await mt4Balance(mt4, login, 10, 'slow');
      return { code, elapsed: proc.nowMs() - t0, balance: await mt4BalanceOf(mt4, login) };
    });
    expect(r).toEqual({ code: 0, elapsed: 4_000, balance: 110 });
  });

  it('MT5: the answer arrives latencyMs later and the deal is applied', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'latency', { latencyMs: 4_000 });
      const t0 = proc.nowMs();
      const res = await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'slow');
      return { code: res.code, elapsed: proc.nowMs() - t0, balance: await mt5BalanceOf(mt5, login) };
    });
    expect(r).toEqual({ code: MT5_RET.MT_RET_REQUEST_DONE, elapsed: 4_000, balance: 110 });
  });

  it('latency above twice the timeout gives the timeout code after timeoutMs, nothing applied', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const mt5 = await mt5Connected(cluster, proc);
      const l4 = await mt4Account(mt4, MT4_GROUP, 100_00);
      const l5 = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT4, 'latency', { latencyMs: 2 * TIMEOUT_MS + 1_000 });
      cluster.inject(MT5, 'latency', { latencyMs: 2 * TIMEOUT_MS + 1_000 });
      const t0 = proc.nowMs();
      const c4 = await mt4Balance(mt4, l4, 10, 'too slow');
      const e4 = proc.nowMs() - t0;
      const t1 = proc.nowMs();
      const c5 = (await mt5.DealerBalance(l5, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'too slow')).code;
      const e5 = proc.nowMs() - t1;
      return { c4, e4, c5, e5, b4: await mt4BalanceOf(mt4, l4), b5: await mt5BalanceOf(mt5, l5) };
    });
    expect(r).toEqual({
      c4: MT4_RET.RET_TRADE_TIMEOUT,
      e4: TIMEOUT_MS,
      c5: MT5_RET.MT_RET_ERR_TIMEOUT,
      e5: TIMEOUT_MS,
      b4: 100,
      b5: 100,
    });
  });
});

describe('historyLag', () => {
  it('MT4: a new operation moves the balance at once but reaches TradesUserHistory only lagMs later', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'historyLag', { lagMs: 20_000, windowMs: 60_000 });
      expect(await mt4Balance(mt4, login, 10, 'lagging')).toBe(0);
      const balance = await mt4BalanceOf(mt4, login);
      const right = (await mt4History(mt4, login)).map((h) => h.comment);
      await proc.sleep(19_999);
      const almost = (await mt4History(mt4, login)).map((h) => h.comment);
      await proc.sleep(1);
      const later = (await mt4History(mt4, login)).map((h) => h.comment);
      return { balance, right, almost, later };
    });
    expect(r.balance).toBe(110);
    expect(r.right).toEqual(['initial deposit']);
    expect(r.almost).toEqual(['initial deposit']);
    expect(r.later).toEqual(['initial deposit', 'lagging']);
  });

  it('MT5: a new deal moves the balance at once but reaches DealRequest only lagMs later; after the window no lag', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'historyLag', { lagMs: 20_000, windowMs: 60_000 });
      await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, 'lagging');
      const balance = await mt5BalanceOf(mt5, login);
      const right = (await mt5Deals(mt5, login)).map((d) => d.Comment);
      await proc.sleep(20_000);
      const later = (await mt5Deals(mt5, login)).map((d) => d.Comment);
      await proc.sleep(40_000);
      await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'after window');
      const afterWindow = (await mt5Deals(mt5, login)).map((d) => d.Comment);
      return { balance, right, later, afterWindow };
    });
    expect(r.balance).toBe(110);
    expect(r.right).toEqual(['initial deposit']);
    expect(r.later).toEqual(['initial deposit', 'lagging']);
    expect(r.afterWindow).toEqual(['initial deposit', 'lagging', 'after window']);
  });
});

describe('dealer faults', () => {
  it('MT4 dealerBalanceEdit with params: an OP_BALANCE record with the comment, balance moved', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      cluster.inject(MT4, 'dealerBalanceEdit', { login, amountCents: -500, comment: 'DP-XYZ' });
      return { balance: await mt4BalanceOf(mt4, login), history: await mt4History(mt4, login) };
    });
    expect(r.balance).toBe(95);
    const edit = r.history.find((h) => h.comment === 'DP-XYZ');
    expect(edit).toMatchObject({ cmd: MT4_OP.OP_BALANCE, profit: -5 });
    expect(faultEvents(cluster, 'dealerBalanceEdit')).toHaveLength(1);
  });

  it('MT5 dealerBalanceEdit with params: a DEAL_CORRECTION deal by the dealer, balance moved', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      cluster.inject(MT5, 'dealerBalanceEdit', { login, amountCents: -500, comment: 'DP-XYZ' });
      return { balance: await mt5BalanceOf(mt5, login), deals: await mt5Deals(mt5, login) };
    });
    expect(r.balance).toBe(95);
    expect(r.deals.find((d) => d.Comment === 'DP-XYZ')).toMatchObject({
      Action: MT5_DEAL_ACTION.DEAL_CORRECTION,
      Profit: -5,
      Reason: MT5_DEAL_REASON.DEAL_REASON_DEALER,
    });
  });

  it.each([MT4, MT5])(
    '%s dealerBalanceEdit without params edits some existing account, visible in history and balance',
    async (server) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        if (server === MT4) {
          const mt4 = await mt4Connected(cluster, proc);
          const login = await mt4Account(mt4, MT4_GROUP, 1_000_00);
          cluster.inject(MT4, 'dealerBalanceEdit');
          const history = await mt4History(mt4, login);
          return {
            balanceCents: Math.round((await mt4BalanceOf(mt4, login)) * 100),
            amounts: history.map((h) => [h.cmd, Math.round(h.profit * 100)]),
          };
        }
        const mt5 = await mt5Connected(cluster, proc);
        const login = await mt5Account(mt5, MT5_GROUP, 1_000_00);
        cluster.inject(MT5, 'dealerBalanceEdit');
        const deals = await mt5Deals(mt5, login);
        return {
          balanceCents: Math.round((await mt5BalanceOf(mt5, login)) * 100),
          amounts: deals.map((d) => [d.Action, Math.round(d.Profit * 100)]),
        };
      });
      expect(r.amounts).toHaveLength(2);
      const [type, amount] = r.amounts[1] as [number, number];
      expect(type).toBe(server === MT4 ? MT4_OP.OP_BALANCE : MT5_DEAL_ACTION.DEAL_CORRECTION);
      expect(Math.abs(amount)).toBeGreaterThanOrEqual(100);
      expect(Math.abs(amount)).toBeLessThanOrEqual(50_000);
      expect(r.balanceCents).toBe(1_000_00 + amount);
      expect(faultEvents(cluster, 'dealerBalanceEdit')).toHaveLength(1);
    },
  );

  it('MT4 dealerGroupChange / dealerDisable / dealerLeverageChange show in UserRecordsRequest', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4);
      const before = await mt4User(mt4, login);
      cluster.inject(MT4, 'dealerGroupChange', { login, group: 'eu-pro-usd' });
      cluster.inject(MT4, 'dealerDisable', { login });
      cluster.inject(MT4, 'dealerLeverageChange', { login, leverage: 200 });
      return { before, after: await mt4User(mt4, login) };
    });
    expect(r.before).toMatchObject({ group: MT4_GROUP, enable: 1, leverage: 30 });
    expect(r.after).toMatchObject({ group: 'eu-pro-usd', enable: 0, leverage: 200 });
  });

  it('MT5 dealer edits without params change the account as UserRequest shows it', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5);
      const before = (await mt5.UserRequest(login)).user;
      cluster.inject(MT5, 'dealerGroupChange');
      cluster.inject(MT5, 'dealerDisable');
      cluster.inject(MT5, 'dealerLeverageChange');
      return { before, after: (await mt5.UserRequest(login)).user };
    });
    expect(r.before?.Group).toBe(MT5_GROUP);
    expect(r.after?.Group).not.toBe(MT5_GROUP);
    expect(r.after?.Group).toMatch(/^real\\/);
    expect((r.after?.Rights ?? 0) & MT5_USER_RIGHT.USER_RIGHT_ENABLED).toBe(0);
    expect(r.after?.Leverage).not.toBe(r.before?.Leverage);
    for (const kind of ['dealerGroupChange', 'dealerDisable', 'dealerLeverageChange']) {
      expect(faultEvents(cluster, kind)).toHaveLength(1);
    }
  });
});

describe('clockSkew and timezoneShift', () => {
  it.each([
    ['clockSkew', { skewMs: 3_600_000 }],
    ['timezoneShift', { shiftMin: 60 }],
  ] as const)('MT4 %s moves ServerTime by an hour; an earlier operation keeps its timestamp', async (kind, params) => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      const t0 = (await mt4.ServerTime()).time;
      cluster.inject(MT4, kind, params);
      const t1 = (await mt4.ServerTime()).time;
      const history = await mt4History(mt4, login);
      const oldWindow = await mt4History(mt4, login, t0 - 60, t0 + 60);
      const newWindow = await mt4History(mt4, login, t1 - 60, t1 + 60);
      return { t0, t1, stamp: history[0]?.close_time, oldWindow: oldWindow.length, newWindow: newWindow.length };
    });
    expect(r.t1 - r.t0).toBe(3_600);
    expect(r.stamp).toBe(r.t0);
    expect(r.oldWindow).toBe(1);
    expect(r.newWindow).toBe(0);
  });

  it.each([
    ['clockSkew', { skewMs: 3_600_000 }],
    ['timezoneShift', { shiftMin: 60 }],
  ] as const)(
    'MT5 %s moves TimeServerRequest by an hour; later deals are stamped in the new time',
    async (kind, params) => {
      const cluster = quietCluster();
      const r = await inProcess(cluster, async (proc) => {
        const mt5 = await mt5Connected(cluster, proc);
        const login = await mt5Account(mt5, MT5_GROUP, 100_00);
        const t0 = (await mt5.TimeServerRequest()).time;
        cluster.inject(MT5, kind, params);
        const t1 = (await mt5.TimeServerRequest()).time;
        await mt5.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'after shift');
        return { t0, t1, times: (await mt5Deals(mt5, login)).map((d) => d.Time) };
      });
      expect(r.t1 - r.t0).toBe(3_600);
      expect(r.times).toEqual([r.t0, r.t1]);
    },
  );

  it('a random clockSkew and timezoneShift are traced with the size they applied', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const t0 = (await mt4.ServerTime()).time;
      cluster.inject(MT4, 'clockSkew');
      cluster.inject(MT4, 'timezoneShift');
      const t1 = (await mt4.ServerTime()).time;
      return t1 - t0;
    });
    const skewMs = Number.parseInt(faultEvents(cluster, 'clockSkew')[0]?.detail ?? 'NaN', 10);
    const shiftMin = Number.parseInt(faultEvents(cluster, 'timezoneShift')[0]?.detail ?? 'NaN', 10);
    expect(Math.abs(skewMs)).toBeGreaterThanOrEqual(1_000);
    expect(Math.abs(shiftMin)).toBe(60);
    expect(r).toBe(
      Math.floor((cluster.scheduler.nowMs() + skewMs) / 1000) -
        Math.floor(cluster.scheduler.nowMs() / 1000) +
        shiftMin * 60,
    );
  });
});

describe('scripted schedules', () => {
  it('atStep makes the N-th manager request to the cluster time out after applying', async () => {
    const cluster = quietCluster({
      faults: { intensity: 0, swarm: false, schedule: [{ atStep: 3, server: MT4, fault: 'timeoutAfterApply' }] },
    });
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = new Mt4ManagerInterface(cluster, { clock: proc, timeoutMs: TIMEOUT_MS });
      await mt4.Connect(MT4); // not a request
      const login1 = await mt4.Login(MANAGER, MANAGER_PASSWORD); // step 1
      const login = await mt4Account(mt4); // step 2
      const third = await mt4Balance(mt4, login, 10, 'third request'); // step 3
      const fourth = await mt4Balance(mt4, login, 1, 'fourth request'); // step 4
      return { login1, third, fourth, history: await mt4History(mt4, login) };
    });
    expect(r.login1).toBe(0);
    expect(r.third).toBe(MT4_RET.RET_TRADE_TIMEOUT);
    expect(r.fourth).toBe(0);
    expect(r.history.map((h) => h.comment)).toEqual(['third request', 'fourth request']);
    expect(faultEvents(cluster, 'timeoutAfterApply').map((e) => e.detail)).toEqual(['step 3']);
  });

  it("atStep for a server hit by another server's request arms the fault for the next request to the named server", async () => {
    const cluster = quietCluster({
      faults: { intensity: 0, swarm: false, schedule: [{ atStep: 2, server: MT4, fault: 'tooFrequent' }] },
    });
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc); // step 1
      const mt5 = await mt5Connected(cluster, proc); // step 2 (MT5)
      const mt5Ping = (await mt5.TimeServerRequest()).code; // step 3 (MT5)
      const mt4Ping = await mt4.Ping(); // step 4: the armed fault
      const again = await mt4.Ping();
      return { mt5Ping, mt4Ping, again };
    });
    expect(r).toEqual({ mt5Ping: 0, mt4Ping: MT4_RET.RET_TOO_FREQUENT, again: 0 });
  });

  it('atMs fires a server fault at that virtual time', async () => {
    const cluster = quietCluster({
      faults: {
        intensity: 0,
        swarm: false,
        schedule: [{ atMs: 5_000, server: MT4, fault: 'clockSkew', params: { skewMs: 3_600_000 } }],
      },
    });
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const t0 = (await mt4.ServerTime()).time;
      await proc.sleep(4_999);
      const t1 = (await mt4.ServerTime()).time;
      await proc.sleep(1);
      const t2 = (await mt4.ServerTime()).time;
      return { d1: t1 - t0, d2: t2 - t0 };
    });
    expect(r).toEqual({ d1: 4, d2: 3_600 + 5 });
    expect(faultEvents(cluster, 'clockSkew').map((e) => e.atMs - cluster.scheduler.startMs)).toEqual([5_000]);
  });

  it('atMs restart takes the server down at that virtual time, with no request in flight', async () => {
    const cluster = quietCluster({
      faults: {
        intensity: 0,
        swarm: false,
        schedule: [{ atMs: 5_000, server: MT4, fault: 'restart', params: { downtimeMs: 30_000 } }],
      },
    });
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      await proc.sleep(6_000);
      // No request has been sent since t=0: the restart must not wait for one.
      const connected = mt4.IsConnected();
      const down = cluster.server(MT4).isDown();
      const fresh = new Mt4ManagerInterface(cluster, { clock: proc, timeoutMs: TIMEOUT_MS });
      const connect = await fresh.Connect(MT4);
      return { connected, down, connect };
    });
    expect(r).toEqual({ connected: 0, down: true, connect: MT4_RET.RET_NO_CONNECT });
    expect(faultEvents(cluster, 'restart').map((e) => e.atMs - cluster.scheduler.startMs)).toEqual([5_000]);
  });

  it('a schedule naming an unknown server is rejected with MTP_FAULTS_INVALID at schedule[0].server', () => {
    let error: unknown;
    try {
      quietCluster({
        faults: { intensity: 0, swarm: false, schedule: [{ atStep: 1, server: 'mt4-nowhere', fault: 'restart' }] },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'MTP_FAULTS_INVALID', issues: [{ path: 'schedule[0].server' }] });
  });

  it('a schedule entry with both atStep and atMs (or neither) is rejected', () => {
    for (const entry of [
      { atStep: 1, atMs: 5, server: MT4, fault: 'restart' },
      { server: MT4, fault: 'restart' },
    ]) {
      expect(() => quietCluster({ faults: { schedule: [entry as never] } })).toThrow(
        expect.objectContaining({ code: 'MTP_FAULTS_INVALID' }),
      );
    }
  });
});

describe('inject', () => {
  it('a request fault is armed for the next request to that server only, and fires once', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const mt5 = await mt5Connected(cluster, proc);
      cluster.inject(MT4, 'tooFrequent');
      const mt5First = (await mt5.TimeServerRequest()).code;
      const mt4First = await mt4.Ping();
      const mt4Second = await mt4.Ping();
      return { mt5First, mt4First, mt4Second };
    });
    expect(r).toEqual({ mt5First: 0, mt4First: MT4_RET.RET_TOO_FREQUENT, mt4Second: 0 });
  });

  it('an unknown server is refused', () => {
    const cluster = quietCluster();
    expect(() => cluster.inject('mt9-nowhere', 'restart')).toThrow('no server mt9-nowhere');
  });
});

describe('random faults switched off (heal)', () => {
  it('stops random faults but still fires injected ones', async () => {
    const cluster = quietCluster({ faults: { intensity: 10, swarm: false } });
    cluster.setRandomFaults(false);
    expect(cluster.randomFaults).toBe(false);
    const before = cluster.trace.counts('fault');
    expect(before).toEqual({});
    await inProcess(cluster, async (proc) => {
      const api = await mt4Connected(cluster, proc);
      for (let i = 0; i < 200; i++) expect(await api.Ping()).toBe(MT4_RET.RET_OK);
      cluster.inject(MT4, 'tooFrequent');
      expect(await api.Ping()).toBe(MT4_RET.RET_TOO_FREQUENT);
    });
    const after = cluster.trace.counts('fault');
    expect(after).toEqual({ tooFrequent: 1 });
  });
});
