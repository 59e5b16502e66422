import { createSimManagerApi } from '../adapters/sim/index.ts';
import { Random } from '../kit/random.ts';
import type { Process, Scheduler } from '../kit/scheduler.ts';
import { DEFAULT_BROKER_CONFIG } from '../service/default-config.ts';
import {
  type BrokerConfig,
  type BrokerConfigInput,
  buildService,
  MemoryStore,
  parseBrokerConfig,
  type Service,
  type ServicePorts,
  SimulatedPsp,
  type Store,
  seededPasswords,
} from '../service/index.ts';
import { type ClusterConfigInput, type FaultConfigInput, type FaultKind, SimCluster } from '../simulator/index.ts';
import { ArmedFaults } from './armed-faults.ts';

/**
 * A simulated world: the cluster, the integration service running as one process of the same virtual-time
 * scheduler, its store, and a simulated payment provider. The service can be crashed (its process killed:
 * every pending continuation dropped, only what the store committed survives) and started again on the
 * same store, as many times as a scenario wants.
 */

export interface SimWorldOptions {
  seed: string | number;
  broker?: BrokerConfigInput | Readonly<BrokerConfig>;
  cluster?: ClusterConfigInput;
  /** Absent: random faults off (only injected or scheduled ones fire). */
  faults?: FaultConfigInput;
  /** Network delay of every answer: > 0 gives a crash a moment between a send and its answer. */
  baseLatencyMs?: number;
  store?: Store;
  /** Extra ports (alert sinks, log, fetch) for the service. */
  ports?: Partial<Omit<ServicePorts, 'store' | 'managers' | 'secrets'>>;
  /** Manager passwords by environment-variable name; absent: every server's password is `Manager#1`. */
  secrets?: Readonly<Record<string, string>>;
}

export class SimWorld {
  readonly seed: string;
  readonly cluster: SimCluster;
  readonly scheduler: Scheduler;
  readonly store: Store;
  readonly psp: SimulatedPsp;
  readonly config: Readonly<BrokerConfig>;
  readonly #options: SimWorldOptions;
  #process: Process | null = null;
  #service: Service | null = null;
  #incarnation = 0;
  /** One-shot faults armed for the next call of an operation on a server (`faultOnNext`). */
  readonly #armed: ArmedFaults;

  constructor(options: SimWorldOptions) {
    this.#options = options;
    this.seed = String(options.seed);
    this.cluster = new SimCluster({
      seed: this.seed,
      config: options.cluster,
      faults: options.faults ?? { intensity: 0, swarm: false },
      baseLatencyMs: options.baseLatencyMs,
    });
    this.scheduler = this.cluster.scheduler;
    this.#armed = new ArmedFaults(this.cluster);
    this.store = options.store ?? new MemoryStore();
    this.psp = new SimulatedPsp(this.scheduler.clock);
    this.config = parseBrokerConfig(options.broker ?? DEFAULT_BROKER_CONFIG);
  }

  /** The running service (throws if it is not running: a scenario bug). */
  get service(): Service {
    if (this.#service === null || this.#process?.alive !== true) throw new Error('world: the service is not running');
    return this.#service;
  }

  get running(): boolean {
    return this.#process?.alive === true;
  }

  /** How many times the service has been started. */
  get incarnations(): number {
    return this.#incarnation;
  }

  /** Starts the service as a new process on the same store (after a crash, a restart). */
  start(): Service {
    if (this.running) throw new Error('world: the service is already running');
    const incarnation = ++this.#incarnation;
    const random = new Random(this.seed).fork('service').fork(`run${incarnation}`);
    const secrets = this.#options.secrets;
    // The body runs on the scheduler's next turn, by which time the service below exists.
    const proc = this.scheduler.spawn(`service#${incarnation}`, () => service.run());
    this.#process = proc;
    const service: Service = buildService({
      config: this.config,
      clock: proc,
      random,
      instanceId: `svc${incarnation}`,
      ports: {
        ...this.#options.ports,
        store: this.store,
        psp: this.#options.ports?.psp ?? this.psp,
        managers: (server) =>
          this.#armed.wrap(createSimManagerApi(this.cluster, server.id, { clock: proc, timeoutMs: server.timeoutMs })),
        secrets: (name) => (secrets === undefined ? 'Manager#1' : secrets[name]),
        passwords: seededPasswords(random.fork('passwords')),
      },
    });
    this.#service = service;
    return service;
  }

  /**
   * Arms `fault` for the next call of `op` (a ManagerApi method such as `postBalance`) the service makes to
   * `serverId`, whatever calls come before it: a test can hit the send itself rather than the lookup.
   */
  faultOnNext(
    serverId: string,
    op: string,
    fault: FaultKind,
    params: Record<string, number | string | boolean> = {},
  ): void {
    this.cluster.server(serverId);
    this.#armed.arm(serverId, op, fault, params);
  }

  /** Kills the service process at this instant: whatever it had not committed is gone. */
  crash(): void {
    this.#process?.kill();
  }

  /** Runs virtual time forward by `ms`. */
  async runFor(ms: number): Promise<void> {
    await this.scheduler.runFor(ms);
  }

  /** Runs a body as a process of the scheduler (a client, the CRM) and returns its value once it settles. */
  async act<T>(body: (proc: Process) => Promise<T>, maxMs = 3_600_000): Promise<T> {
    let out: { value: T } | undefined;
    this.scheduler.spawn('actor', async (proc) => {
      out = { value: await body(proc) };
    });
    const deadline = this.scheduler.nowMs() + maxMs;
    await this.scheduler.run({ stopWhen: () => out !== undefined, untilMs: deadline });
    if (out === undefined) throw new Error(`world: the action did not finish within ${maxMs} ms`);
    return out.value;
  }

  /** Runs until `predicate` holds (checked after every turn) or `maxMs` passes; returns whether it held. */
  async until(predicate: () => Promise<boolean> | boolean, maxMs: number, stepMs = 1_000): Promise<boolean> {
    const endMs = this.scheduler.nowMs() + maxMs;
    while (this.scheduler.nowMs() < endMs) {
      if (await predicate()) return true;
      await this.scheduler.run({ untilMs: Math.min(endMs, this.scheduler.nowMs() + stepMs) });
    }
    return predicate();
  }
}

export function createSimWorld(options: SimWorldOptions): SimWorld {
  return new SimWorld(options);
}
