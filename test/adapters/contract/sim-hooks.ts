import type { SimCluster } from '../../../simulator/index.ts';
import type { ContractFixture } from './manager-api.contract.ts';

/**
 * What a contract fixture on a simulated server can do besides the Manager API: trade as a client terminal does
 * and arm faults for the next request. `cluster` is read at each use (a served simulator's world can be reset).
 */
export function simHooks(
  cluster: () => SimCluster,
  serverId: string,
): Required<Pick<ContractFixture, 'trade' | 'faults'>> {
  return {
    trade: {
      async open(login, symbol, side, volumeCentiLots) {
        const r = cluster().client(serverId).open(login, symbol, side, volumeCentiLots);
        if (!r.ok) throw new Error(`client open refused: ${r.fail} ${r.detail}`);
        return r.value.ticket;
      },
      async close(ticket) {
        const r = cluster().client(serverId).close(ticket);
        if (!r.ok) throw new Error(`client close refused: ${r.fail} ${r.detail}`);
      },
    },
    faults: {
      timeoutAfterApply: () => cluster().inject(serverId, 'timeoutAfterApply'),
      timeoutBeforeApply: () => cluster().inject(serverId, 'timeoutBeforeApply'),
      dropConnection: () => cluster().inject(serverId, 'connectionDrop', { applied: true }),
    },
  };
}
