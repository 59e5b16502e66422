import { z } from 'zod';
import { type Issue, MtproofError, schemaIssues } from '../kit/errors.ts';
import { deepFreeze } from '../kit/freeze.ts';
import { MT4_LIMITS, MT5_LIMITS } from '../metatrader/limits.ts';

/**
 * The simulated cluster's configuration: which servers exist and what each one holds. Validated once
 * (zod plus cross-field checks), then frozen. Every error names the path of the offending field.
 */

/**
 * The highest MT4 leverage (1:N) the simulator accepts. The facts file documents no MT4 cap, so this is the
 * simulator's choice, not a platform fact (metatrader/ holds only those); MT5's cap is MT5_LIMITS.leverageMax.
 */
export const MT4_MAX_LEVERAGE = 1000;

const groupSchema = z.strictObject({
  /** MT4: a flat name of at most 15 bytes. MT5: a path such as `real\standard-usd`. */
  name: z.string().min(1),
  currency: z.string().regex(/^[A-Z]{3}$/, 'a three-letter currency code such as USD'),
  /** Default leverage of new accounts (1:N). */
  leverage: z.number().int().min(1).max(MT4_MAX_LEVERAGE),
  /** Deposit a new account receives on a demo server (minor units). */
  depositCents: z.number().int().min(0).default(0),
  marginCallPct: z.number().min(0).max(10_000).default(100),
  stopOutPct: z.number().min(0).max(10_000).default(50),
  enabled: z.boolean().default(true),
});

const managerSchema = z.strictObject({
  login: z.number().int().positive(),
  password: z.string().min(1),
  enabled: z.boolean().default(true),
  rights: z
    .strictObject({
      /** Create and modify accounts (MT4 ConManager.manager). */
      accounts: z.boolean().default(true),
      /** Balance and credit operations (MT4 ConManager.money, MT5 "Accountant"). */
      money: z.boolean().default(true),
      /** See trades and history (MT4 ConManager.see_trades). */
      trades: z.boolean().default(true),
    })
    .default({ accounts: true, money: true, trades: true }),
  /** Group masks this manager may work with: `*` wildcard, `!` excludes (MT5 style). */
  groups: z.array(z.string().min(1)).min(1).default(['*']),
});

const serverSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  platform: z.enum(['mt4', 'mt5']),
  kind: z.enum(['live', 'demo']),
  jurisdiction: z.string().min(1),
  logins: z.strictObject({ from: z.number().int().positive(), to: z.number().int().positive() }),
  /** Offset of the server's wall clock from UTC, in minutes (MT4 ConCommon.timezone is hours). */
  timezoneOffsetMin: z.number().int().min(-720).max(840).default(0),
  groups: z.array(groupSchema).min(1),
  managers: z.array(managerSchema).min(1),
});

const symbolSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(MT4_LIMITS.symbolBytes)
    // Each symbol's price walk is a random stream forked by the symbol's name, and `/` separates fork names.
    .regex(/^[^/]*$/, 'a symbol name may not contain "/"'),
  digits: z.number().int().min(0).max(8),
  contractSize: z.number().positive(),
  /** Starting mid price. */
  price: z.number().positive(),
  /** Spread in points (1 point = 10^-digits). */
  spreadPoints: z.number().int().min(0).default(10),
  /** Standard deviation of one second's price move, in points. */
  volatilityPoints: z.number().min(0).default(5),
});

/** Symbols every cluster trades unless its configuration lists its own. */
export const DEFAULT_SYMBOLS: readonly SymbolConfig[] = [
  { name: 'EURUSD', digits: 5, contractSize: 100_000, price: 1.085, spreadPoints: 10, volatilityPoints: 4 },
  { name: 'GBPUSD', digits: 5, contractSize: 100_000, price: 1.27, spreadPoints: 14, volatilityPoints: 5 },
  { name: 'XAUUSD', digits: 2, contractSize: 100, price: 2050, spreadPoints: 30, volatilityPoints: 20 },
];

const clusterConfigSchema = z.strictObject({
  /** Virtual time at which a run starts (ISO 8601, UTC). */
  startAt: z.iso.datetime().default('2026-01-05T06:00:00Z'),
  servers: z.array(serverSchema).min(1),
  /** Symbols clients trade; the default EURUSD, GBPUSD and XAUUSD when absent. */
  symbols: z
    .array(symbolSchema)
    .min(1)
    .default(() => DEFAULT_SYMBOLS.map((s) => ({ ...s }))),
});

export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;
export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type ServerConfig = ClusterConfig['servers'][number];
export type GroupConfig = ServerConfig['groups'][number];
export type ManagerConfig = ServerConfig['managers'][number];
export type SymbolConfig = z.output<typeof symbolSchema>;

/** Validates a cluster configuration; throws MtproofError(MTP_CONFIG_INVALID) naming every bad field. */
export function parseClusterConfig(raw: unknown, source = 'cluster config'): Readonly<ClusterConfig> {
  const parsed = clusterConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new MtproofError('MTP_CONFIG_INVALID', `${source} is invalid`, schemaIssues(parsed.error));
  }
  const config = parsed.data;
  const issues = crossCheck(config);
  if (issues.length > 0) throw new MtproofError('MTP_CONFIG_INVALID', `${source} is invalid`, issues);
  return deepFreeze(config);
}

function crossCheck(config: ClusterConfig): Issue[] {
  const issues: Issue[] = [];
  const ids = new Set<string>();
  config.servers.forEach((server, s) => {
    const at = `servers[${s}]`;
    if (ids.has(server.id)) issues.push({ path: `${at}.id`, message: `duplicate server id "${server.id}"` });
    ids.add(server.id);
    if (server.logins.to < server.logins.from) {
      issues.push({ path: `${at}.logins.to`, message: `must be >= logins.from (${server.logins.from})` });
    }
    if (server.logins.to > 2_147_483_647 && server.platform === 'mt4') {
      issues.push({ path: `${at}.logins.to`, message: 'MT4 logins are 32-bit signed integers' });
    }
    const names = new Set<string>();
    server.groups.forEach((group, g) => {
      const gat = `${at}.groups[${g}].name`;
      if (names.has(group.name)) issues.push({ path: gat, message: `duplicate group "${group.name}"` });
      names.add(group.name);
      if (server.platform === 'mt4') {
        if (group.name.includes('\\')) {
          issues.push({ path: gat, message: 'MT4 group names are flat: no backslash' });
        }
        if (Buffer.byteLength(group.name, 'latin1') > MT4_LIMITS.groupNameBytes || /[^\x20-\xff]/.test(group.name)) {
          issues.push({
            path: gat,
            message: `MT4 group names are at most ${MT4_LIMITS.groupNameBytes} Latin-1 characters`,
          });
        }
      } else if (group.name.length > 63 || group.name.startsWith('\\') || group.name.endsWith('\\')) {
        issues.push({ path: gat, message: 'MT5 group names are paths such as real\\standard-usd (<= 63 chars)' });
      }
      if (server.platform === 'mt5' && group.leverage > MT5_LIMITS.leverageMax) {
        issues.push({ path: `${at}.groups[${g}].leverage`, message: `MT5 leverage is 1..${MT5_LIMITS.leverageMax}` });
      }
      if (group.stopOutPct > group.marginCallPct) {
        issues.push({ path: `${at}.groups[${g}].stopOutPct`, message: 'must not exceed marginCallPct' });
      }
    });
    const managers = new Set<number>();
    server.managers.forEach((manager, m) => {
      if (managers.has(manager.login)) {
        issues.push({ path: `${at}.managers[${m}].login`, message: `duplicate manager login ${manager.login}` });
      }
      managers.add(manager.login);
      if (manager.login >= server.logins.from && manager.login <= server.logins.to) {
        issues.push({ path: `${at}.managers[${m}].login`, message: 'must lie outside the client login range' });
      }
    });
  });
  const symbols = new Set<string>();
  config.symbols.forEach((symbol, i) => {
    if (symbols.has(symbol.name))
      issues.push({ path: `symbols[${i}].name`, message: `duplicate symbol ${symbol.name}` });
    symbols.add(symbol.name);
  });
  return issues;
}
