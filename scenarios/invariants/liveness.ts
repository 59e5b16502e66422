import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { result } from './common.ts';

/**
 * Liveness: by the end of the heal phase (faults off, bounded), every accepted transfer is settled — or in
 * review with an alert naming it — every account request is open or failed, every provider webhook got
 * an answer, and nothing the integration ran threw or died.
 */
export function liveness(obs: Observation): InvariantResult {
  const evidence: Evidence[] = [];
  const alerted = new Set(obs.integration.alerts.map((a) => a.subject));
  let review = 0;
  for (const t of obs.integration.transfers) {
    if (t.status === 'pending')
      evidence.push({
        ref: t.ref,
        accountId: t.accountId,
        message: `${t.kind} ${t.ref} still pending at the deadline`,
      });
    if (t.status === 'review') {
      review++;
      if (!alerted.has(t.ref))
        evidence.push({
          ref: t.ref,
          accountId: t.accountId,
          message: `${t.kind} ${t.ref} is in review and no alert names it`,
        });
    }
  }
  for (const a of obs.integration.accounts) {
    if (a.status === 'pending')
      evidence.push({
        accountId: a.accountId,
        message: `account ${a.accountId} (${a.productId}) still pending at the deadline`,
      });
  }
  for (const w of obs.webhooks) {
    if (w.mode !== 'lost' && w.answered === undefined) {
      evidence.push({
        pspRef: w.pspRef,
        account: w.account,
        message: `deposit webhook ${w.pspRef} never answered in ${w.deliveries} deliveries`,
      });
    }
  }
  for (const why of obs.thrown) evidence.push({ message: why });
  return evidence.length === 0
    ? result(
        'liveness',
        'pass',
        `${obs.integration.transfers.length} transfers settled by the deadline (${review} in review, each alerted); ${obs.integration.accounts.length} account requests resolved`,
      )
    : result('liveness', 'fail', `${evidence.length} thing(s) unsettled or failed at the deadline`, evidence);
}
