import { describe, expect, it } from 'vitest';
import { ManagerError } from '../../adapters/port/errors.ts';
import type { Clock } from '../../kit/clock.ts';
import type { SimWorld } from '../../scenarios/world.ts';
import { AuditLog } from '../../service/audit.ts';
import {
  type AlertSink,
  type AuditRow,
  type LogEntry,
  MemoryStore,
  REDACTED,
  type Store,
} from '../../service/index.ts';
import { must, openAccount, startedWorld } from './helpers.ts';

/**
 * The audit log: every server call written before it is sent and completed with its answer, a crash in
 * between visible as an unanswered row, and no secret (manager or account password) anywhere the service
 * writes: audit, log, alerts.
 */

const EU = 'mt4-live-eu';
const GLOBAL = 'mt5-live-global';
const DEMO = 'mt4-demo';
const MANAGER_PASSWORD = 'Manager#1';

function allAudit(store: Store, where: Partial<AuditRow> = {}): Promise<AuditRow[]> {
  return store.transaction((tx) => tx.select('audit', where, { orderBy: 'id' }));
}

async function registerApproved(world: SimWorld, country: string, name = 'Anna Schmidt') {
  const client = must(await world.service.registerClient({ name, email: 'anna@example.com', country }));
  must(await world.service.setKyc(client.id, 'approved'));
  return client;
}

/** Accounts opened here are polled every 100 ms of virtual time (at most 2 min), so the instants checked stay put. */
const POLL = { maxMs: 120_000, stepMs: 100 } as const;

async function settled(world: SimWorld, ref: string, state: string, maxMs: number): Promise<boolean> {
  return world.until(async () => (await world.service.transfer(ref))?.state === state, maxMs);
}

/** A clock that only moves when told. */
function manualClock(startMs = 1_000): Clock & { advance(ms: number): void } {
  let now = startMs;
  return {
    nowMs: () => now,
    sleep: () => new Promise<void>(() => {}),
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('audit log of server calls', () => {
  it('records every call the service makes, with op, server, times, request, outcome and answer', async () => {
    const world = startedWorld({ seed: 'audit-all' });
    const account = await openAccount(world, POLL);
    const login = account.login as number;
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 300_000, currency: 'USD' }));
    expect(await settled(world, deposit.ref, 'done', 60_000)).toBe(true);
    const withdrawal = must(
      await world.service.withdraw({ accountId: account.id, amountCents: 100_000, currency: 'USD' }),
    );
    expect(await settled(world, withdrawal.ref, 'posted', 60_000)).toBe(true);
    await world.runFor(65_000);

    const rows = await allAudit(world.store);
    for (const row of rows) {
      expect(row.id).toMatch(/^AU\d{12}$/);
      expect([EU, GLOBAL, DEMO]).toContain(row.serverId);
      expect(typeof row.op).toBe('string');
      expect(typeof row.atMs).toBe('number');
      expect(row.request).toBeTypeOf('object');
      expect(row.outcome).toBe('ok');
      expect(row.answeredMs).toBeGreaterThanOrEqual(row.atMs);
    }

    // The calls behind the account and the money, tied to their subject.
    const created = rows.filter((r) => r.op === 'createAccount');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      serverId: EU,
      subject: account.id,
      request: { group: 'eu-std-usd', externalId: account.id, country: 'DE', comment: 'eu-classic' },
      answer: { login },
    });
    const posts = rows.filter((r) => r.op === 'postBalance');
    expect(posts.map((r) => [r.subject, r.request.amountCents])).toEqual([
      [deposit.ref, 300_000],
      [withdrawal.ref, -100_000],
    ]);
    const deposited = await world.service.transfer(deposit.ref);
    expect(posts[0]?.answer).toMatchObject({ ticket: deposited?.ticket, login });
    expect(posts[0]?.request).toEqual({ login, amountCents: 300_000, kind: 'balance', comment: deposit.ref });
    const margin = rows.filter((r) => r.op === 'marginLevel');
    expect(margin.map((r) => r.subject)).toEqual([withdrawal.ref]);
    expect(rows.filter((r) => r.op === 'balanceHistory').map((r) => r.subject)).toEqual([deposit.ref, withdrawal.ref]);

    // Every request the MT4 servers saw is accounted for by an audited call (the simulator counts them).
    const mt4Rows = rows.filter((r) => r.serverId === EU || r.serverId === DEMO);
    const count = (...ops: string[]) => mt4Rows.filter((r) => ops.includes(r.op)).length;
    const seen = world.cluster.trace.counts('call');
    expect(seen.Ping).toBe(count('ping'));
    expect(seen.Ping).toBeGreaterThan(0);
    expect(seen.UserRecordNew).toBe(count('createAccount'));
    expect(seen.TradeTransaction).toBe(count('postBalance'));
    expect(seen.TradesUserHistory).toBe(count('balanceHistory'));
    expect(seen.MarginLevelRequest).toBe(count('marginLevel'));
    expect(seen.PumpingSwitchEx).toBe(count('subscribe'));
    expect(seen.Login).toBe(count('connect', 'subscribe'));
  });

  it('records the answer time, not the send time, of a call that takes a while', async () => {
    const world = startedWorld({ seed: 'audit-latency', baseLatencyMs: 50 });
    await world.runFor(40_000);
    const pings = await allAudit(world.store, { op: 'ping' });
    expect(pings.length).toBeGreaterThan(0);
    for (const row of pings) expect((row.answeredMs as number) - row.atMs).toBe(50);
  });

  it('records a call whose answer was lost with outcome unknown', async () => {
    const world = startedWorld({ seed: 'audit-unknown' });
    const account = await openAccount(world, POLL);
    // The deposit's history lookup goes through untouched; its send is applied but its answer is lost.
    world.cluster.inject(EU, 'latency', { latencyMs: 0 });
    world.cluster.inject(EU, 'timeoutAfterApply');
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 50_000, currency: 'USD' }));
    const ref = deposit.ref;
    await world.runFor(10_000);

    const rows = await allAudit(world.store, { subject: ref });
    expect(rows.slice(0, 2).map((r) => [r.op, r.outcome])).toEqual([
      ['balanceHistory', 'ok'],
      ['postBalance', 'unknown'],
    ]);
    const lost = rows[1] as AuditRow;
    expect(lost).toMatchObject({ reason: 'timeout', codeName: 'RET_TRADE_TIMEOUT' });
    expect((lost.answeredMs as number) - lost.atMs).toBe(world.config.servers[0]?.timeoutMs);
    expect((await world.service.transfer(ref))?.state).toBe('posting');

    // The service then finds it in history: posted once, and the later calls are audited too.
    expect(await settled(world, ref, 'done', 600_000)).toBe(true);
    expect(world.cluster.server(EU).allBalanceOps(account.login as number)).toHaveLength(1);
    const after = await allAudit(world.store, { subject: ref });
    expect(after.filter((r) => r.op === 'postBalance')).toHaveLength(1);
    expect(after.at(-1)).toMatchObject({ op: 'balanceHistory', outcome: 'ok', answer: { items: 1 } });
  });

  it('leaves the row of a call in flight when the service crashed unanswered (outcome null)', async () => {
    const world = startedWorld({ seed: 'audit-crash', baseLatencyMs: 50 });
    const account = await openAccount(world, POLL);
    const deposit = must(await world.service.deposit({ accountId: account.id, amountCents: 70_000, currency: 'USD' }));
    const ref = deposit.ref;
    // The job starts at once: history lookup (50 ms), then the send; crash while the send is in flight.
    await world.runFor(60);
    const inFlight = await allAudit(world.store, { subject: ref });
    expect(inFlight.map((r) => [r.op, r.outcome])).toEqual([
      ['balanceHistory', 'ok'],
      ['postBalance', null],
    ]);
    world.crash();
    await world.runFor(10_000);

    const [history, post] = await allAudit(world.store, { subject: ref });
    expect(history?.outcome).toBe('ok');
    expect(post).toMatchObject({ op: 'postBalance', outcome: null, answeredMs: null, answer: null, code: null });
    expect((await world.store.transaction((tx) => tx.get('transfers', ref)))?.state).toBe('posting');

    // Started again on the same store: the unanswered row stays as it was, the new calls are answered.
    world.start();
    expect(await settled(world, ref, 'done', 900_000)).toBe(true);
    const rows = await allAudit(world.store, { subject: ref });
    expect(rows.find((r) => r.id === post?.id)).toEqual(post);
    expect(rows.filter((r) => r.outcome === null)).toHaveLength(1);
    expect(world.cluster.server(EU).allBalanceOps(account.login as number)).toHaveLength(1);
  });

  it('writes no manager or account password into the audit, the log or the alerts', async () => {
    const entries: LogEntry[] = [];
    const world = startedWorld({ seed: 'audit-secrets', ports: { log: (e) => entries.push(e) } });
    const eu = await openAccount(world, POLL);
    await openAccount(world, { ...POLL, country: 'US', productId: 'global-standard' });
    const demoClient = await registerApproved(world, 'FR', 'Demo Client');
    must(await world.service.openAccount({ clientId: demoClient.id, productId: 'demo-standard' }));
    // An account created while the answer is lost (looked up afterwards), failures, a circuit alert.
    world.cluster.inject(GLOBAL, 'timeoutAfterApply');
    await openAccount(world, { ...POLL, country: 'BR', productId: 'islamic', maxMs: 900_000 });
    must(await world.service.deposit({ accountId: eu.id, amountCents: 20_000, currency: 'USD' }));
    await world.runFor(10_000);
    world.cluster.restart(EU, 120_000);
    await world.runFor(300_000);

    const accountPasswords = [EU, GLOBAL, DEMO].flatMap((id) =>
      [...world.cluster.server(id).accounts.values()].flatMap((a) => [a.passwordMain, a.passwordInvestor]),
    );
    expect(accountPasswords.length).toBeGreaterThanOrEqual(8);
    const alerts = await world.service.alerts();
    expect(alerts.some((a) => a.kind === 'circuit_open')).toBe(true);
    expect(entries.some((e) => e.msg.startsWith('alert '))).toBe(true);
    const audit = await allAudit(world.store);
    expect(audit.some((r) => r.outcome === 'unknown')).toBe(true);
    const everything = [
      JSON.stringify(audit),
      JSON.stringify(entries),
      JSON.stringify(alerts),
      JSON.stringify(
        await world.store.transaction(async (tx) => ({
          clients: await tx.select('clients', {}),
          accounts: await tx.select('accounts', {}),
          transfers: await tx.select('transfers', {}),
          jobs: await tx.select('jobs', {}),
        })),
      ),
    ];
    for (const text of everything) {
      expect(text).not.toContain(MANAGER_PASSWORD);
      for (const password of accountPasswords) expect(text).not.toContain(password);
    }
  });
});

describe('secrets in data coming back from a server', () => {
  /** A dealer types the manager password into a comment; reconciliation reports the operation. */
  async function leakyComment(sink: AlertSink) {
    const entries: LogEntry[] = [];
    const world = startedWorld({
      seed: 'audit-comment-secret',
      ports: { log: (e) => entries.push(e), alertSinks: [sink] },
    });
    const account = await openAccount(world, POLL);
    world.cluster.dealer(EU).balanceCorrection(account.login as number, 5_000, `pw ${MANAGER_PASSWORD}`);
    await world.runFor(world.config.reconciliation.settleMs + 60_000);
    const run = await world.act(() => world.service.reconcile());
    await world.runFor(10_000);
    return { world, entries, run };
  }

  it('masks a known secret that reaches a log line, whatever the field', async () => {
    const { entries, run } = await leakyComment({ name: 'quiet', deliver: async () => ({ ok: true }) });
    expect(run.findings.map((f) => f.class)).toEqual(['unknown_operation']);
    const logged = entries.find((e) => e.alert !== undefined);
    expect(logged?.msg).toContain(`"pw ${REDACTED}"`);
    expect(JSON.stringify(entries)).not.toContain(MANAGER_PASSWORD);
  });

  // Regression: alerts were stored and handed to the sinks (the webhook posts them off-site) without the
  // redaction the audit and the log get, so a known secret in a message or details went out as is.
  it('masks a known secret in the alert it stores and hands to every sink', async () => {
    const delivered: string[] = [];
    const { world } = await leakyComment({
      name: 'capture',
      deliver: async (alert) => {
        delivered.push(JSON.stringify(alert));
        return { ok: true };
      },
    });
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).not.toContain(MANAGER_PASSWORD);
    expect(JSON.stringify(await world.service.alerts())).not.toContain(MANAGER_PASSWORD);
  });
});

describe('AuditLog', () => {
  const secrets = ['Manager#1', 'hunter2', 'hunter2-long-version'];

  it('masks fields named like secrets, whatever their value, at any depth', () => {
    const audit = new AuditLog(new MemoryStore(), manualClock(), secrets);
    const out = audit.redact({
      password: 'anything',
      managerPassword: 'x',
      secret: 42,
      apiToken: 'abc',
      key: 'k',
      signingKey: { nested: true },
      credentials: ['a', 'b'],
      nested: { deeper: [{ passwordInvestor: 'p', login: 7 }] },
      login: 1000,
      name: 'Anna',
    });
    expect(out).toEqual({
      password: REDACTED,
      managerPassword: REDACTED,
      secret: REDACTED,
      apiToken: REDACTED,
      key: REDACTED,
      signingKey: REDACTED,
      credentials: REDACTED,
      nested: { deeper: [{ passwordInvestor: REDACTED, login: 7 }] },
      login: 1000,
      name: 'Anna',
    });
  });

  it('masks a known secret inside any string, the longest secret whole', () => {
    const audit = new AuditLog(new MemoryStore(), manualClock(), secrets);
    expect(audit.redact('login failed with Manager#1 for 1000')).toBe(`login failed with ${REDACTED} for 1000`);
    expect(audit.redact({ detail: 'Manager#1/Manager#1', list: ['x hunter2 y'] })).toEqual({
      detail: `${REDACTED}/${REDACTED}`,
      list: [`x ${REDACTED} y`],
    });
    expect(audit.redact('was hunter2-long-version!')).toBe(`was ${REDACTED}!`);
    expect(audit.redact('was hunter2-long!')).toBe(`was ${REDACTED}-long!`);
  });

  it('drops functions, keeps other values, and never changes its input', () => {
    const audit = new AuditLog(new MemoryStore(), manualClock(), ['', 'Manager#1']);
    const input = { close: () => {}, n: 5, ok: true, none: null, text: 'Manager#1', list: [1, 'two'] };
    const out = audit.redact(input) as Record<string, unknown>;
    expect(out).toEqual({ n: 5, ok: true, none: null, text: REDACTED, list: [1, 'two'] });
    expect('close' in out).toBe(false);
    expect(input.text).toBe('Manager#1');
    expect(typeof input.close).toBe('function');
    expect(audit.redact(() => 1)).toBeUndefined();
    // An empty secret masks nothing.
    expect(audit.redact('plain text')).toBe('plain text');
  });

  it('stores a sent call unanswered, then completes it with the outcome, redacted', async () => {
    const store = new MemoryStore();
    const clock = manualClock(5_000);
    const audit = new AuditLog(store, clock, ['Manager#1']);
    const id = await audit.sent(EU, 'connect', { login: 1000, password: 'Manager#1', note: 'pw Manager#1' }, null);
    const [sent] = await allAudit(store);
    expect(sent).toMatchObject({
      id,
      atMs: 5_000,
      serverId: EU,
      op: 'connect',
      request: { login: 1000, password: REDACTED, note: `pw ${REDACTED}` },
      outcome: null,
      answeredMs: null,
    });

    clock.advance(250);
    const error = new ManagerError({
      platform: 'mt4',
      code: 65,
      outcome: 'rejected',
      reason: 'bad_credentials',
      serverId: EU,
      op: 'login',
      detail: 'password Manager#1 refused',
    });
    await audit.answered(id, { ok: false, error });
    const [answered] = await allAudit(store);
    expect(answered).toMatchObject({
      outcome: 'rejected',
      code: 65,
      reason: 'bad_credentials',
      answeredMs: 5_250,
      answer: { detail: `password ${REDACTED} refused` },
    });

    const listed = await audit.sent(EU, 'listAccounts', { groupMask: '*' }, 'MTP-A0000000001');
    await audit.answered(listed, { ok: true, value: [{ login: 1 }, { login: 2 }] });
    const list = (await allAudit(store)).find((r) => r.id === listed);
    expect(list).toMatchObject({ outcome: 'ok', answer: { items: 2 }, subject: 'MTP-A0000000001' });
  });
});
