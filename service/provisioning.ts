import type { Account } from '../adapters/port/manager-api.ts';
import { raiseAlert } from './alerts.ts';
import { backoffMs } from './backoff.ts';
import { connection, isSuspended, type ServiceContext } from './context.ts';
import { needsKyc } from './domain/routing.ts';
import { finishJob, holdsLease, rescheduleJob } from './jobs.ts';
import type { AccountRow, ClientRow, JobRow } from './store/schema.ts';

/**
 * Opening a trading account on its server, with the same discipline as posting money: the account row
 * (with its server and group, decided at acceptance) is committed first; a send that may have been
 * applied is looked up (by the account id, stored as the MetaTrader account's external id) before any new
 * create; a server that is down or suspended leaves the account `pending` and the job retries.
 */

/** An initial password: never stored nor logged; the client sets their own through a password reset. */
export function newPassword(ctx: ServiceContext): string {
  const letters = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let out = '';
  for (let i = 0; i < 9; i++) out += letters[ctx.passwords.int(0, letters.length - 1)];
  // MT5 wants lower and upper case, a digit and a symbol; MT4 at most 15 characters.
  return `${out}a7K#`;
}

export async function workOpenAccount(ctx: ServiceContext, job: JobRow, owner: string): Promise<void> {
  const { store, clock, config } = ctx;
  const loaded = await store.transaction(async (tx) => {
    const account = await tx.get('accounts', job.subject);
    const client = account === undefined ? undefined : await tx.get('clients', account.clientId);
    return { account, client };
  });
  const account = loaded.account;
  if (account === undefined || loaded.client === undefined) throw new Error(`job ${job.id}: no account ${job.subject}`);
  const client: ClientRow = loaded.client;
  if (account.state !== 'pending') {
    await store.transaction((tx) => finishJob(tx, job.id, clock.nowMs()));
    return;
  }
  const product = config.products.find((p) => p.id === account.productId);
  if (product === undefined) return fail(ctx, job, account, `product ${account.productId} is no longer configured`);
  if (needsKyc(config, product) && client.kyc !== 'approved') {
    return fail(ctx, job, account, `KYC is ${client.kyc}: the product needs it approved`);
  }
  if (isSuspended(ctx, account.serverId)) {
    return retryLater(ctx, job, account, `server ${account.serverId} is suspended`, false);
  }
  const conn = connection(ctx, account.serverId);

  if (account.uncertainSinceMs !== null) {
    const listed = await conn.call('listAccounts', { groupMask: account.group }, account.id, (api) =>
      api.listAccounts(account.group),
    );
    if (!listed.ok) return retryLater(ctx, job, account, `account lookup: ${listed.error.message}`, true);
    const found = listed.value.find((a) => a.externalId === account.id);
    if (found !== undefined) return recordOpened(ctx, job, account, found, 'found on the server');
    const provenAtMs = account.uncertainSinceMs + config.posting.historyLagToleranceMs;
    if (clock.nowMs() < provenAtMs) {
      await store.transaction((tx) =>
        rescheduleJob(tx, job, provenAtMs, clock.nowMs(), 'create unknown: waiting before looking again', false),
      );
      return;
    }
  }

  const sentMs = clock.nowMs();
  const mine = await store.transaction(async (tx) => {
    if (!(await holdsLease(tx, job.id, owner, sentMs))) return false;
    const current = (await tx.get('accounts', account.id)) as AccountRow;
    if (current.state !== 'pending' || current.uncertainSinceMs !== account.uncertainSinceMs) return false;
    await tx.update('accounts', account.id, {
      uncertainSinceMs: sentMs,
      attempts: current.attempts + 1,
      updatedMs: sentMs,
    });
    return true;
  });
  if (!mine) return;
  const request = {
    group: account.group,
    name: client.name,
    email: client.email,
    country: client.country,
    externalId: account.id,
    comment: account.productId,
    ...(account.leverage === null ? {} : { leverage: account.leverage }),
    enabled: true,
  };
  const created = await conn.call('createAccount', request, account.id, (api) =>
    api.createAccount({ ...request, password: newPassword(ctx), investorPassword: newPassword(ctx) }),
  );
  const after = { ...account, uncertainSinceMs: sentMs };
  if (created.ok) {
    return recordOpened(ctx, job, after, { login: created.value.login, group: account.group } as Account, 'created');
  }
  const error = created.error;
  if (error.outcome === 'unknown') return retryLater(ctx, job, after, `create unknown: ${error.message}`, true);
  const cleared = { ...after, uncertainSinceMs: null };
  if (error.outcome === 'unavailable')
    return retryLater(ctx, job, cleared, `create unavailable: ${error.message}`, true);
  return fail(ctx, job, cleared, `the server refused it: ${error.message}`);
}

async function recordOpened(
  ctx: ServiceContext,
  job: JobRow,
  account: AccountRow,
  found: Pick<Account, 'login' | 'group'>,
  how: string,
): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  await ctx.store.transaction(async (tx) => {
    const current = (await tx.get('accounts', account.id)) as AccountRow;
    if (current.state === 'pending') {
      await tx.update('accounts', account.id, {
        state: 'open',
        login: found.login,
        uncertainSinceMs: null,
        lastError: null,
        updatedMs: nowMs,
        openedMs: nowMs,
      });
    }
    await finishJob(tx, job.id, nowMs);
  });
  if (found.group !== account.group) {
    ctx.log({
      level: 'warn',
      msg: `account found in group ${found.group}, expected ${account.group}`,
      accountId: account.id,
    });
  }
  ctx.log({
    level: 'info',
    msg: `account ${how}`,
    accountId: account.id,
    serverId: account.serverId,
    login: found.login,
  });
}

async function fail(ctx: ServiceContext, job: JobRow, account: AccountRow, reason: string): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  await ctx.store.transaction(async (tx) => {
    await tx.update('accounts', account.id, {
      state: 'failed',
      uncertainSinceMs: null,
      lastError: reason,
      updatedMs: nowMs,
    });
    await raiseAlert(
      tx,
      nowMs,
      {
        key: `account_failed:${account.id}`,
        kind: 'account_failed',
        severity: 'warning',
        subject: account.id,
        message: `account ${account.id} (${account.productId} on ${account.serverId}) could not be opened: ${reason}`,
        details: { clientId: account.clientId, serverId: account.serverId, group: account.group },
      },
      ctx.redact,
    );
    await finishJob(tx, job.id, nowMs);
  });
}

async function retryLater(
  ctx: ServiceContext,
  job: JobRow,
  account: AccountRow,
  error: string,
  counted: boolean,
): Promise<void> {
  const nowMs = ctx.clock.nowMs();
  const delayMs = counted ? backoffMs(ctx.config.retry, job.attempts + 1, ctx.random) : ctx.config.posting.idlePollMs;
  await ctx.store.transaction(async (tx) => {
    await tx.update('accounts', account.id, {
      uncertainSinceMs: account.uncertainSinceMs,
      lastError: error,
      updatedMs: nowMs,
    });
    await rescheduleJob(tx, job, nowMs + delayMs, nowMs, error, counted);
  });
}
