import type { ClusterConfigInput } from './config.ts';

/**
 * The embedded default cluster: an MT4 live server (EU), an MT5 live server (global) and an MT4 demo
 * server. Used when no `--servers` file is given. Manager login 1000, password `Manager#1` everywhere. No
 * `symbols`: the schema's default (DEFAULT_SYMBOLS: EURUSD, GBPUSD, XAUUSD) applies.
 */
export const DEFAULT_CLUSTER: ClusterConfigInput = {
  startAt: '2026-01-05T06:00:00Z',
  servers: [
    {
      id: 'mt4-live-eu',
      platform: 'mt4',
      kind: 'live',
      jurisdiction: 'eu',
      logins: { from: 100_000, to: 199_999 },
      timezoneOffsetMin: 120,
      groups: [
        { name: 'eu-std-usd', currency: 'USD', leverage: 30, marginCallPct: 100, stopOutPct: 50 },
        { name: 'eu-pro-usd', currency: 'USD', leverage: 100, marginCallPct: 100, stopOutPct: 50 },
        { name: 'eu-std-eur', currency: 'EUR', leverage: 30, marginCallPct: 100, stopOutPct: 50 },
      ],
      managers: [{ login: 1000, password: 'Manager#1' }],
    },
    {
      id: 'mt5-live-global',
      platform: 'mt5',
      kind: 'live',
      jurisdiction: 'global',
      logins: { from: 5_000_000, to: 5_999_999 },
      timezoneOffsetMin: 180,
      groups: [
        { name: 'real\\standard-usd', currency: 'USD', leverage: 500, marginCallPct: 80, stopOutPct: 30 },
        { name: 'real\\pro-usd', currency: 'USD', leverage: 200, marginCallPct: 80, stopOutPct: 30 },
        { name: 'real\\islamic-usd', currency: 'USD', leverage: 100, marginCallPct: 80, stopOutPct: 30 },
      ],
      managers: [{ login: 1000, password: 'Manager#1' }],
    },
    {
      id: 'mt4-demo',
      platform: 'mt4',
      kind: 'demo',
      jurisdiction: 'global',
      logins: { from: 900_000, to: 999_999 },
      timezoneOffsetMin: 120,
      groups: [
        { name: 'demo-std-usd', currency: 'USD', leverage: 100, depositCents: 10_000_00 },
        { name: 'demo-pro-usd', currency: 'USD', leverage: 500, depositCents: 50_000_00 },
      ],
      managers: [{ login: 1000, password: 'Manager#1' }],
    },
  ],
};
