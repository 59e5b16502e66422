import { describe, expect, it } from 'vitest';
import { resultJunit } from '../../reports/junit.ts';
import { INVARIANT_NAMES } from '../../scenarios/script.ts';
import { failingResult, passingResult } from './fixtures.ts';
import { findAll, parseXml, type XmlElement } from './xml.ts';

function suite(root: XmlElement, name: string): XmlElement {
  const found = root.children.find((s) => s.name === 'testsuite' && s.attrs.name === name);
  if (found === undefined) throw new Error(`no testsuite ${name}`);
  return found;
}

const cases = (s: XmlElement) => s.children.filter((c) => c.name === 'testcase');
const has = (c: XmlElement, name: string) => c.children.some((x) => x.name === name);
const child = (c: XmlElement, name: string) => c.children.find((x) => x.name === name) as XmlElement;

describe('resultJunit', () => {
  it('is well-formed XML with one root <testsuites> and the three suites in order', () => {
    for (const result of [passingResult(), failingResult()]) {
      const xml = resultJunit(result);
      expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
      expect(xml.endsWith('</testsuites>\n')).toBe(true);
      const root = parseXml(xml);
      expect(root.name).toBe('testsuites');
      expect(root.children.map((s) => s.attrs.name)).toEqual(['invariants', 'incidents', 'generated runs']);
    }
  });

  it('has one invariant case per invariant, in INVARIANT_NAMES order, failed, skipped or passed as the result says', () => {
    const root = parseXml(resultJunit(failingResult()));
    const invariants = cases(suite(root, 'invariants'));
    expect(invariants.map((c) => c.attrs.name)).toEqual([...INVARIANT_NAMES]);
    const failed = invariants.filter((c) => has(c, 'failure')).map((c) => c.attrs.name);
    const skipped = invariants.filter((c) => has(c, 'skipped')).map((c) => c.attrs.name);
    expect(failed).toEqual(['exactly-once', 'conservation']);
    expect(skipped).toEqual(['trade-sync']);
    expect(child(invariants[7] as XmlElement, 'skipped').attrs.message).toBe('unknown: no trade while the bus was up');
  });

  it('puts the invariant summary in the failure message and its evidence lines in the body', () => {
    const root = parseXml(resultJunit(failingResult()));
    const exactlyOnce = cases(suite(root, 'invariants'))[0] as XmlElement;
    const failure = child(exactlyOnce, 'failure');
    expect(failure.attrs.message).toBe('2 references posted twice');
    expect(failure.text).toContain('counterexample shrunk-20250303-1: 2 references posted twice');
    expect(failure.text).toContain(
      '  - T-0001 posted twice (tickets 700001, 700003) (server live-mt5, login 5000101, account a1 / acc_01, ref T-0001, ticket 700003)',
    );
    expect(failure.text).toContain('PSP ref psp_a2_1');
    expect(failure.text).toContain('failed in generated runs: #1');
    expect(failure.text).toContain('replay: npx mtproof replay .mtproof/counterexamples/20250303-1-shrunk.yaml');
  });

  it('fails an incident with the invariants its run missed, and passes an incident that caught what it expects', () => {
    const root = parseXml(resultJunit(failingResult()));
    const incidents = cases(suite(root, 'incidents'));
    expect(incidents.map((c) => c.attrs.name)).toEqual(['dealer-edit-caught', 'lost-answer-lagging-history']);
    expect(has(incidents[0] as XmlElement, 'failure')).toBe(false);
    const failure = child(incidents[1] as XmlElement, 'failure');
    expect(failure.attrs.message).toBe('failed: exactly-once, conservation');
    expect(failure.text).toContain('exactly-once: fail — 2 references posted twice');
  });

  it('fails a generated run naming its failed invariants and trace hash', () => {
    const result = failingResult();
    const root = parseXml(resultJunit(result));
    const runs = cases(suite(root, 'generated runs'));
    expect(runs.map((c) => c.attrs.name)).toEqual([
      'run #0 (mild, seed 20250303-0)',
      'run #1 (heavy, seed 20250303-1)',
      'run #2 (lost-answers, seed 20250303-2)',
    ]);
    const failure = child(runs[1] as XmlElement, 'failure');
    expect(failure.attrs.message).toBe(`failed: exactly-once, conservation (trace ${result.generated[1]?.traceHash})`);
  });

  it('counts tests, failures and skipped per suite and in total, and gives times in seconds', () => {
    const result = failingResult();
    const root = parseXml(resultJunit(result));
    let tests = 0;
    let failures = 0;
    let skipped = 0;
    for (const s of root.children) {
      const cs = cases(s);
      expect(Number(s.attrs.tests)).toBe(cs.length);
      expect(Number(s.attrs.failures)).toBe(cs.filter((c) => has(c, 'failure')).length);
      expect(Number(s.attrs.skipped)).toBe(cs.filter((c) => has(c, 'skipped')).length);
      expect(s.attrs.errors).toBe('0');
      tests += cs.length;
      failures += Number(s.attrs.failures);
      skipped += Number(s.attrs.skipped);
    }
    expect([tests, failures, skipped]).toEqual([8 + 2 + 3, 2 + 1 + 1, 1]);
    expect(root.attrs).toMatchObject({ tests: '13', failures: '4', skipped: '1', errors: '0', time: '12.840' });
    expect(suite(root, 'invariants').attrs.time).toBe('12.840');
    expect(findAll(suite(root, 'generated runs'), 'testcase').map((c) => c.attrs.time)).toEqual([
      '3.100',
      '3.350',
      '3.600',
    ]);
    expect(suite(root, 'generated runs').attrs.time).toBe('10.050');
    expect(cases(suite(root, 'incidents')).map((c) => c.attrs.time)).toEqual(['0.420', '0.420']);
  });

  it('passes everything for a passing result', () => {
    const root = parseXml(resultJunit(passingResult()));
    expect(root.attrs).toMatchObject({ tests: '13', failures: '0', skipped: '0' });
    expect(findAll(root, 'failure')).toEqual([]);
  });

  it('escapes <&>"\' in names, messages and bodies, keeps failure lines and drops control characters', () => {
    const result = failingResult();
    const incident = `<inc & "one" 'x'>`;
    result.incidents = { [incident]: 'fail' };
    result.incidentRuns = [];
    const xml = resultJunit(result);
    const root = parseXml(xml);
    const conservation = cases(suite(root, 'invariants'))[1] as XmlElement;
    const failure = child(conservation, 'failure');
    // What a JUnit reader gets back is the summary as written, less the BEL the integration put in it.
    expect(failure.attrs.message).toBe('balance <server> & ledger differ: "a1" is 500.00 over, \'a2\' 250.00 over');
    expect(xml).toContain(
      'message="balance &lt;server&gt; &amp; ledger differ: &quot;a1&quot; is 500.00 over, &#39;a2&#39; 250.00 over"',
    );
    expect(xml).not.toContain('\u0007');
    expect(cases(suite(root, 'incidents'))[0]?.attrs.name).toBe(incident);
    // A multi-line message survives as lines: newlines in an attribute are encoded, not normalised away.
    result.generated = [];
    result.invariants['exactly-once'] = 'fail';
    const ce = result.counterexample;
    if (ce === null) throw new Error('fixture has a counterexample');
    (ce.run.invariants[0] as { summary: string }).summary = 'line one\nline two\u0000\u001b[31m';
    const again = parseXml(resultJunit(result));
    expect(child(cases(suite(again, 'invariants'))[0] as XmlElement, 'failure').attrs.message).toBe(
      'line one\nline two[31m',
    );
  });

  it('has the certification facts as properties of the invariants suite', () => {
    const root = parseXml(resultJunit({ ...failingResult(), shard: { index: 1, count: 4 } }));
    const props = Object.fromEntries(
      findAll(suite(root, 'invariants'), 'property').map((p) => [p.attrs.name, p.attrs.value]),
    );
    expect(props).toMatchObject({
      seed: '20250303',
      runs: '3',
      integration: 'no-lag-rule mutant (./mutants/no-lag-rule.ts)',
      shard: '2/4',
      tool: 'mtproof 0.1.0',
    });
    expect(props.config).toContain('examples/broker.yaml sha256:3f6a1c2b');
  });
});

describe('parseXml (the checker the JUnit tests rely on)', () => {
  it('rejects what a CI parser would reject', () => {
    expect(() => parseXml('<a><b></a></b>')).toThrow(/closes/);
    expect(() => parseXml('<a>x & y</a>')).toThrow(/raw '&'/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<a x=1/>')).toThrow(/malformed/);
    expect(() => parseXml('<a/><b/>')).toThrow(/second root/);
    expect(() => parseXml('<a>\u0001</a>')).toThrow(/forbidden/);
    expect(() => parseXml('<a>')).toThrow(/unclosed/);
    expect(parseXml('<a t="&lt;&#39;&#10;">x &amp; y<b/></a>')).toEqual({
      name: 'a',
      attrs: { t: "<'\n" },
      children: [{ name: 'b', attrs: {}, children: [], text: '' }],
      text: 'x & y',
    });
  });
});
