import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The MT5 Web API handshake's hashes (facts 3.2), pure: the password hash H = MD5( MD5(password as UTF-16LE)
 * ‖ "WebAPI" ), and the answer to a random challenge, MD5( H ‖ random bytes ) — hash first, random second.
 * The server proves the client with `srv_rand_answer` (to its `srv_rand`) and proves itself with
 * `cli_rand_answer` (to the client's `cli_rand`). Digests are raw 16 bytes inside, lowercase hex outside.
 */

/** "WebAPI" as the 6 ASCII bytes the facts file lists (87,101,98,65,80,73). */
const WEBAPI_SUFFIX = Buffer.from('WebAPI', 'ascii');

/** A challenge or an answer on the wire: 16 bytes as 32 hex digits. */
const RAND_HEX = /^[0-9a-fA-F]{32}$/;

function md5(...parts: Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** MD5 of the password's UTF-16LE bytes (the documentation's intermediate test vector). */
export function passwordDigest(password: string): Buffer {
  return md5(Buffer.from(password, 'utf16le'));
}

/** H: the 16 raw bytes both sides derive from the password. */
export function webApiPasswordHash(password: string): Buffer {
  return md5(passwordDigest(password), WEBAPI_SUFFIX);
}

/** True for 32 hex digits (either case; the documentation and the official sample write lowercase). */
export function isRandHex(text: string): boolean {
  return RAND_HEX.test(text);
}

/** MD5( H ‖ bytes(randHex) ) as lowercase hex. Throws on a random that is not 32 hex digits (a caller bug). */
export function randAnswer(passwordHash: Buffer, randHex: string): string {
  if (!isRandHex(randHex)) throw new Error(`webapi auth: a random must be 32 hex digits, not "${randHex}"`);
  return md5(passwordHash, Buffer.from(randHex, 'hex')).toString('hex');
}

/** What the client sends as `srv_rand_answer` for the server's `srv_rand`. */
export function srvRandAnswer(password: string, srvRandHex: string): string {
  return randAnswer(webApiPasswordHash(password), srvRandHex);
}

/** What the server sends as `cli_rand_answer` for the client's `cli_rand`. */
export function cliRandAnswer(password: string, cliRandHex: string): string {
  return randAnswer(webApiPasswordHash(password), cliRandHex);
}

/** Compares two answers in constant time (case-insensitive hex); false when either is not 32 hex digits. */
export function answersMatch(expectedHex: string, givenHex: string): boolean {
  if (!isRandHex(expectedHex) || !isRandHex(givenHex)) return false;
  return timingSafeEqual(Buffer.from(expectedHex, 'hex'), Buffer.from(givenHex, 'hex'));
}
