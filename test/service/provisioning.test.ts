import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../scenarios/world.ts';
import type { AccountRow, ClientRow } from '../../service/index.ts';
import type { SimAccount } from '../../simulator/index.ts';
import { brokerConfig, must, startedWorld } from './helpers.ts';

/**
 * Opening trading accounts: KYC gating, routing (country → server, product → group), accounts opened on
 * the simulated server exactly once whatever the server does (down, answer lost), suspended servers and
 * their fallback, and coded refusals of bad input.
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';
const DEMO = 'mt4-demo';

async function register(world: SimWorld, country: string, kyc: ClientRow['kyc'] = 'approved'): Promise<ClientRow> {
  const client = must(await world.service.registerClient({ name: 'Anna Schmidt', email: 'anna@example.com', country }));
  if (kyc === 'none') return client;
  return must(await world.service.setKyc(client.id, kyc));
}

async function accept(world: SimWorld, clientId: string, productId: string): Promise<AccountRow> {
  return must(await world.service.openAccount({ clientId, productId }));
}

async function whenOpen(world: SimWorld, id: string, maxMs = 120_000): Promise<AccountRow> {
  const open = await world.until(async () => (await world.service.account(id))?.state === 'open', maxMs);
  const account = (await world.service.account(id)) as AccountRow;
  if (!open) throw new Error(`account ${id} is ${account.state} (${account.lastError})`);
  return account;
}

/** The accounts a simulated server holds for one of the service's account ids. */
function onServer(world: SimWorld, serverId: string, externalId: string): SimAccount[] {
  return [...world.cluster.server(serverId).accounts.values()].filter((a) => a.externalId === externalId);
}

/**
 * The account failed for good: no login, `errorPart` in its lastError, nothing on its server, and one
 * account_failed alert, for it.
 */
async function expectAccountFailed(world: SimWorld, id: string, errorPart: string): Promise<void> {
  const account = await world.service.account(id);
  expect(account).toMatchObject({ state: 'failed', login: null });
  expect(account?.lastError).toContain(errorPart);
  expect(onServer(world, account?.serverId as string, id)).toHaveLength(0);
  const alerts = (await world.service.alerts()).filter((a) => a.kind === 'account_failed');
  expect(alerts.map((a) => a.subject)).toEqual([id]);
}

async function accountRows(world: SimWorld): Promise<AccountRow[]> {
  return world.store.transaction((tx) => tx.select('accounts', {}, { orderBy: 'id' }));
}

describe('KYC gating', () => {
  it('refuses a live product before KYC approval, and opens it once approved', async () => {
    const world = startedWorld({ seed: 'kyc-live' });
    const client = await register(world, 'DE', 'none');
    for (const state of ['none', 'pending', 'rejected'] as const) {
      await world.service.setKyc(client.id, state);
      const refused = await world.service.openAccount({ clientId: client.id, productId: 'eu-classic' });
      expect(refused.ok).toBe(false);
      if (!refused.ok) {
        expect(refused.error.code).toBe('MTP_KYC_REQUIRED');
        expect(refused.error.message).toContain(state);
      }
    }
    expect(await accountRows(world)).toHaveLength(0);
    expect(await world.store.transaction((tx) => tx.count('jobs', { kind: 'open-account' }))).toBe(0);

    await world.service.setKyc(client.id, 'approved');
    const account = await whenOpen(world, (await accept(world, client.id, 'eu-classic')).id);
    expect(account.state).toBe('open');
  });

  it('opens a demo account before KYC with the default config (demoBeforeKyc)', async () => {
    const world = startedWorld({ seed: 'kyc-demo' });
    const client = await register(world, 'DE', 'none');
    const accepted = await accept(world, client.id, 'demo-standard');
    expect(accepted).toMatchObject({ serverId: DEMO, group: 'demo-std-usd', kind: 'demo', state: 'pending' });
    const account = await whenOpen(world, accepted.id);
    const [onDemo] = onServer(world, DEMO, account.id);
    expect(onDemo).toMatchObject({ login: account.login, group: 'demo-std-usd' });
    expect(account.login).toBeGreaterThanOrEqual(900_000);
    expect(account.login).toBeLessThanOrEqual(999_999);
  });

  it('refuses a demo account before KYC when demoBeforeKyc is false', async () => {
    const world = startedWorld({
      seed: 'kyc-demo-off',
      broker: brokerConfig((c) => {
        c.kyc = { ...c.kyc, demoBeforeKyc: false };
      }),
    });
    const client = await register(world, 'DE', 'pending');
    const refused = await world.service.openAccount({ clientId: client.id, productId: 'demo-standard' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe('MTP_KYC_REQUIRED');
    await world.service.setKyc(client.id, 'approved');
    expect((await world.service.openAccount({ clientId: client.id, productId: 'demo-standard' })).ok).toBe(true);
  });

  it('records the account a lost answer created even if KYC is withdrawn before the next attempt', async () => {
    const world = startedWorld({ seed: 'kyc-after-create' });
    await world.runFor(1_000);
    const client = await register(world, 'DE');
    world.cluster.inject(EU, 'timeoutAfterApply');
    const accepted = await accept(world, client.id, 'eu-classic');
    // The create was applied while KYC was approved; its answer is lost; then KYC is withdrawn.
    await world.runFor(world.config.servers[0]?.timeoutMs as number);
    expect(onServer(world, EU, accepted.id)).toHaveLength(1);
    await world.service.setKyc(client.id, 'rejected');

    // The account is on the server: the service records it rather than orphaning it as failed.
    const account = await whenOpen(world, accepted.id, 600_000);
    expect(account.login).toBe(onServer(world, EU, accepted.id)[0]?.login);
    expect((await world.service.alerts()).filter((a) => a.kind === 'account_failed')).toEqual([]);
    // Nothing more moves for the client until KYC is approved again.
    const refused = await world.service.deposit({ accountId: account.id, amountCents: 100_00, currency: 'USD' });
    expect(refused.ok ? null : refused.error.code).toBe('MTP_KYC_REQUIRED');
  });

  it('fails an accepted account whose client lost KYC approval before it was created', async () => {
    const world = startedWorld({ seed: 'kyc-revoked' });
    const client = await register(world, 'DE');
    world.service.setSuspended(EU, true);
    const accepted = await accept(world, client.id, 'eu-classic');
    await world.service.setKyc(client.id, 'rejected');
    world.service.setSuspended(EU, false);
    await world.runFor(30_000);
    expect(accepted.serverId).toBe(EU);
    await expectAccountFailed(world, accepted.id, 'KYC');
  });
});

describe('routing', () => {
  it("opens a DE client's eu-classic account on mt4-live-eu in group eu-std-usd", async () => {
    const world = startedWorld({ seed: 'route-eu' });
    const client = await register(world, 'DE');
    const accepted = await accept(world, client.id, 'eu-classic');
    expect(accepted).toMatchObject({ serverId: EU, group: 'eu-std-usd', leverage: 30, currency: 'USD' });
    const account = await whenOpen(world, accepted.id);

    expect(account.login).toBeGreaterThanOrEqual(100_000);
    expect(account.login).toBeLessThanOrEqual(199_999);
    const server = world.cluster.server(EU);
    const held = server.accounts.get(account.login as number);
    expect(held).toMatchObject({
      group: 'eu-std-usd',
      externalId: account.id,
      country: 'DE',
      email: 'anna@example.com',
      leverage: 30,
      enabled: true,
    });
    expect(onServer(world, GLOBAL, account.id)).toHaveLength(0);
  });

  it("opens a US client's global-standard account on mt5-live-global in real\\standard-usd", async () => {
    const world = startedWorld({ seed: 'route-global' });
    const client = await register(world, 'US');
    const accepted = await accept(world, client.id, 'global-standard');
    expect(accepted).toMatchObject({ serverId: GLOBAL, group: 'real\\standard-usd' });
    const account = await whenOpen(world, accepted.id);

    expect(account.login).toBeGreaterThanOrEqual(5_000_000);
    expect(account.login).toBeLessThanOrEqual(5_999_999);
    const held = world.cluster.server(GLOBAL).accounts.get(account.login as number);
    expect(held).toMatchObject({ group: 'real\\standard-usd', externalId: account.id, country: 'US', leverage: 500 });
    expect(onServer(world, EU, account.id)).toHaveLength(0);
  });

  it('refuses global-standard for an EU client: MTP_NO_ROUTE (never another jurisdiction)', async () => {
    const world = startedWorld({ seed: 'route-none' });
    const client = await register(world, 'FR');
    const refused = await world.service.openAccount({ clientId: client.id, productId: 'global-standard' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe('MTP_NO_ROUTE');
      expect(refused.error.message).toContain('global-standard');
      expect(refused.error.message).toContain(EU);
    }
    expect(await accountRows(world)).toHaveLength(0);
    // The same product for a client outside the EU is routed.
    const us = await register(world, 'US');
    expect((await world.service.openAccount({ clientId: us.id, productId: 'global-standard' })).ok).toBe(true);
  });

  it('routes a product offered on both servers to the fallback while the EU server is suspended', async () => {
    const world = startedWorld({ seed: 'route-fallback' });
    const client = await register(world, 'IT');
    expect(world.service.setSuspended(EU, true)).toEqual({ ok: true, value: { serverId: EU, suspended: true } });
    const accepted = await accept(world, client.id, 'pro');
    expect(accepted).toMatchObject({ serverId: GLOBAL, group: 'real\\pro-usd' });
    const account = await whenOpen(world, accepted.id);
    expect(world.cluster.server(GLOBAL).accounts.get(account.login as number)?.group).toBe('real\\pro-usd');
    expect(onServer(world, EU, account.id)).toHaveLength(0);

    // Back in routing: the same product goes to the EU server again.
    world.service.setSuspended(EU, false);
    const again = await accept(world, client.id, 'pro');
    expect(again).toMatchObject({ serverId: EU, group: 'eu-pro-usd' });
  });

  it('keeps an account waiting, pending, on a suspended server with no fallback for its product', async () => {
    const world = startedWorld({ seed: 'route-suspended' });
    const client = await register(world, 'DE');
    world.service.setSuspended(EU, true);
    const accepted = await accept(world, client.id, 'eu-classic');
    expect(accepted.serverId).toBe(EU);
    await world.runFor(60_000);
    const waiting = await world.service.account(accepted.id);
    expect(waiting).toMatchObject({ state: 'pending', attempts: 0 });
    expect(waiting?.lastError).toContain('suspended');
    expect(onServer(world, EU, accepted.id)).toHaveLength(0);

    world.service.setSuspended(EU, false);
    const account = await whenOpen(world, accepted.id);
    expect(onServer(world, EU, account.id)).toHaveLength(1);
  });

  it('refuses to suspend a server that is not configured', async () => {
    const world = startedWorld({ seed: 'route-unknown-server' });
    const refused = world.service.setSuspended('mt9-nowhere', true);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe('MTP_BAD_REQUEST');
      expect(refused.error.issues.map((i) => i.path)).toEqual(['serverId']);
    }
  });
});

describe('creating the account on its server', () => {
  it('leaves the account pending with lastError while its server is down, then opens it exactly once', async () => {
    const world = startedWorld({ seed: 'create-down' });
    await world.runFor(1_000);
    const client = await register(world, 'DE');
    world.cluster.restart(EU, 600_000);
    const accepted = await accept(world, client.id, 'eu-classic');

    await world.runFor(300_000);
    const waiting = await world.service.account(accepted.id);
    expect(waiting).toMatchObject({ state: 'pending', login: null });
    expect(waiting?.lastError).toEqual(expect.any(String));
    expect(waiting?.lastError).toContain(EU);
    expect(onServer(world, EU, accepted.id)).toHaveLength(0);

    const account = await whenOpen(world, accepted.id, 900_000);
    expect(account.lastError).toBeNull();
    const held = onServer(world, EU, account.id);
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ login: account.login, group: 'eu-std-usd' });
    // Nothing more is created later.
    await world.runFor(600_000);
    expect(onServer(world, EU, account.id)).toHaveLength(1);
    expect(world.cluster.server(EU).accounts.size).toBe(1);
  });

  it('looks the account up by its external id after a lost answer instead of creating a second one', async () => {
    const world = startedWorld({ seed: 'create-unknown' });
    await world.runFor(1_000);
    const client = await register(world, 'DE');
    world.cluster.inject(EU, 'timeoutAfterApply');
    const accepted = await accept(world, client.id, 'eu-classic');

    // The create was applied; its answer is lost after the timeout.
    await world.runFor(world.config.servers[0]?.timeoutMs as number);
    expect(onServer(world, EU, accepted.id)).toHaveLength(1);
    const uncertain = await world.service.account(accepted.id);
    expect(uncertain).toMatchObject({ state: 'pending', attempts: 1 });
    expect(uncertain?.uncertainSinceMs).not.toBeNull();

    const account = await whenOpen(world, accepted.id, 600_000);
    const held = onServer(world, EU, account.id);
    expect(held).toHaveLength(1);
    expect(account.login).toBe(held[0]?.login);
    expect(account.attempts).toBe(1);
    const audit = await world.store.transaction((tx) =>
      tx.select('audit', { subject: accepted.id }, { orderBy: 'id' }),
    );
    expect(audit.map((r) => [r.op, r.outcome])).toEqual([
      ['createAccount', 'unknown'],
      ['listAccounts', 'ok'],
    ]);
    await world.runFor(600_000);
    expect(world.cluster.server(EU).accounts.size).toBe(1);
  });

  it('fails the account with an alert when the server refuses the create', async () => {
    const world = startedWorld({ seed: 'create-refused' });
    await world.runFor(1_000);
    const client = await register(world, 'DE');
    world.cluster.inject(EU, 'permissionDenied');
    const accepted = await accept(world, client.id, 'eu-classic');
    await world.runFor(5_000);
    expect(accepted.serverId).toBe(EU);
    await expectAccountFailed(world, accepted.id, 'refused');
  });
});

describe('bad input', () => {
  it('refuses a malformed open-account command with MTP_BAD_REQUEST naming each field', async () => {
    const world = startedWorld({ seed: 'bad-open' });
    const missing = await world.service.openAccount({ clientId: 'C0000000001' } as never);
    expect(missing.ok).toBe(false);
    if (!missing.ok) {
      expect(missing.error.code).toBe('MTP_BAD_REQUEST');
      expect(missing.error.issues.map((i) => i.path)).toEqual(['productId']);
    }
    const empty = await world.service.openAccount({ clientId: '', productId: '' });
    expect(empty.ok).toBe(false);
    if (!empty.ok) {
      expect(empty.error.code).toBe('MTP_BAD_REQUEST');
      expect(empty.error.issues.map((i) => i.path).sort()).toEqual(['clientId', 'productId']);
    }
    const extra = await world.service.openAccount({ clientId: 'C1', productId: 'pro', group: 'vip' } as never);
    expect(extra.ok).toBe(false);
    if (!extra.ok) {
      expect(extra.error.code).toBe('MTP_BAD_REQUEST');
      expect(extra.error.issues).toEqual([{ path: 'group', message: 'unknown field' }]);
    }
    expect(await accountRows(world)).toHaveLength(0);
  });

  it('refuses an unknown product with MTP_UNKNOWN_PRODUCT naming productId', async () => {
    const world = startedWorld({ seed: 'bad-product' });
    const client = await register(world, 'DE');
    const refused = await world.service.openAccount({ clientId: client.id, productId: 'platinum' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe('MTP_UNKNOWN_PRODUCT');
      expect(refused.error.issues.map((i) => i.path)).toEqual(['productId']);
      expect(refused.error.message).toContain('platinum');
    }
  });

  it('refuses an unknown client with MTP_UNKNOWN_CLIENT naming the id', async () => {
    const world = startedWorld({ seed: 'bad-client' });
    const refused = await world.service.openAccount({ clientId: 'C9999999999', productId: 'eu-classic' });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe('MTP_UNKNOWN_CLIENT');
      expect(refused.error.message).toContain('C9999999999');
    }
    expect(await accountRows(world)).toHaveLength(0);
  });

  it('refuses a malformed client registration and KYC decision naming the fields', async () => {
    const world = startedWorld({ seed: 'bad-client-input' });
    const registered = await world.service.registerClient({ name: ' ', email: 'not-an-email', country: 'Germany' });
    expect(registered.ok).toBe(false);
    if (!registered.ok) {
      expect(registered.error.code).toBe('MTP_BAD_REQUEST');
      expect(registered.error.issues.map((i) => i.path).sort()).toEqual(['country', 'email', 'name']);
    }
    const client = await register(world, 'DE', 'none');
    const kyc = await world.service.setKyc(client.id, 'maybe' as never);
    expect(kyc.ok).toBe(false);
    if (!kyc.ok) {
      expect(kyc.error.code).toBe('MTP_BAD_REQUEST');
      expect(kyc.error.issues.map((i) => i.path)).toEqual(['state']);
    }
    const unknown = await world.service.setKyc('C0000000404', 'approved');
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.code).toBe('MTP_UNKNOWN_CLIENT');
  });
});
