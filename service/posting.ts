import type { MoneyKind } from '../adapters/port/manager-api.ts';
import { raiseAlert } from './alerts.ts';
import { backoffMs } from './backoff.ts';
import { connection, type ServiceContext } from './context.ts';
import { commentFor, type Leg } from './domain/reference.ts';
import { finishJob, holdsLease, rescheduleJob } from './jobs.ts';
import type { JobRow, LedgerEntryKind, TransferRow, TransferState } from './store/schema.ts';

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

export function legOf(job: JobRow): Leg {
  return job.kind === 'refund' ? 'refund' : 'main';
}

/** What the leg does to the account: signed minor units, balance or credit. */
export function legEffect(
  transfer: Pick<TransferRow, 'kind' | 'amountCents'>,
  leg: Leg,
): { amountCents: number; kind: MoneyKind } {
  const sign = transfer.kind === 'withdrawal' && leg === 'main' ? -1 : 1;
  return { amountCents: sign * transfer.amountCents, kind: transfer.kind === 'credit' ? 'credit' : 'balance' };
}

export async function workTransfer(ctx: ServiceContext, job: JobRow, owner: string): Promise<void> {
  const { store, clock, config } = ctx;
  const leg = legOf(job);
  const transfer = await store.transaction((tx) => tx.get('transfers', job.subject));
  if (transfer === undefined) throw new Error(`job ${job.id}: no transfer ${job.subject}`);
  if (!(leg === 'main' ? MAIN_ACTIVE : REFUND_ACTIVE).has(transfer.state)) {
    await store.transaction((tx) => finishJob(tx, job.id, clock.nowMs()));
    return;
  }
  const conn = connection(ctx, transfer.serverId);
  const effect = legEffect(transfer, leg);
  const comment = commentFor(transfer.ref, leg);
  const pastDeadline = () => clock.nowMs() - transfer.legStartedMs > config.retry.deadlineMs;

  // 1. Look before sending.
  const fromServerSec = Math.floor((transfer.legStartedMs - config.posting.lookbackMs) / 1000);
  const toServerSec = Math.ceil((clock.nowMs() + config.posting.lookbackMs) / 1000);
  const history = await conn.call(
    'balanceHistory',
    { login: transfer.login, fromServerSec, toServerSec },
    transfer.ref,
    (api) => api.balanceHistory(transfer.login, fromServerSec, toServerSec),
  );
  if (!history.ok) {
    if (pastDeadline())
      return review(ctx, job, transfer, leg, `past the deadline; history unreadable (${history.error.message})`);
    return retryLater(ctx, job, transfer, `history lookup: ${history.error.message}`);
  }
  const found = history.value.filter((op) => op.comment === comment);
  const first = found[0];
  if (first !== undefined) {
    if (found.length > 1) {
      return review(
        ctx,
        job,
        transfer,
        leg,
        `posted ${found.length} times on the server (tickets ${found.map((op) => op.ticket).join(', ')})`,
      );
    }
    if (first.amountCents !== effect.amountCents || first.kind !== effect.kind || first.login !== transfer.login) {
      return review(
        ctx,
        job,
        transfer,
        leg,
        `found on the server as ${first.kind} ${first.amountCents} on ${first.login} (ticket ${first.ticket}), expected ${effect.kind} ${effect.amountCents}`,
      );
    }
    return recordPosted(ctx, job, transfer, leg, first.ticket, 'found in history');
  }

  // 2. Not found: is that proof?
  if (transfer.uncertainSinceMs !== null) {
    const provenAtMs = transfer.uncertainSinceMs + config.posting.historyLagToleranceMs;
    if (clock.nowMs() < provenAtMs) {
      if (pastDeadline())
        return review(ctx, job, transfer, leg, 'past the deadline with a send that may have been applied');
      await store.transaction((tx) =>
        rescheduleJob(tx, job, provenAtMs, clock.nowMs(), 'not in history yet: waiting out the history lag', false),
      );
      return;
    }
  }

  // 3. Never send past the deadline.
  if (pastDeadline())
    return review(
      ctx,
      job,
      transfer,
      leg,
      `not settled within ${config.retry.deadlineMs} ms (${transfer.lastError ?? 'no error'})`,
    );

  // 4. Withdrawals: free margin on the server, now.
  if (transfer.kind === 'withdrawal' && leg === 'main' && config.funding.withdrawalsNeedFreeMargin) {
    const margin = await conn.call('marginLevel', { login: transfer.login }, transfer.ref, (api) =>
      api.marginLevel(transfer.login),
    );
    if (!margin.ok) return retryLater(ctx, job, transfer, `margin level: ${margin.error.message}`);
    if (margin.value.freeMarginCents < transfer.amountCents) {
      return settle(
        ctx,
        job,
        transfer,
        'rejected',
        `free margin ${margin.value.freeMarginCents} is below ${transfer.amountCents}`,
      );
    }
  }

  // 5. Commit the intent: from here a crash or a lost answer leaves the send uncertain.
  const sentMs = clock.nowMs();
  const mine = await store.transaction(async (tx) => {
    if (!(await holdsLease(tx, job.id, owner, sentMs))) return false;
    const current = (await tx.get('transfers', transfer.ref)) as TransferRow;
    if (current.uncertainSinceMs !== transfer.uncertainSinceMs || current.state !== transfer.state) return false;
    await tx.update('transfers', transfer.ref, {
      state: leg === 'main' ? 'posting' : 'refunding',
      uncertainSinceMs: sentMs,
      attempts: current.attempts + 1,
      updatedMs: sentMs,
    });
    return true;
  });
  if (!mine) {
    ctx.log({
      level: 'warn',
      msg: 'lost the job lease before sending: another worker has it',
      job: job.id,
      ref: transfer.ref,
    });
    return;
  }
  const request = { login: transfer.login, amountCents: effect.amountCents, kind: effect.kind, comment };
  const sent = await conn.call('postBalance', request, transfer.ref, (api) => api.postBalance(request));
  const after = { ...transfer, uncertainSinceMs: sentMs };
  if (sent.ok) return recordPosted(ctx, job, after, leg, sent.value.ticket, 'posted');

  // 6. Failures.
  const error = sent.error;
  if (error.outcome === 'unknown') return retryLater(ctx, job, after, `send unknown: ${error.message}`);
  const cleared = { ...after, uncertainSinceMs: null };
  if (error.outcome === 'unavailable') return retryLater(ctx, job, cleared, `send unavailable: ${error.message}`);
  if (leg === 'refund') return review(ctx, job, cleared, leg, `the server refused the refund: ${error.message}`);
  const business = error.reason === 'no_money' || error.reason === 'limit';
  return settle(ctx, job, cleared, business ? 'rejected' : 'failed', `the server refused it: ${error.message}`);
}

async function recordPosted(
  ctx: ServiceContext,
  job: JobRow,
  transfer: TransferRow,
  leg: Leg,
  ticket: number,
  how: string,
): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  const effect = legEffect(transfer, leg);
  const state: TransferState = leg === 'refund' ? 'refunded' : transfer.kind === 'withdrawal' ? 'posted' : 'done';
  const ledgerKind: LedgerEntryKind = leg === 'refund' ? 'refund' : transfer.kind;
  await ctx.store.transaction(async (tx) => {
    const current = (await tx.get('transfers', transfer.ref)) as TransferRow;
    // Recording what the server holds is always right, but only once.
    if (!(leg === 'main' ? MAIN_ACTIVE : REFUND_ACTIVE).has(current.state)) return finishJob(tx, job.id, nowMs);
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
    await finishJob(tx, job.id, nowMs);
  });
  ctx.log({
    level: 'info',
    msg: `${transfer.kind} ${leg} ${how}`,
    ref: transfer.ref,
    ticket,
    serverId: transfer.serverId,
  });
}

/** Ends the transfer as rejected or failed (the send, if any, is known not to have been applied). */
async function settle(
  ctx: ServiceContext,
  job: JobRow,
  transfer: TransferRow,
  state: 'rejected' | 'failed',
  reason: string,
): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  await ctx.store.transaction(async (tx) => {
    await tx.update('transfers', transfer.ref, {
      state,
      reason,
      uncertainSinceMs: null,
      lastError: reason,
      updatedMs: nowMs,
      finishedMs: nowMs,
    });
    if (state === 'failed') {
      await raiseAlert(
        tx,
        nowMs,
        {
          key: `transfer_failed:${transfer.ref}`,
          kind: 'transfer_failed',
          severity: 'critical',
          subject: transfer.ref,
          message: `${transfer.kind} ${transfer.ref} of ${transfer.amountCents} ${transfer.currency} failed: ${reason}`,
          details: { serverId: transfer.serverId, login: transfer.login },
        },
        ctx.redact,
      );
    }
    await finishJob(tx, job.id, nowMs);
  });
  ctx.log({
    level: state === 'failed' ? 'error' : 'info',
    msg: `${transfer.kind} ${state}: ${reason}`,
    ref: transfer.ref,
  });
}

async function review(
  ctx: ServiceContext,
  job: JobRow,
  transfer: TransferRow,
  leg: Leg,
  reason: string,
): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  await ctx.store.transaction(async (tx) => {
    await tx.update('transfers', transfer.ref, {
      state: 'review',
      reason: `${leg === 'refund' ? 'refund: ' : ''}${reason}`,
      uncertainSinceMs: transfer.uncertainSinceMs,
      updatedMs: nowMs,
      finishedMs: nowMs,
    });
    await raiseAlert(
      tx,
      nowMs,
      {
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
      },
      ctx.redact,
    );
    await finishJob(tx, job.id, nowMs);
  });
  ctx.log({ level: 'error', msg: `${transfer.kind} to review: ${reason}`, ref: transfer.ref });
}

/** Backs off and tries again later; never later than the deadline, where the attempt sends it to review. */
async function retryLater(ctx: ServiceContext, job: JobRow, transfer: TransferRow, error: string): Promise<void> {
  const { clock, config, random, store } = ctx;
  const nowMs = clock.nowMs();
  const delayMs = backoffMs(config.retry, job.attempts + 1, random);
  const deadlineMs = transfer.legStartedMs + config.retry.deadlineMs + 1;
  const runAtMs = Math.max(nowMs + 1, Math.min(nowMs + delayMs, deadlineMs));
  await store.transaction(async (tx) => {
    await tx.update('transfers', transfer.ref, {
      uncertainSinceMs: transfer.uncertainSinceMs,
      lastError: error,
      updatedMs: nowMs,
    });
    await rescheduleJob(tx, job, runAtMs, nowMs, error, true);
  });
}
