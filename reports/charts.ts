import type { RunReport, SeriesPoint } from '../scenarios/result.ts';
import { escapeAttr, escapeText } from './escape.ts';
import { plural, relTime } from './model.ts';

/**
 * Hand-made inline SVG charts for the HTML report (no library: the report must be one file with nothing
 * to fetch). Colours come from CSS classes in the page's stylesheet, so the charts follow its light and
 * dark schemes and print legibly. Every mark and bar carries a <title>, which browsers show on hover and
 * screen readers read; the SVG's own <title>/<desc> say in words what the chart shows.
 */

/** The outcomes of a Manager API call, bottom of the stack first; anything else is drawn as `other`. */
const OUTCOMES = ['ok', 'rejected', 'unavailable', 'unknown'] as const;

const WIDTH = 960;
/** Both charts start their time axis here, so a fault lines up with the calls it hit. */
const LEFT = 190;

/** Steps a time axis may use (ms): round numbers a person reads at a glance. */
const NICE_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

function niceStep(spanMs: number, maxCount: number): number {
  for (const step of NICE_MS) if (spanMs / step <= maxCount) return step;
  return Math.ceil(spanMs / maxCount / 86_400_000) * 86_400_000;
}

/** A step's name for the axis title: `1 min`, `30 s`, `200 ms`. */
function stepName(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** The time the chart spans: the run, stretched to hold any point recorded after its end. */
function spanOf(run: RunReport, points: readonly SeriesPoint[]): number {
  let span = run.endMs - run.startMs;
  for (const p of points) span = Math.max(span, p.atMs - run.startMs);
  return Math.max(span, 1);
}

const at = (run: RunReport, p: SeriesPoint) => Math.max(0, p.atMs - run.startMs);

/** Coordinates to one decimal: enough for any screen, and the file stays small. */
const n = (v: number) => String(Math.round(v * 10) / 10);

function timeAxis(span: number, left: number, right: number, y: number, title: string): string[] {
  const step = niceStep(span, 8);
  const x = (t: number) => left + (t / span) * (right - left);
  const out = [`<line class="axis" x1="${n(left)}" y1="${n(y)}" x2="${n(right)}" y2="${n(y)}"/>`];
  for (let t = 0; t <= span; t += step) {
    out.push(
      `<line class="tick" x1="${n(x(t))}" y1="${n(y)}" x2="${n(x(t))}" y2="${n(y + 5)}"/>`,
      `<text class="tick-label" x="${n(x(t))}" y="${n(y + 18)}" text-anchor="middle">${escapeText(relTime(t, step < 1000))}</text>`,
    );
  }
  out.push(
    `<text class="axis-title" x="${n((left + right) / 2)}" y="${n(y + 36)}" text-anchor="middle">${escapeText(title)}</text>`,
  );
  return out;
}

function svgOpen(
  width: number,
  height: number,
  label: string,
  title: string,
  desc: string,
  cls: string,
  extra = '',
): string {
  return [
    `<svg class="chart ${cls}"${extra} viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeAttr(label)}" preserveAspectRatio="xMinYMin meet">`,
    `<title>${escapeText(title)}</title>`,
    `<desc>${escapeText(desc)}</desc>`,
  ].join('');
}

/**
 * Faults over time: one strip per fault kind, a mark per injected fault. The question it answers is
 * "what was the world doing to the integration, and when" — read next to the operations chart below it.
 */
export function faultChart(run: RunReport, runLabel: string): string {
  const points = run.series.faults;
  const kinds = [...new Set(points.map((p) => p.name))].sort();
  const span = spanOf(run, points);
  const left = LEFT;
  const right = WIDTH - 32;
  const top = 12;
  const rowH = 26;
  const axisY = top + Math.max(kinds.length, 1) * rowH + 6;
  const height = axisY + 46;
  const x = (t: number) => left + (t / span) * (right - left);

  const counts = kinds.map((k) => `${k} ×${points.filter((p) => p.name === k).length}`);
  const label = `Faults over time in ${runLabel}: ${plural(points.length, 'fault')} of ${plural(kinds.length, 'kind')}`;
  const desc =
    points.length === 0
      ? 'No fault was injected in this run.'
      : `One strip per fault kind, a mark per fault at its virtual time since the run started: ${counts.join(', ')}.`;
  const out = [svgOpen(WIDTH, height, label, `Faults over time — ${runLabel}`, desc, 'faults-chart')];

  if (points.length === 0) {
    out.push(
      `<text class="empty" x="${n(left)}" y="${n(top + rowH / 2 + 5)}">No fault was injected in this run.</text>`,
    );
  }
  kinds.forEach((kind, row) => {
    const y = top + row * rowH;
    out.push(
      `<g class="strip" data-kind="${escapeAttr(kind)}">`,
      `<rect class="strip-bg${row % 2 === 0 ? ' even' : ''}" x="${n(left)}" y="${n(y)}" width="${n(right - left)}" height="${rowH}"/>`,
      `<text class="row-label" x="${n(left - 8)}" y="${n(y + rowH / 2 + 4)}" text-anchor="end">${escapeText(kind)}</text>`,
    );
    for (const p of points) {
      if (p.name !== kind) continue;
      const t = at(run, p);
      out.push(
        `<rect class="mark" x="${n(x(t) - 2)}" y="${n(y + 5)}" width="4" height="${rowH - 10}" data-at-ms="${t}"><title>${escapeText(`${kind} on ${p.serverId} at ${relTime(t)}`)}</title></rect>`,
      );
    }
    out.push('</g>');
  });
  out.push(...timeAxis(span, left, right, axisY, 'virtual time since the run started (h:mm:ss)'));
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Manager API operations over time: a stacked bar per time bucket, one segment per outcome. A run of
 * `unknown` (a lost answer) followed by retries is the pattern exactly-once posting has to survive.
 */
export function operationsChart(run: RunReport, runLabel: string): string {
  const points = run.series.operations;
  const span = spanOf(run, points);
  const bucketMs = niceStep(span, 40);
  const buckets = Math.max(1, Math.ceil(span / bucketMs));
  const outcomeOf = (p: SeriesPoint) =>
    (OUTCOMES as readonly string[]).includes(p.outcome ?? '') ? (p.outcome as string) : 'other';
  const present = new Set(points.map(outcomeOf));
  const stack: string[] = [...OUTCOMES, ...(present.has('other') ? ['other'] : [])];

  const counts: Map<string, number>[] = Array.from({ length: buckets }, () => new Map());
  for (const p of points) {
    const bucket = counts[Math.min(buckets - 1, Math.floor(at(run, p) / bucketMs))] as Map<string, number>;
    bucket.set(outcomeOf(p), (bucket.get(outcomeOf(p)) ?? 0) + 1);
  }
  const tallest = Math.max(1, ...counts.map((b) => [...b.values()].reduce((a, c) => a + c, 0)));
  const yMax = niceCeil(tallest);

  const left = LEFT;
  const right = WIDTH - 32;
  const top = 36;
  const plotH = 200;
  const base = top + plotH;
  const height = base + 46;
  const bw = (right - left) / buckets;
  const y = (v: number) => base - (v / yMax) * plotH;

  const totals = stack.map((o) => `${points.filter((p) => outcomeOf(p) === o).length} ${o}`);
  const label = `Manager API operations over time in ${runLabel}: ${plural(points.length, 'call')} (${totals.join(', ')})`;
  const desc =
    points.length === 0
      ? 'The integration made no Manager API call in this run.'
      : `Stacked bars of Manager API calls per ${stepName(bucketMs)} of virtual time, one segment per outcome: ${totals.join(', ')}.`;
  const out = [
    svgOpen(
      WIDTH,
      height,
      label,
      `Manager API operations over time — ${runLabel}`,
      desc,
      'operations-chart',
      ` data-bucket-ms="${bucketMs}"`,
    ),
  ];

  // Legend along the top, left to right in stack order.
  stack.forEach((outcome, i) => {
    const lx = left + i * 130;
    out.push(
      `<g class="legend-item" data-outcome="${escapeAttr(outcome)}"><rect class="o-${escapeAttr(outcome)}" x="${lx}" y="8" width="12" height="12"/><text class="legend-label" x="${lx + 18}" y="18">${escapeText(outcome)}</text></g>`,
    );
  });

  // Y axis: 0, half (when whole: calls are counted), max.
  for (const v of yMax % 2 === 0 ? [0, yMax / 2, yMax] : [0, yMax]) {
    out.push(
      `<line class="grid" x1="${left}" y1="${n(y(v))}" x2="${right}" y2="${n(y(v))}"/>`,
      `<text class="tick-label" x="${left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${v}</text>`,
    );
  }
  out.push(
    `<line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${base}"/>`,
    `<text class="axis-title" transform="translate(${left - 40} ${n(top + plotH / 2)}) rotate(-90)" text-anchor="middle">Manager API calls</text>`,
  );

  if (points.length === 0) {
    out.push(`<text class="empty" x="${left + 12}" y="${n(top + plotH / 2)}">No Manager API call in this run.</text>`);
  }
  counts.forEach((bucket, i) => {
    let acc = 0;
    const from = i * bucketMs;
    for (const outcome of stack) {
      const count = bucket.get(outcome) ?? 0;
      if (count === 0) continue;
      const x0 = left + i * bw + bw * 0.1;
      out.push(
        `<rect class="bar o-${escapeAttr(outcome)}" data-outcome="${escapeAttr(outcome)}" data-count="${count}" data-bucket="${i}" x="${n(x0)}" y="${n(y(acc + count))}" width="${n(Math.max(1, bw * 0.8))}" height="${n(y(acc) - y(acc + count))}"><title>${escapeText(`${relTime(from, bucketMs < 1000)} to ${relTime(from + bucketMs, bucketMs < 1000)}: ${count} ${outcome}`)}</title></rect>`,
      );
      acc += count;
    }
  });
  out.push(
    ...timeAxis(span, left, right, base, `virtual time since the run started (h:mm:ss; bars of ${stepName(bucketMs)})`),
  );
  out.push('</svg>');
  return out.join('\n');
}

/** The smallest of 1, 2, 5 × 10^k at or above v: a y-axis top a person can read. */
function niceCeil(v: number): number {
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}
