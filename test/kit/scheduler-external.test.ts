import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../kit/scheduler.ts';

/**
 * External work (a query to a real database) registered with the scheduler holds virtual time: no timer
 * fires and `run()` does not return until it has settled and its continuations have run. Each test has a
 * control: the same work not registered, which the scheduler does not wait for.
 */

const START = 1_700_000_000_000;

/** Settles after `ms` of real time: work the scheduler cannot see. */
function realDelay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

describe('Scheduler.external', () => {
  for (const registered of [true, false]) {
    it(`${registered ? 'holds' : 'does not hold (control)'} the next timer while external work is in flight`, async () => {
      const s = new Scheduler({ startMs: START });
      const log: string[] = [];
      s.spawn('query', async (p) => {
        const work = realDelay(30, 'rows');
        const rows = await (registered ? p.external(work) : work);
        log.push(`got ${rows} at +${p.nowMs() - START}`);
      });
      s.spawn('timer', async (p) => {
        await p.sleep(1);
        log.push(`timer at +${p.nowMs() - START}`);
      });
      const result = await s.run();
      // Unregistered, the run is idle before the answer comes: wait for it to see where it lands.
      await realDelay(60, null);
      expect(result.idle).toBe(true);
      expect(log).toEqual(registered ? ['got rows at +0', 'timer at +1'] : ['timer at +1', 'got rows at +1']);
    });
  }

  it('does not return idle, nor check stopWhen, before external work and what it leads to are done', async () => {
    const s = new Scheduler({ startMs: START });
    let stage = 'start';
    s.spawn('worker', async (p) => {
      stage = await s.external(realDelay(20, 'answered'));
      await p.sleep(5);
      stage = 'slept after the answer';
    });
    const early = await s.run({ stopWhen: () => stage === 'answered' });
    expect(early.nowMs).toBe(START);
    expect(stage).toBe('answered');
    expect(s.externalInFlight).toBe(0);
    const rest = await s.run();
    expect(rest).toEqual({ nowMs: START + 5, timersFired: 1, idle: true });
    expect(stage).toBe('slept after the answer');
  });

  it('counts a rejected external promise as settled, and hands the rejection to its awaiter', async () => {
    const s = new Scheduler({ startMs: START });
    let caught = '';
    s.spawn('worker', async (p) => {
      try {
        await p.external(realDelay(10, null).then(() => Promise.reject(new Error('connection reset'))));
      } catch (error) {
        caught = (error as Error).message;
      }
    });
    const result = await s.run();
    expect(result.idle).toBe(true);
    expect(caught).toBe('connection reset');
    expect(s.externalInFlight).toBe(0);
  });
});
