import type { ManagerApi } from '../adapters/port/manager-api.ts';
import type { FaultKind, SimCluster } from '../simulator/index.ts';

type Params = Record<string, number | string | boolean>;

/** One call the integration made through a wrapped connection: what it called and what came back. */
export interface ManagerCall {
  serverId: string;
  op: string;
  args: unknown[];
  /** The method's return value (a promise for every operation of the port). */
  out: unknown;
}

/**
 * One-shot faults armed for a ManagerApi operation: a fault armed for `op` on a server fires just before the
 * next call of `op` on that server, whatever calls come before it, so that a script or a test can hit the
 * send itself (`postBalance`) rather than the history lookup before it. The cluster's own `inject` arms a
 * fault for the server's next request, whichever it is.
 *
 * Shared by the harness's runner and the service's simulated world (and usable by any test world): they
 * differ only in what else they do with each call (`onCall`).
 */
export class ArmedFaults {
  readonly #cluster: SimCluster;
  #armed: { serverId: string; op: string; fault: FaultKind; params: Params }[] = [];

  constructor(cluster: SimCluster) {
    this.#cluster = cluster;
  }

  /** Arms `fault` for the next call of `op` on `serverId`. */
  arm(serverId: string, op: string, fault: FaultKind, params: Params = {}): void {
    this.#armed.push({ serverId, op, fault, params });
  }

  /** Drops every armed fault that has not fired. */
  clear(): void {
    this.#armed = [];
  }

  /**
   * `api` with every method call first firing the fault armed for it; `onCall` then sees the call and its
   * return value (methods keyed by a symbol are passed through with their target, and not reported).
   */
  wrap(api: ManagerApi, onCall?: (call: ManagerCall) => void): ManagerApi {
    return new Proxy(api, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const at = this.#armed.findIndex((a) => a.serverId === target.serverId && a.op === key);
          const armed = at >= 0 ? this.#armed.splice(at, 1)[0] : undefined;
          if (armed !== undefined) this.#cluster.inject(armed.serverId, armed.fault, armed.params);
          const out = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (typeof key === 'string') onCall?.({ serverId: target.serverId, op: key, args, out });
          return out;
        };
      },
    });
  }
}
