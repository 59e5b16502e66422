import { raiseAlert } from './alerts.ts';
import { connection, isSuspended, type ServiceContext } from './context.ts';
import { enqueueCrmSync } from './crm/sync.ts';
import { needsKyc } from './domain/routing.ts';
import { type Attempt, finishJob, retryLater, underLease, waitOutLag } from './jobs.ts';
import type { Tx } from './store/port.ts';
import type { AccountRow } from './store/schema.ts';

/**
 * Opening a trading account on its server, with the same discipline as posting money: the account row
 * (with its server and group, decided at acceptance) is committed first; a send that may have been
 * applied is looked up (by the account id, stored as the MetaTrader account's external id) before any new
 * create, under the same history-lag rule; a server that is down or suspended leaves the account
 * `pending` and the job retries. The KYC policy is checked in the commit that allows a create, so a
 * decision committed before it wins, and a create that may already have landed is looked for first
 * whatever the client's KYC says now: an account on the server is recorded, never orphaned.
 */

export async function workOpenAccount(attempt: Attempt<ServiceContext>): Promise<void> {
  const { ctx, job } = attempt;
  const { store, config } = ctx;
  const { account, client } = await store.transaction(async (tx) => {
    const row = await tx.get('accounts', job.subject);
    return { account: row, client: row === undefined ? undefined : await tx.get('clients', row.clientId) };
  });
  if (account === undefined || client === undefined) throw new Error(`job ${job.id}: no account ${job.subject}`);
  if (account.state !== 'pending') {
    await underLease(attempt, (tx, nowMs) => finishJob(tx, attempt, nowMs));
    return;
  }
  const product = config.products.find((p) => p.id === account.productId);
  if (product === undefined) return fail(attempt, account, `product ${account.productId} is no longer configured`);
  if (isSuspended(ctx, account.serverId))
    return retry(attempt, account, `server ${account.serverId} is suspended`, false);
  const conn = connection(ctx, account.serverId);

  if (account.uncertainSinceMs !== null) {
    const listed = await conn.call('listAccounts', { groupMask: account.group }, account.id, (api) =>
      api.listAccounts(account.group),
    );
    if (!listed.ok) return retry(attempt, account, `account lookup: ${listed.error.message}`, true);
    const found = listed.value.find((a) => a.externalId === account.id);
    if (found !== undefined) return recordOpened(attempt, account, found.login, 'found on the server');
    if ((await waitOutLag(attempt, account.uncertainSinceMs)) === 'waiting') return;
  }

  const sentMs = ctx.clock.nowMs();
  const mine = await underLease(attempt, async (tx) => {
    if (!(await unchanged(tx, account))) return false;
    const kyc = (await tx.get('clients', account.clientId))?.kyc ?? 'none';
    if (needsKyc(config, product) && kyc !== 'approved') return { kyc };
    await tx.update('accounts', account.id, {
      uncertainSinceMs: sentMs,
      attempts: account.attempts + 1,
      updatedMs: sentMs,
    });
    return true;
  });
  if (typeof mine === 'object') return fail(attempt, account, `KYC is ${mine.kyc}: the product needs it approved`);
  if (mine !== true) return;
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
    api.createAccount({ ...request, password: ctx.passwords(), investorPassword: ctx.passwords() }),
  );
  const sending: AccountRow = { ...account, attempts: account.attempts + 1, uncertainSinceMs: sentMs };
  if (created.ok) return recordOpened(attempt, sending, created.value.login, 'created');
  const error = created.error;
  if (error.outcome === 'unknown') return retry(attempt, sending, `create unknown: ${error.message}`, true);
  const cleared = { ...sending, uncertainSinceMs: null };
  if (error.outcome === 'unavailable') return retry(attempt, cleared, `create unavailable: ${error.message}`, true);
  return fail(attempt, cleared, `the server refused it: ${error.message}`);
}

/** Whether the account is still what the attempt read: pending, and no one sent a create in between. */
async function unchanged(tx: Tx, account: AccountRow): Promise<boolean> {
  const current = await tx.get('accounts', account.id);
  return current?.state === 'pending' && current.attempts === account.attempts;
}

async function recordOpened(
  attempt: Attempt<ServiceContext>,
  account: AccountRow,
  login: number,
  how: string,
): Promise<void> {
  await underLease(attempt, async (tx, nowMs) => {
    if ((await tx.get('accounts', account.id))?.state === 'pending') {
      await tx.update('accounts', account.id, {
        state: 'open',
        login,
        uncertainSinceMs: null,
        lastError: null,
        updatedMs: nowMs,
        openedMs: nowMs,
      });
      await enqueueCrmSync(tx, attempt.ctx.config, account.id, nowMs);
    }
    await finishJob(tx, attempt, nowMs);
  });
  attempt.ctx.log({ level: 'info', msg: `account ${how}`, accountId: account.id, serverId: account.serverId, login });
}

async function fail(attempt: Attempt<ServiceContext>, account: AccountRow, reason: string): Promise<void> {
  const { ctx } = attempt;
  await underLease(attempt, async (tx, nowMs) => {
    if (!(await unchanged(tx, account))) return finishJob(tx, attempt, nowMs);
    await tx.update('accounts', account.id, {
      state: 'failed',
      uncertainSinceMs: null,
      lastError: reason,
      updatedMs: nowMs,
    });
    await raiseAlert(tx, nowMs, ctx.mask, {
      key: `account_failed:${account.id}`,
      kind: 'account_failed',
      severity: 'warning',
      subject: account.id,
      message: `account ${account.id} (${account.productId} on ${account.serverId}) could not be opened: ${reason}`,
      details: { clientId: account.clientId, serverId: account.serverId, group: account.group },
    });
    await enqueueCrmSync(tx, ctx.config, account.id, nowMs);
    await finishJob(tx, attempt, nowMs);
  });
}

function retry(attempt: Attempt<ServiceContext>, account: AccountRow, error: string, counted: boolean): Promise<void> {
  return retryLater(attempt, error, counted, (tx, nowMs) =>
    tx.update('accounts', account.id, {
      uncertainSinceMs: account.uncertainSinceMs,
      lastError: error,
      updatedMs: nowMs,
    }),
  );
}
