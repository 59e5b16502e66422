import { describe, expect, it } from 'vitest';
import { Random } from '../../kit/random.ts';
import { Scheduler } from '../../kit/scheduler.ts';

describe('killing a process', () => {
  it('does not move virtual time to the timers of a killed process', async () => {
    const s = new Scheduler({ startMs: 0 });
    const sleeper = s.spawn('sleeper', async (p) => {
      await p.sleep(3_600_000);
    });
    s.spawn('killer', async (p) => {
      await p.sleep(10);
      sleeper.kill();
    });
    const result = await s.run();
    expect(result.nowMs).toBe(10);
    expect(sleeper.state).toBe('killed');
  });

  it('gives a killed parent no new child: a child spawned after the kill never runs', async () => {
    const s = new Scheduler({ startMs: 0 });
    let childRan = false;
    const parent = s.spawn('parent', async (p) => {
      await p.sleep(5);
    });
    await s.run({ untilMs: 1 });
    parent.kill();
    const child = parent.spawn('late-child', async () => {
      childRan = true;
    });
    await s.run();
    expect(childRan).toBe(false);
    expect(child.state).toBe('killed');
  });
});

describe('Random.fork names', () => {
  it('refuses a name with a slash, so that nested forks cannot collide with flat ones', () => {
    expect(() => new Random(1).fork('faults/swarm')).toThrow(/nest forks/);
    expect(() => new Random(1).fork('')).toThrow(/bad name/);
  });
});
