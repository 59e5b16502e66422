import { describe, expect, it } from 'vitest';
import { Random } from '../../kit/random.ts';
import { type Process, Scheduler } from '../../kit/scheduler.ts';

const START = 1_700_000_000_000;
const HOUR = 3_600_000;

function scheduler(): Scheduler {
  return new Scheduler({ startMs: START });
}

/** A promise settled from outside any process, plus its settle functions. */
function external<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Scheduler construction and time', () => {
  it('starts at startMs and rejects a non-integer start', () => {
    const s = scheduler();
    expect(s.nowMs()).toBe(START);
    expect(s.startMs).toBe(START);
    expect(s.clock.nowMs()).toBe(START);
    expect(() => new Scheduler({ startMs: 1.5 })).toThrow(/startMs/);
  });

  it('resolves a process sleep at exactly the virtual time asked', async () => {
    const s = scheduler();
    const woke: number[] = [];
    s.spawn('sleeper', async (p) => {
      await p.sleep(250);
      woke.push(p.nowMs());
      await p.sleep(0);
      woke.push(p.nowMs());
      await p.sleep(1_000);
      woke.push(p.nowMs());
    });
    const result = await s.run();
    expect(woke).toEqual([START + 250, START + 250, START + 1_250]);
    expect(result.nowMs).toBe(START + 1_250);
    expect(s.nowMs()).toBe(START + 1_250);
  });

  it('resolves a sleep on the unowned scheduler clock at exactly the time asked', async () => {
    const s = scheduler();
    let at = -1;
    void s.clock.sleep(42).then(() => {
      at = s.nowMs();
    });
    await s.run();
    expect(at).toBe(START + 42);
  });

  it('fires timers due at the same instant in creation order', async () => {
    const s = scheduler();
    const order: string[] = [];
    s.after(100, () => order.push('a'));
    s.after(50, () => order.push('early'));
    s.after(100, () => order.push('b'));
    s.after(100, () => order.push('c'));
    s.after(200, () => order.push('late'));
    s.after(100, () => order.push('d'));
    await s.run();
    expect(order).toEqual(['early', 'a', 'b', 'c', 'd', 'late']);
  });

  it('wakes processes sleeping until the same instant in the order they went to sleep', async () => {
    const s = scheduler();
    const order: string[] = [];
    for (const name of ['p1', 'p2', 'p3', 'p4']) {
      s.spawn(name, async (p) => {
        await p.sleep(100);
        order.push(name);
      });
    }
    await s.run();
    expect(order).toEqual(['p1', 'p2', 'p3', 'p4']);
  });

  it('stops run({ untilMs }) at untilMs with later timers still pending', async () => {
    const s = scheduler();
    const fired: number[] = [];
    s.after(100, () => fired.push(s.nowMs()));
    s.after(500, () => fired.push(s.nowMs()));
    const first = await s.run({ untilMs: START + 300 });
    expect(fired).toEqual([START + 100]);
    expect(first).toEqual({ nowMs: START + 300, timersFired: 1, idle: false });
    expect(s.nowMs()).toBe(START + 300);
    expect(s.pending).toBe(1);

    const rest = await s.run();
    expect(fired).toEqual([START + 100, START + 500]);
    expect(rest).toEqual({ nowMs: START + 500, timersFired: 1, idle: true });
  });

  it('fires a timer due exactly at untilMs', async () => {
    const s = scheduler();
    let fired = false;
    s.after(300, () => {
      fired = true;
    });
    await s.run({ untilMs: START + 300 });
    expect(fired).toBe(true);
  });

  it('runs runFor(ms) up to ms from now, leaving later timers pending', async () => {
    const s = scheduler();
    const fired: number[] = [];
    s.after(1_000, () => fired.push(1));
    s.after(3_000, () => fired.push(3));
    const result = await s.runFor(2_000);
    expect(fired).toEqual([1]);
    expect(result.nowMs).toBe(START + 2_000);
    expect(result.idle).toBe(false);
    expect(() => s.runFor(-1)).toThrow(/invalid wait/);
  });

  // Contract: runFor "runs for `ms` of virtual time from now". When the timers run out before that
  // instant, the clock stays at the last timer instead of reaching now + ms.
  it('advances the clock by the full span of runFor even when the timers run out first', async () => {
    const s = scheduler();
    s.after(100, () => {});
    await s.runFor(60_000);
    expect(s.nowMs()).toBe(START + 60_000);
  });

  it('returns idle: true when nothing is left to run', async () => {
    const s = scheduler();
    expect(await s.run()).toEqual({ nowMs: START, timersFired: 0, idle: true });
    s.spawn('short', async (p) => {
      await p.sleep(10);
    });
    const result = await s.run();
    expect(result.idle).toBe(true);
    expect(result.nowMs).toBe(START + 10);
    expect(s.pending).toBe(0);
  });

  it('stops after maxTimers timers and reports idle: false', async () => {
    const s = scheduler();
    for (let i = 1; i <= 5; i++) s.after(i * 10, () => {});
    const result = await s.run({ maxTimers: 2 });
    expect(result).toEqual({ nowMs: START + 20, timersFired: 2, idle: false });
    expect(s.pending).toBe(3);
  });

  // Contract: maxTimers is "a guard against runaway loops". A timer that re-arms itself with after(0)
  // keeps the same instant forever; the guard must still stop it. (The callback gives up after 10 000
  // rounds so that a broken guard fails this test instead of hanging it.)
  it('stops after maxTimers timers even when they are all due at the same instant', async () => {
    const s = scheduler();
    let fired = 0;
    const tick = (): void => {
      fired++;
      if (fired < 10_000) s.after(0, tick);
    };
    s.after(0, tick);
    const result = await s.run({ maxTimers: 100 });
    expect(result.timersFired).toBe(100);
    expect(fired).toBe(100);
    expect(result.idle).toBe(false);
  });

  it('refuses a second run() while one is running', async () => {
    const s = scheduler();
    s.after(10, () => {});
    const first = s.run();
    await expect(s.run()).rejects.toThrow(/already running/);
    await first;
  });

  it('rejects negative, NaN and infinite waits', async () => {
    const s = scheduler();
    expect(() => s.after(-1, () => {})).toThrow(/invalid wait of -1 ms/);
    expect(() => s.after(Number.NaN, () => {})).toThrow(/invalid wait/);
    expect(() => s.after(Number.POSITIVE_INFINITY, () => {})).toThrow(/invalid wait/);
    await expect(s.clock.sleep(-5)).rejects.toThrow(/invalid wait/);
  });

  it('runs virtual time far faster than wall time: 1000 sleeps of one hour advance exactly 1000 hours', async () => {
    const s = scheduler();
    let count = 0;
    s.spawn('patient', async (p) => {
      for (let i = 0; i < 1_000; i++) {
        await p.sleep(HOUR);
        count++;
      }
    });
    const result = await s.run();
    expect(count).toBe(1_000);
    expect(result.nowMs).toBe(START + 1_000 * HOUR);
    expect(result.idle).toBe(true);
  });
});

describe('Scheduler processes', () => {
  it('does not start a spawned process until the scheduler runs', async () => {
    const s = scheduler();
    let started = false;
    const p = s.spawn('lazy', async () => {
      started = true;
    });
    expect(started).toBe(false);
    expect(p.state).toBe('running');
    await s.run();
    expect(started).toBe(true);
    expect(p.state).toBe('done');
  });

  it('names a child process after its parent', async () => {
    const s = scheduler();
    let childName = '';
    s.spawn('service', async (p) => {
      const child = p.spawn('worker-1', async () => {});
      childName = child.name;
      expect(child.parent).toBe(p);
    });
    await s.run();
    expect(childName).toBe('service/worker-1');
  });

  it('makes run() reject with the process name when a process throws', async () => {
    const s = scheduler();
    const p = s.spawn('reconciler', async (proc) => {
      await proc.sleep(10);
      throw new Error('boom');
    });
    await expect(s.run()).rejects.toThrow('process reconciler failed: boom');
    expect(p.state).toBe('failed');
    expect((p.error as Error).message).toContain('boom');
  });

  it('makes run() reject with the process name when a process throws a non-Error', async () => {
    const s = scheduler();
    s.spawn('stringy', async () => {
      throw 'plain text';
    });
    await expect(s.run()).rejects.toThrow('process stringy failed: plain text');
  });

  it('fails the run naming the process when a process asks for a negative sleep', async () => {
    const s = scheduler();
    s.spawn('confused', async (p) => {
      await p.sleep(-1);
    });
    await expect(s.run()).rejects.toThrow(/process confused failed: clock: invalid wait of -1 ms/);
  });

  it('drops a process parked in sleep when it is killed: code after the await never runs', async () => {
    const s = scheduler();
    const log: string[] = [];
    const victim = s.spawn('victim', async (p) => {
      log.push('before');
      await p.sleep(1_000);
      log.push('after');
    });
    s.after(500, () => s.kill(victim));
    const result = await s.run();
    expect(log).toEqual(['before']);
    expect(victim.state).toBe('killed');
    expect(victim.alive).toBe(false);
    expect(result.idle).toBe(true);
  });

  it('never starts a process killed before the scheduler ran', async () => {
    const s = scheduler();
    let started = false;
    const p = s.spawn('stillborn', async () => {
      started = true;
    });
    s.kill(p);
    await s.run();
    expect(started).toBe(false);
    expect(p.state).toBe('killed');
  });

  it('kills the children and grandchildren of a killed parent', async () => {
    const s = scheduler();
    const log: string[] = [];
    let child: Process | undefined;
    let grandchild: Process | undefined;
    const parent = s.spawn('parent', async (p) => {
      child = p.spawn('child', async (c) => {
        grandchild = c.spawn('grandchild', async (g) => {
          await g.sleep(1_000);
          log.push('grandchild woke');
        });
        await c.sleep(1_000);
        log.push('child woke');
      });
      await p.sleep(1_000);
      log.push('parent woke');
    });
    s.after(500, () => s.kill(parent));
    await s.run();
    expect(log).toEqual([]);
    expect([parent.state, child?.state, grandchild?.state]).toEqual(['killed', 'killed', 'killed']);
  });

  it('kills a child but leaves its parent running', async () => {
    const s = scheduler();
    const log: string[] = [];
    let child: Process | undefined;
    const parent = s.spawn('parent', async (p) => {
      child = p.spawn('child', async (c) => {
        await c.sleep(1_000);
        log.push('child woke');
      });
      await p.sleep(1_000);
      log.push('parent woke');
    });
    s.after(500, () => s.kill(child as Process));
    await s.run();
    expect(log).toEqual(['parent woke']);
    expect(parent.state).toBe('done');
    expect(child?.state).toBe('killed');
  });

  // Contract: Scheduler.kill "kills `process` and its children". A parent that spawned workers and
  // returned is 'done', but its workers still run; killing the parent must still reach them.
  it('kills the still-running children of a parent that has already finished', async () => {
    const s = scheduler();
    const log: string[] = [];
    let child: Process | undefined;
    const parent = s.spawn('parent', async (p) => {
      child = p.spawn('worker', async (c) => {
        await c.sleep(1_000);
        log.push('worker woke');
      });
    });
    s.after(500, () => s.kill(parent));
    await s.run();
    expect(parent.state).toBe('done');
    expect(child?.state).toBe('killed');
    expect(log).toEqual([]);
  });

  it('does not resume a process killed by a plain timer due at the same instant', async () => {
    const s = scheduler();
    const log: string[] = [];
    // The killer timer is created first, so it fires first at START + 100.
    let victim: Process | undefined;
    s.after(100, () => s.kill(victim as Process));
    victim = s.spawn('victim', async (p) => {
      await p.sleep(100);
      log.push('victim woke');
    });
    await s.run();
    expect(log).toEqual([]);
    expect(victim.state).toBe('killed');
  });

  it('does not resume a process killed by another process waking at the same instant', async () => {
    const s = scheduler();
    const log: string[] = [];
    let second: Process | undefined;
    s.spawn('first', async (p) => {
      await p.sleep(100);
      log.push('first woke');
      s.kill(second as Process);
    });
    second = s.spawn('second', async (p) => {
      await p.sleep(100);
      log.push('second woke');
    });
    await s.run();
    expect(second.state).toBe('killed');
    expect(log).toEqual(['first woke']);
  });

  it('runs onKill hooks once, in registration order, even when killed twice or via the parent', async () => {
    const s = scheduler();
    const hooks: string[] = [];
    let child: Process | undefined;
    const parent = s.spawn('parent', async (p) => {
      p.onKill(() => hooks.push('parent-1'));
      p.onKill(() => hooks.push('parent-2'));
      child = p.spawn('child', async (c) => {
        c.onKill(() => hooks.push('child'));
        await c.sleep(1_000);
      });
      await p.sleep(1_000);
    });
    s.after(100, () => s.kill(child as Process));
    s.after(200, () => s.kill(parent));
    s.after(300, () => s.kill(parent));
    await s.run();
    expect(hooks).toEqual(['child', 'parent-1', 'parent-2']);
  });

  it('does not run onKill hooks for a process that finished normally', async () => {
    const s = scheduler();
    let hooked = 0;
    const p = s.spawn('normal', async (proc) => {
      proc.onKill(() => hooked++);
      await proc.sleep(10);
    });
    await s.run();
    s.kill(p);
    expect(p.state).toBe('done');
    expect(hooked).toBe(0);
  });

  it('skips timers owned by a killed process but still fires unowned ones', async () => {
    const s = scheduler();
    const fired: string[] = [];
    const owner = s.spawn('owner', async (p) => {
      await p.sleep(10_000);
    });
    s.after(100, () => fired.push('owned'), owner);
    s.after(100, () => fired.push('unowned'));
    s.after(50, () => s.kill(owner));
    const result = await s.run();
    expect(fired).toEqual(['unowned']);
    // Start timer, kill timer, unowned timer: the owned ones after the kill are not counted.
    expect(result.timersFired).toBe(3);
  });

  it('fires timers owned by a live process', async () => {
    const s = scheduler();
    const fired: string[] = [];
    const owner = s.spawn('owner', async (p) => {
      await p.sleep(1_000);
    });
    s.after(100, () => fired.push('owned'), owner);
    await s.run();
    expect(fired).toEqual(['owned']);
  });
});

describe('Process.wait', () => {
  it('returns the value of an external promise once it settles', async () => {
    const s = scheduler();
    const ext = external<number>();
    let got: { value: number; at: number } | undefined;
    s.spawn('waiter', async (p) => {
      const value = await p.wait(ext.promise);
      got = { value, at: p.nowMs() };
    });
    s.after(100, () => ext.resolve(42));
    await s.run();
    expect(got).toEqual({ value: 42, at: START + 100 });
  });

  it('returns the value of an already-resolved promise', async () => {
    const s = scheduler();
    let got: string | undefined;
    s.spawn('waiter', async (p) => {
      got = await p.wait(Promise.resolve('ready'));
    });
    await s.run();
    expect(got).toBe('ready');
  });

  it('rethrows the rejection of an external promise inside the process', async () => {
    const s = scheduler();
    const ext = external<number>();
    let caught: unknown;
    const p = s.spawn('waiter', async (proc) => {
      try {
        await proc.wait(ext.promise);
      } catch (error) {
        caught = error;
      }
    });
    const failure = new Error('socket reset');
    s.after(100, () => ext.reject(failure));
    await s.run();
    expect(caught).toBe(failure);
    expect(p.state).toBe('done');
  });

  it('fails the run naming the process when an uncaught wait rejection escapes', async () => {
    const s = scheduler();
    s.spawn('careless', async (p) => {
      await p.wait(Promise.reject(new Error('refused')));
    });
    await expect(s.run()).rejects.toThrow('process careless failed: refused');
  });

  it('drops the continuation if the process is killed before the promise settles', async () => {
    const s = scheduler();
    const ext = external<number>();
    const log: string[] = [];
    const p = s.spawn('waiter', async (proc) => {
      const value = await proc.wait(ext.promise);
      log.push(`got ${value}`);
    });
    s.after(50, () => s.kill(p));
    s.after(100, () => ext.resolve(7));
    const result = await s.run();
    expect(log).toEqual([]);
    expect(p.state).toBe('killed');
    expect(result.idle).toBe(true);
  });

  it('drops the continuation of a killed process whose promise then rejects, without failing the run', async () => {
    const s = scheduler();
    const ext = external<number>();
    const log: string[] = [];
    const p = s.spawn('waiter', async (proc) => {
      try {
        await proc.wait(ext.promise);
      } catch {
        log.push('caught');
      }
      log.push('after');
    });
    s.after(50, () => s.kill(p));
    s.after(100, () => ext.reject(new Error('late')));
    await expect(s.run()).resolves.toMatchObject({ idle: true });
    expect(log).toEqual([]);
  });
});

describe('Scheduler determinism', () => {
  async function program(seed: string): Promise<string[]> {
    const s = scheduler();
    const random = new Random(seed);
    const log: string[] = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      const rng = random.fork(name);
      s.spawn(name, async (p) => {
        for (let i = 0; i < 30; i++) {
          // 0..20 ms: small enough that the three processes often tie on the same instant.
          await p.sleep(rng.int(0, 20));
          log.push(`${name}#${i}@${p.nowMs() - START}`);
          if (rng.chance(0.2)) {
            await p.wait(Promise.resolve(i));
            log.push(`${name}#${i}:waited@${p.nowMs() - START}`);
          }
        }
      });
    }
    await s.run();
    return log;
  }

  it('yields the identical event order when the same program runs twice', async () => {
    const first = await program('det-seed');
    const second = await program('det-seed');
    expect(first.length).toBeGreaterThan(90);
    expect(second).toEqual(first);
    // The processes really interleave (otherwise the comparison proves little).
    const owners = first.slice(0, 20).map((line) => line.split('#')[0]);
    expect(new Set(owners).size).toBe(3);
  });

  it('yields a different event order for a different seed', async () => {
    expect(await program('det-seed')).not.toEqual(await program('other-seed'));
  });
});
