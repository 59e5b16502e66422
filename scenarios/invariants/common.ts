import type { SimBalanceOp } from '../../simulator/index.ts';
import type { AccountView, TransferView } from '../integration.ts';
import type { Observation, ServerTruth } from '../observation.ts';
import type { Evidence, InvariantResult, Verdict } from '../result.ts';
import type { InvariantName } from '../script.ts';

/** Shared lookups of the checkers: each is a pure function of the observation. */

/** At most this many facts per verdict: enough to act on, short enough to read. */
const MAX_EVIDENCE = 25;

export function result(
  name: InvariantName,
  verdict: Verdict,
  summary: string,
  evidence: Evidence[] = [],
): InvariantResult {
  const shown = evidence.slice(0, MAX_EVIDENCE);
  if (evidence.length > MAX_EVIDENCE) shown.push({ message: `… and ${evidence.length - MAX_EVIDENCE} more` });
  return { name, verdict, summary, evidence: shown };
}

export interface AccountAt {
  view: AccountView;
  /** The script's id of the account (`a1`), when the harness asked for it. */
  account: string | undefined;
  server: ServerTruth;
  login: number;
}

/** The observation indexed for the checkers: built once per run (`checkInvariants`) and shared. */
export class Lookups {
  readonly servers: Map<string, ServerTruth>;
  /** The integration's accounts with a login on a known server, by `${serverId}:${login}`. */
  readonly byLogin = new Map<string, AccountAt>();
  readonly scriptIdOf = new Map<string, string>();
  readonly transfersOf = new Map<string, TransferView[]>();

  constructor(obs: Observation) {
    this.servers = new Map(obs.servers.map((s) => [s.id, s]));
    for (const r of obs.openRequests) if (r.accountId !== undefined) this.scriptIdOf.set(r.accountId, r.id);
    for (const view of obs.integration.accounts) {
      if (view.serverId === null || view.login === null) continue;
      const server = this.servers.get(view.serverId);
      if (server === undefined) continue;
      this.byLogin.set(`${view.serverId}:${view.login}`, {
        view,
        account: this.scriptIdOf.get(view.accountId),
        server,
        login: view.login,
      });
    }
    for (const t of obs.integration.transfers) {
      const list = this.transfersOf.get(t.accountId) ?? [];
      list.push(t);
      this.transfersOf.set(t.accountId, list);
    }
  }

  ops(server: ServerTruth, login: number): SimBalanceOp[] {
    return server.ops.get(login) ?? [];
  }

  where(at: AccountAt): Evidence {
    return {
      message: '',
      serverId: at.server.id,
      login: at.login,
      accountId: at.view.accountId,
      ...(at.account === undefined ? {} : { account: at.account }),
    };
  }
}

/**
 * A transfer's effect on the server, as (kind, signed amount) legs: `definite` legs must be there once,
 * `maybe` legs (the integration has not settled, or put it in review) at most once.
 */
export function legs(t: TransferView): { definite: Leg[]; maybe: Leg[] } {
  const main: Leg =
    t.kind === 'credit'
      ? { kind: 'credit', amountCents: t.amountCents, ref: t.ref, leg: 'main' }
      : {
          kind: 'balance',
          amountCents: t.kind === 'withdrawal' ? -t.amountCents : t.amountCents,
          ref: t.ref,
          leg: 'main',
        };
  const refund: Leg = { kind: 'balance', amountCents: t.amountCents, ref: t.ref, leg: 'refund' };
  switch (t.status) {
    case 'posted':
      return { definite: [main], maybe: [] };
    case 'refunded':
      return { definite: t.kind === 'withdrawal' ? [main, refund] : [main], maybe: [] };
    case 'pending':
    case 'review':
      return { definite: [], maybe: t.kind === 'withdrawal' ? [main, refund] : [main] };
    case 'rejected':
    case 'failed':
      return { definite: [], maybe: [] };
  }
}

export interface Leg {
  kind: 'balance' | 'credit';
  amountCents: number;
  ref: string;
  leg: 'main' | 'refund';
}

export function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Whether `target` is the sum of some subset of `values` (null: too many to tell). */
export function subsetSum(values: readonly number[], target: number, limit = 16): boolean | null {
  if (values.length > limit) return null;
  let sums = new Set<number>([0]);
  for (const v of values) sums = new Set([...sums, ...[...sums].map((s) => s + v)]);
  return sums.has(target);
}
