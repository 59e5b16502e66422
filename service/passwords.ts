import { randomInt } from 'node:crypto';
import type { Random } from '../kit/random.ts';
import { MT4_LIMITS, mt5PasswordProblem } from '../metatrader/limits.ts';

/**
 * Initial passwords of new trading accounts. They must not be derivable from anything printed — a run's
 * seed is printed — so real use draws them from the operating system (`systemPasswords`, the default),
 * the one source of randomness in service/ that is not the seeded Random, on purpose. The harness passes
 * `seededPasswords` to keep a simulated run replayable. Either way the password fits both platforms:
 * MT4's length limit and MT5's complexity rules.
 */
export type PasswordSource = () => string;

const CLASSES = ['abcdefghjkmnpqrstuvwxyz', 'ABCDEFGHJKLMNPQRSTUVWXYZ', '23456789', '#@!%+=?'] as const;
const LENGTH = 12;

export function systemPasswords(): PasswordSource {
  return () => generate((n) => randomInt(n));
}

export function seededPasswords(random: Random): PasswordSource {
  return () => generate((n) => random.int(0, n - 1));
}

/** One character of each class, the rest from all of them, shuffled. */
function generate(draw: (n: number) => number): string {
  const all = CLASSES.join('');
  const chars = CLASSES.map((c) => c[draw(c.length)] as string);
  while (chars.length < LENGTH) chars.push(all[draw(all.length)] as string);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = draw(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  const password = chars.join('');
  const problem = mt5PasswordProblem(password);
  if (problem !== null || password.length > MT4_LIMITS.passwordBytes) {
    throw new Error(`passwords: generated an unusable password (${problem ?? 'too long for MT4'})`);
  }
  return password;
}
