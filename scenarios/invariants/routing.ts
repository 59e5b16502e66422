import { route, suspendedIn } from '../../service/domain/routing.ts';
import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { result } from './common.ts';

/**
 * Routing: every account sits on the server and in the group the certified config maps its product and
 * client's country to — on the server as well as in the integration's books — and nothing live opens on
 * a demo server or the reverse. Judged against the certified config, not the one the integration read.
 */
export function routing(obs: Observation): InvariantResult {
  const evidence: Evidence[] = [];
  const requests = new Map(
    obs.openRequests.filter((r) => r.accountId !== undefined).map((r) => [r.accountId as string, r]),
  );
  const clients = new Map(obs.clients.map((c) => [c.id, c]));
  const servers = new Map(obs.servers.map((s) => [s.id, s]));
  const suspended = suspendedIn(obs.config, new Set());
  let checked = 0;

  for (const view of obs.integration.accounts) {
    if (view.status === 'failed') continue;
    const request = requests.get(view.accountId);
    const where = { accountId: view.accountId, ...(request === undefined ? {} : { account: request.id }) };
    const product = obs.config.products.find((p) => p.id === view.productId);
    if (product === undefined) {
      evidence.push({
        ...where,
        message: `account of product ${view.productId}, which the certified config does not have`,
      });
      continue;
    }
    const client = request === undefined ? undefined : clients.get(request.client);
    if (client === undefined) continue;
    if (view.serverId === null) continue;
    checked++;
    const expected = route(obs.config, client.country, product, suspended);
    const server = servers.get(view.serverId);
    if (server !== undefined && server.kind !== product.kind) {
      evidence.push({
        ...where,
        serverId: view.serverId,
        message: `a ${product.kind} product (${product.id}) on ${server.kind} server ${server.id}`,
      });
    }
    if (!expected.ok) {
      evidence.push({
        ...where,
        serverId: view.serverId,
        message: `opened on ${view.serverId} though no route exists: ${expected.message}`,
      });
      continue;
    }
    const onServer =
      view.login === null || server === undefined ? undefined : server.accounts.find((a) => a.login === view.login);
    const at = { ...where, serverId: view.serverId, ...(view.login === null ? {} : { login: view.login }) };
    if (view.serverId !== expected.serverId) {
      evidence.push({
        ...at,
        message: `${product.id} for a client from ${client.country} is on ${view.serverId}; routing[${expected.rule}] places it on ${expected.serverId}`,
      });
      continue;
    }
    if (view.status === 'open' && view.login !== null && onServer === undefined) {
      evidence.push({
        ...at,
        message: `the integration says login ${view.login} on ${view.serverId}; the server has no such account`,
      });
      continue;
    }
    const movedByDealer = view.login !== null && obs.dealerGroupChanged.has(`${view.serverId}:${view.login}`);
    const groups = [view.group, movedByDealer ? undefined : onServer?.group].filter((g) => g != null);
    for (const group of new Set(groups)) {
      if (group !== expected.group) {
        evidence.push({
          ...at,
          message: `${product.id} is in group ${group}${group === onServer?.group ? ' on the server' : ' in the integration'}; the config maps it to ${expected.group}`,
        });
      }
    }
  }
  // Accounts on servers the integration does not list are judged by exactly-once; here, where they sit.
  return evidence.length === 0
    ? result('routing', 'pass', `${checked} accounts on the server and in the group the config maps them to`)
    : result('routing', 'fail', `${evidence.length} account(s) misrouted`, evidence);
}
