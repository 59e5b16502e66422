import { describe, expect, it } from 'vitest';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT4_TT } from '../../metatrader/constants.ts';
import { SimCluster } from '../../simulator/cluster.ts';
import { Mt4ManagerInterface } from '../../simulator/mt4.ts';
import { Mt5ManagerApi } from '../../simulator/mt5.ts';

const QUIET = { intensity: 0, swarm: false } as const;

describe('requests in flight', () => {
  it('applies a slow request that reached the server although the caller was killed before the answer', async () => {
    const cluster = new SimCluster({ seed: 1, faults: QUIET });
    const server = cluster.server('mt4-live-eu');
    const created = server.createAccount({ group: 'eu-std-usd', name: 'In Flight', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error('account');
    const login = created.value.login;
    let answered = false;
    const caller = cluster.scheduler.spawn('caller', async (proc) => {
      const mt4 = new Mt4ManagerInterface(cluster, { clock: proc, timeoutMs: 10_000 });
      await mt4.Connect('mt4-live-eu');
      await mt4.Login(1000, 'Manager#1');
      cluster.inject('mt4-live-eu', 'latency', { latencyMs: 4_000 });
      await mt4.TradeTransaction({
        type: MT4_TT.TT_BR_BALANCE,
        cmd: MT4_OP.OP_BALANCE,
        orderby: login,
        price: 50,
        comment: 'slow',
      });
      answered = true;
    });
    // Kill the caller after the request reached the server (2 s) and before its answer (4 s).
    cluster.scheduler.spawn('crash', async (proc) => {
      await proc.sleep(3_000);
      caller.kill();
    });
    await cluster.scheduler.run();
    expect(answered).toBe(false);
    expect(server.allBalanceOps(login).map((o) => o.comment)).toEqual(['slow']);
  });

  it('changes the trace hash when only the amount of a deposit differs', async () => {
    const hashFor = async (price: number): Promise<string> => {
      const cluster = new SimCluster({ seed: 1, faults: QUIET });
      const login = (
        cluster.server('mt4-live-eu').createAccount({ group: 'eu-std-usd', name: 'A', password: 'Passw0rd!x' }) as {
          ok: true;
          value: { login: number };
        }
      ).value.login;
      cluster.scheduler.spawn('m', async (proc) => {
        const mt4 = new Mt4ManagerInterface(cluster, { clock: proc });
        await mt4.Connect('mt4-live-eu');
        await mt4.Login(1000, 'Manager#1');
        const code = await mt4.TradeTransaction({
          type: MT4_TT.TT_BR_BALANCE,
          cmd: MT4_OP.OP_BALANCE,
          orderby: login,
          price,
          comment: 'x',
        });
        expect(code).toBe(MT4_RET.RET_OK);
      });
      await cluster.scheduler.run();
      return cluster.trace.hash();
    };
    expect(await hashFor(10)).not.toBe(await hashFor(11));
  });
});

describe('manager rights on groups', () => {
  it('refuses to move an account into a group the manager may not work with (MT4 and MT5)', async () => {
    const cluster = new SimCluster({
      seed: 1,
      faults: QUIET,
      config: {
        servers: [
          {
            id: 'mt4-a',
            platform: 'mt4',
            kind: 'live',
            jurisdiction: 'eu',
            logins: { from: 100, to: 999 },
            groups: [
              { name: 'uk-std', currency: 'USD', leverage: 30 },
              { name: 'vip', currency: 'USD', leverage: 30 },
            ],
            managers: [{ login: 10, password: 'Manager#1', groups: ['uk-*'] }],
          },
          {
            id: 'mt5-a',
            platform: 'mt5',
            kind: 'live',
            jurisdiction: 'eu',
            logins: { from: 1000, to: 1999 },
            groups: [
              { name: 'real\\uk', currency: 'USD', leverage: 30 },
              { name: 'real\\vip', currency: 'USD', leverage: 30 },
            ],
            managers: [{ login: 10, password: 'Manager#1', groups: ['real\\uk*'] }],
          },
        ],
      },
    });
    const mt4Login = (
      cluster.server('mt4-a').createAccount({ group: 'uk-std', name: 'A', password: 'Passw0rd!x' }) as {
        ok: true;
        value: { login: number };
      }
    ).value.login;
    const mt5Login = (
      cluster.server('mt5-a').createAccount({ group: 'real\\uk', name: 'B', password: 'Passw0rd!x' }) as {
        ok: true;
        value: { login: number };
      }
    ).value.login;
    const codes: number[] = [];
    cluster.scheduler.spawn('m', async (proc) => {
      const mt4 = new Mt4ManagerInterface(cluster, { clock: proc });
      await mt4.Connect('mt4-a');
      await mt4.Login(10, 'Manager#1');
      const record = (await mt4.UserRecordsRequest([mt4Login])).records[0];
      if (record === undefined) throw new Error('record');
      codes.push(await mt4.UserRecordUpdate({ ...record, group: 'vip' }));
      const mt5 = new Mt5ManagerApi(cluster, { clock: proc });
      await mt5.Connect('mt5-a', 10, 'Manager#1');
      const user = (await mt5.UserRequest(mt5Login)).user;
      if (user === null) throw new Error('user');
      codes.push(await mt5.UserUpdate({ ...user, Group: 'real\\vip' }));
    });
    await cluster.scheduler.run();
    expect(codes).toEqual([MT4_RET.RET_NOT_ENOUGH_RIGHTS, MT5_RET.MT_RET_ERR_PERMISSIONS]);
    expect(cluster.server('mt4-a').accounts.get(mt4Login)?.group).toBe('uk-std');
    expect(cluster.server('mt5-a').accounts.get(mt5Login)?.group).toBe('real\\uk');
  });
});
