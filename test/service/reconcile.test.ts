import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../scenarios/world.ts';
import type { Finding } from '../../service/index.ts';
import { brokerConfig, openAccount, settle, startedWorld } from './helpers.ts';

/**
 * Three-way reconciliation (payment provider, ledger, server history): each discrepancy a test causes is
 * reported once, in its class, and nothing else is.
 */

const SEED = Number(process.env.MTPROOF_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.MTPROOF_PROPERTY_RUNS ?? 25);
const SETTLE_MS = 600_000;

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
    const deposit = await world.service.deposit({
      accountId: account.id,
      amountCents: 1_000_00,
      currency: 'USD',
      pspRef: payment.pspRef,
    });
    if (!deposit.ok) throw new Error(deposit.error.message);
    refs.push(deposit.value.ref);
    await settle(world, deposit.value.ref);
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
    const manual = await world.service.deposit({
      accountId: eu.id,
      amountCents: 50_00,
      currency: 'USD',
      pspRef: 'NOT-AT-PSP',
    });
    if (!manual.ok) throw new Error(manual.error.message);
    await settle(world, manual.value.ref);
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
    const deposit = await world.service.deposit({
      accountId: eu.id,
      amountCents: 1_000_00,
      currency: 'USD',
      pspRef: payment.pspRef,
    });
    if (!deposit.ok) throw new Error(deposit.error.message);
    await settle(world, deposit.value.ref);
    const run = await reconcileLater(world);
    expect(run.findings.map((f) => [f.class, f.expectedCents, f.actualCents])).toEqual([
      ['amount_mismatch', 100_00, 1_000_00],
    ]);
  });

  it('reports our reference on the wrong account, twice on the server, with another amount, and missing', async () => {
    const { world, eu, global, refs } = await fundedWorld();
    const [euRef, globalRef] = refs as [string, string];
    const dealerEu = world.cluster.dealer('mt4-live-eu');
    // Someone else posts with the service's references: a second copy of the EU deposit, and the global
    // deposit's reference on the EU account.
    dealerEu.balanceCorrection(eu.login as number, 1_000_00, euRef);
    dealerEu.balanceCorrection(eu.login as number, 5_00, globalRef);
    // The ledger says posted, but the server lost it (the ledger is edited to claim a posting that never was).
    const ghost = await world.service.deposit({ accountId: global.id, amountCents: 20_00, currency: 'USD' });
    if (!ghost.ok) throw new Error(ghost.error.message);
    await world.store.transaction((tx) =>
      tx.update('transfers', ghost.value.ref, { state: 'done', postedMs: world.scheduler.nowMs(), ticket: 1 }),
    );
    await world.store.transaction(async (tx) => {
      const [job] = await tx.select('jobs', { subject: ghost.value.ref });
      if (job !== undefined) await tx.update('jobs', job.id, { state: 'done' });
    });
    const run = await reconcileLater(world);
    expect(classes(run.findings)).toEqual(['duplicate_on_server', 'missing_on_server', 'wrong_account']);
    const wrong = run.findings.find((f) => f.class === 'wrong_account');
    expect(wrong).toMatchObject({ ref: globalRef, serverId: 'mt4-live-eu', login: eu.login });
    expect(run.findings.find((f) => f.class === 'missing_on_server')?.ref).toBe(ghost.value.ref);
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
    console.log(`reconciliation property: seed ${SEED}, ${RUNS} runs (replay: MTPROOF_PROPERTY_SEED=${SEED})`);
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
      { seed: SEED, numRuns: RUNS },
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
