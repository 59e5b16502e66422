import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Mt5DllManagerApi } from '../../adapters/mt5-dll/index.ts';
import { loadMt5Library } from '../../adapters/mt5-dll/native.ts';
import type { PumpEvent } from '../../adapters/port/manager-api.ts';
import { MtproofError } from '../../kit/errors.ts';
import { buildMt5Fake, HAVE_GXX, type Mt5FakeHooks, mt5FakeHooks, resetMt5Fake } from '../fixtures/mt5-fake/build.ts';

const NO_GXX = HAVE_GXX ? '' : ' (skipped: g++ is not installed, the fake libraries cannot be compiled)';

// A library that reports `version` and whose factory refuses any header version but 3802.
const versionedSource = (version: number): string => `
#include <cstdint>
static void *vt[1]; static void *obj = vt;
extern "C" uint32_t MTManagerVersion(uint32_t &v) { v = ${version}; return 0; }
extern "C" uint32_t MTManagerCreateExt(uint32_t api, const char16_t *, void **o) { if (api != 3802) return 2; *o = &obj; return 0; }
extern "C" uint32_t MTManagerCreate(uint32_t api, void **o) { return MTManagerCreateExt(api, nullptr, o); }
`;

function versionedLibrary(version: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'mt5-version-'));
  writeFileSync(join(dir, 'v.cpp'), versionedSource(version));
  const lib = join(dir, 'libv.so');
  execFileSync('g++', ['-shared', '-fPIC', '-o', lib, join(dir, 'v.cpp')]);
  return lib;
}

describe.skipIf(!HAVE_GXX)(`mt5-dll version check${NO_GXX}`, () => {
  it('accepts a DLL newer than 3802 and still creates the manager with header version 3802', () => {
    const lib = loadMt5Library(versionedLibrary(4540));
    expect(lib.dllVersion).toBe(4540);
    expect(lib.createManager()).not.toBeNull();
  });

  it('refuses a DLL older than 3802 with MTP_DLL_CREATE', () => {
    let error: unknown;
    try {
      loadMt5Library(versionedLibrary(2690));
    } catch (err) {
      error = err;
    }
    expect(error instanceof MtproofError && error.code).toBe('MTP_DLL_CREATE');
  });
});

describe.skipIf(!HAVE_GXX)(`Mt5DllManagerApi failure handling over the fake${NO_GXX}`, () => {
  let lib = '';
  let fake: Mt5FakeHooks;
  const credentials = { login: 1000, password: 'Passw0rd!m' };
  const make = (): Mt5DllManagerApi =>
    new Mt5DllManagerApi({ serverId: 'mt5-fake', address: '127.0.0.1:443', dllPath: lib });
  const connected = async (): Promise<Mt5DllManagerApi> => {
    const api = make();
    const r = await api.connect(credentials);
    if (!r.ok) throw new Error(r.error.message);
    return api;
  };
  const newLogin = async (api: Mt5DllManagerApi, name = 'A'): Promise<number> => {
    const r = await api.createAccount({ group: 'demo\\forex', name, password: 'Passw0rd!x' });
    if (!r.ok) throw new Error(r.error.message);
    return r.value.login;
  };

  beforeAll(() => {
    lib = buildMt5Fake();
    fake = mt5FakeHooks(lib);
  }, 120_000);
  beforeEach(() => resetMt5Fake(lib));

  it('releases the manager object on close, answers not connected after it, and reconnects with a new one', async () => {
    const before = fake.liveManagers();
    const api = await connected();
    expect(fake.liveManagers()).toBe(before + 1);
    await api.close();
    expect(fake.liveManagers()).toBe(before);
    expect(api.isConnected()).toBe(false);
    const r = await api.getAccount(1);
    expect(!r.ok && [r.error.code, r.error.outcome, r.error.reason]).toEqual([10, 'unavailable', 'no_connection']);
    expect((await api.connect(credentials)).ok).toBe(true);
    expect(fake.liveManagers()).toBe(before + 1);
    expect((await api.groups()).ok).toBe(true);
    await api.close();
    expect(fake.liveManagers()).toBe(before);
  });

  it('answers unknown/platform_error, never throws, when the native call of a change fails', async () => {
    const api = await connected();
    const login = await newLogin(api);
    const bad = 'not a login' as unknown as number;
    const changes = [
      await api.postBalance({ login: bad, amountCents: 100, kind: 'balance', comment: 'x' }),
      await api.setPassword(bad, 'main', 'Passw0rd!y'),
      await api.updateAccount(bad, { name: 'B' }),
      await api.createAccount({ login: bad, group: 'demo\\forex', name: 'A', password: 'Passw0rd!x' }),
    ];
    for (const r of changes) expect(!r.ok && [r.error.outcome, r.error.reason]).toEqual(['unknown', 'platform_error']);
    const read = await api.getAccount(bad);
    expect(!read.ok && [read.error.outcome, read.error.reason]).toEqual(['unavailable', 'platform_error']);
    // The failure says nothing about the link: later calls go through.
    expect((await api.getAccount(login)).ok).toBe(true);
    await api.close();
  });

  it('keeps a sink alive when Unsubscribe fails, so the DLL can still call it safely', async () => {
    const api = await connected();
    const login = await newLogin(api);
    const events: PumpEvent[] = [];
    const sub = await api.subscribe((e) => events.push(e));
    if (!sub.ok) throw new Error(sub.error.message);
    fake.failUnsubscribe(2);
    sub.value.close();
    // Queued behind the unsubscribes: they have answered when this returns.
    await api.serverTime();
    // The fake still holds the sinks and calls them: freed callbacks would crash the process here.
    const posted = await api.postBalance({ login, amountCents: 100, kind: 'balance', comment: 'after' });
    expect(posted.ok).toBe(true);
    expect(events).toEqual([]);
    fake.failUnsubscribe(0);
    await api.close();
  });

  it('answers rejected/invalid without sending UserAdd or UserUpdate when an IMTUser setter refuses', async () => {
    const api = await connected();
    const login = await newLogin(api);
    fake.refuseUserSetters(4);
    const created = await api.createAccount({ group: 'demo\\forex', name: 'B', password: 'Passw0rd!x' });
    expect(!created.ok && [created.error.code, created.error.outcome, created.error.reason]).toEqual([
      4,
      'rejected',
      'invalid',
    ]);
    const updated = await api.updateAccount(login, { name: 'C' });
    expect(!updated.ok && [updated.error.code, updated.error.outcome, updated.error.reason]).toEqual([
      4,
      'rejected',
      'invalid',
    ]);
    fake.refuseUserSetters(0);
    const list = await api.listAccounts('*');
    expect(list.ok && list.value.map((a) => [a.login, a.name])).toEqual([[login, 'A']]);
    await api.close();
  });

  it('keeps sending after MT_RET_ERR_CONNECTION and is connected again once the DLL has reconnected', async () => {
    const api = await connected();
    const login = await newLogin(api);
    fake.setLink(false);
    const down = await api.getAccount(login);
    expect(!down.ok && [down.error.code, down.error.outcome]).toEqual([10, 'unavailable']);
    expect(api.isConnected()).toBe(false);
    fake.setLink(true);
    expect((await api.getAccount(login)).ok).toBe(true);
    expect(api.isConnected()).toBe(true);
    await api.close();
  });

  it.each([
    [7, 'MT_RET_ERR_NETWORK'],
    [10031, 'MT_RET_REQUEST_CONNECTION'],
  ])('stays connected after %i (%s): the API reconnects by itself', async (code) => {
    const api = await connected();
    const login = await newLogin(api);
    fake.failNext(code);
    const r = await api.postBalance({ login, amountCents: 100, kind: 'balance', comment: 'x' });
    expect(!r.ok && [r.error.code, r.error.outcome]).toEqual([code, 'unknown']);
    expect(api.isConnected()).toBe(true);
    expect((await api.getAccount(login)).ok).toBe(true);
    await api.close();
  });

  it('escapes = | \\ and line feed in string parameters: a balance comment and user fields round-trip', async () => {
    const api = await connected();
    const name = 'Ann|Bo=C\\D\nE';
    const login = await newLogin(api, name);
    const comment = 'ref|a=b\\c\nd';
    const posted = await api.postBalance({ login, amountCents: 100, kind: 'balance', comment });
    expect(posted.ok && posted.value.comment).toBe(comment);
    const history = await api.balanceHistory(login, 0, 4_000_000_000);
    expect(history.ok && history.value.map((op) => op.comment)).toEqual([comment]);
    const account = await api.getAccount(login);
    expect(account.ok && account.value.name).toBe(name);
    expect((await api.updateAccount(login, { country: 'X|Y' })).ok).toBe(true);
    const after = await api.getAccount(login);
    expect(after.ok && after.value.country).toBe('X|Y');
    await api.close();
  });
});
