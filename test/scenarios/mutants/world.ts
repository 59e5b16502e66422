import { createSimManagerApi } from '../../../adapters/sim/index.ts';
import { Random } from '../../../kit/random.ts';
import type { Process, Scheduler } from '../../../kit/scheduler.ts';
import { ArmedFaults } from '../../../scenarios/armed-faults.ts';
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
 * A small world for testing the lite integration itself: the default cluster (random faults off unless
 * given), a simulated PSP, and the integration as a process of the cluster's scheduler that can be crashed
 * and started again. Commands run in processes of their own, as the CRM's would.
 *
 * Why not scenarios/runner.ts: lite is the control the harness's invariants are judged against (a mutant's
 * catch means something only if lite passes), so its tests check the server's ground truth directly rather
 * than through those invariants; and they need control a script cannot express: a crash at an exact instant
 * after a send, a look at the state mid-run, every call in the order it was made. The runner's own tests
 * drive lite through scripts (test/scenarios/incidents.test.ts, invariants.test.ts).
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
  /** Every ManagerApi call the integration made (but `isConnected`, which asks nothing of a server). */
  readonly calls: { serverId: string; op: string; atMs: number }[] = [];
  #proc: Process | null = null;
  #incarnation = 0;
  #clients = 0;
  readonly #armed: ArmedFaults;

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
    this.#armed = new ArmedFaults(this.cluster);
    this.psp = new SimulatedPsp(this.scheduler.clock);
    this.config = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
    this.integration = factory({ config: this.config, seed });
  }

  /** Starts an incarnation (again after a crash: the same integration object, a fresh process). */
  start(): void {
    const n = ++this.#incarnation;
    this.#proc = this.scheduler.spawn(`lite#${n}`, (proc) =>
      this.integration.run({
        clock: proc,
        random: new Random(this.seed).fork('lite').fork(`run${n}`),
        manager: (id) => {
          const timeoutMs = this.config.servers.find((s) => s.id === id)?.timeoutMs;
          return this.#armed.wrap(
            createSimManagerApi(this.cluster, id, { clock: proc, timeoutMs }),
            ({ serverId, op }) => {
              if (op !== 'isConnected') this.calls.push({ serverId, op, atMs: this.scheduler.nowMs() });
            },
          );
        },
        secret: () => 'Manager#1',
        payments: this.psp,
        log: (line) => this.lines.push(line),
      }),
    );
  }

  crash(): void {
    this.#proc?.kill();
  }

  /** Arms a fault for the next call of `op` on a server (the next request that call makes). */
  faultOnNext(serverId: string, op: string, fault: FaultKind, params: Params = {}): void {
    this.#armed.arm(serverId, op, fault, params);
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
    const externalId = input.externalId ?? `crm-${++this.#clients}`;
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
