import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../../kit/clock.ts';
import { shortDayBrokerConfig } from '../../scenarios/wire/real-stack.ts';
import { MtproofProcess } from '../../scenarios/wire/stack.ts';
import { cli, tempFile } from './helpers.ts';

/**
 * The certifications over the wire from the command line: the real stack (separate processes, SIGKILLs, the
 * store and bus the environment names — CI gives Postgres and RabbitMQ), and a black box (mtproof's own service
 * behind the documented contract, as a stranger's integration would be).
 */

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

describe('mtproof certify over the wire', () => {
  it('certifies the real stack through two SIGKILLs of the service, toxics on the proxies and simulator faults', async () => {
    const out = tempFile('keep', '').replace(/keep$/, 'real');
    const run = await cli(
      'certify',
      '--stack',
      'real',
      '--seed',
      '21',
      '--ops',
      '16',
      '--clients',
      '4',
      '--kills',
      '2',
      '--toxics',
      '2',
      '--fault-intensity',
      '1',
      '--out',
      out,
    );
    expect(run.out, run.err).toContain('PASS mtproof service');
    expect(run.code).toBe(0);
    const result = JSON.parse(readFileSync(`${out}/result.json`, 'utf8'));
    expect(result.stats.disturbances['kill -9 service']).toBe(2);
    expect(result.stack.serviceStarts).toBe(3);
    expect(result.checks.map((c: { name: string }) => c.name)).toEqual([
      'accounts-open',
      'accepted',
      'settles',
      'no-stray-accounts',
      'accounts-exist',
      'exactly-once',
      'conservation',
      'reconciliation',
    ]);
    if (process.env.DATABASE_URL !== undefined) expect(result.stack.store).toMatch(/^Postgres/);
  }, 240_000);

  it('certifies a black box over the documented contract: mtproof service with --harness-contract on the MT5 Web API', async () => {
    const [simPort, webApiPort, servicePort] = [await freePort(), await freePort(), await freePort()];
    const config = tempFile('broker.json', JSON.stringify(shortDayBrokerConfig(`127.0.0.1:${webApiPort}`)));
    const key = 'black-box-test-key-0123456789';
    const env = {
      ...process.env,
      MTPROOF_API_KEY: key,
      MTPROOF_MT4_LIVE_EU_PASSWORD: 'Manager#1',
      MTPROOF_MT5_LIVE_GLOBAL_PASSWORD: 'Manager#1',
      MTPROOF_MT4_DEMO_PASSWORD: 'Manager#1',
      BLACK_BOX_TOKEN: key,
    };
    const service = new MtproofProcess(
      'service',
      [
        'service',
        '--store',
        'memory',
        '--config',
        config,
        '--port',
        String(servicePort),
        '--sim-url',
        `http://127.0.0.1:${simPort}`,
        '--mt5-webapi',
        '--mt5-webapi-scheme',
        'http',
        '--harness-contract',
      ],
      env,
      new SystemClock(),
      process.cwd(),
    );
    try {
      await service.waitFor(/harness contract/, 60_000);
      const saved = process.env.BLACK_BOX_TOKEN;
      process.env.BLACK_BOX_TOKEN = key;
      const run = await cli(
        'certify',
        '--integration-url',
        `http://127.0.0.1:${servicePort}/harness/v1`,
        '--integration-token-env',
        'BLACK_BOX_TOKEN',
        '--sim-port',
        String(simPort),
        '--mt5-webapi-port',
        String(webApiPort),
        '--seed',
        '8',
        '--ops',
        '20',
        '--fault-intensity',
        '1',
        '--out',
        tempFile('keep', '').replace(/keep$/, 'bb'),
      ).finally(() => {
        if (saved === undefined) delete process.env.BLACK_BOX_TOKEN;
        else process.env.BLACK_BOX_TOKEN = saved;
      });
      expect(run.out, `${run.err}\n${service.output.slice(-30).join('\n')}`).toContain('PASS');
      expect(run.out).toContain(`MT5 Web API of mt5-live-global: http://127.0.0.1:${webApiPort}`);
      expect(run.code).toBe(0);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('refuses contradictory and bad flags with coded errors', async () => {
    const both = await cli('certify', '--stack', 'real', '--integration-url', 'http://127.0.0.1:9/x');
    expect(both.code).toBe(2);
    expect(both.err).toContain('MTP_CLI_BAD_FLAG');
    const intensity = await cli('certify', '--stack', 'real', '--fault-intensity', 'lots');
    expect(intensity.code).toBe(2);
    expect(intensity.err).toContain('--fault-intensity');
    const ops = await cli('certify', '--stack', 'real', '--ops', '0');
    expect(ops.code).toBe(2);
    const url = await cli('certify', '--integration-url', 'ftp://nowhere');
    expect(url.code).toBe(2);
    expect(url.err).toMatch(/MTP_INTEGRATION_URL_INVALID|MTP_CLI_BAD_FLAG/);
  });
});
