import { MtproofError } from '../kit/errors.ts';
import { checkBrokerAgainstCluster } from '../scenarios/config-check.ts';
import { type BrokerConfig, jurisdictionOf, route, secretEnvs, suspendedIn } from '../service/index.ts';
import { DEFAULT_CLUSTER, parseClusterConfig } from '../simulator/index.ts';
import { readBroker, readConfigFile } from './config-files.ts';
import type { Output } from './io.ts';

export interface CheckConfigFlags {
  config?: string;
  servers?: string;
  json: boolean;
}

/**
 * `mtproof service check-config`: validates a broker config (the embedded default when no file is given),
 * checks it against the cluster it will meet in simulation, and prints where each kind of client lands.
 */
export async function checkConfig(flags: CheckConfigFlags, io: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const { config } = await readBroker(flags.config);
  const clusterRaw =
    flags.servers === undefined ? DEFAULT_CLUSTER : (await readConfigFile(flags.servers, 'servers file')).value;
  const cluster = parseClusterConfig(clusterRaw, flags.servers ?? 'embedded cluster');
  const issues = checkBrokerAgainstCluster(config, cluster);
  if (issues.length > 0) {
    throw new MtproofError(
      'MTP_CONFIG_INVALID',
      `${flags.config ?? 'the broker config'} does not match the cluster`,
      issues,
    );
  }
  const routes = routingTable(config);
  const missing = secretEnvs(config)
    .map((s) => s.name)
    .filter((name) => env[name] === undefined || env[name] === '');
  if (flags.json) {
    io.out(
      `${JSON.stringify({ ok: true, servers: config.servers.length, products: config.products.length, routes, unsetEnv: missing })}\n`,
    );
    return 0;
  }
  io.out(
    `broker config ${flags.config ?? '(embedded)'}: valid; matches the cluster ${flags.servers ?? '(embedded)'}\n`,
  );
  io.out(`servers: ${config.servers.map((s) => `${s.id} (${s.platform} ${s.kind})`).join(', ')}\n`);
  io.out('routing (client from → product → server / group):\n');
  for (const r of routes) io.out(`  ${r.from.padEnd(14)} ${r.product.padEnd(18)} ${r.where}\n`);
  if (missing.length > 0) io.out(`not set in this environment (needed for real servers): ${missing.join(', ')}\n`);
  return 0;
}

function routingTable(config: Readonly<BrokerConfig>): { from: string; product: string; where: string }[] {
  // One representative country per jurisdiction, and one outside them all.
  const samples: { from: string; country: string }[] = Object.entries(config.jurisdictions).map(
    ([name, countries]) => ({
      from: `${name} (${countries[0]})`,
      country: countries[0] as string,
    }),
  );
  const outside = ['US', 'AE', 'SG', 'BR', 'ZA'].find((c) => jurisdictionOf(config, c) === null);
  if (outside !== undefined) samples.push({ from: `other (${outside})`, country: outside });
  const rows: { from: string; product: string; where: string }[] = [];
  // As the service routes at start-up: suspended servers are those the config suspends.
  const suspended = suspendedIn(config, new Set());
  for (const sample of samples) {
    for (const product of config.products) {
      const r = route(config, sample.country, product, suspended);
      const where = r.ok
        ? `${r.serverId} / ${r.group}${r.viaFallback ? ` (fallback of routing[${r.rule}]: its server is suspended)` : ''}`
        : `refused: ${r.message}`;
      rows.push({ from: sample.from, product: product.id, where });
    }
  }
  return rows;
}
