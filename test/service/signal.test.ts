import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../kit/scheduler.ts';
import type { SimWorld } from '../../scenarios/world.ts';
import { InProcessBus } from '../../service/bus/memory.ts';
import { Signal, sleepUnless, unlessSignalled } from '../../service/signal.ts';
import { startedWorld } from './helpers.ts';

/**
 * What the service's loops wait on: a wait ends when its work settles or a signal fires, and leaves no
 * listener behind either way — a service idling for days holds one per loop waiting, not one per wait.
 */

describe('Signal', () => {
  it('ends a wait with null when a signal fires first, and removes its listeners', async () => {
    const stop = new Signal({ latched: true });
    const bell = new Signal({ latched: false });
    const waited = unlessSignalled(new Promise<string>(() => {}), [stop, bell]);
    expect([stop.waiting, bell.waiting]).toEqual([1, 1]);
    bell.fire();
    expect(await waited).toBeNull();
    expect([stop.waiting, bell.waiting]).toEqual([0, 0]);
  });

  it("ends a wait with the work's value when it settles first, and removes its listeners", async () => {
    const stop = new Signal({ latched: true });
    expect(await unlessSignalled(Promise.resolve(7), [stop])).toBe(7);
    await expect(unlessSignalled(Promise.reject(new Error('bug')), [stop])).rejects.toThrow('bug');
    expect(stop.waiting).toBe(0);
  });

  it('ends every later wait at once when latched, until reset; an unlatched fire is not remembered', async () => {
    const stop = new Signal({ latched: true });
    const bell = new Signal({ latched: false });
    stop.fire();
    bell.fire();
    expect(await unlessSignalled(new Promise(() => {}), [stop])).toBeNull();
    expect(stop.waiting).toBe(0);
    stop.reset();
    expect(await unlessSignalled(Promise.resolve('worked'), [stop, bell])).toBe('worked');
  });

  it('lets work that fails after a latched signal ended the wait fail unheard (no unhandled rejection)', async () => {
    const stop = new Signal({ latched: true });
    stop.fire();
    let fail: (error: Error) => void = () => {};
    const work = new Promise<void>((_, reject) => {
      fail = reject;
    });
    expect(await unlessSignalled(work, [stop])).toBeNull();
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      fail(new Error('failed after the service stopped'));
      // Node reports an unhandled rejection once the microtask queue drains: give it a macrotask turn.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
  });

  it('keeps no listener for a sleep that ran to its end', async () => {
    const scheduler = new Scheduler({ startMs: 0 });
    const stop = new Signal({ latched: true });
    for (let i = 0; i < 1_000; i++) {
      const slept = sleepUnless(scheduler.clock, 1_000, [stop]);
      await scheduler.run();
      await slept;
    }
    expect(stop.waiting).toBe(0);
  });
});

describe('a long-idle service', () => {
  it('holds one listener per waiting loop after hours of idling, and none once stopped', async () => {
    let world: SimWorld | undefined;
    const bus = new InProcessBus({
      clock: {
        nowMs: () => (world as SimWorld).scheduler.nowMs(),
        sleep: (ms) => (world as SimWorld).scheduler.clock.sleep(ms),
      },
    });
    world = startedWorld({ ports: { bus } });
    await world.runFor(60_000);
    const service = world.service;
    const afterAMinute = service.parkedWaits;
    // 4 workers (stop and bell each), the stuck check and the trade fill (stop), the relay (stop and rows).
    expect(afterAMinute).toBe(4 * 2 + 2 + 2);
    // Thousands of idle polls later (every posting.idlePollMs, 5 s): not one more.
    await world.runFor(6 * 3_600_000);
    expect(service.parkedWaits).toBe(afterAMinute);
    await service.stop();
    expect(await world.until(() => !(world as SimWorld).running, 600_000)).toBe(true);
    expect(service.parkedWaits).toBe(0);
  });
});
