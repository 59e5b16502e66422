import { describe, expect, it } from 'vitest';
import type { MtproofError } from '../../kit/errors.ts';
import { SimCluster } from '../../simulator/cluster.ts';
import { type ClusterConfigInput, DEFAULT_SYMBOLS, parseClusterConfig } from '../../simulator/config.ts';
import { DEFAULT_CLUSTER } from '../../simulator/default-cluster.ts';
import { parseFaultConfig } from '../../simulator/faults.ts';
import { clusterConfig } from './helpers.ts';

/** Cluster configuration validation: every rejection is MTP_CONFIG_INVALID and names the field's path. */

// The input types are strict; the tests feed deliberately wrong shapes.
// biome-ignore lint/suspicious/noExplicitAny: test fixtures edit configs freely
type Loose = any;

function rejection(raw: unknown): MtproofError {
  try {
    parseClusterConfig(raw);
  } catch (e) {
    return e as MtproofError;
  }
  throw new Error('the config was accepted');
}

function edited(edit: (c: Loose) => void): ClusterConfigInput {
  return clusterConfig((c) => edit(c as Loose));
}

const CASES: [string, () => unknown, string][] = [
  ['missing servers', () => edited((c) => delete c.servers), 'servers'],
  ['an empty server list', () => edited((c) => (c.servers = [])), 'servers'],
  ['a bad platform', () => edited((c) => (c.servers[0].platform = 'mt6')), 'servers[0].platform'],
  [
    'logins.to below logins.from',
    () => edited((c) => (c.servers[0].logins = { from: 200, to: 100 })),
    'servers[0].logins.to',
  ],
  ['a duplicate server id', () => edited((c) => (c.servers[1].id = 'mt4-live-eu')), 'servers[1].id'],
  [
    'an MT4 group name with a backslash',
    () => edited((c) => (c.servers[0].groups[1].name = 'eu\\pro')),
    'servers[0].groups[1].name',
  ],
  [
    'an MT4 group name longer than 15 characters',
    () => edited((c) => (c.servers[0].groups[1].name = 'eu-professional-usd')),
    'servers[0].groups[1].name',
  ],
  [
    'a duplicate group name',
    () => edited((c) => (c.servers[0].groups[2].name = 'eu-std-usd')),
    'servers[0].groups[2].name',
  ],
  [
    'MT5 leverage above 500',
    () => edited((c) => (c.servers[1].groups[0].leverage = 1000)),
    'servers[1].groups[0].leverage',
  ],
  [
    'leverage above 1000 on MT4',
    () => edited((c) => (c.servers[0].groups[0].leverage = 2000)),
    'servers[0].groups[0].leverage',
  ],
  [
    'a manager login inside the client range',
    () => edited((c) => (c.servers[0].managers[0].login = 100_500)),
    'servers[0].managers[0].login',
  ],
  [
    'a duplicate manager login',
    () => edited((c) => c.servers[0].managers.push({ login: 1000, password: 'x' })),
    'servers[0].managers[1].login',
  ],
  [
    'an unknown key on a server (strict objects)',
    () => edited((c) => (c.servers[0].colour = 'red')),
    'servers[0].colour',
  ],
  ['an unknown key at the top', () => edited((c) => (c.region = 'eu')), 'region'],
  ['a bad currency', () => edited((c) => (c.servers[0].groups[0].currency = 'usd')), 'servers[0].groups[0].currency'],
  [
    'stopOutPct above marginCallPct',
    () => edited((c) => (c.servers[0].groups[0].stopOutPct = 150)),
    'servers[0].groups[0].stopOutPct',
  ],
  ['a server id with capitals', () => edited((c) => (c.servers[0].id = 'MT4-Live')), 'servers[0].id'],
  ['a server without managers', () => edited((c) => (c.servers[0].managers = [])), 'servers[0].managers'],
  ['a bad startAt', () => edited((c) => (c.startAt = 'yesterday')), 'startAt'],
  [
    'a duplicate symbol',
    () => edited((c) => (c.symbols = [{ ...DEFAULT_SYMBOLS[0] }, { ...DEFAULT_SYMBOLS[0] }])),
    'symbols[1].name',
  ],
  [
    'a symbol name with a slash',
    () => edited((c) => (c.symbols = [{ ...DEFAULT_SYMBOLS[0] }, { ...DEFAULT_SYMBOLS[1], name: 'GBP/USD' }])),
    'symbols[1].name',
  ],
];

describe('parseClusterConfig rejects', () => {
  it.each(CASES.map(([name, make, path]) => [name, path, make] as const))('%s, naming %s', (_name, path, make) => {
    const error = rejection(make());
    expect(error.code).toBe('MTP_CONFIG_INVALID');
    expect(error.issues.map((i) => i.path)).toContain(path);
  });

  it('every offending field of one config at once', () => {
    const error = rejection(
      edited((c) => {
        c.servers[0].logins = { from: 200, to: 100 };
        c.servers[1].groups[0].leverage = 1000;
      }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['servers[0].logins.to', 'servers[1].groups[0].leverage']),
    );
  });

  it('through the SimCluster constructor too', () => {
    expect(() => new SimCluster({ seed: 1, config: edited((c) => (c.servers[0].platform = 'mt6')) })).toThrow(
      expect.objectContaining({ code: 'MTP_CONFIG_INVALID' }),
    );
  });

  it('a symbol name with a slash, saying so, through the SimCluster constructor too (not a crash in Random.fork)', () => {
    const config = edited((c) => (c.symbols = [{ ...DEFAULT_SYMBOLS[0], name: 'EUR/USD' }]));
    const error = rejection(config);
    expect(error.issues).toEqual([{ path: 'symbols[0].name', message: 'a symbol name may not contain "/"' }]);
    expect(() => new SimCluster({ seed: 1, config })).toThrow(expect.objectContaining({ code: 'MTP_CONFIG_INVALID' }));
  });

  it('the error message lists each issue with its path', () => {
    const error = rejection(edited((c) => (c.servers[0].groups[0].currency = 'usd')));
    expect(error.message).toContain('servers[0].groups[0].currency');
  });
});

describe('parseClusterConfig accepts', () => {
  it('the default cluster, with defaults filled in, deeply frozen', () => {
    const config = parseClusterConfig(DEFAULT_CLUSTER);
    expect(config.servers.map((s) => s.id)).toEqual(['mt4-live-eu', 'mt5-live-global', 'mt4-demo']);
    expect(config.servers[0]?.managers[0]?.rights).toEqual({ accounts: true, money: true, trades: true });
    expect(config.servers[0]?.managers[0]?.groups).toEqual(['*']);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.servers)).toBe(true);
    expect(Object.isFrozen(config.servers[0]?.groups[0])).toBe(true);
    expect(Object.isFrozen(config.servers[0]?.managers[0]?.rights)).toBe(true);
  });

  it('an MT4 group name of exactly 15 characters and an MT5 path with backslashes', () => {
    const config = parseClusterConfig(
      edited((c) => {
        c.servers[0].groups[1].name = 'eu-pro-usd-1234';
        c.servers[1].groups[0].leverage = 500;
      }),
    );
    expect(config.servers[0]?.groups[1]?.name).toHaveLength(15);
    expect(config.servers[1]?.groups[0]).toMatchObject({ name: 'real\\standard-usd', leverage: 500 });
  });

  it('a one-login range (from = to)', () => {
    expect(() => parseClusterConfig(edited((c) => (c.servers[0].logins = { from: 100, to: 100 })))).not.toThrow();
  });

  it('does not modify its input', () => {
    const input = structuredClone(DEFAULT_CLUSTER);
    parseClusterConfig(input);
    expect(input).toEqual(DEFAULT_CLUSTER);
    expect(Object.isFrozen(input)).toBe(false);
  });
});

describe('parseFaultConfig', () => {
  it('names an unknown key by its full path (strict objects)', () => {
    let error: MtproofError | undefined;
    try {
      parseFaultConfig({ params: { latencyMS: [1, 2] } });
    } catch (e) {
      error = e as MtproofError;
    }
    expect(error?.code).toBe('MTP_FAULTS_INVALID');
    expect(error?.issues.map((i) => i.path)).toContain('params.latencyMS');
  });

  it('fills defaults and freezes', () => {
    const config = parseFaultConfig({});
    expect(config.swarm).toBe(true);
    expect(config.intensity).toBe(1);
    expect(config.params.restartDowntimeMs).toEqual([5_000, 120_000]);
    expect(Object.isFrozen(config.params)).toBe(true);
  });
});
