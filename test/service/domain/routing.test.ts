import { describe, expect, it } from 'vitest';
import {
  type BrokerConfig,
  type BrokerConfigInput,
  type ProductConfig,
  parseBrokerConfig,
} from '../../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../../service/default-config.ts';
import { jurisdictionOf, needsKyc, route } from '../../../service/domain/routing.ts';

// biome-ignore lint/suspicious/noExplicitAny: test fixtures edit configs freely
type Loose = any;

const CONFIG = parseBrokerConfig(DEFAULT_BROKER_CONFIG);

function configWith(edit: (c: Loose) => void): Readonly<BrokerConfig> {
  const copy = structuredClone(DEFAULT_BROKER_CONFIG) as Loose;
  edit(copy);
  return parseBrokerConfig(copy as BrokerConfigInput);
}

function product(id: string, config: Readonly<BrokerConfig> = CONFIG): Readonly<ProductConfig> {
  const found = config.products.find((p) => p.id === id);
  if (found === undefined) throw new Error(`no product ${id}`);
  return found;
}

const NONE_SUSPENDED = () => false;
const suspended =
  (...ids: string[]) =>
  (serverId: string) =>
    ids.includes(serverId);

describe('route', () => {
  it('places an EU client of eu-classic on the EU server, by the jurisdiction rule', () => {
    expect(route(CONFIG, 'DE', product('eu-classic'), NONE_SUSPENDED)).toEqual({
      ok: true,
      serverId: 'mt4-live-eu',
      group: 'eu-std-usd',
      rule: 0,
      viaFallback: false,
    });
    expect(route(CONFIG, 'NO', product('pro'), NONE_SUSPENDED)).toMatchObject({
      ok: true,
      serverId: 'mt4-live-eu',
      group: 'eu-pro-usd',
    });
  });

  it('places a US client on the global server, by the catch-all live rule', () => {
    expect(route(CONFIG, 'US', product('global-standard'), NONE_SUSPENDED)).toEqual({
      ok: true,
      serverId: 'mt5-live-global',
      group: 'real\\standard-usd',
      rule: 1,
      viaFallback: false,
    });
    expect(route(CONFIG, 'US', product('pro'), NONE_SUSPENDED)).toMatchObject({
      ok: true,
      serverId: 'mt5-live-global',
      group: 'real\\pro-usd',
    });
  });

  it('refuses an EU client a product its server does not offer, naming the server and the rule', () => {
    const result = route(CONFIG, 'FR', product('global-standard'), NONE_SUSPENDED);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toContain('mt4-live-eu');
    expect(result.message).toContain('routing[0]');
    expect(result.message).toContain('global-standard');
  });

  it('refuses a US client an EU-only product rather than trying another rule', () => {
    const result = route(CONFIG, 'US', product('eu-classic'), NONE_SUSPENDED);
    expect(result).toMatchObject({ ok: false });
    if (!result.ok) expect(result.message).toContain('routing[1]');
  });

  it('places demo accounts on the demo server, whatever the country', () => {
    for (const country of ['DE', 'US', 'JP']) {
      expect(route(CONFIG, country, product('demo-standard'), NONE_SUSPENDED)).toEqual({
        ok: true,
        serverId: 'mt4-demo',
        group: 'demo-std-usd',
        rule: 2,
        viaFallback: false,
      });
    }
  });

  it('sends new accounts to the fallback while the primary is suspended, if the fallback offers the product', () => {
    expect(route(CONFIG, 'DE', product('pro'), suspended('mt4-live-eu'))).toEqual({
      ok: true,
      serverId: 'mt5-live-global',
      group: 'real\\pro-usd',
      rule: 0,
      viaFallback: true,
    });
  });

  it('keeps the account on the suspended primary when the fallback does not offer the product', () => {
    expect(route(CONFIG, 'DE', product('eu-classic'), suspended('mt4-live-eu'))).toEqual({
      ok: true,
      serverId: 'mt4-live-eu',
      group: 'eu-std-usd',
      rule: 0,
      viaFallback: false,
    });
  });

  it('keeps the account on the suspended primary when the fallback is suspended too', () => {
    expect(route(CONFIG, 'DE', product('pro'), suspended('mt4-live-eu', 'mt5-live-global'))).toMatchObject({
      ok: true,
      serverId: 'mt4-live-eu',
      viaFallback: false,
    });
  });

  it('ignores a suspended server that is not the rule server', () => {
    expect(route(CONFIG, 'DE', product('pro'), suspended('mt5-live-global'))).toMatchObject({
      ok: true,
      serverId: 'mt4-live-eu',
      viaFallback: false,
    });
  });

  it('refuses a client no rule covers', () => {
    const euOnly = configWith((c) => {
      c.routing = [c.routing[0], c.routing[2]];
    });
    const result = route(euOnly, 'US', product('pro', euOnly), NONE_SUSPENDED);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toBe('no routing rule places live accounts of clients from US');
    expect(route(euOnly, 'AT', product('pro', euOnly), NONE_SUSPENDED)).toMatchObject({ ok: true });
  });

  it('matches rules by country list, first matching rule first', () => {
    const byCountry = configWith((c) => {
      c.routing = [
        { countries: ['CH'], kind: 'live', server: 'mt5-live-global' },
        { countries: ['CH', 'AT'], kind: 'live', server: 'mt4-live-eu' },
        { kind: 'demo', server: 'mt4-demo' },
      ];
    });
    expect(route(byCountry, 'CH', product('pro', byCountry), NONE_SUSPENDED)).toMatchObject({
      ok: true,
      serverId: 'mt5-live-global',
      rule: 0,
    });
    expect(route(byCountry, 'AT', product('pro', byCountry), NONE_SUSPENDED)).toMatchObject({
      ok: true,
      serverId: 'mt4-live-eu',
      rule: 1,
    });
    expect(route(byCountry, 'US', product('pro', byCountry), NONE_SUSPENDED)).toMatchObject({ ok: false });
  });
});

describe('jurisdictionOf', () => {
  it('names the jurisdiction of a country, or null', () => {
    expect(jurisdictionOf(CONFIG, 'DE')).toBe('eu');
    expect(jurisdictionOf(CONFIG, 'LI')).toBe('eu');
    expect(jurisdictionOf(CONFIG, 'GB')).toBeNull();
  });
});

describe('needsKyc', () => {
  it('needs KYC for live products', () => {
    expect(needsKyc(CONFIG, product('eu-classic'))).toBe(true);
  });

  it('lets demo products open before KYC when demoBeforeKyc is true', () => {
    expect(CONFIG.kyc.demoBeforeKyc).toBe(true);
    expect(needsKyc(CONFIG, product('demo-standard'))).toBe(false);
  });

  it('needs KYC for demo products when demoBeforeKyc is false', () => {
    const strict = configWith((c) => (c.kyc.demoBeforeKyc = false));
    expect(needsKyc(strict, product('demo-standard', strict))).toBe(true);
    expect(needsKyc(strict, product('pro', strict))).toBe(true);
  });

  it('follows a product requiresKyc over the defaults, either way', () => {
    const explicit = configWith((c) => {
      c.products[4].requiresKyc = true;
      c.products[2].requiresKyc = false;
    });
    expect(needsKyc(explicit, product('demo-standard', explicit))).toBe(true);
    expect(needsKyc(explicit, product('pro', explicit))).toBe(false);
    expect(needsKyc(explicit, product('demo-pro', explicit))).toBe(false);
  });
});
