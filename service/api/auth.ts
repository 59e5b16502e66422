import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../kit/clock.ts';
import { MtproofError } from '../../kit/errors.ts';
import { nextId } from '../store/ids.ts';
import type { Store, Tx } from '../store/port.ts';
import type { ApiKeyRow } from '../store/schema.ts';

/**
 * API keys: `Authorization: Bearer KEY` on every `/v1` route but the provider's webhook. Only the key's
 * SHA-256 is stored (the `api_keys` table), with its first characters to tell keys apart in a listing; the
 * key itself is shown once, when it is created. A key is rotated by creating its successor and revoking it
 * in one transaction.
 */

/** Characters a key may have (printable ASCII without spaces): what fits an HTTP header unquoted. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;
export const MIN_KEY_LENGTH = 24;
const PREFIX_LENGTH = 12;

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key: `mtp_` and 32 random bytes from the operating system, base64url (256 bits). */
export function generateKey(bytes: (n: number) => Buffer = randomBytes): string {
  return `mtp_${bytes(32).toString('base64url')}`;
}

/** Why `key` cannot be a key (too short, characters a header cannot carry), or null when it can. */
export function keyProblem(key: string): string | null {
  if (key.length < MIN_KEY_LENGTH) return `at least ${MIN_KEY_LENGTH} characters (it has ${key.length})`;
  if (!KEY_PATTERN.test(key)) return 'printable ASCII characters only, no spaces';
  return null;
}

/** What a listing shows of a key: never the key, never its hash. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  createdMs: number;
  revokedMs: number | null;
}

export function keyInfo(row: ApiKeyRow): ApiKeyInfo {
  return { id: row.id, name: row.name, prefix: row.prefix, createdMs: row.createdMs, revokedMs: row.revokedMs };
}

export interface ApiKeysOptions {
  store: Store;
  clock: Clock;
  /**
   * How long a verified key is trusted without reading the store again: a key revoked by another process is
   * refused within this long. 0: every request reads the store.
   */
  cacheMs?: number;
}

export class ApiKeys {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { row: ApiKeyRow; untilMs: number }>();

  constructor(options: ApiKeysOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#cacheMs = options.cacheMs ?? 0;
  }

  /** Creates a key; the answer is the only place the key ever appears. */
  async create(name: string, key: string = generateKey()): Promise<{ key: string; info: ApiKeyInfo }> {
    const row = await this.#store.transaction((tx) => this.#insert(tx, name, key));
    return { key, info: keyInfo(row) };
  }

  /**
   * Registers `key` (MTPROOF_API_KEY) unless its hash is already there. A key once revoked stays revoked:
   * the answer says so, and the service does not bring it back.
   */
  async ensure(key: string, name: string): Promise<{ info: ApiKeyInfo; created: boolean }> {
    const problem = keyProblem(key);
    if (problem !== null) throw new MtproofError('MTP_API_KEY_INVALID', `MTPROOF_API_KEY must have ${problem}`);
    return this.#store.transaction(async (tx) => {
      const [existing] = await tx.select('api_keys', { hash: hashKey(key) });
      if (existing !== undefined) return { info: keyInfo(existing), created: false };
      return { info: keyInfo(await this.#insert(tx, name, key)), created: true };
    });
  }

  async list(): Promise<ApiKeyInfo[]> {
    const rows = await this.#store.transaction((tx) => tx.select('api_keys', {}, { orderBy: 'id' }));
    return rows.map(keyInfo);
  }

  /** Keys not revoked. */
  async activeCount(): Promise<number> {
    const rows = await this.#store.transaction((tx) => tx.select('api_keys', { revokedMs: null }));
    return rows.length;
  }

  /** Revokes a key (revoking a revoked key keeps its first revocation time). */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const row = await this.#store.transaction(async (tx) => {
      const found = await tx.get('api_keys', id);
      if (found === undefined) return undefined;
      if (found.revokedMs !== null) return found;
      return tx.update('api_keys', id, { revokedMs: this.#clock.nowMs() });
    });
    if (row === undefined)
      throw new MtproofError('MTP_UNKNOWN_API_KEY', `no API key ${id} (see: mtproof service keys list)`);
    this.#cache.clear();
    return keyInfo(row);
  }

  /** A new key with the old one's name, and the old one revoked, in one transaction. */
  async rotate(
    id: string,
    key: string = generateKey(),
  ): Promise<{ key: string; info: ApiKeyInfo; revoked: ApiKeyInfo }> {
    const out = await this.#store.transaction(async (tx) => {
      const old = await tx.get('api_keys', id);
      if (old === undefined) return undefined;
      if (old.revokedMs !== null) return null;
      const revoked = await tx.update('api_keys', id, { revokedMs: this.#clock.nowMs() });
      return { row: await this.#insert(tx, old.name, key), revoked };
    });
    if (out === undefined)
      throw new MtproofError('MTP_UNKNOWN_API_KEY', `no API key ${id} (see: mtproof service keys list)`);
    if (out === null) throw new MtproofError('MTP_UNKNOWN_API_KEY', `API key ${id} is revoked: create a new one`);
    this.#cache.clear();
    return { key, info: keyInfo(out.row), revoked: keyInfo(out.revoked) };
  }

  /** The key's row when it is known and not revoked, else null. */
  async verify(key: string): Promise<ApiKeyRow | null> {
    const hash = hashKey(key);
    const nowMs = this.#clock.nowMs();
    const cached = this.#cache.get(hash);
    if (cached !== undefined && cached.untilMs > nowMs) return cached.row;
    const [row] = await this.#store.transaction((tx) => tx.select('api_keys', { hash }));
    // The store found the row by its hash; the comparison proper is constant-time all the same, so that
    // no code path's timing depends on how much of a guessed hash matches.
    if (row === undefined || !sameHash(row.hash, hash) || row.revokedMs !== null) {
      this.#cache.delete(hash);
      return null;
    }
    if (this.#cacheMs > 0) {
      if (this.#cache.size > 1_000) this.#cache.clear();
      this.#cache.set(hash, { row, untilMs: nowMs + this.#cacheMs });
    }
    return row;
  }

  async #insert(tx: Tx, name: string, key: string): Promise<ApiKeyRow> {
    const row: ApiKeyRow = {
      id: await nextId(tx, 'api_keys', 'K', 6),
      name,
      hash: hashKey(key),
      // A quarter of the key at most: the listing must not give away much of a short key given by hand.
      prefix: key.slice(0, Math.min(PREFIX_LENGTH, Math.floor(key.length / 4))),
      createdMs: this.#clock.nowMs(),
      revokedMs: null,
    };
    await tx.insert('api_keys', row);
    return row;
  }
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Authorization: Bearer KEY` → KEY, or null when the header is absent or of another scheme. */
export function bearerKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match === null ? null : (match[1] as string);
}
