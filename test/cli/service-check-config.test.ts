import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mtproof-cli-')), name);
  writeFileSync(path, text);
  return path;
}

describe('mtproof service check-config', () => {
  it('accepts the example broker config and prints where EU and other clients land', async () => {
    const r = await cli('service', 'check-config', '--config', join(EXAMPLES, 'broker.yaml'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/eu \(AT\)\s+eu-classic\s+mt4-live-eu \/ eu-std-usd/);
    expect(r.out).toMatch(/other \(US\)\s+global-standard\s+mt5-live-global \/ real\\standard-usd/);
    expect(r.out).toMatch(/eu \(AT\)\s+global-standard\s+refused/);
  });

  it('prints JSON with the routes and the environment variables that are not set', async () => {
    const r = await cli('service', 'check-config', '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.ok).toBe(true);
    expect(summary.routes).toContainEqual({
      from: 'other (US)',
      product: 'islamic',
      where: 'mt5-live-global / real\\islamic-usd',
    });
    expect(Array.isArray(summary.unsetEnv)).toBe(true);
  });

  it('names the field of a product mapped to a group the server does not have', async () => {
    const text = readFileSync(join(EXAMPLES, 'broker.yaml'), 'utf8').replace(
      '{ mt4-live-eu: eu-std-usd }',
      '{ mt4-live-eu: eu-std-eur2 }',
    );
    const r = await cli('service', 'check-config', '--config', tempFile('broker.yaml', text));
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CONFIG_INVALID');
    expect(r.err).toContain('products[0].groups.mt4-live-eu: "mt4-live-eu" has no group "eu-std-eur2"');
  });

  it('names the field of an invalid config and never echoes an inline password', async () => {
    const text = readFileSync(join(EXAMPLES, 'broker.yaml'), 'utf8').replace(
      'passwordEnv: MTPROOF_MT4_LIVE_EU_PASSWORD',
      'password: Hunter2!',
    );
    const r = await cli('service', 'check-config', '--config', tempFile('broker.yaml', text));
    expect(r.code).toBe(2);
    expect(r.err).toContain('servers[0].password: secrets are never inline');
    expect(r.err).not.toContain('Hunter2!');
  });

  it('refuses an unreadable file with a coded error', async () => {
    const r = await cli('service', 'check-config', '--config', '/nonexistent/broker.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CONFIG_UNREADABLE');
  });
});
