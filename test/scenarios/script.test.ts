import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MtproofError } from '../../kit/errors.ts';
import { generateScript } from '../../scenarios/generate.ts';
import {
  parseScript,
  parseScriptText,
  SCRIPT_VERSION,
  type Script,
  STEP_KINDS,
  type StepInput,
  scriptToYaml,
} from '../../scenarios/script.ts';
import { propertyParams } from '../property.ts';
import { CONFIG, incident } from './helpers.ts';

/** Scenario scripts: one versioned format, validated with errors that name the step and field. */

const VALID = `
mtproof: scenario/1
name: lost-answer
seed: s-1
steps:
  - { do: client, id: c1, country: DE }
  - { do: kyc, client: c1, decision: approved }
  - { do: open, id: a1, client: c1, product: eu-classic }
  - { do: wait, ms: 60000 }
  - { do: fault, server: mt4-live-eu, kind: timeoutAfterApply, op: postBalance }
  - { do: deposit, account: a1, amountCents: 150000, pspRef: CARD-1 }
  - { do: crash }
  - { do: trade-open, id: t1, account: a1 }
  - { do: reconcile }
`;

/** The error a function throws, checked to be an MtproofError. */
function thrown(f: () => unknown): MtproofError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(MtproofError);
    return error as MtproofError;
  }
  throw new Error('expected an MtproofError, nothing was thrown');
}

function withSteps(steps: unknown[], extra: Record<string, unknown> = {}): unknown {
  return { mtproof: SCRIPT_VERSION, name: 'x', seed: 's', ...extra, steps };
}

describe('parsing a scenario script', () => {
  it('fills the defaults: webhook once, heal deadline, answer timeout, trade and crash defaults', () => {
    const s = parseScriptText(VALID, 'valid.yaml');
    expect(s.heal).toEqual({ deadlineMs: 7_200_000 });
    expect(s.answerTimeoutMs).toBe(30_000);
    expect(s.expect).toEqual({});
    expect(s.steps[5]).toEqual({
      do: 'deposit',
      account: 'a1',
      amountCents: 150_000,
      pspRef: 'CARD-1',
      webhook: 'once',
    });
    expect(s.steps[4]).toEqual({
      do: 'fault',
      server: 'mt4-live-eu',
      kind: 'timeoutAfterApply',
      op: 'postBalance',
      params: {},
    });
    expect(s.steps[6]).toEqual({ do: 'crash', restartAfterMs: 5_000 });
    expect(s.steps[7]).toEqual({
      do: 'trade-open',
      id: 't1',
      account: 'a1',
      symbol: 'EURUSD',
      side: 'buy',
      volume: 10,
    });
    expect(s.steps.map((step) => step.do)).toEqual([
      'client',
      'kyc',
      'open',
      'wait',
      'fault',
      'deposit',
      'crash',
      'trade-open',
      'reconcile',
    ]);
  });

  it('keeps what the script sets over the defaults', () => {
    const s = parseScript(
      withSteps([{ do: 'deposit', account: 'a1', amountCents: 5, webhook: 'lost' }], {
        heal: { deadlineMs: 1000 },
        answerTimeoutMs: 2000,
        expect: { routing: 'fail' },
      }),
    );
    expect([s.heal.deadlineMs, s.answerTimeoutMs, s.expect, s.steps[0]]).toEqual([
      1000,
      2000,
      { routing: 'fail' },
      { do: 'deposit', account: 'a1', amountCents: 5, webhook: 'lost' },
    ]);
  });

  it('parses JSON, which is YAML', () => {
    const s = parseScriptText(JSON.stringify(withSteps([{ do: 'wait', ms: 10 }])), 'x.json');
    expect(s.steps).toEqual([{ do: 'wait', ms: 10 }]);
  });

  it('parses every incident of the library', () => {
    for (const name of ['01', '04', '08', '10']) expect(incident(name).mtproof).toBe(SCRIPT_VERSION);
    expect(incident('08').deploy).toEqual({ groups: { 'global-standard': { 'mt5-live-global': 'real\\pro-usd' } } });
  });
});

describe('script errors', () => {
  it('name the step and the field of a bad amount, and the kind of step', () => {
    const e = thrown(() =>
      parseScript(
        withSteps([
          { do: 'client', id: 'c1', country: 'DE' },
          { do: 'wait', ms: 5 },
          { do: 'deposit', account: 'a1', amountCents: -5 },
        ]),
        'day.yaml',
      ),
    );
    expect(e.code).toBe('MTP_SCRIPT_INVALID');
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]?.path).toBe('steps[2].amountCents');
    expect(e.issues[0]?.message).toMatch(/\(in a 'deposit' step\)$/);
    expect(e.message).toContain('day.yaml: not a valid scenario script\n  - steps[2].amountCents: ');
  });

  it('name a missing field', () => {
    const e = thrown(() => parseScript(withSteps([{ do: 'withdraw', account: 'a1' }])));
    expect(e.issues.map((i) => i.path)).toEqual(['steps[0].amountCents']);
    expect(e.issues[0]?.message).toContain("(in a 'withdraw' step)");
  });

  it('report an unknown field of a step at its own path', () => {
    const e = thrown(() => parseScript(withSteps([{ do: 'client', id: 'c1', country: 'DE', colour: 'red' }])));
    expect(e.code).toBe('MTP_SCRIPT_INVALID');
    expect(e.issues).toEqual([{ path: 'steps[0].colour', message: "unknown field (in a 'client' step)" }]);
    expect(e.message).toContain('steps[0].colour: unknown field');
  });

  it('report an unknown top-level field', () => {
    const e = thrown(() => parseScript(withSteps([], { colour: 'red' })));
    expect(e.issues).toEqual([{ path: 'colour', message: 'unknown field' }]);
  });

  it('report an unknown kind of step and list the kinds', () => {
    const e = thrown(() => parseScript(withSteps([{ do: 'wait', ms: 1 }, { do: 'teleport' }])));
    expect(e.issues[0]?.path).toBe('steps[1].do');
    for (const kind of STEP_KINDS) expect(e.issues[0]?.message).toContain(`'${kind}'`);
  });

  it('refuse a wait of zero and a zero dealer edit', () => {
    const e = thrown(() =>
      parseScript(
        withSteps([
          { do: 'wait', ms: 0 },
          { do: 'dealer-balance', account: 'a1', amountCents: 0 },
        ]),
      ),
    );
    expect(e.issues).toEqual([
      { path: 'steps[0].ms', message: "more than 0 (in a 'wait' step)" },
      { path: 'steps[1].amountCents', message: "not zero (in a 'dealer-balance' step)" },
    ]);
  });

  it('refuse another version of the format', () => {
    const e = thrown(() => parseScript(withSteps([], { mtproof: 'scenario/2' })));
    expect(e.code).toBe('MTP_SCRIPT_INVALID');
    expect(e.issues.map((i) => i.path)).toEqual(['mtproof']);
    expect(e.issues[0]?.message).toContain('scenario/1');
  });

  it('refuse text that is not YAML, naming the source', () => {
    const e = thrown(() => parseScriptText('mtproof: scenario/1\nname: [unclosed\n', 'broken.yaml'));
    expect(e.code).toBe('MTP_SCRIPT_INVALID');
    expect(e.message).toMatch(/^broken\.yaml: not YAML or JSON: /);
  });

  it('refuse YAML that is not a script object', () => {
    const e = thrown(() => parseScriptText('- 1\n- 2\n', 'list.yaml'));
    expect(e.issues.map((i) => i.path)).toEqual(['(root)']);
    expect(e.message).toMatch(/^list\.yaml: not a valid scenario script/);
  });
});

describe('scriptToYaml', () => {
  it('round-trips a script with every optional field', () => {
    const s = parseScript(
      withSteps(
        [
          { do: 'client', id: 'c1', country: 'DE', name: "O'Brien: the #1 client", email: 'yes' },
          { do: 'dealer-balance', account: 'a1', amountCents: -250, comment: '' },
          { do: 'dealer-credit', account: 'a1', amountCents: 100, comment: 'null' },
          { do: 'deposit', account: 'a1', amountCents: 5, pspRef: '0123', currency: 'EUR', webhook: 'twice' },
          { do: 'fault', server: 'mt4-live-eu', kind: 'historyLag', params: { lagMs: 90000, on: true, x: 'y' } },
          { do: 'dealer-group', account: 'a1', group: 'real\\pro-usd' },
        ],
        {
          proves: 'a long\nexplanation',
          integration: 'scenarios/mutants/blind-retry.ts',
          faults: { intensity: 0.5 },
          deploy: { groups: { pro: { 'mt4-live-eu': 'eu-std-usd' } } },
          expect: { routing: 'fail', audit: 'unknown' },
          origin: { runSeed: '7', run: 3, profile: 'busy', traceHash: 'abc', failed: ['routing'], originalSteps: 9 },
          config: { version: 1, nested: { list: [1, 'two', null] } },
          cluster: { servers: [] },
        },
      ),
    );
    expect(parseScriptText(scriptToYaml(s))).toEqual(s);
  });

  it('writes one step per line, after what the script is and before the inline config', () => {
    const s = parseScriptText(VALID);
    const yaml = scriptToYaml({ ...s, config: { version: 1 } });
    const lines = yaml.split('\n');
    const stepLines = lines.filter((l) => l.startsWith('  - { do: '));
    expect(stepLines).toHaveLength(s.steps.length);
    expect(stepLines[0]).toBe('  - { do: client, id: c1, country: DE }');
    expect(stepLines[5]).toBe('  - { do: deposit, account: a1, amountCents: 150000, pspRef: CARD-1, webhook: once }');
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    expect(at('mtproof:')).toBe(0);
    expect(at('name:')).toBe(1);
    expect(at('seed:')).toBeLessThan(at('steps:'));
    expect(at('steps:')).toBeLessThan(at('config:'));
  });

  it('round-trips generated broker days', () => {
    for (const [run, profile] of [
      [0, 'busy-monday'],
      [1, 'maintenance-night'],
    ] as const) {
      const s = generateScript({ seed: 'roundtrip', run, profile, steps: 200, config: CONFIG });
      expect(s.steps.length).toBeGreaterThan(100);
      expect(parseScriptText(scriptToYaml(s))).toEqual(s);
    }
  });

  it('round-trips any strings in comments, names and provider ids', () => {
    const text = fc.string({ minLength: 0, maxLength: 64, unit: 'binary' });
    const nonEmpty = fc.string({ minLength: 1, maxLength: 64, unit: 'binary' });
    const step: fc.Arbitrary<StepInput> = fc.oneof(
      fc.record({
        do: fc.constant('dealer-balance' as const),
        account: fc.constant('a1'),
        amountCents: fc.constant(5),
        comment: text,
      }),
      fc.record({
        do: fc.constant('client' as const),
        id: fc.constant('c1'),
        country: fc.constant('DE'),
        name: nonEmpty,
      }),
      fc.record({
        do: fc.constant('deposit' as const),
        account: fc.constant('a1'),
        amountCents: fc.integer({ min: 1, max: 1e13 }),
        pspRef: nonEmpty,
      }),
      fc.record({
        do: fc.constant('open' as const),
        id: fc.constant('a1'),
        client: fc.constant('c1'),
        product: nonEmpty,
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 8 }), nonEmpty, (steps, proves) => {
        const s: Script = parseScript(withSteps(steps, { proves }));
        expect(parseScriptText(scriptToYaml(s))).toEqual(s);
      }),
      propertyParams('scriptToYaml round trip', 100),
    );
  });
});
