import type { Clock } from '../../kit/clock.ts';
import { Random } from '../../kit/random.ts';
import { SimHost } from '../../simulator/http/host.ts';
import { serveSimulator } from '../../simulator/http/serve.ts';
import { FaultProxy } from '../../simulator/proxy/proxy.ts';
import { ContractIntegration, IntegrationUnreachable } from './contract.ts';
import { SimControl } from './control.ts';
import { runWireCertification, shortDay, type WireRunResult } from './run.ts';
import { toxicEpisodes } from './toxics.ts';

/**
 * `mtproof certify --integration-url URL`: certifies an integration the harness does not run. The harness
 * serves the simulated cluster (native and control APIs, and each MT5 server's Web API on its port), tells
 * where, waits for the integration's `GET /health`, and drives the documented contract (scenarios/README.md)
 * through a broker day with the simulator's faults on; then heals, settles and checks against the simulator's
 * ground truth as on the real stack.
 */

export interface BlackBoxOptions {
  seed: string;
  clock: Clock;
  integrationUrl: string;
  token?: string;
  /** Port of the simulator's native and control APIs. */
  simPort: number;
  /** Port of the first MT5 server's Web API (the next at +1 …). */
  webApiBasePort: number;
  clients: number;
  operations: number;
  concurrency: number;
  faultIntensity: number;
  /** Toxic episodes on the fault proxies in front of the MT5 Web API ports (the integration's connections). */
  toxics: number;
  settleTimeoutMs: number;
  /** How long to wait for the integration's health check. */
  healthWaitMs: number;
  /** Told where the simulator listens, before the harness waits for the integration. */
  onListening?: (where: { simUrl: string; webApi: { serverId: string; url: string }[] }) => void;
  log?: (line: string) => void;
}

export async function certifyBlackBox(options: BlackBoxOptions): Promise<WireRunResult> {
  const { clock } = options;
  const host = new SimHost({ seed: options.seed });
  // The Web API listens on ports of its own; the integration reaches it through seeded fault proxies on the ports
  // the harness announces, so toxics hit the integration's own connections.
  const served = await serveSimulator(host, {
    port: options.simPort,
    webApiBasePort: 0,
    app: { sessions: { timeoutMs: 2_000 } },
    webApi: { requestTimeoutMs: 2_000 },
  });
  const proxies: FaultProxy[] = [];
  try {
    for (const [i, w] of served.webApi.entries()) {
      const proxy = new FaultProxy({
        name: `webapi-${w.serverId}`,
        seed: options.seed,
        listen: { host: '127.0.0.1', port: options.webApiBasePort === 0 ? 0 : options.webApiBasePort + i },
        upstream: { host: '127.0.0.1', port: w.port },
      });
      await proxy.start();
      proxies.push(proxy);
    }
  } catch (error) {
    for (const proxy of proxies) await proxy.close();
    await served.close();
    throw error;
  }
  host.start();
  try {
    options.onListening?.({
      simUrl: served.url,
      webApi: served.webApi.map((w, i) => ({
        serverId: w.serverId,
        url: `http://${(proxies[i] as FaultProxy).view().address}`,
      })),
    });
    const integration = new ContractIntegration({
      baseUrl: options.integrationUrl,
      ...(options.token === undefined ? {} : { token: options.token }),
      timeoutMs: 20_000,
      name: options.integrationUrl,
    });
    const healthyBy = clock.nowMs() + options.healthWaitMs;
    for (;;) {
      try {
        await integration.health();
        break;
      } catch (error) {
        if (!(error instanceof IntegrationUnreachable) || clock.nowMs() >= healthyBy) throw error;
        await clock.sleep(250);
      }
    }
    options.log?.(`integration ${options.integrationUrl} is healthy`);
    return await runWireCertification({
      seed: options.seed,
      integration,
      control: new SimControl(served.url),
      clock,
      clients: options.clients,
      operations: options.operations,
      concurrency: options.concurrency,
      ...shortDay(options.operations, options.faultIntensity),
      disturbances: toxicEpisodes(new Random(options.seed).fork('toxics'), proxies, options.operations, options.toxics),
      heal: async () => {
        for (const proxy of proxies) proxy.removeAllToxics();
      },
      settleTimeoutMs: options.settleTimeoutMs,
      unreachableForMs: 60_000,
      ...(options.log === undefined ? {} : { log: options.log }),
    });
  } finally {
    for (const proxy of proxies) await proxy.close();
    await served.close();
    await host.stop();
  }
}
