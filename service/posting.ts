import type { MoneyKind } from '../adapters/port/manager-api.ts';
import { raiseAlert } from './alerts.ts';
import { connection, type ServiceContext, serverRange } from './context.ts';
import { commentFor, type Leg } from './domain/reference.ts';
import { type Attempt, finishJob, LEASE_LOST, retryLater, underLease, waitOutLag } from './jobs.ts';
import type { Tx } from './store/port.ts';
import type { LedgerEntryKind, TransferRow, TransferState } from './store/schema.ts';

/**
 * Exactly-once posting of one leg of a transfer (the deposit, withdrawal or credit itself, or the refund
 * of a withdrawal whose payout failed). One attempt, run by a worker holding the job's lease:
 *
 *   1. look the reference up in the account's server history; found → record the receipt, done;
 *   2. not found is proof of absence only if nothing was sent, or if the last uncertain send is older than
 *      `posting.historyLagToleranceMs` (history can lag behind the balance after an unknown); otherwise
 *      come back when it is;
 *   3. past the deadline: review, with an alert (never send after the deadline);
 *   4. withdrawals: read the free margin on the server, refuse above it;
 *   5. commit "a send may be in flight" (uncertainSinceMs), then send;
 *   6. ok → record the receipt; rejected → rejected or failed; unavailable → retry (nothing was sent);
 *      unknown → retry, and the next attempt starts again at 1.
 */

const MAIN_ACTIVE: ReadonlySet<TransferState> = new Set(['accepted', 'hold', 'posting']);
const REFUND_ACTIVE: ReadonlySet<TransferState> = new Set(['refunding']);

/** What the leg does to the account: signed minor units, balance or credit. */
export function legEffect(
  transfer: Pick<TransferRow, 'kind' | 'amountCents'>,
  leg: Leg,
): { amountCents: number; kind: MoneyKind } {
  const sign = transfer.kind === 'withdrawal' && leg === 'main' ? -1 : 1;
  return { amountCents: sign * transfer.amountCents, kind: transfer.kind === 'credit' ? 'credit' : 'balance' };
}

export async function workTransfer(attempt: Attempt<ServiceContext>): Promise<void> {
  const { ctx, job } = attempt;
  const { store, clock, config } = ctx;
  const leg: Leg = job.kind === 'refund' ? 'refund' : 'main';
  const active = leg === 'main' ? MAIN_ACTIVE : REFUND_ACTIVE;
  const transfer = await store.transaction((tx) => tx.get('transfers', job.subject));
  if (transfer === undefined) throw new Error(`job ${job.id}: no transfer ${job.subject}`);
  if (!active.has(transfer.state)) {
    await underLease(attempt, (tx, nowMs) => finishJob(tx, attempt, nowMs));
    return;
  }
  const la = { attempt, transfer, leg, active };
  const conn = connection(ctx, transfer.serverId);
  const effect = legEffect(transfer, leg);
  const comment = commentFor(transfer.ref, leg);
  const pastDeadline = () => clock.nowMs() - transfer.legStartedMs > config.retry.deadlineMs;

  // 1. Look before sending.
  const { fromServerSec, toServerSec } = serverRange(ctx, transfer.legStartedMs, clock.nowMs());
  const history = await conn.call(
    'balanceHistory',
    { login: transfer.login, fromServerSec, toServerSec },
    transfer.ref,
    (api) => api.balanceHistory(transfer.login, fromServerSec, toServerSec),
  );
  if (!history.ok) {
    if (pastDeadline()) return review(la, `past the deadline; history unreadable (${history.error.message})`);
    return retry(la, `history lookup: ${history.error.message}`);
  }
  const found = history.value.filter((op) => op.comment === comment);
  const first = found[0];
  if (first !== undefined) {
    if (found.length > 1) {
      return review(
        la,
        `posted ${found.length} times on the server (tickets ${found.map((op) => op.ticket).join(', ')})`,
      );
    }
    if (first.amountCents !== effect.amountCents || first.kind !== effect.kind) {
      return review(
        la,
        `found on the server as ${first.kind} ${first.amountCents} (ticket ${first.ticket}), expected ${effect.kind} ${effect.amountCents}`,
      );
    }
    return recordPosted(la, first.ticket, 'found in history');
  }

  // 2. Not found: is that proof? 3. Never send past the deadline.
  const lagOver = clock.nowMs() >= (transfer.uncertainSinceMs ?? 0) + config.posting.historyLagToleranceMs;
  if (pastDeadline()) {
    const why = lagOver
      ? `not settled within ${config.retry.deadlineMs} ms`
      : 'past the deadline with a send that may have been applied';
    return review(la, `${why} (${transfer.lastError ?? 'no error'})`);
  }
  if ((await waitOutLag(attempt, transfer.uncertainSinceMs)) === 'waiting') return;

  // 4. Withdrawals: free margin on the server, now.
  if (transfer.kind === 'withdrawal' && leg === 'main' && config.funding.withdrawalsNeedFreeMargin) {
    const margin = await conn.call('marginLevel', { login: transfer.login }, transfer.ref, (api) =>
      api.marginLevel(transfer.login),
    );
    if (!margin.ok) return retry(la, `margin level: ${margin.error.message}`);
    if (margin.value.freeMarginCents < transfer.amountCents) {
      return settle(la, 'rejected', `free margin ${margin.value.freeMarginCents} is below ${transfer.amountCents}`);
    }
  }

  // 5. Commit the intent: from here a crash or a lost answer leaves the send uncertain.
  const sentMs = clock.nowMs();
  const mine = await underLease(attempt, async (tx) => {
    if (!(await unchanged(tx, la))) return false;
    await tx.update('transfers', transfer.ref, {
      state: leg === 'main' ? 'posting' : 'refunding',
      uncertainSinceMs: sentMs,
      attempts: transfer.attempts + 1,
      updatedMs: sentMs,
    });
    return true;
  });
  if (mine !== true) return;
  const request = { login: transfer.login, amountCents: effect.amountCents, kind: effect.kind, comment };
  const sent = await conn.call('postBalance', request, transfer.ref, (api) => api.postBalance(request));
  // The transfer as the intent commit left it: the checks of what follows compare against this.
  const sending: TransferRow = {
    ...transfer,
    state: leg === 'main' ? 'posting' : 'refunding',
    attempts: transfer.attempts + 1,
    uncertainSinceMs: sentMs,
  };
  const after = { ...la, transfer: sending };
  if (sent.ok) return recordPosted(after, sent.value.ticket, 'posted');

  // 6. Failures.
  const error = sent.error;
  if (error.outcome === 'unknown') return retry(after, `send unknown: ${error.message}`);
  const cleared = { ...la, transfer: { ...sending, uncertainSinceMs: null } };
  if (error.outcome === 'unavailable') return retry(cleared, `send unavailable: ${error.message}`);
  if (leg === 'refund') return review(cleared, `the server refused the refund: ${error.message}`);
  const business = error.reason === 'no_money' || error.reason === 'limit';
  return settle(cleared, business ? 'rejected' : 'failed', `the server refused it: ${error.message}`);
}

/** The attempt at one leg, with the transfer as this attempt knows it (uncertainSinceMs as it now stands). */
interface LegAttempt {
  attempt: Attempt<ServiceContext>;
  transfer: TransferRow;
  leg: Leg;
  active: ReadonlySet<TransferState>;
}

/** Whether the transfer is still what the attempt read: no one settled or sent it in between. */
async function unchanged(tx: Tx, { transfer, active }: LegAttempt): Promise<boolean> {
  const current = await tx.get('transfers', transfer.ref);
  return current !== undefined && active.has(current.state) && current.attempts === transfer.attempts;
}

async function recordPosted(la: LegAttempt, ticket: number, how: string): Promise<void> {
  const { attempt, transfer, leg } = la;
  const effect = legEffect(transfer, leg);
  const state: TransferState = leg === 'refund' ? 'refunded' : transfer.kind === 'withdrawal' ? 'posted' : 'done';
  const ledgerKind: LedgerEntryKind = leg === 'refund' ? 'refund' : transfer.kind;
  const done = await underLease(attempt, async (tx, nowMs) => {
    // What the server holds is recorded once, whoever found it first.
    if (!la.active.has(((await tx.get('transfers', transfer.ref)) as TransferRow).state)) {
      return finishJob(tx, attempt, nowMs);
    }
    await tx.update('transfers', transfer.ref, {
      state,
      ...(leg === 'main' ? { ticket, postedMs: nowMs } : { refundTicket: ticket }),
      uncertainSinceMs: null,
      lastError: null,
      updatedMs: nowMs,
      finishedMs: state === 'posted' ? null : nowMs,
    });
    await tx.insert('ledger', {
      id: `${transfer.ref}:${leg}`,
      ref: transfer.ref,
      kind: ledgerKind,
      accountId: transfer.accountId,
      serverId: transfer.serverId,
      login: transfer.login,
      amountCents: effect.amountCents,
      ticket,
      atMs: nowMs,
    });
    await finishJob(tx, attempt, nowMs);
  });
  if (done === LEASE_LOST) return;
  attempt.ctx.log({
    level: 'info',
    msg: `${transfer.kind} ${leg} ${how}`,
    ref: transfer.ref,
    ticket,
    serverId: transfer.serverId,
  });
}

/** Ends the transfer as rejected or failed (the send, if any, is known not to have been applied). */
async function settle(la: LegAttempt, state: 'rejected' | 'failed', reason: string): Promise<void> {
  const { attempt, transfer } = la;
  const { ctx } = attempt;
  await underLease(attempt, async (tx, nowMs) => {
    if (!(await unchanged(tx, la))) return finishJob(tx, attempt, nowMs);
    await tx.update('transfers', transfer.ref, {
      state,
      reason,
      uncertainSinceMs: null,
      lastError: reason,
      updatedMs: nowMs,
      finishedMs: nowMs,
    });
    if (state === 'failed') {
      await raiseAlert(tx, nowMs, ctx.mask, {
        key: `transfer_failed:${transfer.ref}`,
        kind: 'transfer_failed',
        severity: 'critical',
        subject: transfer.ref,
        message: `${transfer.kind} ${transfer.ref} of ${transfer.amountCents} ${transfer.currency} failed: ${reason}`,
        details: { serverId: transfer.serverId, login: transfer.login },
      });
    }
    await finishJob(tx, attempt, nowMs);
  });
  ctx.log({
    level: state === 'failed' ? 'error' : 'info',
    msg: `${transfer.kind} ${state}: ${reason}`,
    ref: transfer.ref,
  });
}

async function review(la: LegAttempt, reason: string): Promise<void> {
  const { attempt, transfer, leg } = la;
  const { ctx } = attempt;
  await underLease(attempt, async (tx, nowMs) => {
    if (!(await unchanged(tx, la))) return finishJob(tx, attempt, nowMs);
    await tx.update('transfers', transfer.ref, {
      state: 'review',
      reason: `${leg === 'refund' ? 'refund: ' : ''}${reason}`,
      uncertainSinceMs: transfer.uncertainSinceMs,
      updatedMs: nowMs,
      finishedMs: nowMs,
    });
    await raiseAlert(tx, nowMs, ctx.mask, {
      key: `transfer_review:${transfer.ref}`,
      kind: 'transfer_review',
      severity: 'critical',
      subject: transfer.ref,
      message: `${transfer.kind} ${transfer.ref} needs review: ${reason}`,
      details: {
        serverId: transfer.serverId,
        login: transfer.login,
        leg,
        uncertain: transfer.uncertainSinceMs !== null,
      },
    });
    await finishJob(tx, attempt, nowMs);
  });
  ctx.log({ level: 'error', msg: `${transfer.kind} to review: ${reason}`, ref: transfer.ref });
}

/** Backs off and tries again later; never later than the deadline, where the attempt sends it to review. */
function retry({ attempt, transfer }: LegAttempt, error: string): Promise<void> {
  const deadlineMs = transfer.legStartedMs + attempt.ctx.config.retry.deadlineMs + 1;
  return retryLater(
    attempt,
    error,
    true,
    (tx, nowMs) =>
      tx.update('transfers', transfer.ref, {
        uncertainSinceMs: transfer.uncertainSinceMs,
        lastError: error,
        updatedMs: nowMs,
      }),
    deadlineMs,
  );
}
