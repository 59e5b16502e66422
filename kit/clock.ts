/**
 * Time as the simulator, the service and the harness see it. Code in those folders never reads the
 * system clock or sets a bare timer: it is handed a Clock, so a scenario run can use virtual time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (UTC). */
  nowMs(): number;
  /** Resolves after `ms` milliseconds of this clock's time. Negative or NaN waits are bugs. */
  sleep(ms: number): Promise<void>;
}

/**
 * The real clock, for real mode: `cli/` chooses it for the service. The SQL store adapters default to it
 * for their own real-time waits (rerun pauses, PGlite preemption) when given no clock; the simulator, the
 * service's logic and the harness never construct it.
 */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  sleep(ms: number): Promise<void> {
    assertWait(ms);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

export function assertWait(ms: number): void {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`clock: invalid wait of ${ms} ms`);
}
