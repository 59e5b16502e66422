import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cli, EXAMPLES, tempFile } from './helpers.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'mtproof.js');

describe('mtproof sim trace', () => {
  it('prints one JSON object with hash, operations, faults and servers', async () => {
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '3000', '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(summary.operations.deposit).toBeGreaterThan(0);
    expect(Object.keys(summary.faults).length).toBeGreaterThan(0);
    expect(summary.servers.map((s: { id: string }) => s.id)).toEqual(['mt4-live-eu', 'mt5-live-global', 'mt4-demo']);
    for (const s of summary.servers) {
      expect(s).toMatchObject({ platform: expect.stringMatching(/^mt[45]$/), accounts: expect.any(Number) });
      expect(Number.isInteger(s.totalBalanceCents)).toBe(true);
      expect(Number.isInteger(s.totalCreditCents)).toBe(true);
    }
  });

  it('prints the same hash in two separate processes', async () => {
    const args = [BIN, 'sim', 'trace', '--seed', '7', '--steps', '2000', '--json'];
    const [a, b] = await Promise.all([run(process.execPath, args), run(process.execPath, args)]);
    expect(JSON.parse(a.stdout).hash).toBe(JSON.parse(b.stdout).hash);
  });

  it('prints a text summary with a replay command', async () => {
    const r = await cli('sim', 'trace', '--seed', 'abc', '--steps', '500');
    expect(r.code).toBe(0);
    expect(r.out).toContain('trace hash');
    expect(r.out).toContain('replay: mtproof sim trace --seed abc --steps 500');
  });

  it('runs without faults when asked', async () => {
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '2000', '--no-faults', '--json');
    expect(JSON.parse(r.out).faults).toEqual({});
  });

  it.each([
    [['sim', 'trace', '--seed', '1'], /--steps/],
    [['sim', 'trace', '--seed', '1', '--steps', '0'], /--steps must be a whole number/],
    [['sim', 'trace', '--seed', '1', '--steps', '12x'], /--steps/],
    [['sim', 'trace', '--seed', 'a b', '--steps', '5'], /--seed/],
    [['sim', 'trace', '--seed', '1', '--steps', '5', '--bogus'], /unknown option '--bogus'/],
    [['sim', 'trace', '--seed', '1', '--steps', '5', '--mix', 'heavy'], /--mix/],
    [['sim', 'frobnicate'], /unknown command/],
    [['sim', 'trace', '--seed', '1', '--steps', '5', '--faults', 'examples/faults.yaml', '--no-faults'], /contradict/],
    [['sim', 'trace', '--seed', '1', '--steps', '5', '--no-faults', '--faults', 'examples/faults.yaml'], /contradict/],
  ])('rejects bad flags %j with a coded error and exit 2', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error MTP_CLI_BAD_FLAG: /);
    expect(r.err).toMatch(message);
  });

  it('rejects a servers file that does not exist', async () => {
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--servers', '/nonexistent/cluster.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error MTP_CONFIG_UNREADABLE: cannot read servers file .*no such file/);
  });

  it('rejects an invalid servers file, naming each bad field', async () => {
    const path = tempFile('cluster.yaml', 'servers:\n  - id: eu1\n    platform: mt6\n    kind: live\n');
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--servers', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CONFIG_INVALID');
    expect(r.err).toContain('servers[0].platform');
    expect(r.err).toContain('servers[0].logins');
  });

  it('rejects a symbol name with a slash as invalid config (exit 2), not with a crash', async () => {
    const original = readFileSync(join(EXAMPLES, 'cluster.yaml'), 'utf8');
    const symbols = 'symbols:\n  - { name: EUR/USD, digits: 5, contractSize: 100000, price: 1.1 }\n';
    const path = tempFile('cluster.yaml', `${original}${symbols}`);
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--servers', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CONFIG_INVALID');
    expect(r.err).toContain('symbols[0].name: a symbol name may not contain "/"');
  });

  it('rejects a faults file with an unknown fault kind', async () => {
    const path = tempFile('faults.yaml', 'schedule:\n  - { atStep: 3, server: mt4-live-eu, fault: meteorStrike }\n');
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--faults', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_FAULTS_INVALID');
    expect(r.err).toContain('schedule[0].fault');
  });

  it('rejects a schedule entry whose parameters do not fit its fault kind', async () => {
    const path = tempFile(
      'faults.yaml',
      'schedule:\n  - { atStep: 3, server: mt4-live-eu, fault: restart, params: { downtime: 5000 } }\n',
    );
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--faults', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('schedule[0].params: restart.downtime: unknown field');
  });

  it('reports the SHA-256 of each file it read, so a replay with an edited file shows', async () => {
    const original = readFileSync(join(EXAMPLES, 'cluster.yaml'), 'utf8');
    const edited = tempFile('cluster.yaml', original.replace('2026-03-02T07:00:00Z', '2026-03-02T08:00:00Z'));
    const sha = async (path: string): Promise<string> =>
      JSON.parse((await cli('sim', 'trace', '--seed', '2', '--steps', '50', '--json', '--servers', path)).out).inputs
        .servers.sha256;
    expect(await sha(join(EXAMPLES, 'cluster.yaml'))).toBe(createHash('sha256').update(original).digest('hex'));
    expect(await sha(edited)).not.toBe(await sha(join(EXAMPLES, 'cluster.yaml')));
  });

  it('rejects a faults file scheduling a fault on a server the cluster lacks', async () => {
    const path = tempFile(
      'faults.json',
      JSON.stringify({ schedule: [{ atStep: 3, server: 'mt9', fault: 'restart' }] }),
    );
    const r = await cli('sim', 'trace', '--seed', '1', '--steps', '5', '--faults', path);
    expect(r.code).toBe(2);
    expect(r.err).toContain('schedule[0].server');
  });

  it('runs the example cluster and fault files shipped in examples/', async () => {
    const r = await cli(
      'sim',
      'trace',
      '--seed',
      '2',
      '--steps',
      '3000',
      '--json',
      '--servers',
      join(EXAMPLES, 'cluster.yaml'),
      '--faults',
      join(EXAMPLES, 'faults.yaml'),
    );
    expect(r.err).toBe('');
    const summary = JSON.parse(r.out);
    expect(summary.servers.map((s: { id: string }) => s.id)).toEqual(['mt4-live-uk', 'mt5-live-sc', 'mt5-demo']);
    expect(summary.faults.timeoutAfterApply).toBeGreaterThan(0);
  });
});
