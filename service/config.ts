import { z } from 'zod';
import { type Issue, MtproofError, schemaIssues } from '../kit/errors.ts';
import { deepFreeze } from '../kit/freeze.ts';

/**
 * The broker's configuration: servers, products, routing, KYC, funding, retries, connections,
 * reconciliation and alerts. Validated once (zod plus cross-field checks), then frozen. Every error names
 * the path of the offending field, e.g. `products[2].groups.mt4-live-eu`.
 *
 * Secrets are never inline: a server's manager password and the alert webhook's URL and signing key are
 * given as the names of environment variables (`passwordEnv`, ...), read through the service's secrets port.
 */

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as MTPROOF_MT4_PASSWORD');
const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes (at most 63)');
const ms = z.number().int().min(0);
const positiveMs = z.number().int().min(1);
const cents = z.number().int().min(0);
export const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'a three-letter currency code such as USD');
export const countryCode = z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166 two-letter country code such as DE');

/** Keys that would carry a secret inline: refused with a message that says what to write instead. */
const INLINE_SECRETS: Readonly<Record<string, string>> = {
  password: 'secrets are never inline: name an environment variable with passwordEnv',
  secret: 'secrets are never inline: name an environment variable with secretEnv',
  url: 'webhook URLs carry tokens: name an environment variable with urlEnv',
  token: 'secrets are never inline: name an environment variable',
  apiKey: 'secrets are never inline: name an environment variable',
};

const serverSchema = z.strictObject({
  /** In simulation, the id of a simulated server; in real use, the broker's name for the server. */
  id,
  platform: z.enum(['mt4', 'mt5']),
  kind: z.enum(['live', 'demo']),
  /** HOST:PORT of the server (real use; the simulator ignores it). */
  address: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'HOST:PORT')
    .optional(),
  /** The manager account the service logs in with. */
  login: z.number().int().positive(),
  /** Environment variable holding the manager's password. */
  passwordEnv: envName,
  /** Taken out of routing by an operator: new accounts go to the rule's fallback. */
  suspended: z.boolean().default(false),
  /** How long the service waits for an answer before the call's outcome is unknown. */
  timeoutMs: positiveMs.default(10_000),
});

const productSchema = z.strictObject({
  id,
  name: z.string().min(1).optional(),
  kind: z.enum(['live', 'demo']),
  /** When set, the product opens only on servers of this platform. */
  platform: z.enum(['mt4', 'mt5']).optional(),
  /** The group the product's accounts get on each server that offers it (server id → group name). */
  groups: z.record(z.string(), z.string().min(1)).refine((g) => Object.keys(g).length > 0, 'at least one server'),
  currency: currencyCode,
  /** Leverage (1:N) set on opening; absent: the group's default. */
  leverage: z.number().int().min(1).max(1000).optional(),
  /** Needs an approved KYC to open and to fund. Absent: live products do, demo products follow kyc.demoBeforeKyc. */
  requiresKyc: z.boolean().optional(),
});

const routingRuleSchema = z.strictObject({
  /** Client countries this rule covers... */
  countries: z.array(countryCode).min(1).optional(),
  /** ...or jurisdictions (names from `jurisdictions`); neither: every client. */
  jurisdictions: z.array(z.string().min(1)).min(1).optional(),
  kind: z.enum(['live', 'demo']),
  server: z.string().min(1),
  /** Where new accounts go while `server` is suspended (same kind); none: they wait, pending. */
  fallback: z.string().min(1).optional(),
});

const limitsSchema = z.strictObject({ minCents: cents.default(1), maxCents: cents });

const fundingCurrencySchema = z.strictObject({
  deposit: limitsSchema,
  withdrawal: limitsSchema,
  credit: limitsSchema.optional(),
});

const retrySchema = z.strictObject({
  initialDelayMs: positiveMs.default(1_000),
  factor: z.number().min(1).max(10).default(2),
  maxDelayMs: positiveMs.default(60_000),
  /** Each delay is drawn from [d × (1 − jitter), d] (from the service's Random). */
  jitter: z.number().min(0).max(1).default(0.5),
  /** Past this much time since acceptance a transfer stops being retried and goes to review with an alert. */
  deadlineMs: positiveMs.default(3_600_000),
});

const postingSchema = z.strictObject({
  /**
   * After an unknown outcome, "not in history" proves nothing until this long after the send: history can
   * lag behind the balance. Must exceed the servers' worst history lag (see service/README.md).
   */
  historyLagToleranceMs: ms.default(180_000),
  /** A claimed job is the worker's for this long; a crashed worker's jobs are picked up after it. */
  leaseMs: positiveMs.default(120_000),
  /** Jobs worked on at once by one service instance. */
  concurrency: z.number().int().min(1).max(64).default(4),
  /** Longest sleep of an idle worker before it looks for due jobs again. */
  idlePollMs: positiveMs.default(5_000),
  /** History lookups cover from this long before the transfer was accepted (server clock skew, time zones). */
  lookbackMs: positiveMs.default(2 * 86_400_000),
});

const connectionsSchema = z.strictObject({
  pingIntervalMs: positiveMs.default(30_000),
  reconnectInitialDelayMs: positiveMs.default(1_000),
  reconnectMaxDelayMs: positiveMs.default(60_000),
  /** No pumped event for this long: after the next successful ping, subscribe to the pump afresh. */
  pumpQuietMs: positiveMs.default(120_000),
  /**
   * Every this long, each open account's trades are read from history and any the pump missed are recorded
   * (a lost event is recovered within about this long; an account read within it, by a reconnect or a quiet
   * pump subscribed afresh, is skipped).
   */
  tradeSyncIntervalMs: positiveMs.default(300_000),
  breaker: z
    .strictObject({
      /** Consecutive failed calls (unavailable or unknown) that open the circuit. */
      failures: z.number().int().min(1).default(5),
      /** How long an open circuit refuses calls before one trial call is let through. */
      openMs: positiveMs.default(30_000),
    })
    .prefault({}),
});

const reconciliationSchema = z.strictObject({
  /** Run on a schedule every this many ms; absent: on demand only. */
  everyMs: positiveMs.optional(),
  /** Transfers and operations younger than this are in flight, not findings (history lag, payouts). */
  settleMs: ms.default(600_000),
  /** Which servers' history is compared (demo servers fund new accounts on their own). */
  kinds: z
    .array(z.enum(['live', 'demo']))
    .min(1)
    .default(['live']),
});

const alertsSchema = z.strictObject({
  /** A transfer still posting after this long raises a "stuck" alert. */
  stuckAfterMs: positiveMs.default(1_800_000),
  /** Attempts to deliver an alert to the webhook before giving up (it stays in the store). */
  deliveryAttempts: z.number().int().min(1).default(5),
  webhook: z
    .strictObject({
      urlEnv: envName,
      /** Environment variable with the HMAC-SHA256 key that signs each body (X-Mtproof-Signature). */
      secretEnv: envName.optional(),
      timeoutMs: positiveMs.default(5_000),
    })
    .optional(),
});

const ibPlanSchema = z.strictObject({
  id,
  name: z.string().min(1).optional(),
  /** Commission per round-turn lot (1.00 lot), in minor units of the account's currency, paid on the close. */
  commissionPerLotCents: cents,
  /** Symbol → rate overriding `commissionPerLotCents` (e.g. gold pays more). */
  symbols: z.record(z.string().min(1), cents).default({}),
});

const ibSchema = z.strictObject({
  plans: z.array(ibPlanSchema).default([]),
  /** Introducing brokers; a client registered with `partnerId` earns its partner the plan's commission. */
  partners: z.array(z.strictObject({ id, name: z.string().min(1).optional(), plan: id })).default([]),
});

const crmSchema = z.strictObject({
  /** Which CRM the service writes account id, status and onboarding state back to. */
  system: z.enum(['hubspot', 'salesforce']),
  /** Base URL of the CRM's REST API (https://api.hubapi.com, https://ACME.my.salesforce.com). */
  baseUrl: z.url(),
  /** Environment variable holding the API token (HubSpot private app token, Salesforce OAuth access token). */
  tokenEnv: envName,
  /** How long the service waits for the CRM's answer before it retries later. */
  timeoutMs: positiveMs.default(10_000),
  /** Attempts before a write-back is given up (and alerted). */
  attempts: z.number().int().min(1).default(10),
});

const pspSchema = z.strictObject({
  webhook: z
    .strictObject({
      /** Environment variable with the HMAC-SHA256 key the provider signs webhook bodies with. */
      secretEnv: envName,
      /** Signed timestamps older (or newer) than this are refused: a replayed capture is not a payment. */
      toleranceMs: positiveMs.default(300_000),
    })
    .optional(),
});

const brokerConfigSchema = z.strictObject({
  version: z.literal(1),
  servers: z.array(serverSchema).min(1),
  /** Jurisdiction name → its countries. A country belongs to at most one jurisdiction. */
  jurisdictions: z.record(z.string().min(1), z.array(countryCode).min(1)).default({}),
  products: z.array(productSchema).min(1),
  routing: z.array(routingRuleSchema).min(1),
  kyc: z
    .strictObject({
      /** Demo accounts may open before KYC is approved (unless the product says requiresKyc). */
      demoBeforeKyc: z.boolean().default(true),
    })
    .prefault({}),
  funding: z.strictObject({
    currencies: z.record(currencyCode, fundingCurrencySchema),
    /** A withdrawal is posted only if the server says the account's free margin covers it. */
    withdrawalsNeedFreeMargin: z.boolean().default(true),
  }),
  references: z
    .strictObject({
      /** Starts every transfer reference (and so every comment the service writes). */
      prefix: z
        .string()
        .regex(/^[A-Z][A-Z0-9]{0,7}$/, '1 to 8 upper-case letters and digits, starting with a letter')
        .default('MTP'),
    })
    .prefault({}),
  retry: retrySchema.prefault({}),
  posting: postingSchema.prefault({}),
  connections: connectionsSchema.prefault({}),
  reconciliation: reconciliationSchema.prefault({}),
  alerts: alertsSchema.prefault({}),
  ib: ibSchema.prefault({}),
  crm: crmSchema.optional(),
  psp: pspSchema.prefault({}),
});

export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type ServerConfig = BrokerConfig['servers'][number];
export type ProductConfig = BrokerConfig['products'][number];
export type RoutingRule = BrokerConfig['routing'][number];
export type RetryPolicy = BrokerConfig['retry'];
export type IbPlan = BrokerConfig['ib']['plans'][number];
export type CrmConfig = NonNullable<BrokerConfig['crm']>;

/** Environment variables the config names for secrets, each with its path. */
export function secretEnvs(config: Readonly<BrokerConfig>): { name: string; path: string }[] {
  const out = config.servers.map((s, i) => ({ name: s.passwordEnv, path: `servers[${i}].passwordEnv` }));
  const webhook = config.alerts.webhook;
  if (webhook !== undefined) {
    out.push({ name: webhook.urlEnv, path: 'alerts.webhook.urlEnv' });
    if (webhook.secretEnv !== undefined) out.push({ name: webhook.secretEnv, path: 'alerts.webhook.secretEnv' });
  }
  if (config.crm !== undefined) out.push({ name: config.crm.tokenEnv, path: 'crm.tokenEnv' });
  if (config.psp.webhook !== undefined) out.push({ name: config.psp.webhook.secretEnv, path: 'psp.webhook.secretEnv' });
  return out;
}

/** Parses and checks a broker configuration; throws MTP_CONFIG_INVALID listing every problem by path. */
export function parseBrokerConfig(raw: unknown, source = 'broker config'): Readonly<BrokerConfig> {
  const parsed = brokerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = schemaIssues(parsed.error).map((issue) => {
      // An unknown key that would carry a secret says what to write instead.
      const key = issue.path.slice(issue.path.lastIndexOf('.') + 1);
      const why = issue.message === 'unknown field' ? INLINE_SECRETS[key] : undefined;
      return why === undefined ? issue : { path: issue.path, message: why };
    });
    throw new MtproofError('MTP_CONFIG_INVALID', `${source} is invalid`, issues);
  }
  const issues = crossCheck(parsed.data);
  if (issues.length > 0) throw new MtproofError('MTP_CONFIG_INVALID', `${source} is invalid`, issues);
  return deepFreeze(parsed.data);
}

function crossCheck(config: BrokerConfig): Issue[] {
  const issues: Issue[] = [];
  const servers = new Map<string, ServerConfig>();
  config.servers.forEach((server, i) => {
    if (servers.has(server.id))
      issues.push({ path: `servers[${i}].id`, message: `duplicate server id "${server.id}"` });
    servers.set(server.id, server);
  });

  const countryHome = new Map<string, string>();
  for (const [name, countries] of Object.entries(config.jurisdictions)) {
    countries.forEach((c, i) => {
      const other = countryHome.get(c);
      if (other !== undefined && other !== name) {
        issues.push({ path: `jurisdictions.${name}[${i}]`, message: `${c} is already in jurisdiction "${other}"` });
      }
      countryHome.set(c, name);
    });
  }

  const productIds = new Set<string>();
  config.products.forEach((product, p) => {
    const at = `products[${p}]`;
    if (productIds.has(product.id)) issues.push({ path: `${at}.id`, message: `duplicate product id "${product.id}"` });
    productIds.add(product.id);
    for (const [serverId, group] of Object.entries(product.groups)) {
      const path = `${at}.groups.${serverId}`;
      const server = servers.get(serverId);
      if (server === undefined) {
        issues.push({ path, message: `no server "${serverId}" in servers` });
        continue;
      }
      if (server.kind !== product.kind) {
        issues.push({ path, message: `a ${product.kind} product mapped to ${server.kind} server "${serverId}"` });
      }
      if (product.platform !== undefined && server.platform !== product.platform) {
        issues.push({
          path,
          message: `an ${product.platform} product mapped to ${server.platform} server "${serverId}"`,
        });
      }
      if (server.platform === 'mt4' && (group.includes('\\') || group.length > 15)) {
        issues.push({ path, message: `"${group}" is not an MT4 group name (flat, at most 15 characters)` });
      }
    }
    if (config.funding.currencies[product.currency] === undefined) {
      issues.push({
        path: `${at}.currency`,
        message: `no funding rules for ${product.currency} in funding.currencies`,
      });
    }
  });

  config.routing.forEach((rule, r) => {
    const at = `routing[${r}]`;
    for (const [field, serverId] of [
      ['server', rule.server],
      ['fallback', rule.fallback],
    ] as const) {
      if (serverId === undefined) continue;
      const server = servers.get(serverId);
      if (server === undefined) issues.push({ path: `${at}.${field}`, message: `no server "${serverId}" in servers` });
      else if (server.kind !== rule.kind) {
        issues.push({
          path: `${at}.${field}`,
          message: `a ${rule.kind} rule routes to ${server.kind} server "${serverId}"`,
        });
      }
    }
    if (rule.fallback !== undefined && rule.fallback === rule.server) {
      issues.push({ path: `${at}.fallback`, message: 'the fallback is the server itself' });
    }
    rule.jurisdictions?.forEach((j, i) => {
      if (config.jurisdictions[j] === undefined) {
        issues.push({ path: `${at}.jurisdictions[${i}]`, message: `no jurisdiction "${j}" in jurisdictions` });
      }
    });
    if (rule.countries !== undefined && rule.jurisdictions !== undefined) {
      issues.push({ path: at, message: 'give countries or jurisdictions, not both' });
    }
  });

  for (const [code, rules] of Object.entries(config.funding.currencies)) {
    for (const kind of ['deposit', 'withdrawal', 'credit'] as const) {
      const limits = rules[kind];
      if (limits !== undefined && limits.maxCents < limits.minCents) {
        issues.push({
          path: `funding.currencies.${code}.${kind}.maxCents`,
          message: `must be >= minCents (${limits.minCents})`,
        });
      }
    }
  }

  const planIds = new Set<string>();
  config.ib.plans.forEach((plan, i) => {
    if (planIds.has(plan.id)) issues.push({ path: `ib.plans[${i}].id`, message: `duplicate plan id "${plan.id}"` });
    planIds.add(plan.id);
  });
  const partnerIds = new Set<string>();
  config.ib.partners.forEach((partner, i) => {
    if (partnerIds.has(partner.id))
      issues.push({ path: `ib.partners[${i}].id`, message: `duplicate partner id "${partner.id}"` });
    partnerIds.add(partner.id);
    if (!planIds.has(partner.plan))
      issues.push({ path: `ib.partners[${i}].plan`, message: `no plan "${partner.plan}" in ib.plans` });
  });

  if (config.retry.maxDelayMs < config.retry.initialDelayMs) {
    issues.push({
      path: 'retry.maxDelayMs',
      message: `must be >= retry.initialDelayMs (${config.retry.initialDelayMs})`,
    });
  }
  // An attempt that outlives its lease loses the job: its later writes are refused, and the next owner
  // waits out the history-lag tolerance after any send it may have made. Leases shorter than an attempt
  // (up to 4 calls) would make that the rule instead of the exception.
  const slowest = Math.max(...config.servers.map((s) => s.timeoutMs));
  if (config.posting.leaseMs < 4 * slowest) {
    issues.push({
      path: 'posting.leaseMs',
      message: `must be at least 4 × the longest server timeoutMs (${4 * slowest}): a job makes up to 4 calls`,
    });
  }
  // A CRM write that outlives its job's lease may land after the next owner's newer write and stay there.
  if (config.crm !== undefined && config.crm.timeoutMs >= config.posting.leaseMs) {
    issues.push({
      path: 'crm.timeoutMs',
      message: `must be below posting.leaseMs (${config.posting.leaseMs}): a write-back must end within its job's lease`,
    });
  }
  return issues;
}
