import { raiseAlert } from '../alerts.ts';
import { backoffMs } from '../backoff.ts';
import type { BrokerConfig } from '../config.ts';
import type { ServiceContext } from '../context.ts';
import { type Attempt, enqueueJob, finishJob, rescheduleJob, underLease } from '../jobs.ts';
import type { Tx } from '../store/port.ts';
import type { AccountRow, ClientRow, JobRow } from '../store/schema.ts';
import { type CrmPort, type CrmResult, type CrmUpdate, type OnboardingState, sameFacts } from './port.ts';

/**
 * The CRM write-back as a durable job (`crm-sync`, subject: the account id). It is queued in the transaction
 * that makes the change it reports (account accepted, opened or failed; the client's KYC decision), so a
 * crash cannot make the change and forget to tell the CRM.
 *
 * The job carries no state: it reads the account and the client as they are when it runs and writes that.
 * A retry after a long outage therefore writes the latest state, never the one that queued it. Two writes
 * of one account can still cross on the wire (a change while a write is in flight queues a second job);
 * so after the CRM took a write the job reads the state again, and if it changed meanwhile it writes again
 * (or leaves it to a queued job that has not read yet). The CRM thus ends holding the state the service has.
 *
 * ok → done. rejected (a 4xx) → done, with a `crm_sync_failed` alert: the same write would be refused
 * again. unavailable → retried with the service's backoff, later if the CRM's Retry-After says so, up to
 * `crm.attempts` attempts; then done with a `crm_sync_failed` alert. A client without an `externalId` (no
 * CRM record to write to) is skipped with a log line.
 */

/**
 * Queues a write-back of the account unless one that has not started yet is queued (it will read the state
 * this transaction commits). No-op without `config.crm`.
 */
export async function enqueueCrmSync(
  tx: Tx,
  config: Readonly<BrokerConfig>,
  accountId: string,
  nowMs: number,
): Promise<void> {
  if (config.crm === undefined) return;
  const queued = await tx.select('jobs', { kind: 'crm-sync', subject: accountId, state: 'queued' });
  if (queued.some((job) => !leased(job, nowMs))) return;
  await enqueueJob(tx, 'crm-sync', accountId, nowMs);
}

/** Queues a write-back of each of the client's accounts (a KYC decision changes their onboarding state). */
export async function enqueueCrmSyncOfClient(
  tx: Tx,
  config: Readonly<BrokerConfig>,
  clientId: string,
  nowMs: number,
): Promise<void> {
  if (config.crm === undefined) return;
  for (const account of await tx.select('accounts', { clientId }, { orderBy: 'id' })) {
    await enqueueCrmSync(tx, config, account.id, nowMs);
  }
}

/** A job a worker holds now: it may have read the state already. */
function leased(job: JobRow, nowMs: number): boolean {
  return job.leaseOwner !== null && job.leaseUntilMs > nowMs;
}

/**
 * The onboarding state of one account: a failed account or a rejected KYC first (they end the journey,
 * whatever else holds), then the account's own progress, and before it opens, a KYC still pending.
 */
export function onboardingOf(account: Pick<AccountRow, 'state'>, client: Pick<ClientRow, 'kyc'>): OnboardingState {
  if (account.state === 'failed') return 'account_failed';
  if (client.kyc === 'rejected') return 'kyc_rejected';
  if (account.state === 'open') return 'account_open';
  return client.kyc === 'pending' ? 'kyc_pending' : 'account_pending';
}

/** What the CRM should hold for the account now; null when its client has no CRM id. */
async function currentUpdate(tx: Tx, accountId: string, atMs: number): Promise<CrmUpdate | null> {
  const account = await tx.get('accounts', accountId);
  const client = account === undefined ? undefined : await tx.get('clients', account.clientId);
  if (account === undefined || client === undefined) throw new Error(`crm-sync: no account ${accountId}`);
  if (client.externalId === null) return null;
  return {
    crmClientId: client.externalId,
    accountId: account.id,
    serverId: account.serverId,
    login: account.login,
    group: account.group,
    status: account.state,
    onboarding: onboardingOf(account, client),
    atMs,
  };
}

/** Works one `crm-sync` job; `crm` is null when the service has no CRM (a job left from a config that had one). */
export async function workCrmSync(attempt: Attempt<ServiceContext>, crm: CrmPort | null): Promise<void> {
  const { ctx, job } = attempt;
  const { store, log, clock } = ctx;
  const settings = ctx.config.crm;
  if (crm === null || settings === undefined) {
    log({ level: 'warn', msg: 'CRM write-back dropped: no CRM is configured', job: job.id, accountId: job.subject });
    await underLease(attempt, (tx, nowMs) => finishJob(tx, attempt, nowMs));
    return;
  }
  const readMs = clock.nowMs();
  const update = await store.transaction((tx) => currentUpdate(tx, job.subject, readMs));
  if (update === null) {
    log({
      level: 'info',
      msg: 'CRM write-back skipped: the client has no CRM id (externalId)',
      accountId: job.subject,
    });
    await underLease(attempt, (tx, nowMs) => finishJob(tx, attempt, nowMs));
    return;
  }
  const answer = await crm.writeBack(update);
  if (answer.ok) return confirm(attempt, crm, update);
  // The CRM's own words go into the job row, logs and alerts: a CRM that echoes the token (a 401 saying
  // which credentials it refused) must not put it there.
  const result = { ...answer, message: ctx.mask(answer.message) as string };
  const failedAttempts = job.attempts + 1;
  if (result.outcome === 'unavailable' && failedAttempts < settings.attempts) {
    const delayMs = Math.max(backoffMs(ctx.config.retry, failedAttempts, ctx.random), result.retryAfterMs ?? 0);
    await underLease(attempt, (tx, nowMs) =>
      rescheduleJob(tx, attempt, nowMs + delayMs, nowMs, `${result.code}: ${result.message}`, true),
    );
    return;
  }
  await giveUp(attempt, crm, update, result, failedAttempts);
}

/** The CRM took `written`: done if it is still the state, else write again (or leave it to a fresh job). */
async function confirm(attempt: Attempt<ServiceContext>, crm: CrmPort, written: CrmUpdate): Promise<void> {
  const { ctx, job } = attempt;
  const outcome = await underLease(attempt, async (tx, nowMs) => {
    const now = await currentUpdate(tx, job.subject, nowMs);
    if (now === null || sameFacts(now, written)) {
      await finishJob(tx, attempt, nowMs);
      return 'written';
    }
    const others = await tx.select('jobs', { kind: 'crm-sync', subject: job.subject, state: 'queued' });
    if (others.some((other) => other.id !== job.id && !leased(other, nowMs))) {
      await finishJob(tx, attempt, nowMs);
      return 'superseded';
    }
    await rescheduleJob(tx, attempt, nowMs, nowMs, 'the state changed while it was written: writing it again', false);
    return 'again';
  });
  if (typeof outcome !== 'string') return;
  ctx.log({
    level: 'info',
    msg: outcome === 'written' ? 'CRM write-back done' : `CRM write-back outdated on arrival (${outcome})`,
    system: crm.system,
    accountId: written.accountId,
    status: written.status,
    onboarding: written.onboarding,
  });
}

async function giveUp(
  attempt: Attempt<ServiceContext>,
  crm: CrmPort,
  update: CrmUpdate,
  result: Extract<CrmResult, { ok: false }>,
  attempts: number,
): Promise<void> {
  const { ctx, job } = attempt;
  const why =
    result.outcome === 'rejected'
      ? `was refused by ${crm.system}`
      : `was given up after ${attempts} attempts (${crm.system} unavailable)`;
  await underLease(attempt, async (tx, nowMs) => {
    await raiseAlert(tx, nowMs, ctx.mask, {
      key: `crm_sync_failed:${job.id}`,
      kind: 'crm_sync_failed',
      severity: 'warning',
      subject: update.accountId,
      message: `the CRM write-back of account ${update.accountId} (${update.status}, ${update.onboarding}) ${why}: ${result.message}`,
      details: {
        system: crm.system,
        crmClientId: update.crmClientId,
        code: result.code,
        status: result.status,
        attempts,
      },
    });
    await tx.update('jobs', job.id, { lastError: `${result.code}: ${result.message}` });
    await finishJob(tx, attempt, nowMs);
  });
}
