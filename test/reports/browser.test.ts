import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportPaths, writeReports } from '../../reports/index.ts';
import { relTime } from '../../reports/model.ts';
import type { CertifyResult } from '../../scenarios/result.ts';
import { failingResult, laneEntries, passingResult } from './fixtures.ts';

/**
 * The HTML report as a person sees it, in Debian's chromium (never a downloaded browser). Without
 * /usr/bin/chromium these tests are skipped, and say why.
 */

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const SKIP = HAS_CHROMIUM
  ? ''
  : ` [skipped: ${CHROMIUM} is not installed (apt-get install chromium); no browser is downloaded]`;
if (!HAS_CHROMIUM) console.warn(`test/reports/browser.test.ts:${SKIP}`);
const browserIt = it.skipIf(!HAS_CHROMIUM);

const scratch = mkdtempSync(join(tmpdir(), 'mtproof-report-browser-'));
let browser: Browser | undefined;

beforeAll(async () => {
  if (HAS_CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  url: string;
  paths: ReportPaths;
  /** Every URL the page asked for while loading. */
  requests: string[];
  /** Console errors and page errors (a CSP violation shows up here). */
  errors: string[];
}

/** Writes the reports of `result` and opens report.html with scripts off: the page must not need them. */
async function open(result: CertifyResult, name: string): Promise<Opened> {
  if (browser === undefined) throw new Error('no browser');
  const paths = await writeReports(result, join(scratch, name));
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  const url = pathToFileURL(paths.html).href;
  await page.goto(url, { waitUntil: 'load' });
  return { page, url, paths, requests, errors };
}

describe('report.html in a browser', () => {
  browserIt(`shows FAIL in the banner, the five checklist rows and the verdict of each${SKIP}`, async () => {
    const { page } = await open(failingResult(), 'banner');
    const banner = page.locator('#verdict');
    await expect(banner.isVisible()).resolves.toBe(true);
    expect((await page.locator('#verdict .verdict-word').innerText()).trim()).toBe('FAIL');
    expect(await banner.innerText()).toMatch(/Seed\s+20250303/);
    expect(await page.title()).toContain('FAIL');
    const rows = page.locator('#checklist tbody tr');
    expect(await rows.count()).toBe(5);
    const texts = await rows.allInnerTexts();
    expect(texts.map((t) => t.split('\t')[0])).toEqual([
      'Server access',
      'CRM-to-group mapping',
      'KYC-linked trading permissions',
      'Payment flow rules',
      'Trade data setup',
    ]);
    expect(texts[3]).toContain('FAIL');
    await page.context().close();
  });

  browserIt(`shows PASS in the banner of a passing result${SKIP}`, async () => {
    const { page } = await open(passingResult(), 'pass');
    expect((await page.locator('#verdict .verdict-word').innerText()).trim()).toBe('PASS');
    expect(await page.locator('#counterexample').count()).toBe(0);
    expect(await page.locator('#checklist tbody tr').count()).toBe(5);
    await page.context().close();
  });

  browserIt(`shows each account's money timeline in its own lane, in time order${SKIP}`, async () => {
    const result = failingResult();
    const { page } = await open(result, 'timeline');
    const lanes = page.locator('#counterexample .lane');
    expect(await lanes.locator('h4').allInnerTexts()).toEqual(['Account a1', 'Account a2', 'Cluster & integration']);
    const start = result.counterexample?.run.startMs ?? 0;
    for (const [i, account] of [[0, 'a1'] as const, [1, 'a2'] as const]) {
      const lane = lanes.nth(i);
      await expect(lane.isVisible()).resolves.toBe(true);
      const rows = await lane.locator('tbody tr').all();
      const seen = await Promise.all(
        rows.map(async (row) => (await row.locator('td').allInnerTexts()).map((t) => t.trim())),
      );
      const expected = laneEntries(result, account).map((e) => [relTime(e.atMs - start), e.kind, e.text]);
      expect(seen.map(([t, k, text]) => [t, k, text?.replace(/ T-000\d$/, '')])).toEqual(expected);
      expect(seen.map(([, k]) => k)).toEqual(['request', 'server-op', 'lost-answer', 'retry', 'reconciliation']);
    }
    await page.context().close();
  });

  browserIt(`draws both charts with a mark per fault and a bar segment per bucket and outcome${SKIP}`, async () => {
    const result = failingResult();
    const run = result.counterexample?.run;
    if (run === undefined) throw new Error('fixture has a counterexample');
    const { page } = await open(result, 'charts');
    const faults = page.locator('svg.faults-chart');
    const operations = page.locator('svg.operations-chart');
    expect(await faults.count()).toBe(1);
    expect(await operations.count()).toBe(1);
    for (const chart of [faults, operations]) {
      const box = await chart.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(100);
      expect(box?.height ?? 0).toBeGreaterThan(50);
      expect(await chart.getAttribute('role')).toBe('img');
      expect(await chart.getAttribute('aria-label')).toBeTruthy();
    }
    expect(await faults.locator('rect.mark').count()).toBe(run.series.faults.length);
    expect(await faults.locator('g.strip').count()).toBe(new Set(run.series.faults.map((p) => p.name)).size);
    // Each mark is drawn inside the chart, where a person can see it.
    const chartBox = await faults.boundingBox();
    for (const mark of await faults.locator('rect.mark').all()) {
      const box = await mark.boundingBox();
      expect(box?.height ?? 0).toBeGreaterThan(0);
      expect(box?.x ?? -1).toBeGreaterThanOrEqual(chartBox?.x ?? 0);
    }
    const bucketMs = Number(await operations.getAttribute('data-bucket-ms'));
    expect(bucketMs).toBeGreaterThan(0);
    const segments = new Set(
      run.series.operations.map((p) => `${Math.floor((p.atMs - run.startMs) / bucketMs)}:${p.outcome}`),
    );
    const bars = operations.locator('rect.bar');
    expect(await bars.count()).toBe(segments.size);
    const counts = await bars.evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(run.series.operations.length);
    expect(await operations.locator('g.legend-item').allTextContents()).toEqual([
      'ok',
      'rejected',
      'unavailable',
      'unknown',
    ]);
    await page.context().close();
  });

  browserIt(`asks for nothing but the file itself, and logs no error${SKIP}`, async () => {
    const { page, url, requests, errors } = await open(failingResult(), 'requests');
    expect(requests).toEqual([url]);
    expect(errors).toEqual([]);
    const shot = join(scratch, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    await page.context().close();
  });

  browserIt(`parses junit.xml with the browser's XML parser${SKIP}`, async () => {
    const { page, paths } = await open(failingResult(), 'junit');
    const xml = readFileSync(paths.junit, 'utf8');
    const parsed = await page.evaluate((text) => {
      // This runs in the page; the project's tsconfig has no DOM lib, so the little used is declared here.
      type Found = { textContent: string | null } | null;
      type XmlDocument = { querySelector(s: string): Found; querySelectorAll(s: string): { length: number } };
      const { DOMParser } = globalThis as unknown as {
        DOMParser: new () => { parseFromString(text: string, type: string): XmlDocument };
      };
      const doc = new DOMParser().parseFromString(text, 'application/xml');
      return {
        error: doc.querySelector('parsererror')?.textContent ?? null,
        cases: doc.querySelectorAll('testcase').length,
        failures: doc.querySelectorAll('testcase > failure').length,
      };
    }, xml);
    expect(parsed).toEqual({ error: null, cases: 13, failures: 4 });
    await page.context().close();
  });
});
