import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../../kit/scheduler.ts';
import { RealtimeDriver } from '../../../simulator/http/realtime.ts';

describe('RealtimeDriver', () => {
  it("fires the simulator's timers when the real clock reaches them, not before", async () => {
    let nowMs = 1_000;
    const scheduler = new Scheduler({ startMs: 1_000 });
    const driver = new RealtimeDriver(scheduler, { now: () => nowMs });
    const fired: number[] = [];
    scheduler.after(50, () => fired.push(scheduler.nowMs()));
    nowMs = 1_049;
    await driver.catchUp();
    expect(fired).toEqual([]);
    expect(scheduler.nowMs()).toBe(1_049);
    nowMs = 1_070;
    await driver.catchUp();
    expect(fired).toEqual([1_050]);
    expect(scheduler.nowMs()).toBe(1_070);
  });

  it('keeps catching up on its own until stopped, and reports a failed simulated process', async () => {
    const scheduler = new Scheduler({ startMs: Date.now() });
    const errors: unknown[] = [];
    const driver = new RealtimeDriver(scheduler, { tickMs: 1, onError: (e) => errors.push(e) });
    let ran = false;
    scheduler.spawn('sim', async (process) => {
      // Fails 20 ms of real time later: the driver has caught up a few times by then.
      await process.sleep(20);
      ran = true;
      throw new Error('a simulator bug');
    });
    driver.start();
    while (errors.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    await driver.stop();
    expect(ran).toBe(true);
    expect(String(errors[0])).toContain('a simulator bug');
    expect(driver.ticks).toBeGreaterThan(0);
  });
});

describe('RealtimeDriver time control', () => {
  it('advances virtual time ahead of the real clock and keeps the lead', async () => {
    let nowMs = 1_000;
    const scheduler = new Scheduler({ startMs: 1_000 });
    const driver = new RealtimeDriver(scheduler, { now: () => nowMs });
    const fired: number[] = [];
    scheduler.after(60_000, () => fired.push(scheduler.nowMs()));
    await driver.advance(60_000);
    expect(fired).toEqual([61_000]);
    expect(driver.offsetMs).toBe(60_000);
    nowMs = 1_010;
    await driver.catchUp();
    expect(scheduler.nowMs()).toBe(61_010);
  });

  it('stands still while frozen and resumes from the frozen instant', async () => {
    let nowMs = 1_000;
    const scheduler = new Scheduler({ startMs: 1_000 });
    const driver = new RealtimeDriver(scheduler, { now: () => nowMs });
    const fired: number[] = [];
    scheduler.after(50, () => fired.push(scheduler.nowMs()));
    driver.freeze();
    nowMs = 5_000;
    await driver.catchUp();
    expect(scheduler.nowMs()).toBe(1_000);
    expect(fired).toEqual([]);
    await driver.advance(100);
    expect(fired).toEqual([1_050]);
    expect(scheduler.nowMs()).toBe(1_100);
    driver.unfreeze();
    nowMs = 5_020;
    await driver.catchUp();
    expect(scheduler.nowMs()).toBe(1_120);
  });
});

describe('RealtimeDriver stop and start', () => {
  it('starts again after a stop and keeps following the clock', async () => {
    let nowMs = 1_000;
    const scheduler = new Scheduler({ startMs: 1_000 });
    const driver = new RealtimeDriver(scheduler, { now: () => nowMs, tickMs: 1 });
    driver.start();
    await driver.stop();
    nowMs = 1_500;
    driver.start();
    expect(() => driver.start()).toThrow(/already started/);
    while (scheduler.nowMs() < 1_500) await new Promise((resolve) => setTimeout(resolve, 2));
    await driver.stop();
    expect(scheduler.nowMs()).toBe(1_500);
  });
});
