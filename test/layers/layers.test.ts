import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const LAYERS = ['kit', 'metatrader', 'simulator', 'adapters', 'service', 'scenarios', 'reports', 'cli', 'bench'];

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

/** Runs depcruise over `folders` of `cwd` with the project's config and returns the violations it reports. */
function cruise(cwd: string, folders: string[]): Violation[] {
  const args = ['--config', CONFIG, '--output-type', 'json', ...folders];
  let stdout: string;
  try {
    stdout = execFileSync(DEPCRUISE, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    // depcruise exits with the number of errors found; the JSON report is on stdout all the same.
    const out = (error as { stdout?: string }).stdout;
    if (!out) throw error;
    stdout = out;
  }
  const result = JSON.parse(stdout) as { summary: { violations: Violation[] } };
  return result.summary.violations;
}

const describeViolation = (v: Violation): string => `${v.rule.name}: ${v.from} → ${v.to}`;

describe('layer rules on the project tree', () => {
  it('finds no forbidden import, cycle or dev dependency in the existing top-level folders', () => {
    const folders = LAYERS.filter((folder) => existsSync(join(ROOT, folder)));
    expect(cruise(ROOT, folders).map(describeViolation)).toEqual([]);
  });
});

describe('layer rules on a fixture tree', () => {
  let dir: string;
  let reported: string[];

  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtproof-layers-'));
    write(
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: {
          module: 'ESNext',
          moduleResolution: 'bundler',
          allowImportingTsExtensions: true,
          noEmit: true,
        },
      }),
    );
    write('kit/clock.ts', 'export const now = 0;\n');
    write('simulator/a.ts', "import { b } from '../service/b.ts';\nexport const a = b;\n");
    write('simulator/core.ts', "import { now } from '../kit/clock.ts';\nexport const core = now;\n");
    write('adapters/port/api.ts', 'export type Api = { ping(): void };\n');
    write(
      'adapters/sim/api.ts',
      "import '../../simulator/core.ts';\nimport type { Api } from '../port/api.ts';\nexport type A = Api;\n",
    );
    write(
      'service/b.ts',
      "import type { Api } from '../adapters/port/api.ts';\nexport const b = 1;\nexport type B = Api;\n",
    );
    write('service/c.ts', "import { core } from '../simulator/core.ts';\nexport const c = core;\n");
    write('service/d.ts', "import type { A } from '../adapters/sim/api.ts';\nexport type D = A;\n");
    write('cli/x.ts', "import { y } from './y.ts';\nexport const x = () => y;\n");
    write('cli/y.ts', "import { x } from './x.ts';\nexport const y = () => x;\n");
    write('scenarios/script.ts', "export type InvariantName = 'routing';\nexport const NAMES = ['routing'];\n");
    write(
      'scenarios/mutants/typed.ts',
      "import type { InvariantName } from '../script.ts';\nexport type T = InvariantName;\n",
    );
    write('scenarios/mutants/valued.ts', "import { NAMES } from '../script.ts';\nexport const n = NAMES;\n");
    reported = cruise(dir, ['kit', 'simulator', 'adapters', 'service', 'scenarios', 'cli']).map(describeViolation);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports a simulator module that imports the service', () => {
    expect(reported).toContain('simulator-is-a-leaf: simulator/a.ts → service/b.ts');
  });

  it('reports a service module that imports the simulator', () => {
    expect(reported).toContain('service-imports-only-port: service/c.ts → simulator/core.ts');
  });

  it('reports a service module that imports an adapter other than the port, even for types only', () => {
    expect(reported).toContain('service-imports-only-port: service/d.ts → adapters/sim/api.ts');
  });

  it("reports a planted bug that runs the script format's code; its types are allowed", () => {
    expect(reported).toContain(
      'mutants-take-only-types-from-the-script-format: scenarios/mutants/valued.ts → scenarios/script.ts',
    );
    expect(reported.filter((line) => line.includes('scenarios/mutants/typed.ts'))).toEqual([]);
  });

  it('reports a runtime import cycle', () => {
    expect(reported.some((line) => line.startsWith('no-circular: cli/'))).toBe(true);
  });

  it('accepts the allowed arrows: service → port, sim adapter → simulator and port, simulator → kit', () => {
    expect(reported.filter((line) => !line.startsWith('no-circular:')).sort()).toEqual([
      'mutants-take-only-types-from-the-script-format: scenarios/mutants/valued.ts → scenarios/script.ts',
      'service-imports-only-port: service/c.ts → simulator/core.ts',
      'service-imports-only-port: service/d.ts → adapters/sim/api.ts',
      'simulator-is-a-leaf: simulator/a.ts → service/b.ts',
    ]);
  });
});
