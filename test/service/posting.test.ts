import { describe, expect, it } from 'vitest';
import { commentFor } from '../../service/index.ts';
import {
  balanceOf,
  brokerConfig,
  depositSettled,
  must,
  openAccount,
  opsWithComment,
  settle,
  startedWorld,
} from './helpers.ts';

/**
 * Exactly-once posting against the in-process simulator: each fault that makes a send's outcome unknown
 * or impossible, on both platforms, ends with the money on the server once.
 */

const ACCOUNTS = [
  { platform: 'MT4', country: 'DE', productId: 'eu-classic', serverId: 'mt4-live-eu' },
  { platform: 'MT5', country: 'US', productId: 'global-standard', serverId: 'mt5-live-global' },
] as const;

describe.each(ACCOUNTS)('posting on $platform', ({ country, productId, serverId }) => {
  it('posts a deposit once when the reply is lost after the server applied it', async () => {
    const world = startedWorld();
    const account = await openAccount(world, { country, productId });
    world.faultOnNext(serverId, 'postBalance', 'timeoutAfterApply');
    const transfer = await depositSettled(world, {
      accountId: account.id,
      amountCents: 2_000_00,
      currency: 'USD',
      pspRef: 'P-1',
    });
    expect(transfer.state).toBe('done');
    expect(transfer.attempts).toBe(1);
    expect(opsWithComment(world, serverId, account.login as number, transfer.ref)).toHaveLength(1);
    expect(balanceOf(world, serverId, account.login as number)).toBe(2_000_00);
    const ledger = await world.store.transaction((tx) => tx.select('ledger', { ref: transfer.ref }));
    expect(ledger.map((e) => [e.amountCents, e.ticket])).toEqual([[2_000_00, transfer.ticket]]);
  });

  it('posts a deposit once when the request is lost before the server saw it', async () => {
    const world = startedWorld();
    const account = await openAccount(world, { country, productId });
    world.faultOnNext(serverId, 'postBalance', 'timeoutBeforeApply');
    const accepted = must(await world.service.deposit({ accountId: account.id, amountCents: 500_00, currency: 'USD' }));
    const startMs = world.scheduler.nowMs();
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('done');
    expect(transfer.attempts).toBe(2);
    // The second send waited out the history-lag tolerance after the unknown one.
    expect((transfer.postedMs as number) - startMs).toBeGreaterThanOrEqual(world.config.posting.historyLagToleranceMs);
    expect(opsWithComment(world, serverId, account.login as number, transfer.ref)).toHaveLength(1);
  });

  it('retries a send refused for lack of connection without waiting out the lag tolerance', async () => {
    const world = startedWorld();
    const account = await openAccount(world, { country, productId });
    world.cluster.restart(serverId, 20_000, false);
    const accepted = must(await world.service.deposit({ accountId: account.id, amountCents: 300_00, currency: 'USD' }));
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('done');
    expect((transfer.postedMs as number) - transfer.acceptedMs).toBeLessThan(
      world.config.posting.historyLagToleranceMs,
    );
    expect(opsWithComment(world, serverId, account.login as number, transfer.ref)).toHaveLength(1);
  });

  it('posts once when history lags behind an applied send whose reply was lost', async () => {
    const world = startedWorld();
    const account = await openAccount(world, { country, productId });
    // New operations reach history 90 s late for the next 10 minutes; then the answer to the send is lost.
    world.cluster.inject(serverId, 'historyLag', { lagMs: 90_000, windowMs: 600_000 });
    world.faultOnNext(serverId, 'postBalance', 'timeoutAfterApply');
    const transfer = await depositSettled(world, { accountId: account.id, amountCents: 1_000_00, currency: 'USD' });
    expect(transfer.state).toBe('done');
    expect(transfer.attempts).toBe(1);
    expect(opsWithComment(world, serverId, account.login as number, transfer.ref)).toHaveLength(1);
    expect(balanceOf(world, serverId, account.login as number)).toBe(1_000_00);
  });
});

describe('the history-lag rule', () => {
  it('posts twice when a single "not found" right after an unknown is taken as proof (tolerance 0)', async () => {
    // The control experiment: without the rule, the lagging history hides the applied send and the retry
    // posts the deposit again. This is why historyLagToleranceMs exists.
    const world = startedWorld({
      broker: brokerConfig((c) => {
        c.posting = { ...c.posting, historyLagToleranceMs: 0 };
      }),
    });
    const account = await openAccount(world);
    world.cluster.inject('mt4-live-eu', 'historyLag', { lagMs: 90_000, windowMs: 600_000 });
    world.faultOnNext('mt4-live-eu', 'postBalance', 'timeoutAfterApply');
    const transfer = await depositSettled(world, { accountId: account.id, amountCents: 1_000_00, currency: 'USD' });
    expect(opsWithComment(world, 'mt4-live-eu', account.login as number, transfer.ref)).toHaveLength(2);
  });

  it('sends nothing after the deadline: a send that may have applied goes to review with an alert', async () => {
    const world = startedWorld({
      broker: brokerConfig((c) => {
        c.retry = { ...c.retry, deadlineMs: 120_000 };
      }),
    });
    const account = await openAccount(world);
    world.faultOnNext('mt4-live-eu', 'postBalance', 'timeoutBeforeApply');
    const transfer = await depositSettled(world, { accountId: account.id, amountCents: 700_00, currency: 'USD' });
    expect(transfer.state).toBe('review');
    expect(transfer.uncertainSinceMs).not.toBeNull();
    expect(opsWithComment(world, 'mt4-live-eu', account.login as number, transfer.ref)).toHaveLength(0);
    const alerts = await world.service.alerts();
    expect(alerts.filter((a) => a.kind === 'transfer_review' && a.subject === transfer.ref)).toHaveLength(1);
  });
});

describe('deposits', () => {
  it('accepts the same provider id twice as one deposit and refuses it for a different amount', async () => {
    const world = startedWorld();
    const account = await openAccount(world);
    const first = await world.service.deposit({
      accountId: account.id,
      amountCents: 100_00,
      currency: 'USD',
      pspRef: 'P-9',
    });
    const again = await world.service.deposit({
      accountId: account.id,
      amountCents: 100_00,
      currency: 'USD',
      pspRef: 'P-9',
    });
    const other = await world.service.deposit({
      accountId: account.id,
      amountCents: 200_00,
      currency: 'USD',
      pspRef: 'P-9',
    });
    const otherCurrency = await world.service.deposit({
      accountId: account.id,
      amountCents: 100_00,
      currency: 'EUR',
      pspRef: 'P-9',
    });
    expect(first.ok && again.ok && first.value.ref === again.value.ref).toBe(true);
    expect(other.ok ? null : other.error.code).toBe('MTP_DUPLICATE_PSP_REF');
    expect(otherCurrency.ok ? null : otherCurrency.error.code).toBe('MTP_DUPLICATE_PSP_REF');
    await settle(world, must(first).ref);
    expect(balanceOf(world, 'mt4-live-eu', account.login as number)).toBe(100_00);
  });

  it('refuses amounts outside the funding rules, a wrong currency and an unknown account, naming the field', async () => {
    const world = startedWorld();
    const account = await openAccount(world);
    const small = await world.service.deposit({ accountId: account.id, amountCents: 1, currency: 'USD' });
    const currency = await world.service.deposit({ accountId: account.id, amountCents: 100_00, currency: 'EUR' });
    const unknown = await world.service.deposit({ accountId: 'nope', amountCents: 100_00, currency: 'USD' });
    const malformed = await world.service.deposit({ accountId: account.id, amountCents: 10.5, currency: 'USD' });
    expect(small.ok ? null : [small.error.code, small.error.issues[0]?.path]).toEqual([
      'MTP_AMOUNT_OUT_OF_RANGE',
      'amountCents',
    ]);
    expect(currency.ok ? null : [currency.error.code, currency.error.issues[0]?.path]).toEqual([
      'MTP_CURRENCY_MISMATCH',
      'currency',
    ]);
    expect(unknown.ok ? null : unknown.error.code).toBe('MTP_UNKNOWN_ACCOUNT');
    expect(malformed.ok ? null : [malformed.error.code, malformed.error.issues[0]?.path]).toEqual([
      'MTP_BAD_REQUEST',
      'amountCents',
    ]);
  });

  it('refuses money before KYC approval once KYC is withdrawn', async () => {
    const world = startedWorld();
    const account = await openAccount(world);
    await world.service.setKyc(account.clientId, 'rejected');
    const refused = await world.service.deposit({ accountId: account.id, amountCents: 100_00, currency: 'USD' });
    expect(refused.ok ? null : refused.error.code).toBe('MTP_KYC_REQUIRED');
  });

  it('fails a deposit the server refuses for good, with an alert, and never retries it', async () => {
    const world = startedWorld();
    const account = await openAccount(world);
    world.faultOnNext('mt4-live-eu', 'postBalance', 'permissionDenied');
    const transfer = await depositSettled(world, { accountId: account.id, amountCents: 100_00, currency: 'USD' });
    expect(transfer.state).toBe('failed');
    expect(transfer.attempts).toBe(1);
    const alerts = await world.service.alerts();
    expect(alerts.filter((a) => a.kind === 'transfer_failed' && a.subject === transfer.ref)).toHaveLength(1);
    expect(opsWithComment(world, 'mt4-live-eu', account.login as number, transfer.ref)).toHaveLength(0);
  });

  it('posts a credit as credit, not balance', async () => {
    const world = startedWorld();
    const account = await openAccount(world, { country: 'US', productId: 'global-standard' });
    const accepted = must(await world.service.credit({ accountId: account.id, amountCents: 50_00, currency: 'USD' }));
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('done');
    const sim = world.cluster.server('mt5-live-global').accounts.get(account.login as number);
    expect([sim?.creditCents, sim?.balanceCents]).toEqual([50_00, 0]);
  });
});

describe('withdrawals', () => {
  async function funded(amountCents: number) {
    const world = startedWorld();
    const account = await openAccount(world);
    await depositSettled(world, { accountId: account.id, amountCents, currency: 'USD' });
    return { world, account, login: account.login as number };
  }

  it('rejects a withdrawal above the free margin on the server and never posts it', async () => {
    const { world, account, login } = await funded(100_00);
    const accepted = must(
      await world.service.withdraw({ accountId: account.id, amountCents: 150_00, currency: 'USD' }),
    );
    expect(accepted.state).toBe('hold');
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('rejected');
    expect(transfer.reason).toMatch(/free margin/);
    expect(opsWithComment(world, 'mt4-live-eu', login, transfer.ref)).toHaveLength(0);
    expect(balanceOf(world, 'mt4-live-eu', login)).toBe(100_00);
  });

  it('counts margin used by open trades: a withdrawal above the free margin left is rejected', async () => {
    const { world, account, login } = await funded(1_000_00);
    const trade = world.cluster.client('mt4-live-eu').open(login, 'EURUSD', 'buy', 1);
    expect(trade.ok).toBe(true);
    const accepted = must(
      await world.service.withdraw({ accountId: account.id, amountCents: 990_00, currency: 'USD' }),
    );
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('rejected');
    expect(opsWithComment(world, 'mt4-live-eu', login, transfer.ref)).toHaveLength(0);
  });

  it('debits once, then completes when the payout succeeds', async () => {
    const { world, account, login } = await funded(1_000_00);
    world.faultOnNext('mt4-live-eu', 'postBalance', 'timeoutAfterApply');
    const accepted = must(
      await world.service.withdraw({ accountId: account.id, amountCents: 400_00, currency: 'USD' }),
    );
    const posted = await settle(world, accepted.ref);
    expect(posted.state).toBe('posted');
    expect(balanceOf(world, 'mt4-live-eu', login)).toBe(600_00);
    const paid = await world.service.completePayout({ ref: posted.ref, succeeded: true, pspRef: 'PO-1' });
    expect(paid.ok && paid.value.state).toBe('done');
    const again = await world.service.completePayout({ ref: posted.ref, succeeded: true, pspRef: 'PO-1' });
    expect(again.ok && again.value.state).toBe('done');
  });

  it('refunds a failed payout exactly once, through a lost reply', async () => {
    const { world, account, login } = await funded(1_000_00);
    const accepted = must(
      await world.service.withdraw({ accountId: account.id, amountCents: 400_00, currency: 'USD' }),
    );
    await settle(world, accepted.ref);
    world.faultOnNext('mt4-live-eu', 'postBalance', 'timeoutAfterApply');
    const failed = await world.service.completePayout({ ref: accepted.ref, succeeded: false });
    expect(failed.ok && failed.value.state).toBe('refunding');
    const refunded = await settle(world, accepted.ref);
    expect(refunded.state).toBe('refunded');
    expect(opsWithComment(world, 'mt4-live-eu', login, commentFor(refunded.ref, 'refund'))).toHaveLength(1);
    expect(balanceOf(world, 'mt4-live-eu', login)).toBe(1_000_00);
    const ledger = await world.store.transaction((tx) => tx.select('ledger', { ref: refunded.ref }));
    expect(ledger.reduce((sum, e) => sum + e.amountCents, 0)).toBe(0);
  });

  it('refuses a payout result for a withdrawal that is not posted', async () => {
    const { world, account } = await funded(1_000_00);
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 100_00, currency: 'USD' }));
    const wrongKind = await world.service.completePayout({ ref: deposit.ref, succeeded: true });
    const unknown = await world.service.completePayout({ ref: 'MTP-W0000000099-XX', succeeded: true });
    expect(wrongKind.ok ? null : wrongKind.error.code).toBe('MTP_TRANSFER_STATE');
    expect(unknown.ok ? null : unknown.error.code).toBe('MTP_UNKNOWN_TRANSFER');
  });
});

describe('crashes', () => {
  it('posts once when the service dies between the send and the answer', async () => {
    const world = startedWorld({ baseLatencyMs: 40 });
    const account = await openAccount(world);
    const accepted = must(await world.service.deposit({ accountId: account.id, amountCents: 250_00, currency: 'USD' }));
    // Run until the send is committed as in flight, then die before its answer arrives.
    expect(
      await world.until(async () => (await world.service.transfer(accepted.ref))?.uncertainSinceMs != null, 60_000, 1),
    ).toBe(true);
    world.crash();
    expect((await world.store.transaction((tx) => tx.get('transfers', accepted.ref)))?.state).toBe('posting');
    world.start();
    const transfer = await settle(world, accepted.ref);
    expect(transfer.state).toBe('done');
    expect(opsWithComment(world, 'mt4-live-eu', account.login as number, transfer.ref)).toHaveLength(1);
  });
});
