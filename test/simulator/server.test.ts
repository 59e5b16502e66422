import { describe, expect, it } from 'vitest';
import type { Process } from '../../kit/scheduler.ts';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT5_DEAL_ACTION, MT5_DEAL_ENTRY } from '../../metatrader/constants.ts';
import { groupMatches } from '../../metatrader/groups.ts';
import type { SimCluster } from '../../simulator/cluster.ts';
import { fromMoney } from '../../simulator/dialect.ts';
import {
  clusterConfig,
  inProcess,
  MT4,
  MT4_DEMO,
  MT4_GROUP,
  MT5,
  MT5_GROUP,
  mt4Account,
  mt4Balance,
  mt4BalanceOf,
  mt4Connected,
  mt4History,
  mt4Record,
  mt5Account,
  mt5Connected,
  mt5Deals,
  mt5UserObject,
  quietCluster,
} from './helpers.ts';

/** The servers' own rules, observed through the dialects. */

describe('comments', () => {
  const long = 'Deposit via bank transfer ref 0123456789-ABCDEF';

  it('MT4 keeps the first 31 characters', async () => {
    const cluster = quietCluster();
    const history = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4);
      expect(await mt4Balance(mt4, login, 10, long)).toBe(0);
      return mt4History(mt4, login);
    });
    expect(history.map((h) => h.comment)).toEqual([long.slice(0, 31)]);
  });

  it('MT4 turns characters outside Latin-1 into "?" and keeps Latin-1 ones', async () => {
    const cluster = quietCluster();
    const history = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4);
      await mt4Balance(mt4, login, 10, 'Einzahlung – 100€ café 入金 😀');
      return mt4History(mt4, login);
    });
    expect(history[0]?.comment).toBe('Einzahlung ? 100? café ?? ?');
  });

  it('MT5 keeps the first 31 UTF-16 characters, non-Latin text included', async () => {
    const cluster = quietCluster();
    const deals = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5);
      await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, long);
      await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, '入金 – 100€');
      return mt5Deals(mt5, login);
    });
    expect(deals.map((d) => d.Comment)).toEqual([long.slice(0, 31), '入金 – 100€']);
  });

  it('the pumped record carries the cut comment too', async () => {
    const cluster = quietCluster();
    const seen: string[] = [];
    await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      mt5.Subscribe({ OnDealAdd: (d) => seen.push(d.Comment) });
      const login = await mt5Account(mt5);
      await mt5.DealerBalance(login, 10, MT5_DEAL_ACTION.DEAL_BALANCE, long);
      await proc.sleep(1);
    });
    expect(seen).toEqual([long.slice(0, 31)]);
  });
});

describe('withdrawal checks', () => {
  /** An MT5 account with 1000 USD and 0.5 lot EURUSD open at 1:100 (about 542 USD margin). */
  async function withPosition(
    proc: Parameters<Parameters<typeof inProcess>[1]>[0],
    cluster: ReturnType<typeof quietCluster>,
  ) {
    const mt5 = await mt5Connected(cluster, proc);
    const login = await mt5Account(mt5, MT5_GROUP, 1_000_00);
    const open = cluster.client(MT5).open(login, 'EURUSD', 'buy', 50);
    if (!open.ok) throw new Error(`open refused: ${open.fail}`);
    const account = (await mt5.UserAccountRequest(login)).account;
    if (account === null) throw new Error('no account');
    return { mt5, login, account };
  }

  it('MT5 DEAL_CORRECTION skips the free-margin check: a correction above free margin but within balance is done', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const { mt5, login, account } = await withPosition(proc, cluster);
      const amount = Math.round(account.MarginFree + 100);
      const balanceType = (await mt5.DealerBalance(login, -amount, MT5_DEAL_ACTION.DEAL_BALANCE, 'withdraw')).code;
      const correction = (await mt5.DealerBalance(login, -amount, MT5_DEAL_ACTION.DEAL_CORRECTION, 'correction')).code;
      return { freeMargin: account.MarginFree, amount, balanceType, correction };
    });
    expect(r.freeMargin).toBeLessThan(r.amount);
    expect(r.amount).toBeLessThan(1_000);
    expect(r.balanceType).toBe(MT5_RET.MT_RET_REQUEST_NO_MONEY);
    expect(r.correction).toBe(MT5_RET.MT_RET_REQUEST_DONE);
  });

  it('MT5 DEAL_CORRECTION keeps the balance check', async () => {
    const cluster = quietCluster();
    const code = await inProcess(cluster, async (proc) => {
      const { mt5, login } = await withPosition(proc, cluster);
      return (await mt5.DealerBalance(login, -1_000.01, MT5_DEAL_ACTION.DEAL_CORRECTION, 'too much')).code;
    });
    expect(code).toBe(MT5_RET.MT_RET_REQUEST_NO_MONEY);
  });

  it('MT5 credit out may not exceed the free margin either (facts 2.7: "free margin (any type)")', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      await mt5.DealerBalance(login, 600, MT5_DEAL_ACTION.DEAL_CREDIT, 'credit in');
      const open = cluster.client(MT5).open(login, 'EURUSD', 'buy', 50);
      if (!open.ok) throw new Error(`open refused: ${open.fail}`);
      const before = (await mt5.UserAccountRequest(login)).account;
      const code = (await mt5.DealerBalance(login, -500, MT5_DEAL_ACTION.DEAL_CREDIT, 'credit out')).code;
      return { freeMargin: before?.MarginFree ?? Number.NaN, code };
    });
    expect(r.freeMargin).toBeLessThan(500);
    expect(r.code).toBe(MT5_RET.MT_RET_REQUEST_NO_MONEY);
  });

  it("MT4 withdrawals above the free margin but within the balance are done (the simulator's documented choice)", async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, 'eu-pro-usd', 1_000_00);
      // 0.1 lot EURUSD at the record's 1:30 ties up about 362 USD: free margin ~637 of a 1000 balance.
      const open = cluster.client(MT4).open(login, 'EURUSD', 'buy', 10);
      if (!open.ok) throw new Error(`open refused: ${open.fail}`);
      const level = (await mt4.MarginLevelRequest(login)).level;
      const amount = Math.round((level?.margin_free ?? 0) + 50);
      return {
        amount,
        code: await mt4Balance(mt4, login, -amount, 'withdraw'),
        balance: await mt4BalanceOf(mt4, login),
      };
    });
    expect(r.amount).toBeLessThan(1_000);
    expect(r.code).toBe(MT4_RET.RET_OK);
    expect(r.balance).toBe(1_000 - r.amount);
  });
});

describe('ground truth kept for the harness', () => {
  /** A manager of `serverId` through its dialect: accounts with money, the free margin it asks for, withdrawals. */
  async function manager(cluster: SimCluster, proc: Process, serverId: string) {
    if (serverId === MT5) {
      const mt5 = await mt5Connected(cluster, proc);
      return {
        account: (cents: number) => mt5Account(mt5, MT5_GROUP, cents),
        freeMarginCents: async (login: number) =>
          fromMoney((await mt5.UserAccountRequest(login)).account?.MarginFree ?? Number.NaN),
        withdraw: async (login: number, cents: number) =>
          (await mt5.DealerBalance(login, -cents / 100, MT5_DEAL_ACTION.DEAL_BALANCE, 'withdraw')).code,
      };
    }
    const mt4 = await mt4Connected(cluster, proc, serverId);
    return {
      account: (cents: number) => mt4Account(mt4, 'eu-pro-usd', cents),
      freeMarginCents: async (login: number) =>
        fromMoney((await mt4.MarginLevelRequest(login)).level?.margin_free ?? Number.NaN),
      withdraw: (login: number, cents: number) => mt4Balance(mt4, login, -cents / 100, 'withdraw'),
    };
  }

  it.each([MT4, MT5])(
    '%s records the free margin before each withdrawal, and every free margin it answered a manager',
    async (serverId) => {
      const cluster = quietCluster();
      const server = cluster.server(serverId);
      const r = await inProcess(cluster, async (proc) => {
        const m = await manager(cluster, proc, serverId);
        const login = await m.account(1_000_00);
        const createdMs = proc.nowMs();
        await proc.sleep(5_000);
        const open = cluster.client(serverId).open(login, 'EURUSD', 'buy', 10);
        if (!open.ok) throw new Error(`open refused: ${open.fail}`);
        // No network latency: the request is answered at this instant, at these prices.
        const askedMs = proc.nowMs();
        const asked = await m.freeMarginCents(login);
        const code = await m.withdraw(login, 100_00);
        return { login, createdMs, askedMs, asked, code };
      });
      expect(r.code).toBe(serverId === MT5 ? MT5_RET.MT_RET_REQUEST_DONE : MT4_RET.RET_OK);
      expect(server.accounts.get(r.login)?.createdMs).toBe(r.createdMs);
      expect(r.asked).toBeLessThan(1_000_00);
      // The deposit moved money in: there is nothing to judge it by.
      expect(server.allBalanceOps(r.login).map((op) => [op.amountCents, op.freeMarginBeforeCents])).toEqual([
        [1_000_00, undefined],
        [-100_00, r.asked],
      ]);
      // Only the manager's request is remembered, not the server's own checks (the open, the withdrawal).
      expect(server.marginReads(r.login)).toEqual([{ atMs: r.askedMs, freeMarginCents: r.asked }]);
    },
  );

  it.each([MT4, MT5])(
    '%s: a dealer gives credit and takes it back by hand, never more than given',
    async (serverId) => {
      const cluster = quietCluster();
      const server = cluster.server(serverId);
      const login = await inProcess(cluster, async (proc) =>
        serverId === MT5
          ? mt5Account(await mt5Connected(cluster, proc), MT5_GROUP, 1_000_00)
          : mt4Account(await mt4Connected(cluster, proc), MT4_GROUP, 1_000_00),
      );
      const dealer = cluster.dealer(serverId);
      expect(dealer.creditEdit(login, 50_00, 'promo').ok).toBe(true);
      expect(dealer.creditEdit(login, -20_00, 'promo back').ok).toBe(true);
      const refused = dealer.creditEdit(login, -30_01, 'too much');
      expect(refused.ok ? null : refused.fail).toBe('no_money');
      const credit = serverId === MT5 ? MT5_DEAL_ACTION.DEAL_CREDIT : MT4_OP.OP_CREDIT;
      expect(server.accounts.get(login)?.creditCents).toBe(30_00);
      expect(
        server
          .allBalanceOps(login)
          .slice(1)
          .map((op) => [op.kind, op.platformType, op.amountCents, op.actor.by]),
      ).toEqual([
        ['credit', credit, 50_00, 'dealer'],
        ['credit', credit, -20_00, 'dealer'],
      ]);
      expect(
        cluster.trace
          .events()
          .filter((e) => e.name === 'dealerBalanceEdit')
          .map((e) => e.detail),
      ).toEqual([
        `${login} credit 5000 "promo"`,
        `${login} credit -2000 "promo back"`,
        `${login} credit -3001 "too much" refused no_money`,
      ]);
    },
  );
});

describe('demo deposits', () => {
  it('a demo server funds a new account with the group\'s default deposit, as a balance operation "Deposit"', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc, MT4_DEMO);
      const std = await mt4Account(mt4, 'demo-std-usd');
      const pro = await mt4Account(mt4, 'demo-pro-usd');
      return {
        std: { balance: await mt4BalanceOf(mt4, std), history: await mt4History(mt4, std) },
        pro: await mt4BalanceOf(mt4, pro),
      };
    });
    expect(r.std.balance).toBe(10_000);
    expect(r.std.history).toHaveLength(1);
    expect(r.std.history[0]).toMatchObject({ cmd: MT4_OP.OP_BALANCE, profit: 10_000, comment: 'Deposit' });
    expect(r.pro).toBe(50_000);
  });

  it('a live server does not', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4);
      return { balance: await mt4BalanceOf(mt4, login), history: await mt4History(mt4, login) };
    });
    expect(r).toEqual({ balance: 0, history: [] });
  });
});

describe('login allocation', () => {
  it('MT4 starts at the range start and skips logins already taken', async () => {
    const cluster = quietCluster();
    const logins = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const first = await mt4Account(mt4);
      for (const login of [100_001, 100_002]) {
        const code = await mt4.UserRecordNew(mt4Record(MT4_GROUP, { login }));
        if (code !== 0) throw new Error(`explicit login ${login}: ${code}`);
      }
      const next = await mt4Account(mt4);
      return [first, next];
    });
    expect(logins).toEqual([100_000, 100_003]);
  });

  it('MT5 skips a taken range start', async () => {
    const cluster = quietCluster();
    const logins = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const explicit = mt5UserObject(MT5_GROUP, { Login: 5_000_000 });
      if ((await mt5.UserAdd(explicit)) !== 0) throw new Error('explicit UserAdd failed');
      return [await mt5Account(mt5), await mt5Account(mt5)];
    });
    expect(logins).toEqual([5_000_001, 5_000_002]);
  });

  it("an explicit login at the range's ends is allowed, one past them prohibited", async () => {
    const cluster = quietCluster({
      config: clusterConfig((c) => {
        if (c.servers[1] !== undefined) c.servers[1].logins = { from: 5_000_000, to: 5_000_009 };
      }),
    });
    const codes = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const out: number[] = [];
      for (const Login of [5_000_000, 5_000_009, 4_999_999, 5_000_010])
        out.push(await mt5.UserAdd(mt5UserObject(MT5_GROUP, { Login })));
      return out;
    });
    expect(codes).toEqual([0, 0, MT5_RET.MT_RET_USR_LOGIN_PROHIBITED, MT5_RET.MT_RET_USR_LOGIN_PROHIBITED]);
  });
});

describe('group masks', () => {
  it("['real*', '!real\\\\pro*'] admits real\\standard-usd and refuses real\\pro-usd", () => {
    const masks = ['real*', '!real\\pro*'];
    expect(groupMatches(masks, 'real\\standard-usd')).toBe(true);
    expect(groupMatches(masks, 'real\\pro-usd')).toBe(false);
    expect(groupMatches(masks, 'demo\\standard-usd')).toBe(false);
  });

  it('a manager with those masks may add a real\\standard-usd user but not a real\\pro-usd one, nor see it', async () => {
    const cluster = quietCluster({
      config: clusterConfig((c) => {
        c.servers[1]?.managers.push({ login: 1001, password: 'Masked#1', groups: ['real*', '!real\\pro*'] });
      }),
    });
    const r = await inProcess(cluster, async (proc) => {
      const admin = await mt5Connected(cluster, proc);
      const pro = await mt5Account(admin, 'real\\pro-usd');
      const masked = await mt5Connected(cluster, proc, MT5, 10_000, { login: 1001, password: 'Masked#1' });
      const standard = await masked.UserAdd(mt5UserObject('real\\standard-usd'));
      const proAdd = await masked.UserAdd(mt5UserObject('real\\pro-usd'));
      const proRead = (await masked.UserRequest(pro)).code;
      const listed = (await masked.UserRequestByGroup('*')).users.map((u) => u.Group);
      return { standard, proAdd, proRead, listed };
    });
    expect(r.standard).toBe(0);
    expect(r.proAdd).toBe(MT5_RET.MT_RET_ERR_PERMISSIONS);
    expect(r.proRead).toBe(MT5_RET.MT_RET_ERR_PERMISSIONS);
    expect(r.listed).toEqual(['real\\standard-usd']);
  });

  it('MT5 PositionRequestByLogins answers the positions of the logins asked for that the manager may see', async () => {
    const cluster = quietCluster({
      config: clusterConfig((c) => {
        c.servers[1]?.managers.push({ login: 1001, password: 'Masked#1', groups: ['real*', '!real\\pro*'] });
      }),
    });
    const r = await inProcess(cluster, async (proc) => {
      const admin = await mt5Connected(cluster, proc);
      const standard = await mt5Account(admin, MT5_GROUP, 10_000_00);
      const pro = await mt5Account(admin, 'real\\pro-usd', 10_000_00);
      const other = await mt5Account(admin, MT5_GROUP, 10_000_00);
      const tickets = [standard, standard, pro, other].map((login) => {
        const open = cluster.client(MT5).open(login, 'EURUSD', 'buy', 10);
        if (!open.ok) throw new Error(`open refused: ${open.fail}`);
        return open.value.ticket;
      });
      const masked = await mt5Connected(cluster, proc, MT5, 10_000, { login: 1001, password: 'Masked#1' });
      const asked = [standard, pro, 9_999_999, standard];
      return {
        tickets,
        admin: await admin.PositionRequestByLogins(asked),
        masked: await masked.PositionRequestByLogins(asked),
      };
    });
    const positions = (answer: typeof r.admin) => answer.positions.map((p) => p.Position).sort((a, b) => a - b);
    expect([r.admin.code, r.masked.code]).toEqual([MT5_RET.MT_RET_OK, MT5_RET.MT_RET_OK]);
    // Each login once however often asked for; an unknown login and one not asked for add nothing.
    expect(positions(r.admin)).toEqual(r.tickets.slice(0, 3).sort((a, b) => a - b));
    expect(positions(r.masked)).toEqual(r.tickets.slice(0, 2).sort((a, b) => a - b));
  });
});

describe('history', () => {
  it('MT5 DealRequest returns only deals whose time lies in the range (an in deal before the range stays out)', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt5 = await mt5Connected(cluster, proc);
      const login = await mt5Account(mt5, MT5_GROUP, 10_000_00);
      const open = cluster.client(MT5).open(login, 'EURUSD', 'buy', 10);
      if (!open.ok) throw new Error('open refused');
      await proc.sleep(3_600_000);
      cluster.client(MT5).close(open.value.ticket);
      const now = (await mt5.TimeServerRequest()).time;
      return { now, deals: await mt5Deals(mt5, login, now - 60, now + 60) };
    });
    for (const deal of r.deals) {
      expect(deal.Time).toBeGreaterThanOrEqual(r.now - 60);
      expect(deal.Time).toBeLessThanOrEqual(r.now + 60);
    }
    expect(r.deals.map((d) => d.Entry)).toEqual([MT5_DEAL_ENTRY.ENTRY_OUT]);
  });

  it('a closed client trade moves the balance by its profit and shows in MT4 history', async () => {
    const cluster = quietCluster();
    const r = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      const login = await mt4Account(mt4, MT4_GROUP, 10_000_00);
      const open = cluster.client(MT4).open(login, 'EURUSD', 'sell', 10);
      if (!open.ok) throw new Error('open refused');
      await proc.sleep(600_000);
      const closed = cluster.client(MT4).close(open.value.ticket);
      if (!closed.ok) throw new Error('close refused');
      return {
        profitCents: closed.value.profitCents,
        balance: await mt4BalanceOf(mt4, login),
        history: await mt4History(mt4, login),
      };
    });
    expect(r.balance).toBeCloseTo(10_000 + r.profitCents / 100, 2);
    expect(r.history.find((h) => h.cmd === MT4_OP.OP_SELL)?.profit).toBeCloseTo(r.profitCents / 100, 2);
  });
});
