import { createHash, randomBytes } from 'node:crypto';

/**
 * The MT5 Web API authentication hashes (facts 3.2): the manager proves it knows the password by answering
 * the server's random bytes, and the server proves the same by answering the client's. Raw digests are
 * hashed, never their hex text (a public project got 403s until it stopped hashing hex).
 */

/** "WebAPI" as the 6 ASCII bytes the documentation appends to the password digest. */
const WEB_API_SALT = Buffer.from('WebAPI', 'ascii');

/** Bytes of `srv_rand` / `cli_rand`: 16, sent as 32 hex characters. */
export const RAND_BYTES = 16;

const md5 = (...parts: readonly Buffer[]): Buffer => {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** H = MD5( MD5(password as UTF-16LE) ‖ "WebAPI" ), 16 raw bytes. */
export function passwordHash(password: string): Buffer {
  return md5(md5(Buffer.from(password, 'utf16le')), WEB_API_SALT);
}

/** Hex of MD5( H ‖ rand ): the answer to the other side's random bytes (hash first, random second). */
export function randAnswer(hash: Buffer, rand: Buffer): string {
  return md5(hash, rand).toString('hex');
}

/** The client's random bytes for `cli_rand`. */
export function newCliRand(): Buffer {
  return randomBytes(RAND_BYTES);
}

/**
 * Decodes a 32-hex-character random value (`srv_rand`); null when it is not exactly that, so a malformed
 * server answer is refused instead of being hashed as whatever Buffer.from makes of it.
 */
export function decodeRand(hex: unknown): Buffer | null {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}

/** Whether the server's `cli_rand_answer` proves it knows the password (hex compared case-insensitively). */
export function serverProofMatches(hash: Buffer, cliRand: Buffer, cliRandAnswer: unknown): boolean {
  return typeof cliRandAnswer === 'string' && cliRandAnswer.toLowerCase() === randAnswer(hash, cliRand);
}
