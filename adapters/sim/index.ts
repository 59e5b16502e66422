import type { Clock } from '../../kit/clock.ts';
import type { SimCluster } from '../../simulator/index.ts';
import type { ManagerApi } from '../port/manager-api.ts';
import { SimMt4ManagerApi } from './mt4.ts';
import { SimMt5ManagerApi } from './mt5.ts';

export { SimMt4ManagerApi } from './mt4.ts';
export { SimMt5ManagerApi } from './mt5.ts';

export interface SimAdapterOptions {
  /** Every wait of the adapter goes through this clock: pass the owning Process in a scenario run. */
  clock: Clock;
  /** The client library's answer timeout. */
  timeoutMs?: number;
}

/** A ManagerApi connection to one server of an in-process simulated cluster. */
export function createSimManagerApi(cluster: SimCluster, serverId: string, options: SimAdapterOptions): ManagerApi {
  const server = cluster.server(serverId);
  return server.platform === 'mt4'
    ? new SimMt4ManagerApi(cluster, serverId, options)
    : new SimMt5ManagerApi(cluster, serverId, options);
}
