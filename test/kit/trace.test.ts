import { describe, expect, it } from 'vitest';
import { Trace, type TraceOptions } from '../../kit/trace.ts';

const T0 = 1_700_000_000_000;

/** A trace over a clock the test moves by hand. */
function traceAt(options: TraceOptions = {}): { trace: Trace; clock: { now: number } } {
  const clock = { now: T0 };
  return { trace: new Trace(() => clock.now, options), clock };
}

type Step = (trace: Trace, clock: { now: number }) => void;

const script: Step[] = [
  (t) => t.call('mt4-a', 'UserRecordNew', 0),
  (_, c) => {
    c.now += 15;
  },
  (t) => t.fault('mt4-a', 'disconnect', 'after-send'),
  (_, c) => {
    c.now += 250;
  },
  (t) => t.state('service', 'session', 'reconnected'),
  (t) => t.call('mt5-b', 'DealerBalance', 10009),
];

/** A call, a fault, a state change and another fault (for onFault). */
const faulty: Step[] = [
  (t) => t.call('mt4-a', 'Ping', 0),
  (_, c) => {
    c.now += 5;
  },
  (t) => t.fault('mt4-a', 'disconnect', 'after-send'),
  (t) => t.state('mt4-a', 'session', 'down'),
  (_, c) => {
    c.now += 5;
  },
  (t) => t.fault('mt5-b', 'pumpStall'),
];

function hashOf(steps: Step[], options: TraceOptions = {}): string {
  const { trace, clock } = traceAt(options);
  for (const step of steps) step(trace, clock);
  return trace.hash();
}

describe('Trace hash', () => {
  it('gives identical hashes for identical event sequences', () => {
    expect(hashOf(script)).toBe(hashOf(script));
  });

  it('gives the same hash whether or not events are retained', () => {
    expect(hashOf(script, { retain: true, limit: 1 })).toBe(hashOf(script));
  });

  it('changes the hash when one detail changes', () => {
    const changed = [...script];
    changed[2] = (t) => t.fault('mt4-a', 'disconnect', 'before-send');
    expect(hashOf(changed)).not.toBe(hashOf(script));
  });

  it('changes the hash when a call code changes', () => {
    const changed = [...script];
    changed[5] = (t) => t.call('mt5-b', 'DealerBalance', 10004);
    expect(hashOf(changed)).not.toBe(hashOf(script));
  });

  it('changes the hash when where, name or type changes', () => {
    const base = hashOf(script);
    const where = [...script];
    where[0] = (t) => t.call('mt4-b', 'UserRecordNew', 0);
    const name = [...script];
    name[0] = (t) => t.call('mt4-a', 'UserRecordUpdate', 0);
    const type = [...script];
    type[4] = (t) => t.fault('service', 'session', 'reconnected');
    expect(new Set([base, hashOf(where), hashOf(name), hashOf(type)]).size).toBe(4);
  });

  it('changes the hash when two events swap order', () => {
    const swapped = [...script];
    [swapped[4], swapped[5]] = [script[5] as Step, script[4] as Step];
    expect(hashOf(swapped)).not.toBe(hashOf(script));
  });

  it('changes the hash when one event happens at a different time', () => {
    const later = [...script];
    later[1] = (_, c) => {
      c.now += 16;
    };
    expect(hashOf(later)).not.toBe(hashOf(script));
  });

  // Clock.sleep accepts fractional waits, so virtual time can be fractional (e.g. a latency parameter of
  // 1.5 ms); two runs that differ only there must not share a hash.
  it('changes the hash when an event time differs by a fraction of a millisecond', () => {
    const early = [...script];
    early[1] = (_, c) => {
      c.now += 15.25;
    };
    const late = [...script];
    late[1] = (_, c) => {
      c.now += 15.75;
    };
    expect(hashOf(early)).not.toBe(hashOf(late));
  });

  it('changes the hash when text moves from one field to the next', () => {
    const a = traceAt().trace;
    a.state('ab', 'c', 'd');
    const b = traceAt().trace;
    b.state('a', 'bc', 'd');
    const c = traceAt().trace;
    c.state('a', 'b', 'cd');
    expect(new Set([a.hash(), b.hash(), c.hash()]).size).toBe(3);
  });

  it('changes the hash when an event is added', () => {
    expect(hashOf([...script, (t) => t.state('service', 'idle')])).not.toBe(hashOf(script));
  });

  it('formats the hash as 16 lowercase hex digits, empty or not', () => {
    const { trace } = traceAt();
    expect(trace.hash()).toMatch(/^[0-9a-f]{16}$/);
    for (let i = 0; i < 200; i++) {
      trace.call(`server-${i}`, 'Op', i);
      expect(trace.hash()).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('keeps the pinned hash for a fixed list of three events (pins the hash algorithm)', () => {
    const trace = new Trace(() => T0);
    expect(trace.hash()).toBe('811c9dc5050c5d1f');
    trace.call('mt4-a', 'UserRecordNew', 0);
    trace.fault('mt4-a', 'disconnect', 'after-send');
    trace.state('service', 'session', 'connected');
    // The time as eight bytes, then each text field's own 32-bit FNV-1a hash as four bytes, each followed
    // by a 0x1f separator. If the algorithm changes on purpose, update this value in the same change
    // (replays of saved traces change with it); otherwise a change here is a bug.
    expect(trace.hash()).toBe('f3c215df835748b1');
  });
});

describe('Trace counts and retention', () => {
  it('counts faults by name, sorted by name, separately from calls and states', () => {
    const { trace } = traceAt();
    trace.fault('a', 'timeout');
    trace.fault('b', 'disconnect');
    trace.call('a', 'timeout', 0);
    trace.fault('a', 'timeout', 'again');
    trace.fault('c', 'busy');
    trace.state('svc', 'timeout');
    const faults = trace.counts('fault');
    expect(faults).toEqual({ busy: 1, disconnect: 1, timeout: 2 });
    expect(Object.keys(faults)).toEqual(['busy', 'disconnect', 'timeout']);
    expect(trace.counts('call')).toEqual({ timeout: 1 });
    expect(trace.counts('state')).toEqual({ timeout: 1 });
  });

  it('gives empty counts for a type that never occurred', () => {
    const { trace } = traceAt();
    trace.call('a', 'Op', 0);
    expect(trace.counts('fault')).toEqual({});
  });

  it('counts every event in length, retained or not', () => {
    const { trace } = traceAt();
    trace.call('a', 'Op', 0);
    trace.fault('a', 'drop');
    trace.state('a', 'up');
    expect(trace.length).toBe(3);
  });

  it('retains no events unless asked', () => {
    const { trace } = traceAt();
    trace.call('a', 'Op', 0);
    trace.fault('a', 'drop');
    expect(trace.events()).toEqual([]);
    const { trace: off } = traceAt({ retain: false, limit: 10 });
    off.call('a', 'Op', 0);
    expect(off.events()).toEqual([]);
  });

  it('retains every event with its seq, time, type, place, name and detail when retain is true', () => {
    const { trace, clock } = traceAt({ retain: true });
    trace.call('mt4-a', 'UserRecordNew', 0);
    clock.now += 5;
    trace.fault('mt4-a', 'disconnect');
    clock.now += 5;
    trace.state('service', 'session', 'up');
    expect(trace.events()).toEqual([
      { seq: 0, atMs: T0, type: 'call', where: 'mt4-a', name: 'UserRecordNew', detail: '0' },
      { seq: 1, atMs: T0 + 5, type: 'fault', where: 'mt4-a', name: 'disconnect', detail: '' },
      { seq: 2, atMs: T0 + 10, type: 'state', where: 'service', name: 'session', detail: 'up' },
    ]);
  });

  it('hands every fault, and only faults, to onFault as it is recorded, retained or not', () => {
    for (const retain of [false, true]) {
      const seen: unknown[] = [];
      const { trace, clock } = traceAt({ retain, onFault: (e) => seen.push(e) });
      for (const step of faulty) step(trace, clock);
      expect(seen).toEqual([
        { seq: 1, atMs: T0 + 5, type: 'fault', where: 'mt4-a', name: 'disconnect', detail: 'after-send' },
        { seq: 3, atMs: T0 + 10, type: 'fault', where: 'mt5-b', name: 'pumpStall', detail: '' },
      ]);
      expect(trace.events()).toEqual(retain ? [expect.anything(), seen[0], expect.anything(), seen[1]] : []);
      // Watching faults changes nothing of the hash.
      expect(trace.hash()).toBe(hashOf(faulty));
    }
  });

  it('keeps only the latest N events with limit', () => {
    const { trace } = traceAt({ retain: true, limit: 3 });
    for (let i = 0; i < 10; i++) trace.call('a', `op-${i}`, i);
    expect(trace.events().map((e) => e.seq)).toEqual([7, 8, 9]);
    expect(trace.events().map((e) => e.name)).toEqual(['op-7', 'op-8', 'op-9']);
    expect(trace.length).toBe(10);
    expect(trace.counts('call')['op-0']).toBe(1);
  });
});
