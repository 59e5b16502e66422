import { describe, expect, it } from 'vitest';
import type { SimWorld } from '../../../scenarios/world.ts';
import type { CrmFetch } from '../../../service/crm/http.ts';
import { HubSpotCrm } from '../../../service/crm/hubspot.ts';
import { crmFromConfig } from '../../../service/crm/index.ts';
import { SalesforceCrm } from '../../../service/crm/salesforce.ts';
import type { LogEntry } from '../../../service/log.ts';
import type { AccountRow, ClientRow } from '../../../service/store/schema.ts';
import { balanceOf, brokerConfig, depositSettled, must, startedWorld } from '../helpers.ts';

/**
 * The CRM write-back end to end: the service in a simulated world, the real HubSpot adapter, and a fake
 * HubSpot behind its fetch (contacts in memory, answers scripted by the test) that answers at once, or
 * after some virtual time, so everything runs in the world's virtual time.
 */

const BASE_URL = 'https://api.hubapi.com';
const CONTACT = '9001';

interface Patch {
  contactId: string;
  properties: Record<string, string>;
  status: number;
  /** Virtual time of the request. */
  atMs: number;
  authorization: string | undefined;
}

/** A scripted answer: a status, with a Retry-After and an error message if the test wants them. */
type Scripted = number | { status: number; retryAfter?: string; message?: string };

class FakeHubSpot {
  readonly contacts = new Map<string, Record<string, string>>([[CONTACT, { email: 'anna@example.com' }]]);
  /** Every PATCH, with the status it was answered. */
  readonly patches: Patch[] = [];
  /** Answers to give next, before writing anything; when empty, the contact is updated (200, or 404). */
  readonly script: Scripted[] = [];
  /** The world's virtual time (set by `withCrm`). */
  nowMs: () => number = () => 0;
  /** Answer every request 503 from now on. */
  down = false;
  /** Runs before a PATCH is applied (it may wait, in virtual time, or change the service's state). */
  beforeApply: ((properties: Record<string, string>) => Promise<void>) | null = null;

  readonly fetch: CrmFetch = async (url, init) => {
    const contactId = decodeURIComponent(url.slice(`${BASE_URL}/crm/v3/objects/contacts/`.length));
    const { properties } = JSON.parse(init.body) as { properties: Record<string, string> };
    const seen = { contactId, properties, atMs: this.nowMs(), authorization: init.headers.authorization };
    const next = this.down ? 503 : this.script.shift();
    if (next !== undefined) {
      const scripted = typeof next === 'number' ? { status: next } : next;
      const headers: Record<string, string> =
        scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter };
      return this.#answer(seen, scripted.status, { status: 'error', message: scripted.message }, headers);
    }
    await this.beforeApply?.(properties);
    const contact = this.contacts.get(contactId);
    if (contact === undefined) return this.#answer(seen, 404, { status: 'error', message: 'resource not found' });
    Object.assign(contact, properties);
    return this.#answer(seen, 200, { id: contactId, properties: contact });
  };

  #answer(seen: Omit<Patch, 'status'>, status: number, body: unknown, headers: Record<string, string> = {}): Response {
    this.patches.push({ ...seen, status });
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });
  }

  /** The contact's mtproof properties. */
  written(contactId = CONTACT): Record<string, string> {
    const { email: _email, ...rest } = this.contacts.get(contactId) ?? {};
    return rest;
  }
}

/** The token every test's service holds (from MTPROOF_HUBSPOT_TOKEN, like production). */
const TOKEN = 'pat-na1-5e1f0c1e-7a3b-4b8e-9d2f-0c4a7e9b1d23';
/** The service's secrets: the CRM token, and the simulator's manager password for every server. */
const SECRETS: Readonly<Record<string, string>> = new Proxy(
  {},
  { get: (_, name) => (name === 'MTPROOF_HUBSPOT_TOKEN' ? TOKEN : 'Manager#1') },
);

/** startedWorld builds the service from `ports`; the adapter needs the world's clock, so it is set after. */
function withCrm(hubspot: FakeHubSpot, attempts?: number, logs?: LogEntry[]): SimWorld {
  const broker = brokerConfig((c) => {
    c.crm = { system: 'hubspot', baseUrl: BASE_URL, tokenEnv: 'MTPROOF_HUBSPOT_TOKEN', timeoutMs: 5_000, attempts };
  });
  let world: SimWorld | undefined;
  hubspot.nowMs = () => (world as SimWorld).scheduler.nowMs();
  const crm = new HubSpotCrm({
    baseUrl: BASE_URL,
    token: TOKEN,
    timeoutMs: 5_000,
    // The world's own clock (owned by no process): a timeout would be virtual time too.
    clock: {
      nowMs: () => (world as SimWorld).scheduler.nowMs(),
      sleep: (ms) => (world as SimWorld).scheduler.clock.sleep(ms),
    },
    fetch: hubspot.fetch,
  });
  world = startedWorld({
    broker,
    secrets: SECRETS,
    ports: { crm, ...(logs === undefined ? {} : { log: (entry) => logs.push(entry) }) },
  });
  return world;
}

async function crmJobs(world: SimWorld) {
  return world.store.transaction((tx) => tx.select('jobs', { kind: 'crm-sync' }, { orderBy: 'id' }));
}

/** Runs until no write-back is queued. */
async function untilSynced(world: SimWorld, maxMs = 3_600_000): Promise<void> {
  const synced = await world.until(async () => (await crmJobs(world)).every((j) => j.state === 'done'), maxMs);
  if (!synced) throw new Error('write-backs still queued');
}

/** Registers a client (with the CRM's contact id unless `externalId` is null) and opens an account. */
async function openWithCrm(
  world: SimWorld,
  options: { externalId?: string | null; kyc?: 'approved' | 'pending'; productId?: string } = {},
): Promise<{ client: ClientRow; account: AccountRow }> {
  const externalId = options.externalId === undefined ? CONTACT : options.externalId;
  const client = must(
    await world.service.registerClient({
      name: 'Anna Schmidt',
      email: 'anna@example.com',
      country: 'DE',
      ...(externalId === null ? {} : { externalId }),
    }),
  );
  must(await world.service.setKyc(client.id, options.kyc ?? 'approved'));
  const { id } = must(
    await world.service.openAccount({ clientId: client.id, productId: options.productId ?? 'eu-classic' }),
  );
  const opened = await world.until(async () => (await world.service.account(id))?.state === 'open', 3_600_000);
  if (!opened) throw new Error(`account ${id} did not open`);
  return { client, account: (await world.service.account(id)) as AccountRow };
}

/** What HubSpot should hold for an account, as the service has it now. */
async function expected(world: SimWorld, accountId: string, onboarding: string): Promise<Record<string, string>> {
  const account = (await world.service.account(accountId)) as AccountRow;
  return {
    mtproof_account_id: account.id,
    mtproof_account_status: account.state,
    mtproof_onboarding_state: onboarding,
    mtproof_mt_login: account.login === null ? '' : String(account.login),
    mtproof_mt_server: account.serverId,
    mtproof_mt_group: account.group,
  };
}

function withoutSyncedAt(written: Record<string, string>): Record<string, string> {
  const { mtproof_synced_at: _at, ...rest } = written;
  return rest;
}

describe('CRM write-back', () => {
  it('writes an opened account to the CRM through two 503s, ending with the status the service has', async () => {
    const hubspot = new FakeHubSpot();
    hubspot.script.push(503, 503);
    const world = withCrm(hubspot);
    const { account } = await openWithCrm(world);
    await untilSynced(world);

    expect(hubspot.patches.map((p) => p.status).slice(0, 2)).toEqual([503, 503]);
    expect(hubspot.patches.at(-1)?.status).toBe(200);
    expect(withoutSyncedAt(hubspot.written())).toEqual(await expected(world, account.id, 'account_open'));
    expect(hubspot.written().mtproof_mt_login).toBe(String(account.login));
    // A retry reads the state when it runs: nothing accepted after "open" says "pending".
    const accepted = hubspot.patches.filter((p) => p.status === 200).map((p) => p.properties.mtproof_account_status);
    expect(accepted.slice(accepted.indexOf('open'))).not.toContain('pending');
    expect((await world.service.alerts()).filter((a) => a.kind === 'crm_sync_failed')).toEqual([]);
  });

  it('writes a KYC decision back as the onboarding state of each of the client’s accounts', async () => {
    const hubspot = new FakeHubSpot();
    const world = withCrm(hubspot);
    const { client, account } = await openWithCrm(world);
    await untilSynced(world);
    expect(hubspot.written().mtproof_onboarding_state).toBe('account_open');

    must(await world.service.setKyc(client.id, 'rejected'));
    await untilSynced(world);
    expect(withoutSyncedAt(hubspot.written())).toEqual(await expected(world, account.id, 'kyc_rejected'));
  });

  it('tells the CRM a demo account is waiting for KYC, then that it is open', async () => {
    const hubspot = new FakeHubSpot();
    const world = withCrm(hubspot);
    // The demo server takes its time to create the account: the CRM hears of it while it is pending.
    world.faultOnNext('mt4-demo', 'createAccount', 'latency', { latencyMs: 5_000 });
    await openWithCrm(world, { kyc: 'pending', productId: 'demo-standard' });
    await untilSynced(world);
    const states = hubspot.patches.filter((p) => p.status === 200).map((p) => p.properties.mtproof_onboarding_state);
    expect(states[0]).toBe('kyc_pending');
    expect(states.at(-1)).toBe('account_open');
  });

  it('gives up after crm.attempts with an alert while money posting goes on', async () => {
    const hubspot = new FakeHubSpot();
    hubspot.down = true;
    const world = withCrm(hubspot, 4);
    const { account } = await openWithCrm(world);
    const deposit = await depositSettled(world, {
      accountId: account.id,
      amountCents: 250_00,
      currency: 'USD',
      pspRef: 'PSP-1',
    });
    expect(deposit.state).toBe('done');
    expect(balanceOf(world, account.serverId, account.login as number)).toBe(250_00);

    await untilSynced(world);
    const jobs = await crmJobs(world);
    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'crm_sync_failed');
    expect(jobs.length).toBeGreaterThan(0);
    expect(alerts).toHaveLength(jobs.length);
    for (const alert of alerts) {
      expect(alert.subject).toBe(account.id);
      expect(alert.message).toContain('given up after 4 attempts');
      expect(alert.details).toMatchObject({ system: 'hubspot', crmClientId: CONTACT, code: 'MTP_CRM_UNAVAILABLE' });
    }
    expect(hubspot.patches).toHaveLength(4 * jobs.length);
    expect(hubspot.patches.every((p) => p.status === 503)).toBe(true);
  });

  it('alerts at once, without retrying, when the CRM refuses the write (no such contact)', async () => {
    const hubspot = new FakeHubSpot();
    const world = withCrm(hubspot);
    const { account } = await openWithCrm(world, { externalId: '404404' });
    await untilSynced(world);
    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'crm_sync_failed');
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts[0]?.message).toContain('refused by hubspot: HTTP 404: resource not found');
    expect(alerts[0]?.subject).toBe(account.id);
    // One call per write-back job: a refusal is not retried.
    expect(hubspot.patches).toHaveLength((await crmJobs(world)).length);
  });

  it('writes the newer state again when an older write lands after it', async () => {
    const hubspot = new FakeHubSpot();
    const world = withCrm(hubspot);
    const { client, account } = await openWithCrm(world);
    await untilSynced(world);

    // The next write is slow on the wire: while it travels, the KYC is rejected and that write lands first.
    let slow = true;
    hubspot.beforeApply = async () => {
      if (!slow) return;
      slow = false;
      must(await world.service.setKyc(client.id, 'rejected'));
      await world.scheduler.clock.sleep(3_000);
    };
    must(await world.service.setKyc(client.id, 'pending'));
    await untilSynced(world);

    const applied = hubspot.patches.filter((p) => p.status === 200).map((p) => p.properties.mtproof_onboarding_state);
    // The slow write (written while KYC was pending: the account is open) lands after the rejection...
    expect(applied.slice(-3)).toEqual(['kyc_rejected', 'account_open', 'kyc_rejected']);
    // ...and is overwritten: the CRM ends with what the service has.
    expect(withoutSyncedAt(hubspot.written())).toEqual(await expected(world, account.id, 'kyc_rejected'));
  });

  it("waits at least the CRM's Retry-After before it tries again", async () => {
    const hubspot = new FakeHubSpot();
    // Rate limited for ten minutes: far beyond the service's own first backoff (retry.initialDelayMs, 1 s).
    hubspot.script.push({ status: 429, retryAfter: '600', message: 'You have reached your secondly limit.' });
    const world = withCrm(hubspot);
    const { account } = await openWithCrm(world);
    await untilSynced(world);
    const [limited, next] = hubspot.patches as [Patch, Patch];
    expect(limited.status).toBe(429);
    expect(next.atMs - limited.atMs).toBeGreaterThanOrEqual(600_000);
    expect(hubspot.patches.at(-1)?.status).toBe(200);
    expect(withoutSyncedAt(hubspot.written())).toEqual(await expected(world, account.id, 'account_open'));
  });

  it('never writes the CRM token to a log, an alert, a job or the audit, even when the CRM echoes it', async () => {
    const hubspot = new FakeHubSpot();
    const echo = `Authentication credentials not found: Bearer ${TOKEN}`;
    hubspot.script.push({ status: 503, message: echo }, { status: 401, message: echo });
    const logs: LogEntry[] = [];
    const world = withCrm(hubspot, 10, logs);
    const { account } = await openWithCrm(world);
    await untilSynced(world);
    // The token went where it belongs: the Authorization header.
    expect(hubspot.patches[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'crm_sync_failed');
    expect(alerts.map((a) => a.subject)).toContain(account.id);
    expect(alerts[0]?.message).toContain('HTTP 401: Authentication credentials not found');
    const stored = await world.store.transaction(async (tx) => ({
      jobs: await tx.select('jobs', {}),
      audit: await tx.select('audit', {}),
      alerts: await tx.select('alerts', {}),
    }));
    expect(stored.jobs.some((j) => j.lastError?.includes('Authentication credentials not found'))).toBe(true);
    for (const [what, value] of Object.entries({ logs, ...stored })) {
      expect(JSON.stringify(value), what).not.toContain(TOKEN);
    }
  });

  it('skips a client without a CRM id, with a log line', async () => {
    const hubspot = new FakeHubSpot();
    const logs: LogEntry[] = [];
    const world = withCrm(hubspot, 10, logs);
    await openWithCrm(world, { externalId: null });
    await untilSynced(world);
    expect((await crmJobs(world)).length).toBeGreaterThan(0);
    expect(hubspot.patches).toEqual([]);
    expect(logs.some((l) => l.msg.includes('the client has no CRM id'))).toBe(true);
  });

  it('queues no write-back without a CRM in the config', async () => {
    const world = startedWorld();
    const { client } = await openWithCrm(world);
    must(await world.service.setKyc(client.id, 'rejected'));
    await world.runFor(60_000);
    expect(await crmJobs(world)).toEqual([]);
  });

  it('builds the adapter the config names', () => {
    const clock = { nowMs: () => 0, sleep: () => new Promise<void>(() => {}) };
    const base = { baseUrl: BASE_URL, tokenEnv: 'T', timeoutMs: 1_000, attempts: 3 };
    expect(crmFromConfig({ ...base, system: 'hubspot' }, 'tok', clock)).toBeInstanceOf(HubSpotCrm);
    expect(crmFromConfig({ ...base, system: 'salesforce' }, 'tok', clock)).toBeInstanceOf(SalesforceCrm);
  });
});
