import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Mt5DllManagerApi } from '../../adapters/mt5-dll/index.ts';
import {
  ACCOUNT_SLOT,
  ARRAY_SLOT,
  DEAL_SLOT,
  GROUP_SLOT,
  MANAGER_SLOT,
  MT5_EXPORTS,
  MT5_SLOT_COUNTS,
  USER_SLOT,
} from '../../adapters/mt5-dll/slots.ts';
import type { PumpEvent } from '../../adapters/port/manager-api.ts';
import { MtproofError } from '../../kit/errors.ts';
import { buildMt5Fake, HAVE_GXX, resetMt5Fake } from '../fixtures/mt5-fake/build.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FACTS = join(HERE, '../../../shared/reference/metatrader-api-facts.md');
const ABI_HEADER = join(HERE, '../fixtures/mt5-fake/mt5-abi.h');
const NO_GXX = 'g++ is not installed: the fake MT5 Manager API library cannot be compiled';

describe('mt5-dll slot tables', () => {
  it('places the manager methods at the facts file 2.4 slots', () => {
    expect(MANAGER_SLOT.Release).toBe(0);
    expect(MANAGER_SLOT.Connect).toBe(5);
    expect(MANAGER_SLOT.UserAdd).toBe(79);
    expect(MANAGER_SLOT.UserAccountRequest).toBe(93);
    expect(MANAGER_SLOT.DealerBalance).toBe(192);
    expect(MANAGER_SLOT.GroupGet).toBe(42);
  });

  it('orders the DealRequest overloads as MSVC does: the one declared second first', () => {
    // facts 2.4: 100 DealRequest(UINT64, INT64, INT64, IMTDealArray*) "2 of 2", 101 DealRequest(UINT64, IMTDeal*) "1 of 2".
    expect(MANAGER_SLOT.DealRequestByLogin).toBe(100);
    expect(MANAGER_SLOT.DealRequestByTicket).toBe(101);
  });

  it('places a data object setter just before its getter (facts 2.5)', () => {
    expect([USER_SLOT.LoginSet, USER_SLOT.Login]).toEqual([3, 4]);
    expect([USER_SLOT.LeverageSet, USER_SLOT.Leverage]).toEqual([45, 46]);
    expect(ACCOUNT_SLOT.Equity).toBe(28);
    expect(DEAL_SLOT.Profit).toBe(32);
    expect(GROUP_SLOT.MarginStopOut).toBe(63);
    expect([ARRAY_SLOT.Total, ARRAY_SLOT.Next]).toEqual([12, 13]);
  });

  it('names the factory exports of facts 2.1', () => {
    expect(Object.values(MT5_EXPORTS).sort()).toEqual(['MTManagerCreate', 'MTManagerCreateExt', 'MTManagerVersion']);
  });

  it.skipIf(!existsSync(FACTS))('agrees with every name of the facts file tables it uses', () => {
    const facts = readFileSync(FACTS, 'utf8');
    const named = (slot: number, name: string): boolean =>
      new RegExp(`\\| ${slot} \\| ${name.replace(/[()*]/g, '\\$&')}( \\||\\()`).test(facts);
    for (const [key, slot] of Object.entries(MANAGER_SLOT)) {
      const name = key.startsWith('DealRequest') ? 'DealRequest' : key;
      expect(named(slot, name), `IMTManagerAPI ${key} at ${slot}`).toBe(true);
    }
    expect(named(USER_SLOT.EMailSet, 'EMail(LPCWSTR)')).toBe(true);
    expect(named(USER_SLOT.EMail, 'EMail()')).toBe(true);
    expect(named(DEAL_SLOT.Comment, 'Comment()')).toBe(true);
  });

  it('gives the fake every slot of each interface, in the order of the tables', () => {
    const header = readFileSync(ABI_HEADER, 'utf8');
    const classes = [...header.matchAll(/class (\w+) \{([\s\S]*?)\n\};/g)];
    const counts = Object.fromEntries(
      classes.map(([, name, body]) => [name, [...(body ?? '').matchAll(/\/\* (\d+) /g)].map((m) => Number(m[1]))]),
    );
    for (const [name, count] of Object.entries(MT5_SLOT_COUNTS)) {
      expect(counts[name], name).toEqual(Array.from({ length: count }, (_, i) => i));
    }
    expect(header).toMatch(/\/\* 192 DealerBalance \*\/ virtual MTAPIRES DealerBalance\(/);
  });
});

describe.skipIf(!HAVE_GXX)(`Mt5DllManagerApi over the fake library${HAVE_GXX ? '' : ` (skipped: ${NO_GXX})`}`, () => {
  let lib = '';
  const credentials = { login: 1000, password: 'Passw0rd!m' };
  const make = (): Mt5DllManagerApi =>
    new Mt5DllManagerApi({ serverId: 'mt5-fake', address: '127.0.0.1:443', dllPath: lib });

  beforeAll(() => {
    lib = buildMt5Fake();
  }, 120_000);
  beforeEach(() => resetMt5Fake(lib));

  it('refuses a library path that does not load with MTP_DLL_LOAD', () => {
    expect(() => new Mt5DllManagerApi({ serverId: 's', address: 'a:1', dllPath: '/nonexistent/lib.so' })).toThrow(
      MtproofError,
    );
  });

  it('answers not connected without calling the library before connect', async () => {
    const r = await make().getAccount(1);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.code, r.error.outcome, r.error.reason]).toEqual([10, 'unavailable', 'no_connection']);
  });

  it('maps a wrong manager password to bad_credentials', async () => {
    const r = await make().connect({ login: 1000, password: 'wrong' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.code, r.error.reason]).toEqual([1001, 'bad_credentials']);
  });

  it('creates, reads and updates an account in UTF-16', async () => {
    const api = make();
    expect((await api.connect(credentials)).ok).toBe(true);
    const created = await api.createAccount({
      group: 'demo\\forex',
      name: 'Zoë 名前',
      email: 'z@example.com',
      externalId: 'crm-1',
      password: 'Passw0rd!x',
    });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    const { login } = created.value;
    const read = await api.getAccount(login);
    expect(read.ok && read.value).toMatchObject({
      login,
      group: 'demo\\forex',
      name: 'Zoë 名前',
      externalId: 'crm-1',
      leverage: 100,
      enabled: true,
      readOnly: false,
    });
    expect((await api.updateAccount(login, { group: 'demo\\other', readOnly: true })).ok).toBe(true);
    const after = await api.getAccount(login);
    expect(after.ok && [after.value.group, after.value.readOnly, after.value.enabled]).toEqual([
      'demo\\other',
      true,
      true,
    ]);
    const list = await api.listAccounts('demo\\*');
    expect(list.ok && list.value.map((a) => a.login)).toEqual([login]);
    await api.close();
  });

  it('posts balance through DealerBalance (10009 is success) and reads it back from DealRequest', async () => {
    const api = make();
    await api.connect(credentials);
    const created = await api.createAccount({ group: 'demo\\forex', name: 'A', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error('create failed');
    const login = created.value.login;
    const comment = 'deposit ref 0123456789012345678901234567890123';
    const posted = await api.postBalance({ login, amountCents: 12_345, kind: 'balance', comment });
    expect(posted.ok && posted.value).toMatchObject({ login, amountCents: 12_345, comment: comment.slice(0, 31) });
    const credit = await api.postBalance({ login, amountCents: 500, kind: 'credit', comment: 'c' });
    expect(credit.ok).toBe(true);
    const history = await api.balanceHistory(login, 0, 4_000_000_000);
    expect(history.ok && history.value.map((op) => [op.kind, op.amountCents, op.comment, op.platformType])).toEqual([
      ['balance', 12_345, comment.slice(0, 31), 2],
      ['credit', 500, 'c', 3],
    ]);
    const margin = await api.marginLevel(login);
    expect(margin.ok && [margin.value.balanceCents, margin.value.creditCents, margin.value.equityCents]).toEqual([
      12_345, 500, 12_845,
    ]);
    await api.close();
  });

  it('maps a withdrawal beyond the balance to no_money, rejected', async () => {
    const api = make();
    await api.connect(credentials);
    const created = await api.createAccount({ group: 'demo\\forex', name: 'A', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error('create failed');
    const r = await api.postBalance({ login: created.value.login, amountCents: -100, kind: 'balance', comment: 'w' });
    expect(!r.ok && [r.error.code, r.error.outcome, r.error.reason]).toEqual([10019, 'rejected', 'no_money']);
    await api.close();
  });

  it('maps an unknown login to not_found', async () => {
    const api = make();
    await api.connect(credentials);
    const r = await api.getAccount(999_999);
    expect(!r.ok && [r.error.code, r.error.reason]).toEqual([13, 'not_found']);
    await api.close();
  });

  it('reads the groups from GroupTotal/GroupNext', async () => {
    const api = make();
    await api.connect(credentials);
    const r = await api.groups();
    expect(r.ok && r.value.map((g) => [g.name, g.leverage, g.stopOutPct])).toEqual([
      ['demo\\forex', 100, 50],
      ['demo\\other', 200, 40],
    ]);
    await api.close();
  });

  it('delivers user and balance events through JS-built sinks, and none after the subscription closes', async () => {
    const api = make();
    await api.connect(credentials);
    const events: PumpEvent[] = [];
    const sub = await api.subscribe((e) => events.push(e));
    if (!sub.ok) throw new Error(sub.error.message);
    const created = await api.createAccount({ group: 'demo\\forex', name: 'A', password: 'Passw0rd!x' });
    if (!created.ok) throw new Error('create failed');
    const login = created.value.login;
    const posted = await api.postBalance({ login, amountCents: 700, kind: 'balance', comment: 'ev' });
    if (!posted.ok) throw new Error('post failed');
    expect(events).toEqual([
      { type: 'user', action: 'add', login },
      { type: 'balance', login, ticket: posted.value.ticket, kind: 'balance', amountCents: 700, comment: 'ev' },
    ]);
    sub.value.close();
    await api.postBalance({ login, amountCents: 100, kind: 'balance', comment: 'after' });
    expect(events).toHaveLength(2);
    await api.close();
  });

  it('answers openPositions with not_supported until IMTPosition is bound', async () => {
    const api = make();
    await api.connect(credentials);
    const r = await api.openPositions(1);
    await api.close();
    expect(!r.ok && [r.error.outcome, r.error.reason]).toEqual(['rejected', 'not_supported']);
  });
});
