import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../../service/api/webhook.ts';
import {
  type ApiWorld,
  apiWorld,
  body,
  deliverWebhook,
  openAccountViaApi,
  transfers,
  WEBHOOK_SECRET,
  webhookConfig,
} from './helpers.ts';

let api: ApiWorld;
afterEach(async () => {
  await api?.app.close();
});

function payment(accountId: string, paymentId = 'pay_1', amountCents = 25_000): string {
  return JSON.stringify({
    id: `evt_${paymentId}`,
    type: 'payment.confirmed',
    data: { paymentId, accountId, amountCents, currency: 'USD' },
  });
}

const deliver = (raw: string, options: Parameters<typeof deliverWebhook>[2] = {}) => deliverWebhook(api, raw, options);

describe('the payment provider webhook', () => {
  it('turns a correctly signed payment.confirmed into a deposit keyed by the payment id, without an API key', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const accountId = await openAccountViaApi(api, 'wh');
    const r = await deliver(payment(accountId));
    expect(r.statusCode).toBe(200);
    expect(body(r)).toMatchObject({
      received: true,
      transfer: { kind: 'deposit', pspRef: 'pay_1', amountCents: 25_000 },
    });
    const [transfer] = await transfers(api);
    const done = await api.world.until(
      async () => (await api.world.service.transfer(transfer?.ref as string))?.state === 'done',
      600_000,
    );
    expect(done).toBe(true);
  });

  it('answers a replayed (retried) webhook with the same transfer, and posts it once', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const accountId = await openAccountViaApi(api, 'wr');
    const raw = payment(accountId, 'pay_2');
    const signedAtMs = api.world.scheduler.nowMs();
    const first = await deliver(raw, { signedAtMs });
    await api.world.runFor(60_000);
    const again = await deliver(raw, { signedAtMs });
    const resigned = await deliver(raw);
    expect([first.statusCode, again.statusCode, resigned.statusCode]).toEqual([200, 200, 200]);
    const ref = body<{ transfer: { ref: string } }>(first).transfer.ref;
    expect(body<{ transfer: { ref: string } }>(again).transfer.ref).toBe(ref);
    expect(body<{ transfer: { ref: string } }>(resigned).transfer.ref).toBe(ref);
    expect(await transfers(api)).toHaveLength(1);
  });

  it('checks the signature on the body as sent: its spacing and key order, not JSON written again', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const accountId = await openAccountViaApi(api, 'wraw');
    const raw = `{\n  "type" : "payment.confirmed",\n  "data": {"currency":"USD", "amountCents": 25000, "accountId": "${accountId}", "paymentId": "pay_raw"},\n  "id": "evt_raw"\n}\n`;
    const r = await deliver(raw);
    expect(r.statusCode).toBe(200);
    expect(body(r)).toMatchObject({ transfer: { pspRef: 'pay_raw', amountCents: 25_000 } });
  });

  it('refuses a bad signature, a missing one, a stale one and a tampered body with a coded 401', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const accountId = await openAccountViaApi(api, 'wb');
    const raw = payment(accountId, 'pay_3');
    const nowMs = api.world.scheduler.nowMs();
    const cases = [
      ['wrong secret', await deliver(raw, { secret: 'not-the-secret' }), 'mismatch'],
      ['no header', await deliver(raw, { signature: '' }), 'missing'],
      ['malformed header', await deliver(raw, { signature: 'sha256=abc' }), 'malformed'],
      ['stale', await deliver(raw, { signedAtMs: nowMs - 300_001 }), 'stale'],
      ['from the future', await deliver(raw, { signedAtMs: nowMs + 300_001 }), 'stale'],
      [
        'tampered body',
        await deliver(raw.replace('25000', '95000'), { signature: signWebhook(WEBHOOK_SECRET, raw, nowMs) }),
        'mismatch',
      ],
    ] as const;
    for (const [what, r, reason] of cases) {
      expect(r.statusCode, what).toBe(401);
      expect(body(r), what).toMatchObject({
        error: { code: 'MTP_WEBHOOK_SIGNATURE', issues: [{ path: 'headers.x-mtproof-signature', message: reason }] },
      });
    }
    expect(await transfers(api)).toHaveLength(0);
  });

  it('validates a signed event: unknown fields are named, other event types are acknowledged and ignored', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const bad = JSON.stringify({
      id: 'e1',
      type: 'payment.confirmed',
      data: { paymentId: 'p', accountId: 'A', amountCents: -5, currency: 'USD', fee: 1 },
    });
    const r = await deliver(bad);
    expect(r.statusCode).toBe(400);
    const paths = body<{ error: { issues: { path: string }[] } }>(r).error.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['data.amountCents', 'data.fee']));
    const other = await deliver(JSON.stringify({ id: 'e2', type: 'refund.created', data: {} }));
    expect(other.statusCode).toBe(200);
    expect(body(other)).toEqual({ received: true, ignored: 'event type refund.created is not handled' });
  });

  it('settles a posted withdrawal from payout.failed: refunded exactly once', async () => {
    api = await apiWorld({ broker: webhookConfig() });
    const accountId = await openAccountViaApi(api, 'wp');
    await deliver(payment(accountId, 'pay_4', 100_000));
    await api.world.until(async () => (await transfers(api)).every((t) => t.state === 'done'), 600_000);
    const w = await api.app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: api.auth('wp-1'),
      payload: { accountId, amountCents: 30_000, currency: 'USD' },
    });
    const { ref } = body<{ ref: string }>(w);
    await api.world.until(async () => (await api.world.service.transfer(ref))?.state === 'posted', 600_000);
    const event = JSON.stringify({ id: 'e3', type: 'payout.failed', data: { ref, payoutId: 'po_1' } });
    const r = await deliver(event);
    expect(r.statusCode).toBe(200);
    expect(body(r)).toMatchObject({ transfer: { ref, state: 'refunding' } });
    expect((await deliver(event)).statusCode).toBe(200);
    expect(
      await api.world.until(async () => (await api.world.service.transfer(ref))?.state === 'refunded', 600_000),
    ).toBe(true);
  });

  it('answers 501 saying how to enable it when psp.webhook is not configured', async () => {
    api = await apiWorld();
    const r = await api.app.inject({
      method: 'POST',
      url: '/v1/psp/webhook',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(r.statusCode).toBe(501);
    expect(body(r)).toMatchObject({ error: { code: 'MTP_WEBHOOK_NOT_CONFIGURED' } });
    expect(body<{ error: { message: string } }>(r).error.message).toContain('psp.webhook.secretEnv');
  });
});

describe('verifyWebhook', () => {
  const raw = '{"a":1}';
  const mac = (secret: string, signed: string) => createHmac('sha256', secret).update(signed).digest('hex');

  it('checks the timestamp as sent: the signed text, leading zeros included', () => {
    const header = `t=0001000,v1=${mac('s', `0001000.${raw}`)}`;
    expect(verifyWebhook({ secret: 's', header, rawBody: raw, nowMs: 1_000, toleranceMs: 10 })).toEqual({
      ok: true,
      timestampMs: 1_000,
    });
  });

  it.each([
    ['two timestamps', `t=1000,t=1000,v1=${mac('s', `1000.${raw}`)}`],
    ['a timestamp beyond a safe integer', `t=9999999999999999,v1=${mac('s', `9999999999999999.${raw}`)}`],
    ['no timestamp', `v1=${mac('s', `1000.${raw}`)}`],
    ['no v1', 't=1000'],
    ['a short v1', 't=1000,v1=abc'],
    ['no equals sign', 'garbage'],
  ])('refuses a malformed header: %s', (_what, header) => {
    expect(verifyWebhook({ secret: 's', header, rawBody: raw, nowMs: 1_000, toleranceMs: 10 })).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('accepts any of several v1 signatures (a secret being rotated)', () => {
    const raw = '{"a":1}';
    const good = signWebhook('s2', raw, 1_000).split(',')[1] as string;
    const header = `t=1000,v1=${'0'.repeat(64)},${good}`;
    expect(verifyWebhook({ secret: 's2', header, rawBody: raw, nowMs: 1_000, toleranceMs: 10 })).toEqual({
      ok: true,
      timestampMs: 1_000,
    });
    expect(verifyWebhook({ secret: 's3', header, rawBody: raw, nowMs: 1_000, toleranceMs: 10 })).toMatchObject({
      ok: false,
      reason: 'mismatch',
    });
  });
});
