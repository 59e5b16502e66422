import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Store, StoreConstraintError, type Tx } from '../../../service/store/port.ts';
import type {
  AccountRow,
  AlertRow,
  ApiKeyRow,
  AuditRow,
  ClientRow,
  IbCommissionRow,
  IdempotencyRow,
  JobRow,
  LedgerRow,
  OutboxRow,
  ReconciliationRow,
  SequenceRow,
  TableName,
  Tables,
  TradeRow,
  TransferRow,
} from '../../../service/store/schema.ts';

/**
 * The Store contract: what every adapter (memory, PGlite, Postgres) must do, written against the port
 * only. An adapter's test file calls `describeStoreContract(name, makeStore)`; each test gets a fresh,
 * empty store from `makeStore` and closes it afterwards.
 *
 * Concurrency tests interleave two transactions at a rendezvous: each waits (once, on its first run) until
 * both have read, or a short while has passed, so that an adapter which locks rows on read cannot deadlock
 * the test while an optimistic adapter sees the worst interleaving.
 */

const T0 = 1_700_000_000_000;

export function client(id: string, patch: Partial<ClientRow> = {}): ClientRow {
  return {
    id,
    externalId: null,
    name: `Client ${id}`,
    email: `${id}@example.com`,
    country: 'DE',
    kyc: 'none',
    partnerId: null,
    createdMs: T0,
    updatedMs: T0,
    ...patch,
  };
}

export function transfer(ref: string, patch: Partial<TransferRow> = {}): TransferRow {
  return {
    ref,
    kind: 'deposit',
    clientId: 'C1',
    accountId: 'A1',
    serverId: 'mt4-live-eu',
    login: 100_001,
    amountCents: 10_000,
    currency: 'USD',
    state: 'accepted',
    pspRef: null,
    ticket: null,
    refundTicket: null,
    attempts: 0,
    uncertainSinceMs: null,
    lastError: null,
    reason: null,
    acceptedMs: T0,
    legStartedMs: T0,
    updatedMs: T0,
    postedMs: null,
    finishedMs: null,
    ...patch,
  };
}

export function job(id: string, patch: Partial<JobRow> = {}): JobRow {
  return {
    id,
    kind: 'post',
    subject: `MTP-D${id}`,
    state: 'queued',
    runAtMs: T0,
    attempts: 0,
    leaseOwner: null,
    leaseUntilMs: 0,
    lastError: null,
    createdMs: T0,
    updatedMs: T0,
    ...patch,
  };
}

export function alert(id: string, patch: Partial<AlertRow> = {}): AlertRow {
  return {
    id,
    key: `transfer_failed:${id}`,
    kind: 'transfer_failed',
    severity: 'critical',
    subject: id,
    message: `transfer ${id} failed`,
    details: { code: 3, nested: { tries: [1, 2] } },
    atMs: T0,
    deliveredTo: [],
    ...patch,
  };
}

export function trade(id: string, patch: Partial<TradeRow> = {}): TradeRow {
  return {
    id,
    serverId: 'mt4-live-eu',
    login: 100_001,
    ticket: 1,
    action: 'open',
    symbol: 'EURUSD',
    side: 'buy',
    volumeCentiLots: 10,
    price: 1.08512,
    profitCents: null,
    serverSec: 1_700_000_000,
    source: 'pump',
    recordedMs: T0,
    ...patch,
  };
}

export function account(id: string, patch: Partial<AccountRow> = {}): AccountRow {
  return {
    id,
    clientId: 'C1',
    productId: 'eu-classic',
    kind: 'live',
    serverId: 'mt4-live-eu',
    group: 'eu-std-usd',
    currency: 'USD',
    leverage: 100,
    state: 'open',
    login: 100_001,
    attempts: 1,
    uncertainSinceMs: null,
    lastError: null,
    createdMs: T0,
    updatedMs: T0,
    openedMs: T0 + 5,
    ...patch,
  };
}

/**
 * A full row of every table: `set` gives every nullable field a value, `nulls` sets them all to null. Every
 * adapter must give back exactly what it was given (the SQL adapters map each field to a column: a field
 * the mapping misses, or a type that does not round-trip, fails here).
 */
export function fullRows(variant: 'set' | 'nulls'): { [K in TableName]: Tables[K] } {
  const v = <T>(value: T): T | null => (variant === 'set' ? value : null);
  const ledger: LedgerRow = {
    id: 'L1',
    ref: 'MTP-D0000000001-U5',
    kind: 'withdrawal',
    accountId: 'A1',
    serverId: 'mt5-live-global',
    login: 2_000_000_001,
    amountCents: -9_007_199_254_740,
    ticket: 4_294_967_296,
    atMs: T0,
  };
  const audit: AuditRow = {
    id: 'AU1',
    atMs: T0,
    serverId: 'mt4-live-eu',
    op: 'postBalance',
    request: { login: 100_001, comment: 'MTP-D0000000001-U5', nested: { list: [1, 'two', null, true] } },
    subject: v('MTP-D0000000001-U5'),
    outcome: v('unknown'),
    code: v(-2),
    codeName: v('TIMEOUT'),
    reason: v('no answer within 5000 ms'),
    answer: v({ ticket: 10_000_000, ok: false, note: 'ünïcødé ✓' }),
    answeredMs: v(T0 + 5_000),
  };
  const reconciliation: ReconciliationRow = {
    id: 'RC1',
    startedMs: T0,
    finishedMs: T0 + 1_234,
    state: 'partial',
    unreachable: variant === 'set' ? ['mt5-live-global', 'psp'] : [],
    findings: [
      {
        key: 'missing_on_server:MTP-D1',
        class: 'missing_on_server',
        serverId: v('mt4-live-eu'),
        login: v(100_001),
        ref: v('MTP-D1'),
        ticket: v(7),
        pspRef: v('P1'),
        expectedCents: v(10_000),
        actualCents: v(0),
        detail: 'not found',
      },
    ],
  };
  const outbox: OutboxRow = {
    id: 'trade:mt4-live-eu:100001:7:open',
    seq: 42,
    topic: 'trade.open',
    payload: { price: 1.08512, volume: 10, tags: [] },
    createdMs: T0,
    publishedMs: v(T0 + 10),
  };
  const ibCommission: IbCommissionRow = {
    tradeId: 'mt4-live-eu:100001:7:close',
    partnerId: 'ib-1',
    planId: 'standard',
    clientId: 'C1',
    accountId: 'A1',
    serverId: 'mt4-live-eu',
    login: 100_001,
    symbol: 'XAUUSD',
    volumeCentiLots: 150,
    ratePerLotCents: 700,
    commissionCentiCents: 105_000,
    currency: 'USD',
    atMs: T0,
  };
  const idempotency: IdempotencyRow = {
    id: 'POST /v1/deposits k-1',
    key: 'k-1',
    method: 'POST',
    route: '/v1/deposits',
    bodyHash: 'ab'.repeat(32),
    body: { accountId: 'A1', amountCents: 100, currency: 'USD' },
    status: 201,
    response: { ref: 'MTP-D1', state: 'accepted' },
    createdMs: T0,
  };
  const apiKey: ApiKeyRow = {
    id: 'K1',
    name: 'crm',
    hash: 'cd'.repeat(32),
    prefix: 'mtp_abcd',
    createdMs: T0,
    revokedMs: v(T0 + 1),
  };
  const sequence: SequenceRow = { name: 'transfers', value: 9_007_199_254_740_991 };
  return {
    clients: client('C1', { externalId: v('crm-1'), partnerId: v('ib-1'), kyc: 'approved' }),
    accounts: account('A1', {
      leverage: v(500),
      login: v(100_001),
      uncertainSinceMs: v(T0 + 1),
      lastError: v('server down'),
      openedMs: v(T0 + 2),
    }),
    transfers: transfer('R1', {
      pspRef: v('P1'),
      ticket: v(10_000_000),
      refundTicket: v(10_000_001),
      uncertainSinceMs: v(T0 + 3),
      lastError: v('timeout'),
      reason: v('deadline'),
      postedMs: v(T0 + 4),
      finishedMs: v(T0 + 5),
    }),
    jobs: job('J1', { leaseOwner: v('svc1/worker-0'), lastError: v('unavailable'), leaseUntilMs: T0 + 60_000 }),
    ledger,
    audit,
    alerts: alert('AL1', { deliveredTo: variant === 'set' ? ['log', 'webhook'] : [] }),
    reconciliations: reconciliation,
    trades: trade('S:1:7:close', {
      action: 'close',
      side: 'sell',
      price: 2_345.678_9,
      profitCents: v(-1_250),
      serverSec: v(1_700_000_123),
      source: 'history',
    }),
    outbox,
    ib_commissions: ibCommission,
    idempotency,
    api_keys: apiKey,
    sequences: sequence,
  };
}

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Waits until `parties` callers have arrived, or `timeoutMs` has passed (real time), whichever is first. */
function rendezvous(parties: number, timeoutMs = 200): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((resolve) => {
    open = resolve;
  });
  return async () => {
    arrived += 1;
    if (arrived >= parties) open();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  };
}

export function describeStoreContract(name: string, makeStore: () => Promise<Store> | Store): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      await store.close();
    });

    const tx = <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => store.transaction(fn);
    const get = <K extends TableName>(table: K, key: string) => tx((t) => t.get(table, key));
    const all = <K extends TableName>(table: K) => tx((t) => t.select(table, {}));

    describe('rows', () => {
      it('gets what was inserted, and undefined for an absent key', async () => {
        await tx((t) => t.insert('transfers', transfer('R1', { pspRef: 'P1', amountCents: 123 })));
        expect(await get('transfers', 'R1')).toEqual(transfer('R1', { pspRef: 'P1', amountCents: 123 }));
        expect(await get('transfers', 'R2')).toBeUndefined();
        expect(await get('clients', 'R1')).toBeUndefined();
      });

      it('keeps JSON-like columns (objects, arrays) intact', async () => {
        const row = alert('AL1', { deliveredTo: ['log', 'webhook'] });
        await tx((t) => t.insert('alerts', row));
        expect(await get('alerts', 'AL1')).toEqual(row);
      });

      it('updates the given columns only and returns the updated row', async () => {
        await tx((t) => t.insert('transfers', transfer('R1')));
        const returned = await tx((t) => t.update('transfers', 'R1', { state: 'posting', attempts: 1, ticket: 77 }));
        const expected = transfer('R1', { state: 'posting', attempts: 1, ticket: 77 });
        expect(returned).toEqual(expected);
        expect(await get('transfers', 'R1')).toEqual(expected);
      });

      it('sets a column back to null', async () => {
        await tx((t) => t.insert('transfers', transfer('R1', { uncertainSinceMs: T0, lastError: 'timeout' })));
        await tx((t) => t.update('transfers', 'R1', { uncertainSinceMs: null, lastError: null }));
        expect(await get('transfers', 'R1')).toEqual(transfer('R1'));
      });

      it('refuses to update a row that does not exist', async () => {
        const error = await rejectionOf(tx((t) => t.update('transfers', 'R404', { state: 'done' })));
        expect(error).toBeInstanceOf(StoreConstraintError);
        expect(await get('transfers', 'R404')).toBeUndefined();
      });

      it('reads its own uncommitted writes inside the transaction', async () => {
        const seen = await tx(async (t) => {
          await t.insert('transfers', transfer('R1'));
          await t.update('transfers', 'R1', { state: 'posting' });
          return {
            got: await t.get('transfers', 'R1'),
            selected: await t.select('transfers', { state: 'posting' }),
            counted: await t.count('transfers', {}),
          };
        });
        expect(seen.got?.state).toBe('posting');
        expect(seen.selected.map((r) => r.ref)).toEqual(['R1']);
        expect(seen.counted).toBe(1);
      });

      it('hides uncommitted writes from other transactions until commit', async () => {
        let release!: () => void;
        const hold = new Promise<void>((resolve) => {
          release = resolve;
        });
        let inserted!: () => void;
        const didInsert = new Promise<void>((resolve) => {
          inserted = resolve;
        });
        const writer = tx(async (t) => {
          await t.insert('transfers', transfer('R1'));
          inserted();
          await hold;
        });
        await didInsert;
        expect(await get('transfers', 'R1')).toBeUndefined();
        expect(await tx((t) => t.count('transfers', {}))).toBe(0);
        release();
        await writer;
        expect(await get('transfers', 'R1')).toBeDefined();
      });
    });

    describe('select and count', () => {
      beforeEach(async () => {
        await tx(async (t) => {
          await t.insert('transfers', transfer('R1', { state: 'done', amountCents: 300, pspRef: 'P1' }));
          await t.insert('transfers', transfer('R2', { state: 'posting', amountCents: 100 }));
          await t.insert('transfers', transfer('R3', { state: 'done', amountCents: 200, kind: 'withdrawal' }));
          await t.insert('transfers', transfer('R4', { state: 'done', amountCents: 400, pspRef: 'P4' }));
        });
      });

      it('filters on equality of every given column', async () => {
        const done = await tx((t) => t.select('transfers', { state: 'done' }));
        expect(done.map((r) => r.ref).sort()).toEqual(['R1', 'R3', 'R4']);
        const doneDeposits = await tx((t) => t.select('transfers', { state: 'done', kind: 'deposit' }));
        expect(doneDeposits.map((r) => r.ref).sort()).toEqual(['R1', 'R4']);
        expect(await tx((t) => t.select('transfers', { state: 'refunded' }))).toEqual([]);
      });

      it('matches null as IS NULL', async () => {
        const noPsp = await tx((t) => t.select('transfers', { pspRef: null }));
        expect(noPsp.map((r) => r.ref).sort()).toEqual(['R2', 'R3']);
        expect(await tx((t) => t.count('transfers', { pspRef: null, state: 'done' }))).toBe(1);
      });

      it('selects every row with an empty filter', async () => {
        expect((await all('transfers')).map((r) => r.ref).sort()).toEqual(['R1', 'R2', 'R3', 'R4']);
      });

      it('orders by a column, ascending or descending, and limits', async () => {
        const up = await tx((t) => t.select('transfers', {}, { orderBy: 'amountCents' }));
        expect(up.map((r) => r.amountCents)).toEqual([100, 200, 300, 400]);
        const down = await tx((t) => t.select('transfers', {}, { orderBy: 'amountCents', descending: true }));
        expect(down.map((r) => r.amountCents)).toEqual([400, 300, 200, 100]);
        const top2 = await tx((t) =>
          t.select('transfers', { state: 'done' }, { orderBy: 'amountCents', descending: true, limit: 2 }),
        );
        expect(top2.map((r) => r.ref)).toEqual(['R4', 'R1']);
        const byRef = await tx((t) => t.select('transfers', {}, { orderBy: 'ref', limit: 3 }));
        expect(byRef.map((r) => r.ref)).toEqual(['R1', 'R2', 'R3']);
      });

      it('counts the rows a filter matches', async () => {
        expect(await tx((t) => t.count('transfers', {}))).toBe(4);
        expect(await tx((t) => t.count('transfers', { state: 'done' }))).toBe(3);
        expect(await tx((t) => t.count('transfers', { state: 'done', kind: 'withdrawal' }))).toBe(1);
        expect(await tx((t) => t.count('jobs', {}))).toBe(0);
      });
    });

    describe('every table', () => {
      for (const variant of ['set', 'nulls'] as const) {
        it(`gives back a full row of every table as it was inserted (nullable fields ${variant === 'set' ? 'set' : 'null'})`, async () => {
          const rows = fullRows(variant);
          const tables = Object.keys(rows) as TableName[];
          await tx(async (t) => {
            for (const table of tables) await t.insert(table, rows[table] as never);
          });
          for (const table of tables) {
            expect([table, await all(table)]).toEqual([table, [rows[table]]]);
          }
        });
      }

      it('updates every field of a row to the other full row, and back', async () => {
        const set = fullRows('set');
        const nulls = fullRows('nulls');
        const tables = Object.keys(set) as TableName[];
        const keyOf = (table: TableName) => {
          const row = set[table] as unknown as Record<string, unknown>;
          return String(row.id ?? row.ref ?? row.tradeId ?? row.name);
        };
        await tx(async (t) => {
          for (const table of tables) await t.insert(table, set[table] as never);
        });
        await tx(async (t) => {
          for (const table of tables) await t.update(table, keyOf(table), nulls[table] as never);
        });
        for (const table of tables) expect([table, await get(table, keyOf(table))]).toEqual([table, nulls[table]]);
        await tx(async (t) => {
          for (const table of tables) await t.update(table, keyOf(table), set[table] as never);
        });
        for (const table of tables) expect([table, await get(table, keyOf(table))]).toEqual([table, set[table]]);
      });

      it('orders nulls first, ties in insertion order, and returns rows in insertion order without orderBy', async () => {
        await tx(async (t) => {
          await t.insert('transfers', transfer('R3', { ticket: 5 }));
          await t.insert('transfers', transfer('R1', { ticket: null }));
          await t.insert('transfers', transfer('R2', { ticket: 5 }));
          await t.insert('transfers', transfer('R0', { ticket: 1 }));
        });
        // Updates do not move a row from its place (they do move Postgres's physical order).
        await tx((t) => t.update('transfers', 'R3', { state: 'done' }));
        const byTicket = await tx((t) => t.select('transfers', {}, { orderBy: 'ticket' }));
        expect(byTicket.map((r) => r.ref)).toEqual(['R1', 'R0', 'R3', 'R2']);
        expect((await all('transfers')).map((r) => r.ref)).toEqual(['R3', 'R1', 'R2', 'R0']);
      });

      it('orders text by code point (as JavaScript compares strings), not by a locale', async () => {
        const ids = ['b', 'B', 'a-2', 'a:1', 'a1', 'A', '_x', 'é'];
        await tx(async (t) => {
          for (const id of ids) await t.insert('jobs', job(id));
        });
        const ordered = await tx((t) => t.select('jobs', {}, { orderBy: 'id' }));
        expect(ordered.map((j) => j.id)).toEqual([...ids].sort());
      });
    });

    describe('copies', () => {
      it('is not changed by mutating a row returned by get, select or update', async () => {
        await tx((t) => t.insert('alerts', alert('AL1')));
        const got = (await get('alerts', 'AL1')) as AlertRow;
        got.message = 'changed';
        got.deliveredTo.push('log');
        (got.details.nested as { tries: number[] }).tries.push(3);
        const [selected] = await all('alerts');
        (selected as AlertRow).subject = 'changed';
        const updated = await tx((t) => t.update('alerts', 'AL1', { severity: 'warning' }));
        updated.deliveredTo.push('webhook');
        expect(await get('alerts', 'AL1')).toEqual(alert('AL1', { severity: 'warning' }));
      });

      it('is not changed by mutating a row or patch after handing it over', async () => {
        const row = alert('AL1');
        const patch = { details: { code: 4 } };
        await tx(async (t) => {
          await t.insert('alerts', row);
          await t.update('alerts', 'AL1', patch);
        });
        row.message = 'changed';
        row.deliveredTo.push('log');
        patch.details.code = 5;
        expect(await get('alerts', 'AL1')).toEqual(alert('AL1', { details: { code: 4 } }));
      });

      it('is not changed by mutating a row read inside a transaction', async () => {
        await tx((t) => t.insert('alerts', alert('AL1')));
        await tx(async (t) => {
          const row = (await t.get('alerts', 'AL1')) as AlertRow;
          row.deliveredTo.push('log');
          row.message = 'changed';
          const [selected] = await t.select('alerts', {});
          (selected as AlertRow).subject = 'changed';
        });
        expect(await get('alerts', 'AL1')).toEqual(alert('AL1'));
      });
    });

    describe('all-or-nothing', () => {
      it('commits nothing of a transaction that throws', async () => {
        await tx((t) => t.insert('transfers', transfer('R0')));
        const error = await rejectionOf(
          tx(async (t) => {
            await t.insert('transfers', transfer('R1'));
            await t.update('transfers', 'R0', { state: 'done' });
            await t.nextValue('refs');
            throw new Error('handler bug');
          }),
        );
        expect((error as Error).message).toBe('handler bug');
        expect(await get('transfers', 'R1')).toBeUndefined();
        expect((await get('transfers', 'R0'))?.state).toBe('accepted');
        expect(await tx((t) => t.nextValue('refs'))).toBe(1);
      });

      it('rejects a duplicate primary key and commits nothing of that transaction', async () => {
        await tx((t) => t.insert('transfers', transfer('R1', { amountCents: 1 })));
        const error = await rejectionOf(
          tx(async (t) => {
            await t.insert('transfers', transfer('R2'));
            await t.insert('transfers', transfer('R1', { amountCents: 2 }));
          }),
        );
        expect(error).toBeInstanceOf(StoreConstraintError);
        expect((error as StoreConstraintError).table).toBe('transfers');
        expect(await get('transfers', 'R2')).toBeUndefined();
        expect((await get('transfers', 'R1'))?.amountCents).toBe(1);
      });

      it('rejects a primary key inserted twice in one transaction', async () => {
        const error = await rejectionOf(
          tx(async (t) => {
            await t.insert('jobs', job('J1'));
            await t.insert('jobs', job('J1'));
          }),
        );
        expect(error).toBeInstanceOf(StoreConstraintError);
        expect(await all('jobs')).toEqual([]);
      });

      it.each([
        [
          'transfers.pspRef',
          'transfers',
          () => transfer('R1', { pspRef: 'P1' }),
          () => transfer('R2', { pspRef: 'P1' }),
        ],
        [
          'clients.externalId',
          'clients',
          () => client('C1', { externalId: 'crm-1' }),
          () => client('C2', { externalId: 'crm-1' }),
        ],
        ['alerts.key', 'alerts', () => alert('AL1', { key: 'k' }), () => alert('AL2', { key: 'k' })],
      ] as const)(
        'rejects a duplicate unique %s and commits nothing of that transaction',
        async (_column, table, first, second) => {
          await tx((t) => t.insert(table, first() as never));
          const error = await rejectionOf(
            tx(async (t) => {
              await t.insert('jobs', job('J1'));
              await t.insert(table, second() as never);
            }),
          );
          expect(error).toBeInstanceOf(StoreConstraintError);
          expect(await get('jobs', 'J1')).toBeUndefined();
          expect(await tx((t) => t.count(table, {}))).toBe(1);
        },
      );

      it('rejects a duplicate unique value inserted twice in one transaction', async () => {
        const error = await rejectionOf(
          tx(async (t) => {
            await t.insert('transfers', transfer('R1', { pspRef: 'P1' }));
            await t.insert('transfers', transfer('R2', { pspRef: 'P1' }));
          }),
        );
        expect(error).toBeInstanceOf(StoreConstraintError);
        expect(await all('transfers')).toEqual([]);
      });

      it('rejects an update that takes a unique value another row holds', async () => {
        await tx(async (t) => {
          await t.insert('clients', client('C1', { externalId: 'crm-1' }));
          await t.insert('clients', client('C2', { externalId: 'crm-2' }));
        });
        const error = await rejectionOf(tx((t) => t.update('clients', 'C2', { externalId: 'crm-1' })));
        expect(error).toBeInstanceOf(StoreConstraintError);
        expect((await get('clients', 'C2'))?.externalId).toBe('crm-2');
      });

      it('lets a row take a unique value another row gives up in the same transaction', async () => {
        await tx((t) => t.insert('transfers', transfer('R1', { pspRef: 'P1' })));
        await tx(async (t) => {
          await t.update('transfers', 'R1', { pspRef: 'P1-old' });
          await t.insert('transfers', transfer('R2', { pspRef: 'P1' }));
        });
        expect((await tx((t) => t.select('transfers', { pspRef: 'P1' }))).map((r) => r.ref)).toEqual(['R2']);
        // The giver holds its new value: that one is taken now.
        const error = await rejectionOf(tx((t) => t.insert('transfers', transfer('R3', { pspRef: 'P1-old' }))));
        expect(error).toBeInstanceOf(StoreConstraintError);
      });

      it('lets a transaction go on after a refused insert or update: what it does next commits', async () => {
        await tx(async (t) => {
          await t.insert('transfers', transfer('R1', { pspRef: 'P1' }));
          await t.insert('transfers', transfer('R2', { pspRef: 'P2' }));
        });
        const refused = await tx(async (t) => {
          const errors: unknown[] = [];
          await t.insert('transfers', transfer('R1')).catch((e: unknown) => errors.push(e));
          await t.insert('transfers', transfer('R3', { pspRef: 'P1' })).catch((e: unknown) => errors.push(e));
          await t.update('transfers', 'R2', { pspRef: 'P1' }).catch((e: unknown) => errors.push(e));
          await t.insert('jobs', job('J1'));
          return errors;
        });
        expect(refused.map((e) => e instanceof StoreConstraintError)).toEqual([true, true, true]);
        expect((await get('jobs', 'J1'))?.id).toBe('J1');
        expect((await all('transfers')).map((r) => [r.ref, r.pspRef])).toEqual([
          ['R1', 'P1'],
          ['R2', 'P2'],
        ]);
      });

      it('does not treat nulls as duplicates of each other', async () => {
        await tx(async (t) => {
          await t.insert('transfers', transfer('R1'));
          await t.insert('transfers', transfer('R2'));
          await t.insert('clients', client('C1'));
          await t.insert('clients', client('C2'));
        });
        await tx((t) => t.insert('clients', client('C3')));
        expect(await tx((t) => t.count('transfers', { pspRef: null }))).toBe(2);
        expect(await tx((t) => t.count('clients', { externalId: null }))).toBe(3);
      });

      it('rejects the second of two concurrent inserts of the same unique value', async () => {
        const meet = rendezvous(2);
        const insert = (ref: string) => {
          let first = true;
          return tx(async (t) => {
            const taken = await t.select('transfers', { pspRef: 'P1' });
            if (first) {
              first = false;
              await meet();
            }
            if (taken.length === 0) await t.insert('transfers', transfer(ref, { pspRef: 'P1' }));
            return taken.length;
          });
        };
        const results = await Promise.allSettled([insert('R1'), insert('R2')]);
        const fulfilled = results.filter((r) => r.status === 'fulfilled');
        // Either the loser reran and saw the winner's row, or it failed on the unique key: never two rows.
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreConstraintError);
        expect(fulfilled.length).toBeGreaterThanOrEqual(1);
        expect(await tx((t) => t.count('transfers', { pspRef: 'P1' }))).toBe(1);
      });
    });

    describe('insert if absent', () => {
      it('keeps one row of two concurrent inserts of the same primary key (trades)', async () => {
        const meet = rendezvous(2);
        const insert = (source: TradeRow['source']) => {
          let first = true;
          return tx(async (t) => {
            const present = await t.get('trades', 'S:1:7:close');
            if (first) {
              first = false;
              await meet();
            }
            if (present === undefined) await t.insert('trades', trade('S:1:7:close', { source }));
            return present === undefined;
          });
        };
        const results = await Promise.allSettled([insert('pump'), insert('history')]);
        // Either the loser reran and saw the winner's row, or it failed on the primary key: never two rows.
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreConstraintError);
        expect(results.filter((r) => r.status === 'fulfilled' && r.value === true)).toHaveLength(1);
        expect(await all('trades')).toHaveLength(1);
      });
    });

    describe('sequences', () => {
      it('counts 1, 2, 3 per name', async () => {
        expect(await tx((t) => t.nextValue('transfers'))).toBe(1);
        expect(await tx((t) => t.nextValue('transfers'))).toBe(2);
        expect(await tx((t) => t.nextValue('jobs'))).toBe(1);
        expect(await tx(async (t) => [await t.nextValue('transfers'), await t.nextValue('transfers')])).toEqual([3, 4]);
        expect(await tx((t) => t.nextValue('jobs'))).toBe(2);
      });

      it('never hands out a committed value again, even after an aborted transaction', async () => {
        const committed = [await tx((t) => t.nextValue('s')), await tx((t) => t.nextValue('s'))];
        await rejectionOf(
          tx(async (t) => {
            await t.nextValue('s');
            throw new Error('abort');
          }),
        );
        const later = [await tx((t) => t.nextValue('s')), await tx((t) => t.nextValue('s'))];
        expect(committed).toEqual([1, 2]);
        expect(later[0]).toBeGreaterThan(2);
        expect(later[1]).toBeGreaterThan(later[0] as number);
      });

      it('gives two interleaved transactions distinct values (rerunning one on conflict)', async () => {
        const meet = rendezvous(2);
        const take = (ref: string) => {
          let first = true;
          return tx(async (t) => {
            const n = await t.nextValue('refs');
            if (first) {
              first = false;
              await meet();
            }
            await t.insert('transfers', transfer(`${ref}-${n}`));
            return n;
          });
        };
        const values = await Promise.all([take('A'), take('B'), take('C')]);
        expect(new Set(values).size).toBe(3);
        expect(await tx((t) => t.count('transfers', {}))).toBe(3);
        expect(await tx((t) => t.nextValue('refs'))).toBeGreaterThan(Math.max(...values));
      });
    });

    describe('concurrent read-then-update', () => {
      it('never loses an update: two increments of one row both apply, serially', async () => {
        await tx((t) => t.insert('jobs', job('J1')));
        const meet = rendezvous(2);
        const increment = () => {
          let first = true;
          return tx(async (t) => {
            const row = (await t.get('jobs', 'J1')) as JobRow;
            if (first) {
              first = false;
              await meet();
            }
            await t.update('jobs', 'J1', { attempts: row.attempts + 1 });
          });
        };
        await Promise.all([increment(), increment()]);
        expect((await get('jobs', 'J1'))?.attempts).toBe(2);
      });

      it('reruns a transaction whose read changed before commit', async () => {
        await tx((t) => t.insert('transfers', transfer('R1')));
        const meet = rendezvous(2);
        const seen: string[] = [];
        const finish = (state: 'done' | 'review') => {
          let first = true;
          return tx(async (t) => {
            const row = (await t.get('transfers', 'R1')) as TransferRow;
            seen.push(`${state} saw ${row.state}`);
            if (first) {
              first = false;
              await meet();
            }
            // Only an accepted transfer may be finished: the loser must see the winner's state.
            if (row.state === 'accepted') await t.update('transfers', 'R1', { state });
          });
        };
        await Promise.all([finish('done'), finish('review')]);
        const final = (await get('transfers', 'R1'))?.state;
        expect(['done', 'review']).toContain(final);
        const loser = final === 'done' ? 'review' : 'done';
        expect(seen).toContain(`${loser} saw ${final}`);
      });
    });

    describe('jobs', () => {
      const LEASE = 60_000;

      it('claims due, unleased, queued jobs, oldest due first, up to the limit', async () => {
        await tx(async (t) => {
          await t.insert('jobs', job('J-late', { runAtMs: T0 + 500 }));
          await t.insert('jobs', job('J-b', { runAtMs: T0 - 100 }));
          await t.insert('jobs', job('J-a', { runAtMs: T0 - 300 }));
          await t.insert('jobs', job('J-c', { runAtMs: T0 }));
          await t.insert('jobs', job('J-done', { runAtMs: T0 - 1000, state: 'done' }));
          await t.insert('jobs', job('J-leased', { runAtMs: T0 - 1000, leaseOwner: 'w0', leaseUntilMs: T0 + 1 }));
        });
        const first = await tx((t) => t.claimJobs(T0, 'w1', LEASE, 2));
        expect(first.map((j) => j.id)).toEqual(['J-a', 'J-b']);
        for (const j of first) {
          expect(j.leaseOwner).toBe('w1');
          expect(j.leaseUntilMs).toBe(T0 + LEASE);
          expect(j.state).toBe('queued');
        }
        const rest = await tx((t) => t.claimJobs(T0, 'w2', LEASE, 10));
        expect(rest.map((j) => j.id)).toEqual(['J-c']);
        expect((await get('jobs', 'J-a'))?.leaseOwner).toBe('w1');
        expect((await get('jobs', 'J-c'))?.leaseOwner).toBe('w2');
        expect((await get('jobs', 'J-done'))?.leaseOwner).toBeNull();
        expect((await get('jobs', 'J-late'))?.leaseOwner).toBeNull();
      });

      it('claims a job due exactly now', async () => {
        await tx((t) => t.insert('jobs', job('J1', { runAtMs: T0 })));
        expect((await tx((t) => t.claimJobs(T0 - 1, 'w1', LEASE, 5))).map((j) => j.id)).toEqual([]);
        expect((await tx((t) => t.claimJobs(T0, 'w1', LEASE, 5))).map((j) => j.id)).toEqual(['J1']);
      });

      it('leases claimed jobs: none for a second claim until the lease expires', async () => {
        await tx(async (t) => {
          await t.insert('jobs', job('J1', { runAtMs: T0 - 10 }));
          await t.insert('jobs', job('J2', { runAtMs: T0 - 5 }));
        });
        expect(await tx((t) => t.claimJobs(T0, 'w1', LEASE, 10))).toHaveLength(2);
        expect(await tx((t) => t.claimJobs(T0, 'w2', LEASE, 10))).toEqual([]);
        expect(await tx((t) => t.claimJobs(T0 + LEASE - 1, 'w2', LEASE, 10))).toEqual([]);
        const again = await tx((t) => t.claimJobs(T0 + LEASE, 'w2', LEASE, 10));
        expect(again.map((j) => [j.id, j.leaseOwner, j.leaseUntilMs])).toEqual([
          ['J1', 'w2', T0 + 2 * LEASE],
          ['J2', 'w2', T0 + 2 * LEASE],
        ]);
      });

      it('never claims done jobs, nor jobs due later', async () => {
        await tx(async (t) => {
          await t.insert('jobs', job('J-done', { runAtMs: 0, state: 'done' }));
          await t.insert('jobs', job('J-later', { runAtMs: T0 + 1 }));
        });
        expect(await tx((t) => t.claimJobs(T0, 'w1', LEASE, 10))).toEqual([]);
        // A job finished after being queued is not claimable either.
        await tx((t) => t.update('jobs', 'J-later', { state: 'done' }));
        expect(await tx((t) => t.claimJobs(T0 + 10, 'w1', LEASE, 10))).toEqual([]);
      });

      it('claims a job queued or rescheduled earlier in the same transaction', async () => {
        await tx((t) => t.insert('jobs', job('J1', { runAtMs: T0 + 1000 })));
        const claimed = await tx(async (t) => {
          await t.insert('jobs', job('J2', { runAtMs: T0 - 1 }));
          await t.update('jobs', 'J1', { runAtMs: T0 });
          return t.claimJobs(T0, 'w1', LEASE, 10);
        });
        expect(claimed.map((j) => j.id)).toEqual(['J2', 'J1']);
      });

      it('never gives one job to two workers claiming at once', async () => {
        await tx(async (t) => {
          for (let i = 0; i < 6; i++) await t.insert('jobs', job(`J${i}`, { runAtMs: T0 - 100 + i }));
        });
        const meet = rendezvous(2);
        const claim = (owner: string) => {
          let first = true;
          return tx(async (t) => {
            const jobs = await t.claimJobs(T0, owner, LEASE, 4);
            if (first) {
              first = false;
              await meet();
            }
            return jobs.map((j) => j.id);
          });
        };
        const [a, b] = await Promise.all([claim('w1'), claim('w2')]);
        const ids = [...(a as string[]), ...(b as string[])];
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.sort()).toEqual(['J0', 'J1', 'J2', 'J3', 'J4', 'J5']);
        for (const id of a as string[]) expect((await get('jobs', id))?.leaseOwner).toBe('w1');
        for (const id of b as string[]) expect((await get('jobs', id))?.leaseOwner).toBe('w2');
      });

      it('goes on after a claim that found nothing: what the transaction does next commits', async () => {
        await tx((t) => t.insert('jobs', job('J-later', { runAtMs: T0 + 500 })));
        const seen = await tx(async (t) => {
          const claimed = await t.claimJobs(T0, 'w1', LEASE, 5);
          const nextAtMs = await t.nextJobAtMs();
          await t.insert('jobs', job('J-new', { runAtMs: T0 + 100 }));
          return { claimed, nextAtMs, after: await t.nextJobAtMs() };
        });
        expect(seen).toEqual({ claimed: [], nextAtMs: T0 + 500, after: T0 + 100 });
        expect((await get('jobs', 'J-new'))?.runAtMs).toBe(T0 + 100);
      });

      it('tells when the earliest queued job becomes claimable, or null', async () => {
        expect(await tx((t) => t.nextJobAtMs())).toBeNull();
        await tx((t) => t.insert('jobs', job('J-done', { runAtMs: T0 - 5000, state: 'done' })));
        expect(await tx((t) => t.nextJobAtMs())).toBeNull();
        await tx(async (t) => {
          await t.insert('jobs', job('J1', { runAtMs: T0 + 300 }));
          await t.insert('jobs', job('J2', { runAtMs: T0 + 100, leaseOwner: 'w0', leaseUntilMs: T0 + 900 }));
        });
        // J2 is due first but leased until T0 + 900: J1 (T0 + 300) is the earliest claimable.
        expect(await tx((t) => t.nextJobAtMs())).toBe(T0 + 300);
        await tx((t) => t.insert('jobs', job('J3', { runAtMs: T0 + 50, leaseUntilMs: T0 + 200 })));
        expect(await tx((t) => t.nextJobAtMs())).toBe(T0 + 200);
        // Claiming moves the job's claimable time to its lease expiry.
        await tx((t) => t.claimJobs(T0 + 200, 'w1', 1000, 1));
        expect(await tx((t) => t.nextJobAtMs())).toBe(T0 + 300);
        await tx(async (t) => {
          await t.update('jobs', 'J1', { state: 'done' });
          await t.update('jobs', 'J2', { state: 'done' });
          await t.update('jobs', 'J3', { state: 'done' });
        });
        expect(await tx((t) => t.nextJobAtMs())).toBeNull();
      });

      it('reports an overdue job as claimable at its own time, not now', async () => {
        await tx((t) => t.insert('jobs', job('J1', { runAtMs: 5 })));
        expect(await tx((t) => t.nextJobAtMs())).toBe(5);
      });
    });
  });
}
