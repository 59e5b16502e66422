import type { CertifyResult } from '../scenarios/result.ts';
import { escapeAttr, escapeText } from './escape.ts';
import { evidenceLine, invariantViews, misses, missLine, seconds } from './model.ts';

/**
 * The result as JUnit XML, for a CI server's test view: three suites — the invariants (one case each, in
 * INVARIANT_NAMES order), the incidents, the generated runs. A fail is a <failure>, an undecided invariant a
 * <skipped>. Runs are not errors: an `<error>` in JUnit means the test itself broke, and a run that could
 * not finish is reported by the harness as a failed invariant (liveness), so none is ever written.
 */

interface Case {
  name: string;
  classname: string;
  time: string;
  failure?: { message: string; type: string; body: string };
  skipped?: string;
  /** Lines for <system-out>: what a passing case was about (seed, trace hash). */
  out?: string;
}

interface Suite {
  name: string;
  time: string;
  cases: Case[];
  properties?: [string, string][];
}

export function resultJunit(result: CertifyResult): string {
  const suites = [invariantSuite(result), incidentSuite(result), generatedSuite(result)];
  const count = (pick: (c: Case) => boolean) => suites.reduce((n, s) => n + s.cases.filter(pick).length, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeAttr(`mtproof certify ${result.integration.name}`)}" tests="${count(() => true)}" failures="${count((c) => c.failure !== undefined)}" errors="0" skipped="${count((c) => c.skipped !== undefined)}" time="${seconds(result.wallMs)}" timestamp="${escapeAttr(junitTimestamp(result.startedAt))}">`,
  ];
  for (const suite of suites) lines.push(...suiteLines(suite, result));
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

function invariantSuite(result: CertifyResult): Suite {
  const cases = invariantViews(result).map((view): Case => {
    const base: Case = { name: view.name, classname: 'mtproof.invariants', time: '0.000' };
    if (view.verdict === 'unknown') return { ...base, skipped: `unknown: ${view.summary}` };
    if (view.verdict === 'pass') return { ...base, out: view.summary };
    const body: string[] = [];
    for (const finding of view.findings) {
      body.push(`${finding.source}: ${finding.summary}`);
      for (const e of finding.evidence) body.push(`  - ${evidenceLine(e)}`);
    }
    if (view.failedGenerated.length > 0) {
      body.push(`failed in generated runs: ${view.failedGenerated.map((i) => `#${i}`).join(', ')}`);
    }
    if (result.counterexample !== null) body.push(`replay: ${result.counterexample.replay}`);
    return { ...base, failure: { message: view.summary, type: 'invariant', body: body.join('\n') } };
  });
  return {
    name: 'invariants',
    // The invariants are checked over the whole certification: its wall time is theirs.
    time: seconds(result.wallMs),
    cases,
    properties: [
      ['seed', result.seed],
      ['runs', String(result.runs)],
      ['steps', String(result.steps)],
      ['integration', `${result.integration.name} (${result.integration.module})`],
      ['config', `${result.config.path ?? '(embedded)'} sha256:${result.config.sha256}`],
      ['tool', `${result.tool.name} ${result.tool.version}`],
      ...(result.shard === null
        ? []
        : [['shard', `${result.shard.index + 1}/${result.shard.count}`] as [string, string]]),
    ],
  };
}

function incidentSuite(result: CertifyResult): Suite {
  let total = 0;
  const cases = Object.entries(result.incidents).map(([name, verdict]): Case => {
    const run = result.incidentRuns.find((r) => r.name === name);
    total += run?.wallMs ?? 0;
    const base: Case = { name, classname: 'mtproof.incidents', time: seconds(run?.wallMs ?? 0) };
    const about = run === undefined ? '' : `seed ${run.seed}, ${run.steps} steps, trace ${run.traceHash}`;
    if (verdict === 'pass') return { ...base, out: about };
    const missed = run === undefined ? [] : misses(run);
    const message =
      run === undefined
        ? 'failed (no run report in the result)'
        : missed.length === 0
          ? 'failed'
          : `failed: ${missed.map((m) => m.name).join(', ')}`;
    const body: string[] = [];
    for (const miss of missed) {
      body.push(missLine(miss));
      for (const e of miss.evidence) body.push(`  - ${evidenceLine(e)}`);
    }
    if (about !== '') body.push(about);
    return { ...base, failure: { message, type: 'incident', body: body.join('\n') } };
  });
  return { name: 'incidents', time: seconds(total), cases };
}

function generatedSuite(result: CertifyResult): Suite {
  let total = 0;
  const cases = result.generated.map((g): Case => {
    total += g.wallMs;
    const base: Case = {
      name: `run #${g.index} (${g.profile}, seed ${g.seed})`,
      classname: 'mtproof.generated',
      time: seconds(g.wallMs),
    };
    const about = `${g.steps} steps, trace ${g.traceHash}`;
    if (g.verdict === 'pass') return { ...base, out: about };
    const failed = g.failed.length === 0 ? 'failed' : `failed: ${g.failed.join(', ')}`;
    return {
      ...base,
      failure: { message: `${failed} (trace ${g.traceHash})`, type: 'generated-run', body: `${failed}\n${about}` },
    };
  });
  return { name: 'generated runs', time: seconds(total), cases };
}

function suiteLines(suite: Suite, result: CertifyResult): string[] {
  const failures = suite.cases.filter((c) => c.failure !== undefined).length;
  const skipped = suite.cases.filter((c) => c.skipped !== undefined).length;
  const lines = [
    `  <testsuite name="${escapeAttr(suite.name)}" tests="${suite.cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${suite.time}" timestamp="${escapeAttr(junitTimestamp(result.startedAt))}">`,
  ];
  if (suite.properties !== undefined && suite.properties.length > 0) {
    lines.push('    <properties>');
    for (const [name, value] of suite.properties) {
      lines.push(`      <property name="${escapeAttr(name)}" value="${escapeAttr(value)}"/>`);
    }
    lines.push('    </properties>');
  }
  for (const c of suite.cases) {
    const open = `    <testcase name="${escapeAttr(c.name)}" classname="${escapeAttr(c.classname)}" time="${c.time}"`;
    const inner: string[] = [];
    if (c.failure !== undefined) {
      inner.push(
        `      <failure message="${escapeAttr(c.failure.message)}" type="${escapeAttr(c.failure.type)}">${escapeText(c.failure.body)}</failure>`,
      );
    }
    if (c.skipped !== undefined) inner.push(`      <skipped message="${escapeAttr(c.skipped)}"/>`);
    if (c.out !== undefined && c.out !== '') inner.push(`      <system-out>${escapeText(c.out)}</system-out>`);
    if (inner.length === 0) lines.push(`${open}/>`);
    else lines.push(`${open}>`, ...inner, '    </testcase>');
  }
  lines.push('  </testsuite>');
  return lines;
}

/** JUnit's schema wants a local ISO date-time without a zone (`2025-03-01T09:30:00`); startedAt is UTC. */
function junitTimestamp(startedAt: string): string {
  const ms = Date.parse(startedAt);
  return Number.isNaN(ms) ? startedAt : new Date(ms).toISOString().slice(0, 19);
}
