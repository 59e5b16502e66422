import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../scenarios/world.ts';
import type { AccountRow, IbStatement, IbStatementLine } from '../../service/index.ts';
import { propertyParams } from '../property.ts';
import { brokerConfig, depositSettled, must, startedWorld } from './helpers.ts';

/**
 * IB data: a partner's commission on its clients' closes, and any account's volume — exact integers, each
 * close counted once however often the pump says it, whatever the service lost and filled from history,
 * across restarts. Checked against the simulator's ground truth of closed trades.
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';

/** The example config's plan (700 per lot, XAUUSD 1200) and partner, plus a second partner on another plan. */
const BROKER = brokerConfig((c) => {
  c.ib = {
    plans: [
      ...(c.ib?.plans ?? []),
      { id: 'metals-ib', commissionPerLotCents: 250, symbols: { XAUUSD: 3_333, GBPUSD: 0 } },
    ],
    partners: [...(c.ib?.partners ?? []), { id: 'ib-beta', plan: 'metals-ib' }],
  };
});
const RATES: Record<string, { base: number; symbols: Record<string, number> }> = {
  'ib-acme': { base: 700, symbols: { XAUUSD: 1_200 } },
  'ib-beta': { base: 250, symbols: { XAUUSD: 3_333, GBPUSD: 0 } },
};
const rateOf = (partnerId: string, symbol: string) =>
  RATES[partnerId]?.symbols[symbol] ?? (RATES[partnerId]?.base as number);

const PRODUCT: Record<string, { country: string; productId: string }> = {
  [EU]: { country: 'DE', productId: 'eu-classic' },
  [GLOBAL]: { country: 'US', productId: 'global-standard' },
};

interface Owned {
  account: AccountRow;
  login: number;
  partnerId: string | null;
}

async function clientAccount(
  world: SimWorld,
  serverId: string,
  partnerId: string | null,
  name: string,
): Promise<Owned> {
  const service = world.service;
  const client = must(
    await service.registerClient({
      name,
      email: `${name.toLowerCase().replace(/\W/g, '')}@example.com`,
      country: PRODUCT[serverId]?.country as string,
      ...(partnerId === null ? {} : { partnerId }),
    }),
  );
  expect(client.partnerId).toBe(partnerId);
  must(await service.setKyc(client.id, 'approved'));
  const { id } = must(
    await service.openAccount({ clientId: client.id, productId: PRODUCT[serverId]?.productId as string }),
  );
  expect(await world.until(async () => (await world.service.account(id))?.state === 'open', 3_600_000)).toBe(true);
  const account = (await world.service.account(id)) as AccountRow;
  await depositSettled(world, { accountId: id, amountCents: 50_000_00, currency: 'USD' });
  return { account, login: account.login as number, partnerId };
}

function trade(world: SimWorld, o: Owned, symbol: string, volume: number, side: 'buy' | 'sell' = 'buy'): number | null {
  const r = world.cluster.client(o.account.serverId).open(o.login, symbol, side, volume);
  return r.ok ? r.value.ticket : null;
}

function close(world: SimWorld, o: Owned, ticket: number): void {
  const r = world.cluster.client(o.account.serverId).close(ticket);
  if (!r.ok) throw new Error(`close refused: ${r.fail}`);
}

/** The statement recomputed from the server's closed trades: what the partner is owed, exactly. */
function expectedStatement(
  world: SimWorld,
  partnerId: string,
  owned: Owned[],
): Pick<IbStatement, 'accounts' | 'totals'> {
  const accounts: IbStatementLine[] = [];
  for (const o of owned.filter((x) => x.partnerId === partnerId)) {
    const closed = world.cluster.server(o.account.serverId).allClosedTrades(o.login);
    if (closed.length === 0) continue;
    accounts.push({
      accountId: o.account.id,
      clientId: o.account.clientId,
      serverId: o.account.serverId,
      login: o.login,
      currency: 'USD',
      closedTrades: closed.length,
      volumeCentiLots: closed.reduce((n, c) => n + c.volume, 0),
      commissionCentiCents: closed.reduce((n, c) => n + c.volume * rateOf(partnerId, c.symbol), 0),
    });
  }
  accounts.sort((a, b) => (a.accountId < b.accountId ? -1 : 1));
  const sum = (key: 'closedTrades' | 'volumeCentiLots' | 'commissionCentiCents') =>
    accounts.reduce((n, l) => n + l[key], 0);
  const totals =
    accounts.length === 0
      ? []
      : [
          {
            currency: 'USD',
            closedTrades: sum('closedTrades'),
            volumeCentiLots: sum('volumeCentiLots'),
            commissionCentiCents: sum('commissionCentiCents'),
          },
        ];
  return { accounts, totals };
}

/** Runs until the service has recorded every open and close of `owned` the server has. */
async function untilRecorded(world: SimWorld, owned: Owned[], maxMs: number): Promise<boolean> {
  return world.until(
    async () => {
      const rows = await world.store.transaction((tx) => tx.select('trades', {}));
      for (const o of owned) {
        const server = world.cluster.server(o.account.serverId);
        const want = server.allClosedTrades(o.login).length * 2 + server.openPositions(o.login).length;
        const have = rows.filter((r) => r.serverId === o.account.serverId && r.login === o.login).length;
        if (have !== want) return false;
      }
      return true;
    },
    maxMs,
    10_000,
  );
}

describe('IB data', () => {
  it('refuses to register a client with a partner the config does not list, naming the field', async () => {
    const world = startedWorld({ broker: BROKER });
    const refused = await world.service.registerClient({
      name: 'Bo Lind',
      email: 'bo@example.com',
      country: 'SE',
      partnerId: 'ib-nobody',
    });
    expect(refused).toEqual({
      ok: false,
      error: {
        code: 'MTP_UNKNOWN_PARTNER',
        message: expect.stringContaining('ib-nobody'),
        issues: [{ path: 'partnerId', message: 'unknown partner' }],
      },
    });
    expect(await world.store.transaction((tx) => tx.count('clients', {}))).toBe(0);
    const ok = must(
      await world.service.registerClient({
        name: 'Bo Lind',
        email: 'bo@example.com',
        country: 'SE',
        partnerId: 'ib-acme',
      }),
    );
    expect(ok.partnerId).toBe('ib-acme');
  });

  it("pays the plan's rate per lot on each close, the symbol's rate where the plan has one, exactly", async () => {
    const world = startedWorld({ broker: BROKER });
    const acme = await clientAccount(world, EU, 'ib-acme', 'Anna Acme');
    const beta = await clientAccount(world, GLOBAL, 'ib-beta', 'Ben Beta');
    const direct = await clientAccount(world, GLOBAL, null, 'Dora Direct');
    const tickets = [
      [acme, trade(world, acme, 'EURUSD', 37)],
      [acme, trade(world, acme, 'XAUUSD', 3, 'sell')],
      [beta, trade(world, beta, 'XAUUSD', 7)],
      [beta, trade(world, beta, 'GBPUSD', 150)],
      [direct, trade(world, direct, 'EURUSD', 20)],
    ] as const;
    await world.runFor(5_000);
    for (const [o, ticket] of tickets) close(world, o, ticket as number);
    // An open still running earns nothing yet.
    trade(world, acme, 'EURUSD', 99);
    await world.runFor(5_000);

    const statement = must(await world.service.ibStatement('ib-acme'));
    expect(statement).toEqual({
      partnerId: 'ib-acme',
      planId: 'standard-ib',
      fromMs: null,
      toMs: null,
      accounts: [
        {
          accountId: acme.account.id,
          clientId: acme.account.clientId,
          serverId: EU,
          login: acme.login,
          currency: 'USD',
          closedTrades: 2,
          volumeCentiLots: 40,
          // 0.37 lot × $7 + 0.03 lot × $12 = $2.59 + $0.36: in hundredths of a cent.
          commissionCentiCents: 37 * 700 + 3 * 1_200,
        },
      ],
      totals: [{ currency: 'USD', closedTrades: 2, volumeCentiLots: 40, commissionCentiCents: 29_500 }],
    });
    const betaStatement = must(await world.service.ibStatement('ib-beta'));
    expect(betaStatement.accounts.map((l) => [l.accountId, l.closedTrades, l.commissionCentiCents])).toEqual([
      [beta.account.id, 2, 7 * 3_333 + 150 * 0],
    ]);
    expect(betaStatement.planId).toBe('metals-ib');
    // No partner: no commission row, but its volume counts.
    const rows = await world.store.transaction((tx) => tx.select('ib_commissions', {}, { orderBy: 'tradeId' }));
    expect(rows.map((r) => r.accountId).sort()).toEqual(
      [acme.account.id, acme.account.id, beta.account.id, beta.account.id].sort(),
    );
    expect(await world.service.accountVolume(direct.account.id)).toEqual({
      accountId: direct.account.id,
      serverId: GLOBAL,
      login: direct.login,
      openedTrades: 1,
      closedTrades: 1,
      volumeCentiLots: 20,
      bySymbol: [{ symbol: 'EURUSD', closedTrades: 1, volumeCentiLots: 20 }],
    });
    expect(await world.service.accountVolume(acme.account.id)).toMatchObject({
      openedTrades: 3,
      closedTrades: 2,
      volumeCentiLots: 40,
      bySymbol: [
        { symbol: 'EURUSD', closedTrades: 1, volumeCentiLots: 37 },
        { symbol: 'XAUUSD', closedTrades: 1, volumeCentiLots: 3 },
      ],
    });
    expect(await world.service.accountVolume('MTP-A9999999999')).toBeUndefined();
  });

  it('limits a statement to closes in [fromMs, toMs) and refuses an unknown partner or a reversed range', async () => {
    const world = startedWorld({ broker: BROKER });
    const acme = await clientAccount(world, EU, 'ib-acme', 'Anna Acme');
    const first = trade(world, acme, 'EURUSD', 10) as number;
    await world.runFor(2_000);
    close(world, acme, first);
    await world.runFor(60_000);
    const second = trade(world, acme, 'EURUSD', 20) as number;
    await world.runFor(2_000);
    close(world, acme, second);
    await world.runFor(5_000);
    const rows = await world.store.transaction((tx) => tx.select('ib_commissions', {}, { orderBy: 'atMs' }));
    expect(rows.map((r) => r.volumeCentiLots)).toEqual([10, 20]);
    const [a, b] = rows.map((r) => r.atMs) as [number, number];
    expect(b).toBeGreaterThan(a);

    const volumes = async (range: { fromMs?: number; toMs?: number }) =>
      must(await world.service.ibStatement('ib-acme', range)).totals.map((t) => t.volumeCentiLots);
    expect(await volumes({ fromMs: a, toMs: b })).toEqual([10]);
    expect(await volumes({ fromMs: a + 1 })).toEqual([20]);
    expect(await volumes({ toMs: a })).toEqual([]);
    expect(await volumes({})).toEqual([30]);

    const unknown = await world.service.ibStatement('ib-nobody');
    expect(unknown.ok ? null : unknown.error.code).toBe('MTP_UNKNOWN_PARTNER');
    const reversed = await world.service.ibStatement('ib-acme', { fromMs: b, toMs: a });
    expect(reversed.ok ? null : reversed.error.issues).toEqual([{ path: 'toMs', message: 'before fromMs' }]);
  });

  it('counts a close once through a duplicated pump event, a lost one and a restart', async () => {
    const world = startedWorld({ broker: BROKER });
    const acme = await clientAccount(world, EU, 'ib-acme', 'Anna Acme');
    const t1 = trade(world, acme, 'XAUUSD', 5) as number;
    const t2 = trade(world, acme, 'EURUSD', 15) as number;
    await world.runFor(5_000);
    world.cluster.inject(EU, 'pumpDuplicate');
    close(world, acme, t1);
    await world.runFor(5_000);
    world.cluster.inject(EU, 'pumpStall', { stallMs: 20_000 });
    close(world, acme, t2);
    await world.runFor(10_000);
    world.crash();
    await world.runFor(30_000);
    world.start();
    expect(await untilRecorded(world, [acme], 1_200_000)).toBe(true);

    const expected = expectedStatement(world, 'ib-acme', [acme]);
    expect(expected.totals[0]?.commissionCentiCents).toBe(5 * 1_200 + 15 * 700);
    const statement = must(await world.service.ibStatement('ib-acme'));
    expect({ accounts: statement.accounts, totals: statement.totals }).toEqual(expected);
  });
});

type Action =
  | { kind: 'open'; atMs: number; account: number; symbol: string; side: 'buy' | 'sell'; volume: number }
  | { kind: 'close'; atMs: number; pick: number }
  | { kind: 'duplicate' | 'stall'; atMs: number; server: number; stallMs: number }
  | { kind: 'crash'; atMs: number; downMs: number };

const DAY_MS = 3_600_000;
const SERVERS = [EU, GLOBAL];
/** Accounts of the property: two partners' clients on each platform, and one client without a partner. */
const OWNERS: { serverId: string; partnerId: string | null }[] = [
  { serverId: EU, partnerId: 'ib-acme' },
  { serverId: GLOBAL, partnerId: 'ib-acme' },
  { serverId: GLOBAL, partnerId: 'ib-beta' },
  { serverId: EU, partnerId: 'ib-beta' },
  { serverId: EU, partnerId: null },
];

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      atMs: fc.integer({ min: 0, max: DAY_MS }),
      account: fc.nat({ max: OWNERS.length - 1 }),
      symbol: fc.constantFrom('EURUSD', 'GBPUSD', 'XAUUSD'),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      volume: fc.integer({ min: 1, max: 60 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      atMs: fc.integer({ min: 0, max: DAY_MS }),
      // Among every open position of every account.
      pick: fc.nat({ max: 1_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('duplicate' as const, 'stall' as const),
      atMs: fc.integer({ min: 0, max: DAY_MS }),
      server: fc.nat({ max: SERVERS.length - 1 }),
      stallMs: fc.integer({ min: 1_000, max: 120_000 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      atMs: fc.integer({ min: 0, max: DAY_MS }),
      downMs: fc.integer({ min: 0, max: 300_000 }),
    }),
  },
);

describe('IB data, as a property', () => {
  it('statements equal the recomputation from the closed trades on the servers, through faults and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.array(action, { minLength: 10, maxLength: 60 }),
        async (seed, actions) => {
          const world = startedWorld({ seed, broker: BROKER });
          const owned: Owned[] = [];
          for (const [i, o] of OWNERS.entries())
            owned.push(await clientAccount(world, o.serverId, o.partnerId, `Client ${i}`));
          const startMs = world.scheduler.nowMs();
          let restartAtMs: number | null = null;
          for (const a of [...actions].sort((x, y) => x.atMs - y.atMs)) {
            if (restartAtMs !== null && restartAtMs <= startMs + a.atMs) {
              await world.scheduler.run({ untilMs: restartAtMs });
              world.start();
              restartAtMs = null;
            }
            await world.scheduler.run({ untilMs: startMs + a.atMs });
            if (a.kind === 'open') trade(world, owned[a.account] as Owned, a.symbol, a.volume, a.side);
            else if (a.kind === 'close') {
              const positions = owned.flatMap((o) =>
                world.cluster
                  .server(o.account.serverId)
                  .openPositions(o.login)
                  .map((p) => ({ o, ticket: p.ticket })),
              );
              const p = positions[a.pick % Math.max(1, positions.length)];
              if (p !== undefined) close(world, p.o, p.ticket);
            } else if (a.kind === 'duplicate') world.cluster.inject(SERVERS[a.server] as string, 'pumpDuplicate');
            else if (a.kind === 'stall')
              world.cluster.inject(SERVERS[a.server] as string, 'pumpStall', { stallMs: a.stallMs });
            else if (a.kind === 'crash' && world.running) {
              world.crash();
              restartAtMs = startMs + a.atMs + a.downMs;
            }
          }
          if (restartAtMs !== null) {
            await world.scheduler.run({ untilMs: restartAtMs });
            world.start();
          }
          expect(await untilRecorded(world, owned, 1_800_000), 'every trade recorded').toBe(true);

          for (const partnerId of ['ib-acme', 'ib-beta']) {
            const statement = must(await world.service.ibStatement(partnerId));
            expect({ accounts: statement.accounts, totals: statement.totals }).toEqual(
              expectedStatement(world, partnerId, owned),
            );
          }
          for (const o of owned) {
            const closed = world.cluster.server(o.account.serverId).allClosedTrades(o.login);
            const volume = await world.service.accountVolume(o.account.id);
            expect(volume?.closedTrades).toBe(closed.length);
            expect(volume?.volumeCentiLots).toBe(closed.reduce((n, c) => n + c.volume, 0));
          }
          if (process.env.MTPROOF_PROPERTY_VERBOSE === '1') {
            const trades = await world.service.trades();
            const count = (f: (r: (typeof trades)[number]) => boolean) => trades.filter(f).length;
            console.log(
              JSON.stringify({
                seed,
                actions: actions.length,
                incarnations: world.incarnations,
                closes: count((r) => r.action === 'close'),
                closesFromHistory: count((r) => r.action === 'close' && r.source === 'history'),
                opensFromHistory: count((r) => r.action === 'open' && r.source === 'history'),
              }),
            );
          }
          // Nothing for the client without a partner; one commission row per partner's close.
          const rows = await world.store.transaction((tx) => tx.select('ib_commissions', {}));
          const partnered = owned.filter((o) => o.partnerId !== null);
          const closes = partnered.reduce(
            (n, o) => n + world.cluster.server(o.account.serverId).allClosedTrades(o.login).length,
            0,
          );
          expect(rows).toHaveLength(closes);
        },
      ),
      propertyParams('ib statement', 20),
    );
  }, 600_000);
});
