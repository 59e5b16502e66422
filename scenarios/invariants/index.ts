import type { Observation } from '../observation.ts';
import type { InvariantResult } from '../result.ts';
import type { InvariantName } from '../script.ts';
import { audit } from './audit.ts';
import { Lookups } from './common.ts';
import { conservation } from './conservation.ts';
import { exactlyOnce } from './exactly-once.ts';
import { gating } from './gating.ts';
import { liveness } from './liveness.ts';
import { reconciliationExact } from './reconciliation.ts';
import { routing } from './routing.ts';
import { tradeSync } from './trade-sync.ts';

/**
 * The checkers, one per invariant, in report order. Each is a pure function of the observation; those that
 * look accounts and transfers up take the lookups as well, built once for all of them.
 */
export const CHECKERS: Readonly<Record<InvariantName, (obs: Observation, look?: Lookups) => InvariantResult>> = {
  'exactly-once': exactlyOnce,
  conservation,
  routing,
  gating,
  reconciliation: reconciliationExact,
  audit,
  liveness,
  'trade-sync': tradeSync,
};

export function checkInvariants(obs: Observation): InvariantResult[] {
  const look = new Lookups(obs);
  return Object.values(CHECKERS).map((check) => check(obs, look));
}
