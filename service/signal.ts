import type { Clock } from '../kit/clock.ts';

/**
 * What the service's loops wait on beside a sleep: "a job was queued", "the service is stopping".
 *
 * `Promise.race([sleep, stopPromise])` would do, but each race leaves a reaction on the still-pending stop
 * promise until it settles; a service that idles millions of times between two restarts would hold one per
 * wait. A Signal keeps listeners only while a wait is running and drops them when it ends.
 */
export class Signal {
  readonly #listeners = new Set<() => void>();
  readonly #latched: boolean;
  #fired = false;

  /** `latched`: once fired, it stays fired (every later wait ends at once) until `reset()`. */
  constructor(options: { latched: boolean }) {
    this.#latched = options.latched;
  }

  get fired(): boolean {
    return this.#fired;
  }

  fire(): void {
    if (this.#latched) this.#fired = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }

  reset(): void {
    this.#fired = false;
  }

  /** @internal */
  on(listener: () => void): void {
    this.#listeners.add(listener);
  }

  /** @internal */
  off(listener: () => void): void {
    this.#listeners.delete(listener);
  }

  /** Listeners currently waiting (a test's check that finished waits leave none behind). */
  get waiting(): number {
    return this.#listeners.size;
  }
}

/**
 * Resolves when `work` settles (with its value) or when one of `signals` fires (with `null`), whichever is
 * first; a rejection of `work` before that is passed on, one after it is nobody's (the waiter has moved on).
 * The listeners are removed either way.
 */
export function unlessSignalled<T>(work: Promise<T>, signals: readonly Signal[]): Promise<T | null> {
  return new Promise<T | null>((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      for (const signal of signals) signal.off(interrupted);
      settle();
    };
    const interrupted = () => finish(() => resolve(null));
    // Handled before anything else: a signal already fired returns at once, and `work` rejecting later
    // must not become an unhandled rejection (which ends the process).
    work.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
    for (const signal of signals) {
      if (signal.fired) {
        finish(() => resolve(null));
        return;
      }
      signal.on(interrupted);
    }
  });
}

/** Sleeps `ms` on `clock`, or less when one of `signals` fires. */
export async function sleepUnless(clock: Clock, ms: number, signals: readonly Signal[]): Promise<void> {
  await unlessSignalled(clock.sleep(ms), signals);
}
