import { afterAll, describe, expect, it } from 'vitest';
import { createMt5WebApiManagerApi } from '../../../adapters/mt5-webapi/index.ts';
import { SimHost } from '../../../simulator/http/host.ts';
import { serveSimulator } from '../../../simulator/http/serve.ts';
import { cli, tempFile } from '../../cli/helpers.ts';
import { selfSigned } from '../../tls.ts';

/**
 * The served MT5 Web API over HTTPS, as a real Access server serves it (facts 3.1): a client that refuses plain
 * HTTP can be pointed at the simulator. openssl makes a throwaway certificate; without it the tests are skipped.
 */

const tls = selfSigned();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe.skipIf(tls === null)('the served MT5 Web API over HTTPS (needs openssl)', () => {
  it('answers an adapter that trusts its certificate, and nothing in plain HTTP', async () => {
    const host = new SimHost({ seed: 'tls', tickMs: 2 });
    host.start();
    const served = await serveSimulator(host, { port: 0, webApiBasePort: 0, webApi: { tls: tls ?? undefined } });
    closers.push(async () => {
      await served.close();
      await host.stop();
    });
    const url = served.webApi[0]?.url as string;
    expect(url).toMatch(/^https:\/\//);
    const api = createMt5WebApiManagerApi({ serverId: 'mt5-live-global', url, tls: { ca: tls?.cert } });
    const connected = await api.connect({ login: 1000, password: 'Manager#1' });
    expect(connected.ok).toBe(true);
    expect((await api.ping()).ok).toBe(true);
    await api.close();
    const plain = await fetch(`${url.replace('https://', 'http://')}/api/test/access`).then(
      (res) => res.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('sim serve takes --tls-cert and --tls-key together, PEM only', async () => {
    const alone = await cli('sim', 'serve', '--port', '0', '--tls-cert', tempFile('cert.pem', tls?.cert ?? ''));
    expect(alone.code).toBe(2);
    expect(alone.err).toContain('--tls-key');
    const notPem = await cli(
      'sim',
      'serve',
      '--port',
      '0',
      '--tls-cert',
      tempFile('cert.pem', 'hello'),
      '--tls-key',
      tempFile('key.pem', tls?.key ?? ''),
    );
    expect(notPem.code).toBe(2);
    expect(notPem.err).toContain('not a PEM file');
  });
});
