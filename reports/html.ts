import type {
  CertifyResult,
  Counterexample,
  Evidence,
  RunReport,
  TimelineEntry,
  TimelineKind,
  Verdict,
} from '../scenarios/result.ts';
import { faultChart, operationsChart } from './charts.ts';
import { escapeAttr, escapeText } from './escape.ts';
import {
  chartedRuns,
  duration,
  evidenceLine,
  type InvariantView,
  invariantViews,
  type Miss,
  misses,
  missLine,
  plural,
  relTime,
} from './model.ts';

/**
 * The result as one self-contained HTML page, for the three people who read it: QA (the verdict banner and
 * the tables), the developer (the counterexample: replay command, failed invariants, per-account money
 * timeline, charts) and the compliance officer (the go-live checklist and what each item rests on).
 *
 * Self-contained means the file is the whole report: it is attached to tickets, archived by CI and opened
 * offline, so it references nothing (no stylesheet, script, font or image to fetch). A Content-Security-
 * Policy forbids every fetch as well, so even a bug in escaping could not make the page load anything.
 * There is no script: the page is plain HTML and CSS, readable and printable as it is.
 */

const h = escapeText;
const a = escapeAttr;

export function resultHtml(result: CertifyResult): string {
  const verdictWord = result.verdict.toUpperCase();
  const views = invariantViews(result);
  const body = [
    banner(result, views),
    nav(result),
    '<main>',
    checklistSection(result),
    invariantSection(views),
    incidentSection(result),
    generatedSection(result),
    result.counterexample === null ? '' : counterexampleSection(result.counterexample),
    chartSection(result),
    '</main>',
    `<footer><p>Written by ${h(result.tool.name)} ${h(result.tool.version)}. This page is self-contained: it loads nothing from anywhere.</p></footer>`,
  ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="generator" content="${a(`${result.tool.name} ${result.tool.version}`)}">
<title>${h(`mtproof certification: ${verdictWord} — ${result.integration.name} — seed ${result.seed}`)}</title>
<style>
${STYLE}
</style>
</head>
<body>
${body.filter((part) => part !== '').join('\n')}
</body>
</html>
`;
}

function badge(verdict: Verdict): string {
  return `<span class="v v-${verdict}">${verdict.toUpperCase()}</span>`;
}

function code(text: string): string {
  return `<code>${h(text)}</code>`;
}

function fact(term: string, definition: string): string {
  return `<div><dt>${h(term)}</dt><dd>${definition}</dd></div>`;
}

/** A section of the page under its own heading; `id` is what the contents links to. */
function section(id: string, title: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h">
<h2 id="${id}-h">${h(title)}</h2>
${body}
</section>`;
}

/** A table of `rows` (markup, one `<tr>` each) under a header row naming its columns. */
function table(cls: string, columns: readonly string[], rows: readonly string[]): string {
  return `<table class="${cls}">
<thead><tr>${columns.map((c) => `<th scope="col">${h(c)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function banner(result: CertifyResult, views: InvariantView[]): string {
  const failed = views.filter((v) => v.verdict === 'fail').map((v) => v.name);
  const unknown = views.filter((v) => v.verdict === 'unknown').map((v) => v.name);
  const incidents = Object.values(result.incidents);
  const missedIncidents = incidents.filter((v) => v === 'fail').length;
  const failedRuns = result.generated.filter((g) => g.verdict === 'fail').length;
  const lede: string[] = [];
  if (result.verdict === 'pass') {
    lede.push(
      `Every invariant held over ${plural(result.generated.length, 'generated run')} and ${plural(incidents.length, 'incident')}.`,
    );
  } else {
    if (failed.length > 0) lede.push(`Failed: ${failed.join(', ')}.`);
    if (missedIncidents > 0) lede.push(`${missedIncidents} of ${plural(incidents.length, 'incident')} missed.`);
    if (failedRuns > 0) lede.push(`${failedRuns} of ${plural(result.generated.length, 'generated run')} failed.`);
  }
  if (unknown.length > 0) lede.push(`Not decided by any run: ${unknown.join(', ')}.`);
  const shard = result.shard === null ? '' : ` (shard ${result.shard.index + 1} of ${result.shard.count})`;
  return `<header class="banner banner-${result.verdict}" id="verdict">
<p class="verdict-word">${result.verdict === 'pass' ? 'PASS' : 'FAIL'}</p>
<div class="banner-text">
<h1>mtproof certification of ${h(result.integration.name)}</h1>
<p class="lede">${h(lede.join(' '))}</p>
<dl class="facts">
${fact('Seed', code(result.seed))}
${fact('Runs', h(`${result.runs} generated × ${result.steps} steps, ${plural(incidents.length, 'incident')}${shard}`))}
${fact('Integration', `${h(result.integration.name)} ${code(result.integration.module)}`)}
${fact('Config', `${result.config.path === null ? 'embedded default' : code(result.config.path)} <span class="sha">sha256 ${code(result.config.sha256)}</span>`)}
${fact('Started', `<time datetime="${a(result.startedAt)}">${h(result.startedAt)}</time>`)}
${fact('Wall time', h(duration(result.wallMs)))}
${result.out === null ? '' : fact('Reports', code(result.out))}
</dl>
</div>
</header>`;
}

function nav(result: CertifyResult): string {
  const links: [string, string][] = [
    ['checklist', 'Go-live checklist'],
    ['invariants', 'Invariants'],
    ['incidents', 'Incidents'],
    ['generated', 'Generated runs'],
  ];
  if (result.counterexample !== null) links.push(['counterexample', 'Counterexample'], ['timeline', 'Money timeline']);
  links.push(['charts', 'Charts']);
  return `<nav aria-label="Contents"><ul>${links.map(([id, text]) => `<li><a href="#${id}">${h(text)}</a></li>`).join('')}</ul></nav>`;
}

function checklistSection(result: CertifyResult): string {
  const rows = result.checklist.map(
    (c) =>
      `<tr class="row-${c.verdict}"><th scope="row">${h(c.item)}</th><td>${badge(c.verdict)}</td><td>${h(c.detail)}</td><td>${c.basis.map((b) => `<span class="tag">${h(b)}</span>`).join(' ')}</td></tr>`,
  );
  return section(
    'checklist',
    'Go-live checklist',
    `<p class="note">Each item of the go-live checklist, with the invariants and checks it rests on.</p>
${table('checklist', ['Item', 'Verdict', 'Detail', 'Basis'], rows)}`,
  );
}

function evidenceList(evidence: readonly Evidence[]): string {
  if (evidence.length === 0) return '';
  return `<ul class="evidence">${evidence.map((e) => `<li>${h(evidenceLine(e))}</li>`).join('')}</ul>`;
}

function invariantSection(views: InvariantView[]): string {
  const rows = views.map((view) => {
    const details: string[] = [];
    // A pass is explained by its summary; only fails and unknowns list where and what.
    if (view.verdict !== 'pass') {
      for (const f of view.findings) {
        details.push(`<p class="source">${h(f.source)}: ${h(f.summary)}</p>${evidenceList(f.evidence)}`);
      }
      if (view.failedGenerated.length > 0) {
        details.push(`<p class="source">generated runs ${h(view.failedGenerated.map((i) => `#${i}`).join(', '))}</p>`);
      }
    }
    return `<tr class="row-${view.verdict}" data-invariant="${a(view.name)}"><th scope="row">${h(view.name)}</th><td>${badge(view.verdict)}</td><td>${h(view.summary)}</td><td>${details.join('') || '<span class="none">—</span>'}</td></tr>`;
  });
  return section(
    'invariants',
    'Invariants',
    table('invariants', ['Invariant', 'Verdict', 'Summary', 'Evidence'], rows),
  );
}

function missList(missed: readonly Miss[]): string {
  return `<ul class="misses">${missed.map((m) => `<li>${h(missLine(m))}${evidenceList(m.evidence)}</li>`).join('')}</ul>`;
}

function incidentSection(result: CertifyResult): string {
  const entries = Object.entries(result.incidents);
  if (entries.length === 0) return section('incidents', 'Incidents', '<p class="note">No incident was run.</p>');
  const rows = entries.map(([name, verdict]) => {
    const run = result.incidentRuns.find((r) => r.name === name);
    let detail: string;
    if (run === undefined) detail = '<span class="none">no run report</span>';
    else if (verdict === 'fail') detail = missList(misses(run));
    else {
      // A passing incident that expects a catch did catch it: say which, it is the point of the incident.
      const caught = Object.entries(run.expected).filter(([, v]) => v !== 'pass');
      detail =
        caught.length === 0
          ? '<span class="none">—</span>'
          : h(`caught as expected: ${caught.map(([n, v]) => `${n} ${v}`).join(', ')}`);
    }
    const about = run === undefined ? '' : h(`${run.steps} steps, seed ${run.seed}, trace ${run.traceHash}`);
    return `<tr class="row-${verdict}"><th scope="row">${h(name)}</th><td>${badge(verdict)}</td><td>${detail}</td><td class="mono">${about}</td></tr>`;
  });
  return section(
    'incidents',
    'Incidents',
    `<p class="note">Hand-written scripts of what goes wrong in production. An incident passes when every invariant reaches the verdict it expects.</p>
${table('incidents', ['Incident', 'Verdict', 'Failed invariants', 'Run'], rows)}`,
  );
}

function generatedSection(result: CertifyResult): string {
  if (result.generated.length === 0) {
    return section('generated', 'Generated runs', '<p class="note">No generated run.</p>');
  }
  const rows = result.generated.map(
    (g) =>
      `<tr class="row-${g.verdict}"><th scope="row">#${g.index}</th><td>${h(g.profile)}</td><td class="mono">${h(g.seed)}</td><td class="num">${g.steps}</td><td>${badge(g.verdict)}</td><td>${g.failed.length === 0 ? '<span class="none">—</span>' : h(g.failed.join(', '))}</td><td class="mono">${h(g.traceHash)}</td><td class="num">${h(duration(g.wallMs))}</td></tr>`,
  );
  const columns = ['Run', 'Profile', 'Seed', 'Steps', 'Verdict', 'Failed invariants', 'Trace hash', 'Wall time'];
  return section('generated', 'Generated runs', table('generated', columns, rows));
}

function counterexampleSection(ce: Counterexample): string {
  const missed = misses(ce.run);
  const failedList =
    missed.length > 0
      ? missList(missed)
      : `<p>${h(ce.failed.length === 0 ? 'The run failed.' : `Failed: ${ce.failed.join(', ')}.`)}</p>`;
  return section(
    'counterexample',
    'Counterexample',
    `<p class="note">The smallest scenario found that breaks the integration. It replays alone, exactly: same seed, same script, same trace hash.</p>
<dl class="facts">
${fact('Saved script', code(ce.script))}
${fact('Seed', code(ce.seed))}
${fact('Steps', h(`${ce.steps} (shrunk from ${ce.originalSteps} in ${plural(ce.shrinkRuns, 'run')})`))}
${fact('Trace hash', code(ce.traceHash))}
</dl>
<h3 id="replay-h">Replay</h3>
<pre class="replay" aria-labelledby="replay-h"><code>${h(ce.replay)}</code></pre>
<h3>Failed invariants</h3>
${failedList}
${timelineSection(ce.run)}`,
  );
}

/** The lane of entries that concern no single account: the cluster, the service, the harness. */
const CLUSTER_LANE = 'cluster & integration';

/** How each kind of timeline entry is drawn; kinds of one family share a colour (see STYLE). */
const KIND_FAMILY: Record<TimelineKind, string> = {
  step: 'neutral',
  phase: 'neutral',
  skipped: 'neutral',
  call: 'call',
  request: 'call',
  answer: 'ok',
  'server-op': 'ok',
  'no-answer': 'lost',
  'lost-answer': 'lost',
  retry: 'retry',
  fault: 'fault',
  crash: 'crash',
  restart: 'crash',
  reconciliation: 'recon',
};

function timelineSection(run: RunReport): string {
  const lanes = new Map<string, TimelineEntry[]>();
  for (const entry of run.timeline) {
    const key = entry.account ?? CLUSTER_LANE;
    const lane = lanes.get(key) ?? [];
    lane.push(entry);
    lanes.set(key, lane);
  }
  const accounts = [...lanes.keys()]
    .filter((k) => k !== CLUSTER_LANE)
    .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));
  const order = lanes.has(CLUSTER_LANE) ? [...accounts, CLUSTER_LANE] : accounts;
  const sections = order.map((key, i) => {
    // Stable sort: entries at the same instant keep the order the run recorded them in.
    const entries = [...(lanes.get(key) ?? [])].sort((x, y) => x.atMs - y.atMs);
    const where = entries.find((e) => e.login !== undefined || e.serverId !== undefined);
    const meta =
      key === CLUSTER_LANE || where === undefined
        ? ''
        : `<p class="lane-meta">${h([where.login === undefined ? '' : `login ${where.login}`, where.serverId === undefined ? '' : `on ${where.serverId}`].filter((s) => s !== '').join(' '))}</p>`;
    const title = key === CLUSTER_LANE ? 'Cluster & integration' : `Account ${key}`;
    const rows = entries.map(
      (e) =>
        `<tr class="entry k-${KIND_FAMILY[e.kind] ?? 'neutral'}" data-kind="${a(e.kind)}" data-at-ms="${e.atMs - run.startMs}"><td class="t"><time>${h(relTime(e.atMs - run.startMs))}</time></td><td><span class="kind kind-${a(e.kind)} k-${KIND_FAMILY[e.kind] ?? 'neutral'}">${h(e.kind)}</span></td><td>${h(e.text)}${e.ref === undefined ? '' : ` <span class="ref">${h(e.ref)}</span>`}</td></tr>`,
    );
    return `<section class="lane${key === CLUSTER_LANE ? ' lane-cluster' : ''}" data-account="${a(key)}" aria-labelledby="lane-${i}-h">
<h4 id="lane-${i}-h">${h(title)}</h4>
${meta}
${table('timeline', ['Time', 'Kind', 'What happened'], rows)}
</section>`;
  });
  const startedAt = Number.isFinite(run.startMs) ? new Date(run.startMs).toISOString() : String(run.startMs);
  return `<h3 id="timeline">Per-account money timeline</h3>
<p class="note">What happened to each account's money in the counterexample run, in virtual time since the run started (${h(startedAt)}): requests, what the server did, answers that never came, retries and what reconciliation found.</p>
${sections.length === 0 ? '<p class="note">The run recorded no timeline.</p>' : `<div class="lanes">\n${sections.join('\n')}\n</div>`}`;
}

function chartSection(result: CertifyResult): string {
  const runs = chartedRuns(result);
  const figures = runs.map(({ label, run }) => {
    const faultRows = Object.entries(run.stats.faults)
      .map(([kind, count]) => `<tr><th scope="row">${h(kind)}</th><td class="num">${count}</td></tr>`)
      .join('');
    const outcomes = [...new Set(Object.values(run.stats.managerCalls).flatMap((o) => Object.keys(o)))].sort();
    const callRows = Object.entries(run.stats.managerCalls)
      .map(
        ([op, byOutcome]) =>
          `<tr><th scope="row">${h(op)}</th>${outcomes.map((o) => `<td class="num">${byOutcome[o] ?? 0}</td>`).join('')}</tr>`,
      )
      .join('');
    return `<figure class="run-charts" data-run="${a(run.name)}">
<figcaption>${h(`${label} — ${run.steps} steps, seed ${run.seed}, ${relTime(run.endMs - run.startMs, false)} of virtual time`)}</figcaption>
${faultChart(run, label)}
${operationsChart(run, label)}
<details>
<summary>The same in numbers</summary>
<div class="numbers">
<table><caption>Faults by kind</caption><thead><tr><th scope="col">Fault</th><th scope="col">Count</th></tr></thead><tbody>${faultRows || '<tr><td colspan="2">none</td></tr>'}</tbody></table>
<table><caption>Manager API calls by operation and outcome</caption><thead><tr><th scope="col">Operation</th>${outcomes.map((o) => `<th scope="col">${h(o)}</th>`).join('')}</tr></thead><tbody>${callRows || '<tr><td>none</td></tr>'}</tbody></table>
</div>
</details>
</figure>`;
  });
  return section(
    'charts',
    'Faults and Manager API operations',
    figures.length === 0 ? '<p class="note">No run report in this result to chart.</p>' : figures.join('\n'),
  );
}

/** System fonts only: the page fetches nothing. Colours are paired with text (PASS/FAIL, kind names). */
const STYLE = `
:root {
  color-scheme: light dark;
  --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de;
  --pass: #1a7f37; --fail: #cf222e; --unknown: #9a6700;
  --ok: #2da44e; --rejected: #e16f24; --unavailable: #6e7781; --unknown-o: #cf222e; --other: #8250df;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #161b22; --line: #30363d;
    --pass: #3fb950; --fail: #f85149; --unknown: #d29922; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
code, pre, .mono, .ref { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.9em; }
main, nav, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
h2 { margin-top: 2.2em; border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
.note, footer { color: var(--muted); }
.banner { display: flex; gap: 28px; align-items: center; padding: 24px max(24px, calc((100% - 1152px) / 2)); color: #fff; }
.banner-pass { background: var(--pass); }
.banner-fail { background: var(--fail); }
.banner h1 { margin: 0 0 4px; font-size: 1.5em; }
.banner .lede { margin: 0 0 10px; font-size: 1.05em; }
.verdict-word { margin: 0; font-size: 3.2em; font-weight: 800; letter-spacing: 0.06em; border: 4px solid #fff; padding: 2px 18px; border-radius: 8px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 0; }
.facts div { display: flex; gap: 6px; }
.facts dt { font-weight: 600; }
.facts dt::after { content: ":"; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.banner code { background: rgba(255,255,255,0.18); padding: 0 4px; border-radius: 3px; }
main .facts { flex-direction: column; }
nav ul { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; padding: 12px 0; margin: 0; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--line); }
thead th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.row-fail > th:first-child { box-shadow: inset 4px 0 var(--fail); }
tr.row-unknown > th:first-child { box-shadow: inset 4px 0 var(--unknown); }
.v { display: inline-block; min-width: 4.8em; text-align: center; font-weight: 700; font-size: 0.8em; padding: 1px 6px; border-radius: 10px; color: #fff; }
.v-pass { background: var(--pass); } .v-fail { background: var(--fail); } .v-unknown { background: var(--unknown); }
.tag { display: inline-block; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; font-size: 0.85em; margin: 1px 0; }
.evidence, .misses { margin: 4px 0; padding-left: 1.2em; }
.source { margin: 0; font-weight: 600; }
.none { color: var(--muted); }
pre.replay { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
.lanes { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.lane { border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px; background: var(--panel); }
.lane h4 { margin: 8px 0 0; }
.lane-meta { margin: 0; color: var(--muted); }
.timeline td.t { white-space: nowrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
.kind { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 0.8em; font-weight: 600; white-space: nowrap; border: 1px solid currentColor; }
.kind.k-neutral { color: var(--muted); }
.kind.k-call { color: #0969da; }
.kind.k-ok { color: var(--pass); }
.kind.k-lost { color: #fff; background: var(--fail); border-color: var(--fail); }
.kind.k-retry { color: #bc4c00; }
.kind.k-fault { color: #bc4c00; background: rgba(225,111,36,0.12); }
.kind.k-crash { color: #fff; background: #6e40c9; border-color: #6e40c9; }
.kind.k-recon { color: #8250df; }
tr.entry.k-lost td { background: rgba(207,34,46,0.07); }
.ref { color: var(--muted); }
figure.run-charts { margin: 16px 0 32px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg.chart { display: block; width: 100%; height: auto; max-width: 960px; color: var(--fg); margin-bottom: 12px; }
svg.chart text { fill: currentColor; font: 12px system-ui, sans-serif; }
svg.chart .axis-title { fill: var(--muted); }
svg.chart .axis, svg.chart .tick { stroke: var(--muted); stroke-width: 1; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .strip-bg { fill: transparent; }
svg.chart .strip-bg.even { fill: var(--panel); }
svg.chart .mark { fill: var(--fail); }
svg.chart .o-ok { fill: var(--ok); } svg.chart .o-rejected { fill: var(--rejected); }
svg.chart .o-unavailable { fill: var(--unavailable); } svg.chart .o-unknown { fill: var(--unknown-o); }
svg.chart .o-other { fill: var(--other); }
.numbers { display: flex; flex-wrap: wrap; gap: 24px; }
.numbers table { width: auto; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
@media print {
  nav { display: none; }
  .banner { color: #000; background: none !important; border: 3px solid #000; }
  .verdict-word { border-color: #000; }
  tr, .lane, figure { break-inside: avoid; }
  details { display: block; }
}
`;
