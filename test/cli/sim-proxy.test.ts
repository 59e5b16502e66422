import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { addProxyCommand } from '../../cli/sim-proxy.ts';
import { MtproofError } from '../../kit/errors.ts';
import { client, type Upstream, until, upstream } from '../simulator/proxy/helpers.ts';
import { tempFile } from './helpers.ts';

/**
 * `mtproof sim proxy`, run in process under a `sim` command configured as `main` configures it (output into
 * buffers, commander's exits overridden, coded errors → exit 2).
 */
function start(argv: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  let stop: (reason: string) => void = () => {};
  const stopSignal = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const program = new Command('mtproof')
    .exitOverride()
    .configureOutput({ writeOut: (t) => (out += t), writeErr: (t) => (err += t), outputError: () => {} });
  const sim = program.command('sim').exitOverride();
  addProxyCommand(sim, { stopSignal, cwd: process.cwd() });
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const done = program.parseAsync(['node', 'mtproof', 'sim', 'proxy', ...argv]).then(
    () => 0,
    (error: unknown) => {
      if (error instanceof CommanderError) {
        err += `error MTP_CLI_BAD_FLAG: ${error.message.replace(/^error: /, '')}\n`;
        return 2;
      }
      if (error instanceof MtproofError) {
        err += `error ${error.code}: ${error.message}\n`;
        return 2;
      }
      err += `internal error: ${String(error)}\n`;
      return 3;
    },
  );
  return {
    done: done.finally(() => {
      for (const key of Object.keys(env)) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }),
    stop: (reason = 'test') => stop(reason),
    out: () => out,
    err: () => err,
  };
}

let server: Upstream | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe('mtproof sim proxy', () => {
  it('forwards through the proxy, answers on the control API, prints its addresses and seed, and stops cleanly', async () => {
    server = await upstream();
    const toxics = tempFile('toxics.yaml', '- type: latency\n  name: slow\n  attributes: { latencyMs: 1 }\n');
    const run = start(
      [
        '--listen',
        '127.0.0.1:0',
        '--upstream',
        `127.0.0.1:${server.port}`,
        '--control-port',
        '0',
        '--seed',
        'cli-seed',
        '--toxics',
        toxics,
        '--token-env',
        'SIM_PROXY_TEST_TOKEN',
      ],
      { SIM_PROXY_TEST_TOKEN: 'a-token-long-enough-1234' },
    );
    await until(() => run.out().includes('seed '), 5_000, 'the banner');
    const proxyPort = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(run.out())?.[1]);
    const controlPort = Number(/control API on http:\/\/127\.0\.0\.1:(\d+)/.exec(run.out())?.[1]);
    expect(run.out()).toContain('seed cli-seed');
    expect(run.out()).toContain('token from SIM_PROXY_TEST_TOKEN');
    expect(run.out()).toContain('(1 toxic)');

    const c = await client(proxyPort);
    c.socket.write('hello');
    expect((await c.read(5)).toString()).toBe('hello');
    c.socket.destroy();

    const refused = await fetch(`http://127.0.0.1:${controlPort}/proxies`);
    expect(refused.status).toBe(401);
    const listed = await fetch(`http://127.0.0.1:${controlPort}/proxies/main`, {
      headers: { authorization: 'Bearer a-token-long-enough-1234' },
    });
    expect(listed.status).toBe(200);
    const view = (await listed.json()) as { seed: string; toxics: { name: string }[] };
    expect(view.seed).toBe('cli-seed');
    expect(view.toxics.map((t) => t.name)).toEqual(['slow']);

    run.stop('SIGTERM');
    expect(await run.done).toBe(0);
    expect(run.out()).toContain('stopping (SIGTERM)');
    expect(run.out()).toContain('stopped');
    // Everything was closed: the proxy port refuses.
    const after = await client(proxyPort).then((x) => x.ended);
    expect(after).toBe('ECONNREFUSED');
  });

  it('refuses a control API beyond loopback without a token, before listening anywhere', async () => {
    const run = start(['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--control-host', '0.0.0.0']);
    expect(await run.done).toBe(2);
    expect(run.err()).toContain('error MTP_SIM_TOKEN_REQUIRED');
  });

  it.each([
    [['--listen', '127.0.0.1', '--upstream', '127.0.0.1:9'], 'MTP_CLI_BAD_FLAG', '--listen'],
    [['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:0'], 'MTP_CLI_BAD_FLAG', '--upstream'],
    [['--listen', '127.0.0.1:0'], 'MTP_CLI_BAD_FLAG', '--upstream'],
    [['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--control-port', 'x'], 'MTP_CLI_BAD_FLAG', '--control-port'],
    [['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--name', 'a/b'], 'MTP_CLI_BAD_FLAG', '--name'],
    [['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--seed', 'a/b'], 'MTP_CLI_BAD_FLAG', '--seed'],
    [
      ['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--token-env', 'SIM_PROXY_UNSET_VAR'],
      'MTP_SECRET_MISSING',
      'SIM_PROXY_UNSET_VAR',
    ],
    [
      ['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--toxics', '/nonexistent/toxics.yaml'],
      'MTP_CONFIG_UNREADABLE',
      'no such file',
    ],
  ])('refuses bad flags with a coded error and exit 2: %j', async (argv, code, mention) => {
    const run = start(argv as string[]);
    expect(await run.done).toBe(2);
    expect(run.err()).toContain(`error ${code}`);
    expect(run.err()).toContain(mention);
  });

  it('names the bad field of a toxics file', async () => {
    const file = tempFile(
      'bad.json',
      JSON.stringify([{ type: 'blackhole' }, { type: 'latency', attributes: { latencyMs: -5 } }]),
    );
    const run = start(['--listen', '127.0.0.1:0', '--upstream', 'h:9', '--toxics', file]);
    expect(await run.done).toBe(2);
    expect(run.err()).toContain('error MTP_CONFIG_INVALID');
    expect(run.err()).toContain('toxics[1].attributes.latencyMs');
  });

  it('reports a listen address that is taken as a coded error', async () => {
    server = await upstream();
    const run = start([
      '--listen',
      `127.0.0.1:${server.port}`,
      '--upstream',
      `127.0.0.1:${server.port}`,
      '--control-port',
      '0',
    ]);
    expect(await run.done).toBe(2);
    expect(run.err()).toContain('error MTP_PROXY_LISTEN_FAILED');
  });
});
