import type { z } from 'zod';
import type { ManagerApi, PumpEvent } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';
import { type Issue, MtproofError } from '../kit/errors.ts';
import type { Random } from '../kit/random.ts';
import { type AlertSink, type FetchLike, LogAlertSink, raiseAlert, WebhookAlertSink } from './alerts.ts';
import { AuditLog } from './audit.ts';
import type { EventBus } from './bus/port.ts';
import {
  type CommandResult,
  type DepositInput,
  depositInput,
  kycInput,
  openAccountInput,
  type PayoutInput,
  parseCommand,
  payoutInput,
  type RegisterClientInput,
  refuse,
  registerClientInput,
  type TransferInput,
  transferInput,
} from './commands.ts';
import { type BrokerConfig, type ServerConfig, secretEnvs } from './config.ts';
import { type ConnectionStatus, ServerConnection } from './connections.ts';
import { isSuspended, type ServiceContext } from './context.ts';
import { crmFromConfig } from './crm/index.ts';
import type { CrmPort } from './crm/port.ts';
import { enqueueCrmSync, enqueueCrmSyncOfClient, workCrmSync } from './crm/sync.ts';
import { makeReference } from './domain/reference.ts';
import { needsKyc, route } from './domain/routing.ts';
import { type AccountVolume, accountVolume, type IbStatement, ibStatement, partnerPlan } from './ib.ts';
import { type Answer, type CommandOptions, recordAnswer, storedAnswer } from './idempotency.ts';
import { type Attempt, enqueueJob, finishJob, retryLater, underLease } from './jobs.ts';
import { type Logger, silentLogger } from './log.ts';
import { OutboxRelay } from './outbox.ts';
import { type PasswordSource, systemPasswords } from './passwords.ts';
import { workTransfer } from './posting.ts';
import { workOpenAccount } from './provisioning.ts';
import type { PaymentRecords } from './psp/port.ts';
import { reconcile } from './reconcile.ts';
import { Signal, sleepUnless } from './signal.ts';
import { nextId } from './store/ids.ts';
import { type Store, StoreConflictError, StoreConstraintError, type Tx } from './store/port.ts';
import type {
  AccountRow,
  AlertRow,
  ClientRow,
  KycState,
  ReconciliationRow,
  TradeRow,
  TransferKind,
  TransferRow,
} from './store/schema.ts';
import { TradeSync } from './trades.ts';

/**
 * The composition root: `buildService` wires the service from a validated config, a clock, a random
 * source and its ports, and starts nothing. `run()` starts its loops (job workers, one keepalive per
 * server, the stuck-transfer watch, the periodic trade fill, scheduled reconciliation); `stop()` ends them.
 * Everything the service must not forget goes through the store first, so a service killed at any point and
 * built again on the same store carries on where the committed state says.
 */

export interface ServicePorts {
  store: Store;
  /** The ManagerApi connection for a configured server (only cli/ and the harness choose the adapter). */
  managers: (server: Readonly<ServerConfig>) => ManagerApi;
  /** Reads a secret by the environment-variable name the config gives. */
  secrets: (name: string) => string | undefined;
  /** The payment provider's records, for reconciliation; absent: the PSP side is not reconciled. */
  psp?: PaymentRecords;
  /** Extra alert sinks (the log sink is always there; the webhook one when configured). */
  alertSinks?: AlertSink[];
  /** For the webhook sink; the global fetch when absent. */
  fetch?: FetchLike;
  log?: Logger;
  /** Initial passwords of new accounts; absent: from the operating system (the harness passes seeded ones). */
  passwords?: PasswordSource;
  /** Every pumped event, after the service has taken it (trade events are recorded by its own trade sync). */
  onPumpEvent?: (serverId: string, event: PumpEvent) => void;
  /**
   * The event bus trade events are published on (service/bus/: in-process or RabbitMQ), through the outbox.
   * Absent: no relay runs, but the outbox rows are written all the same, so a bus added later gets them all.
   */
  bus?: EventBus;
  /**
   * Where account status and onboarding state are written back (service/crm/). Absent with `config.crm` set:
   * the adapter `config.crm.system` names, with the token from `crm.tokenEnv` and the global fetch.
   * Without `config.crm` nothing is written back, whatever is given here.
   */
  crm?: CrmPort;
}

export interface BuildServiceOptions {
  config: Readonly<BrokerConfig>;
  clock: Clock;
  random: Random;
  ports: ServicePorts;
  /** Names this instance's job leases; derived from `random` when absent. */
  instanceId?: string;
}

export function buildService(options: BuildServiceOptions): Service {
  return new Service(options);
}

export class Service {
  readonly config: Readonly<BrokerConfig>;
  readonly instanceId: string;
  readonly #ctx: ServiceContext;
  readonly #connections = new Map<string, ServerConnection>();
  readonly #sinks: AlertSink[];
  readonly #psp: PaymentRecords | null;
  readonly #crm: CrmPort | null;
  readonly #audit: AuditLog;
  readonly #trades: TradeSync;
  readonly #relay: OutboxRelay | null;
  #stopped = false;
  #running = false;
  /** Rung whenever a job is queued: idle workers wake. */
  readonly #bell = new Signal({ latched: false });
  /** Resolved by stop() (or a failed loop): every loop's sleep ends. */
  readonly #stop = new Signal({ latched: true });
  /** Pauses after a store conflict that outlasted the store's reruns (jittered: the losers spread out). */
  readonly #conflictRandom: Random;

  constructor(options: BuildServiceOptions) {
    const { config, clock, random, ports } = options;
    this.config = config;
    this.instanceId = options.instanceId ?? `svc-${random.fork('instance').u32().toString(36)}`;
    const values = new Map<string, string>();
    const issues: Issue[] = [];
    for (const { name, path } of secretEnvs(config)) {
      const value = ports.secrets(name);
      if (value === undefined || value === '')
        issues.push({ path, message: `environment variable ${name} is not set` });
      else values.set(name, value);
    }
    if (issues.length > 0) {
      throw new MtproofError('MTP_SECRET_MISSING', 'the service cannot start: secrets are missing', issues);
    }
    const secret = (name: string | undefined) => (name === undefined ? undefined : values.get(name));
    const webhook = config.alerts.webhook;

    const userLog = ports.log ?? silentLogger;
    this.#audit = new AuditLog(ports.store, clock, [...values.values()]);
    // Logs pass through the same redaction as the audit: no secret reaches a log line.
    const log: Logger = (entry) => userLog(this.#audit.redact(entry) as typeof entry);
    this.#conflictRandom = random.fork('store-conflicts');
    this.#ctx = {
      config,
      clock,
      random: random.fork('backoff'),
      passwords: ports.passwords ?? systemPasswords(),
      store: ports.store,
      connections: this.#connections,
      log,
      suspended: new Set(),
      mask: (value) => this.#audit.mask(value),
      notify: () => this.#bell.fire(),
    };
    this.#relay =
      ports.bus === undefined
        ? null
        : new OutboxRelay({
            ctx: this.#ctx,
            bus: ports.bus,
            random: random.fork('outbox'),
            stopping: this.#stop,
          });
    this.#trades = new TradeSync(this.#ctx, {
      stopped: () => this.#stopped,
      onRecorded: () => this.#relay?.wake(),
      onBug: (error) => {
        // A store that kept refusing a transaction as conflicting is load, not a bug: the next fill reads
        // what this one could not record.
        if (error instanceof StoreConflictError) {
          log({ level: 'warn', msg: 'trade sync: the store kept refusing a transaction; left to the next fill' });
          return;
        }
        // Pump handling and subscription-started fills run beside the loops: a bug there stops the service
        // like a failed loop does when it runs, and is logged when it does not.
        if (this.#running) this.#halt(error);
        else log({ level: 'error', msg: 'trade sync failed', error: String(error) });
      },
    });
    for (const server of config.servers) {
      this.#connections.set(
        server.id,
        new ServerConnection({
          server,
          settings: config.connections,
          api: ports.managers(server),
          password: secret(server.passwordEnv) as string,
          clock,
          random: random.fork('connections').fork(server.id),
          audit: this.#audit,
          store: ports.store,
          log,
          onEvent: (serverId, event) => {
            this.#trades.onEvent(serverId, event);
            ports.onPumpEvent?.(serverId, event);
          },
          onSubscribed: (serverId, quiet) => this.#trades.onSubscribed(serverId, quiet),
        }),
      );
    }
    this.#sinks = [new LogAlertSink(log), ...(ports.alertSinks ?? [])];
    if (webhook !== undefined) {
      const fetchPort = ports.fetch ?? (globalThis.fetch as unknown as FetchLike);
      this.#sinks.push(
        new WebhookAlertSink({
          url: secret(webhook.urlEnv) as string,
          secret: secret(webhook.secretEnv),
          timeoutMs: webhook.timeoutMs,
          fetch: fetchPort,
          clock,
        }),
      );
    }
    this.#psp = ports.psp ?? null;
    const crm = config.crm;
    this.#crm = crm === undefined ? null : (ports.crm ?? crmFromConfig(crm, secret(crm.tokenEnv) as string, clock));
  }

  // ---- running ----

  /** Runs the service's loops until `stop()`. Rejects if a loop hits a bug (an invariant broke). */
  async run(): Promise<void> {
    if (this.#running) throw new Error('service: run() is already running');
    this.#running = true;
    this.#stopped = false;
    this.#stop.reset();
    const stopped = () => this.#stopped;
    const loops: Promise<void>[] = [];
    const keep = (name: string, loop: () => Promise<void>) => loops.push(this.#outlastConflicts(name, loop));
    for (let i = 0; i < this.config.posting.concurrency; i++) {
      const owner = `${this.instanceId}/w${i}`;
      keep(owner, () => this.#worker(owner));
    }
    for (const conn of this.#connections.values()) loops.push(conn.keepalive(stopped));
    keep('stuck check', () =>
      this.#every(Math.max(1_000, Math.min(60_000, Math.floor(this.config.alerts.stuckAfterMs / 2))), () =>
        this.checkStuck(),
      ),
    );
    // A trade event lost without a reconnect (a stall that ended before the pump went quiet) is read from
    // history within an interval.
    keep('trade fill', () => this.#every(this.config.connections.tradeSyncIntervalMs, () => this.#trades.fillAll()));
    // Trade events (and anything else on the outbox) to the bus, when there is one.
    const relay = this.#relay;
    if (relay !== null) keep('outbox relay', () => relay.run());
    const every = this.config.reconciliation.everyMs;
    if (every !== undefined) keep('reconciliation', () => this.#every(every, () => this.reconcile()));
    try {
      // A loop that fails stops the others: no half-running service, and run() may be called again.
      await Promise.all(loops.map((loop) => loop.catch((error: unknown) => this.#halt(error))));
      if (this.#failure !== null) throw this.#failure.error;
    } finally {
      this.#failure = null;
      this.#running = false;
    }
  }

  /** Ends the loops at their next wake-up and closes the connections. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop.fire();
    for (const conn of this.#connections.values()) await conn.disconnect('service stopping');
  }

  /**
   * @internal Listeners parked on the service's signals now: one per loop waiting, however long it has
   * idled (a test's check that finished waits leave nothing behind).
   */
  get parkedWaits(): number {
    return this.#bell.waiting + this.#stop.waiting + (this.#relay?.waiting ?? 0);
  }

  connectionStatus(): ConnectionStatus[] {
    return [...this.#connections.values()].map((c) => c.status());
  }

  /** Takes a server out of routing (new accounts go to the rule's fallback) or puts it back. */
  setSuspended(serverId: string, suspended: boolean): CommandResult<{ serverId: string; suspended: boolean }> {
    if (!this.#connections.has(serverId))
      return refuse('MTP_BAD_REQUEST', `no server ${serverId} in the config`, [
        { path: 'serverId', message: 'unknown server' },
      ]);
    if (suspended) this.#ctx.suspended.add(serverId);
    else this.#ctx.suspended.delete(serverId);
    return { ok: true, value: { serverId, suspended: isSuspended(this.#ctx, serverId) } };
  }

  // ---- commands ----

  registerClient(input: RegisterClientInput, options: CommandOptions = {}): Promise<Answer<ClientRow>> {
    return this.#command(registerClientInput, input, 'register client', options, async (value, tx, nowMs) => {
      // A partner the config does not list would earn nothing: refused rather than silently kept.
      if (value.partnerId !== undefined && partnerPlan(this.#ctx.config, value.partnerId) === undefined) {
        return refuse('MTP_UNKNOWN_PARTNER', `no introducing broker ${value.partnerId} in ib.partners`, [
          { path: 'partnerId', message: 'unknown partner' },
        ]);
      }
      if (value.externalId !== undefined) {
        const [existing] = await tx.select('clients', { externalId: value.externalId });
        if (existing !== undefined) {
          const same =
            existing.name === value.name &&
            existing.email === value.email &&
            existing.country === value.country &&
            existing.partnerId === (value.partnerId ?? null);
          if (same) return { ok: true, value: existing };
          return refuse(
            'MTP_DUPLICATE_CLIENT',
            `client ${existing.id} has externalId ${value.externalId} with other details`,
          );
        }
      }
      const client: ClientRow = {
        id: await nextId(tx, 'clients', 'C', 10),
        externalId: value.externalId ?? null,
        name: value.name,
        email: value.email,
        country: value.country,
        kyc: 'none',
        partnerId: value.partnerId ?? null,
        createdMs: nowMs,
        updatedMs: nowMs,
      };
      await tx.insert('clients', client);
      return { ok: true, value: client };
    });
  }

  setKyc(clientId: string, state: KycState, options: CommandOptions = {}): Promise<Answer<ClientRow>> {
    return this.#command(kycInput, { clientId, state }, 'KYC decision', options, async (value, tx, nowMs) => {
      const client = await tx.get('clients', value.clientId);
      if (client === undefined) return unknownClient(value.clientId);
      // The decision changes the onboarding state of each of the client's accounts: written back to the CRM.
      if (client.kyc !== value.state) await enqueueCrmSyncOfClient(tx, this.#ctx.config, client.id, nowMs);
      return { ok: true, value: await tx.update('clients', value.clientId, { kyc: value.state, updatedMs: nowMs }) };
    });
  }

  /** Accepts an account opening: routed and stored now, created on its server by a job. */
  openAccount(
    input: { clientId: string; productId: string },
    options: CommandOptions = {},
  ): Promise<Answer<AccountRow>> {
    const { config } = this.#ctx;
    return this.#command(openAccountInput, input, 'open account', options, async (value, tx, nowMs) => {
      const product = config.products.find((p) => p.id === value.productId);
      if (product === undefined) {
        return refuse('MTP_UNKNOWN_PRODUCT', `no product ${value.productId}`, [
          { path: 'productId', message: 'unknown product' },
        ]);
      }
      const client = await tx.get('clients', value.clientId);
      if (client === undefined) return unknownClient(value.clientId);
      if (needsKyc(config, product) && client.kyc !== 'approved') {
        return refuse(
          'MTP_KYC_REQUIRED',
          `product ${product.id} needs an approved KYC; client ${client.id} is ${client.kyc}`,
        );
      }
      const where = route(config, client.country, product, (id) => isSuspended(this.#ctx, id));
      if (!where.ok) return refuse('MTP_NO_ROUTE', where.message);
      const account: AccountRow = {
        id: await nextId(tx, 'accounts', `${config.references.prefix}-A`, 10),
        clientId: client.id,
        productId: product.id,
        kind: product.kind,
        serverId: where.serverId,
        group: where.group,
        currency: product.currency,
        leverage: product.leverage ?? null,
        state: 'pending',
        login: null,
        attempts: 0,
        uncertainSinceMs: null,
        lastError: null,
        createdMs: nowMs,
        updatedMs: nowMs,
        openedMs: null,
      };
      await tx.insert('accounts', account);
      await enqueueJob(tx, 'open-account', account.id, nowMs);
      // The CRM learns the account id and its routing at once, and its status as it changes.
      await enqueueCrmSync(tx, config, account.id, nowMs);
      return { ok: true, value: account };
    });
  }

  /** Accepts a deposit (a PSP-confirmed payment): stored with its reference, then posted by a job. */
  deposit(input: DepositInput, options: CommandOptions = {}): Promise<Answer<TransferRow>> {
    return this.#command(depositInput, input, 'deposit', options, (value, tx, nowMs) =>
      this.#accept(tx, nowMs, 'deposit', value),
    );
  }

  /** Accepts a withdrawal: held, then debited on the server (if the free margin covers it) by a job. */
  withdraw(input: TransferInput, options: CommandOptions = {}): Promise<Answer<TransferRow>> {
    return this.#command(transferInput, input, 'withdrawal', options, (value, tx, nowMs) =>
      this.#accept(tx, nowMs, 'withdrawal', value),
    );
  }

  /** Accepts a credit (bonus) posting. */
  credit(input: TransferInput, options: CommandOptions = {}): Promise<Answer<TransferRow>> {
    return this.#command(transferInput, input, 'credit', options, (value, tx, nowMs) =>
      this.#accept(tx, nowMs, 'credit', value),
    );
  }

  /** The provider's payout result for a posted withdrawal: done, or a refund posted back exactly once. */
  completePayout(input: PayoutInput, options: CommandOptions = {}): Promise<Answer<TransferRow>> {
    return this.#command(
      payoutInput,
      input,
      'payout result',
      options,
      async ({ ref, succeeded, pspRef }, tx, nowMs) => {
        const transfer = await tx.get('transfers', ref);
        if (transfer === undefined) return refuse('MTP_UNKNOWN_TRANSFER', `no transfer ${ref}`);
        if (transfer.kind !== 'withdrawal') {
          return refuse('MTP_TRANSFER_STATE', `${ref} is a ${transfer.kind}, not a withdrawal`);
        }
        const target = succeeded ? 'done' : 'refunding';
        // The provider retries callbacks: the same result again is answered with the transfer as it is.
        if (transfer.state === target || (!succeeded && transfer.state === 'refunded'))
          return { ok: true, value: transfer };
        if (transfer.state !== 'posted') {
          return refuse(
            'MTP_TRANSFER_STATE',
            `${ref} is ${transfer.state}: a payout result applies only to a posted withdrawal`,
          );
        }
        if (pspRef !== undefined && (await tx.select('transfers', { pspRef })).some((t) => t.ref !== ref)) {
          return refuse('MTP_DUPLICATE_PSP_REF', `payout id ${pspRef} belongs to another transfer`);
        }
        const updated = await tx.update('transfers', ref, {
          state: target,
          pspRef: pspRef ?? transfer.pspRef,
          updatedMs: nowMs,
          ...(succeeded ? { finishedMs: nowMs } : { legStartedMs: nowMs, attempts: 0 }),
        });
        if (!succeeded) await enqueueJob(tx, 'refund', ref, nowMs);
        return { ok: true, value: updated };
      },
    );
  }

  async reconcile(): Promise<ReconciliationRow> {
    const run = await reconcile(this.#ctx, this.#psp);
    this.#ctx.notify();
    return run;
  }

  // ---- queries ----

  transfer(ref: string): Promise<TransferRow | undefined> {
    return this.#ctx.store.transaction((tx) => tx.get('transfers', ref));
  }

  account(id: string): Promise<AccountRow | undefined> {
    return this.#ctx.store.transaction((tx) => tx.get('accounts', id));
  }

  client(id: string): Promise<ClientRow | undefined> {
    return this.#ctx.store.transaction((tx) => tx.get('clients', id));
  }

  reconciliation(id: string): Promise<ReconciliationRow | undefined> {
    return this.#ctx.store.transaction((tx) => tx.get('reconciliations', id));
  }

  alerts(): Promise<AlertRow[]> {
    return this.#ctx.store.transaction((tx) => tx.select('alerts', {}, { orderBy: 'id' }));
  }

  /** Every trade event recorded on the service's accounts (opens and closes, each once). */
  trades(): Promise<TradeRow[]> {
    return this.#ctx.store.transaction((tx) => tx.select('trades', {}, { orderBy: 'id' }));
  }

  /**
   * An introducing broker's statement: per account of its clients, the closes recorded (`fromMs <= atMs <
   * toMs`, the close's server time), their volume and the commission earned, and totals per currency.
   */
  async ibStatement(
    partnerId: string,
    range: { fromMs?: number; toMs?: number } = {},
  ): Promise<CommandResult<IbStatement>> {
    const found = partnerPlan(this.#ctx.config, partnerId);
    if (found === undefined) {
      return refuse('MTP_UNKNOWN_PARTNER', `no introducing broker ${partnerId} in ib.partners`, [
        { path: 'partnerId', message: 'unknown partner' },
      ]);
    }
    for (const key of ['fromMs', 'toMs'] as const) {
      const value = range[key];
      if (value !== undefined && !Number.isSafeInteger(value)) {
        return refuse('MTP_BAD_REQUEST', `${key} must be an integer (epoch milliseconds)`, [
          { path: key, message: 'not an integer' },
        ]);
      }
    }
    const { fromMs, toMs } = range;
    if (fromMs !== undefined && toMs !== undefined && toMs < fromMs) {
      return refuse('MTP_BAD_REQUEST', 'toMs is before fromMs', [{ path: 'toMs', message: 'before fromMs' }]);
    }
    const value = await this.#ctx.store.transaction((tx) => ibStatement(tx, partnerId, found.plan.id, range));
    return { ok: true, value };
  }

  /** An account's recorded trading volume (closes, in centi-lots, also per symbol); undefined: no such account. */
  accountVolume(accountId: string): Promise<AccountVolume | undefined> {
    return this.#ctx.store.transaction(async (tx) => {
      const account = await tx.get('accounts', accountId);
      return account === undefined ? undefined : accountVolume(tx, account);
    });
  }

  async #accept(
    tx: Tx,
    nowMs: number,
    kind: TransferKind,
    input: { accountId: string; amountCents: number; currency: string; pspRef?: string },
  ): Promise<CommandResult<TransferRow>> {
    const { config } = this.#ctx;
    if (input.pspRef !== undefined) {
      const [existing] = await tx.select('transfers', { pspRef: input.pspRef });
      if (existing !== undefined) {
        const same =
          existing.kind === kind &&
          existing.accountId === input.accountId &&
          existing.amountCents === input.amountCents &&
          existing.currency === input.currency;
        if (same) return { ok: true, value: existing };
        return refuse('MTP_DUPLICATE_PSP_REF', `provider id ${input.pspRef} already belongs to ${existing.ref}`);
      }
    }
    const account = await tx.get('accounts', input.accountId);
    if (account === undefined) {
      return refuse('MTP_UNKNOWN_ACCOUNT', `no account ${input.accountId}`, [
        { path: 'accountId', message: 'unknown account' },
      ]);
    }
    if (account.state !== 'open' || account.login === null) {
      return refuse('MTP_ACCOUNT_NOT_OPEN', `account ${account.id} is ${account.state}`);
    }
    if (input.currency !== account.currency) {
      return refuse('MTP_CURRENCY_MISMATCH', `account ${account.id} is in ${account.currency}, not ${input.currency}`, [
        { path: 'currency', message: `must be ${account.currency}` },
      ]);
    }
    const product = config.products.find((p) => p.id === account.productId);
    const client = (await tx.get('clients', account.clientId)) as ClientRow;
    if (product !== undefined && needsKyc(config, product) && client.kyc !== 'approved') {
      return refuse('MTP_KYC_REQUIRED', `client ${client.id} is ${client.kyc}: no money moves before KYC approval`);
    }
    const rules = config.funding.currencies[account.currency];
    // Credits without limits of their own follow the deposit limits.
    const limits = rules?.[kind] ?? rules?.deposit;
    if (limits === undefined) return refuse('MTP_AMOUNT_OUT_OF_RANGE', `no funding rules for ${account.currency}`);
    if (input.amountCents < limits.minCents || input.amountCents > limits.maxCents) {
      return refuse(
        'MTP_AMOUNT_OUT_OF_RANGE',
        `a ${kind} of ${account.currency} must be between ${limits.minCents} and ${limits.maxCents} minor units`,
        [{ path: 'amountCents', message: `${input.amountCents} is out of range` }],
      );
    }
    const ref = makeReference(config.references.prefix, kind, await tx.nextValue('transfers'));
    const transfer: TransferRow = {
      ref,
      kind,
      clientId: account.clientId,
      accountId: account.id,
      serverId: account.serverId,
      login: account.login,
      amountCents: input.amountCents,
      currency: input.currency,
      state: kind === 'withdrawal' ? 'hold' : 'accepted',
      pspRef: input.pspRef ?? null,
      ticket: null,
      refundTicket: null,
      attempts: 0,
      uncertainSinceMs: null,
      lastError: null,
      reason: null,
      acceptedMs: nowMs,
      legStartedMs: nowMs,
      updatedMs: nowMs,
      postedMs: null,
      finishedMs: null,
    };
    await tx.insert('transfers', transfer);
    await enqueueJob(tx, 'post', ref, nowMs);
    return { ok: true, value: transfer };
  }

  /**
   * A command: parsed at the edge (MTP_BAD_REQUEST naming the fields), run in one transaction; when it
   * succeeds, idle workers are woken (a command that queues nothing wakes them for nothing, harmlessly).
   * With an idempotency key, the key's row is read first (a replay, or a conflict) and an accepted result is
   * recorded with it in the same transaction: the effect and its key commit together or not at all. A
   * refusal changed nothing and is not kept: the same key may come again once the cause is fixed.
   */
  async #command<S extends z.ZodType, T>(
    schema: S,
    input: unknown,
    what: string,
    options: CommandOptions,
    body: (value: z.output<S>, tx: Tx, nowMs: number) => Promise<CommandResult<T>>,
  ): Promise<Answer<T>> {
    const parsed = parseCommand(schema, input, what);
    if (!parsed.ok) return parsed;
    const nowMs = this.#ctx.clock.nowMs();
    const key = options.idempotency;
    for (let run = 1; ; run++) {
      try {
        const result = await this.#ctx.store.transaction(async (tx): Promise<Answer<T>> => {
          if (key !== undefined) {
            const stored = await storedAnswer<T>(tx, key);
            if (stored !== null) return stored;
          }
          const result = await body(parsed.value, tx, nowMs);
          if (key !== undefined && result.ok) await recordAnswer(tx, key, result, nowMs);
          return result;
        });
        if (result.ok && result.replay === undefined) this.#ctx.notify();
        return result;
      } catch (error) {
        // Two requests with one key (or one provider id) at once: the loser's insert hits the winner's
        // committed row; run again, it finds that row and answers as the winner did.
        if (!(error instanceof StoreConstraintError) || run >= 3) throw error;
      }
    }
  }

  async #worker(owner: string): Promise<void> {
    const { clock, store } = this.#ctx;
    const { leaseMs, idlePollMs } = this.config.posting;
    while (!this.#stopped) {
      const nowMs = clock.nowMs();
      const { job, nextAtMs } = await store.transaction(async (tx) => {
        const [claimed] = await tx.claimJobs(nowMs, owner, leaseMs, 1);
        return { job: claimed, nextAtMs: claimed === undefined ? await tx.nextJobAtMs() : null };
      });
      if (job !== undefined) {
        await this.#work({ ctx: this.#ctx, job, owner });
        continue;
      }
      await this.#idle(nextAtMs === null ? idlePollMs : Math.min(idlePollMs, Math.max(1, nextAtMs - clock.nowMs())));
    }
  }

  #work(attempt: Attempt<ServiceContext>): Promise<void> {
    switch (attempt.job.kind) {
      case 'post':
      case 'refund':
        return workTransfer(attempt);
      case 'open-account':
        return workOpenAccount(attempt);
      case 'deliver-alert':
        return this.#deliverAlert(attempt);
      case 'crm-sync':
        return workCrmSync(attempt, this.#crm);
    }
  }

  async #deliverAlert(attempt: Attempt<ServiceContext>): Promise<void> {
    const { job } = attempt;
    const { store, config, log } = this.#ctx;
    const alert = await store.transaction((tx) => tx.get('alerts', job.subject));
    if (alert === undefined) throw new Error(`job ${job.id}: no alert ${job.subject}`);
    const deliveredTo = [...alert.deliveredTo];
    const errors: string[] = [];
    for (const sink of this.#sinks) {
      if (deliveredTo.includes(sink.name)) continue;
      const result = await sink.deliver(alert);
      if (result.ok) deliveredTo.push(sink.name);
      else errors.push(`${sink.name}: ${result.error}`);
    }
    const lastTry = job.attempts + 1 >= config.alerts.deliveryAttempts;
    if (errors.length > 0 && !lastTry) {
      await retryLater(attempt, errors.join('; '), true, (tx) => tx.update('alerts', alert.id, { deliveredTo }));
      return;
    }
    if (errors.length > 0)
      log({ level: 'error', msg: `alert ${alert.id} undelivered after ${job.attempts + 1} attempts`, errors });
    await underLease(attempt, async (tx, nowMs) => {
      await tx.update('alerts', alert.id, { deliveredTo });
      await finishJob(tx, attempt, nowMs);
    });
  }

  /** Raises an alert for every transfer or account still unsettled after `alerts.stuckAfterMs`. */
  async checkStuck(): Promise<number> {
    const { clock, config, store } = this.#ctx;
    const nowMs = clock.nowMs();
    const cutoffMs = nowMs - config.alerts.stuckAfterMs;
    const raised = await store.transaction(async (tx) => {
      let raised = 0;
      for (const state of ['accepted', 'hold', 'posting', 'refunding'] as const) {
        for (const t of await tx.select('transfers', { state })) {
          if (t.legStartedMs > cutoffMs) continue;
          const ok = await raiseAlert(tx, nowMs, this.#ctx.mask, {
            key: `transfer_stuck:${t.ref}:${state === 'refunding' ? 'refund' : 'main'}`,
            kind: 'transfer_stuck',
            severity: 'warning',
            subject: t.ref,
            message: `${t.kind} ${t.ref} is still ${t.state} after ${nowMs - t.legStartedMs} ms (${t.lastError ?? 'no error'})`,
            details: { serverId: t.serverId, login: t.login, attempts: t.attempts },
          });
          if (ok) raised++;
        }
      }
      for (const a of await tx.select('accounts', { state: 'pending' })) {
        if (a.createdMs > cutoffMs) continue;
        const ok = await raiseAlert(tx, nowMs, this.#ctx.mask, {
          key: `account_stuck:${a.id}`,
          kind: 'account_stuck',
          severity: 'warning',
          subject: a.id,
          message: `account ${a.id} is still pending on ${a.serverId} (${a.lastError ?? 'no error'})`,
          details: { serverId: a.serverId, attempts: a.attempts },
        });
        if (ok) raised++;
      }
      return raised;
    });
    // New alerts have delivery jobs: wake a worker.
    if (raised > 0) this.#ctx.notify();
    return raised;
  }

  /**
   * Runs `loop`, and runs it again after a pause when it ends with a StoreConflictError: a transaction that
   * lost every rerun to concurrent ones (heavy load on a shared database) committed nothing, so it is not a
   * bug; what the loop was doing is picked up again as after a crash of that loop alone (a job it held is
   * claimable once its lease runs out). Any other error ends the loop (and stops the service).
   */
  async #outlastConflicts(name: string, loop: () => Promise<void>): Promise<void> {
    const { clock, log } = this.#ctx;
    while (!this.#stopped) {
      try {
        await loop();
        return;
      } catch (error) {
        if (!(error instanceof StoreConflictError)) throw error;
        const pauseMs = 50 + this.#conflictRandom.int(0, 950);
        log({ level: 'warn', msg: `${name}: the store kept refusing a transaction as conflicting`, pauseMs });
        await sleepUnless(clock, pauseMs, [this.#stop]);
      }
    }
  }

  /** Runs `task` every `everyMs` until the service stops. */
  async #every(everyMs: number, task: () => Promise<unknown>): Promise<void> {
    while (!this.#stopped) {
      await this.#idle(everyMs, false);
      if (this.#stopped) return;
      await task();
    }
  }

  /** Sleeps `ms`, or less when the service stops or (`wakeOnWork`) a job is queued. */
  #idle(ms: number, wakeOnWork = true): Promise<void> {
    return sleepUnless(this.#ctx.clock, ms, wakeOnWork ? [this.#stop, this.#bell] : [this.#stop]);
  }

  #failure: { error: unknown } | null = null;

  /** A loop failed (a bug): remember the first error and stop everything else. */
  #halt(error: unknown): void {
    this.#failure ??= { error };
    void this.stop();
  }
}

function unknownClient<T>(clientId: string): CommandResult<T> {
  return refuse('MTP_UNKNOWN_CLIENT', `no client ${clientId}`, [{ path: 'clientId', message: 'unknown client' }]);
}
