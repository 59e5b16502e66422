import type { ManagerApi } from '../../../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../../../adapters/sim/index.ts';
import { Random } from '../../../kit/random.ts';
import type { Process, Scheduler } from '../../../kit/scheduler.ts';
import type {
  AccountView,
  Answer,
  Integration,
  IntegrationFactory,
  TransferView,
} from '../../../scenarios/integration.ts';
import { type BrokerConfig, parseBrokerConfig } from '../../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../../service/default-config.ts';
import { SimulatedPsp } from '../../../service/psp/simulated.ts';
import { type FaultConfigInput, type FaultKind, SimCluster, type SimServer } from '../../../simulator/index.ts';

/**
 * A small stand-in for the harness (scenarios/runner.ts is written separately): the default cluster with
 * random faults off, a simulated PSP, and an integration run as a process of the cluster's scheduler that
 * can be crashed and started again. Commands run in processes of their own, as the CRM's would.
 */

type Params = Record<string, number | string | boolean>;

export class LiteWorld {
  readonly seed: string;
  readonly cluster: SimCluster;
  readonly scheduler: Scheduler;
  readonly psp: SimulatedPsp;
  readonly config: Readonly<BrokerConfig>;
  readonly integration: Integration;
  readonly lines: string[] = [];
  /** Every ManagerApi call the integration made: server, op, time. */
  readonly calls: { serverId: string; op: string; atMs: number }[] = [];
  proc: Process | null = null;
  #incarnation = 0;
  #armed: { serverId: string; op: string; fault: FaultKind; params: Params }[] = [];

  constructor(
    factory: IntegrationFactory,
    seed = 'lite-1',
    options: { faults?: FaultConfigInput; baseLatencyMs?: number } = {},
  ) {
    this.seed = seed;
    this.cluster = new SimCluster({
      seed,
      faults: options.faults ?? { intensity: 0, swarm: false },
      baseLatencyMs: options.baseLatencyMs,
    });
    this.scheduler = this.cluster.scheduler;
    this.psp = new SimulatedPsp(this.scheduler.clock);
    this.config = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
    this.integration = factory({ config: this.config, seed });
  }

  /** Starts an incarnation (again after a crash: the same integration object, a fresh process). */
  start(): void {
    const n = ++this.#incarnation;
    this.proc = this.scheduler.spawn(`lite#${n}`, (proc) =>
      this.integration.run({
        clock: proc,
        random: new Random(this.seed).fork('lite').fork(`run${n}`),
        manager: (id) => this.#armable(createSimManagerApi(this.cluster, id, { clock: proc, timeoutMs: 10_000 })),
        secret: () => 'Manager#1',
        payments: this.psp,
        log: (line) => this.lines.push(line),
      }),
    );
  }

  crash(): void {
    this.proc?.kill();
  }

  /** Arms a fault for the next call of `op` on a server (the next request that call makes). */
  faultOnNext(serverId: string, op: string, fault: FaultKind, params: Params = {}): void {
    this.#armed.push({ serverId, op, fault, params });
  }

  #armable(api: ManagerApi): ManagerApi {
    return new Proxy(api, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const op = String(key);
          if (!['isConnected', 'serverId'].includes(op)) {
            this.calls.push({ serverId: target.serverId, op, atMs: this.scheduler.nowMs() });
          }
          const at = this.#armed.findIndex((a) => a.serverId === target.serverId && a.op === op);
          if (at >= 0) {
            const [armed] = this.#armed.splice(at, 1);
            if (armed !== undefined) this.cluster.inject(armed.serverId, armed.fault, armed.params);
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  runFor(ms: number): Promise<unknown> {
    return this.scheduler.runFor(ms);
  }

  /** Runs a command in a process of its own until it answers (or throws if it does not within maxMs). */
  async act<T>(body: (i: Integration) => Promise<T>, maxMs = 60_000): Promise<T> {
    let answer: { value: T } | null = null;
    this.scheduler.spawn('crm', async () => {
      answer = { value: await body(this.integration) };
    });
    await this.scheduler.run({ stopWhen: () => answer !== null, untilMs: this.scheduler.nowMs() + maxMs });
    if (answer === null) throw new Error(`no answer within ${maxMs} ms`);
    return (answer as { value: T }).value;
  }

  /** Starts a command and leaves it running (its answer may never come: a crash). */
  send<T>(body: (i: Integration) => Promise<T>): { answer: T | undefined } {
    const box: { answer: T | undefined } = { answer: undefined };
    this.scheduler.spawn('crm', async () => {
      box.answer = await body(this.integration);
    });
    return box;
  }

  async until(predicate: () => Promise<boolean> | boolean, maxMs: number, stepMs = 1_000): Promise<void> {
    const endMs = this.scheduler.nowMs() + maxMs;
    while (!(await predicate())) {
      if (this.scheduler.nowMs() >= endMs) throw new Error(`condition not met within ${maxMs} ms`);
      await this.scheduler.runFor(stepMs);
    }
  }

  server(id: string): SimServer {
    return this.cluster.server(id);
  }

  async account(accountId: string): Promise<AccountView> {
    const found = (await this.integration.accounts()).find((a) => a.accountId === accountId);
    if (found === undefined) throw new Error(`no account ${accountId}`);
    return found;
  }

  async transfer(ref: string): Promise<TransferView> {
    const found = (await this.integration.transfers()).find((t) => t.ref === ref);
    if (found === undefined) throw new Error(`no transfer ${ref}`);
    return found;
  }

  /** A client, KYC as given, an account of the product; waits until the account is no longer pending. */
  async openAccount(input: {
    country: string;
    productId: string;
    kyc?: 'approved' | 'pending';
    externalId?: string;
  }): Promise<AccountView> {
    const externalId = input.externalId ?? `crm-${input.country}-${this.calls.length}-${this.scheduler.nowMs()}`;
    const client = must(
      await this.act((i) =>
        i.registerClient({ externalId, name: 'Ada Client', email: 'ada@example.com', country: input.country }),
      ),
    );
    if ((input.kyc ?? 'approved') === 'approved') must(await this.act((i) => i.setKyc(client.clientId, 'approved')));
    const opened = must(
      await this.act((i) => i.openAccount({ clientId: client.clientId, productId: input.productId })),
    );
    await this.until(async () => (await this.account(opened.accountId)).status !== 'pending', 600_000);
    return this.account(opened.accountId);
  }

  /** A deposit the provider confirmed, delivered by its webhook; waits until it is settled. */
  async deposit(account: AccountView, amountCents: number): Promise<TransferView> {
    const record = this.psp.confirmDeposit({ amountCents, currency: 'USD', reference: account.accountId });
    const { ref } = must(
      await this.act((i) =>
        i.deposit({ accountId: account.accountId, amountCents, currency: 'USD', pspRef: record.pspRef }),
      ),
    );
    await this.until(async () => (await this.transfer(ref)).status !== 'pending', 3_600_000);
    return this.transfer(ref);
  }

  /** Balance operations on the server whose comment contains `text` (the simulator's ground truth). */
  ops(account: AccountView, text = '') {
    return this.server(account.serverId as string)
      .allBalanceOps(account.login as number)
      .filter((op) => op.comment.includes(text) && op.actor.by === 'manager');
  }
}

export function must<T>(answer: Answer<T>): T {
  if (!answer.ok) throw new Error(`refused: ${answer.code}: ${answer.message}`);
  return answer.value;
}
