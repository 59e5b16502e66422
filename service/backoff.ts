import type { Random } from '../kit/random.ts';
import type { RetryPolicy } from './config.ts';

/**
 * The delay before retry number `attempt` (1-based): initial × factor^(attempt−1), capped, with jitter
 * drawn from the service's Random so that a run replays exactly and a crowd of retries spreads out.
 */
export function backoffMs(
  policy: Pick<RetryPolicy, 'initialDelayMs' | 'factor' | 'maxDelayMs' | 'jitter'>,
  attempt: number,
  random: Random,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`backoff: attempt must be >= 1, got ${attempt}`);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
  const low = base * (1 - policy.jitter);
  return Math.max(1, Math.round(low + (base - low) * random.float()));
}
