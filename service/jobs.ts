import type { Tx } from './store/port.ts';
import type { JobKind, JobRow } from './store/schema.ts';

/**
 * The durable queue: jobs are rows, enqueued in the same transaction as the state they act on, claimed
 * with a lease (a crashed worker's jobs become claimable again when it expires), and finished or
 * rescheduled in the transaction that records what the attempt learned.
 */

export async function enqueueJob(
  tx: Tx,
  kind: JobKind,
  subject: string,
  runAtMs: number,
  nowMs: number,
): Promise<JobRow> {
  const id = `J${String(await tx.nextValue('jobs')).padStart(12, '0')}`;
  const job: JobRow = {
    id,
    kind,
    subject,
    state: 'queued',
    runAtMs,
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

export async function finishJob(tx: Tx, id: string, nowMs: number): Promise<void> {
  await tx.update('jobs', id, { state: 'done', leaseOwner: null, leaseUntilMs: 0, updatedMs: nowMs });
}

/** Puts the job back for `runAtMs`; `counted` says whether this was a failed attempt (it backs off). */
export async function rescheduleJob(
  tx: Tx,
  job: JobRow,
  runAtMs: number,
  nowMs: number,
  lastError: string | null,
  counted: boolean,
): Promise<void> {
  await tx.update('jobs', job.id, {
    runAtMs,
    attempts: counted ? job.attempts + 1 : job.attempts,
    leaseOwner: null,
    leaseUntilMs: 0,
    lastError,
    updatedMs: nowMs,
  });
}

/** Whether `owner` still holds the job's lease: checked in the transaction that commits a send. */
export async function holdsLease(tx: Tx, id: string, owner: string, nowMs: number): Promise<boolean> {
  const job = await tx.get('jobs', id);
  return job !== undefined && job.state === 'queued' && job.leaseOwner === owner && job.leaseUntilMs > nowMs;
}
