import type { Issue } from '../kit/errors.ts';
import type { BrokerConfig } from '../service/index.ts';
import type { ClusterConfig } from '../simulator/index.ts';

/**
 * Checks a broker config against the cluster it will run on: every configured server exists with the
 * same platform and kind, and every product's group exists on its server. A product mapped to a group the
 * server lacks is the "wrong group" incident caught before the first client.
 */
export function checkBrokerAgainstCluster(broker: Readonly<BrokerConfig>, cluster: Readonly<ClusterConfig>): Issue[] {
  const issues: Issue[] = [];
  const servers = new Map(cluster.servers.map((s) => [s.id, s]));
  broker.servers.forEach((server, i) => {
    const sim = servers.get(server.id);
    if (sim === undefined) {
      issues.push({ path: `servers[${i}].id`, message: `the cluster has no server "${server.id}"` });
      return;
    }
    if (sim.platform !== server.platform) {
      issues.push({ path: `servers[${i}].platform`, message: `"${server.id}" is ${sim.platform} in the cluster` });
    }
    if (sim.kind !== server.kind) {
      issues.push({ path: `servers[${i}].kind`, message: `"${server.id}" is a ${sim.kind} server in the cluster` });
    }
    if (!sim.managers.some((m) => m.login === server.login)) {
      issues.push({ path: `servers[${i}].login`, message: `"${server.id}" has no manager ${server.login}` });
    }
  });
  broker.products.forEach((product, p) => {
    for (const [serverId, group] of Object.entries(product.groups)) {
      const sim = servers.get(serverId);
      if (sim === undefined) continue;
      const found = sim.groups.find((g) => g.name === group);
      if (found === undefined) {
        issues.push({
          path: `products[${p}].groups.${serverId}`,
          message: `"${serverId}" has no group "${group}" (it has ${sim.groups.map((g) => g.name).join(', ')})`,
        });
      } else if (found.currency !== product.currency) {
        issues.push({
          path: `products[${p}].currency`,
          message: `${product.currency}, but group "${group}" on "${serverId}" is in ${found.currency}`,
        });
      }
    }
  });
  return issues;
}
