import { describe, expect, it } from 'vitest';
import type { IntegrationFactory, TransferView } from '../../scenarios/integration.ts';
import { mtproofIntegration } from '../../scenarios/integrations/mtproof.ts';
import { CHECKERS } from '../../scenarios/invariants/index.ts';
import { type BugName, liteIntegration } from '../../scenarios/mutants/lite.ts';
import type { StepInput } from '../../scenarios/script.ts';
import {
  accountOf,
  allPass,
  incident,
  invariant,
  managerOps,
  mutantEntry,
  openedAccount,
  run,
  script,
  verdicts,
  wrap,
} from './helpers.ts';

/**
 * Each invariant passes for the correct lite integration and fails, for the right reason and naming the
 * account, login or reference, for an integration with one planted fault (a mutant, or a one-method fake).
 */

const LITE = liteIntegration();

function mutant(name: BugName): IntegrationFactory {
  return mutantEntry(name).factory;
}

/** Runs a script against the correct lite integration and against the faulty one. */
async function both(name: string, steps: StepInput[], faulty: IntegrationFactory, extra = {}) {
  const s = script(name, steps, extra);
  const good = await run(s, LITE, { detail: false });
  const bad = await run(s, faulty, { detail: false });
  return { good, bad };
}

const LOST_ANSWER_ON_MT5: StepInput[] = [
  ...openedAccount('global-standard', 'GB'),
  { do: 'fault', server: 'mt5-live-global', kind: 'timeoutAfterApply', op: 'postBalance' },
  { do: 'deposit', account: 'a1', amountCents: 120_000 },
  { do: 'wait', ms: 60_000 },
];

describe('exactly-once and conservation', () => {
  it('pass when a lost answer is looked up before a retry; fail, naming the account, when it is posted blindly again', async () => {
    const { good, bad } = await both('lost-answer', LOST_ANSWER_ON_MT5, mutant('blind-retry'));
    expect(verdicts(good.report)).toEqual(allPass());
    expect(managerOps(good.observation, 'a1').map((op) => op.amountCents)).toEqual([120_000]);

    expect(verdicts(bad.report)).toEqual(allPass({ 'exactly-once': 'fail', conservation: 'fail' }));
    const at = accountOf(bad.observation, 'a1');
    const ops = managerOps(bad.observation, 'a1');
    expect(ops.map((op) => op.amountCents)).toEqual([120_000, 120_000]);
    const [ref] = bad.observation.integration.transfers.map((t) => t.ref);
    const once = invariant(bad.report, 'exactly-once');
    expect(once.summary).toBe('1 duplicated and 0 missing posting(s) among 2 manager operations');
    expect(once.evidence).toEqual([
      {
        message: `balance 1200.00 is on the server 2 times (tickets ${ops[0]?.ticket}, ${ops[1]?.ticket}, comments "${ref}") but the integration settled 1: ${ref}`,
        serverId: 'mt5-live-global',
        login: at.login,
        accountId: at.accountId,
        account: 'a1',
        ticket: ops[1]?.ticket,
      },
    ]);
    expect(invariant(bad.report, 'conservation').evidence).toEqual([
      {
        message:
          "balance 2400.00 on the server (trades excluded) but the integration's transfers give 1200.00 and dealers/the server 0.00: 1200.00 unaccounted",
        serverId: 'mt5-live-global',
        login: at.login,
        accountId: at.accountId,
        account: 'a1',
      },
    ]);
  });

  it('fail when the integration says a transfer is posted that the server never got', async () => {
    let ghost: TransferView | null = null;
    const claims = wrap(LITE, (inner) => ({
      transfers: async () => {
        const list = await inner.transfers();
        const first = list[0];
        if (first !== undefined) ghost ??= { ...first, ref: 'GHOST-1', amountCents: 777, pspRef: null };
        return ghost === null ? list : [...list, ghost];
      },
    }));
    const steps: StepInput[] = [
      ...openedAccount('eu-classic', 'FR'),
      { do: 'deposit', account: 'a1', amountCents: 50_000 },
      { do: 'wait', ms: 60_000 },
    ];
    const { good, bad } = await both('ghost', steps, claims);
    expect(verdicts(good.report)).toEqual(allPass());
    const at = accountOf(bad.observation, 'a1');
    const once = invariant(bad.report, 'exactly-once');
    expect(once.verdict).toBe('fail');
    expect(once.evidence).toEqual([
      {
        message: 'balance 7.77: the integration says GHOST-1 posted (1) but the server has 0',
        serverId: 'mt4-live-eu',
        login: at.login,
        accountId: at.accountId,
        account: 'a1',
        ref: 'GHOST-1',
      },
    ]);
    const conservation = invariant(bad.report, 'conservation');
    expect(conservation.verdict).toBe('fail');
    expect(conservation.evidence[0]?.message).toContain('-7.77 unaccounted');
    expect(conservation.evidence[0]?.login).toBe(at.login);
  });

  it('fail when one provider payment becomes two transfers', async () => {
    // The webhook handler forgets the provider's id when it is delivered again: a new transfer each time.
    const forgets = wrap(LITE, (inner) => {
      let n = 0;
      return {
        deposit: (input) => inner.deposit({ ...input, pspRef: `${input.pspRef}#${++n}` }),
        transfers: async () =>
          (await inner.transfers()).map((t) => ({ ...t, pspRef: t.pspRef?.split('#')[0] ?? null })),
      };
    });
    const steps: StepInput[] = [
      ...openedAccount('eu-classic', 'FR'),
      { do: 'deposit', account: 'a1', amountCents: 50_000, pspRef: 'PSP-TWICE', webhook: 'twice' },
      { do: 'wait', ms: 60_000 },
    ];
    const { good, bad } = await both('twice', steps, forgets);
    expect(verdicts(good.report)).toEqual(allPass());
    expect(good.observation.integration.transfers).toHaveLength(1);
    const refs = bad.observation.integration.transfers.map((t) => t.ref);
    expect(refs).toHaveLength(2);
    const once = invariant(bad.report, 'exactly-once');
    expect(once.verdict).toBe('fail');
    expect(once.evidence).toContainEqual({
      message: `provider payment PSP-TWICE became 2 transfers: ${refs.join(', ')}`,
      pspRef: 'PSP-TWICE',
    });
  });
});

describe('routing', () => {
  it('passes when an EU client lands on the EU server; fails, naming the account, when the general rule wins', async () => {
    const steps: StepInput[] = [...openedAccount('pro', 'DE'), { do: 'wait', ms: 1_000 }];
    const { good, bad } = await both('eu-pro', steps, mutant('jurisdiction-precedence'));
    expect(verdicts(good.report)).toEqual(allPass());
    expect(accountOf(good.observation, 'a1').serverId).toBe('mt4-live-eu');
    expect(verdicts(bad.report)).toEqual(allPass({ routing: 'fail' }));
    const at = accountOf(bad.observation, 'a1');
    expect(invariant(bad.report, 'routing').evidence).toEqual([
      {
        accountId: at.accountId,
        account: 'a1',
        serverId: 'mt5-live-global',
        login: at.login,
        message: 'pro for a client from DE is on mt5-live-global; routing[0] places it on mt4-live-eu',
      },
    ]);
  });

  it('catches the mis-routing in the EU routing incident', async () => {
    const s = incident('03');
    const good = await run(s, LITE, { detail: false });
    const bad = await run(s, mutant('jurisdiction-precedence'), { detail: false });
    expect(invariant(good.report, 'routing').summary).toBe(
      '6 accounts on the server and in the group the config maps them to',
    );
    const routing = invariant(bad.report, 'routing');
    expect(routing.verdict).toBe('fail');
    // a1 (DE, pro) and a2 (ES, eu-classic, offered on the EU server only: it still lands there).
    expect(routing.evidence.map((e) => e.account)).toEqual(['a1']);
  });
});

describe('gating', () => {
  it('passes when a withdrawal above the free margin is refused; fails, naming the ticket, when it is sent', async () => {
    const s = incident('05');
    const good = await run(s, LITE, { detail: false });
    const bad = await run(s, mutant('no-free-margin'), { detail: false });
    expect(verdicts(good.report)).toEqual(allPass());
    expect(good.observation.integration.transfers.map((t) => [t.kind, t.amountCents, t.status])).toEqual([
      ['deposit', 200_000, 'posted'],
      ['withdrawal', 150_000, 'rejected'],
      ['withdrawal', 10_000, 'posted'],
    ]);
    expect(verdicts(bad.report)).toEqual(allPass({ gating: 'fail' }));
    const at = accountOf(bad.observation, 'a1');
    // Both withdrawals went out unchecked: the second took the account's free margin below zero.
    const withdrawals = managerOps(bad.observation, 'a1').filter((op) => op.amountCents < 0);
    const refs = bad.observation.integration.transfers.filter((t) => t.kind === 'withdrawal').map((t) => t.ref);
    expect(withdrawals.map((op) => [op.amountCents, op.comment])).toEqual([
      [-150_000, refs[0]],
      [-10_000, refs[1]],
    ]);
    const gating = invariant(bad.report, 'gating');
    expect(gating.summary).toBe('2 gate(s) passed that should not have');
    expect(gating.evidence.map(({ message: _m, ...where }) => where)).toEqual(
      withdrawals.map((op) => ({
        serverId: 'mt4-live-eu',
        login: at.login,
        accountId: at.accountId,
        account: 'a1',
        ticket: op.ticket,
      })),
    );
    expect(gating.evidence[0]?.message).toMatch(
      new RegExp(
        `^withdrawal 1500\\.00 "${refs[0]}" with free margin \\d+\\.\\d\\d; the integration never read the free margin$`,
      ),
    );
    expect(gating.evidence[1]?.message).toMatch(
      new RegExp(
        `^withdrawal 100\\.00 "${refs[1]}" with free margin -\\d+\\.\\d\\d; the integration never read the free margin$`,
      ),
    );
  });

  it('passes when a live account waits for KYC; fails, naming the account, when it is opened before', async () => {
    const steps: StepInput[] = [
      { do: 'client', id: 'c1', country: 'CH' },
      { do: 'open', id: 'a1', client: 'c1', product: 'pro' },
      { do: 'wait', ms: 60_000 },
    ];
    const { good, bad } = await both('kyc', steps, mutant('kyc-skip-product'));
    expect(verdicts(good.report)).toEqual(allPass());
    expect(good.observation.openRequests.map((r) => r.refused)).toEqual(['KYC_REQUIRED']);
    expect(verdicts(bad.report)).toEqual(allPass({ gating: 'fail' }));
    const at = accountOf(bad.observation, 'a1');
    expect(invariant(bad.report, 'gating').evidence).toEqual([
      {
        account: 'a1',
        accountId: at.accountId,
        serverId: 'mt5-live-global',
        login: at.login,
        message:
          'pro needs an approved KYC; the client\'s was "none" when the account was created on mt5-live-global (requested while "none")',
      },
    ]);
  });
});

describe('gating and KYC decisions the integration may not have received', () => {
  /** KYC approved, an account requested while the server is down (so created later), then a rejection. */
  const LATE_REJECTION = (crash: boolean): StepInput[] => [
    { do: 'client', id: 'c1', country: 'DE' },
    { do: 'kyc', client: 'c1', decision: 'approved' },
    { do: 'server-restart', server: 'mt4-live-eu', downtimeMs: 300_000 },
    { do: 'open', id: 'a1', client: 'c1', product: 'eu-classic' },
    { do: 'wait', ms: 1_000 },
    ...(crash ? [{ do: 'crash', restartAfterMs: 60_000 } as const] : []),
    { do: 'kyc', client: 'c1', decision: 'rejected' },
    { do: 'wait', ms: 600_000 },
  ];

  it('does not count a rejection sent while the integration was down', async () => {
    for (const factory of [LITE, mtproofIntegration()]) {
      const { report, observation } = await run(script('kyc-down', LATE_REJECTION(true)), factory, { detail: false });
      expect(observation.clients[0]?.kyc.map((k) => [k.decision, k.unanswered ?? false])).toEqual([
        ['approved', false],
        ['rejected', true],
      ]);
      expect(accountOf(observation, 'a1').serverId).toBe('mt4-live-eu');
      expect(verdicts(report)).toEqual(allPass());
    }
  });

  it('counts a rejection the integration acknowledged and then ignored', async () => {
    const ignores = wrap(LITE, (inner) => ({
      setKyc: async (clientId, decision) =>
        decision === 'rejected' ? { ok: true, value: undefined } : inner.setKyc(clientId, decision),
    }));
    const { report, observation } = await run(script('kyc-ignored', LATE_REJECTION(false)), ignores, {
      detail: false,
    });
    const at = accountOf(observation, 'a1');
    expect(invariant(report, 'gating').evidence).toEqual([
      {
        account: 'a1',
        accountId: at.accountId,
        serverId: 'mt4-live-eu',
        login: at.login,
        message:
          'eu-classic needs an approved KYC; the client\'s was "rejected" when the account was created on mt4-live-eu (requested while "approved")',
      },
    ]);
  });
});

describe('reconciliation', () => {
  const DEALER_EDITS: StepInput[] = [
    ...openedAccount('global-standard', 'GB'),
    { do: 'deposit', account: 'a1', amountCents: 100_000 },
    { do: 'wait', ms: 60_000 },
    { do: 'dealer-credit', account: 'a1', amountCents: 5_000, comment: 'bonus' },
    { do: 'dealer-balance', account: 'a1', amountCents: 2_500, comment: 'compensation' },
    { do: 'wait', ms: 60_000 },
  ];

  it('passes when every dealer edit is reported; fails, naming the ticket, when a credit edit is missed', async () => {
    const { good, bad } = await both('dealer', DEALER_EDITS, mutant('recon-ignores-credit'));
    const at = accountOf(bad.observation, 'a1');
    const dealerOps = bad.observation.servers
      .find((s) => s.id === at.serverId)
      ?.ops.get(at.login)
      ?.filter((op) => op.actor.by === 'dealer');
    expect(dealerOps?.map((op) => [op.kind, op.amountCents])).toEqual([
      ['credit', 5_000],
      ['balance', 2_500],
    ]);
    const [credit, balance] = dealerOps ?? [];
    expect(verdicts(good.report)).toEqual(allPass());
    expect(good.observation.integration.reconciliation?.findings.map((f) => [f.class, f.ticket]).sort()).toEqual([
      ['unknown_operation', credit?.ticket],
      ['unknown_operation', balance?.ticket],
    ]);
    expect(invariant(good.report, 'reconciliation').summary).toBe(
      '2 finding(s) = the 2 discrepancies the scenario caused',
    );
    expect(verdicts(bad.report)).toEqual(allPass({ reconciliation: 'fail' }));
    expect(invariant(bad.report, 'reconciliation').evidence).toEqual([
      {
        message: `missed: expected a unknown_operation finding: dealer credit edit 5000 "bonus" (ticket ${credit?.ticket})`,
        serverId: 'mt5-live-global',
        login: at.login,
        accountId: at.accountId,
        account: 'a1',
        ticket: credit?.ticket,
      },
    ]);
  });

  it('fails on a false alarm', async () => {
    const alarmed = wrap(LITE, (inner) => ({
      reconcile: async () => {
        const answer = await inner.reconcile();
        if (!answer.ok) return answer;
        const bogus = {
          class: 'psp_only' as const,
          serverId: null,
          login: null,
          ref: null,
          ticket: null,
          pspRef: 'PSP-NEVER',
          detail: 'made up',
        };
        return { ok: true, value: { ...answer.value, findings: [...answer.value.findings, bogus] } };
      },
    }));
    const { bad } = await both('false-alarm', DEALER_EDITS.slice(0, 6), alarmed);
    const reconciliation = invariant(bad.report, 'reconciliation');
    expect(reconciliation.verdict).toBe('fail');
    expect(reconciliation.evidence).toEqual([{ message: 'false alarm: psp_only: made up', pspRef: 'PSP-NEVER' }]);
  });

  it('fails when the final reconciliation is refused, and is unknown when it is partial', async () => {
    const steps = openedAccount('global-standard', 'GB');
    const refused = wrap(LITE, () => ({
      reconcile: async () => ({ ok: false, code: 'NOPE', message: 'not today' }),
    }));
    const partial = wrap(LITE, (inner) => ({
      reconcile: async () => {
        const answer = await inner.reconcile();
        return answer.ok ? { ok: true, value: { ...answer.value, partial: true } } : answer;
      },
    }));
    const a = await run(script('refused', steps), refused, { detail: false });
    expect(invariant(a.report, 'reconciliation')).toEqual({
      name: 'reconciliation',
      verdict: 'fail',
      summary: 'the final reconciliation got no answer or was refused',
      evidence: [],
    });
    const b = await run(script('partial', steps), partial, { detail: false });
    expect(invariant(b.report, 'reconciliation').verdict).toBe('unknown');
    // Unknown is not a failure where a pass is expected.
    expect(b.report.verdict).toBe('pass');
  });
});

describe('audit', () => {
  const DEPOSITS: StepInput[] = [
    ...openedAccount('eu-classic', 'IT'),
    { do: 'deposit', account: 'a1', amountCents: 10_000 },
    { do: 'deposit', account: 'a1', amountCents: 20_000 },
    { do: 'wait', ms: 60_000 },
  ];

  it('passes when every call is audited; fails, naming the ticket, when a postBalance is missing from the log', async () => {
    const forgetful = wrap(LITE, (inner) => ({
      audit: async () =>
        (await inner.audit?.())?.filter((row) => !(row.op === 'postBalance' && row.request.amountCents === 20_000)) ??
        [],
    }));
    const { good, bad } = await both('audit', DEPOSITS, forgetful);
    expect(verdicts(good.report)).toEqual(allPass());
    expect(invariant(good.report, 'audit').summary).toMatch(/^\d+ audited calls cover every server operation/);
    expect(verdicts(bad.report)).toEqual(allPass({ audit: 'fail' }));
    const at = accountOf(bad.observation, 'a1');
    const op = managerOps(bad.observation, 'a1').find((o) => o.amountCents === 20_000);
    expect(invariant(bad.report, 'audit').evidence).toEqual([
      {
        serverId: 'mt4-live-eu',
        login: at.login,
        ticket: op?.ticket,
        message: `balance 200.00 "${op?.comment}" on the server has no postBalance in the audit log`,
      },
    ]);
  });

  it('fails when the manager password appears in a log line, without repeating it', async () => {
    const leaky = wrap(LITE, (inner) => ({
      run: (rt) => {
        rt.log(`connecting to mt4-live-eu with password ${rt.secret('MTPROOF_MT4_LIVE_EU_PASSWORD')}`);
        return inner.run(rt);
      },
    }));
    const { bad } = await both('leak', DEPOSITS, leaky);
    expect(bad.observation.integration.logs[0]).toBe('connecting to mt4-live-eu with password Manager#1');
    expect(verdicts(bad.report)).toEqual(allPass({ audit: 'fail' }));
    const audit = invariant(bad.report, 'audit');
    expect(audit.summary).toBe('0 audit gap(s), 1 secret leak(s)');
    expect(audit.evidence).toEqual([{ message: "a secret (Ma…, 9 chars) appears in the integration's logs" }]);
    expect(JSON.stringify(bad.report)).not.toContain('Manager#1');
  });

  it('fails when a client account password appears in a log line', async () => {
    // The integration logs the initial password it gives each new account.
    const leaky = wrap(LITE, (inner) => ({
      run: (rt) =>
        inner.run({
          ...rt,
          manager: (serverId) => {
            const api = rt.manager(serverId);
            return new Proxy(api, {
              get: (target, key, receiver) =>
                key === 'createAccount'
                  ? (input: Parameters<typeof api.createAccount>[0]) => {
                      rt.log(`new account for ${input.email}, password ${input.password}`);
                      return target.createAccount(input);
                    }
                  : Reflect.get(target, key, receiver),
            });
          },
        }),
    }));
    const { bad } = await both('account-password', DEPOSITS, leaky);
    const [account] = bad.observation.servers.flatMap((s) => s.accounts);
    const password = account?.passwordMain ?? '';
    expect(password.length).toBeGreaterThanOrEqual(8);
    expect(bad.observation.integration.logs.filter((l) => l.includes(password))).toHaveLength(1);
    expect(invariant(bad.report, 'audit').evidence).toEqual([
      { message: `a secret (${password.slice(0, 2)}…, ${password.length} chars) appears in the integration's logs` },
    ]);
  });

  it('is unknown for an integration without an audit log', async () => {
    const blind = wrap(LITE, () => ({}));
    const { bad } = await both('no-audit', DEPOSITS, (setup) => {
      const integration = blind(setup);
      delete integration.audit;
      return integration;
    });
    expect(invariant(bad.report, 'audit')).toMatchObject({ verdict: 'unknown', evidence: [] });
  });
});

describe('liveness', () => {
  /** An integration that accepts credits into a ledger of its own and settles them to `status`, never posting. */
  function shelving(status: 'pending' | 'review', alert: boolean): IntegrationFactory {
    return wrap(LITE, (inner) => {
      const shelved: TransferView[] = [];
      return {
        credit: async (input) => {
          const ref = `SHELF-${shelved.length + 1}`;
          shelved.push({ ...input, ref, kind: 'credit', pspRef: null, status });
          return { ok: true, value: { ref } };
        },
        transfers: async () => [...(await inner.transfers()), ...shelved],
        alerts: async () => [
          ...(await inner.alerts()),
          ...(alert ? shelved.map((t) => ({ kind: 'review', subject: t.ref, message: 'look', atMs: 0 })) : []),
        ],
      };
    });
  }
  const CREDIT: StepInput[] = [
    ...openedAccount('eu-classic', 'NL'),
    { do: 'credit', account: 'a1', amountCents: 5_000 },
    { do: 'wait', ms: 60_000 },
  ];

  it('fails, naming the reference, when a transfer is still pending at the heal deadline', async () => {
    const { good, bad } = await both('pending', CREDIT, shelving('pending', false), { heal: { deadlineMs: 600_000 } });
    expect(verdicts(good.report)).toEqual(allPass());
    const accountId = accountOf(bad.observation, 'a1').accountId;
    expect(invariant(bad.report, 'liveness').evidence).toEqual([
      { ref: 'SHELF-1', accountId, message: 'credit SHELF-1 still pending at the deadline' },
    ]);
    expect(bad.observation.endMs - bad.report.startMs).toBeGreaterThanOrEqual(120_000 + 600_000);
  });

  it('fails when a transfer is in review and no alert names it; passes when one does', async () => {
    const silent = await run(script('review', CREDIT), shelving('review', false), { detail: false });
    const accountId = accountOf(silent.observation, 'a1').accountId;
    expect(invariant(silent.report, 'liveness').evidence).toEqual([
      { ref: 'SHELF-1', accountId, message: 'credit SHELF-1 is in review and no alert names it' },
    ]);
    expect(verdicts(silent.report)).toEqual(allPass({ liveness: 'fail' }));
    const alerted = await run(script('review', CREDIT), shelving('review', true), { detail: false });
    expect(invariant(alerted.report, 'liveness')).toMatchObject({
      verdict: 'pass',
      summary: '1 transfers settled by the deadline (1 in review, each alerted); 1 account requests resolved',
    });
  });

  it('fails when an account request is still pending', async () => {
    const stuck = wrap(LITE, (inner) => ({
      accounts: async () => (await inner.accounts()).map((a) => ({ ...a, status: 'pending' as const })),
    }));
    const { bad } = await both('stuck', openedAccount('eu-classic', 'NL'), stuck, { heal: { deadlineMs: 60_000 } });
    const view = bad.observation.integration.accounts[0];
    expect(invariant(bad.report, 'liveness').evidence).toContainEqual({
      accountId: view?.accountId,
      message: `account ${view?.accountId} (eu-classic) still pending at the deadline`,
    });
  });
});

describe('trade-sync', () => {
  it('passes when trades are synced through a stalled pump; fails, naming the tickets, without resubscribing', async () => {
    const s = incident('06');
    const good = await run(s, LITE, { detail: false });
    const bad = await run(s, mutant('no-resubscribe'), { detail: false });
    expect(verdicts(good.report)).toEqual(allPass());
    expect(invariant(good.report, 'trade-sync').summary).toBe('7 trade events on 2 accounts, each recorded once');
    expect(verdicts(bad.report)).toEqual(allPass({ 'trade-sync': 'fail' }));
    const sync = invariant(bad.report, 'trade-sync');
    expect(sync.evidence.length).toBeGreaterThan(0);
    for (const e of sync.evidence) {
      expect(e.message).toMatch(
        /^trade (open|close) of ticket \d+ on the server is missing from the integration's records$/,
      );
      const at = accountOf(bad.observation, e.account as string);
      expect([e.serverId, e.login]).toEqual([at.serverId, at.login]);
      expect(e.message).toContain(`ticket ${e.ticket} `);
    }
  });

  it('fails on a trade that did not happen and on one recorded twice', async () => {
    const steps: StepInput[] = [
      ...openedAccount('global-standard', 'AU'),
      { do: 'deposit', account: 'a1', amountCents: 500_000 },
      { do: 'wait', ms: 60_000 },
      { do: 'trade-open', id: 't1', account: 'a1' },
      { do: 'wait', ms: 60_000 },
    ];
    const inventive = wrap(LITE, (inner) => ({
      trades: async () => {
        const list = (await inner.trades?.()) ?? [];
        const first = list[0];
        return first === undefined ? list : [...list, first, { ...first, ticket: 999_999, action: 'close' }];
      },
    }));
    const { good, bad } = await both('trades', steps, inventive);
    expect(invariant(good.report, 'trade-sync').summary).toBe('1 trade events on 1 accounts, each recorded once');
    const at = accountOf(bad.observation, 'a1');
    const [open] = bad.observation.integration.trades ?? [];
    expect(invariant(bad.report, 'trade-sync').evidence).toEqual([
      {
        serverId: at.serverId,
        login: at.login,
        ticket: open?.ticket,
        message: `trade open of ticket ${open?.ticket} recorded 2 times`,
      },
      {
        serverId: at.serverId,
        login: at.login,
        ticket: 999_999,
        message: 'the integration has a trade close of ticket 999999 that did not happen',
      },
    ]);
  });
});

describe('the checkers', () => {
  it('are pure functions of the observation', async () => {
    const { observation, report } = await run(incident('02'), LITE, { detail: false });
    const again = Object.values(CHECKERS).map((check) => check(observation));
    expect(again).toEqual(report.invariants);
  });
});
