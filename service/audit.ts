import type { Result } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';
import type { Store } from './store/port.ts';

/**
 * The audit log: every call to a server, written to the store before it is sent (what, when, where, for
 * which transfer or account) and completed with the answer and its outcome. A crash in between leaves
 * the call visibly unanswered. Secrets never reach it: fields named like secrets are redacted, and any
 * string containing a known secret value is masked, whatever its field.
 */

/** Field names that may hold secrets: broad on purpose (data must not be named `key` or `auth…`). */
const SECRET_FIELD = /pass|secret|token|key|auth|credential/i;
export const REDACTED = '[redacted]';

export class AuditLog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #secrets: readonly string[];

  constructor(store: Store, clock: Clock, secrets: readonly string[]) {
    this.#store = store;
    this.#clock = clock;
    // Longest first, so a secret that contains another is masked whole.
    this.#secrets = secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  }

  async sent(serverId: string, op: string, request: Record<string, unknown>, subject: string | null): Promise<string> {
    const atMs = this.#clock.nowMs();
    return this.#store.transaction(async (tx) => {
      const id = `AU${String(await tx.nextValue('audit')).padStart(12, '0')}`;
      await tx.insert('audit', {
        id,
        atMs,
        serverId,
        op,
        request: this.redact(request) as Record<string, unknown>,
        subject,
        outcome: null,
        code: null,
        codeName: null,
        reason: null,
        answer: null,
        answeredMs: null,
      });
      return id;
    });
  }

  async answered(id: string, result: Result<unknown>): Promise<void> {
    const answeredMs = this.#clock.nowMs();
    const patch = result.ok
      ? { outcome: 'ok' as const, answer: this.#summary(result.value), code: null, codeName: null, reason: null }
      : {
          outcome: result.error.outcome,
          code: result.error.code,
          codeName: result.error.codeName,
          reason: result.error.reason,
          answer: this.redact({ detail: result.error.detail }) as Record<string, unknown>,
        };
    await this.#store.transaction((tx) => tx.update('audit', id, { ...patch, answeredMs }));
  }

  /** A deep copy with secret-named fields and secret values masked. */
  redact(value: unknown): unknown {
    return this.#copy(value, true);
  }

  /** A deep copy with secret values masked wherever they appear (field names kept: alerts, findings). */
  mask(value: unknown): unknown {
    return this.#copy(value, false);
  }

  #copy(value: unknown, byName: boolean): unknown {
    if (typeof value === 'string') {
      let out = value;
      for (const secret of this.#secrets) out = out.split(secret).join(REDACTED);
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => this.#copy(v, byName));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        // Handles (a subscription's close) are not data: leave them out.
        if (typeof v === 'function') continue;
        out[k] = byName && SECRET_FIELD.test(k) ? REDACTED : this.#copy(v, byName);
      }
      return out;
    }
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    return value;
  }

  #summary(value: unknown): Record<string, unknown> {
    // Lists (history, accounts) are summarised: the audit says what came back, not a copy of the server.
    if (Array.isArray(value)) return { items: value.length };
    if (value === undefined) return {};
    if (value !== null && typeof value === 'object') return this.redact(value) as Record<string, unknown>;
    return { value: this.redact(value) };
  }
}
