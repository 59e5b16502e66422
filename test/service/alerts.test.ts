import { describe, expect, it } from 'vitest';
import { MtproofError } from '../../kit/errors.ts';
import { Random } from '../../kit/random.ts';
import { Scheduler } from '../../kit/scheduler.ts';
import { createSimWorld, type SimWorld } from '../../scenarios/world.ts';
import { type NewAlert, raiseAlert } from '../../service/alerts.ts';
import {
  type AlertRow,
  type AlertSink,
  type BrokerConfigInput,
  buildService,
  type FetchLike,
  type LogEntry,
  MemoryStore,
  makeReference,
  parseBrokerConfig,
  signBody,
  WebhookAlertSink,
} from '../../service/index.ts';
import { brokerConfig, must, openAccount, startedWorld } from './helpers.ts';

/**
 * Alerts: raised in the transaction that records what went wrong, deduplicated by key, delivered to every
 * sink by a durable job that retries with backoff and gives up after `alerts.deliveryAttempts`; the
 * webhook sink signs its body and never waits on real time.
 */

const EU = 'mt4-live-eu';
const PASSWORD_ENVS = [
  'MTPROOF_MT4_LIVE_EU_PASSWORD',
  'MTPROOF_MT5_LIVE_GLOBAL_PASSWORD',
  'MTPROOF_MT4_DEMO_PASSWORD',
] as const;
const HOOK_URL = 'https://hooks.example.com/services/T0KEN-abc123';
const HOOK_SECRET = 'whsec-0123456789';

function managerSecrets(extra: Record<string, string> = {}): Record<string, string> {
  return { ...Object.fromEntries(PASSWORD_ENVS.map((name) => [name, 'Manager#1'])), ...extra };
}

const ALERT: NewAlert = {
  key: 'test:one',
  kind: 'reconciliation_finding',
  severity: 'warning',
  subject: 'X1',
  message: 'something to look at',
  details: { n: 1 },
};

function alertRow(overrides: Partial<AlertRow> = {}): AlertRow {
  return {
    id: 'AL0000000001',
    key: 'k',
    kind: 'transfer_failed',
    severity: 'critical',
    subject: 'MTP-D0000000001-U5',
    message: 'deposit failed',
    details: { serverId: EU },
    atMs: 1_000,
    deliveredTo: [],
    ...overrides,
  };
}

/** No secrets in these alerts: redaction is tested in audit.test.ts. */
const same = (value: unknown) => value;

async function raise(world: SimWorld, alert: NewAlert = ALERT): Promise<boolean> {
  return world.store.transaction((tx) => raiseAlert(tx, world.scheduler.nowMs(), same, alert));
}

async function alertByKey(world: SimWorld, key: string): Promise<AlertRow | undefined> {
  const [row] = await world.store.transaction((tx) => tx.select('alerts', { key }));
  return row;
}

/** A sink that fails its first `failures` deliveries, recording when each was tried. */
function flakySink(now: () => number, failures: number, name = 'flaky'): AlertSink & { calls: number[] } {
  const calls: number[] = [];
  return {
    name,
    calls,
    async deliver() {
      calls.push(now());
      return calls.length <= failures ? { ok: false, error: 'HTTP 502' } : { ok: true };
    },
  };
}

/** Log lines written by the log sink (one per delivered alert). */
const alertLogs = (entries: LogEntry[]) => entries.filter((e) => e.alert !== undefined);

describe('raiseAlert', () => {
  it('records an alert once per key and queues one delivery job for it', async () => {
    const store = new MemoryStore();
    const first = await store.transaction((tx) => raiseAlert(tx, 1_000, same, ALERT));
    const again = await store.transaction((tx) => raiseAlert(tx, 2_000, same, { ...ALERT, message: 'changed' }));
    const other = await store.transaction((tx) => raiseAlert(tx, 3_000, same, { ...ALERT, key: 'test:two' }));
    expect([first, again, other]).toEqual([true, false, true]);

    const alerts = await store.transaction((tx) => tx.select('alerts', {}, { orderBy: 'id' }));
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({ key: 'test:one', message: 'something to look at', atMs: 1_000, deliveredTo: [] });
    const jobs = await store.transaction((tx) => tx.select('jobs', { kind: 'deliver-alert' }, { orderBy: 'id' }));
    expect(jobs.map((j) => j.subject)).toEqual(alerts.map((a) => a.id));
  });

  it('raises nothing when the transaction that raised it does not commit', async () => {
    const store = new MemoryStore();
    await expect(
      store.transaction(async (tx) => {
        await raiseAlert(tx, 1_000, same, ALERT);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.transaction((tx) => tx.count('alerts', {}))).toBe(0);
    expect(await store.transaction((tx) => tx.count('jobs', {}))).toBe(0);
  });
});

describe('alert delivery', () => {
  it('delivers an alert to every sink once, retrying only the sink that failed, with backoff', async () => {
    const entries: LogEntry[] = [];
    const clock = { nowMs: () => 0 };
    const sink = flakySink(() => clock.nowMs(), 2);
    const w = createSimWorld({
      seed: 'alerts-deliver',
      ports: { log: (e) => entries.push(e), alertSinks: [sink] },
    });
    clock.nowMs = () => w.scheduler.nowMs();
    w.start();
    await w.runFor(1_000);
    expect(await raise(w)).toBe(true);
    await w.runFor(60_000);

    const row = await alertByKey(w, ALERT.key);
    expect(row?.deliveredTo).toEqual(['log', 'flaky']);
    // Three tries of the flaky sink, the log sink called once.
    expect(sink.calls).toHaveLength(3);
    expect(alertLogs(entries)).toHaveLength(1);
    expect(alertLogs(entries)[0]).toMatchObject({ level: 'warn', alert: { id: row?.id, kind: ALERT.kind } });
    // Backoff from config.retry: attempt n waits within [initial × 2^(n−1) / 2, initial × 2^(n−1)].
    const [a, b, c] = sink.calls as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(500);
    expect(b - a).toBeLessThanOrEqual(1_000);
    expect(c - b).toBeGreaterThanOrEqual(1_000);
    expect(c - b).toBeLessThanOrEqual(2_000);
    const [job] = await w.store.transaction((tx) => tx.select('jobs', { kind: 'deliver-alert', subject: row?.id }));
    expect(job).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('gives up after alerts.deliveryAttempts and leaves the alert undelivered to the failing sink', async () => {
    const entries: LogEntry[] = [];
    const calls: number[] = [];
    const broken: AlertSink = {
      name: 'broken',
      async deliver() {
        calls.push(0);
        return { ok: false, error: 'HTTP 500' };
      },
    };
    const world = startedWorld({
      seed: 'alerts-give-up',
      broker: brokerConfig((c) => {
        c.alerts = { ...c.alerts, deliveryAttempts: 3 };
      }),
      ports: { log: (e) => entries.push(e), alertSinks: [broken] },
    });
    await world.runFor(1_000);
    await raise(world);
    await world.runFor(600_000);

    expect(calls).toHaveLength(3);
    const row = await alertByKey(world, ALERT.key);
    expect(row?.deliveredTo).toEqual(['log']);
    expect(alertLogs(entries)).toHaveLength(1);
    const [job] = await world.store.transaction((tx) => tx.select('jobs', { kind: 'deliver-alert' }));
    expect(job?.state).toBe('done');
    const gaveUp = entries.find((e) => e.msg.includes('undelivered'));
    expect(gaveUp).toMatchObject({ level: 'error', msg: `alert ${row?.id} undelivered after 3 attempts` });
    expect(gaveUp?.errors).toEqual(['broken: HTTP 500']);
  });

  it('delivers to a configured webhook with the URL and signing key read from the secrets', async () => {
    const posted: { url: string; headers: Record<string, string>; body: string }[] = [];
    const fetch: FetchLike = async (url, init) => {
      posted.push({ url, headers: init.headers, body: init.body });
      return { ok: true, status: 204 };
    };
    const world = startedWorld({
      seed: 'alerts-webhook',
      broker: brokerConfig((c) => {
        c.alerts = {
          ...c.alerts,
          webhook: { urlEnv: 'MTPROOF_ALERT_URL', secretEnv: 'MTPROOF_ALERT_KEY', timeoutMs: 2_000 },
        };
      }),
      secrets: managerSecrets({ MTPROOF_ALERT_URL: HOOK_URL, MTPROOF_ALERT_KEY: HOOK_SECRET }),
      ports: { fetch },
    });
    await world.runFor(1_000);
    await raise(world);
    await world.runFor(10_000);

    expect(posted).toHaveLength(1);
    const [post] = posted as [(typeof posted)[number]];
    expect(post.url).toBe(HOOK_URL);
    expect(post.headers['x-mtproof-signature']).toBe(`sha256=${signBody(HOOK_SECRET, post.body)}`);
    expect(JSON.parse(post.body).alert).toMatchObject({ key: ALERT.key, kind: ALERT.kind, subject: ALERT.subject });
    expect((await alertByKey(world, ALERT.key))?.deliveredTo).toEqual(['log', 'webhook']);
  });
});

describe('WebhookAlertSink', () => {
  const clock = new Scheduler({ startMs: 0 }).clock;

  it('posts the alert as JSON with an HMAC-SHA256 signature of the body', async () => {
    const posted: Parameters<FetchLike>[] = [];
    const sink = new WebhookAlertSink({
      url: HOOK_URL,
      secret: HOOK_SECRET,
      timeoutMs: 5_000,
      clock,
      fetch: async (...args) => {
        posted.push(args);
        return { ok: true, status: 200 };
      },
    });
    const alert = alertRow();
    expect(await sink.deliver(alert)).toEqual({ ok: true });

    expect(posted).toHaveLength(1);
    const [url, init] = posted[0] as Parameters<FetchLike>;
    expect(url).toBe(HOOK_URL);
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body)).toEqual({ alert });
    expect(init.headers).toMatchObject({ 'content-type': 'application/json', 'x-mtproof-alert': alert.id });
    const signature = init.headers['x-mtproof-signature'] as string;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signature).toBe(`sha256=${signBody(HOOK_SECRET, init.body)}`);
    // Anyone without the key (or with another body) gets another signature.
    expect(signature).not.toBe(`sha256=${signBody('other', init.body)}`);
    expect(signature).not.toBe(`sha256=${signBody(HOOK_SECRET, `${init.body} `)}`);
  });

  it('sends no signature header without a signing key', async () => {
    let headers: Record<string, string> = {};
    const sink = new WebhookAlertSink({
      url: HOOK_URL,
      timeoutMs: 5_000,
      clock,
      fetch: async (_url, init) => {
        headers = init.headers;
        return { ok: true, status: 200 };
      },
    });
    await sink.deliver(alertRow());
    expect('x-mtproof-signature' in headers).toBe(false);
  });

  it('gives up after timeoutMs of the clock when the endpoint never answers, and aborts the request', async () => {
    const scheduler = new Scheduler({ startMs: 0 });
    let signal: AbortSignal | undefined;
    const sink = new WebhookAlertSink({
      url: HOOK_URL,
      secret: HOOK_SECRET,
      timeoutMs: 5_000,
      clock: scheduler.clock,
      fetch: (_url, init) => {
        signal = init.signal;
        return new Promise(() => {});
      },
    });
    let result: Awaited<ReturnType<WebhookAlertSink['deliver']>> | undefined;
    let atMs = -1;
    scheduler.spawn('deliver', async () => {
      result = await sink.deliver(alertRow());
      atMs = scheduler.nowMs();
    });
    await scheduler.run();
    expect(result).toEqual({ ok: false, error: 'no answer within 5000 ms' });
    expect(atMs).toBe(5_000);
    expect(signal?.aborted).toBe(true);
  });

  it('reports an HTTP error status, and a failed request without its URL', async () => {
    const failing = new WebhookAlertSink({
      url: HOOK_URL,
      timeoutMs: 5_000,
      clock,
      fetch: async () => ({ ok: false, status: 503 }),
    });
    const status = await failing.deliver(alertRow());
    expect(status).toEqual({ ok: false, error: 'HTTP 503' });

    const throwing = new WebhookAlertSink({
      url: HOOK_URL,
      timeoutMs: 5_000,
      clock,
      fetch: async (url) => {
        throw new TypeError(`fetch failed: getaddrinfo ENOTFOUND ${url}`);
      },
    });
    const thrown = await throwing.deliver(alertRow());
    expect(thrown.ok).toBe(false);
    if (!thrown.ok) {
      expect(thrown.error).toBe('request failed: TypeError');
      expect(thrown.error).not.toContain('T0KEN');
      expect(thrown.error).not.toContain('hooks.example.com');
    }
  });
});

describe('secrets the service needs', () => {
  const build = (config: BrokerConfigInput, secrets: Record<string, string>) =>
    buildService({
      config: parseBrokerConfig(config),
      clock: new Scheduler({ startMs: 0 }).clock,
      random: new Random('secrets'),
      ports: {
        store: new MemoryStore(),
        managers: () => {
          throw new Error('no manager connection in this test');
        },
        secrets: (name) => secrets[name],
      },
    });

  const thrown = (fn: () => unknown): MtproofError => {
    try {
      fn();
    } catch (error) {
      if (error instanceof MtproofError) return error;
      throw error;
    }
    throw new Error('expected an MtproofError');
  };

  it('refuses to build with a configured webhook whose URL variable is not set, naming alerts.webhook.urlEnv', () => {
    const config = brokerConfig((c) => {
      c.alerts = { ...c.alerts, webhook: { urlEnv: 'MTPROOF_ALERT_URL' } };
    });
    const error = thrown(() => build(config, managerSecrets()));
    expect(error.code).toBe('MTP_SECRET_MISSING');
    expect(error.issues).toEqual([
      { path: 'alerts.webhook.urlEnv', message: 'environment variable MTPROOF_ALERT_URL is not set' },
    ]);
    // And builds once it is set.
    expect(() => build(config, managerSecrets({ MTPROOF_ALERT_URL: HOOK_URL }))).toThrow(
      'no manager connection in this test',
    );
  });

  it('names alerts.webhook.secretEnv when the signing key variable is missing or empty', () => {
    const config = brokerConfig((c) => {
      c.alerts = { ...c.alerts, webhook: { urlEnv: 'MTPROOF_ALERT_URL', secretEnv: 'MTPROOF_KEY' } };
    });
    const error = thrown(() => build(config, managerSecrets({ MTPROOF_ALERT_URL: HOOK_URL, MTPROOF_KEY: '' })));
    expect(error.code).toBe('MTP_SECRET_MISSING');
    expect(error.issues.map((i) => i.path)).toEqual(['alerts.webhook.secretEnv']);
  });

  it("names servers[i].passwordEnv for a server whose manager password is missing, and no secret's value", () => {
    const secrets = managerSecrets();
    delete secrets.MTPROOF_MT5_LIVE_GLOBAL_PASSWORD;
    const error = thrown(() => build(brokerConfig(), secrets));
    expect(error.code).toBe('MTP_SECRET_MISSING');
    expect(error.issues).toEqual([
      { path: 'servers[1].passwordEnv', message: 'environment variable MTPROOF_MT5_LIVE_GLOBAL_PASSWORD is not set' },
    ]);
    expect(error.message).toContain('servers[1].passwordEnv');
    expect(error.message).not.toContain('Manager#1');
  });

  it('lists every missing secret at once', () => {
    const config = brokerConfig((c) => {
      c.alerts = { ...c.alerts, webhook: { urlEnv: 'MTPROOF_ALERT_URL' } };
    });
    const error = thrown(() => build(config, {}));
    expect(error.issues.map((i) => i.path)).toEqual([
      'servers[0].passwordEnv',
      'servers[1].passwordEnv',
      'servers[2].passwordEnv',
      'alerts.webhook.urlEnv',
    ]);
  });
});

describe('alerts the service raises', () => {
  it('raises a transfer_review alert when a transfer goes to review', async () => {
    const entries: LogEntry[] = [];
    const world = startedWorld({ seed: 'alerts-review', ports: { log: (e) => entries.push(e) } });
    const account = await openAccount(world);
    // A dealer has already booked the next reference by hand, with another amount: the service must not
    // post it again, nor call it done.
    const ref = makeReference('MTP', 'deposit', 1);
    world.cluster.dealer(EU).balanceCorrection(account.login as number, 999, ref);
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 25_000, currency: 'USD' }));
    expect(deposit.ref).toBe(ref);
    await world.runFor(10_000);

    expect((await world.service.transfer(ref))?.state).toBe('review');
    const alerts = (await world.service.alerts()).filter((a) => a.kind === 'transfer_review');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: ref, severity: 'critical', details: { serverId: EU, leg: 'main' } });
    expect(alerts[0]?.deliveredTo).toEqual(['log']);
    expect(alertLogs(entries).filter((e) => (e.alert as { subject: string }).subject === ref)).toHaveLength(1);
  });

  it('raises transfer_stuck once for a transfer still unsettled after alerts.stuckAfterMs', async () => {
    const stuckAfterMs = 600_000;
    const world = startedWorld({
      seed: 'alerts-stuck',
      broker: brokerConfig((c) => {
        c.alerts = { ...c.alerts, stuckAfterMs };
      }),
    });
    const account = await openAccount(world);
    world.cluster.restart(EU, 7_200_000);
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 25_000, currency: 'USD' }));
    const ref = deposit.ref;
    const stuck = async () => (await world.service.alerts()).filter((a) => a.kind === 'transfer_stuck');

    await world.runFor(stuckAfterMs - 60_000);
    expect(await world.service.checkStuck()).toBe(0);
    expect(await stuck()).toHaveLength(0);

    await world.runFor(120_000);
    expect((await world.service.transfer(ref))?.state).toBe('accepted');
    await world.service.checkStuck();
    const raised = await stuck();
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ subject: ref, severity: 'warning', details: { serverId: EU } });
    expect(raised[0]?.message).toContain(ref);

    // Asked again, and with the background watch running on: still one.
    expect(await world.service.checkStuck()).toBe(0);
    await world.runFor(600_000);
    expect(await stuck()).toHaveLength(1);
  });
});
