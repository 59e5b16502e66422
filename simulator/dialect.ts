import type { Clock } from '../kit/clock.ts';
import { groupMatches } from '../metatrader/groups.ts';
import type { Exchange, PumpMessage, PumpSubscription, SimCluster, SimSession } from './cluster.ts';
import type { ManagerConfig } from './config.ts';
import type { AccountPatch, Actor, Fail, Op, SimServer } from './server.ts';

/**
 * What the MT4 and MT5 manager clients share: one connection to one server, a manager login, the
 * request path through the simulated network, the manager's rights, and the trace of every call with
 * the code it ended with.
 */

export interface ClientOptions {
  /** Every wait of this client goes through this clock (pass the owning Process in a scenario). */
  clock: Clock;
  /** How long the client library waits for an answer. */
  timeoutMs?: number;
}

/** What a request needs: nothing (the login itself), a logged-in manager, or one of the manager's rights. */
type Right = 'none' | 'login' | 'accounts' | 'money' | 'trades';

/** The platform's codes for the network outcomes and refusals, per dialect. */
export interface CodeTable {
  ok: number;
  noConnection: number;
  timeout: number;
  lost: number;
  tooFrequent: number;
  noRights: number;
  badCredentials: number;
  managerDisabled: number;
  fail: Record<Fail, number>;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export abstract class DialectClient {
  protected readonly cluster: SimCluster;
  protected readonly clock: Clock;
  protected readonly timeoutMs: number;
  protected session: SimSession | null = null;
  protected manager: Readonly<ManagerConfig> | null = null;
  protected abstract readonly codes: CodeTable;

  constructor(cluster: SimCluster, options: ClientOptions) {
    this.cluster = cluster;
    this.clock = options.clock;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  protected get server(): SimServer {
    if (this.session === null) throw new Error('dialect: no session');
    return this.session.server;
  }

  /** Resolves the address a manager gives: a server id, optionally with `:port` (ignored). */
  protected resolve(address: string): SimServer | null {
    const id = address.replace(/:\d+$/, '');
    return this.cluster.servers.get(id) ?? null;
  }

  /**
   * Opens the TCP session and traces it as the call `op` (on the address when no server answers). The code
   * for "no connection" when the server is unknown or down.
   */
  protected openSession(op: string, address: string): number {
    const code = this.#open(address);
    this.cluster.trace.call(this.session?.server.id ?? address, op, code);
    return code;
  }

  #open(address: string): number {
    this.closeSession();
    const server = this.resolve(address);
    if (server === null) return this.codes.noConnection;
    const session = this.cluster.openSession(server.id, this.clock);
    if (session === null) return this.codes.noConnection;
    this.session = session;
    return this.codes.ok;
  }

  protected closeSession(): void {
    if (this.session !== null) this.cluster.closeSession(this.session);
    this.session = null;
    this.manager = null;
  }

  /** Checks manager credentials on the connected server (a request: it can fail like any other). */
  protected async authenticate(op: string, login: number, password: string): Promise<number> {
    const code = await this.request(op, 'none', null, () => {
      const manager = this.server.manager(login);
      if (manager === undefined || manager.password !== password) return this.codes.badCredentials;
      if (!manager.enabled) return this.codes.managerDisabled;
      (this.session as SimSession).managerLogin = login;
      this.manager = manager;
      return this.codes.ok;
    });
    return code;
  }

  /**
   * One manager request. `right` is checked on the server before `apply`; `group`, when given, must be
   * one the manager may work with. Returns the platform code and `apply`'s value when answered.
   */
  protected request<T extends number | { code: number }>(
    op: string,
    right: Right,
    group: (() => string | null) | null,
    apply: () => T,
  ): T | number | Promise<T | number> {
    const session = this.session;
    if (session === null) {
      this.cluster.trace.call('-', op, this.codes.noConnection);
      return this.codes.noConnection;
    }
    const exchange = this.cluster.exchange<T | number>(session, this.timeoutMs, () => {
      if (right !== 'none') {
        const manager = this.manager;
        if (manager === null || session.managerLogin === null) return this.codes.noConnection;
        if (right !== 'login' && !manager.rights[right]) return this.codes.noRights;
        if (group !== null) {
          const name = group();
          if (name !== null && !groupMatches(manager.groups, name)) return this.codes.noRights;
        }
      }
      return apply();
    });
    if (exchange instanceof Promise) return exchange.then((e) => this.#finish(session, op, e));
    return this.#finish(session, op, exchange);
  }

  #finish<T extends number | { code: number }>(
    session: SimSession,
    op: string,
    exchange: Exchange<T | number>,
  ): T | number {
    const result = this.#fromExchange(exchange);
    this.cluster.trace.call(session.server.id, op, typeof result === 'number' ? result : result.code);
    return result;
  }

  #fromExchange<T>(exchange: Exchange<T>): T | number {
    switch (exchange.kind) {
      case 'answered':
        return exchange.value;
      case 'no_connection':
        return this.codes.noConnection;
      case 'timeout':
        return this.codes.timeout;
      case 'lost':
        return this.codes.lost;
      case 'too_frequent':
        return this.codes.tooFrequent;
      case 'no_rights':
        return this.codes.noRights;
    }
  }

  /** May the logged-in manager work with accounts of `group`? */
  protected mayUseGroup(group: string): boolean {
    return this.manager !== null && groupMatches(this.manager.groups, group);
  }

  /** The group of account `login` on the connected server: what a request about that account needs rights on. */
  protected groupOf(login: number): string | null {
    return this.session?.server.accounts.get(login)?.group ?? null;
  }

  protected failCode(fail: Fail): number {
    return this.codes.fail[fail];
  }

  /** The platform code for an operation's outcome. */
  protected codeOf(op: Op<unknown>): number {
    return op.ok ? this.codes.ok : this.failCode(op.fail);
  }

  /**
   * A request's answer with its data; or, when the request failed or was refused (a bare code), that code
   * with `empty` as the data.
   */
  protected orEmpty<T extends { code: number }, E extends object>(
    answer: T | number,
    empty: E,
  ): T | ({ code: number } & E) {
    return typeof answer === 'number' ? { code: answer, ...empty } : answer;
  }

  /** The logged-in manager as the author of an operation. */
  protected managerActor(): Actor {
    return { by: 'manager', login: this.manager?.login ?? 0 };
  }

  /** Updates an account from a manager's full record: moving it also needs rights on the target group. */
  protected updateAccountAs(login: number, patch: AccountPatch & { group: string }): number {
    if (!this.mayUseGroup(patch.group)) return this.codes.noRights;
    return this.codeOf(this.server.updateAccount(login, patch));
  }

  protected subscribeRaw(listener: (message: PumpMessage) => void): PumpSubscription | null {
    if (this.session === null || !this.session.usable) return null;
    return this.cluster.subscribe(this.session, listener);
  }
}

/** Minor units to the platforms' double amounts, and back (exact for amounts below 2^53 / 100). */
export function toMoney(cents: number): number {
  return cents / 100;
}

export function fromMoney(amount: number): number {
  return Math.round(amount * 100);
}

/** A price in points (integers, 1 point = 10^-digits) to the platforms' double price. */
export function toPrice(points: number, digits: number): number {
  return points / 10 ** digits;
}
