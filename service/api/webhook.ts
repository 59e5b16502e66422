import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The payment provider's webhook signature: `X-Mtproof-Signature: t=<epoch ms>,v1=<hex>` where the hex is
 * HMAC-SHA256(secret, `${t}.${raw body}`). The timestamp is signed with the body, so a captured request
 * replayed later than the tolerance is refused; within it, the deposit is found again by the provider's
 * payment id (no second transfer). Several `v1=` entries may be given (a secret being rotated).
 */

export const SIGNATURE_HEADER = 'x-mtproof-signature';

export function signWebhook(secret: string, rawBody: string, timestampMs: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampMs}.${rawBody}`, 'utf8').digest('hex');
  return `t=${timestampMs},v1=${mac}`;
}

export type SignatureCheck =
  | { ok: true; timestampMs: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

export function verifyWebhook(options: {
  secret: string;
  header: string | undefined;
  rawBody: string;
  nowMs: number;
  toleranceMs: number;
}): SignatureCheck {
  const { header } = options;
  if (header === undefined || header === '') {
    return { ok: false, reason: 'missing', message: `no ${SIGNATURE_HEADER} header: the provider signs every call` };
  }
  // The timestamp as sent: the signature covers its text, not a number re-printed from it.
  const timestamps: string[] = [];
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') timestamps.push(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  // One timestamp, in milliseconds that fit a safe integer: two would leave open which one was signed.
  const [timestamp] = timestamps;
  if (timestamps.length !== 1 || timestamp === undefined || !/^\d{1,15}$/.test(timestamp) || signatures.length === 0) {
    return {
      ok: false,
      reason: 'malformed',
      message: `${SIGNATURE_HEADER} must be t=<epoch ms>,v1=<64 hex digits>`,
    };
  }
  const timestampMs = Number(timestamp);
  const skewMs = Math.abs(options.nowMs - timestampMs);
  if (skewMs > options.toleranceMs) {
    return {
      ok: false,
      reason: 'stale',
      message: `the signed timestamp is ${skewMs} ms away from now (tolerance ${options.toleranceMs} ms): a replayed or delayed call`,
    };
  }
  const expected = Buffer.from(
    createHmac('sha256', options.secret).update(`${timestamp}.${options.rawBody}`, 'utf8').digest('hex'),
    'utf8',
  );
  // Every candidate is compared in constant time, and all of them are: the timing says nothing of which matched.
  let matched = false;
  for (const signature of signatures) {
    const given = Buffer.from(signature, 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) return { ok: false, reason: 'mismatch', message: 'the signature does not match the body' };
  return { ok: true, timestampMs };
}
