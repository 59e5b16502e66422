import { createHmac } from 'node:crypto';
import type { Clock } from '../kit/clock.ts';
import { enqueueJob } from './jobs.ts';
import type { Logger } from './log.ts';
import { nextId } from './store/ids.ts';
import type { Tx } from './store/port.ts';
import type { AlertKind, AlertRow } from './store/schema.ts';

/**
 * Alerts: raised inside the transaction that records what went wrong (so an alert is never lost nor
 * raised for something that did not commit), deduplicated by key, and delivered to every sink by a
 * durable job that retries. Sinks: the log, and a webhook signed with HMAC-SHA256.
 */

export interface AlertSink {
  readonly name: string;
  deliver(alert: AlertRow): Promise<{ ok: true } | { ok: false; error: string }>;
}

export interface NewAlert {
  key: string;
  kind: AlertKind;
  severity: AlertRow['severity'];
  subject: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Masks known secret values in what is about to be stored or sent (`AuditLog.mask`). */
export type Mask = (value: unknown) => unknown;

/**
 * Records the alert and queues its delivery, unless an alert with the same key exists. It is masked of
 * secret values first, once for the store and every sink: it quotes server data (a dealer's comment),
 * which may hold anything.
 */
export async function raiseAlert(tx: Tx, nowMs: number, mask: Mask, alert: NewAlert): Promise<boolean> {
  if ((await tx.count('alerts', { key: alert.key })) > 0) return false;
  const id = await nextId(tx, 'alerts', 'AL', 10);
  const masked = mask({ ...alert, details: alert.details ?? {} }) as Required<NewAlert>;
  await tx.insert('alerts', { ...masked, id, atMs: nowMs, deliveredTo: [] });
  await enqueueJob(tx, 'deliver-alert', id, nowMs);
  return true;
}

export class LogAlertSink implements AlertSink {
  readonly name = 'log';
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  async deliver(alert: AlertRow): Promise<{ ok: true }> {
    this.#log({
      level: alert.severity === 'critical' ? 'error' : 'warn',
      msg: `alert ${alert.kind}: ${alert.message}`,
      alert: { id: alert.id, kind: alert.kind, subject: alert.subject, details: alert.details },
    });
    return { ok: true };
  }
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number }>;

export interface WebhookOptions {
  url: string;
  /** Signs each body: header `X-Mtproof-Signature: sha256=<hex HMAC of the body>`. */
  secret?: string;
  timeoutMs: number;
  fetch: FetchLike;
  clock: Clock;
}

export class WebhookAlertSink implements AlertSink {
  readonly name = 'webhook';
  readonly #options: WebhookOptions;

  constructor(options: WebhookOptions) {
    this.#options = options;
  }

  async deliver(alert: AlertRow): Promise<{ ok: true } | { ok: false; error: string }> {
    const { url, secret, timeoutMs, fetch, clock } = this.#options;
    const body = JSON.stringify({ alert });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-mtproof-alert': alert.id };
    if (secret !== undefined) headers['x-mtproof-signature'] = `sha256=${signBody(secret, body)}`;
    const abort = new AbortController();
    const timedOut = clock.sleep(timeoutMs).then(() => 'timeout' as const);
    try {
      const answer = await Promise.race([
        fetch(url, { method: 'POST', headers, body, signal: abort.signal }),
        timedOut,
      ]);
      if (answer === 'timeout') {
        abort.abort();
        return { ok: false, error: `no answer within ${timeoutMs} ms` };
      }
      return answer.ok ? { ok: true } : { ok: false, error: `HTTP ${answer.status}` };
    } catch (error) {
      // The URL may carry a token: report the failure without it.
      return { ok: false, error: `request failed: ${(error as Error).name}` };
    }
  }
}

export function signBody(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}
