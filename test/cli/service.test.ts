import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'mtproof.js');
const KEY = 'test-api-key-0123456789-abcdefghij';

/** Whether a container runtime answers here: with one, --containers would start real containers. */
const noDocker = await getContainerRuntimeClient().then(
  () => false,
  () => true,
);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtproof-service-'));
  dirs.push(dir);
  return dir;
}

/** Runs `fn` with the environment variables `vars` set (undefined: unset), restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

describe('mtproof service keys', () => {
  it('creates a key printed once, lists it by prefix, rotates and revokes it, in the PGlite store', async () => {
    const data = join(scratch(), 'store');
    const store = ['--store', 'pglite', '--data', data];
    const created = await cli('service', 'keys', 'create', '--name', 'crm', ...store);
    expect(created.code).toBe(0);
    const key = created.out.trim().split('\n').at(-1) as string;
    expect(key).toMatch(/^mtp_[A-Za-z0-9_-]{43}$/);
    expect(created.out).toContain('shown this once');

    const listed = await cli('service', 'keys', 'list', '--json', ...store);
    const [info] = JSON.parse(listed.out).list as { id: string; name: string; prefix: string; revokedMs: null }[];
    expect(info).toMatchObject({ name: 'crm', revokedMs: null });
    expect(key.startsWith(info?.prefix as string)).toBe(true);
    expect(listed.out).not.toContain(key);

    const rotated = await cli('service', 'keys', 'rotate', info?.id as string, '--json', ...store);
    const { rotated: r } = JSON.parse(rotated.out) as {
      rotated: { key: string; info: { id: string }; revoked: { id: string; revokedMs: number } };
    };
    expect(r.key).not.toBe(key);
    expect(r.revoked.id).toBe(info?.id);
    expect(r.revoked.revokedMs).toEqual(expect.any(Number));

    const revoked = await cli('service', 'keys', 'revoke', r.info.id, ...store);
    expect(revoked.code).toBe(0);
    expect(revoked.out).toContain(`revoked: ${r.info.id}`);
    const after = JSON.parse((await cli('service', 'keys', 'list', '--json', ...store)).out).list as {
      revokedMs: number | null;
    }[];
    expect(after.map((k) => k.revokedMs !== null)).toEqual([true, true]);

    const unknown = await cli('service', 'keys', 'revoke', 'K999999', ...store);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('error MTP_UNKNOWN_API_KEY');
  });

  it('refuses to manage keys in the memory store, which keeps nothing', async () => {
    const r = await cli('service', 'keys', 'create', '--store', 'memory');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CLI_BAD_FLAG');
  });
});

describe('mtproof service', () => {
  it('refuses to start without any API key, saying both ways to get one', async () => {
    const r = await withEnv({ MTPROOF_API_KEY: undefined }, () => cli('service', '--store', 'memory', '--port', '0'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_NO_API_KEY');
    expect(r.err).toContain('MTPROOF_API_KEY');
    expect(r.err).toContain('mtproof service keys create');
  });

  it('refuses the DLL adapters without their library, and an MT5 server through both the DLL and the Web API', async () => {
    const noLib = await withEnv({ MTPROOF_API_KEY: KEY, MTPROOF_MT4_DLL: undefined }, () =>
      cli('service', '--store', 'memory', '--port', '0', '--mt4-dll'),
    );
    expect(noLib.code).toBe(2);
    expect(noLib.err).toContain('--mt4-dll needs MTPROOF_MT4_DLL');
    const missingFile = await withEnv(
      { MTPROOF_API_KEY: KEY, MTPROOF_MT5_DLL: '/nonexistent/MT5APIManager64.dll' },
      () => cli('service', '--store', 'memory', '--port', '0', '--mt5-dll'),
    );
    expect(missingFile.code).toBe(2);
    expect(missingFile.err).toContain('no file /nonexistent/MT5APIManager64.dll');
    const both = await withEnv({ MTPROOF_API_KEY: KEY }, () =>
      cli('service', '--store', 'memory', '--port', '0', '--mt5-dll', '--mt5-webapi'),
    );
    expect(both.code).toBe(2);
    expect(both.err).toContain('not both');
  });

  it('refuses an MTPROOF_API_KEY too short to be a secret', async () => {
    const r = await withEnv({ MTPROOF_API_KEY: 'hunter2' }, () => cli('service', '--store', 'memory', '--port', '0'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_API_KEY_INVALID: MTPROOF_API_KEY must have at least 24 characters');
    expect(r.err).not.toContain('hunter2');
  });

  it('refuses an unknown MTPROOF_LOG_LEVEL with a coded message listing the levels', async () => {
    const r = await withEnv({ MTPROOF_API_KEY: KEY, MTPROOF_LOG_LEVEL: 'verbose' }, () =>
      cli('service', '--store', 'memory', '--port', '0'),
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_CLI_BAD_FLAG: MTPROOF_LOG_LEVEL must be one of');
    expect(r.err).toContain('not verbose');
  });

  it('says which port is taken when it cannot listen', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const r = await withEnv({ MTPROOF_API_KEY: KEY }, () =>
        cli('service', '--store', 'memory', '--port', String(port)),
      );
      expect(r.code).toBe(2);
      expect(r.err).toContain(`error MTP_CLI_BAD_FLAG: cannot listen on 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  });

  it('refuses a bad port and an unknown store with coded messages', async () => {
    const port = await cli('service', '--port', 'eighty');
    expect(port.code).toBe(2);
    expect(port.err).toContain('error MTP_CLI_BAD_FLAG: --port');
    const store = await cli('service', '--store', 'mysql');
    expect(store.code).toBe(2);
    expect(store.err).toContain('error MTP_CLI_BAD_FLAG: --store');
  });

  it.runIf(noDocker)('says clearly, with exit 2, that --containers needs Docker, and how to run instead', async () => {
    const r = await cli('service', '--containers', '--port', '0');
    expect(r.code).toBe(2);
    expect(r.err).toContain('error MTP_DOCKER_UNAVAILABLE');
    expect(r.err).toContain('DATABASE_URL');
    expect(r.err).toContain('AMQP_URL');
  });

  it('starts as a process on the embedded defaults, answers /health, /ready and POST /v1/clients, and stops on SIGTERM', {
    timeout: 90_000,
  }, async () => {
    const cwd = scratch();
    const env: NodeJS.ProcessEnv = { ...process.env, MTPROOF_API_KEY: KEY, MTPROOF_LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    delete env.AMQP_URL;
    const child = spawn(process.execPath, [BIN, 'service', '--port', '0'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await printedUrl(child, () => out, exited);
      expect(out).toContain(`store:   PGlite in ${join(cwd, '.mtproof')}`);
      expect(out).toContain('bus:     in-process');
      expect(out).toContain(`docs:    ${url}/docs`);
      expect(existsSync(join(cwd, '.mtproof'))).toBe(true);

      expect((await fetch(`${url}/health`)).status).toBe(200);
      const ready = await fetch(`${url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true, store: { ok: true } });
      const created = await fetch(`${url}/v1/clients`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${KEY}`,
          'idempotency-key': 'cli-test-1',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE' }),
      });
      expect(created.status).toBe(201);
      expect(await created.json()).toMatchObject({ id: 'C0000000001', kyc: 'none' });
      // PGlite is one process's database: managing keys in it while the service runs is refused, not a corruption.
      const busy = await cli('service', 'keys', 'list', '--store', 'pglite', '--data', join(cwd, '.mtproof'));
      expect(busy.code).toBe(2);
      expect(busy.err).toContain('error MTP_STORE_UNAVAILABLE');
      expect(busy.err).toContain(`open in process ${child.pid}`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('stopped');
    expect(err).not.toContain(KEY);
    // Stopped, the store is free again and kept the key MTPROOF_API_KEY registered.
    const listed = await cli('service', 'keys', 'list', '--json', '--store', 'pglite', '--data', join(cwd, '.mtproof'));
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toMatchObject({ list: [{ name: 'MTPROOF_API_KEY', revokedMs: null }] });
  });
});

/** The URL the service prints once it listens; fails if the process exits first or takes over a minute. */
async function printedUrl(child: ChildProcess, out: () => string, exited: Promise<number | null>): Promise<string> {
  let done = false;
  const found = new Promise<string>((resolve) => {
    const look = () => {
      const match = /listening on (http:\/\/\S+)[\s\S]*docs: /.exec(out());
      if (match !== null) {
        done = true;
        resolve(match[1] as string);
      }
    };
    child.stdout?.on('data', look);
    look();
  });
  const failed = exited.then((code) => {
    if (!done) throw new Error(`mtproof service exited (${code}) before listening:\n${out()}`);
    return '';
  });
  return Promise.race([found, failed]);
}
