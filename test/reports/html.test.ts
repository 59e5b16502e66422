import { describe, expect, it } from 'vitest';
import { resultHtml } from '../../reports/html.ts';
import { failingResult, passingResult } from './fixtures.ts';

/** The markup from the element with this id to the end of its section, or '' when there is none. */
function section(html: string, id: string): string {
  const start = html.indexOf(` id="${id}"`);
  if (start < 0) return '';
  const end = html.indexOf('</section>', start);
  return html.slice(start, end < 0 ? undefined : end);
}

describe('resultHtml', () => {
  it('references nothing outside the file: no URL, no <link>, no src=', () => {
    for (const result of [passingResult(), failingResult()]) {
      const html = resultHtml(result);
      expect(html).not.toMatch(/https?:\/\//i);
      expect(html).not.toMatch(/<link\b/i);
      expect(html).not.toMatch(/\bsrc\s*=/i);
      expect(html).not.toMatch(/url\(|@import|@font-face/i);
      // The policy forbids fetching even if something slipped through.
      expect(html).toContain(`content="default-src 'none';`);
    }
  });

  it('escapes a malicious incident name and every other string it shows', () => {
    const result = failingResult();
    const evil = '<script>alert(1)</script>';
    result.incidents = { [evil]: 'fail', ...result.incidents };
    result.incidentRuns = [{ ...(result.incidentRuns[1] as (typeof result.incidentRuns)[number]), name: evil }];
    result.integration.name = `<img onerror="x()">`;
    result.seed = `"'><b>`;
    const html = resultHtml(result);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img onerror=&quot;x()&quot;&gt;');
    // The conservation summary carries <&>"' and a BEL.
    expect(html).toContain('balance &lt;server&gt; &amp; ledger differ: &quot;a1&quot; is 500.00 over, &#39;a2&#39;');
    expect(html).not.toContain('\u0007');
  });

  it('says the verdict, seed, runs, integration and config in the banner and the title', () => {
    const html = resultHtml(failingResult());
    const banner = html.slice(html.indexOf('<header'), html.indexOf('</header>'));
    expect(banner).toContain('<p class="verdict-word">FAIL</p>');
    for (const text of [
      '20250303',
      '3 generated × 200 steps, 2 incidents',
      'no-lag-rule mutant',
      './mutants/no-lag-rule.ts',
      'examples/broker.yaml',
      '3f6a1c2be0d94f7a',
    ]) {
      expect(banner).toContain(text);
    }
    expect(html).toMatch(/<title>mtproof certification: FAIL — no-lag-rule mutant — seed 20250303<\/title>/);
    expect(resultHtml(passingResult())).toContain('<p class="verdict-word">PASS</p>');
  });

  it('lists the five checklist items with verdict, detail and basis', () => {
    const result = failingResult();
    const checklist = section(resultHtml(result), 'checklist');
    expect(checklist.match(/<tr class="row-/g)).toHaveLength(5);
    for (const item of result.checklist) {
      expect(checklist).toContain(`<th scope="row">${item.item}</th>`);
      for (const basis of item.basis) expect(checklist).toContain(`<span class="tag">${basis}</span>`);
    }
    expect(checklist).toContain(
      '<tr class="row-fail"><th scope="row">Payment flow rules</th><td><span class="v v-fail">FAIL</span>',
    );
  });

  it('shows every invariant with its verdict, summary and, for a fail, the evidence', () => {
    const invariants = section(resultHtml(failingResult()), 'invariants');
    expect(invariants.match(/data-invariant="/g)).toHaveLength(8);
    expect(invariants).toContain(
      'data-invariant="exactly-once"><th scope="row">exactly-once</th><td><span class="v v-fail">FAIL',
    );
    expect(invariants).toContain(
      'data-invariant="trade-sync"><th scope="row">trade-sync</th><td><span class="v v-unknown">UNKNOWN',
    );
    expect(invariants).toContain('<li>T-0001 posted twice (tickets 700001, 700003) (server live-mt5, login 5000101');
  });

  it('shows each incident with the invariants its run missed', () => {
    const incidents = section(resultHtml(failingResult()), 'incidents');
    expect(incidents).toContain('<th scope="row">lost-answer-lagging-history</th><td><span class="v v-fail">FAIL');
    expect(incidents).toContain('exactly-once: fail — 2 references posted twice');
    expect(incidents).toContain('caught as expected: reconciliation fail');
  });

  it('gives the counterexample: saved script, replay command, failed invariants and the money timeline by account', () => {
    const html = resultHtml(failingResult());
    const ce = section(html, 'counterexample');
    expect(ce).toContain('.mtproof/counterexamples/20250303-1-shrunk.yaml');
    expect(ce).toContain(
      '<pre class="replay" aria-labelledby="replay-h"><code>npx mtproof replay .mtproof/counterexamples/20250303-1-shrunk.yaml</code></pre>',
    );
    expect(ce).toContain('6 (shrunk from 200 in 143 runs)');
    const lanes = [...html.matchAll(/<section class="lane[^"]*" data-account="([^"]*)"/g)].map((m) => m[1]);
    expect(lanes).toEqual(['a1', 'a2', 'cluster &amp; integration']);
    const a1 = html.slice(html.indexOf('data-account="a1"'), html.indexOf('data-account="a2"'));
    expect([...a1.matchAll(/data-kind="([^"]+)"/g)].map((m) => m[1])).toEqual([
      'request',
      'server-op',
      'lost-answer',
      'retry',
      'reconciliation',
    ]);
    expect(a1).toContain('<time>+0:00:42.000</time>');
    expect(a1).toContain('<time>+1:01:40.000</time>');
  });

  it('leaves out the counterexample section and charts every incident run when the result passed', () => {
    const html = resultHtml(passingResult());
    expect(html).not.toContain('id="counterexample"');
    expect(html.match(/<figure class="run-charts"/g)).toHaveLength(2);
    expect(html.match(/<svg class="chart faults-chart"/g)).toHaveLength(2);
    expect(html.match(/<svg class="chart operations-chart"/g)).toHaveLength(2);
  });

  it('draws accessible SVG charts: role img, a label, a title and a description, one mark per fault', () => {
    const result = failingResult();
    const html = resultHtml(result);
    const svgs = [...html.matchAll(/<svg class="chart [^"]*"[^>]*>/g)].map((m) => m[0]);
    expect(svgs).toHaveLength(2);
    for (const svg of svgs) {
      expect(svg).toContain('role="img"');
      expect(svg).toMatch(/aria-label="[^"]+"/);
    }
    expect(html).toContain('<title>Faults over time — counterexample shrunk-20250303-1</title><desc>');
    expect(html.match(/<rect class="mark"/g)).toHaveLength(result.counterexample?.run.series.faults.length ?? -1);
    const counts = [...html.matchAll(/<rect class="bar [^"]*" data-outcome="[^"]+" data-count="(\d+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(result.counterexample?.run.series.operations.length);
  });

  it('says so instead of drawing nothing when a run has no fault and no call', () => {
    const result = passingResult();
    for (const run of result.incidentRuns) run.series = { faults: [], operations: [] };
    const html = resultHtml(result);
    expect(html).toContain('No fault was injected in this run.');
    expect(html).toContain('No Manager API call in this run.');
  });
});
