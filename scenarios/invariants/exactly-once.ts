import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { type Leg, Lookups, legs, money, result } from './common.ts';

/**
 * Exactly once: on every account, the operations the manager made equal the transfers the integration
 * settled — each posted transfer's legs once, an unsettled one's (review) at most once, nothing else; one
 * provider payment is one transfer; one account request is one account on a server.
 */
export function exactlyOnce(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const evidence: Evidence[] = [];
  let operations = 0;
  let transfersChecked = 0;
  let excess = 0;
  let missing = 0;

  for (const server of obs.servers) {
    for (const account of server.accounts) {
      const at = look.byLogin.get(`${server.id}:${account.login}`);
      const manager = look.ops(server, account.login).filter((op) => op.actor.by === 'manager');
      operations += manager.length;
      if (at === undefined) {
        evidence.push({
          message: `account ${account.login} exists on ${server.id} (group ${account.group}) but the integration does not list it: created twice, or lost track of`,
          serverId: server.id,
          login: account.login,
        });
        for (const op of manager) {
          evidence.push({
            message: `${op.kind} ${money(op.amountCents)} "${op.comment}" on an account the integration does not know`,
            serverId: server.id,
            login: account.login,
            ticket: op.ticket,
          });
        }
        continue;
      }
      const transfers = look.transfersOf.get(at.view.accountId) ?? [];
      transfersChecked += transfers.length;
      const want = new Map<string, { definite: Leg[]; maybe: Leg[] }>();
      for (const t of transfers) {
        const { definite, maybe } = legs(t);
        for (const leg of definite) slot(want, leg).definite.push(leg);
        for (const leg of maybe) slot(want, leg).maybe.push(leg);
      }
      const have = new Map<string, typeof manager>();
      for (const op of manager) {
        const key = `${op.kind}:${op.amountCents}`;
        const list = have.get(key) ?? [];
        list.push(op);
        have.set(key, list);
      }
      for (const key of new Set([...want.keys(), ...have.keys()])) {
        const w = want.get(key) ?? { definite: [], maybe: [] };
        const ops = have.get(key) ?? [];
        const [kind, amount] = key.split(':') as [string, string];
        const what = `${kind} ${money(Number(amount))}`;
        if (ops.length > w.definite.length + w.maybe.length) {
          excess++;
          evidence.push({
            ...look.where(at),
            message: `${what} is on the server ${ops.length} times (tickets ${ops.map((o) => o.ticket).join(', ')}, comments ${[...new Set(ops.map((o) => `"${o.comment}"`))].join(', ')}) but the integration settled ${w.definite.length}${w.maybe.length > 0 ? ` (+${w.maybe.length} unsettled)` : ''}: ${refs(w) || 'none'}`,
            ...(ops[1] === undefined ? {} : { ticket: ops[1].ticket }),
          });
        } else if (ops.length < w.definite.length) {
          missing++;
          evidence.push({
            ...look.where(at),
            message: `${what}: the integration says ${refs(w)} posted (${w.definite.length}) but the server has ${ops.length}`,
            ref: w.definite[0]?.ref,
          });
        }
      }
    }
  }

  // One provider payment, one transfer.
  const byPsp = new Map<string, string[]>();
  for (const t of obs.integration.transfers) {
    if (t.pspRef === null || t.status === 'rejected' || t.status === 'failed') continue;
    byPsp.set(t.pspRef, [...(byPsp.get(t.pspRef) ?? []), t.ref]);
  }
  for (const [pspRef, refsOf] of byPsp) {
    if (refsOf.length > 1) {
      excess++;
      evidence.push({
        message: `provider payment ${pspRef} became ${refsOf.length} transfers: ${refsOf.join(', ')}`,
        pspRef,
      });
    }
  }

  const clean = evidence.length === 0;
  return result(
    'exactly-once',
    clean ? 'pass' : 'fail',
    clean
      ? `${operations} manager operations on ${look.byLogin.size} accounts match ${transfersChecked} transfers, each posted once`
      : `${excess} duplicated and ${missing} missing posting(s) among ${operations} manager operations`,
    evidence,
  );
}

function slot(map: Map<string, { definite: Leg[]; maybe: Leg[] }>, leg: Leg) {
  const key = `${leg.kind}:${leg.amountCents}`;
  let entry = map.get(key);
  if (entry === undefined) {
    entry = { definite: [], maybe: [] };
    map.set(key, entry);
  }
  return entry;
}

function refs(w: { definite: Leg[]; maybe: Leg[] }): string {
  return [
    ...w.definite.map((l) => `${l.ref}${l.leg === 'refund' ? ' (refund)' : ''}`),
    ...w.maybe.map((l) => `${l.ref}?`),
  ].join(', ');
}
