import { assertWait, type Clock } from './clock.ts';

/**
 * The virtual scheduler: it owns every wait in a scenario run.
 *
 * Time only moves when every runnable continuation has run (the microtask queue is empty), then jumps to
 * the earliest pending timer. Timers at the same instant fire in creation order, so a run is a pure
 * function of its inputs. Code in a process must wait only through its own `Process` (it is a Clock):
 * killing the process then drops every continuation it has parked, at whatever await point it is.
 */

interface Timer {
  atMs: number;
  seq: number;
  owner: Process | null;
  fire: () => void;
}

export interface RunOptions {
  /** Stop as soon as this says so (checked whenever all continuations have run). */
  stopWhen?: () => boolean;
  /** Stop when the next timer lies beyond this instant (the clock is left at `untilMs`). */
  untilMs?: number;
  /** Stop after this many timers have fired (a guard against runaway loops). */
  maxTimers?: number;
}

export interface RunResult {
  nowMs: number;
  timersFired: number;
  /** True when nothing is left to run: no timer is pending. */
  idle: boolean;
}

export type ProcessState = 'running' | 'done' | 'failed' | 'killed';

const NEVER: Promise<never> = new Promise(() => {});

export class Scheduler {
  #nowMs: number;
  #seq = 0;
  #heap: Timer[] = [];
  #failure: { process: Process; error: unknown } | null = null;
  #running = false;
  /** External work in flight (see `external`), and who waits for it to drain. */
  #external = 0;
  #externalDrained: (() => void)[] = [];
  readonly startMs: number;
  /** A clock owned by no process: its waits are never dropped. */
  readonly clock: Clock;

  constructor(options: { startMs: number }) {
    if (!Number.isInteger(options.startMs)) throw new Error('scheduler: startMs must be an integer');
    this.#nowMs = options.startMs;
    this.startMs = options.startMs;
    this.clock = { nowMs: () => this.#nowMs, sleep: (ms) => this.sleep(ms, null) };
  }

  nowMs(): number {
    return this.#nowMs;
  }

  /** Number of timers not yet fired (dropped ones included until they are reached). */
  get pending(): number {
    return this.#heap.length;
  }

  /** External work registered and not yet settled. */
  get externalInFlight(): number {
    return this.#external;
  }

  /**
   * Registers work outside the scheduler that the run must wait for, such as a query to a real database:
   * `run()` fires no timer, checks no `stopWhen` and returns nothing until every registered promise has
   * settled, so virtual time stands still while it is in flight, as it does for a microtask. Such work must
   * not itself wait on virtual time (a sleep), or the run waits forever. Returns `work`.
   */
  external<T>(work: Promise<T>): Promise<T> {
    this.#external++;
    const settled = () => {
      this.#external--;
      if (this.#external === 0) for (const wake of this.#externalDrained.splice(0)) wake();
    };
    work.then(settled, settled);
    return work;
  }

  /** Calls `fire` at `nowMs() + ms`, unless `owner` has been killed by then. */
  after(ms: number, fire: () => void, owner: Process | null = null): void {
    assertWait(ms);
    // Virtual time is whole milliseconds: a fractional wait is a bug in the caller.
    if (!Number.isInteger(ms)) throw new Error(`scheduler: waits are whole milliseconds, got ${ms}`);
    this.#push({ atMs: this.#nowMs + ms, seq: this.#seq++, owner, fire });
  }

  sleep(ms: number, owner: Process | null): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve, owner));
  }

  /** Starts `body` as a process. Its failure makes `run()` reject: a bug must crash the run loudly. */
  spawn(name: string, body: (process: Process) => Promise<void>, parent: Process | null = null): Process {
    const process = new Process(this, name, parent);
    // A child of a dead process is born dead: killing drops all of a process's future work too.
    if (parent !== null && parent.state === 'killed') process.kill();
    // Start on a timer, not synchronously, so spawning from inside a process cannot interleave with it.
    this.after(
      0,
      () => {
        if (!process.alive) return;
        body(process).then(
          () => process.finish('done'),
          (error: unknown) => {
            if (!process.alive) return;
            process.finish('failed', error);
            this.#failure ??= { process, error };
          },
        );
      },
      process,
    );
    return process;
  }

  /** Kills `process` and its children: every continuation they have parked is dropped. */
  kill(process: Process): void {
    process.kill();
  }

  /**
   * Runs until no timer is left, or until `untilMs` / `maxTimers`. Rejects with a process's error as soon
   * as one fails. A process parked on a promise from outside the scheduler (`Process.wait`) does not keep
   * the run going: with no timer pending, `run()` returns `idle`.
   */
  async run(options: RunOptions = {}): Promise<RunResult> {
    if (this.#running) throw new Error('scheduler: run() is already running');
    this.#running = true;
    let fired = 0;
    try {
      for (;;) {
        await drainMicrotasks();
        this.#throwFailure();
        if (this.#external > 0) {
          // Let external work settle and its continuations run before time may move.
          await new Promise<void>((resolve) => this.#externalDrained.push(resolve));
          continue;
        }
        if (options.stopWhen?.() === true) return { nowMs: this.#nowMs, timersFired: fired, idle: false };
        // Timers of killed processes are dropped without moving the clock.
        while (this.#heap.length > 0) {
          const owner = (this.#heap[0] as Timer).owner;
          if (owner === null || owner.alive) break;
          this.#pop();
        }
        const next = this.#heap[0];
        if (next === undefined) {
          if (options.untilMs !== undefined) this.#nowMs = Math.max(this.#nowMs, options.untilMs);
          return { nowMs: this.#nowMs, timersFired: fired, idle: true };
        }
        if (options.untilMs !== undefined && next.atMs > options.untilMs) {
          this.#nowMs = Math.max(this.#nowMs, options.untilMs);
          return { nowMs: this.#nowMs, timersFired: fired, idle: false };
        }
        if (options.maxTimers !== undefined && fired >= options.maxTimers) {
          return { nowMs: this.#nowMs, timersFired: fired, idle: false };
        }
        // One timer per turn: its continuations run to their next wait before the next timer fires, so a
        // process killed by an earlier timer of the same instant never resumes.
        const timer = this.#pop();
        this.#nowMs = Math.max(this.#nowMs, timer.atMs);
        fired++;
        timer.fire();
      }
    } finally {
      this.#running = false;
    }
  }

  /** Runs for `ms` of virtual time from now. */
  runFor(ms: number): Promise<RunResult> {
    assertWait(ms);
    return this.run({ untilMs: this.#nowMs + ms });
  }

  #throwFailure(): void {
    if (this.#failure === null) return;
    const { process, error } = this.#failure;
    this.#failure = null;
    if (error instanceof Error) {
      const described = `process ${process.name} failed: ${error.message}`;
      // Some errors (zod's) have a read-only message: wrap those instead.
      if (Object.getOwnPropertyDescriptor(error, 'message')?.writable === true) {
        error.message = described;
        throw error;
      }
      throw new Error(described, { cause: error });
    }
    throw new Error(`process ${process.name} failed: ${String(error)}`);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(timer, heap[parent] as Timer)) break;
      heap[i] = heap[parent] as Timer;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): Timer {
    const heap = this.#heap;
    const top = heap[0] as Timer;
    const last = heap.pop() as Timer;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const child = r < heap.length && earlier(heap[r] as Timer, heap[l] as Timer) ? r : l;
        if (!earlier(heap[child] as Timer, last)) break;
        heap[i] = heap[child] as Timer;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

function earlier(a: Timer, b: Timer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

/** Resolves once the microtask queue is empty (a macrotask runs only after it). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A simulated process (the integration service, a worker, a client). It is a Clock: everything the
 * process waits for must go through it, so that `kill()` drops its continuations.
 */
export class Process implements Clock {
  readonly name: string;
  readonly parent: Process | null;
  #state: ProcessState = 'running';
  #error: unknown;
  #children: Process[] = [];
  #onKill: (() => void)[] = [];
  readonly #scheduler: Scheduler;

  constructor(scheduler: Scheduler, name: string, parent: Process | null) {
    this.#scheduler = scheduler;
    this.name = name;
    this.parent = parent;
    if (parent !== null) parent.#children.push(this);
  }

  get alive(): boolean {
    return this.#state === 'running';
  }

  get state(): ProcessState {
    return this.#state;
  }

  get error(): unknown {
    return this.#error;
  }

  nowMs(): number {
    return this.#scheduler.nowMs();
  }

  async sleep(ms: number): Promise<void> {
    await this.#scheduler.sleep(ms, this);
    // Killed while another timer of the same instant ran first: park forever.
    if (!this.alive) await NEVER;
  }

  /** Waits for a promise from outside the scheduler; if the process dies first, its continuation is dropped. */
  async wait<T>(promise: Promise<T>): Promise<T> {
    let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    promise.then(
      (value) => {
        settled = { ok: true, value };
        this.#scheduler.after(0, wake as () => void, this);
      },
      (error: unknown) => {
        settled = { ok: false, error };
        this.#scheduler.after(0, wake as () => void, this);
      },
    );
    await woken;
    if (!this.alive) await NEVER;
    const result = settled as NonNullable<typeof settled>;
    if (!result.ok) throw result.error;
    return result.value;
  }

  /** Registers external work with the scheduler (see `Scheduler.external`). Returns `work`. */
  external<T>(work: Promise<T>): Promise<T> {
    return this.#scheduler.external(work);
  }

  /** Starts a child process; killing this process kills the child too. */
  spawn(name: string, body: (process: Process) => Promise<void>): Process {
    return this.#scheduler.spawn(`${this.name}/${name}`, body, this);
  }

  /**
   * Registers a hook run when the process is killed (e.g. to drop its sockets in the simulator).
   * Returns the function that unregisters it, for a resource that goes away before the process does.
   */
  onKill(hook: () => void): () => void {
    this.#onKill.push(hook);
    return () => {
      const i = this.#onKill.indexOf(hook);
      if (i >= 0) this.#onKill.splice(i, 1);
    };
  }

  /** Kills the process (if still running) and, in any case, its children. */
  kill(): void {
    const wasRunning = this.#state === 'running';
    if (wasRunning) this.#state = 'killed';
    for (const child of this.#children) child.kill();
    if (wasRunning) for (const hook of [...this.#onKill]) hook();
  }

  /** @internal */
  finish(state: 'done' | 'failed', error?: unknown): void {
    if (this.#state !== 'running') return;
    this.#state = state;
    this.#error = error;
  }
}
