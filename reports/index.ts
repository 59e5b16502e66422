import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MtproofError } from '../kit/errors.ts';
import type { CertifyResult } from '../scenarios/result.ts';
import { resultHtml } from './html.ts';
import { resultJson } from './json.ts';
import { resultJunit } from './junit.ts';

export { resultHtml } from './html.ts';
export { resultJson } from './json.ts';
export { resultJunit } from './junit.ts';

/** The files a certification writes, by format; absolute paths. */
export interface ReportPaths {
  json: string;
  junit: string;
  html: string;
}

/**
 * Writes result.json, junit.xml and report.html into `outDir` (created with its parents) and returns their
 * paths. All three are rendered before anything is written, so a rendering bug never leaves a folder with
 * a fresh report.html next to a stale junit.xml. `result.out` is written as given: setting it is the
 * caller's business.
 */
export async function writeReports(result: CertifyResult, outDir: string): Promise<ReportPaths> {
  const dir = resolve(outDir);
  const files: [keyof ReportPaths, string, string][] = [
    ['json', 'result.json', resultJson(result)],
    ['junit', 'junit.xml', resultJunit(result)],
    ['html', 'report.html', resultHtml(result)],
  ];
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new MtproofError('MTP_OUT_DIR', `cannot create the report folder ${dir}: ${reason(error)}`);
  }
  const paths: ReportPaths = { json: '', junit: '', html: '' };
  for (const [format, name, text] of files) {
    const path = join(dir, name);
    try {
      await writeFile(path, text, 'utf8');
    } catch (error) {
      throw new MtproofError('MTP_OUT_DIR', `cannot write ${name} in the report folder ${dir}: ${reason(error)}`);
    }
    paths[format] = path;
  }
  return paths;
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}
