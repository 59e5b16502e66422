import { createHash } from 'node:crypto';
import type { CommandResult } from './commands.ts';
import { refuse } from './commands.ts';
import type { Tx } from './store/port.ts';
import type { IdempotencyRow } from './store/schema.ts';

/**
 * Idempotency keys of the HTTP API, kept permanently in the `idempotency` table. The service records a key
 * in the same transaction as the command's effect, so a crash can never leave a deposit without its key nor
 * a key without its deposit; a request that comes again with the key finds the row and is answered with the
 * first answer, or refused when its body differs.
 */

export interface IdempotencyRequest {
  /** The client's Idempotency-Key. */
  key: string;
  method: string;
  /** The route pattern (`/v1/clients/:id/kyc`): a key is scoped to one operation. */
  route: string;
  /** The request as the command sees it (path parameters included): compared when the key comes again. */
  body: Record<string, unknown>;
  /** The HTTP status of a result. Pure: the replay's status is the first answer's. */
  status: (result: CommandResult<unknown>) => number;
}

/** A command's answer; `replay` when it is the stored answer to an earlier request with the same key. */
export type Answer<T> = CommandResult<T> & { replay?: { status: number; firstMs: number } };

export interface CommandOptions {
  idempotency?: IdempotencyRequest;
}

/** JSON with object keys sorted and `undefined` members dropped: equal requests have equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonical(v)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = canonical(member);
    }
    return out;
  }
  return value;
}

export function bodyHash(body: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export function idempotencyId(method: string, route: string, key: string): string {
  return `${method} ${route} ${key}`;
}

/** Dotted paths (`data.amountCents`, `items[2]`) where `a` and `b` differ, members present on one side only included. */
export function differingPaths(a: unknown, b: unknown, at = ''): string[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...differingPaths(a[i], b[i], `${at}[${i}]`));
    return out;
  }
  if (isObject(a) && isObject(b)) {
    const out: string[] = [];
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      out.push(...differingPaths(a[key], b[key], at === '' ? key : `${at}.${key}`));
    }
    return out;
  }
  return canonicalJson(a) === canonicalJson(b) ? [] : [at === '' ? '(root)' : at];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The answer already given to this key, in `tx`: the stored one when the body is the same, a coded
 * MTP_IDEMPOTENCY_CONFLICT naming the differing fields when it is not, or null when the key is new.
 */
export async function storedAnswer<T>(tx: Tx, request: IdempotencyRequest): Promise<Answer<T> | null> {
  const row = await tx.get('idempotency', idempotencyId(request.method, request.route, request.key));
  if (row === undefined) return null;
  const body = JSON.parse(canonicalJson(request.body)) as Record<string, unknown>;
  if (row.bodyHash !== bodyHash(body)) {
    const paths = differingPaths(row.body, body);
    return refuse(
      'MTP_IDEMPOTENCY_CONFLICT',
      `Idempotency-Key ${request.key} was first used on ${request.method} ${request.route} with another body (${paths.join(', ')} differ): use a new key for a new request`,
      paths.map((path) => ({ path, message: 'differs from the first request with this key' })),
    );
  }
  return { ...(row.response as CommandResult<T>), replay: { status: row.status, firstMs: row.createdMs } };
}

/** Records the answer to a key, in the transaction that made the command's effect. */
export async function recordAnswer(
  tx: Tx,
  request: IdempotencyRequest,
  result: CommandResult<unknown>,
  nowMs: number,
): Promise<void> {
  const body = JSON.parse(canonicalJson(request.body)) as Record<string, unknown>;
  const row: IdempotencyRow = {
    id: idempotencyId(request.method, request.route, request.key),
    key: request.key,
    method: request.method,
    route: request.route,
    bodyHash: bodyHash(body),
    body,
    status: request.status(result),
    // Stored as JSON: a replay answers what the first request was answered, not the state of today.
    response: JSON.parse(JSON.stringify(result)) as Record<string, unknown>,
    createdMs: nowMs,
  };
  await tx.insert('idempotency', row);
}
