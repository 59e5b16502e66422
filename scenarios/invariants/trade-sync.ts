import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { Lookups, result } from './common.ts';

/**
 * Trade sync: the integration's trade records (for support, reporting and IB commissions) hold every open
 * and close that happened on its accounts, once each, and nothing that did not happen.
 */
export function tradeSync(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const trades = obs.integration.trades;
  if (trades === null) return result('trade-sync', 'unknown', 'the integration exposes no trade records');
  const want = new Map<string, Evidence>();
  for (const at of look.byLogin.values()) {
    for (const p of at.server.openPositions.get(at.login) ?? []) {
      want.set(`${at.server.id}:${at.login}:${p.ticket}:open`, { ...look.where(at), ticket: p.ticket, message: '' });
    }
    for (const t of at.server.closedTrades.get(at.login) ?? []) {
      want.set(`${at.server.id}:${at.login}:${t.ticket}:open`, { ...look.where(at), ticket: t.ticket, message: '' });
      want.set(`${at.server.id}:${at.login}:${t.ticket}:close`, { ...look.where(at), ticket: t.ticket, message: '' });
    }
  }
  const evidence: Evidence[] = [];
  const seen = new Map<string, number>();
  for (const t of trades) {
    const key = `${t.serverId}:${t.login}:${t.ticket}:${t.action}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const [key, n] of seen) {
    const [serverId, login, ticket, action] = key.split(':') as [string, string, string, string];
    const where = { serverId, login: Number(login), ticket: Number(ticket) };
    if (!want.has(key))
      evidence.push({
        ...where,
        message: `the integration has a trade ${action} of ticket ${ticket} that did not happen`,
      });
    else if (n > 1) evidence.push({ ...where, message: `trade ${action} of ticket ${ticket} recorded ${n} times` });
  }
  for (const [key, e] of want) {
    if (seen.has(key)) continue;
    const action = key.slice(key.lastIndexOf(':') + 1);
    evidence.push({
      ...e,
      message: `trade ${action} of ticket ${e.ticket} on the server is missing from the integration's records`,
    });
  }
  return evidence.length === 0
    ? result('trade-sync', 'pass', `${want.size} trade events on ${look.byLogin.size} accounts, each recorded once`)
    : result(
        'trade-sync',
        'fail',
        `${evidence.length} trade record(s) missing, doubled or invented among ${want.size}`,
        evidence,
      );
}
