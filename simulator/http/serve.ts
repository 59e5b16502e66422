import type { AddressInfo } from 'node:net';
import { MtproofError } from '../../kit/errors.ts';
import { buildSimApp, type SimAppOptions } from './app.ts';
import type { SimHost } from './host.ts';
import { listenWebApi, type WebApiListener, type WebApiOptions } from './webapi/index.ts';

/**
 * Puts a host on the network: the native and control APIs on one port, and the MT5 Web API of each MT5 server
 * on a port of its own (real clients expect `/api/...` at the root of their server's address): the first MT5
 * server at `webApiBasePort`, the next at +1, and so on (base 0: any free ports).
 */

export interface ServeOptions {
  /** Address to bind (default 127.0.0.1). Beyond loopback, `token` is required. */
  bind?: string;
  /** Port of the native and control APIs (0: any free one). */
  port: number;
  /** First MT5 Web API port; null: no Web API. */
  webApiBasePort: number | null;
  token?: string;
  app?: Omit<SimAppOptions, 'token'>;
  webApi?: WebApiOptions;
}

export interface Served {
  url: string;
  webApi: { serverId: string; port: number; url: string }[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(address: string): boolean {
  return LOOPBACK.has(address) || /^127\.\d+\.\d+\.\d+$/.test(address);
}

export async function serveSimulator(host: SimHost, options: ServeOptions): Promise<Served> {
  const bind = options.bind ?? '127.0.0.1';
  if (!isLoopback(bind) && (options.token === undefined || options.token === '')) {
    throw new MtproofError(
      'MTP_SIM_TOKEN_REQUIRED',
      `the simulator would listen on ${bind}, beyond loopback, where anyone could drive it: give a token (--token-env VAR)`,
      [{ path: '--host', message: 'not a loopback address, and no token' }],
    );
  }
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const { app } = buildSimApp(host, {
      ...options.app,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
    await listen(() => app.listen({ host: bind, port: options.port }), bind, options.port, '--port');
    closers.push(() => app.close());
    const port = (app.server.address() as AddressInfo).port;
    const webApi: Served['webApi'] = [];
    if (options.webApiBasePort !== null) {
      const mt5 = host.config.servers.filter((s) => s.platform === 'mt5');
      for (const [i, server] of mt5.entries()) {
        const wanted = options.webApiBasePort === 0 ? 0 : options.webApiBasePort + i;
        const listener: WebApiListener = await listen(
          () => listenWebApi(host, server.id, { host: bind, port: wanted }, options.webApi),
          bind,
          wanted,
          '--mt5-webapi-port',
        );
        closers.push(() => listener.close());
        const scheme = options.webApi?.tls === undefined ? 'http' : 'https';
        webApi.push({
          serverId: server.id,
          port: listener.port,
          url: `${scheme}://${hostPart(bind)}:${listener.port}`,
        });
      }
    }
    return { url: `http://${hostPart(bind)}:${port}`, webApi, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function hostPart(bind: string): string {
  return bind.includes(':') ? `[${bind}]` : bind;
}

/** A port taken or an address not ours is bad input (the flag's), not a crash. */
async function listen<T>(start: () => Promise<T>, bind: string, port: number, flag: string): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_SOCKET_BAD_PORT') {
      throw new MtproofError('MTP_CLI_BAD_FLAG', `port ${port} is beyond 65535 (${flag} + the server's place)`, [
        { path: flag, message: 'too high for the number of servers' },
      ]);
    }
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL' && code !== 'ENOTFOUND') throw error;
    throw new MtproofError('MTP_CLI_BAD_FLAG', `cannot listen on ${bind}:${port}: ${(error as Error).message}`, [
      { path: code === 'EADDRINUSE' || code === 'EACCES' ? flag : '--host', message: code },
    ]);
  }
}
