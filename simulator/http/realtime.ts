import type { Scheduler } from '../../kit/scheduler.ts';

/**
 * Drives a virtual-time scheduler at wall-clock pace, for `mtproof service` on the embedded simulated
 * cluster and for `mtproof sim serve`: the simulator's timers (pump deliveries, restarts, latency) fire when
 * the real clock reaches them, so a client on the system clock meets servers that live in the same time.
 *
 * Virtual time is the real time plus an offset. `advance(ms)` jumps ahead (the offset grows) and fires every
 * timer on the way; `freeze()` stops time until `unfreeze()`, which resumes from the frozen instant (the
 * offset shrinks by the time spent frozen). Every `tickMs` the scheduler runs up to now; between ticks the
 * simulator's clock lags by at most a tick. The scheduler must have started at or before the real time.
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
  /** Virtual minus real time, in ms. */
  #offsetMs = 0;
  #frozen = false;
  /** One catch-up at a time: advance() and the loop must not run the scheduler concurrently. */
  #busy: Promise<void> = Promise.resolve();

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

  get frozen(): boolean {
    return this.#frozen;
  }

  /** How far virtual time is ahead of the real clock (negative after a freeze), in ms. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** Starts following the real clock, or again after `stop()` (virtual time then catches up with the time stopped). */
  start(): void {
    if (this.#loop !== null && !this.#stopped) throw new Error('realtime: already started');
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** Runs the scheduler up to now once (the loop does this every tick); nothing while frozen. */
  catchUp(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#frozen) return;
      const untilMs = Math.max(this.#scheduler.nowMs(), Math.floor(this.#now()) + this.#offsetMs);
      await this.#scheduler.run({ untilMs });
      this.#ticks++;
    });
  }

  /** Stops virtual time: timers stay pending until `unfreeze()` or `advance()`. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Resumes virtual time from where it stood: the time spent frozen is skipped, not replayed. */
  unfreeze(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    this.#offsetMs = this.#scheduler.nowMs() - Math.floor(this.#now());
  }

  /** Moves virtual time `ms` ahead at once, firing every timer on the way (frozen or not). */
  advance(ms: number): Promise<void> {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`realtime: invalid advance of ${ms} ms`);
    return this.#exclusive(async () => {
      const untilMs = this.#scheduler.nowMs() + ms;
      if (!this.#frozen) this.#offsetMs = untilMs - Math.floor(this.#now());
      await this.#scheduler.run({ untilMs });
      this.#ticks++;
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
  }

  #exclusive(work: () => Promise<void>): Promise<void> {
    const next = this.#busy.then(work);
    this.#busy = next.catch(() => {});
    return next;
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
