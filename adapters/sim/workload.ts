import { WeightedChoice } from '../../kit/random.ts';
import type { Process } from '../../kit/scheduler.ts';
import { type ClusterOptions, type ManagerConfig, SimCluster, type TradingClient } from '../../simulator/index.ts';
import type { ManagerApi, Result } from '../port/manager-api.ts';
import { createSimManagerApi } from './index.ts';

/**
 * A random manager workload against the simulated cluster alone: one manager connection per server
 * opening accounts, moving money, reading history and margin, while clients trade and the faults fire.
 * Used by `mtproof sim trace` and the simulator benchmark. Everything is a function of the seed.
 */

export interface WorkloadOptions {
  seed: string | number;
  /** Manager operations to perform (a reconnect counts as one). */
  steps: number;
  config?: ClusterOptions['config'];
  faults?: ClusterOptions['faults'];
  /** Keep every trace event in memory (tests, replays); counts and the hash are kept regardless. */
  retainTrace?: boolean;
  /** Chance, after each step, that the manager pauses (virtual time passes). */
  pauseProbability?: number;
  /** Mean pause. */
  pauseMeanMs?: number;
  timeoutMs?: number;
  /** Subscribe to each server's pumping stream (default true). */
  pump?: boolean;
  /** Which calls the manager makes, and how often: `broad` (default) or `integration`. */
  mix?: WorkloadMix;
  /** Accounts the workload opens per server at most (listing accounts is linear in their number). */
  maxAccountsPerServer?: number;
}

export interface ServerSummary {
  id: string;
  platform: 'mt4' | 'mt5';
  kind: 'live' | 'demo';
  accounts: number;
  totalBalanceCents: number;
  totalCreditCents: number;
  openPositions: number;
}

export interface WorkloadSummary {
  seed: string;
  steps: number;
  /** The trace hash: the same seed and options always give the same hash. */
  hash: string;
  traceEvents: number;
  /** Manager-API calls made through the port, by operation (client trades counted as trade.open/close). */
  operations: Record<string, number>;
  outcomes: { ok: number; rejected: number; unavailable: number; unknown: number };
  /** Faults that fired, by kind. */
  faults: Record<string, number>;
  /** Fault kinds the seed's swarm switched off. */
  swarmedOff: string[];
  pumpEvents: number;
  virtualMs: number;
  servers: ServerSummary[];
}

const PASSWORD = 'Passw0rd!x';

type Action =
  | 'createAccount'
  | 'deposit'
  | 'withdrawal'
  | 'creditIn'
  | 'creditOut'
  | 'getAccount'
  | 'balanceHistory'
  | 'marginLevel'
  | 'updateAccount'
  | 'setPassword'
  | 'trades'
  | 'openPositions'
  | 'groups'
  | 'ping'
  | 'serverTime'
  | 'listAccounts'
  | 'trade.open'
  | 'trade.close';

/** Every kind of manager call, listing and full-history reads included (`mtproof sim trace`). */
const BROAD: readonly (readonly [Action, number])[] = [
  ['createAccount', 6],
  ['deposit', 20],
  ['withdrawal', 8],
  ['creditIn', 3],
  ['creditOut', 2],
  ['getAccount', 12],
  ['balanceHistory', 8],
  ['marginLevel', 8],
  ['updateAccount', 2],
  ['setPassword', 1],
  ['trades', 3],
  ['openPositions', 3],
  ['groups', 1],
  ['ping', 3],
  ['serverTime', 2],
  ['listAccounts', 1],
  ['trade.open', 8],
  ['trade.close', 6],
];

/**
 * What a broker's integration service mostly does: money in and out, account and margin reads, recent
 * history look-ups (check-before-retry), keepalive. No whole-server listings.
 */
const INTEGRATION: readonly (readonly [Action, number])[] = [
  ['createAccount', 4],
  ['deposit', 25],
  ['withdrawal', 10],
  ['creditIn', 3],
  ['creditOut', 2],
  ['getAccount', 20],
  ['balanceHistory', 10],
  ['marginLevel', 15],
  ['updateAccount', 2],
  ['ping', 5],
  ['serverTime', 3],
  ['trade.open', 3],
  ['trade.close', 3],
];

export const WORKLOAD_MIXES = { broad: BROAD, integration: INTEGRATION } as const;
export type WorkloadMix = keyof typeof WORKLOAD_MIXES;

interface Lane {
  id: string;
  /** The server's first configured manager: the workload logs in as it. */
  manager: { login: number; password: string };
  api: ManagerApi;
  /** A client trading in the terminal on this server. */
  client: TradingClient;
  groups: string[];
  logins: number[];
  positions: number[];
}

export async function runWorkload(
  options: WorkloadOptions,
): Promise<{ summary: WorkloadSummary; cluster: SimCluster }> {
  if (!Number.isInteger(options.steps) || options.steps < 0) throw new Error(`workload: bad steps ${options.steps}`);
  const cluster = new SimCluster({
    seed: options.seed,
    config: options.config,
    faults: options.faults,
    trace: { retain: options.retainTrace ?? false },
  });
  const summary: WorkloadSummary = {
    seed: String(options.seed),
    steps: options.steps,
    hash: '',
    traceEvents: 0,
    operations: {},
    outcomes: { ok: 0, rejected: 0, unavailable: 0, unknown: 0 },
    faults: {},
    swarmedOff: [...cluster.plan.swarmedOff],
    pumpEvents: 0,
    virtualMs: 0,
    servers: [],
  };
  const random = cluster.random.fork('workload');
  const pauseProbability = options.pauseProbability ?? 0.03;
  const pauseMeanMs = options.pauseMeanMs ?? 10_000;
  const maxAccounts = options.maxAccountsPerServer ?? 2_000;
  const actions = new WeightedChoice(WORKLOAD_MIXES[options.mix ?? 'broad']);
  const startMs = cluster.scheduler.nowMs();

  let endMs = startMs;
  const manager = cluster.scheduler.spawn('manager', async (proc: Process) => {
    const lanes: Lane[] = [...cluster.servers.values()].map((server) => {
      // The configuration schema asks for at least one manager per server.
      const manager = server.config.managers[0] as ManagerConfig;
      return {
        id: server.id,
        manager: { login: manager.login, password: manager.password },
        api: createSimManagerApi(cluster, server.id, { clock: proc, timeoutMs: options.timeoutMs }),
        client: cluster.client(server.id),
        groups: [...server.groups.keys()],
        logins: [],
        positions: [],
      };
    });
    const symbols = cluster.prices.symbols();
    const count = (op: string): void => {
      summary.operations[op] = (summary.operations[op] ?? 0) + 1;
    };
    const tally = <T>(op: string, result: Result<T>): Result<T> => {
      count(op);
      if (result.ok) summary.outcomes.ok++;
      else summary.outcomes[result.error.outcome]++;
      return result;
    };
    const onPump = (): void => {
      summary.pumpEvents++;
    };

    for (let step = 1; step <= options.steps; step++) {
      const lane = random.pick(lanes);
      if (!lane.api.isConnected()) {
        const connected = tally('connect', await lane.api.connect(lane.manager));
        // connect() has ended the lane's previous subscription, and close() ends this one.
        if (connected.ok && options.pump !== false) tally('subscribe', await lane.api.subscribe(onPump));
      } else {
        await act(lane, actions.pick(random), step);
      }
      if (random.chance(pauseProbability)) await proc.sleep(Math.round(random.exponential(pauseMeanMs)));
    }
    for (const lane of lanes) await lane.api.close();
    endMs = proc.nowMs();

    async function act(lane: Lane, action: Action, step: number): Promise<void> {
      const api = lane.api;
      const login = lane.logins.length > 0 ? random.pick(lane.logins) : null;
      const comment = `W-${step}`;
      switch (action) {
        case 'createAccount': {
          if (lane.logins.length >= maxAccounts) return;
          const r = tally(
            action,
            await api.createAccount({
              group: random.pick(lane.groups),
              name: `Client ${step}`,
              email: `client${step}@example.com`,
              country: random.pick(['DE', 'FR', 'CY', 'GB', 'AE', 'ZA']),
              externalId: `C${step}`,
              password: PASSWORD,
            }),
          );
          if (r.ok) lane.logins.push(r.value.login);
          return;
        }
        case 'deposit':
        case 'withdrawal':
        case 'creditIn':
        case 'creditOut': {
          if (login === null) return;
          const sign = action === 'deposit' || action === 'creditIn' ? 1 : -1;
          const kind = action === 'deposit' || action === 'withdrawal' ? 'balance' : 'credit';
          const amountCents = sign * random.int(1_000, action === 'deposit' ? 500_000 : 200_000);
          tally(action, await api.postBalance({ login, amountCents, kind, comment }));
          return;
        }
        case 'getAccount':
          if (login !== null) tally(action, await api.getAccount(login));
          return;
        case 'balanceHistory':
        case 'trades': {
          if (login === null) return;
          const now = await api.serverTime();
          tally('serverTime', now);
          if (!now.ok) return;
          // Mostly recent look-ups (as check-before-retry does), now and then a week of statements.
          const from = now.value - (random.chance(0.8) ? random.int(60, 3_600) : random.int(3_600, 7 * 86_400));
          if (action === 'balanceHistory') tally(action, await api.balanceHistory(login, from, now.value + 60));
          else tally(action, await api.trades(login, from, now.value + 60));
          return;
        }
        case 'marginLevel':
          if (login !== null) tally(action, await api.marginLevel(login));
          return;
        case 'updateAccount':
          if (login !== null) {
            tally(
              action,
              await api.updateAccount(
                login,
                random.chance(0.5) ? { leverage: random.pick([30, 50, 100]) } : { readOnly: false, enabled: true },
              ),
            );
          }
          return;
        case 'setPassword':
          if (login !== null)
            tally(
              action,
              await api.setPassword(login, random.chance(0.5) ? 'main' : 'investor', `Passw0rd!${step % 10}`),
            );
          return;
        case 'openPositions':
          if (login !== null) tally(action, await api.openPositions(login));
          return;
        case 'groups':
          tally(action, await api.groups());
          return;
        case 'ping':
          tally(action, await api.ping());
          return;
        case 'serverTime':
          tally(action, await api.serverTime());
          return;
        case 'listAccounts':
          tally(action, await api.listAccounts('*'));
          return;
        case 'trade.open': {
          // A client trading in the terminal: not a manager call, it acts on the server directly.
          if (login === null) return;
          count(action);
          const r = lane.client.open(
            login,
            random.pick(symbols),
            random.chance(0.5) ? 'buy' : 'sell',
            random.int(1, 50),
          );
          if (r.ok) lane.positions.push(r.value.ticket);
          return;
        }
        case 'trade.close': {
          if (lane.positions.length === 0) return;
          count(action);
          const index = random.int(0, lane.positions.length - 1);
          const [ticket] = lane.positions.splice(index, 1);
          lane.client.close(ticket as number);
          return;
        }
      }
    }
  });

  // The run ends with the manager's last step: faults scheduled later, and downtimes still running, are
  // left unplayed rather than stretching the run.
  await cluster.scheduler.run({ stopWhen: () => manager.state !== 'running' });
  if (manager.state !== 'done') throw new Error(`workload: the manager process ended ${manager.state}`);
  summary.hash = cluster.trace.hash();
  summary.traceEvents = cluster.trace.length;
  summary.faults = cluster.trace.counts('fault');
  summary.operations = sortKeys(summary.operations);
  summary.virtualMs = endMs - startMs;
  for (const server of cluster.servers.values()) {
    let totalBalanceCents = 0;
    let totalCreditCents = 0;
    for (const a of server.accounts.values()) {
      totalBalanceCents += a.balanceCents;
      totalCreditCents += a.creditCents;
    }
    summary.servers.push({
      id: server.id,
      platform: server.platform,
      kind: server.config.kind,
      accounts: server.accounts.size,
      totalBalanceCents,
      totalCreditCents,
      openPositions: server.allOpenPositions().length,
    });
  }
  return { summary, cluster };
}

function sortKeys(record: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(record).sort()) out[key] = record[key] as number;
  return out;
}
