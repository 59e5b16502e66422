import { runWorkload, type WorkloadMix, type WorkloadOptions, type WorkloadSummary } from '../adapters/sim/workload.ts';
import { MtproofError } from '../kit/errors.ts';
import { parseClusterConfig, parseFaultConfig } from '../simulator/index.ts';
import { readConfigFile } from './config-files.ts';
import type { Output } from './io.ts';

export interface SimTraceFlags {
  seed: string;
  steps: string;
  servers?: string;
  faults?: string;
  /** commander's negation of --no-faults. */
  faultsOn: boolean;
  mix: WorkloadMix;
  json: boolean;
}

/** `mtproof sim trace`: a random manager workload against the simulator alone, and its summary. */
export async function simTrace(flags: SimTraceFlags, io: Output): Promise<number> {
  const seed = parseSeed(flags.seed);
  const steps = parseCount('--steps', flags.steps, 100_000_000);
  const inputs: Record<string, { path: string; sha256: string }> = {};
  let config: WorkloadOptions['config'];
  if (flags.servers !== undefined) {
    const file = await readConfigFile(flags.servers, 'servers file');
    config = parseClusterConfig(file.value, flags.servers);
    inputs.servers = { path: flags.servers, sha256: file.sha256 };
  }
  let faults: WorkloadOptions['faults'] = {};
  if (flags.faults !== undefined) {
    const file = await readConfigFile(flags.faults, 'faults file');
    faults = parseFaultConfig(file.value, flags.faults);
    inputs.faults = { path: flags.faults, sha256: file.sha256 };
  }
  if (!flags.faultsOn) faults = { intensity: 0, swarm: false };
  const { summary } = await runWorkload({ seed, steps, config, faults, mix: flags.mix });
  // The files' fingerprints make a replay with edited files detectable.
  const report = { ...summary, mix: flags.mix, faultsOn: flags.faultsOn, inputs };
  if (flags.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else io.out(renderSummary(summary, flags, inputs));
  return 0;
}

function parseSeed(text: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(text)) {
    throw new MtproofError('MTP_CLI_BAD_FLAG', '--seed must be 1-64 letters, digits or _.:-', [
      { path: '--seed', message: `got "${text}"` },
    ]);
  }
  return text;
}

function parseCount(flag: string, text: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new MtproofError(
      'MTP_CLI_BAD_FLAG',
      `${flag} must be a whole number from 1 to ${max.toLocaleString('en-US')}`,
      [{ path: flag, message: `got "${text}"` }],
    );
  }
  return value;
}

function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows
    .map(
      (r) =>
        `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}`,
    )
    .join('\n');
}

function renderSummary(
  s: WorkloadSummary,
  flags: SimTraceFlags,
  inputs: Record<string, { path: string; sha256: string }>,
): string {
  const lines: string[] = [];
  const hours = (s.virtualMs / 3_600_000).toFixed(2);
  lines.push(
    `mtproof sim trace — seed ${s.seed}, ${s.steps.toLocaleString('en-US')} steps, ${hours} h of virtual time`,
  );
  lines.push(`trace hash ${s.hash} (${s.traceEvents.toLocaleString('en-US')} events)`);
  lines.push('');
  lines.push('operations');
  lines.push(table(Object.entries(s.operations).map(([op, n]) => [op, n.toLocaleString('en-US')])));
  const o = s.outcomes;
  lines.push(`  outcomes: ok ${o.ok}, rejected ${o.rejected}, unavailable ${o.unavailable}, unknown ${o.unknown}`);
  lines.push('');
  const faultKinds = Object.keys(s.faults).length;
  lines.push(
    `faults (${faultKinds} kinds fired${s.swarmedOff.length > 0 ? `; switched off by this seed: ${s.swarmedOff.join(', ')}` : ''})`,
  );
  lines.push(
    faultKinds === 0 ? '  none' : table(Object.entries(s.faults).map(([k, n]) => [k, n.toLocaleString('en-US')])),
  );
  lines.push('');
  lines.push('servers');
  lines.push(
    table([
      ['id', 'platform', 'kind', 'accounts', 'balance', 'credit', 'open'],
      ...s.servers.map((v) => [
        v.id,
        v.platform,
        v.kind,
        String(v.accounts),
        money(v.totalBalanceCents),
        money(v.totalCreditCents),
        String(v.openPositions),
      ]),
    ]),
  );
  lines.push('');
  const replay = [`mtproof sim trace --seed ${s.seed} --steps ${s.steps}`];
  if (flags.servers !== undefined) replay.push(`--servers ${flags.servers}`);
  if (flags.faults !== undefined) replay.push(`--faults ${flags.faults}`);
  if (!flags.faultsOn) replay.push('--no-faults');
  if (flags.mix !== 'broad') replay.push(`--mix ${flags.mix}`);
  lines.push(`replay: ${replay.join(' ')}`);
  for (const [what, file] of Object.entries(inputs))
    lines.push(`  ${what} file ${file.path} sha256 ${file.sha256.slice(0, 16)}`);
  return `${lines.join('\n')}\n`;
}
