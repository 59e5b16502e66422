import type { FindingView } from '../integration.ts';
import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { Lookups, legs, result } from './common.ts';

/**
 * Reconciliation is exact: the final reconciliation (run after the heal phase and the settle time, when
 * nothing is in flight) reports exactly the discrepancies the scenario caused — every dealer edit on a
 * reconciled server as an unknown operation, every provider deposit no transfer carries as provider-only,
 * every double or missing posting where the integration made one — each in its class: no false alarm, no
 * miss. Findings about transfers still unsettled (review) are neither required nor false.
 */
export function reconciliationExact(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const view = obs.integration.reconciliation;
  if (view === null) {
    return result('reconciliation', 'fail', 'the final reconciliation got no answer or was refused');
  }
  if (view.partial) {
    return result(
      'reconciliation',
      'unknown',
      'the final reconciliation was partial (a server or the provider unreadable)',
    );
  }
  const kinds = new Set<string>(obs.config.reconciliation.kinds);
  const expected = new Map<string, Evidence & { cls: string }>();
  const expect = (key: string, cls: string, e: Evidence) => expected.set(key, { ...e, cls });

  const uncertainRefs = new Set<string>();
  const uncertainPsp = new Set<string>();
  for (const t of obs.integration.transfers) {
    if (t.status === 'review' || t.status === 'pending') {
      uncertainRefs.add(t.ref);
      if (t.pspRef !== null) uncertainPsp.add(t.pspRef);
    }
  }

  for (const at of look.byLogin.values()) {
    if (!kinds.has(at.server.kind) || at.view.status !== 'open') continue;
    const ops = look.ops(at.server, at.login);
    for (const op of ops) {
      if (op.actor.by !== 'dealer') continue;
      expect(`unknown_operation:${at.server.id}:${at.login}:${op.ticket}`, 'unknown_operation', {
        ...look.where(at),
        ticket: op.ticket,
        message: `dealer ${op.kind} edit ${op.amountCents} "${op.comment}" (ticket ${op.ticket})`,
      });
    }
    // Where the integration posted twice or lost a posting, the reconciliation must say so on that account.
    const manager = ops.filter((o) => o.actor.by === 'manager');
    const want = new Map<string, { definite: number; maybe: number }>();
    for (const t of look.transfersOf.get(at.view.accountId) ?? []) {
      const l = legs(t);
      for (const leg of l.definite) bump(want, `${leg.kind}:${leg.amountCents}`, 'definite');
      for (const leg of l.maybe) bump(want, `${leg.kind}:${leg.amountCents}`, 'maybe');
    }
    const have = new Map<string, number>();
    for (const op of manager)
      have.set(`${op.kind}:${op.amountCents}`, (have.get(`${op.kind}:${op.amountCents}`) ?? 0) + 1);
    for (const [key, n] of have) {
      const w = want.get(key) ?? { definite: 0, maybe: 0 };
      if (n > w.definite + w.maybe) {
        expect(`duplicate_on_server:${at.server.id}:${at.login}`, 'duplicate_on_server', {
          ...look.where(at),
          message: `${key} is on the server ${n} times, settled ${w.definite}`,
        });
      }
    }
    for (const [key, w] of want) {
      if ((have.get(key) ?? 0) < w.definite) {
        expect(`missing_on_server:${at.server.id}:${at.login}`, 'missing_on_server', {
          ...look.where(at),
          message: `${key}: ${w.definite} posted, ${have.get(key) ?? 0} on the server`,
        });
      }
    }
  }
  for (const record of obs.psp) {
    if (record.kind !== 'deposit' || record.status !== 'succeeded' || uncertainPsp.has(record.pspRef)) continue;
    const carried = obs.integration.transfers.some(
      (t) => t.pspRef === record.pspRef && t.kind === 'deposit' && (t.status === 'posted' || t.status === 'refunded'),
    );
    if (!carried) {
      expect(`psp_only:${record.pspRef}`, 'psp_only', {
        pspRef: record.pspRef,
        message: `provider deposit ${record.pspRef} of ${record.amountCents} ${record.currency} that no posted transfer carries`,
      });
    }
  }

  const evidence: Evidence[] = [];
  const matched = new Set<string>();
  let neutral = 0;
  for (const f of view.findings) {
    const key = keyOf(f);
    if (key !== null && expected.has(key)) {
      matched.add(key);
      continue;
    }
    if ((f.ref !== null && uncertainRefs.has(f.ref)) || (f.pspRef !== null && uncertainPsp.has(f.pspRef))) {
      neutral++;
      continue;
    }
    // A second finding on an account already expected to show a double or missing posting is the same story.
    if (
      (f.class === 'duplicate_on_server' || f.class === 'missing_on_server' || f.class === 'amount_mismatch') &&
      [...expected.keys()].some((k) => k.endsWith(`:${f.serverId}:${f.login}`) && !k.startsWith('unknown_operation'))
    ) {
      neutral++;
      continue;
    }
    evidence.push({
      message: `false alarm: ${f.class}: ${f.detail}`,
      ...(f.serverId === null ? {} : { serverId: f.serverId }),
      ...(f.login === null ? {} : { login: f.login }),
      ...(f.ref === null ? {} : { ref: f.ref }),
      ...(f.ticket === null ? {} : { ticket: f.ticket }),
      ...(f.pspRef === null ? {} : { pspRef: f.pspRef }),
    });
  }
  for (const [key, e] of expected) {
    if (matched.has(key)) continue;
    const { cls, ...rest } = e;
    evidence.push({ ...rest, message: `missed: expected a ${cls} finding: ${e.message}` });
  }
  return evidence.length === 0
    ? result(
        'reconciliation',
        'pass',
        `${view.findings.length} finding(s) = the ${expected.size} discrepancies the scenario caused${neutral > 0 ? ` (${neutral} about unsettled transfers)` : ''}`,
      )
    : result(
        'reconciliation',
        'fail',
        `${evidence.filter((e) => e.message.startsWith('false')).length} false alarm(s), ${evidence.filter((e) => e.message.startsWith('missed')).length} miss(es) among ${view.findings.length} finding(s)`,
        evidence,
      );
}

function keyOf(f: FindingView): string | null {
  switch (f.class) {
    case 'unknown_operation':
      return `unknown_operation:${f.serverId}:${f.login}:${f.ticket}`;
    case 'psp_only':
      return f.pspRef === null ? null : `psp_only:${f.pspRef}`;
    case 'duplicate_on_server':
    case 'missing_on_server':
      return `${f.class}:${f.serverId}:${f.login}`;
    default:
      return null;
  }
}

function bump(map: Map<string, { definite: number; maybe: number }>, key: string, which: 'definite' | 'maybe'): void {
  const entry = map.get(key) ?? { definite: 0, maybe: 0 };
  entry[which]++;
  map.set(key, entry);
}
