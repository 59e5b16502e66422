import type { BrokerConfigInput } from './config.ts';

/**
 * The embedded broker configuration, for the default simulated cluster: the same as
 * examples/broker.yaml (a test keeps the two equal). Used when no `--config` file is given.
 */

const EU = 'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO'.split(' ');

export const DEFAULT_BROKER_CONFIG: BrokerConfigInput = {
  version: 1,
  servers: [
    {
      id: 'mt4-live-eu',
      platform: 'mt4',
      kind: 'live',
      address: 'mt4-live-eu.example.com:443',
      login: 1000,
      passwordEnv: 'MTPROOF_MT4_LIVE_EU_PASSWORD',
    },
    {
      id: 'mt5-live-global',
      platform: 'mt5',
      kind: 'live',
      address: 'mt5-live-global.example.com:443',
      login: 1000,
      passwordEnv: 'MTPROOF_MT5_LIVE_GLOBAL_PASSWORD',
    },
    {
      id: 'mt4-demo',
      platform: 'mt4',
      kind: 'demo',
      address: 'mt4-demo.example.com:443',
      login: 1000,
      passwordEnv: 'MTPROOF_MT4_DEMO_PASSWORD',
    },
  ],
  jurisdictions: { eu: EU },
  products: [
    {
      id: 'eu-classic',
      name: 'Classic (EU)',
      kind: 'live',
      platform: 'mt4',
      groups: { 'mt4-live-eu': 'eu-std-usd' },
      currency: 'USD',
      leverage: 30,
    },
    {
      id: 'global-standard',
      name: 'Standard',
      kind: 'live',
      platform: 'mt5',
      groups: { 'mt5-live-global': 'real\\standard-usd' },
      currency: 'USD',
      leverage: 500,
    },
    {
      id: 'pro',
      name: 'Pro',
      kind: 'live',
      groups: { 'mt4-live-eu': 'eu-pro-usd', 'mt5-live-global': 'real\\pro-usd' },
      currency: 'USD',
    },
    {
      id: 'islamic',
      name: 'Islamic (swap-free)',
      kind: 'live',
      platform: 'mt5',
      groups: { 'mt5-live-global': 'real\\islamic-usd' },
      currency: 'USD',
      leverage: 100,
    },
    { id: 'demo-standard', name: 'Demo', kind: 'demo', groups: { 'mt4-demo': 'demo-std-usd' }, currency: 'USD' },
    { id: 'demo-pro', name: 'Demo Pro', kind: 'demo', groups: { 'mt4-demo': 'demo-pro-usd' }, currency: 'USD' },
  ],
  routing: [
    { jurisdictions: ['eu'], kind: 'live', server: 'mt4-live-eu', fallback: 'mt5-live-global' },
    { kind: 'live', server: 'mt5-live-global' },
    { kind: 'demo', server: 'mt4-demo' },
  ],
  kyc: { demoBeforeKyc: true },
  funding: {
    currencies: {
      USD: {
        deposit: { minCents: 1000, maxCents: 100_000_000 },
        withdrawal: { minCents: 1000, maxCents: 50_000_000 },
        credit: { minCents: 100, maxCents: 10_000_000 },
      },
    },
    withdrawalsNeedFreeMargin: true,
  },
  references: { prefix: 'MTP' },
  retry: { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.5, deadlineMs: 3_600_000 },
  posting: { historyLagToleranceMs: 180_000, leaseMs: 120_000, concurrency: 4 },
  connections: { pingIntervalMs: 30_000, pumpQuietMs: 600_000, breaker: { failures: 5, openMs: 30_000 } },
  reconciliation: { settleMs: 600_000, kinds: ['live'] },
  alerts: { stuckAfterMs: 1_800_000 },
  ib: {
    // $7 per round-turn lot, gold $12: a partner earns it on every close of the clients it introduced.
    plans: [{ id: 'standard-ib', name: 'Standard IB', commissionPerLotCents: 700, symbols: { XAUUSD: 1200 } }],
    partners: [{ id: 'ib-acme', name: 'Acme Introducers', plan: 'standard-ib' }],
  },
};
