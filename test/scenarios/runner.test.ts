import { describe, expect, it } from 'vitest';
import type { IntegrationFactory } from '../../scenarios/integration.ts';
import { mtproofIntegration } from '../../scenarios/integrations/mtproof.ts';
import { liteIntegration } from '../../scenarios/mutants/index.ts';
import type { RunReport } from '../../scenarios/result.ts';
import {
  accountOf,
  allPass,
  incident,
  invariant,
  managerOps,
  openedAccount,
  run,
  script,
  verdicts,
  wrap,
} from './helpers.ts';

/** The runner: one script against the simulated cluster and an integration, in virtual time. */

const MTPROOF = mtproofIntegration();
const LITE = liteIntegration();

function withoutWall(report: RunReport): Omit<RunReport, 'wallMs'> {
  const { wallMs: _w, ...rest } = report;
  return rest;
}

/** Timeline entries of a kind, with their time relative to the run's start. */
function entries(report: RunReport, kind: string): { at: number; text: string }[] {
  return report.timeline.filter((e) => e.kind === kind).map((e) => ({ at: e.atMs - report.startMs, text: e.text }));
}

describe('runScript is deterministic', () => {
  it('gives the same trace hash and the same report when a script runs twice', async () => {
    const s = incident('01');
    const first = await run(s, MTPROOF);
    const second = await run(s, MTPROOF);
    expect(second.report.traceHash).toBe(first.report.traceHash);
    expect(first.report.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(withoutWall(second.report)).toEqual(withoutWall(first.report));
    expect(first.report.timeline.length).toBeGreaterThan(20);
    expect(first.report.series.operations.length).toBeGreaterThan(10);
  });

  it('gives the same trace hash without the detail a report needs', async () => {
    const s = incident('04');
    const full = await run(s, MTPROOF, { detail: true });
    const bare = await run(s, MTPROOF, { detail: false });
    expect(bare.report.traceHash).toBe(full.report.traceHash);
    expect(bare.report.timeline).toEqual([]);
    expect(bare.report.series).toEqual({ faults: [], operations: [] });
    expect(bare.report.invariants).toEqual(full.report.invariants);
    expect(bare.report.stats).toEqual(full.report.stats);
  });

  it('gives another trace for another seed', async () => {
    const s = incident('01');
    const a = await run(s, LITE);
    const b = await run({ ...s, seed: 'another-seed' }, LITE);
    expect(b.report.traceHash).not.toBe(a.report.traceHash);
  });
});

describe('steps', () => {
  it('skips and counts the steps whose entity does not exist', async () => {
    const s = script('skips', [
      ...openedAccount('eu-classic', 'DE'),
      { do: 'deposit', account: 'a9', amountCents: 10_000 },
      { do: 'kyc', client: 'c7', decision: 'approved' },
      { do: 'trade-close', trade: 't1' },
      { do: 'deposit', account: 'a1', amountCents: 10_000 },
      { do: 'wait', ms: 60_000 },
    ]);
    const { report, observation } = await run(s, MTPROOF);
    expect(report.stats.skipped).toBe(3);
    expect(entries(report, 'skipped').map((e) => e.text)).toEqual([
      'deposit skipped: account a9 was never accepted',
      'kyc skipped: client c7 is not registered',
      'trade-close skipped: trade t1 was never opened',
    ]);
    expect(report.verdict).toBe('pass');
    expect(managerOps(observation, 'a1').map((op) => op.amountCents)).toEqual([10_000]);
  });

  it('kills the integration on a crash step and starts it again restartAfterMs later', async () => {
    const s = script('crash', [
      ...openedAccount('eu-classic', 'DE'),
      { do: 'crash', restartAfterMs: 20_000 },
      { do: 'crash' },
      { do: 'wait', ms: 30_000 },
      { do: 'crash' },
      { do: 'wait', ms: 60_000 },
    ]);
    const { report, observation } = await run(s, MTPROOF);
    expect(report.stats.crashes).toBe(2);
    expect(observation.crashes.map((at) => at - report.startMs)).toEqual([60_000, 90_000]);
    expect(entries(report, 'crash')).toEqual([
      { at: 60_000, text: 'integration killed; restart in 20000 ms' },
      { at: 90_000, text: 'integration killed; restart in 5000 ms' },
    ]);
    expect(entries(report, 'restart')).toEqual([
      { at: 80_000, text: 'integration started again (incarnation 2)' },
      { at: 95_000, text: 'integration started again (incarnation 3)' },
    ]);
    // The second crash came while the integration was already down.
    expect(entries(report, 'skipped').map((e) => e.text)).toEqual(['crash skipped: the integration is already down']);
    expect(report.verdict).toBe('pass');
  });

  it('ends a run with the integration running even when its last crash restarts it after the heal deadline', async () => {
    const s = script('late-restart', [
      ...openedAccount('eu-classic', 'DE'),
      { do: 'deposit', account: 'a1', amountCents: 10_000 },
      { do: 'wait', ms: 60_000 },
      { do: 'crash', restartAfterMs: 8_000_000 },
    ]);
    const { report, observation } = await run(s, MTPROOF);
    expect(entries(report, 'restart')).toEqual([{ at: 8_120_000, text: 'integration started again (incarnation 2)' }]);
    expect(entries(report, 'no-answer')).toEqual([]);
    expect(observation.integration.reconciliation?.findings).toEqual([]);
    expect(verdicts(report)).toEqual(allPass());
  });

  it('delivers again, after the restart, a deposit webhook that got no answer while the integration was down; posts it once', async () => {
    const s = script(
      'webhook-while-down',
      [
        ...openedAccount('eu-classic', 'DE'),
        { do: 'crash', restartAfterMs: 90_000 },
        { do: 'deposit', account: 'a1', amountCents: 25_000, pspRef: 'CARD-DOWN' },
        { do: 'wait', ms: 120_000 },
        { do: 'wait', ms: 60_000 },
      ],
      { answerTimeoutMs: 2_000 },
    );
    const { report, observation } = await run(s, MTPROOF);
    const [webhook] = observation.webhooks;
    expect(webhook?.deliveries).toBe(2);
    expect(webhook?.answered?.ok).toBe(true);
    expect(entries(report, 'no-answer')).toEqual([
      { at: 60_000, text: 'deposit webhook CARD-DOWN: the integration is down' },
    ]);
    // Due a minute after the first delivery; delivered before the first step after the restart.
    expect(entries(report, 'request').filter((e) => e.text.startsWith('deposit webhook'))).toEqual([
      { at: 60_000, text: 'deposit webhook CARD-DOWN' },
      { at: 180_000, text: 'deposit webhook CARD-DOWN (retry 1)' },
    ]);
    const ops = managerOps(observation, 'a1');
    expect(ops.map((op) => [op.kind, op.amountCents])).toEqual([['balance', 25_000]]);
    expect(observation.integration.transfers.map((t) => [t.pspRef, t.status])).toEqual([['CARD-DOWN', 'posted']]);
    expect(verdicts(report)).toEqual(allPass());
  });

  it('delivers again a webhook whose answer did not come within answerTimeoutMs before a crash; posts it once', async () => {
    // The first incarnation's webhook handler hangs (a slow database); the crash drops the hung call.
    let incarnation = 0;
    const hung: IntegrationFactory = wrap(LITE, (inner, runtime) => ({
      run: (rt) => {
        incarnation++;
        return inner.run(rt);
      },
      deposit: async (input) => {
        if (incarnation === 1) await runtime()?.clock.sleep(3_600_000);
        return inner.deposit(input);
      },
    }));
    const s = script(
      'webhook-hung',
      [
        ...openedAccount('global-standard', 'GB'),
        { do: 'deposit', account: 'a1', amountCents: 40_000, pspRef: 'CARD-HUNG' },
        { do: 'crash', restartAfterMs: 10_000 },
        { do: 'wait', ms: 120_000 },
        { do: 'wait', ms: 60_000 },
      ],
      { answerTimeoutMs: 2_000 },
    );
    const { report, observation } = await run(s, hung);
    expect(entries(report, 'no-answer')).toEqual([
      { at: 62_000, text: 'deposit webhook CARD-HUNG: no answer within 2000 ms' },
    ]);
    expect(entries(report, 'crash').map((e) => e.at)).toEqual([62_000]);
    expect(entries(report, 'request').filter((e) => e.text.startsWith('deposit webhook'))).toEqual([
      { at: 60_000, text: 'deposit webhook CARD-HUNG' },
      { at: 182_000, text: 'deposit webhook CARD-HUNG (retry 1)' },
    ]);
    expect(observation.webhooks[0]?.deliveries).toBe(2);
    expect(observation.webhooks[0]?.answered?.ok).toBe(true);
    expect(managerOps(observation, 'a1').map((op) => op.amountCents)).toEqual([40_000]);
    expect(observation.integration.transfers.map((t) => [t.pspRef, t.status])).toEqual([['CARD-HUNG', 'posted']]);
    expect(verdicts(report)).toEqual(allPass());
  });

  it('expects a provider-only finding for a lost webhook, and our service reports it', async () => {
    const s = script('lost-webhook', [
      ...openedAccount('global-standard', 'GB'),
      { do: 'deposit', account: 'a1', amountCents: 45_000, pspRef: 'PSP-LOST', webhook: 'lost' },
      { do: 'deposit', account: 'a1', amountCents: 30_000, pspRef: 'PSP-OK' },
      { do: 'wait', ms: 60_000 },
    ]);
    const { report, observation } = await run(s, MTPROOF);
    expect(observation.webhooks.map((w) => [w.pspRef, w.deliveries])).toEqual([
      ['PSP-LOST', 0],
      ['PSP-OK', 1],
    ]);
    const findings = observation.integration.reconciliation?.findings ?? [];
    expect(findings.map((f) => [f.class, f.pspRef])).toEqual([['psp_only', 'PSP-LOST']]);
    expect(invariant(report, 'reconciliation').verdict).toBe('pass');
    expect(invariant(report, 'reconciliation').summary).toBe('1 finding(s) = the 1 discrepancies the scenario caused');
    expect(managerOps(observation, 'a1').map((op) => op.amountCents)).toEqual([30_000]);
    expect(report.verdict).toBe('pass');
  });

  it('runs the integration with a deploy.groups mis-deployment and judges routing by the certified config', async () => {
    const steps = openedAccount('global-standard', 'SG');
    const deploy = { groups: { 'global-standard': { 'mt5-live-global': 'real\\pro-usd' } } };
    const { report, observation } = await run(script('deployed', steps, { deploy }), MTPROOF);
    const at = accountOf(observation, 'a1');
    expect(observation.integration.accounts.map((a) => a.group)).toEqual(['real\\pro-usd']);
    const onServer = observation.servers.find((x) => x.id === at.serverId)?.accounts.find((a) => a.login === at.login);
    expect(onServer?.group).toBe('real\\pro-usd');
    const routing = invariant(report, 'routing');
    expect(routing.verdict).toBe('fail');
    expect(routing.evidence[0]).toMatchObject({
      account: 'a1',
      accountId: at.accountId,
      serverId: 'mt5-live-global',
      login: at.login,
    });
    expect(routing.evidence[0]?.message).toContain('the config maps it to real\\standard-usd');
    expect(report.verdict).toBe('fail');
    // The same, expected by the script: the run passes.
    const expected = await run(script('deployed', steps, { deploy, expect: { routing: 'fail' } }), MTPROOF);
    expect(expected.report.verdict).toBe('pass');
    // Without the mis-deployment the account sits in the certified group.
    const plain = await run(script('deployed', steps), MTPROOF);
    expect(plain.observation.integration.accounts.map((a) => a.group)).toEqual(['real\\standard-usd']);
    expect(invariant(plain.report, 'routing').verdict).toBe('pass');
  });

  it('refuses a deploy.groups entry for a product the config does not have', async () => {
    const s = script('deployed', [{ do: 'wait', ms: 1000 }], { deploy: { groups: { nope: { x: 'y' } } } });
    await expect(run(s, MTPROOF)).rejects.toMatchObject({
      code: 'MTP_SCRIPT_INVALID',
      message: 'deploy.groups.nope: no such product',
    });
  });
});

describe('an integration that fails', () => {
  it('is judged on liveness when a command throws', async () => {
    const broken = wrap(LITE, () => ({
      deposit: async () => {
        throw new Error('webhook handler exploded');
      },
    }));
    const s = script('throws', [
      ...openedAccount('eu-classic', 'DE'),
      { do: 'deposit', account: 'a1', amountCents: 10_000, pspRef: 'CARD-X' },
      { do: 'wait', ms: 60_000 },
    ]);
    const { report, observation } = await run(s, broken);
    const liveness = invariant(report, 'liveness');
    expect(liveness.verdict).toBe('fail');
    // The provider retries a webhook that got no answer: five deliveries, each threw.
    expect(observation.webhooks[0]?.deliveries).toBe(5);
    expect(liveness.evidence.map((e) => e.message)).toEqual([
      'deposit webhook CARD-X never answered in 5 deliveries',
      ...Array.from({ length: 5 }, (_, i) =>
        i === 0
          ? 'deposit webhook CARD-X threw: webhook handler exploded'
          : `deposit webhook CARD-X (retry ${i}) threw: webhook handler exploded`,
      ),
    ]);
    expect(liveness.evidence[0]).toMatchObject({ pspRef: 'CARD-X', account: 'a1' });
    expect(verdicts(report)).toEqual(allPass({ liveness: 'fail' }));
    expect(report.verdict).toBe('fail');
  });

  it('is judged on liveness when its run() fails, and is started again like a supervised process', async () => {
    let incarnation = 0;
    const dies = wrap(LITE, (inner) => ({
      run: async (rt) => {
        const loops = inner.run(rt);
        if (++incarnation === 1) {
          await rt.clock.sleep(30_000);
          throw new Error('disk full');
        }
        await loops;
      },
    }));
    const s = script('run-fails', [
      ...openedAccount('eu-classic', 'DE'),
      { do: 'deposit', account: 'a1', amountCents: 10_000 },
      { do: 'wait', ms: 60_000 },
    ]);
    const { report, observation } = await run(s, dies);
    expect(observation.thrown).toEqual(['its run() failed: disk full']);
    expect(entries(report, 'crash')).toEqual([
      { at: 30_000, text: 'integration stopped: its run() failed: disk full' },
    ]);
    expect(entries(report, 'restart')).toEqual([{ at: 35_000, text: 'integration started again (incarnation 2)' }]);
    expect(report.stats.crashes).toBe(0);
    expect(invariant(report, 'liveness').evidence).toEqual([{ message: 'its run() failed: disk full' }]);
    expect(verdicts(report)).toEqual(allPass({ liveness: 'fail' }));
    // The work itself got done by the second incarnation.
    expect(managerOps(observation, 'a1').map((op) => op.amountCents)).toEqual([10_000]);
  });
});
