import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { Lookups, legs, money, result, subsetSum } from './common.ts';

/**
 * Conservation: on every account the integration opened, the server's balance (and credit) is exactly
 * what everyone put there — the integration's settled transfers, the dealers' edits, the server's own
 * operations (demo funding) and the trades' results; and the provider's succeeded deposits are carried by
 * the integration's transfers at the provider's amount, no more and no less.
 */
export function conservation(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const evidence: Evidence[] = [];
  let undecided = 0;
  let accounts = 0;

  for (const at of look.byLogin.values()) {
    const account = at.server.accounts.find((a) => a.login === at.login);
    if (account === undefined) {
      evidence.push({
        ...look.where(at),
        message: `the integration says login ${at.login} is on ${at.server.id}; it is not`,
      });
      continue;
    }
    accounts++;
    const ops = look.ops(at.server, at.login);
    const profits = (at.server.closedTrades.get(at.login) ?? []).reduce((s, t) => s + t.profitCents, 0);
    // The server's own books: balance = every balance operation + closed trades' results.
    const opsBalance = ops.filter((o) => o.kind === 'balance').reduce((s, o) => s + o.amountCents, 0);
    const opsCredit = ops.filter((o) => o.kind === 'credit').reduce((s, o) => s + o.amountCents, 0);
    if (account.balanceCents !== opsBalance + profits) {
      evidence.push({
        ...look.where(at),
        message: `server balance ${money(account.balanceCents)} ≠ its operations ${money(opsBalance)} + trade results ${money(profits)}`,
      });
    }
    if (account.creditCents !== opsCredit) {
      evidence.push({
        ...look.where(at),
        message: `server credit ${money(account.creditCents)} ≠ its credit operations ${money(opsCredit)}`,
      });
    }
    // The integration's claim plus what others did must give the server's figures.
    const others = (kind: 'balance' | 'credit') =>
      ops.filter((o) => o.kind === kind && o.actor.by !== 'manager').reduce((s, o) => s + o.amountCents, 0);
    for (const kind of ['balance', 'credit'] as const) {
      let definite = 0;
      const maybe: number[] = [];
      for (const t of look.transfersOf.get(at.view.accountId) ?? []) {
        const l = legs(t);
        for (const leg of l.definite) if (leg.kind === kind) definite += leg.amountCents;
        for (const leg of l.maybe) if (leg.kind === kind) maybe.push(leg.amountCents);
      }
      const actual = kind === 'balance' ? account.balanceCents - profits : account.creditCents;
      const unexplained = actual - others(kind) - definite;
      const ok = subsetSum(maybe, unexplained);
      if (ok === null) undecided++;
      else if (!ok) {
        evidence.push({
          ...look.where(at),
          message: `${kind} ${money(actual)} on the server (trades excluded) but the integration's transfers give ${money(definite)}${maybe.length > 0 ? ` (+ up to ${maybe.length} unsettled)` : ''} and dealers/the server ${money(others(kind))}: ${money(unexplained)} unaccounted`,
        });
      }
    }
  }

  for (const record of obs.psp) {
    if (record.kind !== 'deposit' || record.status !== 'succeeded') continue;
    const carried = obs.integration.transfers.filter(
      (t) => t.pspRef === record.pspRef && t.kind === 'deposit' && t.status !== 'rejected' && t.status !== 'failed',
    );
    for (const t of carried) {
      if (t.amountCents !== record.amountCents || t.currency !== record.currency) {
        evidence.push({
          message: `provider deposit ${record.pspRef} is ${money(record.amountCents)} ${record.currency}; transfer ${t.ref} carries ${money(t.amountCents)} ${t.currency}`,
          pspRef: record.pspRef,
          ref: t.ref,
        });
      }
    }
  }
  for (const w of obs.webhooks) {
    if (w.answered?.ok !== true) continue;
    const ref = w.answered.ref;
    if (!obs.integration.transfers.some((t) => t.ref === ref)) {
      evidence.push({
        message: `the integration accepted provider deposit ${w.pspRef} as ${ref}, then lost it: no such transfer`,
        pspRef: w.pspRef,
        ref,
        account: w.account,
      });
    }
  }

  if (evidence.length > 0)
    return result('conservation', 'fail', `${evidence.length} account(s) or payment(s) do not add up`, evidence);
  if (undecided > 0) {
    return result(
      'conservation',
      'unknown',
      `${undecided} account balance(s) carry too many unsettled transfers to decide`,
    );
  }
  return result(
    'conservation',
    'pass',
    `${accounts} accounts: server balances and credit = integration transfers + dealer edits + trade results; provider deposits carried at their amount`,
  );
}
