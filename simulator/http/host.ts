import type { Clock } from '../../kit/clock.ts';
import { MtproofError } from '../../kit/errors.ts';
import { Scheduler } from '../../kit/scheduler.ts';
import {
  type ClusterConfig,
  type ClusterConfigInput,
  DEFAULT_CLUSTER,
  type FaultConfigInput,
  parseClusterConfig,
  SimCluster,
} from '../index.ts';
import { Journal } from './journal.ts';
import { RealtimeDriver } from './realtime.ts';

/**
 * One simulated cluster served over the wire: the world (cluster and scheduler) every surface of `mtproof sim
 * serve` and the msw handlers share, its time (real-time pace, frozen, advanced), its request journal, and
 * its reset. A reset builds a fresh world; surfaces read `host.cluster` at each request, and what they keep per
 * connection (native sessions, Web API sessions) they drop through `onReset`.
 */

export interface SimHostOptions {
  /** Seed of the simulated world (prices, fault draws, dealer edits). */
  seed: string;
  /** Cluster layout (validated here); the embedded default when absent. */
  config?: ClusterConfigInput | Readonly<ClusterConfig>;
  /** Fault configuration; absent: no random faults (clients switch them on through the control API). */
  faults?: FaultConfigInput;
  /** The real clock (default Date.now): the world starts at its time and follows it. */
  now?: () => number;
  /** How often virtual time catches up with the real clock (default 10 ms). */
  tickMs?: number;
  /** Requests the journal keeps (default 10 000). */
  journalLimit?: number;
  /** Time stands still from the start (tests): only `advance` moves it. */
  frozen?: boolean;
}

/** No random fault unless asked: a served simulator is quiet until a client switches faults on. */
export const QUIET_FAULTS: FaultConfigInput = Object.freeze({ intensity: 0, swarm: false });

export class SimHost {
  readonly config: Readonly<ClusterConfig>;
  readonly journal: Journal;
  readonly #now: () => number;
  readonly #tickMs: number;
  #seed: string;
  #faults: FaultConfigInput;
  #cluster: SimCluster;
  #driver: RealtimeDriver;
  #generation = 0;
  #started = false;
  #failure: unknown = null;
  #resetting: Promise<void> = Promise.resolve();
  readonly #resetListeners = new Set<() => void>();
  readonly #failureListeners = new Set<(error: unknown) => void>();
  /** The clock every surface waits on: the current world's scheduler, whichever world that is. */
  readonly clock: Clock;

  constructor(options: SimHostOptions) {
    this.config = parseClusterConfig(options.config ?? DEFAULT_CLUSTER);
    this.journal = new Journal(options.journalLimit);
    this.#now = options.now ?? Date.now;
    this.#tickMs = options.tickMs ?? 10;
    this.#seed = options.seed;
    this.#faults = options.faults ?? QUIET_FAULTS;
    const world = this.#build(this.#seed, this.#faults);
    this.#generation = 1;
    this.#cluster = world.cluster;
    this.#driver = world.driver;
    if (options.frozen === true) this.#driver.freeze();
    this.clock = {
      nowMs: () => this.#cluster.scheduler.nowMs(),
      sleep: (ms) => this.#cluster.scheduler.clock.sleep(ms),
    };
  }

  get cluster(): SimCluster {
    return this.#cluster;
  }

  get seed(): string {
    return this.#seed;
  }

  /** Worlds built so far: 1 until the first reset. */
  get generation(): number {
    return this.#generation;
  }

  get frozen(): boolean {
    return this.#driver.frozen;
  }

  /** A simulated process failed (a simulator bug): the world stopped. Null while all is well. */
  get failure(): unknown {
    return this.#failure;
  }

  nowMs(): number {
    return this.#cluster.scheduler.nowMs();
  }

  /** Starts following the real clock. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#driver.start();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await this.#driver.stop();
  }

  freeze(): void {
    this.#driver.freeze();
  }

  unfreeze(): void {
    this.#driver.unfreeze();
  }

  /** Moves virtual time ahead by `ms`, firing every timer on the way; resolves when they have run. */
  advance(ms: number): Promise<void> {
    return this.#driver.advance(ms);
  }

  /** Runs the world up to the real clock now (tests call it instead of waiting for a tick). */
  catchUp(): Promise<void> {
    return this.#driver.catchUp();
  }

  /** The fault configuration of the current world (what a reset without `faults` keeps). */
  get faults(): FaultConfigInput {
    return this.#faults;
  }

  /** Replaces the fault configuration of the running world (throws MTP_FAULTS_INVALID, keeping the old). */
  reconfigureFaults(faults: FaultConfigInput): void {
    this.#cluster.reconfigureFaults(faults);
    this.#faults = faults;
  }

  /**
   * A fresh world: same layout, the given seed and faults (or the current ones), time from the real clock
   * again, not frozen. Every session on every surface ends.
   */
  reset(options: { seed?: string; faults?: FaultConfigInput } = {}): Promise<void> {
    // One reset at a time: two at once would each start a driver, and one would run on forever.
    const next = this.#resetting.then(() => this.#reset(options));
    this.#resetting = next.catch(() => {});
    return next;
  }

  async #reset(options: { seed?: string; faults?: FaultConfigInput }): Promise<void> {
    // The new world is built first: a bad seed or fault configuration throws here and leaves the old one running.
    const seed = options.seed ?? this.#seed;
    const faults = options.faults ?? this.#faults;
    const world = this.#build(seed, faults);
    const wasStarted = this.#started;
    const old = this.#cluster;
    await this.#driver.stop();
    this.#seed = seed;
    this.#faults = faults;
    this.#generation++;
    this.#cluster = world.cluster;
    this.#driver = world.driver;
    this.#failure = null;
    this.#started = false;
    for (const listener of this.#resetListeners) listener();
    // Requests still waiting in the old world (a timeout, a latency) get their answers: its remaining timers
    // fire at once, so nobody waits on a world that no longer moves.
    await old.scheduler.run({ maxTimers: 100_000 }).catch(() => {});
    if (wasStarted) this.start();
  }

  /** Called after each reset (surfaces drop what they keep per connection). Returns the unsubscriber. */
  onReset(listener: () => void): () => void {
    this.#resetListeners.add(listener);
    return () => this.#resetListeners.delete(listener);
  }

  onFailure(listener: (error: unknown) => void): () => void {
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  #build(seed: string, faults: FaultConfigInput): { cluster: SimCluster; driver: RealtimeDriver } {
    checkSeed(seed);
    const scheduler = new Scheduler({ startMs: Math.floor(this.#now()) });
    const cluster = new SimCluster({ seed, config: this.config, scheduler, faults });
    const driver = new RealtimeDriver(scheduler, {
      tickMs: this.#tickMs,
      now: this.#now,
      onError: (error) => {
        this.#failure = error;
        for (const listener of this.#failureListeners) listener(error);
      },
    });
    return { cluster, driver };
  }
}

/** What `Random` takes as a seed (it forks sub-streams by `/`-joined names): refused as bad input, not a crash. */
export const SEED_PATTERN = /^[^/]{1,128}$/;

function checkSeed(seed: string): void {
  if (!SEED_PATTERN.test(seed)) {
    throw new MtproofError('MTP_BAD_REQUEST', `bad seed ${JSON.stringify(seed.slice(0, 40))}`, [
      { path: 'seed', message: '1 to 128 characters, without /' },
    ]);
  }
}
