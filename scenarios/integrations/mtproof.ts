import {
  type AccountRow,
  buildService,
  type CommandResult,
  MemoryStore,
  type Service,
  type Store,
  seededPasswords,
  type TransferRow,
  type TransferState,
} from '../../service/index.ts';
import type {
  AccountView,
  Answer,
  Integration,
  IntegrationFactory,
  IntegrationRuntime,
  IntegrationSetup,
  TransferStatus,
} from '../integration.ts';
import { type ExternalWork, SerialStore } from '../serial-store.ts';

/**
 * mtproof's own integration service as the harness sees it: the `Integration` the default certification
 * runs. The store is what survives a crash (it is the service's database); every `run` builds a new
 * service on it, as a restarted process would.
 */

const STATUS: Readonly<Record<TransferState, TransferStatus>> = {
  accepted: 'pending',
  hold: 'pending',
  posting: 'pending',
  // The money is on the server: a withdrawal waits for its payout, which the harness does not play.
  posted: 'posted',
  done: 'posted',
  refunding: 'pending',
  refunded: 'refunded',
  review: 'review',
  rejected: 'rejected',
  failed: 'failed',
};

export interface MtproofIntegrationOptions {
  /**
   * Opens the store of one run (default: a new MemoryStore); it may be async (a database to open, a schema
   * to create). Each run calls it once. A store it gives is used through a SerialStore, one transaction at a
   * time and each registered with the run's scheduler, so that a run on a real database is as deterministic
   * as on memory; the harness closes it when the run is over (`close`).
   */
  store?: () => Store | Promise<Store>;
}

export function mtproofIntegration(options: MtproofIntegrationOptions = {}): IntegrationFactory {
  return (setup) => {
    if (options.store === undefined) return new MtproofIntegration(setup, new MemoryStore());
    const opening = Promise.resolve()
      .then(() => (options.store as NonNullable<MtproofIntegrationOptions['store']>)())
      .then((store) => new SerialStore(store));
    // Awaited by run(); until then a failure to open must not be an unhandled rejection.
    opening.catch(() => {});
    return new MtproofIntegration(setup, opening);
  };
}

class MtproofIntegration implements Integration {
  readonly #setup: IntegrationSetup;
  /** Null until an asynchronous store has opened (the memory store is there at once). */
  #opened: Store | null;
  readonly #opening: Promise<SerialStore> | null;
  #service: Service | null = null;
  #incarnation = 0;

  constructor(setup: IntegrationSetup, store: Store | Promise<SerialStore>) {
    this.#setup = setup;
    this.#opened = store instanceof Promise ? null : store;
    this.#opening = store instanceof Promise ? store : null;
  }

  get #running(): Service {
    if (this.#service === null) throw new Error('mtproof integration: not running');
    return this.#service;
  }

  get #store(): Store {
    if (this.#opened === null) throw new Error('mtproof integration: the store is not open yet (run() opens it)');
    return this.#opened;
  }

  async run(runtime: IntegrationRuntime): Promise<void> {
    const incarnation = ++this.#incarnation;
    if (this.#opening !== null) {
      // The run's scheduler waits for the store's I/O: the process's `external`, when the clock has one.
      const external = (runtime.clock as { external?: ExternalWork }).external?.bind(runtime.clock);
      external?.(this.#opening);
      const store = await this.#opening;
      if (external !== undefined) store.attach(external);
      this.#opened = store;
    }
    const service = buildService({
      config: this.#setup.config,
      clock: runtime.clock,
      random: runtime.random,
      instanceId: `svc${incarnation}`,
      ports: {
        store: this.#store,
        managers: (server) => runtime.manager(server.id),
        secrets: runtime.secret,
        psp: runtime.payments,
        passwords: seededPasswords(runtime.random.fork('passwords')),
        log: (entry) => runtime.log(JSON.stringify(entry)),
      },
    });
    this.#service = service;
    await service.run();
  }

  async registerClient(input: Parameters<Integration['registerClient']>[0]) {
    return answer(await this.#running.registerClient(input), (c) => ({ clientId: c.id }));
  }

  async setKyc(clientId: string, decision: Parameters<Integration['setKyc']>[1]) {
    return answer(await this.#running.setKyc(clientId, decision), () => undefined);
  }

  async openAccount(input: { clientId: string; productId: string }) {
    return answer(await this.#running.openAccount(input), (a) => ({ accountId: a.id }));
  }

  async deposit(input: Parameters<Integration['deposit']>[0]) {
    return answer(await this.#running.deposit(input), (t) => ({ ref: t.ref }));
  }

  async withdraw(input: Parameters<Integration['withdraw']>[0]) {
    return answer(await this.#running.withdraw(input), (t) => ({ ref: t.ref }));
  }

  async credit(input: Parameters<Integration['credit']>[0]) {
    return answer(await this.#running.credit(input), (t) => ({ ref: t.ref }));
  }

  async reconcile(): ReturnType<Integration['reconcile']> {
    const run = await this.#running.reconcile();
    return {
      ok: true,
      value: {
        partial: run.state === 'partial',
        findings: run.findings.map((f) => ({
          class: f.class,
          serverId: f.serverId,
          login: f.login,
          ref: f.ref,
          ticket: f.ticket,
          pspRef: f.pspRef,
          detail: f.detail,
        })),
      },
    };
  }

  /** Closes the store this integration opened (the harness calls it when the run is over). */
  async close(): Promise<void> {
    if (this.#opening === null) return;
    const store = await this.#opening.catch(() => null);
    await store?.close();
  }

  // The views read the store directly: they work while the service is down, as a database would.

  async accounts(): Promise<AccountView[]> {
    const rows = await this.#store.transaction((tx) => tx.select('accounts', {}, { orderBy: 'id' }));
    return rows.map(accountView);
  }

  async transfers() {
    const rows = await this.#store.transaction((tx) => tx.select('transfers', {}, { orderBy: 'ref' }));
    return rows.map(transferView);
  }

  async alerts() {
    const rows = await this.#store.transaction((tx) => tx.select('alerts', {}, { orderBy: 'id' }));
    return rows.map((a) => ({ kind: a.kind, subject: a.subject, message: a.message, atMs: a.atMs }));
  }

  async trades() {
    const rows = await this.#store.transaction((tx) => tx.select('trades', {}, { orderBy: 'id' }));
    return rows.map((t) => ({ serverId: t.serverId, login: t.login, ticket: t.ticket, action: t.action }));
  }

  async audit() {
    const rows = await this.#store.transaction((tx) => tx.select('audit', {}, { orderBy: 'id' }));
    return rows.map((r) => ({
      atMs: r.atMs,
      serverId: r.serverId,
      op: r.op,
      request: r.request,
      outcome: r.outcome,
    }));
  }
}

function answer<T, U>(result: CommandResult<T>, map: (value: T) => U): Answer<U> {
  return result.ok
    ? { ok: true, value: map(result.value) }
    : { ok: false, code: result.error.code, message: result.error.message };
}

function accountView(a: AccountRow): AccountView {
  return {
    accountId: a.id,
    clientId: a.clientId,
    productId: a.productId,
    status: a.state,
    serverId: a.serverId,
    login: a.login,
    group: a.group,
  };
}

function transferView(t: TransferRow) {
  return {
    ref: t.ref,
    kind: t.kind,
    accountId: t.accountId,
    amountCents: t.amountCents,
    currency: t.currency,
    pspRef: t.pspRef,
    status: STATUS[t.state],
  };
}
