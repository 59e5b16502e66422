import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../scenarios/world.ts';
import { type Finding, parsePspCsv, StaticPaymentRecords } from '../../service/index.ts';
import { propertyParams } from '../property.ts';
import { brokerConfig, depositSettled, must, openAccount, settle, startedWorld } from './helpers.ts';

/**
 * Three-way reconciliation (payment provider, ledger, server history): each discrepancy a test causes is
 * reported once, in its class, and nothing else is.
 */

const SETTLE_MS = 600_000;
const GLOBAL = 'mt5-live-global';

async function reconcileLater(world: SimWorld) {
  // Past settleMs, so that nothing is still "in flight".
  await world.runFor(SETTLE_MS + 1_000);
  return world.act(() => world.service.reconcile());
}

/** A world with a funded account per live server, every deposit confirmed by the PSP first. */
async function fundedWorld() {
  const world = startedWorld();
  const eu = await openAccount(world, { country: 'DE', productId: 'eu-classic', name: 'Eu Client' });
  const global = await openAccount(world, { country: 'US', productId: 'global-standard', name: 'Us Client' });
  const refs: string[] = [];
  for (const account of [eu, global]) {
    const payment = world.psp.confirmDeposit({ amountCents: 1_000_00, currency: 'USD', reference: account.id });
    const deposit = await depositSettled(world, {
      accountId: account.id,
      amountCents: 1_000_00,
      currency: 'USD',
      pspRef: payment.pspRef,
    });
    refs.push(deposit.ref);
  }
  return { world, eu, global, refs };
}

const classes = (findings: Finding[]) => findings.map((f) => f.class).sort();

describe('reconciliation', () => {
  it('finds nothing when PSP, ledger and servers agree', async () => {
    const { world } = await fundedWorld();
    const run = await reconcileLater(world);
    expect(run.state).toBe('done');
    expect(run.findings).toEqual([]);
  });

  it("reports a dealer's manual balance edit as an unknown operation on that account", async () => {
    const { world, eu } = await fundedWorld();
    world.cluster.dealer('mt4-live-eu').balanceCorrection(eu.login as number, -25_00, 'goodwill adj');
    const run = await reconcileLater(world);
    expect(classes(run.findings)).toEqual(['unknown_operation']);
    expect(run.findings[0]).toMatchObject({ serverId: 'mt4-live-eu', login: eu.login, actualCents: -25_00 });
    const alerts = await world.service.alerts();
    expect(alerts.filter((a) => a.kind === 'reconciliation_finding')).toHaveLength(1);
  });

  it('reports a PSP payment that never reached the ledger, and a ledger deposit the PSP does not have', async () => {
    const { world, eu } = await fundedWorld();
    world.psp.confirmDeposit({ amountCents: 300_00, currency: 'USD', reference: eu.id, pspRef: 'LOST-WEBHOOK' });
    await depositSettled(world, { accountId: eu.id, amountCents: 50_00, currency: 'USD', pspRef: 'NOT-AT-PSP' });
    const run = await reconcileLater(world);
    expect(run.findings.map((f) => [f.class, f.pspRef])).toEqual([
      ['ledger_only', 'NOT-AT-PSP'],
      ['psp_only', 'LOST-WEBHOOK'],
    ]);
  });

  it('reports an amount the PSP and the ledger disagree on', async () => {
    const world = startedWorld();
    const eu = await openAccount(world);
    const payment = world.psp.confirmDeposit({ amountCents: 100_00, currency: 'USD' });
    await depositSettled(world, {
      accountId: eu.id,
      amountCents: 1_000_00,
      currency: 'USD',
      pspRef: payment.pspRef,
    });
    const run = await reconcileLater(world);
    expect(run.findings.map((f) => [f.class, f.expectedCents, f.actualCents])).toEqual([
      ['amount_mismatch', 100_00, 1_000_00],
    ]);
  });

  it('reports our reference on the wrong account, twice on the server, with another amount, missing, and not in the ledger', async () => {
    const { world, eu, global, refs } = await fundedWorld();
    const [euRef, globalRef] = refs as [string, string];
    const dealerEu = world.cluster.dealer('mt4-live-eu');
    // Someone else posts with the service's references: a second copy of the EU deposit, and the global
    // deposit's reference on the EU account.
    dealerEu.balanceCorrection(eu.login as number, 1_000_00, euRef);
    dealerEu.balanceCorrection(eu.login as number, 5_00, globalRef);
    // The ledger says posted, but the server lost it (the ledger is edited to claim a posting that never was).
    const ghost = must(await world.service.deposit({ accountId: global.id, amountCents: 20_00, currency: 'USD' }));
    await world.store.transaction((tx) =>
      tx.update('transfers', ghost.ref, { state: 'done', postedMs: world.scheduler.nowMs(), ticket: 1 }),
    );
    await world.store.transaction(async (tx) => {
      const [job] = await tx.select('jobs', { subject: ghost.ref });
      if (job !== undefined) await tx.update('jobs', job.id, { state: 'done' });
    });
    // Posted, then the ledger is edited: another amount than the server's, and "rejected" though it is there.
    const changed = await depositSettled(world, { accountId: global.id, amountCents: 30_00, currency: 'USD' });
    const denied = await depositSettled(world, { accountId: global.id, amountCents: 40_00, currency: 'USD' });
    expect([changed.state, denied.state]).toEqual(['done', 'done']);
    await world.store.transaction(async (tx) => {
      await tx.update('transfers', changed.ref, { amountCents: 31_00 });
      await tx.update('transfers', denied.ref, { state: 'rejected' });
    });

    const run = await reconcileLater(world);
    // In key order, as the run sorts them.
    expect(run.findings.map((f) => [f.class, f.key])).toEqual([
      ['amount_mismatch', `amount_mismatch:${changed.ref}:main`],
      ['duplicate_on_server', `duplicate_on_server:${euRef}:main`],
      ['missing_on_server', `missing_on_server:${ghost.ref}:main`],
      ['not_in_ledger', `not_in_ledger:${denied.ref}:main`],
      ['wrong_account', `wrong_account:${globalRef}:main:mt4-live-eu:${eu.login}`],
    ]);
    const found = (cls: string) => run.findings.find((f) => f.class === cls);
    expect(found('wrong_account')).toMatchObject({ ref: globalRef, serverId: 'mt4-live-eu', login: eu.login });
    expect(found('duplicate_on_server')).toMatchObject({ ref: euRef, expectedCents: 1_000_00, actualCents: 2_000_00 });
    expect(found('missing_on_server')).toMatchObject({ ref: ghost.ref, serverId: GLOBAL, actualCents: null });
    expect(found('amount_mismatch')).toMatchObject({
      ref: changed.ref,
      serverId: GLOBAL,
      login: global.login,
      ticket: changed.ticket,
      expectedCents: 31_00,
      actualCents: 30_00,
    });
    expect(found('not_in_ledger')).toMatchObject({
      ref: denied.ref,
      serverId: GLOBAL,
      login: global.login,
      ticket: denied.ticket,
      expectedCents: 0,
      actualCents: 40_00,
    });
  });

  it('reports a payout the provider made as psp_only when the ledger refunded the withdrawal', async () => {
    const { world, eu } = await fundedWorld();
    const withdrawal = must(await world.service.withdraw({ accountId: eu.id, amountCents: 100_00, currency: 'USD' }));
    expect((await settle(world, withdrawal.ref)).state).toBe('posted');
    // The provider paid it out, but its callback said the payout failed: the ledger refunds the client.
    world.psp.payout({
      amountCents: 100_00,
      currency: 'USD',
      reference: withdrawal.ref,
      succeeded: true,
      pspRef: 'PO-1',
    });
    must(await world.service.completePayout({ ref: withdrawal.ref, succeeded: false, pspRef: 'PO-1' }));
    expect((await settle(world, withdrawal.ref)).state).toBe('refunded');

    const run = await reconcileLater(world);
    expect(run.state).toBe('done');
    expect(run.findings.map((f) => [f.class, f.key, f.ref, f.pspRef, f.expectedCents])).toEqual([
      ['psp_only', 'psp_only:PO-1', withdrawal.ref, 'PO-1', 100_00],
    ]);
  });

  it('marks the run partial with the provider unreachable when its records cannot be read, and still checks the servers', async () => {
    const world = startedWorld({
      ports: {
        psp: {
          records: async () => {
            throw new Error('down');
          },
        },
      },
    });
    const eu = await openAccount(world);
    await depositSettled(world, { accountId: eu.id, amountCents: 100_00, currency: 'USD', pspRef: 'CARD-1' });
    world.cluster.dealer('mt4-live-eu').balanceCorrection(eu.login as number, -25_00, 'desk');
    const run = await reconcileLater(world);
    expect(run.state).toBe('partial');
    expect(run.unreachable).toEqual(['psp']);
    // Without the provider's records, CARD-1 is not reported missing from them; the server's edit is reported.
    expect(classes(run.findings)).toEqual(['unknown_operation']);
  });

  it('marks the run partial and names the server whose history it could not read', async () => {
    const { world } = await fundedWorld();
    await world.runFor(SETTLE_MS);
    world.cluster.restart('mt5-live-global', 3_600_000);
    const run = await world.act(() => world.service.reconcile());
    expect(run.state).toBe('partial');
    expect(run.unreachable).toEqual(['mt5-live-global']);
  });

  it('reports exactly the dealer edits injected, whatever their number and place', async () => {
    const edit = fc.record({
      server: fc.constantFrom('mt4-live-eu', 'mt5-live-global'),
      amountCents: fc.integer({ min: -500_00, max: 500_00 }).filter((n) => n !== 0),
      afterMs: fc.integer({ min: 0, max: 60_000 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { maxLength: 8 }), async (edits) => {
        const { world, eu, global } = await fundedWorld();
        const expected: string[] = [];
        for (const e of edits) {
          await world.runFor(e.afterMs);
          const login = (e.server === 'mt4-live-eu' ? eu : global).login as number;
          const dealer = world.cluster.dealer(e.server);
          const result = dealer.balanceCorrection(login, e.amountCents, `desk ${expected.length}`);
          if (!result.ok) continue;
          expected.push(`${e.server}:${login}:${e.amountCents}`);
        }
        const run = await reconcileLater(world);
        expect(run.findings.every((f) => f.class === 'unknown_operation')).toBe(true);
        expect(run.findings.map((f) => `${f.serverId}:${f.login}:${f.actualCents}`).sort()).toEqual(expected.sort());
      }),
      propertyParams('reconciliation', 25),
    );
  }, 120_000);
});

describe('scheduled reconciliation', () => {
  it('runs by itself every reconciliation.everyMs and alerts on what it finds', async () => {
    const world = startedWorld({
      broker: brokerConfig((c) => {
        c.reconciliation = { ...c.reconciliation, everyMs: 3_600_000 };
      }),
    });
    const eu = await openAccount(world);
    world.cluster.dealer('mt4-live-eu').balanceCorrection(eu.login as number, 10_00, 'manual');
    await world.runFor(2 * 3_600_000 + 1_000);
    const runs = await world.store.transaction((tx) => tx.select('reconciliations', {}, { orderBy: 'id' }));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.every((r) => r.findings.length === 1 && r.findings[0]?.class === 'unknown_operation')).toBe(true);
    // The same finding in later runs does not alert again.
    const alerts = await world.service.alerts();
    expect(alerts.filter((a) => a.kind === 'reconciliation_finding')).toHaveLength(1);
  });
});

describe('reconciliation against a provider CSV export', () => {
  it("reconciles the ledger against an imported export: the export's extra payment is psp_only", async () => {
    const records = parsePspCsv(
      [
        'id,type,status,amount,currency,reference,created_at',
        'CARD-1,deposit,succeeded,250.00,USD,,2026-01-05 05:58:30',
        'CARD-2,deposit,succeeded,99.90,USD,,2026-01-05 05:59:00',
        'CARD-3,deposit,declined,10.00,USD,,2026-01-05 05:59:30',
      ].join('\n'),
    );
    const world = startedWorld({ ports: { psp: new StaticPaymentRecords(records) } });
    const eu = await openAccount(world);
    await depositSettled(world, { accountId: eu.id, amountCents: 250_00, currency: 'USD', pspRef: 'CARD-1' });
    const run = await reconcileLater(world);
    expect(run.findings.map((f) => [f.class, f.pspRef, f.expectedCents])).toEqual([['psp_only', 'CARD-2', 99_90]]);
  });
});
