import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContractIntegration,
  ContractViolation,
  IntegrationRefused,
  IntegrationUnreachable,
} from '../../../scenarios/wire/contract.ts';
import type { WireTransfer } from '../../../scenarios/wire/integration.ts';
import type { SimWorld } from '../../../scenarios/world.ts';
import { buildApi } from '../../../service/api/app.ts';
import { ApiKeys } from '../../../service/api/auth.ts';
import { contractState, harnessProductFor } from '../../../service/api/harness-contract.ts';
import type { TransferState } from '../../../service/index.ts';
import { startedWorld } from '../helpers.ts';

/**
 * The black-box harness contract as our own service serves it (/harness/v1): driven through the harness's
 * own client (ContractIntegration, over a loopback socket) so that every answer is also checked against the
 * contract's schemas, on the in-process simulated cluster in virtual time.
 */

const GLOBAL = 'mt5-live-global';
const EU = 'mt4-live-eu';

interface ContractWorld {
  world: SimWorld;
  app: FastifyInstance;
  key: string;
  integration: ContractIntegration;
  /** Kills the service and starts it again on the same store, with a new app on a new port. */
  restart: () => Promise<void>;
}

let current: ContractWorld | null = null;
afterEach(async () => {
  await current?.app.close();
  current = null;
});

async function contractWorld(options: { harnessContract?: boolean } = {}): Promise<ContractWorld> {
  const world = startedWorld();
  const clock = world.scheduler.clock;
  const { key } = await new ApiKeys({ store: world.store, clock }).create('harness');
  const serve = async () => {
    const app = buildApi({
      service: world.service,
      store: world.store,
      clock,
      secrets: () => undefined,
      harnessContract: options.harnessContract ?? true,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return {
      app,
      integration: new ContractIntegration({ baseUrl: `http://127.0.0.1:${port}/harness/v1`, token: key }),
    };
  };
  const state: ContractWorld = {
    world,
    key,
    ...(await serve()),
    restart: async () => {
      await state.app.close();
      world.crash();
      world.start();
      Object.assign(state, await serve());
    },
  };
  current = state;
  return state;
}

const client = (clientRef: string, country = 'US') => ({
  clientRef,
  name: 'Ann Lee',
  email: 'ann@example.com',
  country,
});

async function openedAccount(cw: ContractWorld, clientRef: string, country = 'US') {
  const { accountRef } = await cw.integration.openAccount(client(clientRef, country));
  const opened = await cw.world.until(async () => (await cw.integration.account(accountRef)).state === 'open', 600_000);
  if (!opened) throw new Error(`account ${accountRef} did not open`);
  return cw.integration.account(accountRef);
}

async function settled(cw: ContractWorld, reference: string): Promise<WireTransfer> {
  let last: WireTransfer | null = null;
  const ok = await cw.world.until(async () => {
    last = await cw.integration.transfer(reference);
    return last !== null && last.state !== 'pending';
  }, 3_600_000);
  if (!ok || last === null) throw new Error(`transfer ${reference} did not settle`);
  return last;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('the harness contract served by the service (/harness/v1)', () => {
  it('opens one account per clientRef, however often asked, also after a restart, on the routed server', async () => {
    const cw = await contractWorld();
    await cw.integration.health();
    const first = await cw.integration.openAccount(client('crm-1'));
    expect(first).toMatchObject({ state: 'pending', serverId: GLOBAL, login: null });
    expect(await cw.integration.openAccount(client('crm-1'))).toEqual(first);
    await cw.restart();
    expect((await cw.integration.openAccount(client('crm-1'))).accountRef).toBe(first.accountRef);

    const account = await openedAccount(cw, 'crm-1');
    expect(account).toMatchObject({ accountRef: first.accountRef, state: 'open', serverId: GLOBAL });
    expect(cw.world.cluster.server(GLOBAL).accounts.has(account.login as number)).toBe(true);
    // Asked again once open: the same account, as it is now.
    expect(await cw.integration.openAccount(client('crm-1'))).toEqual(account);
    const rows = await cw.world.store.transaction(async (tx) => ({
      clients: await tx.select('clients', {}),
      accounts: await tx.select('accounts', {}),
    }));
    expect(rows.clients.map((c) => [c.externalId, c.kyc])).toEqual([['crm-1', 'approved']]);
    expect(rows.accounts.map((a) => [a.id, a.productId])).toEqual([[first.accountRef, 'global-standard']]);
  });

  it('routes an EU client to the EU server, or opens the product named in productId', async () => {
    const cw = await contractWorld();
    expect(await cw.integration.openAccount(client('crm-eu', 'DE'))).toMatchObject({ serverId: EU });
    const pro = await cw.app.inject({
      method: 'POST',
      url: '/harness/v1/accounts',
      headers: { authorization: `Bearer ${cw.key}` },
      payload: { ...client('crm-pro'), productId: 'pro' },
    });
    expect(pro.statusCode).toBe(202);
    const id = JSON.parse(pro.body).accountRef as string;
    expect((await cw.world.service.account(id))?.productId).toBe('pro');
    expect(harnessProductFor(cw.world.config, 'DE')?.id).toBe('eu-classic');
    expect(harnessProductFor(cw.world.config, 'US')?.id).toBe('global-standard');
  });

  it('takes a deposit to done with its server ticket; the same reference again is the same transfer', async () => {
    const cw = await contractWorld();
    const account = await openedAccount(cw, 'crm-1');
    const input = { reference: 'H-DEP-1', accountRef: account.accountRef, amountCents: 50_000 };
    const accepted = await cw.integration.deposit(input);
    expect(accepted).toMatchObject({ ...input, kind: 'deposit', state: 'pending', ticket: null });
    expect((await cw.integration.deposit(input)).reference).toBe('H-DEP-1');

    const done = await settled(cw, 'H-DEP-1');
    expect(done.state).toBe('done');
    expect(await cw.integration.deposit(input)).toEqual(done);
    const ops = cw.world.cluster.server(GLOBAL).allBalanceOps(account.login as number);
    expect(ops.map((op) => [op.ticket, op.amountCents])).toEqual([[done.ticket, 50_000]]);
    const transfers = await cw.world.store.transaction((tx) => tx.select('transfers', {}));
    expect(transfers).toHaveLength(1);
  });

  it('takes a withdrawal once per reference, across a restart of the service, and calls it done once debited', async () => {
    const cw = await contractWorld();
    const account = await openedAccount(cw, 'crm-1');
    await cw.integration.deposit({ reference: 'H-DEP-1', accountRef: account.accountRef, amountCents: 100_000 });
    await settled(cw, 'H-DEP-1');

    const input = { reference: 'H-WD-1', accountRef: account.accountRef, amountCents: 30_000 };
    const first = await cw.integration.withdraw(input);
    expect(first).toMatchObject({ ...input, kind: 'withdrawal', state: 'pending' });
    await cw.restart();
    expect(await cw.integration.withdraw(input)).toMatchObject({ reference: 'H-WD-1', kind: 'withdrawal' });
    expect(await cw.integration.transfer('H-WD-1')).toMatchObject({ reference: 'H-WD-1', kind: 'withdrawal' });

    const done = await settled(cw, 'H-WD-1');
    expect(done).toMatchObject({ state: 'done', amountCents: 30_000 });
    expect(await cw.integration.withdraw(input)).toEqual(done);
    const withdrawals = await cw.world.store.transaction((tx) => tx.select('transfers', { kind: 'withdrawal' }));
    expect(withdrawals.map((t) => t.state)).toEqual(['posted']);
    const ops = cw.world.cluster.server(GLOBAL).allBalanceOps(account.login as number);
    expect(ops.filter((op) => op.amountCents < 0).map((op) => [op.ticket, op.amountCents])).toEqual([
      [done.ticket, -30_000],
    ]);
  });

  it('answers 404 for a reference it never heard of (null to the harness)', async () => {
    const cw = await contractWorld();
    expect(await cw.integration.transfer('H-NEVER')).toBeNull();
    const raw = await cw.app.inject({
      method: 'GET',
      url: '/harness/v1/transfers/H-NEVER',
      headers: { authorization: `Bearer ${cw.key}` },
    });
    expect(raw.statusCode).toBe(404);
    expect(JSON.parse(raw.body)).toMatchObject({ error: { code: 'MTP_UNKNOWN_TRANSFER' } });
  });

  it('moves money once when a deposit and a withdrawal race with one reference', async () => {
    const cw = await contractWorld();
    const account = await openedAccount(cw, 'crm-race');
    await cw.integration.deposit({ reference: 'H-FUND', accountRef: account.accountRef, amountCents: 50_000 });
    await settled(cw, 'H-FUND');
    const post = (url: string, payload: Record<string, unknown>) =>
      cw.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${cw.key}` }, payload });
    const race = { reference: 'H-RACE', accountRef: account.accountRef, amountCents: 2_000 };
    const answers = await Promise.all([post('/harness/v1/deposits', race), post('/harness/v1/withdrawals', race)]);
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses.filter((status) => status === 409)).toHaveLength(1);
    const transfers = await cw.world.store.transaction((tx) =>
      tx.select('transfers', { accountId: account.accountRef }),
    );
    expect(transfers.filter((t) => t.amountCents === 2_000)).toHaveLength(1);
  });

  it('refuses (409) a reference sent again with another amount, or used for the other kind', async () => {
    const cw = await contractWorld();
    const account = await openedAccount(cw, 'crm-1');
    const deposit = { reference: 'H-1', accountRef: account.accountRef, amountCents: 50_000 };
    await cw.integration.deposit(deposit);
    await settled(cw, 'H-1');
    const post = (url: string, payload: Record<string, unknown>) =>
      cw.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${cw.key}` }, payload });
    const otherAmount = await post('/harness/v1/deposits', { ...deposit, amountCents: 60_000 });
    expect([otherAmount.statusCode, JSON.parse(otherAmount.body).error.code]).toEqual([
      409,
      'MTP_IDEMPOTENCY_CONFLICT',
    ]);
    const otherKind = await post('/harness/v1/withdrawals', { ...deposit, amountCents: 1_000 });
    expect([otherKind.statusCode, JSON.parse(otherKind.body).error.code]).toEqual([409, 'MTP_IDEMPOTENCY_CONFLICT']);

    await cw.integration.withdraw({ reference: 'H-2', accountRef: account.accountRef, amountCents: 1_000 });
    const withdrawalAgain = await post('/harness/v1/withdrawals', {
      reference: 'H-2',
      accountRef: account.accountRef,
      amountCents: 2_000,
    });
    expect([withdrawalAgain.statusCode, JSON.parse(withdrawalAgain.body).error.code]).toEqual([
      409,
      'MTP_IDEMPOTENCY_CONFLICT',
    ]);
    const depositNamedLikeWithdrawal = await post('/harness/v1/deposits', { ...deposit, reference: 'H-2' });
    expect(depositNamedLikeWithdrawal.statusCode).toBe(409);
    // Through the harness's client, a 409 to a faithful retry is a contract violation.
    expect(await rejection(cw.integration.deposit({ ...deposit, amountCents: 60_000 }))).toBeInstanceOf(
      ContractViolation,
    );
  });

  it("refuses (422) a deposit to an account not open yet: the harness's IntegrationRefused, nothing stored", async () => {
    const cw = await contractWorld();
    const pending = await cw.integration.openAccount(client('crm-1'));
    const error = (await rejection(
      cw.integration.deposit({ reference: 'H-EARLY', accountRef: pending.accountRef, amountCents: 50_000 }),
    )) as IntegrationRefused;
    expect(error).toBeInstanceOf(IntegrationRefused);
    expect(error.refusal).toBe('MTP_ACCOUNT_NOT_OPEN');
    expect(await cw.integration.transfer('H-EARLY')).toBeNull();
  });

  it("reports a planted dealer edit on an integration's account, and nothing else", async () => {
    const cw = await contractWorld();
    const account = await openedAccount(cw, 'crm-1');
    // The harness plays the payment provider: its deposits are in the provider's records too.
    cw.world.psp.confirmDeposit({ amountCents: 50_000, currency: 'USD', pspRef: 'H-DEP-1' });
    await cw.integration.deposit({ reference: 'H-DEP-1', accountRef: account.accountRef, amountCents: 50_000 });
    await settled(cw, 'H-DEP-1');
    expect(await cw.integration.reconcile()).toEqual({ findings: [] });

    cw.world.cluster.dealer(GLOBAL).balanceCorrection(account.login as number, -2_500, 'desk adj');
    const edit = cw.world.cluster
      .server(GLOBAL)
      .allBalanceOps(account.login as number)
      .find((op) => op.comment === 'desk adj');
    await cw.world.runFor(700_000);
    expect(await cw.integration.reconcile()).toEqual({
      findings: [{ serverId: GLOBAL, login: account.login, kind: 'unknown_operation', ticket: edit?.ticket }],
    });
  });

  it('answers 503 (unreachable to the harness) while a server cannot be read for a reconciliation', async () => {
    const cw = await contractWorld();
    await openedAccount(cw, 'crm-1');
    cw.world.cluster.restart(GLOBAL, 3_600_000);
    const error = (await rejection(cw.integration.reconcile())) as IntegrationUnreachable;
    expect(error).toBeInstanceOf(IntegrationUnreachable);
    expect(error.status).toBe(503);
    expect(error.received).toContain('MTP_RECONCILIATION_PARTIAL');
  });

  it('needs the API key, and is not served without the harnessContract option', async () => {
    const cw = await contractWorld();
    const anonymous = await cw.app.inject({ method: 'GET', url: '/harness/v1/health' });
    expect(anonymous.statusCode).toBe(401);
    const wrongToken = new ContractIntegration({ baseUrl: cw.integration.baseUrl, token: 'mtp_wrong' });
    expect(((await rejection(wrongToken.health())) as ContractViolation).message).toMatch(/credentials/);
    await cw.app.close();
    current = null;

    const off = await contractWorld({ harnessContract: false });
    const health = await off.app.inject({
      method: 'GET',
      url: '/harness/v1/health',
      headers: { authorization: `Bearer ${off.key}` },
    });
    expect(health.statusCode).toBe(404);
    expect(((await rejection(off.integration.health())) as ContractViolation).message).toMatch(/no harness contract/);
  });

  it('documents its routes in the OpenAPI document', async () => {
    const cw = await contractWorld();
    const doc = JSON.parse((await cw.app.inject({ method: 'GET', url: '/docs/json' })).body) as {
      paths: Record<string, unknown>;
    };
    expect(
      Object.keys(doc.paths)
        .filter((p) => p.startsWith('/harness/v1'))
        .sort(),
    ).toEqual([
      '/harness/v1/accounts',
      '/harness/v1/accounts/{accountRef}',
      '/harness/v1/deposits',
      '/harness/v1/health',
      '/harness/v1/reconcile',
      '/harness/v1/transfers/{reference}',
      '/harness/v1/withdrawals',
    ]);
  });
});

describe('contractState', () => {
  it("maps every transfer state onto the contract's three", () => {
    const states: TransferState[] = [
      'accepted',
      'hold',
      'posting',
      'posted',
      'done',
      'refunding',
      'refunded',
      'review',
      'rejected',
      'failed',
    ];
    const map = (kind: 'deposit' | 'withdrawal') =>
      Object.fromEntries(states.map((state) => [state, contractState({ state, kind })]));
    expect(map('withdrawal')).toEqual({
      accepted: 'pending',
      hold: 'pending',
      posting: 'pending',
      posted: 'done',
      done: 'done',
      refunding: 'pending',
      refunded: 'failed',
      review: 'pending',
      rejected: 'failed',
      failed: 'failed',
    });
    expect(map('deposit').posted).toBe('pending');
  });
});
