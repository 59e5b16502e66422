import type { ConnectionStatus } from '../connections.ts';
import type { Store } from '../store/port.ts';
import type { TransferState } from '../store/schema.ts';
import { transferState } from './schemas.ts';

/**
 * `GET /metrics` in the Prometheus text exposition format (0.0.4): HTTP requests by route and status, the
 * request duration histogram, and gauges read at scrape time — transfers by state, queued jobs, connection
 * state per server, the outbox backlog. The gauges cost one store transaction of counts on indexed columns,
 * each over rows that stay few (work in flight), so a scrape costs the same on a database ten years old.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Seconds: a request through the memory store takes well under a millisecond, one on Postgres a few. */
const BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The transfer states counted at each scrape: those of transfers in flight or waiting for an operator, which
 * stay few. `done`, `refunded` and `rejected` grow with every transfer ever made: counting them would read
 * the whole transfers index at every scrape (about 170 ms for 2,000,000 transfers on Postgres, under
 * serializable isolation that holds its predicate locks). Their totals are a query on the database.
 */
export const GAUGED_TRANSFER_STATES: readonly TransferState[] = transferState.options.filter(
  (state) => state !== 'done' && state !== 'refunded' && state !== 'rejected',
);

interface Series {
  labels: Record<string, string>;
  count: number;
  sumS: number;
  buckets: number[];
}

export class HttpMetrics {
  readonly #requests = new Map<string, { labels: Record<string, string>; count: number }>();
  readonly #durations = new Map<string, Series>();

  /** One answered request; `route` is the route pattern (never the raw URL: bounded label values). */
  observe(method: string, route: string, status: number, durationMs: number): void {
    const labels = { method, route, status: String(status) };
    const key = `${method} ${route} ${status}`;
    const counter = this.#requests.get(key);
    if (counter === undefined) this.#requests.set(key, { labels, count: 1 });
    else counter.count++;
    const dKey = `${method} ${route}`;
    let series = this.#durations.get(dKey);
    if (series === undefined) {
      series = { labels: { method, route }, count: 0, sumS: 0, buckets: BUCKETS_S.map(() => 0) };
      this.#durations.set(dKey, series);
    }
    const seconds = durationMs / 1000;
    series.count++;
    series.sumS += seconds;
    for (let i = 0; i < BUCKETS_S.length; i++) {
      if (seconds <= (BUCKETS_S[i] as number)) series.buckets[i] = (series.buckets[i] as number) + 1;
    }
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP mtproof_http_requests_total HTTP requests answered, by method, route and status.');
    out.push('# TYPE mtproof_http_requests_total counter');
    for (const { labels, count } of this.#requests.values())
      out.push(`mtproof_http_requests_total${fmt(labels)} ${count}`);
    out.push('# HELP mtproof_http_request_duration_seconds Time to answer an HTTP request.');
    out.push('# TYPE mtproof_http_request_duration_seconds histogram');
    for (const s of this.#durations.values()) {
      BUCKETS_S.forEach((le, i) => {
        out.push(`mtproof_http_request_duration_seconds_bucket${fmt({ ...s.labels, le: String(le) })} ${s.buckets[i]}`);
      });
      out.push(`mtproof_http_request_duration_seconds_bucket${fmt({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`mtproof_http_request_duration_seconds_sum${fmt(s.labels)} ${s.sumS}`);
      out.push(`mtproof_http_request_duration_seconds_count${fmt(s.labels)} ${s.count}`);
    }
    return `${out.join('\n')}\n`;
  }
}

export interface StateGauges {
  transfers: Record<string, number>;
  queuedJobs: number;
  outboxBacklog: number;
}

/** The store's gauges, in one read-only transaction of counts. */
export async function readGauges(store: Store): Promise<StateGauges> {
  return store.transaction(async (tx) => {
    const transfers: Record<string, number> = {};
    for (const state of GAUGED_TRANSFER_STATES) transfers[state] = await tx.count('transfers', { state });
    return {
      transfers,
      queuedJobs: await tx.count('jobs', { state: 'queued' }),
      outboxBacklog: await tx.count('outbox', { publishedMs: null }),
    };
  });
}

export function renderGauges(gauges: StateGauges, connections: readonly ConnectionStatus[], extra = ''): string {
  const out: string[] = [];
  out.push('# HELP mtproof_transfers Transfers in flight or waiting for an operator, by state.');
  out.push('# TYPE mtproof_transfers gauge');
  for (const [state, n] of Object.entries(gauges.transfers)) out.push(`mtproof_transfers${fmt({ state })} ${n}`);
  out.push('# HELP mtproof_jobs_queued Durable jobs waiting to be worked (posting, provisioning, alerts).');
  out.push('# TYPE mtproof_jobs_queued gauge');
  out.push(`mtproof_jobs_queued ${gauges.queuedJobs}`);
  out.push('# HELP mtproof_outbox_backlog Bus messages committed and not yet confirmed by the broker.');
  out.push('# TYPE mtproof_outbox_backlog gauge');
  out.push(`mtproof_outbox_backlog ${gauges.outboxBacklog}`);
  out.push('# HELP mtproof_server_connected 1 when the service holds a connection to the MetaTrader server.');
  out.push('# TYPE mtproof_server_connected gauge');
  for (const c of connections)
    out.push(`mtproof_server_connected${fmt({ server: c.serverId })} ${c.connected ? 1 : 0}`);
  out.push('# HELP mtproof_server_breaker_open 1 while the circuit breaker to the server refuses calls.');
  out.push('# TYPE mtproof_server_breaker_open gauge');
  for (const c of connections)
    out.push(`mtproof_server_breaker_open${fmt({ server: c.serverId })} ${c.breaker === 'open' ? 1 : 0}`);
  out.push('# HELP mtproof_server_reconnects_total Reconnections to the server since the service started.');
  out.push('# TYPE mtproof_server_reconnects_total counter');
  for (const c of connections)
    out.push(`mtproof_server_reconnects_total${fmt({ server: c.serverId })} ${c.reconnects}`);
  return `${out.join('\n')}\n${extra}`;
}

function fmt(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
