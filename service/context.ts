import type { Clock } from '../kit/clock.ts';
import type { Random } from '../kit/random.ts';
import type { Mask } from './alerts.ts';
import type { BrokerConfig } from './config.ts';
import type { ServerConnection } from './connections.ts';
import { suspendedIn } from './domain/routing.ts';
import type { Logger } from './log.ts';
import type { PasswordSource } from './passwords.ts';
import type { Store } from './store/port.ts';

/** What the job handlers share: built once by the composition root. */
export interface ServiceContext {
  readonly config: Readonly<BrokerConfig>;
  readonly clock: Clock;
  /** Backoff jitter. */
  readonly random: Random;
  /** Initial passwords of new accounts (never logged, never stored). */
  readonly passwords: PasswordSource;
  readonly store: Store;
  readonly connections: ReadonlyMap<string, ServerConnection>;
  readonly log: Logger;
  /** Servers an operator has taken out of routing at run time (besides `suspended` in the config). */
  readonly suspended: Set<string>;
  /** Masks known secret values in anything stored or sent outside (alerts). */
  readonly mask: Mask;
  /** Wakes idle workers: a job was queued. */
  notify(): void;
}

export function connection(ctx: ServiceContext, serverId: string): ServerConnection {
  const found = ctx.connections.get(serverId);
  if (found === undefined)
    throw new Error(`no connection for server ${serverId}: the store names a server the config lacks`);
  return found;
}

/**
 * The history range, in server seconds, to ask for what happened between our `fromMs` and `toMs`: widened by
 * `posting.lookbackMs` on both sides, as the server's clock may be off ours and in another time zone.
 */
export function serverRange(
  ctx: ServiceContext,
  fromMs: number,
  toMs: number,
): { fromServerSec: number; toServerSec: number } {
  const { lookbackMs } = ctx.config.posting;
  return {
    fromServerSec: Math.floor((fromMs - lookbackMs) / 1000),
    toServerSec: Math.ceil((toMs + lookbackMs) / 1000),
  };
}

export function isSuspended(ctx: ServiceContext, serverId: string): boolean {
  return suspendedIn(ctx.config, ctx.suspended)(serverId);
}
