import { Mt5WebApiManagerApi } from '../../adapters/mt5-webapi/index.ts';
import { SimHost } from '../../simulator/http/host.ts';
import { listenWebApi, type WebApiListener } from '../../simulator/http/webapi/index.ts';
import { type ContractFixture, describeManagerApiContract } from './contract/manager-api.contract.ts';
import { simHooks } from './contract/sim-hooks.ts';

/**
 * The ManagerApi contract for the MT5 Web API adapter, against the simulator's served Web API over a real
 * loopback socket: one SimHost per fixture following the real clock, the Web API of mt5-live-global on a free
 * port, the adapter speaking plain HTTP to it (real servers are HTTPS only; the adapter takes both).
 */

export const SERVER_ID = 'mt5-live-global';

export interface WebApiFixture extends ContractFixture {
  api: Mt5WebApiManagerApi;
  host: SimHost;
  listener: WebApiListener;
}

/**
 * The dialect's wait for the trade server, in virtual ms (which follow the real clock here): a fault that
 * times a request out costs this much, not the default 10 s.
 */
const SERVER_REQUEST_TIMEOUT_MS = 300;

export async function makeWebApiFixture(
  options: { seed?: string; idleTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<WebApiFixture> {
  const host = new SimHost({ seed: options.seed ?? 'webapi-contract' });
  host.start();
  const listener = await listenWebApi(
    host,
    SERVER_ID,
    { host: '127.0.0.1', port: 0 },
    {
      requestTimeoutMs: SERVER_REQUEST_TIMEOUT_MS,
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    },
  );
  const api = new Mt5WebApiManagerApi({
    serverId: SERVER_ID,
    url: `http://127.0.0.1:${listener.port}`,
    timeoutMs: options.timeoutMs ?? 5_000,
    // Small, so that the emulated pumping keeps up; `advance` also polls at once.
    pollIntervalMs: 50,
  });
  return {
    api,
    host,
    listener,
    credentials: { login: 1000, password: 'Manager#1' },
    group: 'real\\standard-usd',
    otherGroup: 'real\\pro-usd',
    password: 'Passw0rd!x',
    run: (body) => body(),
    async advance(ms) {
      await host.advance(ms);
      // Events come by polling: one poll now delivers everything up to this instant.
      await api.pollNow();
    },
    ...simHooks(() => host.cluster, SERVER_ID),
    async close() {
      await api.close();
      await listener.close();
      await host.stop();
    },
  };
}

describeManagerApiContract('mt5-webapi over the served simulator', () => makeWebApiFixture());
