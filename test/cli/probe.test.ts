import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpManagerApi } from '../../adapters/http/index.ts';
import { Mt4DllManagerApi } from '../../adapters/mt4-dll/index.ts';
import { Mt5DllManagerApi } from '../../adapters/mt5-dll/index.ts';
import { SystemClock } from '../../kit/clock.ts';
import { runProbe } from '../../scenarios/probe.ts';
import { SimHost } from '../../simulator/http/host.ts';
import { type Served, serveSimulator } from '../../simulator/http/serve.ts';
import { buildMt4Fake, gxxMissing, mt4FakeHooks } from '../fixtures/mt4-fake/build.ts';
import { buildMt5Fake, HAVE_GXX, resetMt5Fake } from '../fixtures/mt5-fake/build.ts';
import { cli } from './helpers.ts';

/**
 * `mtproof probe` against `mtproof sim serve`'s surfaces, in process: the MT5 Web API adapter and the native one,
 * read-only and with the round trip, and what it says when an answer is lost.
 */

let host: SimHost;
let served: Served;
let demoLogin: number;
const MT5 = 'mt5-live-global';

beforeAll(async () => {
  host = new SimHost({ seed: 'probe-test', tickMs: 2 });
  host.start();
  served = await serveSimulator(host, { port: 0, webApiBasePort: 0, app: { sessions: { timeoutMs: 500 } } });
  const created = host.cluster.server(MT5).createAccount({
    group: 'real\\standard-usd',
    name: 'Probe Demo',
    password: 'Passw0rd!x',
  } as Parameters<ReturnType<typeof host.cluster.server>['createAccount']>[0]);
  if (!created.ok) throw new Error(created.detail);
  demoLogin = created.value.login;
  host.cluster.dealer(MT5).balanceCorrection(demoLogin, 100_00, 'funding');
  process.env.PROBE_TEST_PASSWORD = 'Manager#1';
  process.env.PROBE_TEST_WRONG = 'Wrong#123';
});

afterAll(async () => {
  await served.close();
  await host.stop();
  delete process.env.PROBE_TEST_PASSWORD;
  delete process.env.PROBE_TEST_WRONG;
});

const webApi = () => served.webApi[0]?.url.replace('http://', '') as string;

describe('mtproof probe', () => {
  it('passes the read-only checks and a round trip on the MT5 Web API, leaving the balance where it was', async () => {
    const run = await cli(
      'probe',
      '--adapter',
      'mt5-webapi',
      '--server',
      webApi(),
      '--scheme',
      'http',
      '--login',
      '1000',
      '--password-env',
      'PROBE_TEST_PASSWORD',
      '--round-trip',
      String(demoLogin),
    );
    expect(run.out, run.err).toContain('verdict: PASS');
    expect(run.code).toBe(0);
    for (const check of ['connect', 'server time', 'ping', 'groups', 'one account', 'history', 'round trip: deposit']) {
      expect(run.out).toMatch(new RegExp(`ok +${check}`));
    }
    expect(run.out).toMatch(/ok +round trip: balance after +\d+: back to 10000/);
    expect(host.cluster.server(MT5).accounts.get(demoLogin)?.balanceCents).toBe(100_00);
  });

  it('reads an MT4 server of the served simulator through the native adapter, rights included', async () => {
    const run = await cli(
      'probe',
      '--adapter',
      'http',
      '--server',
      served.url.replace('http://', ''),
      '--server-id',
      'mt4-live-eu',
      '--login',
      '1000',
      '--password-env',
      'PROBE_TEST_PASSWORD',
      '--json',
    );
    const report = JSON.parse(run.out);
    expect(report.passed).toBe(true);
    expect(report.checks.find((c: { name: string }) => c.name === 'rights').status).toBe('ok');
  });

  it('fails at connect with a wrong password, and refuses bad flags with exit 2', async () => {
    const wrong = await cli(
      'probe',
      '--adapter',
      'mt5-webapi',
      '--server',
      webApi(),
      '--scheme',
      'http',
      '--login',
      '1000',
      '--password-env',
      'PROBE_TEST_WRONG',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(/failed +connect/);
    for (const flags of [
      ['--adapter', 'mt9-dll', '--server', 'h:1', '--login', '1', '--password-env', 'PROBE_TEST_PASSWORD'],
      ['--adapter', 'mt5-webapi', '--server', 'nohost', '--login', '1', '--password-env', 'PROBE_TEST_PASSWORD'],
      ['--adapter', 'mt5-webapi', '--server', 'h:1', '--login', 'x', '--password-env', 'PROBE_TEST_PASSWORD'],
      ['--adapter', 'mt5-webapi', '--server', 'h:1', '--login', '1', '--password-env', 'UNSET_VARIABLE_X'],
      ['--adapter', 'http', '--server', 'h:1', '--login', '1', '--password-env', 'PROBE_TEST_PASSWORD'],
    ]) {
      const run = await cli('probe', ...flags);
      expect(run.code, flags.join(' ')).toBe(2);
      expect(run.err).toContain('MTP_CLI_BAD_FLAG');
    }
  });

  it('stops the round trip on a deposit whose answer was lost, looks at history, and does not send it again', async () => {
    const api = new HttpManagerApi({ url: served.url, serverId: MT5, platform: 'mt5', timeoutMs: 5_000 });
    const before = host.cluster.server(MT5).allBalanceOps(demoLogin).length;
    const armed = { done: false };
    const report = await runProbe({
      api: {
        serverId: api.serverId,
        platform: api.platform,
        limits: api.limits,
        connect: (c) => api.connect(c),
        close: () => api.close(),
        isConnected: () => api.isConnected(),
        ping: () => api.ping(),
        serverTime: () => api.serverTime(),
        createAccount: (a) => api.createAccount(a),
        getAccount: (l) => api.getAccount(l),
        listAccounts: (m) => api.listAccounts(m),
        updateAccount: (l, p) => api.updateAccount(l, p),
        setPassword: (l, k, p) => api.setPassword(l, k, p),
        postBalance: (r) => {
          // The deposit's answer is lost after the server applied it.
          if (!armed.done) {
            armed.done = true;
            host.cluster.inject(MT5, 'timeoutAfterApply');
          }
          return api.postBalance(r);
        },
        balanceHistory: (l, f, t) => api.balanceHistory(l, f, t),
        marginLevel: (l) => api.marginLevel(l),
        trades: (l, f, t) => api.trades(l, f, t),
        openPositions: (l) => api.openPositions(l),
        openPositionsOf: (ls) => api.openPositionsOf(ls),
        groups: () => api.groups(),
        subscribe: (listener) => api.subscribe(listener),
      },
      clock: new SystemClock(),
      credentials: { login: 1000, password: 'Manager#1' },
      roundTrip: demoLogin,
    });
    expect(report.passed).toBe(false);
    const deposit = report.checks.find((c) => c.name === 'round trip: deposit');
    expect(deposit?.status).toBe('failed');
    expect(deposit?.detail).toMatch(/shows it applied as ticket \d+ — not sent again/);
    expect(report.checks.some((c) => c.name === 'round trip: withdrawal')).toBe(false);
    expect(host.cluster.server(MT5).allBalanceOps(demoLogin).length).toBe(before + 1);
  });
});

describe('mtproof probe --adapter mt4-dll (over the g++ fake of mtmanapi64.dll)', () => {
  const missing = gxxMissing();
  it.skipIf(missing !== null)('passes the read-only checks and a round trip through the DLL adapter', async () => {
    const lib = buildMt4Fake();
    mt4FakeHooks(lib).reset();
    // A funded demo account, made through the same adapter the probe uses.
    const api = new Mt4DllManagerApi({ serverId: 'fake', address: '127.0.0.1:443', libraryPath: lib });
    expect((await api.connect({ login: 1000, password: 'Manager#1' })).ok).toBe(true);
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Probe Demo', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error(created.error.message);
    const funded = await api.postBalance({
      login: created.value.login,
      amountCents: 500_00,
      kind: 'balance',
      comment: 'fund',
    });
    expect(funded.ok).toBe(true);
    await api.close();
    const run = await cli(
      'probe',
      '--adapter',
      'mt4-dll',
      '--dll',
      lib,
      '--server',
      '127.0.0.1:443',
      '--login',
      '1000',
      '--password-env',
      'PROBE_TEST_PASSWORD',
      '--round-trip',
      String(created.value.login),
    );
    expect(run.out, run.err).toContain('verdict: PASS');
    expect(run.out).toMatch(/ok +rights/);
    expect(run.out).toMatch(/ok +round trip: balance after +\d+: back to 50000/);
  });
});

describe('mtproof probe --adapter mt5-dll (over the g++ fake of MT5APIManager64.dll)', () => {
  it.skipIf(!HAVE_GXX)('passes the read-only checks and a round trip through the DLL adapter', async () => {
    const lib = buildMt5Fake();
    resetMt5Fake(lib);
    const api = new Mt5DllManagerApi({ serverId: 'fake', address: '127.0.0.1:443', dllPath: lib });
    expect((await api.connect({ login: 1000, password: 'Passw0rd!m' })).ok).toBe(true);
    const created = await api.createAccount({ group: 'demo\\forex', name: 'Probe Demo', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error(created.error.message);
    const funded = await api.postBalance({
      login: created.value.login,
      amountCents: 500_00,
      kind: 'balance',
      comment: 'fund',
    });
    expect(funded.ok).toBe(true);
    await api.close();
    process.env.PROBE_TEST_MT5_FAKE = 'Passw0rd!m';
    const run = await cli(
      'probe',
      '--adapter',
      'mt5-dll',
      '--dll',
      lib,
      '--server',
      '127.0.0.1:443',
      '--login',
      '1000',
      '--password-env',
      'PROBE_TEST_MT5_FAKE',
      '--round-trip',
      String(created.value.login),
    ).finally(() => {
      delete process.env.PROBE_TEST_MT5_FAKE;
    });
    expect(run.out, run.err).toContain('verdict: PASS');
    expect(run.out).toMatch(/ok +round trip: balance after +\d+: back to 50000/);
  });
});
