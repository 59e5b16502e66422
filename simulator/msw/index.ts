import type { FastifyInstance } from 'fastify';
import { type HttpHandler, HttpResponse, http } from 'msw';
import { buildSimApp, type SimAppOptions } from '../http/app.ts';
import type { SimHost } from '../http/host.ts';
import { buildWebApiApp, type WebApiOptions } from '../http/webapi/index.ts';

/**
 * msw request handlers over the same core as `mtproof sim serve`: each intercepted request is handed to the
 * very fastify app the server listens with, through `inject()` — same routes, validation, journal, faults —
 * so a test intercepts its HTTP client's calls without a socket. The MT5 Web API binds a session to its
 * connection; without sockets, the `x-mtproof-connection` header names the connection, and requests without it
 * share one (as a client that keeps one socket, like the MetaQuotes sample, does).
 *
 *   const server = setupServer(...simHandlers(host, { url: 'http://sim.test', webApi: { 'mt5-live-global': 'http://mt5.test' } }));
 */

export interface SimHandlerOptions {
  /** Base URL the native and control APIs answer at (e.g. http://sim.test). */
  url: string;
  /** Base URL per MT5 server whose Web API to intercept. */
  webApi?: Readonly<Record<string, string>>;
  app?: SimAppOptions;
  webApiOptions?: Omit<WebApiOptions, 'connectionKey'>;
}

export interface SimHandlers {
  handlers: HttpHandler[];
  /** Closes the apps behind the handlers (sessions end). */
  close(): Promise<void>;
}

export function simHandlers(host: SimHost, options: SimHandlerOptions): SimHandlers {
  const apps: FastifyInstance[] = [];
  const handlers: HttpHandler[] = [];
  const native = buildSimApp(host, options.app).app;
  apps.push(native);
  handlers.push(handlerFor(options.url, native));
  for (const [serverId, url] of Object.entries(options.webApi ?? {})) {
    const app = buildWebApiApp(host, serverId, { ...options.webApiOptions, connectionKey: 'header' });
    apps.push(app);
    handlers.push(handlerFor(url, app));
  }
  return {
    handlers,
    close: async () => {
      await Promise.all(apps.map((app) => app.close()));
    },
  };
}

function handlerFor(baseUrl: string, app: FastifyInstance): HttpHandler {
  const base = new URL(baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  return http.all(`${base.origin}${prefix}/*`, async ({ request }) => {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text();
    const answer = await app.inject({
      method: request.method as 'GET',
      url: `${url.pathname.slice(prefix.length) || '/'}${url.search}`,
      headers,
      ...(body === undefined || body === '' ? {} : { payload: body }),
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined || name === 'content-length' || name === 'transfer-encoding' || name === 'connection')
        continue;
      out.set(name, Array.isArray(value) ? value.join(', ') : String(value));
    }
    // A 204 or 304 has no body (the Response constructor refuses one).
    const empty = answer.statusCode === 204 || answer.statusCode === 304;
    return new HttpResponse(empty ? null : answer.rawPayload, { status: answer.statusCode, headers: out });
  });
}
