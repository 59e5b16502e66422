import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MtproofError } from '../../kit/errors.ts';
import { resultHtml, resultJson, resultJunit, writeReports } from '../../reports/index.ts';
import { failingResult, passingResult } from './fixtures.ts';

const scratch = mkdtempSync(join(tmpdir(), 'mtproof-reports-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('writeReports', () => {
  it('creates the folder with its parents and writes result.json, junit.xml and report.html', async () => {
    const result = failingResult();
    const dir = join(scratch, 'ci', 'run-1', 'reports');
    const paths = await writeReports(result, dir);
    expect(paths).toEqual({
      json: join(dir, 'result.json'),
      junit: join(dir, 'junit.xml'),
      html: join(dir, 'report.html'),
    });
    expect(readFileSync(paths.json, 'utf8')).toBe(resultJson(result));
    expect(readFileSync(paths.junit, 'utf8')).toBe(resultJunit(result));
    expect(readFileSync(paths.html, 'utf8')).toBe(resultHtml(result));
  });

  it('writes the same bytes for the same result, in every format (renderers are pure)', async () => {
    for (const make of [failingResult, passingResult]) {
      const first = await writeReports(make(), join(scratch, `${make.name}-1`));
      const second = await writeReports(make(), join(scratch, `${make.name}-2`));
      for (const format of ['json', 'junit', 'html'] as const) {
        expect(readFileSync(second[format], 'utf8'), `${make.name} ${format}`).toBe(
          readFileSync(first[format], 'utf8'),
        );
      }
    }
  });

  it('overwrites the reports of an earlier run in the same folder', async () => {
    const dir = join(scratch, 'again');
    await writeReports(failingResult(), dir);
    const result = { ...failingResult(), seed: 'second' };
    const paths = await writeReports(result, dir);
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).seed).toBe('second');
  });

  it('returns absolute paths for a relative folder', async () => {
    const dir = relative(process.cwd(), join(scratch, 'rel'));
    expect(isAbsolute(dir)).toBe(false);
    const paths = await writeReports(failingResult(), dir);
    expect(paths.html).toBe(join(scratch, 'rel', 'report.html'));
  });

  it('throws MTP_OUT_DIR naming the folder when it cannot be created', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    const dir = join(file, 'reports');
    const error = await writeReports(failingResult(), dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MtproofError);
    expect((error as MtproofError).code).toBe('MTP_OUT_DIR');
    expect((error as MtproofError).message).toContain(dir);
  });

  it('throws MTP_OUT_DIR naming the folder and the file when a report cannot be written', async () => {
    const dir = join(scratch, 'blocked');
    // A folder where junit.xml should go: the folder exists, the file cannot be written.
    await writeReports(failingResult(), dir);
    rmSync(join(dir, 'junit.xml'));
    mkdirSync(join(dir, 'junit.xml'));
    const error = await writeReports(failingResult(), dir).catch((e: unknown) => e);
    expect((error as MtproofError).code).toBe('MTP_OUT_DIR');
    expect((error as MtproofError).message).toMatch(/cannot write junit\.xml in the report folder .*blocked/);
  });
});
