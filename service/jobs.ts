import type { Clock } from '../kit/clock.ts';
import type { Random } from '../kit/random.ts';
import { backoffMs } from './backoff.ts';
import type { BrokerConfig } from './config.ts';
import type { Logger } from './log.ts';
import { nextId } from './store/ids.ts';
import type { Store, Tx } from './store/port.ts';
import type { JobKind, JobRow } from './store/schema.ts';

/**
 * The durable queue: jobs are rows, enqueued in the same transaction as the state they act on, claimed
 * with a lease (a crashed worker's jobs become claimable again when it expires), and finished or
 * rescheduled in the transaction that records what the attempt learned. A worker whose lease has run out
 * writes nothing more: another worker may own the job by then.
 */

export async function enqueueJob(tx: Tx, kind: JobKind, subject: string, nowMs: number): Promise<JobRow> {
  const job: JobRow = {
    id: await nextId(tx, 'jobs', 'J', 12),
    kind,
    subject,
    state: 'queued',
    runAtMs: nowMs,
    attempts: 0,
    leaseOwner: null,
    leaseUntilMs: 0,
    lastError: null,
    createdMs: nowMs,
    updatedMs: nowMs,
  };
  await tx.insert('jobs', job);
  return job;
}

/** What the queue needs of the service (the service's context is one). */
export interface JobContext {
  readonly config: Readonly<BrokerConfig>;
  readonly clock: Clock;
  readonly random: Random;
  readonly store: Store;
  readonly log: Logger;
}

/** One worker's attempt at a job. */
export interface Attempt<C extends JobContext = JobContext> {
  readonly ctx: C;
  readonly job: JobRow;
  readonly owner: string;
}

export const LEASE_LOST = Symbol('lease lost');

/**
 * Runs `fn` in a transaction if the attempt still holds the job's lease, else writes nothing and answers
 * LEASE_LOST. Every write of an attempt goes through here, so a worker that outlived its lease cannot
 * overwrite what the job's new owner decided.
 */
export async function underLease<T>(
  attempt: Attempt,
  fn: (tx: Tx, nowMs: number) => Promise<T>,
): Promise<T | typeof LEASE_LOST> {
  const { ctx, job, owner } = attempt;
  const nowMs = ctx.clock.nowMs();
  const result = await ctx.store.transaction(async (tx) => {
    const current = await tx.get('jobs', job.id);
    const held = current !== undefined && current.state === 'queued' && current.leaseOwner === owner;
    if (!held || current.leaseUntilMs <= nowMs) return LEASE_LOST;
    return fn(tx, nowMs);
  });
  if (result === LEASE_LOST) {
    ctx.log({ level: 'warn', msg: 'job lease lost: another worker owns it now', job: job.id, subject: job.subject });
  }
  return result;
}

export async function finishJob(tx: Tx, attempt: Attempt, nowMs: number): Promise<void> {
  await tx.update('jobs', attempt.job.id, { state: 'done', leaseOwner: null, leaseUntilMs: 0, updatedMs: nowMs });
}

/** Puts the job back for `runAtMs`; `counted` says whether this was a failed attempt (it backs off). */
export async function rescheduleJob(
  tx: Tx,
  attempt: Attempt,
  runAtMs: number,
  nowMs: number,
  lastError: string | null,
  counted: boolean,
): Promise<void> {
  const { job } = attempt;
  await tx.update('jobs', job.id, {
    runAtMs,
    attempts: counted ? job.attempts + 1 : job.attempts,
    leaseOwner: null,
    leaseUntilMs: 0,
    lastError,
    updatedMs: nowMs,
  });
}

/**
 * Backs off (`counted`: a failed attempt, the delay grows; else the idle poll) and tries again later, no
 * later than `latestMs`. `record` writes the error on the job's subject in the same transaction.
 */
export async function retryLater(
  attempt: Attempt,
  error: string,
  counted: boolean,
  record: (tx: Tx, nowMs: number) => Promise<unknown>,
  latestMs = Number.POSITIVE_INFINITY,
): Promise<void> {
  const { ctx, job } = attempt;
  const delayMs = counted ? backoffMs(ctx.config.retry, job.attempts + 1, ctx.random) : ctx.config.posting.idlePollMs;
  await underLease(attempt, async (tx, nowMs) => {
    await record(tx, nowMs);
    await rescheduleJob(tx, attempt, Math.max(nowMs + 1, Math.min(nowMs + delayMs, latestMs)), nowMs, error, counted);
  });
}

/**
 * The history-lag rule (service/README.md): after a send that may have been applied at `uncertainSinceMs`,
 * "not found on the server" proves nothing until `posting.historyLagToleranceMs` later. Answers 'proven'
 * when a lookup's "not found" may be trusted now; otherwise reschedules the job for then and answers 'waiting'.
 */
export async function waitOutLag(attempt: Attempt, uncertainSinceMs: number | null): Promise<'proven' | 'waiting'> {
  if (uncertainSinceMs === null) return 'proven';
  const provenAtMs = uncertainSinceMs + attempt.ctx.config.posting.historyLagToleranceMs;
  if (attempt.ctx.clock.nowMs() >= provenAtMs) return 'proven';
  await underLease(attempt, (tx, nowMs) =>
    rescheduleJob(tx, attempt, provenAtMs, nowMs, 'not found yet: waiting out the history lag', false),
  );
  return 'waiting';
}
