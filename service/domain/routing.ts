import type { BrokerConfig, ProductConfig } from '../config.ts';

/**
 * Where a new account goes: the first routing rule of the product's kind (live or demo) that covers the
 * client's country or jurisdiction decides the server; the product decides the group on it. A rule that
 * covers the client but whose server does not offer the product is an error, never a reason to try the
 * next rule: that would open an EU client's account on a server of another jurisdiction.
 */

export type Route =
  | { ok: true; serverId: string; group: string; rule: number; viaFallback: boolean }
  | { ok: false; message: string };

export function jurisdictionOf(config: Readonly<BrokerConfig>, country: string): string | null {
  for (const [name, countries] of Object.entries(config.jurisdictions)) if (countries.includes(country)) return name;
  return null;
}

export function route(
  config: Readonly<BrokerConfig>,
  country: string,
  product: Readonly<ProductConfig>,
  suspended: (serverId: string) => boolean,
): Route {
  const jurisdiction = jurisdictionOf(config, country);
  const index = config.routing.findIndex(
    (rule) =>
      rule.kind === product.kind &&
      (rule.countries === undefined || rule.countries.includes(country)) &&
      (rule.jurisdictions === undefined || (jurisdiction !== null && rule.jurisdictions.includes(jurisdiction))),
  );
  const rule = config.routing[index];
  if (rule === undefined) {
    return { ok: false, message: `no routing rule places ${product.kind} accounts of clients from ${country}` };
  }
  let serverId = rule.server;
  let viaFallback = false;
  // The fallback takes the account only if it offers the product; otherwise the account waits, pending.
  const fallback = rule.fallback;
  if (
    suspended(rule.server) &&
    fallback !== undefined &&
    !suspended(fallback) &&
    product.groups[fallback] !== undefined
  ) {
    serverId = fallback;
    viaFallback = true;
  }
  const group = product.groups[serverId];
  if (group === undefined) {
    return {
      ok: false,
      message: `product ${product.id} is not offered on server ${serverId}, where routing[${index}] places clients from ${country}`,
    };
  }
  return { ok: true, serverId, group, rule: index, viaFallback };
}

/**
 * Whether a server is out of routing: suspended in the config, or by an operator at run time (`runtime`,
 * the service's own set; it does not survive a restart).
 */
export function suspendedIn(
  config: Readonly<BrokerConfig>,
  runtime: ReadonlySet<string>,
): (serverId: string) => boolean {
  const configured = new Set(config.servers.filter((s) => s.suspended).map((s) => s.id));
  return (serverId) => runtime.has(serverId) || configured.has(serverId);
}

/** Whether the KYC policy needs an approved KYC before this product opens or is funded. */
export function needsKyc(config: Readonly<BrokerConfig>, product: Readonly<ProductConfig>): boolean {
  if (product.requiresKyc !== undefined) return product.requiresKyc;
  return product.kind === 'live' || !config.kyc.demoBeforeKyc;
}
