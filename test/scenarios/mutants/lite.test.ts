import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MUTANTS } from '../../../scenarios/mutants/index.ts';
import { BUG_NAMES, type BugName, liteIntegration } from '../../../scenarios/mutants/lite.ts';
import { INVARIANT_NAMES } from '../../../scenarios/script.ts';
import { LiteWorld, must } from './world.ts';

/**
 * The lite integration against the in-process simulator: correct under lost answers, crashes between send
 * and answer, history lag and pump trouble; and each planted bug's effect on the simulated server, side by
 * side with the correct integration under the same script.
 */

const MT4 = { country: 'DE', productId: 'eu-classic', serverId: 'mt4-live-eu' } as const;
const MT5 = { country: 'US', productId: 'global-standard', serverId: 'mt5-live-global' } as const;
const TOLERANCE_MS = 180_000;

function world(bug?: BugName, seed = 'lite-1'): LiteWorld {
  const w = new LiteWorld(liteIntegration(bug === undefined ? {} : { [bug]: true }), seed);
  w.start();
  return w;
}

/** A deposit whose send's answer is lost after the server applied it; returns it once settled. */
async function depositThroughLostAnswer(w: LiteWorld, account: Awaited<ReturnType<LiteWorld['openAccount']>>) {
  w.faultOnNext(account.serverId as string, 'postBalance', 'timeoutAfterApply');
  const transfer = await w.deposit(account, 2_000_00);
  await w.runFor(TOLERANCE_MS + 60_000);
  return w.transfer(transfer.ref);
}

/** A withdrawal above the free margin (an open position uses it) but within the balance, on MT4. */
async function withdrawAboveFreeMargin(w: LiteWorld) {
  const account = await w.openAccount(MT4);
  await w.deposit(account, 1_000_00);
  const trade = w.cluster.client(MT4.serverId).open(account.login as number, 'EURUSD', 'buy', 10);
  expect(trade.ok).toBe(true);
  const { ref } = must(
    await w.act((i) => i.withdraw({ accountId: account.accountId, amountCents: 800_00, currency: 'USD' })),
  );
  await w.until(async () => (await w.transfer(ref)).status !== 'pending', 600_000);
  return { account, transfer: await w.transfer(ref) };
}

describe('lite integration (correct)', () => {
  it('routes EU clients to mt4-live-eu, everyone else to mt5-live-global, with the product group', async () => {
    const w = world();
    const de = await w.openAccount({ country: 'DE', productId: 'pro' });
    const us = await w.openAccount({ country: 'US', productId: 'pro' });
    const demo = await w.openAccount({ country: 'FR', productId: 'demo-standard' });
    expect([de.status, de.serverId, de.group]).toEqual(['open', 'mt4-live-eu', 'eu-pro-usd']);
    expect([us.status, us.serverId, us.group]).toEqual(['open', 'mt5-live-global', 'real\\pro-usd']);
    expect([demo.serverId, demo.group]).toEqual(['mt4-demo', 'demo-std-usd']);
    const onServer = w.server('mt4-live-eu').accounts.get(de.login as number);
    expect([onServer?.group, onServer?.externalId, onServer?.country]).toEqual(['eu-pro-usd', de.accountId, 'DE']);
    expect(w.server('mt5-live-global').accounts.get(us.login as number)?.externalId).toBe(us.accountId);
    // eu-classic is only on the EU server: a non-EU client has no route, and no other server is tried.
    const client = must(
      await w.act((i) => i.registerClient({ externalId: 'x-us', name: 'U', email: 'u@example.com', country: 'US' })),
    );
    must(await w.act((i) => i.setKyc(client.clientId, 'approved')));
    const refused = await w.act((i) => i.openAccount({ clientId: client.clientId, productId: 'eu-classic' }));
    expect(refused.ok ? 'opened' : refused.code).toBe('NO_ROUTE');
  });

  it('refuses live accounts and money before KYC approval; demo accounts open before it', async () => {
    const w = world();
    const client = must(
      await w.act((i) => i.registerClient({ externalId: 'k1', name: 'K', email: 'k@example.com', country: 'DE' })),
    );
    const live = await w.act((i) => i.openAccount({ clientId: client.clientId, productId: 'pro' }));
    expect(live.ok ? 'opened' : live.code).toBe('KYC_REQUIRED');
    const demo = must(await w.act((i) => i.openAccount({ clientId: client.clientId, productId: 'demo-standard' })));
    must(await w.act((i) => i.setKyc(client.clientId, 'approved')));
    const opened = must(await w.act((i) => i.openAccount({ clientId: client.clientId, productId: 'pro' })));
    await w.runFor(30_000);
    expect((await w.account(demo.accountId)).status).toBe('open');
    const account = await w.account(opened.accountId);
    expect(account.status).toBe('open');
    must(await w.act((i) => i.setKyc(client.clientId, 'rejected')));
    const money = await w.act((i) =>
      i.deposit({ accountId: account.accountId, amountCents: 100_00, currency: 'USD', pspRef: 'K-1' }),
    );
    expect(money.ok ? 'accepted' : money.code).toBe('KYC_REQUIRED');
  });

  it.each([MT4, MT5])('posts a deposit once through a lost answer on $serverId', async (target) => {
    const w = world();
    const account = await w.openAccount(target);
    const transfer = await depositThroughLostAnswer(w, account);
    expect(transfer.status).toBe('posted');
    expect(w.ops(account, transfer.ref)).toHaveLength(1);
    const audit = (await w.integration.audit?.()) ?? [];
    const money = audit.filter((a) => ['postBalance', 'balanceHistory'].includes(a.op)).map((a) => a.op + a.outcome);
    expect(money).toEqual(['postBalanceunknown', 'balanceHistoryok']);
  });

  it('posts a deposit once through a crash between send and answer, waiting out the history lag', async () => {
    const w = world();
    const account = await w.openAccount(MT4);
    // The request takes 4 s on the wire: it reaches the server after the crash, which comes at 1 s.
    w.faultOnNext(MT4.serverId, 'postBalance', 'latency', { latencyMs: 4_000 });
    const record = w.psp.confirmDeposit({ amountCents: 300_00, currency: 'USD' });
    const { ref } = must(
      await w.act((i) =>
        i.deposit({ accountId: account.accountId, amountCents: 300_00, currency: 'USD', pspRef: record.pspRef }),
      ),
    );
    await w.until(() => w.calls.some((c) => c.op === 'postBalance'), 30_000, 100);
    const sentMs = w.calls.find((c) => c.op === 'postBalance')?.atMs as number;
    await w.runFor(1_000);
    w.crash();
    w.start();
    // The webhook is retried: same pspRef, same reference.
    const again = must(
      await w.act((i) =>
        i.deposit({ accountId: account.accountId, amountCents: 300_00, currency: 'USD', pspRef: record.pspRef }),
      ),
    );
    expect(again.ref).toBe(ref);
    await w.until(async () => (await w.transfer(ref)).status !== 'pending', 600_000);
    expect((await w.transfer(ref)).status).toBe('posted');
    expect(w.ops(account, ref)).toHaveLength(1);
    // The new incarnation looked at once (not there yet), then only after the tolerance: it never sent again.
    expect(w.calls.filter((c) => c.op === 'postBalance')).toHaveLength(1);
    expect(w.scheduler.nowMs() - sentMs).toBeGreaterThanOrEqual(TOLERANCE_MS);
  });

  it('rejects a withdrawal above the free margin', async () => {
    const w = world();
    const { account, transfer } = await withdrawAboveFreeMargin(w);
    expect(transfer.status).toBe('rejected');
    expect(w.ops(account, transfer.ref)).toHaveLength(0);
  });

  it('syncs trades from the pump and fills what a silent stall lost', async () => {
    const w = world();
    const account = await w.openAccount(MT5);
    await w.deposit(account, 5_000_00);
    const client = w.cluster.client(MT5.serverId);
    const login = account.login as number;
    const first = client.open(login, 'EURUSD', 'buy', 10);
    await w.runFor(1_000);
    if (first.ok) client.close(first.value.ticket);
    w.cluster.inject(MT5.serverId, 'pumpStall', { stallMs: 120_000 });
    const stalled = client.open(login, 'GBPUSD', 'sell', 10);
    await w.runFor(1_000);
    expect(first.ok && stalled.ok).toBe(true);
    const seen = async () => (await w.integration.trades?.())?.map((t) => `${t.ticket}:${t.action}`).sort() ?? [];
    const t1 = first.ok ? first.value.ticket : 0;
    const t2 = stalled.ok ? stalled.value.ticket : 0;
    expect(await seen()).toEqual([`${t1}:close`, `${t1}:open`].sort());
    await w.runFor(6 * 60_000);
    expect(await seen()).toEqual([`${t1}:close`, `${t1}:open`, `${t2}:open`].sort());
  });

  it("reports a dealer's balance edit as an unknown operation, and nothing else", async () => {
    const w = world();
    const account = await w.openAccount(MT4);
    await w.deposit(account, 500_00);
    const edit = w.cluster.dealer(MT4.serverId).balanceCorrection(account.login as number, 25_00, 'correction');
    expect(edit.ok).toBe(true);
    await w.runFor(20 * 60_000);
    const recon = must(await w.act((i) => i.reconcile()));
    expect(recon.partial).toBe(false);
    const ticket = w
      .server(MT4.serverId)
      .allBalanceOps(account.login as number)
      .at(-1)?.ticket;
    expect(recon.findings.map((f) => [f.class, f.serverId, f.login, f.ticket])).toEqual([
      ['unknown_operation', MT4.serverId, account.login, ticket],
    ]);
  });

  it('audits every call with its outcome and never logs a secret', async () => {
    const w = world();
    const account = await w.openAccount(MT4);
    await depositThroughLostAnswer(w, account);
    const audit = (await w.integration.audit?.()) ?? [];
    const proxied = w.calls.filter((c) => !['close', 'limits', 'platform'].includes(c.op));
    expect(audit.map((a) => a.op)).toEqual(proxied.map((c) => c.op));
    expect(audit.every((a) => a.outcome !== null)).toBe(true);
    const text = JSON.stringify(audit) + w.lines.join('\n');
    expect(text).not.toContain('Manager#1');
    expect(text).not.toMatch(/Lt[a-z0-9]{8}#\d\d/);
  });
});

describe('planted bugs, side by side with the correct integration', () => {
  it('blind-retry: one lost answer, two balance operations', async () => {
    for (const [bug, count] of [
      [undefined, 1],
      ['blind-retry', 2],
    ] as const) {
      const w = world(bug);
      const account = await w.openAccount(MT4);
      const transfer = await depositThroughLostAnswer(w, account);
      expect(w.ops(account, transfer.ref), String(bug)).toHaveLength(count);
    }
  });

  it('ref-after-send: a crash before the answer, the webhook retried, posted twice under two references', async () => {
    for (const [bug, count] of [
      [undefined, 1],
      ['ref-after-send', 2],
    ] as const) {
      const w = world(bug);
      const account = await w.openAccount(MT4);
      w.faultOnNext(MT4.serverId, 'postBalance', 'timeoutAfterApply');
      const input = { accountId: account.accountId, amountCents: 300_00, currency: 'USD', pspRef: 'CARD-7' };
      const first = w.send((i) => i.deposit(input));
      await w.until(() => w.calls.some((c) => c.op === 'postBalance'), 30_000, 100);
      await w.runFor(2_000); // applied, the answer not yet timed out
      w.crash();
      w.start();
      await w.runFor(1_000);
      const retried = must(await w.act((i) => i.deposit(input)));
      await w.until(async () => (await w.transfer(retried.ref)).status !== 'pending', 600_000);
      expect(w.ops(account, 'LT-'), String(bug)).toHaveLength(count);
      if (bug === undefined) expect(first.answer).toEqual({ ok: true, value: { ref: retried.ref } });
      else expect(first.answer).toBeUndefined(); // the first webhook never got an answer
    }
  });

  it('comment-truncation: the server cuts the reference off; a lost answer is posted again', async () => {
    const w = world('comment-truncation');
    const account = await w.openAccount({ ...MT4, externalId: 'crm-client-000042' });
    const transfer = await depositThroughLostAnswer(w, account);
    const ops = w.ops(account);
    expect(ops).toHaveLength(2);
    expect(ops.every((op) => op.comment.length === 31 && !op.comment.includes(transfer.ref))).toBe(true);
    // Another deposit of the same account gets the same comment: references collide on the server.
    const second = await w.deposit(account, 100_00);
    expect(second.status).toBe('posted');
    expect(new Set(w.ops(account).map((op) => op.comment)).size).toBe(1);
  });

  it('jurisdiction-precedence: a DE client lands on mt5-live-global', async () => {
    const w = world('jurisdiction-precedence');
    const account = await w.openAccount({ country: 'DE', productId: 'pro' });
    expect([account.serverId, account.group]).toEqual(['mt5-live-global', 'real\\pro-usd']);
    expect(w.server('mt5-live-global').accounts.get(account.login as number)?.country).toBe('DE');
  });

  it('no-free-margin: a withdrawal above the free margin is posted on MT4', async () => {
    const w = world('no-free-margin');
    const { account, transfer } = await withdrawAboveFreeMargin(w);
    expect(transfer.status).toBe('posted');
    const [op] = w.ops(account, transfer.ref);
    expect(op?.amountCents).toBe(-800_00);
    expect(op?.freeMarginBeforeCents).toBeLessThan(800_00);
  });

  it("recon-ignores-credit: a dealer's credit edit goes unreported", async () => {
    for (const [bug, found] of [
      [undefined, 1],
      ['recon-ignores-credit', 0],
    ] as const) {
      const w = world(bug);
      const account = await w.openAccount(MT5);
      await w.deposit(account, 500_00);
      expect(w.cluster.dealer(MT5.serverId).creditEdit(account.login as number, 50_00, 'promo').ok).toBe(true);
      const recon = must(await w.act((i) => i.reconcile()));
      expect(
        recon.findings.filter((f) => f.class === 'unknown_operation'),
        String(bug),
      ).toHaveLength(found);
    }
  });

  it('kyc-skip-product: a client without approved KYC opens and funds a live pro account', async () => {
    const w = world('kyc-skip-product');
    const account = await w.openAccount({ country: 'DE', productId: 'pro', kyc: 'pending' });
    expect(account.status).toBe('open');
    expect(w.server(account.serverId as string).accounts.has(account.login as number)).toBe(true);
    const deposit = await w.deposit(account, 100_00);
    expect(w.ops(account, deposit.ref)).toHaveLength(1);
    const strict = world();
    const client = must(
      await strict.act((i) => i.registerClient({ externalId: 'p', name: 'P', email: 'p@example.com', country: 'DE' })),
    );
    const refused = await strict.act((i) => i.openAccount({ clientId: client.clientId, productId: 'pro' }));
    expect(refused.ok ? 'opened' : refused.code).toBe('KYC_REQUIRED');
  });

  it('no-resubscribe: after a restart of the server, trades go unseen', async () => {
    for (const [bug, seesIt] of [
      [undefined, true],
      ['no-resubscribe', false],
    ] as const) {
      const w = world(bug);
      const account = await w.openAccount(MT4);
      await w.deposit(account, 5_000_00);
      w.cluster.restart(MT4.serverId, 10_000);
      await w.runFor(60_000);
      const trade = w.cluster.client(MT4.serverId).open(account.login as number, 'EURUSD', 'buy', 10);
      expect(trade.ok, String(bug)).toBe(true);
      await w.runFor(10 * 60_000);
      const ticket = trade.ok ? trade.value.ticket : -1;
      const trades = (await w.integration.trades?.()) ?? [];
      expect(
        trades.some((t) => t.ticket === ticket && t.action === 'open'),
        String(bug),
      ).toBe(seesIt);
    }
  });
});

describe('the mutants folder', () => {
  it('lists one module per bug, each exporting its factory and description', async () => {
    expect(MUTANTS.map((m) => m.name)).toEqual([...BUG_NAMES]);
    for (const entry of MUTANTS) {
      const url = pathToFileURL(join(import.meta.dirname, '../../..', entry.module)).href;
      const module = (await import(/* @vite-ignore */ url)) as {
        default: unknown;
        mutant: { name: string; plants: string; catchBy: readonly string[] };
      };
      expect(module.default).toBe(entry.factory);
      expect(module.mutant.name).toBe(entry.name);
      expect(module.mutant.plants.length).toBeGreaterThan(20);
      // At least one invariant, each named once, in INVARIANT_NAMES order (what `mtproof mutants` matches).
      expect(module.mutant.catchBy.length, entry.name).toBeGreaterThan(0);
      expect(module.mutant.catchBy, entry.name).toEqual(
        INVARIANT_NAMES.filter((n) => module.mutant.catchBy.includes(n)),
      );
    }
  });

  it('imports only the public contract: scenarios/integration.ts, the port, kit/ and a few types', () => {
    const dir = join(import.meta.dirname, '../../../scenarios/mutants');
    const allowed =
      /^(\.\/[a-z-]+\.ts|\.\.\/integration\.ts|\.\.\/\.\.\/adapters\/port\/[a-z-]+\.ts|\.\.\/\.\.\/kit\/[a-z-]+\.ts)$/;
    // Types only: the broker config's shape, and the invariant names a mutant's entry says should catch it.
    const typesOnly = ['../../service/config.ts', '../script.ts'];
    const seen = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const [line, spec] of text.matchAll(/^(?:import|export) (?:type )?[^;]*? from '([^']+)';$/gms)) {
        seen.add(spec as string);
        if (typesOnly.includes(spec as string)) {
          expect(line.startsWith('import type'), `${file}: ${line}`).toBe(true);
        } else expect(spec, file).toMatch(allowed);
      }
    }
    // The scan found the imports it is meant to judge (a pattern that matched nothing would pass anything).
    for (const spec of ['../integration.ts', '../../adapters/port/manager-api.ts', ...typesOnly]) {
      expect([...seen]).toContain(spec);
    }
  });
});
