import { describe, expect, it } from 'vitest';
import type { Process } from '../../kit/scheduler.ts';
import { MT4_RET, MT5_RET } from '../../metatrader/codes.ts';
import { MT4_OP, MT4_TT, MT5_DEAL_ACTION } from '../../metatrader/constants.ts';
import type { SimCluster } from '../../simulator/cluster.ts';
import type { ClusterConfigInput } from '../../simulator/config.ts';
import type { CodeTable } from '../../simulator/dialect.ts';
import { MT4_CODES, Mt4ManagerInterface } from '../../simulator/mt4.ts';
import { MT5_CODES, Mt5ManagerApi } from '../../simulator/mt5.ts';
import {
  clusterConfig,
  inProcess,
  MANAGER,
  MANAGER_PASSWORD,
  MT4,
  MT4_GROUP,
  MT5,
  MT5_GROUP,
  mt4Account,
  mt4Balance,
  mt4Connected,
  mt4Record,
  mt5Account,
  mt5Connected,
  mt5UserObject,
  PASSWORD,
  quietCluster,
} from './helpers.ts';

/**
 * Every code the dialects model is reachable: one or more scenarios per code, each asserting the code it
 * ends with. The last test checks that every code of MT4_CODES / MT5_CODES has a row here.
 */

type Scenario = (cluster: SimCluster, proc: Process) => Promise<number>;

interface Row {
  platform: 'mt4' | 'mt5';
  name: string;
  how: string;
  scenario: Scenario;
  /** The cluster layout, when the default does not do. */
  config?: ClusterConfigInput;
}

/** A config with extra managers on the MT4 (index 0) and MT5 (index 1) servers and small login ranges. */
const SPECIAL = clusterConfig((c) => {
  const [mt4, mt5] = c.servers;
  if (mt4 === undefined || mt5 === undefined) throw new Error('default cluster changed');
  for (const server of [mt4, mt5]) {
    server.managers.push(
      { login: 1001, password: 'NoMoney#1', rights: { money: false } },
      { login: 1002, password: 'VipOnly#1', groups: server === mt4 ? ['vip*'] : ['vip\\*'] },
      { login: 1003, password: 'Disabled#1', enabled: false },
    );
  }
});

const TINY_RANGE = clusterConfig((c) => {
  const [mt4, mt5] = c.servers;
  if (mt4 === undefined || mt5 === undefined) throw new Error('default cluster changed');
  mt4.logins = { from: 100_000, to: 100_001 };
  mt5.logins = { from: 5_000_000, to: 5_000_001 };
});

const mt4As = (login: number, password: string) => async (cluster: SimCluster, proc: Process) =>
  mt4Connected(cluster, proc, MT4, 10_000, { login, password });

const mt4LoginCode =
  (login: number, password: string): Scenario =>
  async (cluster, proc) => {
    const mt4 = new Mt4ManagerInterface(cluster, { clock: proc });
    await mt4.Connect(MT4);
    return mt4.Login(login, password);
  };

const mt5ConnectCode =
  (login: number, password: string): Scenario =>
  async (cluster, proc) =>
    new Mt5ManagerApi(cluster, { clock: proc }).Connect(MT5, login, password);

/** Balance through the MT4 dialect on a funded account after `prepare` (e.g. injecting a fault). */
const mt4Post =
  (amount: number, prepare: (cluster: SimCluster) => void = () => {}): Scenario =>
  async (cluster, proc) => {
    const mt4 = await mt4Connected(cluster, proc);
    const login = await mt4Account(mt4, MT4_GROUP, 100_00);
    prepare(cluster);
    return mt4Balance(mt4, login, amount, 'code test');
  };

const mt5Post =
  (
    amount: number,
    type: number = MT5_DEAL_ACTION.DEAL_BALANCE,
    prepare: (cluster: SimCluster) => void = () => {},
  ): Scenario =>
  async (cluster, proc) => {
    const mt5 = await mt5Connected(cluster, proc);
    const login = await mt5Account(mt5, MT5_GROUP, 100_00);
    prepare(cluster);
    return (await mt5.DealerBalance(login, amount, type, 'code test')).code;
  };

/** A client's own trade attempt: its refusal mapped through the dialect's table, as the brief allows. */
const clientOpen =
  (table: CodeTable, server: string, volume: number, disable: boolean): Scenario =>
  async (cluster, proc) => {
    const login =
      server === MT4
        ? await mt4Account(await mt4Connected(cluster, proc), MT4_GROUP, 10_000_00)
        : await mt5Account(await mt5Connected(cluster, proc), MT5_GROUP, 10_000_00);
    if (disable) cluster.dealer(server).disable(login);
    const r = cluster.client(server).open(login, 'EURUSD', 'buy', volume);
    return r.ok ? table.ok : table.fail[r.fail];
  };

const ROWS: Row[] = [
  // ---------------- MT4 ----------------
  {
    platform: 'mt4',
    name: 'RET_OK',
    how: 'Ping after Connect and Login',
    scenario: async (c, p) => (await mt4Connected(c, p)).Ping(),
  },
  {
    platform: 'mt4',
    name: 'RET_ERROR',
    how: 'a third account in a two-login range',
    config: TINY_RANGE,
    scenario: async (c, p) => {
      const mt4 = await mt4Connected(c, p);
      await mt4Account(mt4);
      await mt4Account(mt4);
      return mt4.UserRecordNew(mt4Record());
    },
  },
  { platform: 'mt4', name: 'RET_INVALID_DATA', how: 'a zero amount', scenario: mt4Post(0) },
  {
    platform: 'mt4',
    name: 'RET_INVALID_DATA',
    how: 'TradeTransaction with a trade cmd under TT_BR_BALANCE',
    scenario: async (c, p) => {
      const mt4 = await mt4Connected(c, p);
      const login = await mt4Account(mt4);
      return mt4.TradeTransaction({
        type: MT4_TT.TT_BR_BALANCE,
        cmd: MT4_OP.OP_BUY,
        orderby: login,
        price: 1,
        comment: '',
      });
    },
  },
  {
    platform: 'mt4',
    name: 'RET_INVALID_DATA',
    how: 'UserRecordNew in an unknown group',
    scenario: async (c, p) => (await mt4Connected(c, p)).UserRecordNew(mt4Record('no-such-group')),
  },
  {
    platform: 'mt4',
    name: 'RET_INVALID_DATA',
    how: 'a balance for an unknown login',
    scenario: async (c, p) => mt4Balance(await mt4Connected(c, p), 123_456, 10, 'nobody'),
  },
  {
    platform: 'mt4',
    name: 'RET_NO_CONNECT',
    how: 'a request before Connect',
    scenario: async (c, p) => new Mt4ManagerInterface(c, { clock: p }).Ping(),
  },
  {
    platform: 'mt4',
    name: 'RET_NO_CONNECT',
    how: 'a request after Connect but before Login',
    scenario: async (c, p) => {
      const mt4 = new Mt4ManagerInterface(c, { clock: p });
      await mt4.Connect(MT4);
      return mt4.Ping();
    },
  },
  {
    platform: 'mt4',
    name: 'RET_NO_CONNECT',
    how: 'Connect to an unknown address',
    scenario: async (c, p) => new Mt4ManagerInterface(c, { clock: p }).Connect('mt4-nowhere:443'),
  },
  {
    platform: 'mt4',
    name: 'RET_NO_CONNECT',
    how: 'a connectionDrop fault',
    scenario: mt4Post(1, (c) => c.inject(MT4, 'connectionDrop')),
  },
  {
    platform: 'mt4',
    name: 'RET_NOT_ENOUGH_RIGHTS',
    how: 'a permissionDenied fault',
    scenario: mt4Post(1, (c) => c.inject(MT4, 'permissionDenied')),
  },
  {
    platform: 'mt4',
    name: 'RET_NOT_ENOUGH_RIGHTS',
    how: 'a manager without the money right posting a balance',
    config: SPECIAL,
    scenario: async (c, p) => {
      const login = await mt4Account(await mt4Connected(c, p));
      return mt4Balance(await mt4As(1001, 'NoMoney#1')(c, p), login, 10, 'no money right');
    },
  },
  {
    platform: 'mt4',
    name: 'RET_NOT_ENOUGH_RIGHTS',
    how: 'a vip* manager posting to an eu-std-usd account',
    config: SPECIAL,
    scenario: async (c, p) => {
      const login = await mt4Account(await mt4Connected(c, p));
      return mt4Balance(await mt4As(1002, 'VipOnly#1')(c, p), login, 10, 'not my group');
    },
  },
  {
    platform: 'mt4',
    name: 'RET_NOT_ENOUGH_RIGHTS',
    how: 'a vip* manager creating an eu-std-usd account',
    config: SPECIAL,
    scenario: async (c, p) => (await mt4As(1002, 'VipOnly#1')(c, p)).UserRecordNew(mt4Record()),
  },
  {
    platform: 'mt4',
    name: 'RET_TOO_FREQUENT',
    how: 'a tooFrequent fault',
    scenario: mt4Post(1, (c) => c.inject(MT4, 'tooFrequent')),
  },
  {
    platform: 'mt4',
    name: 'RET_ACCOUNT_DISABLED',
    how: 'Login of a disabled manager',
    config: SPECIAL,
    scenario: mt4LoginCode(1003, 'Disabled#1'),
  },
  {
    platform: 'mt4',
    name: 'RET_BAD_ACCOUNT_INFO',
    how: 'Login with a wrong password',
    scenario: mt4LoginCode(MANAGER, 'wrong'),
  },
  {
    platform: 'mt4',
    name: 'RET_BAD_ACCOUNT_INFO',
    how: 'Login of a client account',
    scenario: async (c, p) => {
      const login = await mt4Account(await mt4Connected(c, p));
      return mt4LoginCode(login, PASSWORD)(c, p);
    },
  },
  {
    platform: 'mt4',
    name: 'RET_TRADE_TIMEOUT',
    how: 'a timeoutBeforeApply fault',
    scenario: mt4Post(1, (c) => c.inject(MT4, 'timeoutBeforeApply')),
  },
  {
    platform: 'mt4',
    name: 'RET_TRADE_TIMEOUT',
    how: 'a timeoutAfterApply fault',
    scenario: mt4Post(1, (c) => c.inject(MT4, 'timeoutAfterApply')),
  },
  {
    platform: 'mt4',
    name: 'RET_TRADE_BAD_VOLUME',
    how: 'a client opening volume 0',
    scenario: clientOpen(MT4_CODES, MT4, 0, false),
  },
  {
    platform: 'mt4',
    name: 'RET_TRADE_DISABLE',
    how: 'a client of a disabled account opening',
    scenario: clientOpen(MT4_CODES, MT4, 10, true),
  },
  { platform: 'mt4', name: 'RET_TRADE_NO_MONEY', how: 'a withdrawal above the balance', scenario: mt4Post(-100.01) },
  {
    platform: 'mt4',
    name: 'RET_TRADE_NO_MONEY',
    how: 'credit out above the credit given',
    scenario: async (c, p) => {
      const mt4 = await mt4Connected(c, p);
      const login = await mt4Account(mt4, MT4_GROUP, 100_00);
      await mt4Balance(mt4, login, 5, 'credit in', MT4_OP.OP_CREDIT);
      return mt4Balance(mt4, login, -6, 'credit out', MT4_OP.OP_CREDIT);
    },
  },

  // ---------------- MT5 ----------------
  {
    platform: 'mt5',
    name: 'MT_RET_OK',
    how: 'Connect with good credentials',
    scenario: mt5ConnectCode(MANAGER, MANAGER_PASSWORD),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_OK',
    how: 'UserAdd',
    scenario: async (c, p) => (await mt5Connected(c, p)).UserAdd(mt5UserObject()),
  },
  { platform: 'mt5', name: 'MT_RET_REQUEST_DONE', how: 'DealerBalance that succeeds', scenario: mt5Post(10) },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_DONE',
    how: 'DealerBalance of exactly 1e9',
    scenario: mt5Post(1_000_000_000),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_PARAMS',
    how: 'DealerBalance with deal type 0 (DEAL_BUY)',
    scenario: mt5Post(10, MT5_DEAL_ACTION.DEAL_BUY),
  },
  { platform: 'mt5', name: 'MT_RET_ERR_PARAMS', how: 'DealerBalance with a zero amount', scenario: mt5Post(0) },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_PARAMS',
    how: 'UserAdd in an unknown group',
    scenario: async (c, p) => (await mt5Connected(c, p)).UserAdd(mt5UserObject('real\\nowhere')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_NETWORK',
    how: 'a connectionDrop fault',
    scenario: mt5Post(1, undefined, (c) => c.inject(MT5, 'connectionDrop')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_PERMISSIONS',
    how: 'a permissionDenied fault',
    scenario: mt5Post(1, undefined, (c) => c.inject(MT5, 'permissionDenied')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_PERMISSIONS',
    how: 'a manager without the money right',
    config: SPECIAL,
    scenario: async (c, p) => {
      const login = await mt5Account(await mt5Connected(c, p));
      const m = await mt5Connected(c, p, MT5, 10_000, { login: 1001, password: 'NoMoney#1' });
      return (await m.DealerBalance(login, 1, MT5_DEAL_ACTION.DEAL_BALANCE, 'no right')).code;
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_PERMISSIONS',
    how: 'a vip\\* manager reading a real\\standard-usd user',
    config: SPECIAL,
    scenario: async (c, p) => {
      const login = await mt5Account(await mt5Connected(c, p));
      const m = await mt5Connected(c, p, MT5, 10_000, { login: 1002, password: 'VipOnly#1' });
      return (await m.UserRequest(login)).code;
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_TIMEOUT',
    how: 'a timeoutBeforeApply fault',
    scenario: mt5Post(1, undefined, (c) => c.inject(MT5, 'timeoutBeforeApply')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_CONNECTION',
    how: 'a request before Connect',
    scenario: async (c, p) => (await new Mt5ManagerApi(c, { clock: p }).TimeServerRequest()).code,
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_CONNECTION',
    how: 'Connect while the server is down',
    scenario: async (c, p) => {
      c.restart(MT5, 10_000);
      return mt5ConnectCode(MANAGER, MANAGER_PASSWORD)(c, p);
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_CONNECTION',
    how: 'a silentLogout fault',
    scenario: mt5Post(1, undefined, (c) => c.inject(MT5, 'silentLogout')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_FREQUENT',
    how: 'a tooFrequent fault',
    scenario: mt5Post(1, undefined, (c) => c.inject(MT5, 'tooFrequent')),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_NOTFOUND',
    how: 'UserRequest of an unknown login',
    scenario: async (c, p) => (await (await mt5Connected(c, p)).UserRequest(5_999_999)).code,
  },
  {
    platform: 'mt5',
    name: 'MT_RET_ERR_NOTFOUND',
    how: 'DealerBalance to an unknown login',
    scenario: async (c, p) =>
      (await (await mt5Connected(c, p)).DealerBalance(5_999_999, 1, MT5_DEAL_ACTION.DEAL_BALANCE, '')).code,
  },
  {
    platform: 'mt5',
    name: 'MT_RET_AUTH_ACCOUNT_INVALID',
    how: 'Connect with a wrong password',
    scenario: mt5ConnectCode(MANAGER, 'wrong'),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_AUTH_ACCOUNT_DISABLED',
    how: 'Connect of a disabled manager',
    config: SPECIAL,
    scenario: mt5ConnectCode(1003, 'Disabled#1'),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_USR_LOGIN_EXHAUSTED',
    how: 'a third user in a two-login range',
    config: TINY_RANGE,
    scenario: async (c, p) => {
      const mt5 = await mt5Connected(c, p);
      await mt5Account(mt5);
      await mt5Account(mt5);
      return mt5.UserAdd(mt5UserObject());
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_USR_LOGIN_PROHIBITED',
    how: 'UserAdd with a login outside the range',
    scenario: async (c, p) => (await mt5Connected(c, p)).UserAdd(mt5UserObject(MT5_GROUP, { Login: 4_999_999 })),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_USR_LOGIN_EXIST',
    how: 'UserAdd with a taken login',
    scenario: async (c, p) => {
      const mt5 = await mt5Connected(c, p);
      const login = await mt5Account(mt5);
      return mt5.UserAdd(mt5UserObject(MT5_GROUP, { Login: login }));
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_USR_INVALID_PASSWORD',
    how: 'UserAdd with a password without a special character',
    scenario: async (c, p) => (await mt5Connected(c, p)).UserAdd(mt5UserObject(MT5_GROUP, { PassMain: 'Passw0rdxx' })),
  },
  { platform: 'mt5', name: 'MT_RET_TRADE_MAX_MONEY', how: 'DealerBalance above 1e9', scenario: mt5Post(1_000_000_001) },
  { platform: 'mt5', name: 'MT_RET_TRADE_MAX_MONEY', how: 'a withdrawal above 1e9', scenario: mt5Post(-1_000_000_001) },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_INVALID_VOLUME',
    how: 'a client opening volume 0',
    scenario: clientOpen(MT5_CODES, MT5, 0, false),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_TRADE_DISABLED',
    how: 'a client of a disabled account opening',
    scenario: clientOpen(MT5_CODES, MT5, 10, true),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_NO_MONEY',
    how: 'a withdrawal above the balance',
    scenario: mt5Post(-100.01),
  },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_NO_MONEY',
    how: 'credit out above the credit given',
    scenario: async (c, p) => {
      const mt5 = await mt5Connected(c, p);
      const login = await mt5Account(mt5, MT5_GROUP, 100_00);
      await mt5.DealerBalance(login, 5, MT5_DEAL_ACTION.DEAL_CREDIT, 'credit in');
      return (await mt5.DealerBalance(login, -6, MT5_DEAL_ACTION.DEAL_CREDIT, 'credit out')).code;
    },
  },
  {
    platform: 'mt5',
    name: 'MT_RET_REQUEST_NO_MONEY',
    how: 'a withdrawal within the balance but above the free margin of an open position',
    scenario: async (c, p) => {
      const mt5 = await mt5Connected(c, p);
      const login = await mt5Account(mt5, MT5_GROUP, 1_000_00);
      // 0.5 lot EURUSD at 1:100 ties up about 542 USD of margin: free margin ~455 < 600 < balance 1000.
      const open = c.client(MT5).open(login, 'EURUSD', 'buy', 50);
      if (!open.ok) throw new Error(`open refused: ${open.fail}`);
      return (await mt5.DealerBalance(login, -600, MT5_DEAL_ACTION.DEAL_BALANCE, 'above free margin')).code;
    },
  },
];

function codeValue(platform: 'mt4' | 'mt5', name: string): number {
  const table: Record<string, number> = platform === 'mt4' ? MT4_RET : MT5_RET;
  const value = table[name];
  if (value === undefined) throw new Error(`no code ${name} on ${platform}`);
  return value;
}

function modelled(table: CodeTable): number[] {
  const { fail, ...rest } = table;
  return [...new Set([...Object.values(rest), ...Object.values(fail)])].sort((a, b) => a - b);
}

describe('every modelled code is reachable', () => {
  it.each(ROWS.map((r) => [r.platform, r.name, codeValue(r.platform, r.name), r.how, r] as const))(
    '%s %s (%i): %s',
    async (_platform, _name, expected, _how, row) => {
      const cluster = quietCluster(row.config === undefined ? {} : { config: row.config });
      const code = await inProcess(cluster, (proc) => row.scenario(cluster, proc));
      expect(code).toBe(expected);
    },
  );

  it.each([
    ['mt4', MT4_CODES],
    ['mt5', MT5_CODES],
  ] as const)('every value of the %s code table has a row above', (platform, table) => {
    const covered = new Set(ROWS.filter((r) => r.platform === platform).map((r) => codeValue(r.platform, r.name)));
    expect(modelled(table).filter((code) => !covered.has(code))).toEqual([]);
  });

  it('the tables say what they mean: MT4 connection failures are RET_NO_CONNECT, MT5 ones differ by when', () => {
    expect(MT4_CODES.noConnection).toBe(MT4_RET.RET_NO_CONNECT);
    expect(MT4_CODES.lost).toBe(MT4_RET.RET_NO_CONNECT);
    expect(MT5_CODES.noConnection).toBe(MT5_RET.MT_RET_ERR_CONNECTION);
    expect(MT5_CODES.lost).toBe(MT5_RET.MT_RET_ERR_NETWORK);
  });
});
