import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnsiCodec } from '../../adapters/mt4-dll/codec.ts';
import { Mt4DllManagerApi } from '../../adapters/mt4-dll/index.ts';
import type { PumpEvent } from '../../adapters/port/manager-api.ts';
import { buildMt4Fake, gxxMissing, mt4FakeHooks } from '../fixtures/mt4-fake/build.ts';

/**
 * The MT4 DLL adapter's answers at the edges a review found: silent logouts, close() racing multi-step calls
 * and subscriptions, texts that do not fit their fields, double-byte code pages, a server-side pumping stop,
 * and interfaces left behind by a failed connect.
 */

const missing = gxxMissing();
const CREDENTIALS = { login: 1000, password: 'Manager#1' };
let libPath = '';
const opened: Mt4DllManagerApi[] = [];

function newApi(): Mt4DllManagerApi {
  const api = new Mt4DllManagerApi({ serverId: 'mt4-fake', address: '127.0.0.1:443', libraryPath: libPath });
  opened.push(api);
  return api;
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

describe('mt4-dll code pages', () => {
  it('refuses a double-byte code page at construction with MTP_DLL_CODEPAGE', () => {
    for (const page of ['gbk', 'shift_jis', 'big5', 'euc-kr']) {
      expect(() => new AnsiCodec(page)).toThrow(expect.objectContaining({ code: 'MTP_DLL_CODEPAGE' }));
      expect(
        () => new Mt4DllManagerApi({ serverId: 's', address: 'h:1', libraryPath: '/nonexistent', codePage: page }),
      ).toThrow(expect.objectContaining({ code: 'MTP_DLL_CODEPAGE' }));
    }
  });

  it('refuses an unknown code page with MTP_DLL_CODEPAGE and accepts single-byte ones', () => {
    expect(() => new AnsiCodec('no-such-page')).toThrow(expect.objectContaining({ code: 'MTP_DLL_CODEPAGE' }));
    for (const page of ['windows-1250', 'windows-1251', 'windows-1252', 'iso-8859-7', 'koi8-r']) {
      expect(new AnsiCodec(page).codePage).toBe(page);
    }
  });

  it('encodes a field exactly or says why not (too long, or a character the page lacks)', () => {
    const codec = new AnsiCodec();
    expect(codec.encodeExact('Café', 16)).toBeInstanceOf(Uint8Array);
    expect(codec.encodeExact('a'.repeat(15), 16)).toBeInstanceOf(Uint8Array);
    expect(typeof codec.encodeExact('a'.repeat(16), 16)).toBe('string');
    expect(typeof codec.encodeExact('Zhang 张', 128)).toBe('string');
  });
});

describe.skipIf(missing !== null)('mt4-dll over the g++ fake: edge answers', () => {
  beforeAll(() => {
    libPath = buildMt4Fake();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((api) => api.close().catch(() => undefined)));
    mt4FakeHooks(libPath).reset();
  });

  it('answers balanceHistory after a silent logout with a failure, not an empty history', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Silent', password: 'Passw0rd!x' });
    if (!created.ok) throw created.error;
    const login = created.value.login;
    // Before the logout an account without operations has an empty history (NULL + Ping RET_OK).
    expect(await api.balanceHistory(login, 0, 2 ** 31 - 1)).toEqual({ ok: true, value: [] });
    mt4FakeHooks(libPath).logoutSilently();
    const history = await api.balanceHistory(login, 0, 2 ** 31 - 1);
    expect(history.ok).toBe(false);
    if (!history.ok) expect(history.error.reason).toBe('no_connection');
    const account = await api.getAccount(login);
    expect(account.ok).toBe(false);
    if (!account.ok) expect(account.error.reason).toBe('no_connection');
  });

  it('answers listAccounts, groups and openPositions after a silent logout with a failure', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    mt4FakeHooks(libPath).logoutSilently();
    expect((await api.listAccounts('*')).ok).toBe(false);
    const fresh = newApi();
    expect((await fresh.connect(CREDENTIALS)).ok).toBe(true);
    mt4FakeHooks(libPath).logoutSilently();
    expect((await fresh.groups()).ok).toBe(false);
  });

  it('answers updateAccount overtaken by close() with not connected, nothing sent', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Race', password: 'Passw0rd!x' });
    if (!created.ok) throw created.error;
    // updateAccount reads the record, then writes it: close() releases the interface in between.
    const updating = api.updateAccount(created.value.login, { leverage: 50 });
    const closing = api.close();
    const updated = await updating;
    await closing;
    expect(updated.ok).toBe(false);
    if (!updated.ok) expect([updated.error.outcome, updated.error.reason]).toEqual(['unavailable', 'no_connection']);
    const other = newApi();
    expect((await other.connect(CREDENTIALS)).ok).toBe(true);
    const account = await other.getAccount(created.value.login);
    expect(account.ok && account.value.leverage).toBe(100);
  });

  it('answers createAccount and marginLevel overtaken by close() with not connected', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Race', password: 'Passw0rd!x' });
    if (!created.ok) throw created.error;
    // Without a leverage createAccount reads the groups first; marginLevel reads the user after the level.
    const creating = api.createAccount({ group: 'eu-std-usd', name: 'Late', password: 'Passw0rd!x' });
    const level = api.marginLevel(created.value.login);
    await api.close();
    for (const r of [await creating, await level]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.reason).toBe('no_connection');
    }
  });

  it('delivers no events after close() to a subscription still being set up', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const events: PumpEvent[] = [];
    const before = mt4FakeHooks(libPath).liveInterfaces();
    const subscribing = api.subscribe((event) => events.push(event));
    await api.close();
    const sub = await subscribing;
    expect(sub.ok).toBe(false);
    // A second manager on the same (shared) fake server posts a deposit.
    const other = newApi();
    expect((await other.connect(CREDENTIALS)).ok).toBe(true);
    const created = await other.createAccount({ group: 'eu-std-usd', name: 'Late Event', password: 'Passw0rd!x' });
    if (!created.ok) throw created.error;
    await other.postBalance({ login: created.value.login, amountCents: 1000, kind: 'balance', comment: 'late' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    // The main and the pumping interface of the closed api are released; `other` holds one.
    expect(mt4FakeHooks(libPath).liveInterfaces()).toBe(before);
  });

  it('ends a subscription the server stopped: `stopped`, then its pumping interface is released', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const hooks = mt4FakeHooks(libPath);
    const before = hooks.liveInterfaces();
    const events: PumpEvent[] = [];
    const sub = await api.subscribe((event) => events.push(event));
    expect(sub.ok).toBe(true);
    expect(hooks.liveInterfaces()).toBe(before + 1);
    hooks.stopPumping();
    expect(await until(() => events.some((e) => e.type === 'stopped'))).toBe(true);
    expect(await until(() => hooks.liveInterfaces() === before)).toBe(true);
  });

  it('refuses a password that does not fit UserRecord.password char[16] before sending', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    // 16 characters: within the 8–16 rule of metatrader/limits.ts, one too many for char[16] with its NUL.
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Cut Pw', password: 'Abcdefgh12345678' });
    expect(created.ok).toBe(false);
    if (!created.ok) expect([created.error.code, created.error.reason]).toEqual([3, 'invalid']);
    const listed = await api.listAccounts('*');
    expect(listed.ok && listed.value).toEqual([]);
    const pw = await api.setPassword(500000, 'main', 'Abcdefgh12345678');
    expect(!pw.ok && pw.error.reason).toBe('invalid');
  });

  it('refuses names and groups the code page cannot hold, or too long for their field', async () => {
    const api = newApi();
    expect((await api.connect(CREDENTIALS)).ok).toBe(true);
    const chinese = await api.createAccount({ group: 'eu-std-usd', name: 'Zhang 张', password: 'Passw0rd!x' });
    expect(!chinese.ok && chinese.error.reason).toBe('invalid');
    const longGroup = await api.createAccount({ group: 'g'.repeat(16), name: 'Long', password: 'Passw0rd!x' });
    expect(!longGroup.ok && longGroup.error.reason).toBe('invalid');
    const created = await api.createAccount({ group: 'eu-std-usd', name: 'Fine', password: 'Passw0rd!x' });
    if (!created.ok) throw created.error;
    const email = await api.updateAccount(created.value.login, { email: `${'e'.repeat(48)}@x.com` });
    expect(!email.ok && email.error.reason).toBe('invalid');
    const account = await api.getAccount(created.value.login);
    expect(account.ok && account.value.email).toBe('');
  });

  it('releases the interface of a failed login', async () => {
    const hooks = mt4FakeHooks(libPath);
    const before = hooks.liveInterfaces();
    const api = newApi();
    const r = await api.connect({ login: 1000, password: 'wrong' });
    expect(r.ok).toBe(false);
    expect(api.isConnected()).toBe(false);
    expect(hooks.liveInterfaces()).toBe(before);
  });
});
