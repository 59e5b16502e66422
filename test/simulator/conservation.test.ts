import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ManagerApi } from '../../adapters/port/index.ts';
import { createSimManagerApi } from '../../adapters/sim/index.ts';
import { FAULT_KINDS, type FaultKind, SimCluster } from '../../simulator/index.ts';
import { propertyParams } from '../property.ts';

/**
 * Per-account conservation over random workloads with faults: every account's balance equals the sum
 * of its balance operations (manager, dealer and system ones) plus its closed trades' profit, and its
 * credit the sum of its credit operations — whatever timeouts, drops, restarts and lags happened.
 * History read back through the port, once lags are over, tells the same story.
 */

type Command =
  | { kind: 'create'; server: number }
  | { kind: 'money'; server: number; pick: number; amountCents: number; credit: boolean }
  | { kind: 'open'; server: number; pick: number; volume: number; buy: boolean; symbol: number }
  | { kind: 'close'; server: number; pick: number }
  | { kind: 'dealer'; server: number; pick: number; amountCents: number }
  | { kind: 'fault'; server: number; fault: FaultKind }
  | { kind: 'sleep'; ms: number };

const server = fc.integer({ min: 0, max: 2 });
const pick = fc.nat();
const command: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('create' as const), server }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('money' as const),
      server,
      pick,
      amountCents: fc.integer({ min: -500_000, max: 1_000_000 }).filter((n) => n !== 0),
      credit: fc.boolean(),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      server,
      pick,
      volume: fc.integer({ min: 1, max: 100 }),
      buy: fc.boolean(),
      symbol: fc.nat({ max: 2 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('close' as const), server, pick }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('dealer' as const),
      server,
      pick,
      amountCents: fc.integer({ min: -20_000, max: 20_000 }).filter((n) => n !== 0),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('fault' as const), server, fault: fc.constantFrom(...FAULT_KINDS) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('sleep' as const), ms: fc.integer({ min: 1, max: 120_000 }) }),
    weight: 2,
  },
);

async function runCommands(seed: number, commands: readonly Command[]): Promise<SimCluster> {
  // Random faults on at three times the default rate, on top of the commanded ones.
  const cluster = new SimCluster({ seed, faults: { intensity: 3 } });
  const ids = [...cluster.servers.keys()];
  cluster.scheduler.spawn('workload', async (proc) => {
    const apis: ManagerApi[] = ids.map((id) => createSimManagerApi(cluster, id, { clock: proc }));
    const logins: number[][] = ids.map(() => []);
    const tickets: number[][] = ids.map(() => []);
    const ready = async (i: number): Promise<ManagerApi | null> => {
      const api = apis[i] as ManagerApi;
      if (api.isConnected()) return api;
      const r = await api.connect({ login: 1000, password: 'Manager#1' });
      return r.ok ? api : null;
    };
    for (const c of commands) {
      if (c.kind === 'sleep') {
        await proc.sleep(c.ms);
        continue;
      }
      const id = ids[c.server] as string;
      const known = logins[c.server] as number[];
      const login = known.length > 0 ? known[('pick' in c ? c.pick : 0) % known.length] : undefined;
      switch (c.kind) {
        case 'create': {
          const api = await ready(c.server);
          if (api === null) break;
          const group = [...cluster.server(id).groups.keys()][0] as string;
          const r = await api.createAccount({ group, name: 'Prop Client', password: 'Passw0rd!x' });
          if (r.ok) known.push(r.value.login);
          break;
        }
        case 'money': {
          const api = await ready(c.server);
          if (api === null || login === undefined) break;
          await api.postBalance({
            login,
            amountCents: c.amountCents,
            kind: c.credit ? 'credit' : 'balance',
            comment: 'prop',
          });
          break;
        }
        case 'open': {
          if (login === undefined) break;
          const symbol = cluster.prices.symbols()[c.symbol] as string;
          const r = cluster.client(id).open(login, symbol, c.buy ? 'buy' : 'sell', c.volume);
          if (r.ok) tickets[c.server]?.push(r.value.ticket);
          break;
        }
        case 'close': {
          const open = tickets[c.server] as number[];
          if (open.length === 0) break;
          const [ticket] = open.splice(c.pick % open.length, 1);
          cluster.client(id).close(ticket as number);
          break;
        }
        case 'dealer':
          if (login !== undefined) cluster.dealer(id).balanceCorrection(login, c.amountCents, 'prop dealer');
          break;
        case 'fault':
          cluster.inject(id, c.fault, c.fault === 'restart' ? { downtimeMs: 20_000 } : {});
          break;
      }
    }
  });
  await cluster.scheduler.run();
  return cluster;
}

/** Checks every account's ledger; returns how many operations it checked (so a run that checked none shows). */
function checkLedgers(cluster: SimCluster): number {
  let checked = 0;
  for (const server of cluster.servers.values()) {
    for (const account of server.accounts.values()) {
      let balance = 0;
      let credit = 0;
      for (const op of server.allBalanceOps(account.login)) {
        if (op.kind === 'balance') balance += op.amountCents;
        else credit += op.amountCents;
      }
      for (const trade of server.allClosedTrades(account.login)) balance += trade.profitCents;
      checked += server.allBalanceOps(account.login).length + server.allClosedTrades(account.login).length;
      expect(account.balanceCents, `${server.id} ${account.login} balance`).toBe(balance);
      expect(account.creditCents, `${server.id} ${account.login} credit`).toBe(credit);
      expect(account.creditCents, `${server.id} ${account.login} credit never negative`).toBeGreaterThanOrEqual(0);
    }
  }
  return checked;
}

describe('per-account conservation', () => {
  it('holds over random workloads with faults', async () => {
    const params = propertyParams('conservation', 100);
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(command, { minLength: 1, maxLength: 120 }),
        async (seed, commands) => {
          checked += checkLedgers(await runCommands(seed, commands));
        },
      ),
      params,
    );
    expect(checked, 'operations checked over all runs').toBeGreaterThan(0);
  });

  it('agrees with the history read back through the port once lags are over', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(command, { minLength: 20, maxLength: 80 }),
        async (seed, commands) => {
          const cluster = await runCommands(seed, commands);
          // Wait out every history lag, then read history over all of time through a fresh connection.
          cluster.scheduler.spawn('auditor', async (proc) => {
            await proc.sleep(3_600_000);
            for (const server of cluster.servers.values()) {
              const api = createSimManagerApi(cluster, server.id, { clock: proc });
              let connected = await api.connect({ login: 1000, password: 'Manager#1' });
              for (let i = 0; i < 5 && !connected.ok; i++) {
                await proc.sleep(120_000);
                connected = await api.connect({ login: 1000, password: 'Manager#1' });
              }
              expect(connected.ok).toBe(true);
              for (const account of server.accounts.values()) {
                // Faults are still on: retry (with time passing) until a read gets through.
                let history = await api.balanceHistory(account.login, 0, 2 ** 31 - 1);
                for (let attempt = 0; !history.ok && attempt < 50; attempt++) {
                  await proc.sleep(60_000);
                  if (!api.isConnected()) await api.connect({ login: 1000, password: 'Manager#1' });
                  history = await api.balanceHistory(account.login, 0, 2 ** 31 - 1);
                }
                if (!history.ok) throw new Error(`no history read got through: ${history.error.message}`);
                const truth = server.allBalanceOps(account.login);
                expect(history.value.map((o) => o.ticket).sort()).toEqual(truth.map((o) => o.ticket).sort());
                const sum = history.value.filter((o) => o.kind === 'balance').reduce((a, o) => a + o.amountCents, 0);
                expect(sum).toBe(truth.filter((o) => o.kind === 'balance').reduce((a, o) => a + o.amountCents, 0));
              }
            }
          });
          await cluster.scheduler.run();
        },
      ),
      propertyParams('history read back', 25),
    );
  });
});
