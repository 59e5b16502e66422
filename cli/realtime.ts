import type { Scheduler } from '../kit/scheduler.ts';

/**
 * Drives a virtual-time scheduler at wall-clock pace, for `mtproof service` on the embedded simulated
 * cluster: the simulator's timers (pump deliveries, restarts, latency) fire when the real clock reaches
 * them, so the service — on the system clock — meets servers that live in the same time as it does.
 *
 * Every `tickMs` the scheduler runs up to now; between ticks the simulator's clock lags the real one by at
 * most a tick. The scheduler must have started at the real time (`new Scheduler({ startMs: Date.now() })`).
 */

export interface RealtimeOptions {
  /** How often the scheduler catches up with the real clock (default 10 ms). */
  tickMs?: number;
  /** The real clock (default Date.now). */
  now?: () => number;
  /** A simulated process failed (a bug of the simulator): the driver stops and reports it here. */
  onError?: (error: unknown) => void;
}

export class RealtimeDriver {
  readonly #scheduler: Scheduler;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  #loop: Promise<void> | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  #ticks = 0;

  constructor(scheduler: Scheduler, options: RealtimeOptions = {}) {
    this.#scheduler = scheduler;
    this.#tickMs = options.tickMs ?? 10;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
  }

  /** Catch-ups run so far. */
  get ticks(): number {
    return this.#ticks;
  }

  start(): void {
    if (this.#loop !== null) throw new Error('realtime: already started');
    this.#loop = this.#run();
  }

  /** Runs the scheduler up to now once (the loop does this every tick). */
  async catchUp(): Promise<void> {
    const untilMs = Math.max(this.#scheduler.nowMs(), Math.floor(this.#now()));
    await this.#scheduler.run({ untilMs });
    this.#ticks++;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopped) {
        await this.catchUp();
        if (this.#stopped) break;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, this.#tickMs);
        });
      }
    } catch (error) {
      this.#stopped = true;
      this.#onError(error);
    }
  }
}
