import { describe, expect, it, vi } from 'vitest';
import { Scheduler } from '../../../kit/scheduler.ts';
import { InProcessBus } from '../../../service/bus/memory.ts';
import { topicMatches } from '../../../service/bus/port.ts';
import { busContract, collect, ManualClock, message, mustPublish } from './bus.contract.ts';

let n = 0;
busContract('in-process', async () => {
  const clock = new ManualClock();
  const bus = new InProcessBus({ clock });
  const prefix = `mem${++n}`;
  return { bus, clock, queue: (name) => `${prefix}.${name}`, dispose: () => bus.close() };
});

/** A clock for tests whose handlers never fail: the bus must not wait on it. */
const UNUSED_CLOCK = {
  nowMs: () => 0,
  sleep: (): Promise<void> => {
    throw new Error('the bus waited, unexpectedly');
  },
};

/** Runs promise continuations only (no timer, no I/O): what the in-process bus needs to deliver. */
async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

describe('in-process bus', () => {
  it('delivers on promise continuations alone, without any timer', async () => {
    // Timers frozen: were the bus to wait on one, nothing would arrive.
    vi.useFakeTimers();
    try {
      const bus = new InProcessBus({ clock: UNUSED_CLOCK });
      const c = await collect(bus, 'q', ['trade.*']);
      const published = bus.publish([message('trade.open', {}, 'a'), message('trade.close', {}, 'b')]);
      // Never inline: the publisher's call returns before a handler runs.
      expect(c.ids()).toEqual([]);
      expect((await published).ok).toBe(true);
      await settle();
      expect(c.ids()).toEqual(['a', 'b']);
      expect(bus.stats).toEqual({ published: 2, acked: 2, redelivered: 0 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds at most `prefetch` unacknowledged messages per consumer', async () => {
    const bus = new InProcessBus({ clock: UNUSED_CLOCK });
    const release: (() => void)[] = [];
    const c = await collect(bus, 'q', ['trade.*'], () => new Promise<void>((r) => release.push(r)), 2);
    await mustPublish(bus, [message('trade.open'), message('trade.open'), message('trade.open')]);
    await settle();
    expect(c.deliveries).toHaveLength(2);
    expect(bus.depth('q')).toEqual({ ready: 1, unacked: 2 });
    release.shift()?.();
    await settle();
    expect(c.deliveries).toHaveLength(3);
    expect(bus.depth('q')).toEqual({ ready: 0, unacked: 2 });
  });

  it('fails publishing with MTP_BUS_UNAVAILABLE while unreachable, and queues nothing', async () => {
    const bus = new InProcessBus({ clock: UNUSED_CLOCK });
    await bus.declareQueue({ queue: 'q', topics: ['#'] });
    bus.setReachable(false);
    const result = await bus.publish([message('trade.open')]);
    expect(result).toEqual({
      ok: false,
      error: { code: 'MTP_BUS_UNAVAILABLE', message: expect.stringContaining('unreachable') },
    });
    expect(bus.depth('q')).toEqual({ ready: 0, unacked: 0 });
    bus.setReachable(true);
    await mustPublish(bus, [message('trade.open')]);
    expect(bus.depth('q')).toEqual({ ready: 1, unacked: 0 });
  });

  it('holds a failed message for redeliveryDelayMs of its clock before delivering it again', async () => {
    const scheduler = new Scheduler({ startMs: 0 });
    const bus = new InProcessBus({ clock: scheduler.clock });
    const at: number[] = [];
    const result = await bus.consume({ queue: 'q', topics: ['#'], redeliveryDelayMs: 5_000 }, async () => {
      at.push(scheduler.nowMs());
      if (at.length < 3) throw new Error('not yet');
    });
    expect(result.ok).toBe(true);
    await mustPublish(bus, [message('trade.open')]);
    await scheduler.run();
    expect(at).toEqual([0, 5_000, 10_000]);
    expect(bus.stats).toEqual({ published: 1, acked: 1, redelivered: 2 });
  });

  it('does not copy a message to a queue declared after it was published (its publish failed)', async () => {
    const bus = new InProcessBus({ clock: UNUSED_CLOCK });
    const result = await bus.publish([message('trade.open')]);
    expect(result.ok ? null : result.error.code).toBe('MTP_BUS_UNROUTABLE');
    await bus.declareQueue({ queue: 'late', topics: ['#'] });
    expect(bus.depth('late')).toEqual({ ready: 0, unacked: 0 });
    expect(bus.stats.published).toBe(0);
  });

  it('refuses a negative or fractional redeliveryDelayMs (a wiring bug)', async () => {
    const bus = new InProcessBus({ clock: UNUSED_CLOCK });
    for (const redeliveryDelayMs of [-1, 0.5]) {
      await expect(bus.consume({ queue: 'q', topics: ['#'], redeliveryDelayMs }, async () => {})).rejects.toThrow(
        /redeliveryDelayMs/,
      );
    }
  });
});

describe('topicMatches', () => {
  it.each([
    ['trade.open', 'trade.open', true],
    ['trade.open', 'trade.close', false],
    ['trade.*', 'trade.open', true],
    ['trade.*', 'trade', false],
    ['trade.*', 'trade.open.partial', false],
    ['trade.#', 'trade', true],
    ['trade.#', 'trade.open.partial', true],
    ['#', 'anything.at.all', true],
    ['#.close', 'trade.close', true],
    ['#.close', 'close', true],
    ['*.*.changed', 'account.mt4.changed', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.z', 'a.b.c', false],
  ])('%s matches %s: %s', (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
  });
});
