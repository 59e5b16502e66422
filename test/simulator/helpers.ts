import type { Process } from '../../kit/scheduler.ts';
import type { TraceEvent } from '../../kit/trace.ts';
import { MT4_OP, MT4_TT, MT5_DEAL_ACTION, MT5_USER_RIGHT } from '../../metatrader/constants.ts';
import { type ClusterOptions, SimCluster } from '../../simulator/cluster.ts';
import type { ClusterConfigInput } from '../../simulator/config.ts';
import { DEFAULT_CLUSTER } from '../../simulator/default-cluster.ts';
import { Mt4ManagerInterface, type Mt4TradeRecord, type Mt4UserRecord } from '../../simulator/mt4.ts';
import { type Mt5Deal, Mt5ManagerApi, type Mt5User } from '../../simulator/mt5.ts';

/** Shared fixtures for the simulator tests: a quiet cluster, connected dialect clients, accounts. */

export const MT4 = 'mt4-live-eu';
export const MT5 = 'mt5-live-global';
export const MT4_DEMO = 'mt4-demo';
export const MT4_GROUP = 'eu-std-usd';
export const MT5_GROUP = 'real\\standard-usd';
export const PASSWORD = 'Passw0rd!x';
export const MANAGER = 1000;
export const MANAGER_PASSWORD = 'Manager#1';
export const TIMEOUT_MS = 10_000;
/** Wide enough for every server-time history query of a test run. */
export const ALL_TIME: readonly [number, number] = [0, 2_147_483_647];

/** A cluster with random faults off (only injected or scheduled faults fire) and a retained trace. */
export function quietCluster(options: Partial<ClusterOptions> = {}): SimCluster {
  return new SimCluster({
    seed: 7,
    faults: { intensity: 0, swarm: false },
    trace: { retain: true },
    ...options,
  });
}

/** Runs `body` as a process of the cluster's scheduler until the scheduler is idle; returns its value. */
export async function inProcess<T>(cluster: SimCluster, body: (proc: Process) => Promise<T>): Promise<T> {
  let out: { value: T } | undefined;
  cluster.scheduler.spawn('test', async (proc) => {
    out = { value: await body(proc) };
  });
  await cluster.scheduler.run();
  if (out === undefined) throw new Error('test process did not finish');
  return out.value;
}

/** A deep copy of the default cluster with `edit` applied (for configs a test needs changed). */
export function clusterConfig(edit: (config: ClusterConfigInput) => void): ClusterConfigInput {
  const config = structuredClone(DEFAULT_CLUSTER) as ClusterConfigInput;
  edit(config);
  return config;
}

// ---- MT4 ----

export function mt4Record(group = MT4_GROUP, overrides: Partial<Mt4UserRecord> = {}): Mt4UserRecord {
  return {
    login: 0,
    group,
    password: PASSWORD,
    enable: 1,
    enable_read_only: 0,
    password_investor: PASSWORD,
    name: 'Test Client',
    country: 'DE',
    email: 'client@example.com',
    comment: '',
    id: '',
    leverage: 30,
    regdate: 0,
    balance: 0,
    credit: 0,
    ...overrides,
  };
}

export async function mt4Connected(
  cluster: SimCluster,
  proc: Process,
  server = MT4,
  timeoutMs = TIMEOUT_MS,
  manager: { login: number; password: string } = { login: MANAGER, password: MANAGER_PASSWORD },
): Promise<Mt4ManagerInterface> {
  const mt4 = new Mt4ManagerInterface(cluster, { clock: proc, timeoutMs });
  const connect = await mt4.Connect(server);
  if (connect !== 0) throw new Error(`MT4 Connect answered ${connect}`);
  const login = await mt4.Login(manager.login, manager.password);
  if (login !== 0) throw new Error(`MT4 Login answered ${login}`);
  return mt4;
}

/** Creates an account (and deposits `depositCents` when > 0); returns its login. */
export async function mt4Account(mt4: Mt4ManagerInterface, group = MT4_GROUP, depositCents = 0): Promise<number> {
  const record = mt4Record(group);
  const code = await mt4.UserRecordNew(record);
  if (code !== 0) throw new Error(`MT4 UserRecordNew answered ${code}`);
  if (depositCents > 0) {
    const dep = await mt4Balance(mt4, record.login, depositCents / 100, 'initial deposit');
    if (dep !== 0) throw new Error(`MT4 deposit answered ${dep}`);
  }
  return record.login;
}

/** TradeTransaction TT_BR_BALANCE / OP_BALANCE (or OP_CREDIT) of a signed amount. */
export function mt4Balance(
  mt4: Mt4ManagerInterface,
  login: number,
  amount: number,
  comment: string,
  cmd: number = MT4_OP.OP_BALANCE,
): Promise<number> {
  return mt4.TradeTransaction({ type: MT4_TT.TT_BR_BALANCE, cmd, orderby: login, price: amount, comment });
}

export async function mt4BalanceOf(mt4: Mt4ManagerInterface, login: number): Promise<number> {
  const r = await mt4.UserRecordsRequest([login]);
  if (r.code !== 0 || r.records.length !== 1) throw new Error(`MT4 UserRecordsRequest answered ${r.code}`);
  return (r.records[0] as Mt4UserRecord).balance;
}

export async function mt4User(mt4: Mt4ManagerInterface, login: number): Promise<Mt4UserRecord> {
  const r = await mt4.UserRecordsRequest([login]);
  if (r.code !== 0 || r.records.length !== 1) throw new Error(`MT4 UserRecordsRequest answered ${r.code}`);
  return r.records[0] as Mt4UserRecord;
}

export async function mt4History(
  mt4: Mt4ManagerInterface,
  login: number,
  from = ALL_TIME[0],
  to = ALL_TIME[1],
): Promise<Mt4TradeRecord[]> {
  const r = await mt4.TradesUserHistory(login, from, to);
  if (r.code !== 0) throw new Error(`MT4 TradesUserHistory answered ${r.code}`);
  return r.records;
}

// ---- MT5 ----

export function mt5UserObject(group = MT5_GROUP, overrides: Partial<Mt5User> = {}): Mt5User {
  return {
    Login: 0,
    Group: group,
    Name: 'Test Client',
    Email: 'client@example.com',
    Country: 'DE',
    ID: '',
    Comment: '',
    Leverage: 100,
    Rights: MT5_USER_RIGHT.USER_RIGHT_DEFAULT,
    Balance: 0,
    Credit: 0,
    Registration: 0,
    PassMain: PASSWORD,
    PassInvestor: PASSWORD,
    ...overrides,
  };
}

export async function mt5Connected(
  cluster: SimCluster,
  proc: Process,
  server = MT5,
  timeoutMs = TIMEOUT_MS,
  manager: { login: number; password: string } = { login: MANAGER, password: MANAGER_PASSWORD },
): Promise<Mt5ManagerApi> {
  const mt5 = new Mt5ManagerApi(cluster, { clock: proc, timeoutMs });
  const code = await mt5.Connect(server, manager.login, manager.password);
  if (code !== 0) throw new Error(`MT5 Connect answered ${code}`);
  return mt5;
}

export async function mt5Account(mt5: Mt5ManagerApi, group = MT5_GROUP, depositCents = 0): Promise<number> {
  const user = mt5UserObject(group);
  const code = await mt5.UserAdd(user);
  if (code !== 0) throw new Error(`MT5 UserAdd answered ${code}`);
  if (depositCents > 0) {
    const dep = await mt5.DealerBalance(
      user.Login,
      depositCents / 100,
      MT5_DEAL_ACTION.DEAL_BALANCE,
      'initial deposit',
    );
    if (dep.code !== 10009) throw new Error(`MT5 deposit answered ${dep.code}`);
  }
  return user.Login;
}

export async function mt5BalanceOf(mt5: Mt5ManagerApi, login: number): Promise<number> {
  const r = await mt5.UserRequest(login);
  if (r.code !== 0 || r.user === null) throw new Error(`MT5 UserRequest answered ${r.code}`);
  return r.user.Balance;
}

export async function mt5Deals(
  mt5: Mt5ManagerApi,
  login: number,
  from = ALL_TIME[0],
  to = ALL_TIME[1],
): Promise<Mt5Deal[]> {
  const r = await mt5.DealRequest(login, from, to);
  if (r.code !== 0) throw new Error(`MT5 DealRequest answered ${r.code}`);
  return r.deals;
}

// ---- trace ----

export function faultEvents(cluster: SimCluster, kind?: string): TraceEvent[] {
  return cluster.trace.events().filter((e) => e.type === 'fault' && (kind === undefined || e.name === kind));
}

export function callEvents(cluster: SimCluster, name?: string): TraceEvent[] {
  return cluster.trace.events().filter((e) => e.type === 'call' && (name === undefined || e.name === name));
}
