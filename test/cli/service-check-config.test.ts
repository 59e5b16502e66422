import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, EXAMPLES, tempFile } from './helpers.ts';

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

  it('routes as the service would when the config suspends a server: to the fallback that offers the product', async () => {
    const text = readFileSync(join(EXAMPLES, 'broker.yaml'), 'utf8').replace(
      'passwordEnv: MTPROOF_MT4_LIVE_EU_PASSWORD',
      'passwordEnv: MTPROOF_MT4_LIVE_EU_PASSWORD\n    suspended: true',
    );
    const r = await cli('service', 'check-config', '--config', tempFile('broker.yaml', text));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/eu \(AT\)\s+pro\s+mt5-live-global \/ real\\pro-usd \(fallback of routing\[0\]/);
    // eu-classic is not offered on the fallback: it waits on the suspended server.
    expect(r.out).toMatch(/eu \(AT\)\s+eu-classic\s+mt4-live-eu \/ eu-std-usd\n/);
  });

  it('lists every secret variable the config names and the environment lacks, webhook key included', async () => {
    const text = `${readFileSync(join(EXAMPLES, 'broker.yaml'), 'utf8').replace(
      'alerts:\n  stuckAfterMs: 1800000',
      'alerts:\n  stuckAfterMs: 1800000\n  webhook: { urlEnv: HOOK_URL, secretEnv: HOOK_KEY }',
    )}`;
    const r = await cli('service', 'check-config', '--config', tempFile('broker.yaml', text), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).unsetEnv).toEqual(expect.arrayContaining(['HOOK_URL', 'HOOK_KEY']));
  });

  it('refuses an unreadable file with a coded error', async () => {
    const r = await cli('service', 'check-config', '--config', '/nonexistent/broker.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CONFIG_UNREADABLE');
  });
});
