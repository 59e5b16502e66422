import { describe, expect, it } from 'vitest';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import {
  clusterConfig,
  inProcess,
  MT4,
  MT5,
  mt4Account,
  mt4Balance,
  mt4Connected,
  mt4User,
  mt5Account,
  mt5Connected,
  quietCluster,
} from './helpers.ts';

describe('requests in flight', () => {
  it('applies a slow request that reached the server although the caller was killed before the answer', async () => {
    const cluster = quietCluster();
    let login = 0;
    let answered = false;
    const caller = cluster.scheduler.spawn('caller', async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      login = await mt4Account(mt4);
      cluster.inject(MT4, 'latency', { latencyMs: 4_000 });
      await mt4Balance(mt4, login, 50, 'slow');
      answered = true;
    });
    // The request reaches the server after 2 s and its answer would come after 4 s: kill the caller at 3 s.
    cluster.scheduler.spawn('crash', async (proc) => {
      await proc.sleep(3_000);
      caller.kill();
    });
    await cluster.scheduler.run();
    expect(answered).toBe(false);
    expect(
      cluster
        .server(MT4)
        .allBalanceOps(login)
        .map((o) => o.comment),
    ).toEqual(['slow']);
  });

  it('applies a request already sent when its caller dies before it reaches the server', async () => {
    const cluster = quietCluster();
    let login = 0;
    const caller = cluster.scheduler.spawn('caller', async (proc) => {
      const mt4 = await mt4Connected(cluster, proc);
      login = await mt4Account(mt4);
      cluster.inject(MT4, 'latency', { latencyMs: 4_000 });
      await mt4Balance(mt4, login, 50, 'on the wire');
    });
    // The request reaches the server after 2 s: the caller dies at 1 s, with the bytes already written.
    cluster.scheduler.spawn('crash', async (proc) => {
      await proc.sleep(1_000);
      caller.kill();
    });
    await cluster.scheduler.run();
    expect(
      cluster
        .server(MT4)
        .allBalanceOps(login)
        .map((o) => o.comment),
    ).toEqual(['on the wire']);
  });

  it('changes the trace hash when only the amount of a deposit differs', async () => {
    const hashFor = async (amount: number): Promise<string> => {
      const cluster = quietCluster();
      await inProcess(cluster, async (proc) => {
        const mt4 = await mt4Connected(cluster, proc);
        expect(await mt4Balance(mt4, await mt4Account(mt4), amount, 'x')).toBe(MT4_RET.RET_OK);
      });
      return cluster.trace.hash();
    };
    expect(await hashFor(10)).not.toBe(await hashFor(11));
  });
});

describe('manager rights on groups', () => {
  it('refuses to move an account into a group the manager may not work with (MT4 and MT5)', async () => {
    const restricted = { login: 1001, password: 'Manager#2' };
    const cluster = quietCluster({
      config: clusterConfig((config) => {
        const [mt4, mt5] = config.servers;
        mt4?.managers.push({ ...restricted, groups: ['eu-std-*'] });
        mt5?.managers.push({ ...restricted, groups: ['real\\standard*'] });
      }),
    });
    const codes = await inProcess(cluster, async (proc) => {
      const mt4 = await mt4Connected(cluster, proc, MT4, undefined, restricted);
      const mt4Login = await mt4Account(mt4);
      const mt4Code = await mt4.UserRecordUpdate({ ...(await mt4User(mt4, mt4Login)), group: 'eu-pro-usd' });
      const mt5 = await mt5Connected(cluster, proc, MT5, undefined, restricted);
      const mt5Login = await mt5Account(mt5);
      const user = (await mt5.UserRequest(mt5Login)).user;
      if (user === null) throw new Error('MT5 UserRequest found nothing');
      const mt5Code = await mt5.UserUpdate({ ...user, Group: 'real\\pro-usd' });
      return { mt4Code, mt5Code, mt4Login, mt5Login };
    });
    expect([codes.mt4Code, codes.mt5Code]).toEqual([MT4_RET.RET_NOT_ENOUGH_RIGHTS, MT5_RET.MT_RET_ERR_PERMISSIONS]);
    expect(cluster.server(MT4).accounts.get(codes.mt4Login)?.group).toBe('eu-std-usd');
    expect(cluster.server(MT5).accounts.get(codes.mt5Login)?.group).toBe('real\\standard-usd');
  });
});
