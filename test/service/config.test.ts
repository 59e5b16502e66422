import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Issue, MtproofError } from '../../kit/errors.ts';
import { type BrokerConfigInput, parseBrokerConfig } from '../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';

/** Broker configuration validation: every rejection is MTP_CONFIG_INVALID and names the offending field's path. */

// The input types are strict; the tests feed deliberately wrong shapes.
// biome-ignore lint/suspicious/noExplicitAny: test fixtures edit configs freely
type Loose = any;

const EXAMPLE = new URL('../../examples/broker.yaml', import.meta.url);

/** A fresh, editable copy of the default configuration with `edit` applied. */
function edited(edit: (c: Loose) => void): BrokerConfigInput {
  const copy = structuredClone(DEFAULT_BROKER_CONFIG) as Loose;
  edit(copy);
  return copy;
}

function rejection(raw: unknown): MtproofError {
  try {
    parseBrokerConfig(raw);
  } catch (error) {
    if (error instanceof MtproofError) return error;
    throw error;
  }
  throw new Error('the config was accepted');
}

function issuesOf(edit: (c: Loose) => void): readonly Issue[] {
  const error = rejection(edited(edit));
  expect(error.code).toBe('MTP_CONFIG_INVALID');
  return error.issues;
}

function pathsOf(edit: (c: Loose) => void): string[] {
  return issuesOf(edit).map((i) => i.path);
}

describe('parseBrokerConfig accepts', () => {
  it('examples/broker.yaml, equal to the embedded default configuration', () => {
    const fromYaml = parseBrokerConfig(parse(readFileSync(EXAMPLE, 'utf8')), 'examples/broker.yaml');
    const embedded = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
    expect(fromYaml).toEqual(embedded);
    // The YAML's single-quoted backslash is a literal backslash, as in the TypeScript string.
    expect(fromYaml.products[1]?.groups['mt5-live-global']).toBe('real\\standard-usd');
  });

  it('fills in the defaults of omitted sections', () => {
    const config = parseBrokerConfig(
      edited((c) => {
        delete c.retry;
        delete c.kyc;
        delete c.references;
        delete c.servers[0].address;
      }),
    );
    expect(config.retry).toEqual({
      initialDelayMs: 1000,
      factor: 2,
      maxDelayMs: 60_000,
      jitter: 0.5,
      deadlineMs: 3_600_000,
    });
    expect(config.kyc.demoBeforeKyc).toBe(true);
    expect(config.references.prefix).toBe('MTP');
    expect(config.servers[0]?.suspended).toBe(false);
    expect(config.servers[0]?.timeoutMs).toBe(10_000);
  });

  it('returns a deeply frozen configuration', () => {
    const config = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.servers)).toBe(true);
    expect(Object.isFrozen(config.servers[0])).toBe(true);
    expect(Object.isFrozen(config.jurisdictions.eu)).toBe(true);
    expect(Object.isFrozen(config.products[2]?.groups)).toBe(true);
    expect(Object.isFrozen(config.funding.currencies.USD?.deposit)).toBe(true);
    expect(Object.isFrozen(config.connections.breaker)).toBe(true);
    expect(Object.isFrozen(config.reconciliation.kinds)).toBe(true);
    expect(() => {
      (config.servers[0] as Loose).suspended = true;
    }).toThrow(TypeError);
    expect(config.servers[0]?.suspended).toBe(false);
  });

  it('leaves the input it was given unfrozen', () => {
    const raw = edited(() => {});
    parseBrokerConfig(raw);
    expect(Object.isFrozen(raw)).toBe(false);
    expect(Object.isFrozen(raw.servers[0])).toBe(false);
    expect(Object.isFrozen((raw as Loose).jurisdictions.eu)).toBe(false);
  });

  it('an MT4 group name of exactly 15 characters', () => {
    const config = parseBrokerConfig(edited((c) => (c.products[0].groups['mt4-live-eu'] = 'eu-std-usd-1234')));
    expect(config.products[0]?.groups['mt4-live-eu']).toBe('eu-std-usd-1234');
  });

  it('a lease of exactly 4 × the longest server timeout', () => {
    const config = parseBrokerConfig(edited((c) => (c.servers[1].timeoutMs = 30_000)));
    expect(config.posting.leaseMs).toBe(120_000);
  });
});

describe('parseBrokerConfig rejects', () => {
  it('a product mapping a group to an unknown server, at products[i].groups.<server>', () => {
    const issues = issuesOf((c) => (c.products[2].groups.nope = 'x'));
    expect(issues).toEqual([{ path: 'products[2].groups.nope', message: 'no server "nope" in servers' }]);
  });

  it('a live product mapped to the demo server', () => {
    const issues = issuesOf((c) => (c.products[2].groups['mt4-demo'] = 'demo-pro-usd'));
    expect(issues.map((i) => i.path)).toEqual(['products[2].groups.mt4-demo']);
    expect(issues[0]?.message).toMatch(/live product mapped to demo server "mt4-demo"/);
  });

  it('a product of one platform mapped to a server of the other', () => {
    expect(pathsOf((c) => (c.products[0].groups['mt5-live-global'] = 'real\\x'))).toEqual([
      'products[0].groups.mt5-live-global',
    ]);
  });

  it('an MT4 group name with a backslash', () => {
    const issues = issuesOf((c) => (c.products[0].groups['mt4-live-eu'] = 'eu\\std-usd'));
    expect(issues.map((i) => i.path)).toEqual(['products[0].groups.mt4-live-eu']);
    expect(issues[0]?.message).toMatch(/not an MT4 group name/);
  });

  it('an MT4 group name longer than 15 characters', () => {
    expect(pathsOf((c) => (c.products[0].groups['mt4-live-eu'] = 'eu-std-usd-12345'))).toEqual([
      'products[0].groups.mt4-live-eu',
    ]);
  });

  it('duplicate server ids, at the second one', () => {
    const issues = issuesOf((c) => c.servers.push({ ...c.servers[0], login: 2000 }));
    expect(issues).toEqual([{ path: 'servers[3].id', message: 'duplicate server id "mt4-live-eu"' }]);
  });

  it('duplicate product ids, at the second one', () => {
    expect(pathsOf((c) => (c.products[5].id = 'demo-standard'))).toEqual(['products[5].id']);
  });

  it('a routing rule to an unknown server', () => {
    expect(pathsOf((c) => (c.routing[1].server = 'mt5-live-asia'))).toEqual(['routing[1].server']);
  });

  it('a routing rule to a server of the other kind', () => {
    const issues = issuesOf((c) => (c.routing[2].server = 'mt5-live-global'));
    expect(issues.map((i) => i.path)).toEqual(['routing[2].server']);
    expect(issues[0]?.message).toMatch(/demo rule routes to live server "mt5-live-global"/);
  });

  it('a fallback of the other kind', () => {
    expect(pathsOf((c) => (c.routing[0].fallback = 'mt4-demo'))).toEqual(['routing[0].fallback']);
  });

  it('a fallback equal to the rule server', () => {
    const issues = issuesOf((c) => (c.routing[0].fallback = 'mt4-live-eu'));
    expect(issues).toEqual([{ path: 'routing[0].fallback', message: 'the fallback is the server itself' }]);
  });

  it('an unknown jurisdiction in a routing rule', () => {
    const issues = issuesOf((c) => (c.routing[0].jurisdictions = ['eu', 'uk']));
    expect(issues).toEqual([{ path: 'routing[0].jurisdictions[1]', message: 'no jurisdiction "uk" in jurisdictions' }]);
  });

  it('a rule giving both countries and jurisdictions', () => {
    expect(pathsOf((c) => (c.routing[0].countries = ['DE']))).toEqual(['routing[0]']);
  });

  it('a country in two jurisdictions, at its place in the second', () => {
    const issues = issuesOf((c) => (c.jurisdictions.dach = ['CH', 'DE']));
    expect(issues.map((i) => i.path)).toEqual(['jurisdictions.dach[1]']);
    expect(issues[0]?.message).toBe('DE is already in jurisdiction "eu"');
  });

  it('a product currency without funding rules', () => {
    const issues = issuesOf((c) => (c.products[4].currency = 'EUR'));
    expect(issues).toEqual([
      { path: 'products[4].currency', message: 'no funding rules for EUR in funding.currencies' },
    ]);
  });

  it('a maximum funding amount below the minimum', () => {
    expect(pathsOf((c) => (c.funding.currencies.USD.withdrawal = { minCents: 5000, maxCents: 4999 }))).toEqual([
      'funding.currencies.USD.withdrawal.maxCents',
    ]);
    expect(pathsOf((c) => (c.funding.currencies.USD.credit.maxCents = 0))).toEqual([
      'funding.currencies.USD.credit.maxCents',
    ]);
  });

  it('a maximum retry delay below the initial one', () => {
    expect(pathsOf((c) => (c.retry.maxDelayMs = 999))).toEqual(['retry.maxDelayMs']);
  });

  it('a lease shorter than 4 × a server timeout', () => {
    const issues = issuesOf((c) => (c.servers[1].timeoutMs = 30_001));
    expect(issues.map((i) => i.path)).toEqual(['posting.leaseMs']);
    expect(issues[0]?.message).toContain('120004');
  });

  it('a CRM timeout as long as a job lease, at crm.timeoutMs', () => {
    const crm = { system: 'hubspot', baseUrl: 'https://api.hubapi.com', tokenEnv: 'MTPROOF_CRM_TOKEN' };
    expect(pathsOf((c) => (c.crm = { ...crm, timeoutMs: 120_000 }))).toEqual(['crm.timeoutMs']);
    expect(() => parseBrokerConfig(edited((c) => (c.crm = { ...crm, timeoutMs: 119_999 })))).not.toThrow();
  });

  it('an IB partner on a plan that does not exist, at ib.partners[i].plan', () => {
    expect(pathsOf((c) => c.ib.partners.push({ id: 'ib-x', plan: 'nope' }))).toEqual(['ib.partners[1].plan']);
  });

  it('an inline password on a server, saying to use passwordEnv', () => {
    const issues = issuesOf((c) => (c.servers[0].password = 'Manager#1'));
    expect(issues.map((i) => i.path)).toEqual(['servers[0].password']);
    expect(issues[0]?.message).toContain('passwordEnv');
  });

  it('an inline webhook url, saying to use urlEnv', () => {
    const issues = issuesOf((c) => (c.alerts.webhook = { urlEnv: 'MTPROOF_WEBHOOK_URL', url: 'https://x' }));
    expect(issues.map((i) => i.path)).toEqual(['alerts.webhook.url']);
    expect(issues[0]?.message).toContain('urlEnv');
  });

  it('a bad environment variable name', () => {
    expect(pathsOf((c) => (c.servers[2].passwordEnv = 'mtproof-demo-password'))).toEqual(['servers[2].passwordEnv']);
    expect(pathsOf((c) => (c.servers[2].passwordEnv = '1PASSWORD'))).toEqual(['servers[2].passwordEnv']);
  });

  it('unknown keys, each at its own path', () => {
    const issues = issuesOf((c) => {
      c.region = 'eu';
      c.servers[1].colour = 'red';
      c.posting.workers = 3;
    });
    expect(issues.map((i) => i.path).sort()).toEqual(['posting.workers', 'region', 'servers[1].colour']);
    expect(issues.every((i) => i.message === 'unknown field')).toBe(true);
  });

  it('a bad currency code as a funding key', () => {
    expect(
      pathsOf((c) => {
        c.funding.currencies.usd = c.funding.currencies.USD;
      }),
    ).toEqual(['funding.currencies.usd']);
  });

  it('a bad reference prefix', () => {
    expect(pathsOf((c) => (c.references.prefix = 'ABCDEFGHI'))).toEqual(['references.prefix']);
    expect(pathsOf((c) => (c.references.prefix = 'mtp'))).toEqual(['references.prefix']);
  });

  it('a version other than 1', () => {
    expect(pathsOf((c) => (c.version = 2))).toEqual(['version']);
  });

  it('every cross-field problem of one config at once', () => {
    const paths = pathsOf((c) => {
      c.products[2].groups.nope = 'x';
      c.routing[0].fallback = 'mt4-live-eu';
      c.servers[1].timeoutMs = 60_000;
    });
    expect(paths.sort()).toEqual(['posting.leaseMs', 'products[2].groups.nope', 'routing[0].fallback']);
  });

  it('with the source and every issue path in the message', () => {
    let error: unknown;
    try {
      parseBrokerConfig(
        edited((c) => (c.products[2].groups.nope = 'x')),
        'broker.yaml',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MtproofError);
    expect((error as MtproofError).message).toContain('broker.yaml is invalid');
    expect((error as MtproofError).message).toContain('products[2].groups.nope');
  });
});
