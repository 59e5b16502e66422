import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../simulator/index.ts';
import { propertyParams } from '../property.ts';

type Step =
  | { kind: 'op'; amountCents: number }
  | { kind: 'trade' }
  | { kind: 'wait'; ms: number }
  | { kind: 'skew'; ms: number }
  | { kind: 'zone'; min: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('op' as const), amountCents: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant('trade' as const) }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 7_200_000 }) }),
  fc.record({ kind: fc.constant('skew' as const), ms: fc.integer({ min: -900_000, max: 900_000 }) }),
  fc.record({ kind: fc.constant('zone' as const), min: fc.constantFrom(-60, 60, 120, -180) }),
);

describe('history by server-time range', () => {
  it('finds exactly the records a full scan finds, across clock skews and time-zone shifts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('mt4-live-eu', 'mt5-live-global'),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        fc.array(fc.tuple(fc.integer({ min: -20_000, max: 200_000 }), fc.integer({ min: 0, max: 200_000 })), {
          minLength: 1,
          maxLength: 10,
        }),
        async (serverId, steps, ranges) => {
          const cluster = new SimCluster({ seed: 1, faults: { intensity: 0, swarm: false } });
          const server = cluster.server(serverId);
          const group = [...server.groups.keys()][0] as string;
          const created = server.createAccount({ group, name: 'History', password: 'Passw0rd!x' });
          if (!created.ok) throw new Error('account');
          const login = created.value.login;
          server.postBalance(login, 'balance', 10_000_000, 'seed money', server.platform === 'mt4' ? 6 : 2, {
            by: 'system',
          });
          const startSec = server.serverSec();
          cluster.scheduler.spawn('steps', async (proc) => {
            for (const s of steps) {
              if (s.kind === 'op')
                server.postBalance(login, 'balance', s.amountCents, 'op', server.platform === 'mt4' ? 6 : 2, {
                  by: 'system',
                });
              else if (s.kind === 'trade') {
                const open = server.openTrade(login, 'EURUSD', 'buy', 1);
                if (open.ok) {
                  await proc.sleep(60_000);
                  server.closeTrade(open.value.ticket);
                }
              } else if (s.kind === 'wait') await proc.sleep(s.ms);
              else if (s.kind === 'skew') server.clockSkewMs += s.ms;
              else server.timezoneOffsetMin += s.min;
            }
          });
          await cluster.scheduler.run();
          for (const [offset, width] of ranges) {
            const from = startSec + offset;
            const to = from + width;
            const { ops, trades } = server.history(login, from, to);
            const expectedOps = server.allBalanceOps(login).filter((o) => o.serverSec >= from && o.serverSec <= to);
            const expectedTrades = server
              .allClosedTrades(login)
              .filter(
                (t) =>
                  (t.closeServerSec >= from && t.closeServerSec <= to) ||
                  (t.openServerSec >= from && t.openServerSec <= to),
              );
            expect(ops.map((o) => o.ticket)).toEqual(expectedOps.map((o) => o.ticket));
            expect(trades.map((t) => t.ticket)).toEqual(expectedTrades.map((t) => t.ticket));
          }
        },
      ),
      propertyParams('history seek', 150),
    );
  });
});
