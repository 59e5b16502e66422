import type { ManagerApi, PumpEvent } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';
import { type Issue, MtproofError } from '../kit/errors.ts';
import type { Random } from '../kit/random.ts';
import { type AlertSink, type FetchLike, LogAlertSink, raiseAlert, WebhookAlertSink } from './alerts.ts';
import { AuditLog } from './audit.ts';
import { backoffMs } from './backoff.ts';
import {
  type CommandResult,
  type CreditInput,
  creditInput,
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
  type WithdrawalInput,
  withdrawalInput,
} from './commands.ts';
import type { BrokerConfig, ServerConfig } from './config.ts';
import { type ConnectionStatus, ServerConnection } from './connections.ts';
import type { ServiceContext } from './context.ts';
import { isSuspended } from './context.ts';
import { makeReference } from './domain/reference.ts';
import { needsKyc, route } from './domain/routing.ts';
import { enqueueJob, finishJob, rescheduleJob } from './jobs.ts';
import { type Logger, silentLogger } from './log.ts';
import { workTransfer } from './posting.ts';
import { workOpenAccount } from './provisioning.ts';
import type { PaymentRecords } from './psp/port.ts';
import { reconcile } from './reconcile.ts';
import type { Store, Tx } from './store/port.ts';
import type {
  AccountRow,
  AlertRow,
  ClientRow,
  JobRow,
  KycState,
  ReconciliationRow,
  TransferKind,
  TransferRow,
} from './store/schema.ts';

/**
 * The composition root: `buildService` wires the service from a validated config, a clock, a random
 * source and its ports, and starts nothing. `run()` starts its loops (job workers, one keepalive per
 * server, the stuck-transfer watch, scheduled reconciliation); `stop()` ends them. Everything the service
 * must not forget goes through the store first, so a service killed at any point and built again on the
 * same store carries on where the committed state says.
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
  /** Every pumped event, after the service has looked at it (trade sync plugs in here). */
  onPumpEvent?: (serverId: string, event: PumpEvent) => void;
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
  readonly #audit: AuditLog;
  #stopped = false;
  #running = false;
  #bell: { promise: Promise<void>; ring: () => void };

  constructor(options: BuildServiceOptions) {
    const { config, clock, random, ports } = options;
    this.config = config;
    this.instanceId = options.instanceId ?? `svc-${random.fork('instance').u32().toString(36)}`;
    this.#bell = newBell();
    const issues: Issue[] = [];
    const secret = (name: string, path: string): string => {
      const value = ports.secrets(name);
      if (value === undefined || value === '')
        issues.push({ path, message: `environment variable ${name} is not set` });
      return value ?? '';
    };
    const passwords = config.servers.map((server, i) => secret(server.passwordEnv, `servers[${i}].passwordEnv`));
    const webhook = config.alerts.webhook;
    const webhookUrl = webhook === undefined ? '' : secret(webhook.urlEnv, 'alerts.webhook.urlEnv');
    const webhookKey =
      webhook?.secretEnv === undefined ? undefined : secret(webhook.secretEnv, 'alerts.webhook.secretEnv');
    if (issues.length > 0)
      throw new MtproofError('MTP_SECRET_MISSING', 'the service cannot start: secrets are missing', issues);

    const userLog = ports.log ?? silentLogger;
    const secrets = [...passwords, webhookUrl, webhookKey ?? ''];
    this.#audit = new AuditLog(ports.store, clock, secrets);
    // Logs pass through the same redaction as the audit: no secret reaches a log line.
    const log: Logger = (entry) => userLog(this.#audit.redact(entry) as typeof entry);
    this.#ctx = {
      config,
      clock,
      random: random.fork('backoff'),
      passwords: random.fork('passwords'),
      store: ports.store,
      connections: this.#connections,
      log,
      suspended: new Set(),
      redact: (value) => this.#audit.mask(value),
      notify: () => this.#bell.ring(),
    };
    config.servers.forEach((server, i) => {
      this.#connections.set(
        server.id,
        new ServerConnection({
          server,
          settings: config.connections,
          api: ports.managers(server),
          password: passwords[i] as string,
          clock,
          random: random.fork('connections').fork(server.id),
          audit: this.#audit,
          store: ports.store,
          log,
          onEvent: (serverId, event) => ports.onPumpEvent?.(serverId, event),
        }),
      );
    });
    this.#sinks = [new LogAlertSink(log), ...(ports.alertSinks ?? [])];
    if (webhook !== undefined) {
      const fetchPort = ports.fetch ?? (globalThis.fetch as unknown as FetchLike);
      this.#sinks.push(
        new WebhookAlertSink({
          url: webhookUrl,
          secret: webhookKey,
          timeoutMs: webhook.timeoutMs,
          fetch: fetchPort,
          clock,
        }),
      );
    }
    this.#psp = ports.psp ?? null;
  }

  // ---- running ----

  /** Runs the service's loops until `stop()`. Rejects if a loop hits a bug (an invariant broke). */
  async run(): Promise<void> {
    if (this.#running) throw new Error('service: run() is already running');
    this.#running = true;
    this.#stopped = false;
    const stopped = () => this.#stopped;
    const loops: Promise<void>[] = [];
    for (let i = 0; i < this.config.posting.concurrency; i++) loops.push(this.#worker(`${this.instanceId}/w${i}`));
    for (const conn of this.#connections.values()) loops.push(conn.keepalive(stopped));
    loops.push(this.#watchStuck());
    const every = this.config.reconciliation.everyMs;
    if (every !== undefined) loops.push(this.#scheduledReconciliation(every));
    try {
      await Promise.all(loops);
    } finally {
      this.#running = false;
    }
  }

  /** Ends the loops at their next wake-up and closes the connections. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#bell.ring();
    for (const conn of this.#connections.values()) await conn.disconnect('service stopping');
  }

  /** Works due jobs until none is due now (for tests and tools driving the service step by step). */
  async drain(owner = `${this.instanceId}/drain`): Promise<number> {
    let worked = 0;
    for (;;) {
      const job = await this.#claim(owner);
      if (job === null) return worked;
      await this.#work(job, owner);
      worked++;
    }
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

  async registerClient(input: RegisterClientInput): Promise<CommandResult<ClientRow>> {
    const parsed = parseCommand(registerClientInput, input, 'register client');
    if (!parsed.ok) return parsed;
    const value = parsed.value;
    const nowMs = this.#ctx.clock.nowMs();
    return this.#tx(async (tx) => {
      if (value.externalId !== undefined) {
        const [existing] = await tx.select('clients', { externalId: value.externalId });
        if (existing !== undefined) {
          const same =
            existing.name === value.name && existing.email === value.email && existing.country === value.country;
          if (same) return { ok: true, value: existing };
          return refuse(
            'MTP_DUPLICATE_CLIENT',
            `client ${existing.id} has externalId ${value.externalId} with other details`,
          );
        }
      }
      const id = `C${String(await tx.nextValue('clients')).padStart(10, '0')}`;
      const client: ClientRow = {
        id,
        externalId: value.externalId ?? null,
        name: value.name,
        email: value.email,
        country: value.country,
        kyc: 'none',
        createdMs: nowMs,
        updatedMs: nowMs,
      };
      await tx.insert('clients', client);
      return { ok: true, value: client };
    });
  }

  async setKyc(clientId: string, state: KycState): Promise<CommandResult<ClientRow>> {
    const parsed = parseCommand(kycInput, { clientId, state }, 'KYC decision');
    if (!parsed.ok) return parsed;
    const nowMs = this.#ctx.clock.nowMs();
    return this.#tx(async (tx) => {
      const client = await tx.get('clients', clientId);
      if (client === undefined) {
        return refuse('MTP_UNKNOWN_CLIENT', `no client ${clientId}`, [{ path: 'clientId', message: 'unknown client' }]);
      }
      return { ok: true, value: await tx.update('clients', clientId, { kyc: parsed.value.state, updatedMs: nowMs }) };
    });
  }

  /** Accepts an account opening: routed and stored now, created on its server by a job. */
  async openAccount(input: { clientId: string; productId: string }): Promise<CommandResult<AccountRow>> {
    const parsed = parseCommand(openAccountInput, input, 'open account');
    if (!parsed.ok) return parsed;
    const { config, clock } = this.#ctx;
    const product = config.products.find((p) => p.id === parsed.value.productId);
    if (product === undefined) {
      return refuse('MTP_UNKNOWN_PRODUCT', `no product ${parsed.value.productId}`, [
        { path: 'productId', message: 'unknown product' },
      ]);
    }
    const nowMs = clock.nowMs();
    const result = await this.#tx<CommandResult<AccountRow>>(async (tx) => {
      const client = await tx.get('clients', parsed.value.clientId);
      if (client === undefined) {
        return refuse('MTP_UNKNOWN_CLIENT', `no client ${parsed.value.clientId}`, [
          { path: 'clientId', message: 'unknown client' },
        ]);
      }
      if (needsKyc(config, product) && client.kyc !== 'approved') {
        return refuse(
          'MTP_KYC_REQUIRED',
          `product ${product.id} needs an approved KYC; client ${client.id} is ${client.kyc}`,
        );
      }
      const where = route(config, client.country, product, (id) => isSuspended(this.#ctx, id));
      if (!where.ok) return refuse('MTP_NO_ROUTE', where.message);
      const account: AccountRow = {
        id: `${config.references.prefix}-A${String(await tx.nextValue('accounts')).padStart(10, '0')}`,
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
      await enqueueJob(tx, 'open-account', account.id, nowMs, nowMs);
      return { ok: true, value: account };
    });
    if (result.ok) this.#ctx.notify();
    return result;
  }

  /** Accepts a deposit (a PSP-confirmed payment): stored with its reference, then posted by a job. */
  async deposit(input: DepositInput): Promise<CommandResult<TransferRow>> {
    const parsed = parseCommand(depositInput, input, 'deposit');
    if (!parsed.ok) return parsed;
    return this.#accept('deposit', parsed.value);
  }

  /** Accepts a withdrawal: held, then debited on the server (if the free margin covers it) by a job. */
  async withdraw(input: WithdrawalInput): Promise<CommandResult<TransferRow>> {
    const parsed = parseCommand(withdrawalInput, input, 'withdrawal');
    if (!parsed.ok) return parsed;
    return this.#accept('withdrawal', parsed.value);
  }

  /** Accepts a credit (bonus) posting. */
  async credit(input: CreditInput): Promise<CommandResult<TransferRow>> {
    const parsed = parseCommand(creditInput, input, 'credit');
    if (!parsed.ok) return parsed;
    return this.#accept('credit', parsed.value);
  }

  /** The provider's payout result for a posted withdrawal: done, or a refund posted back exactly once. */
  async completePayout(input: PayoutInput): Promise<CommandResult<TransferRow>> {
    const parsed = parseCommand(payoutInput, input, 'payout result');
    if (!parsed.ok) return parsed;
    const { ref, succeeded, pspRef } = parsed.value;
    const nowMs = this.#ctx.clock.nowMs();
    const result = await this.#tx<CommandResult<TransferRow>>(async (tx) => {
      const transfer = await tx.get('transfers', ref);
      if (transfer === undefined) return refuse('MTP_UNKNOWN_TRANSFER', `no transfer ${ref}`);
      if (transfer.kind !== 'withdrawal')
        return refuse('MTP_TRANSFER_STATE', `${ref} is a ${transfer.kind}, not a withdrawal`);
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
      if (!succeeded) await enqueueJob(tx, 'refund', ref, nowMs, nowMs);
      return { ok: true, value: updated };
    });
    if (result.ok) this.#ctx.notify();
    return result;
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

  alerts(): Promise<AlertRow[]> {
    return this.#ctx.store.transaction((tx) => tx.select('alerts', {}, { orderBy: 'id' }));
  }

  // ---- internals ----

  #tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#ctx.store.transaction(fn);
  }

  async #accept(
    kind: TransferKind,
    input: { accountId: string; amountCents: number; currency: string; pspRef?: string },
  ): Promise<CommandResult<TransferRow>> {
    const { config, clock } = this.#ctx;
    const nowMs = clock.nowMs();
    const result = await this.#tx<CommandResult<TransferRow>>(async (tx) => {
      if (input.pspRef !== undefined) {
        const [existing] = await tx.select('transfers', { pspRef: input.pspRef });
        if (existing !== undefined) {
          const same =
            existing.kind === kind &&
            existing.accountId === input.accountId &&
            existing.amountCents === input.amountCents;
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
        return refuse(
          'MTP_CURRENCY_MISMATCH',
          `account ${account.id} is in ${account.currency}, not ${input.currency}`,
          [{ path: 'currency', message: `must be ${account.currency}` }],
        );
      }
      const product = config.products.find((p) => p.id === account.productId);
      const client = (await tx.get('clients', account.clientId)) as ClientRow;
      if (product !== undefined && needsKyc(config, product) && client.kyc !== 'approved') {
        return refuse('MTP_KYC_REQUIRED', `client ${client.id} is ${client.kyc}: no money moves before KYC approval`);
      }
      const rules = config.funding.currencies[account.currency];
      const limits =
        rules?.[kind === 'withdrawal' ? 'withdrawal' : kind === 'credit' ? 'credit' : 'deposit'] ?? rules?.deposit;
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
      await enqueueJob(tx, 'post', ref, nowMs, nowMs);
      return { ok: true, value: transfer };
    });
    if (result.ok) this.#ctx.notify();
    return result;
  }

  async #claim(owner: string): Promise<JobRow | null> {
    const nowMs = this.#ctx.clock.nowMs();
    const [job] = await this.#tx((tx) => tx.claimJobs(nowMs, owner, this.config.posting.leaseMs, 1));
    return job ?? null;
  }

  async #worker(owner: string): Promise<void> {
    const { clock } = this.#ctx;
    while (!this.#stopped) {
      const job = await this.#claim(owner);
      if (job !== null) {
        await this.#work(job, owner);
        continue;
      }
      const next = await this.#tx((tx) => tx.nextJobAtMs());
      const idleMs = this.config.posting.idlePollMs;
      const waitMs = next === null ? idleMs : Math.min(idleMs, Math.max(1, next - clock.nowMs()));
      await this.#idle(waitMs);
    }
  }

  async #work(job: JobRow, owner: string): Promise<void> {
    switch (job.kind) {
      case 'post':
      case 'refund':
        return workTransfer(this.#ctx, job, owner);
      case 'open-account':
        return workOpenAccount(this.#ctx, job, owner);
      case 'deliver-alert':
        return this.#deliverAlert(job);
    }
  }

  async #deliverAlert(job: JobRow): Promise<void> {
    const { clock, store, config, random, log } = this.#ctx;
    const alert = await store.transaction((tx) => tx.get('alerts', job.subject));
    if (alert === undefined) throw new Error(`job ${job.id}: no alert ${job.subject}`);
    const deliveredTo = [...alert.deliveredTo];
    const errors: string[] = [];
    for (const sink of this.#sinks) {
      if (deliveredTo.includes(sink.name)) continue;
      const result = await sink.deliver(this.#audit.mask(alert) as AlertRow);
      if (result.ok) deliveredTo.push(sink.name);
      else errors.push(`${sink.name}: ${result.error}`);
    }
    const nowMs = clock.nowMs();
    await store.transaction(async (tx) => {
      await tx.update('alerts', alert.id, { deliveredTo });
      if (errors.length === 0) return finishJob(tx, job.id, nowMs);
      if (job.attempts + 1 >= config.alerts.deliveryAttempts) {
        log({ level: 'error', msg: `alert ${alert.id} undelivered after ${job.attempts + 1} attempts`, errors });
        return finishJob(tx, job.id, nowMs);
      }
      const delayMs = backoffMs(config.retry, job.attempts + 1, random);
      return rescheduleJob(tx, job, nowMs + delayMs, nowMs, errors.join('; '), true);
    });
  }

  /** Raises an alert for every transfer or account still unsettled after `alerts.stuckAfterMs`. */
  async checkStuck(): Promise<number> {
    const { clock, config, store } = this.#ctx;
    const nowMs = clock.nowMs();
    const cutoffMs = nowMs - config.alerts.stuckAfterMs;
    return store.transaction(async (tx) => {
      let raised = 0;
      for (const state of ['accepted', 'hold', 'posting', 'refunding'] as const) {
        for (const t of await tx.select('transfers', { state })) {
          if (t.legStartedMs > cutoffMs) continue;
          const ok = await raiseAlert(
            tx,
            nowMs,
            {
              key: `transfer_stuck:${t.ref}:${state === 'refunding' ? 'refund' : 'main'}`,
              kind: 'transfer_stuck',
              severity: 'warning',
              subject: t.ref,
              message: `${t.kind} ${t.ref} is still ${t.state} after ${nowMs - t.legStartedMs} ms (${t.lastError ?? 'no error'})`,
              details: { serverId: t.serverId, login: t.login, attempts: t.attempts },
            },
            this.#ctx.redact,
          );
          if (ok) raised++;
        }
      }
      for (const a of await tx.select('accounts', { state: 'pending' })) {
        if (a.createdMs > cutoffMs) continue;
        const ok = await raiseAlert(
          tx,
          nowMs,
          {
            key: `account_stuck:${a.id}`,
            kind: 'account_stuck',
            severity: 'warning',
            subject: a.id,
            message: `account ${a.id} is still pending on ${a.serverId} (${a.lastError ?? 'no error'})`,
            details: { serverId: a.serverId, attempts: a.attempts },
          },
          this.#ctx.redact,
        );
        if (ok) raised++;
      }
      return raised;
    });
  }

  async #watchStuck(): Promise<void> {
    const everyMs = Math.max(1_000, Math.min(60_000, Math.floor(this.config.alerts.stuckAfterMs / 2)));
    while (!this.#stopped) {
      await this.#idle(everyMs, false);
      if (this.#stopped) return;
      if ((await this.checkStuck()) > 0) this.#ctx.notify();
    }
  }

  async #scheduledReconciliation(everyMs: number): Promise<void> {
    while (!this.#stopped) {
      await this.#idle(everyMs, false);
      if (this.#stopped) return;
      await this.reconcile();
    }
  }

  /** Sleeps `ms`, or less when a job is queued (`wakeOnWork`) or the service stops. */
  #idle(ms: number, wakeOnWork = true): Promise<void> {
    const bell = this.#bell.promise;
    const slept = this.#ctx.clock.sleep(ms);
    if (!wakeOnWork) return Promise.race([slept, this.#stopping()]);
    return Promise.race([slept, bell]);
  }

  #stopping(): Promise<void> {
    return this.#stopped
      ? Promise.resolve()
      : this.#bell.promise.then(() => (this.#stopped ? undefined : this.#stopping()));
  }
}

function newBell(): { promise: Promise<void>; ring: () => void } {
  const bell = {} as { promise: Promise<void>; ring: () => void };
  const arm = () => {
    bell.promise = new Promise<void>((resolve) => {
      bell.ring = () => {
        arm();
        resolve();
      };
    });
  };
  arm();
  return bell;
}
