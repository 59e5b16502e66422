import { needsKyc } from '../../service/domain/routing.ts';
import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { Lookups, money, result } from './common.ts';

/**
 * Gating: no account of a product that needs KYC was created on a server while its client's KYC was not
 * approved; and no withdrawal took an account above its free margin unless the integration
 * had read, before sending it, a free margin that covered it (the client can trade in between: the check
 * is the integration's duty, the race is not its fault).
 */
export function gating(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const evidence: Evidence[] = [];
  const views = new Map(obs.integration.accounts.map((a) => [a.accountId, a]));
  const clients = new Map(obs.clients.map((c) => [c.id, c]));
  let kycChecked = 0;
  for (const request of obs.openRequests) {
    if (request.accountId === undefined) continue;
    const product = obs.config.products.find((p) => p.id === request.productId);
    if (product === undefined || !needsKyc(obs.config, product)) continue;
    kycChecked++;
    const view = views.get(request.accountId);
    if (view?.serverId == null || view.login === null) continue;
    const server = look.servers.get(view.serverId);
    const created = server?.accounts.find((a) => a.login === view.login);
    const client = clients.get(request.client);
    if (created === undefined || client === undefined) continue;
    // A create sent while the KYC was approved may arrive up to the server's timeout later, after a
    // rejection: the integration could not have known. A decision the harness sent but never saw
    // confirmed counts in the integration's favour.
    const windowMs = obs.config.servers.find((s) => s.id === view.serverId)?.timeoutMs ?? 0;
    const decisions = client.kyc.filter((k) => k.unanswered !== true || k.decision === 'approved');
    let kyc = 'none';
    let approvedInWindow = false;
    for (const k of decisions) {
      if (k.atMs <= created.createdMs) kyc = k.decision;
      if (k.atMs <= created.createdMs && k.atMs >= created.createdMs - windowMs && k.decision === 'approved') {
        approvedInWindow = true;
      }
    }
    if (kyc === 'approved' || approvedInWindow || approvedAt(decisions, created.createdMs - windowMs)) continue;
    evidence.push({
      account: request.id,
      accountId: request.accountId,
      serverId: view.serverId,
      login: view.login,
      message: `${product.id} needs an approved KYC; the client's was "${kyc}" when the account was created on ${view.serverId} (requested while "${request.kycAtRequest}")`,
    });
  }

  let withdrawals = 0;
  if (obs.config.funding.withdrawalsNeedFreeMargin) {
    for (const at of look.byLogin.values()) {
      const reads = at.server.marginReads.get(at.login) ?? [];
      for (const op of look.ops(at.server, at.login)) {
        if (op.actor.by !== 'manager' || op.amountCents >= 0 || op.freeMarginBeforeCents === undefined) continue;
        withdrawals++;
        const amount = -op.amountCents;
        if (op.freeMarginBeforeCents >= amount) continue;
        let last: (typeof reads)[number] | undefined;
        for (const r of reads) if (r.atMs <= op.atMs) last = r;
        if (last !== undefined && last.freeMarginCents >= amount) continue;
        evidence.push({
          ...look.where(at),
          ticket: op.ticket,
          message: `withdrawal ${money(amount)} "${op.comment}" with free margin ${money(op.freeMarginBeforeCents)}; ${last === undefined ? 'the integration never read the free margin' : `the integration's last read said ${money(last.freeMarginCents)}`}`,
        });
      }
    }
  }
  return evidence.length === 0
    ? result(
        'gating',
        'pass',
        `${kycChecked} KYC-gated account requests and ${withdrawals} withdrawals respected the gates`,
      )
    : result('gating', 'fail', `${evidence.length} gate(s) passed that should not have`, evidence);
}

function approvedAt(kyc: readonly { atMs: number; decision: string }[], atMs: number): boolean {
  let state = 'none';
  for (const k of kyc) if (k.atMs <= atMs) state = k.decision;
  return state === 'approved';
}
