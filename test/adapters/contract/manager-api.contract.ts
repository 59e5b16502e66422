import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ErrorReason, type ManagerError, notConnectedCode, type Outcome } from '../../../adapters/port/errors.ts';
import type {
  Account,
  BalanceOp,
  BalanceReceipt,
  Credentials,
  ManagerApi,
  MarginLevel,
  MoneyKind,
  PumpEvent,
  Result,
} from '../../../adapters/port/manager-api.ts';

/**
 * The ManagerApi contract: what every adapter (in-process simulator, simulator over HTTP, MT5 Web API,
 * the MT4/MT5 DLLs through koffi) must do, written against the port only. An adapter's test file calls
 * `describeManagerApiContract(name, makeFixture)`; the fixture says how to reach a server and what the
 * harness can do besides the Manager API (client trading, armed faults).
 *
 * Each test gets a fresh fixture (a fresh server world where the fixture can give one) and fresh accounts;
 * the api starts NOT connected. Comments are made unique by a counter, not the clock (determinism).
 */

export interface ContractFixture {
  /** A ManagerApi to one server, not yet connected. */
  api: ManagerApi;
  /** A manager with rights to create accounts, post money and see trades in `group` and `otherGroup`. */
  credentials: Credentials;
  /** An enabled group where new accounts are created. */
  group: string;
  /** Another enabled group of the same server (for moving accounts). */
  otherGroup: string;
  /** A password every platform accepts for client accounts (e.g. `Passw0rd!x`). */
  password: string;
  /** Balance a new account in `group` starts with (a demo server funds new accounts). Default 0. */
  startingBalanceCents?: number;
  /**
   * Runs `body` in the adapter's world: for the simulator inside a scheduler process, driving virtual
   * time until the body settles; a real-socket adapter just returns `body()`. Rejects with the body's error.
   */
  run<T>(body: () => Promise<T>): Promise<T>;
  /** Lets `ms` of time pass (virtual or real). Called from inside `run`. */
  advance(ms: number): Promise<void>;
  /** Optional: client trading outside the Manager API (a terminal). Volumes in lots x 100. */
  trade?: {
    open(login: number, symbol: string, side: 'buy' | 'sell', volumeCentiLots: number): Promise<number>;
    close(ticket: number): Promise<void>;
  };
  /**
   * What this MT4 server answers to a withdrawal within the balance but above the free margin. The facts
   * file is silent: the simulator applies it (`applied`, its README); a real server's fixture leaves it
   * absent until someone has seen what it does, and the contract then takes either answer, as long as the
   * account agrees with it. (MT5 documents the refusal: `no_money`, whatever this says.)
   */
  mt4WithdrawalAboveFreeMargin?: 'applied' | 'no_money';
  /** Optional: arm a fault for the next call the api sends to the server. */
  faults?: {
    /** The server applies the next request, the answer is lost. */
    timeoutAfterApply(): void;
    /** The next request is lost before the server sees it. */
    timeoutBeforeApply(): void;
    /** The connection breaks around the next request (applied or not: the fixture decides). */
    dropConnection(): void;
  };
  close(): Promise<void>;
}

/**
 * Codes a wrong manager password gets. MT4: RET_BAD_ACCOUNT_INFO (65, at Login). MT5: the
 * MT_RET_AUTH_* "invalid" codes (1000 client, 1001 account). Literals so the contract needs only the port.
 */
const BAD_CREDENTIALS_CODES: Readonly<Record<'mt4' | 'mt5', readonly number[]>> = {
  mt4: [65],
  mt5: [1000, 1001],
};

const SYMBOL = 'EURUSD';
const HOUR_SEC = 3600;
const DAY_SEC = 86_400;

let counter = 0;
/** A unique, short tag (comments must fit in 31 characters). */
function unique(tag: string): string {
  counter += 1;
  return `ct-${tag}-${counter}`;
}

function must<T>(result: Result<T>, what: string): T {
  if (!result.ok) throw new Error(`${what} failed: ${result.error.message}`);
  return result.value;
}

function failureOf<T>(result: Result<T>, what: string): ManagerError {
  if (result.ok) throw new Error(`${what} succeeded (${JSON.stringify(result.value)}), a failure was expected`);
  return result.error;
}

function expectFailure<T>(result: Result<T>, what: string, outcome: Outcome, reason?: ErrorReason): ManagerError {
  const error = failureOf(result, what);
  expect(error.outcome, `${what}: ${error.message}`).toBe(outcome);
  if (reason !== undefined) expect(error.reason, `${what}: ${error.message}`).toBe(reason);
  expect(Number.isInteger(error.code), `${what}: platform code`).toBe(true);
  return error;
}

export function describeManagerApiContract(name: string, makeFixture: () => Promise<ContractFixture>): void {
  describe(`ManagerApi contract: ${name}`, async () => {
    // What the fixture offers decides which tests run: ask a throwaway fixture at collection time.
    const probe = await makeFixture();
    const canTrade = probe.trade !== undefined;
    const canFault = probe.faults !== undefined;
    await probe.close();

    let fixture: ContractFixture | undefined;
    beforeEach(async () => {
      fixture = await makeFixture();
    });
    afterEach(async () => {
      const f = fixture;
      fixture = undefined;
      await f?.close();
    });

    /** A test whose body runs in the adapter's world. */
    const test = (title: string, body: (f: ContractFixture) => Promise<void>, skip = false): void => {
      it.skipIf(skip)(title, () => {
        const f = fixture;
        if (f === undefined) throw new Error('contract: no fixture (makeFixture failed)');
        return f.run(() => body(f));
      });
    };

    // ---- helpers (each runs inside `run`) ----

    const connect = async (f: ContractFixture): Promise<void> => {
      must(await f.api.connect(f.credentials), 'connect');
    };

    const reconnectIfNeeded = async (f: ContractFixture): Promise<void> => {
      if (!f.api.isConnected()) await connect(f);
    };

    const newAccount = async (f: ContractFixture, extra: { leverage?: number } = {}): Promise<number> => {
      const tag = unique('acct');
      const created = must(
        await f.api.createAccount({
          group: f.group,
          name: `Contract ${tag}`,
          email: `${tag}@example.test`,
          password: f.password,
          ...extra,
        }),
        'createAccount',
      );
      return created.login;
    };

    const account = async (f: ContractFixture, login: number): Promise<Account> =>
      must(await f.api.getAccount(login), `getAccount ${login}`);

    const post = async (f: ContractFixture, login: number, amountCents: number, kind: MoneyKind, comment: string) =>
      must(await f.api.postBalance({ login, amountCents, kind, comment }), `postBalance ${amountCents} ${kind}`);

    const history = async (f: ContractFixture, login: number): Promise<BalanceOp[]> => {
      const now = must(await f.api.serverTime(), 'serverTime');
      return must(await f.api.balanceHistory(login, now - HOUR_SEC, now + HOUR_SEC), 'balanceHistory');
    };

    const margin = async (f: ContractFixture, login: number): Promise<MarginLevel> =>
      must(await f.api.marginLevel(login), 'marginLevel');

    const starting = (f: ContractFixture): number => f.startingBalanceCents ?? 0;

    /**
     * Lets the fixture's time pass until `check` holds, or 40 steps: the simulator delivers an event after one
     * scheduler turn, an adapter over a socket after a network hop (or a poll), so an event test waits for it
     * rather than for a fixed time.
     */
    const eventually = async (f: ContractFixture, check: () => boolean): Promise<void> => {
      for (let step = 0; step < 40 && !check(); step++) await f.advance(step < 5 ? 1 : 50);
    };

    /** An account with `cents` deposited on top of what it starts with. */
    const fundedAccount = async (f: ContractFixture, cents: number): Promise<number> => {
      const login = await newAccount(f);
      await post(f, login, cents, 'balance', unique('fund'));
      return login;
    };

    const expectReceiptInHistory = (ops: readonly BalanceOp[], receipt: BalanceReceipt): void => {
      const matching = ops.filter((op) => op.ticket === receipt.ticket);
      expect(matching, `history holds ticket ${receipt.ticket} once`).toHaveLength(1);
      const op = matching[0] as BalanceOp;
      expect(op.login).toBe(receipt.login);
      expect(op.amountCents).toBe(receipt.amountCents);
      expect(op.kind).toBe(receipt.kind);
      expect(op.comment).toBe(receipt.comment);
    };

    // ---- connection ----

    describe('connection', () => {
      test('connects and logs in with the manager credentials', async (f) => {
        expect(f.api.isConnected()).toBe(false);
        const session = must(await f.api.connect(f.credentials), 'connect');
        expect(session.login).toBe(f.credentials.login);
        if (session.rights !== null) {
          // The suite posts money and reads trades: the fixture's manager must have those rights.
          expect(session.rights.accounts).toBe(true);
          expect(session.rights.money).toBe(true);
          expect(session.rights.trades).toBe(true);
          expect(session.rights.groups.length).toBeGreaterThan(0);
        }
        expect(f.api.isConnected()).toBe(true);
      });

      test('a wrong password is rejected as bad_credentials with the platform code', async (f) => {
        const result = await f.api.connect({ login: f.credentials.login, password: `${f.credentials.password}-wrong` });
        const error = expectFailure(result, 'connect with a wrong password', 'rejected', 'bad_credentials');
        expect(error.platform).toBe(f.api.platform);
        expect(error.serverId).toBe(f.api.serverId);
        expect(BAD_CREDENTIALS_CODES[f.api.platform]).toContain(error.code);
        expect(f.api.isConnected()).toBe(false);
        expectFailure(await f.api.ping(), 'ping after a failed login', 'unavailable', 'no_connection');
      });

      test('ping and serverTime succeed after connect', async (f) => {
        await connect(f);
        must(await f.api.ping(), 'ping');
        const t = must(await f.api.serverTime(), 'serverTime');
        expect(Number.isInteger(t)).toBe(true);
        // Server wall-clock seconds: after 2001 and not absurdly far ahead.
        expect(t).toBeGreaterThan(1_000_000_000);
        expect(t).toBeLessThan(5_000_000_000);
      });

      test('serverTime moves with time', async (f) => {
        await connect(f);
        const before = must(await f.api.serverTime(), 'serverTime');
        await f.advance(2_000);
        const after = must(await f.api.serverTime(), 'serverTime');
        expect(after - before).toBeGreaterThanOrEqual(1);
        expect(after - before).toBeLessThanOrEqual(60);
      });

      test('calls before connect fail unavailable/no_connection without reaching the server', async (f) => {
        const api = f.api;
        const tag = unique('pre');
        const calls: [string, () => Promise<Result<unknown>>][] = [
          ['ping', () => api.ping()],
          ['serverTime', () => api.serverTime()],
          ['createAccount', () => api.createAccount({ group: f.group, name: `Contract ${tag}`, password: f.password })],
          ['getAccount', () => api.getAccount(1)],
          ['listAccounts', () => api.listAccounts('*')],
          ['updateAccount', () => api.updateAccount(1, { leverage: 50 })],
          ['setPassword', () => api.setPassword(1, 'main', f.password)],
          ['postBalance', () => api.postBalance({ login: 1, amountCents: 100, kind: 'balance', comment: tag })],
          ['balanceHistory', () => api.balanceHistory(1, 0, 2_000_000_000)],
          ['marginLevel', () => api.marginLevel(1)],
          ['trades', () => api.trades(1, 0, 2_000_000_000)],
          ['openPositions', () => api.openPositions(1)],
          ['openPositionsOf', () => api.openPositionsOf([1])],
          ['groups', () => api.groups()],
          ['subscribe', () => api.subscribe(() => {})],
        ];
        for (const [what, call] of calls) {
          const error = expectFailure(await call(), `${what} before connect`, 'unavailable', 'no_connection');
          expect(error.code, what).toBe(notConnectedCode(api.platform));
          expect(error.platform).toBe(api.platform);
        }
        // Nothing reached the server: the account asked for before connecting does not exist.
        await connect(f);
        const all = must(await api.listAccounts('*'), 'listAccounts');
        expect(all.filter((a) => a.name === `Contract ${tag}`)).toEqual([]);
      });

      test('after close() calls fail unavailable', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        await f.api.close();
        expect(f.api.isConnected()).toBe(false);
        expectFailure(await f.api.ping(), 'ping after close', 'unavailable', 'no_connection');
        expectFailure(await f.api.getAccount(login), 'getAccount after close', 'unavailable', 'no_connection');
        const tag = unique('closed');
        expectFailure(
          await f.api.postBalance({ login, amountCents: 100, kind: 'balance', comment: tag }),
          'postBalance after close',
          'unavailable',
          'no_connection',
        );
        // It was not sent: after reconnecting, nothing with that comment is in history.
        await connect(f);
        expect((await history(f, login)).filter((op) => op.comment === tag)).toEqual([]);
      });

      test('connect() again reconnects and the session keeps working', async (f) => {
        await connect(f);
        await connect(f);
        expect(f.api.isConnected()).toBe(true);
        must(await f.api.ping(), 'ping after reconnect');
        await newAccount(f);
      });
    });

    // ---- accounts ----

    describe('accounts', () => {
      test('creates an account with a server-allocated login and reads it back', async (f) => {
        await connect(f);
        const groups = must(await f.api.groups(), 'groups');
        const group = groups.find((g) => g.name === f.group);
        expect(group, `group ${f.group} is listed`).toBeDefined();
        const now = must(await f.api.serverTime(), 'serverTime');
        const tag = unique('new');
        const created = must(
          await f.api.createAccount({
            group: f.group,
            name: `Contract ${tag}`,
            email: `${tag}@example.test`,
            country: 'Germany',
            externalId: `crm-${tag}`,
            password: f.password,
          }),
          'createAccount',
        );
        expect(Number.isInteger(created.login)).toBe(true);
        expect(created.login).toBeGreaterThan(0);
        const a = await account(f, created.login);
        expect(a.login).toBe(created.login);
        expect(a.group).toBe(f.group);
        expect(a.name).toBe(`Contract ${tag}`);
        expect(a.email).toBe(`${tag}@example.test`);
        expect(a.country).toBe('Germany');
        expect(a.externalId).toBe(`crm-${tag}`);
        expect(a.leverage).toBe(group?.leverage);
        expect(a.enabled).toBe(true);
        expect(a.readOnly).toBe(false);
        expect(a.balanceCents).toBe(starting(f));
        expect(a.creditCents).toBe(0);
        expect(Math.abs(a.registeredServerSec - now)).toBeLessThanOrEqual(60);
      });

      test('new accounts get distinct logins', async (f) => {
        await connect(f);
        const a = await newAccount(f);
        const b = await newAccount(f);
        expect(a).not.toBe(b);
      });

      test('an explicit leverage is kept', async (f) => {
        await connect(f);
        const login = await newAccount(f, { leverage: 20 });
        expect((await account(f, login)).leverage).toBe(20);
      });

      test('an unknown login is rejected as not_found', async (f) => {
        await connect(f);
        const known = must(await f.api.listAccounts('*'), 'listAccounts').map((a) => a.login);
        const unknown = Math.max(0, ...known) + 7919;
        const error = expectFailure(
          await f.api.getAccount(unknown),
          'getAccount of an unknown login',
          'rejected',
          'not_found',
        );
        expect(error.platform).toBe(f.api.platform);
        expectFailure(
          await f.api.updateAccount(unknown, { leverage: 50 }),
          'updateAccount of an unknown login',
          'rejected',
          'not_found',
        );
      });

      test('creating an account in an unknown group is rejected', async (f) => {
        await connect(f);
        const tag = unique('nogrp');
        expectFailure(
          await f.api.createAccount({ group: 'ct-nogroup', name: `Contract ${tag}`, password: f.password }),
          'createAccount in an unknown group',
          'rejected',
        );
        const all = must(await f.api.listAccounts('*'), 'listAccounts');
        expect(all.filter((a) => a.name === `Contract ${tag}`)).toEqual([]);
      });

      test('updateAccount changes group, leverage, enabled and read-only', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const before = await account(f, login);
        const leverage = before.leverage === 50 ? 20 : 50;
        must(
          await f.api.updateAccount(login, { group: f.otherGroup, leverage, enabled: false, readOnly: true }),
          'updateAccount',
        );
        const after = await account(f, login);
        expect(after.group).toBe(f.otherGroup);
        expect(after.leverage).toBe(leverage);
        expect(after.enabled).toBe(false);
        expect(after.readOnly).toBe(true);
        // What was not in the patch stays.
        expect(after.name).toBe(before.name);
        expect(after.email).toBe(before.email);
        expect(after.balanceCents).toBe(before.balanceCents);
        must(await f.api.updateAccount(login, { enabled: true, readOnly: false }), 'updateAccount back');
        const back = await account(f, login);
        expect(back.enabled).toBe(true);
        expect(back.readOnly).toBe(false);
        expect(back.group).toBe(f.otherGroup);
        expect(back.leverage).toBe(leverage);
      });

      test('setPassword with a valid password succeeds', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        must(await f.api.setPassword(login, 'main', f.password), 'setPassword main');
        must(await f.api.setPassword(login, 'investor', f.password), 'setPassword investor');
      });

      test('listAccounts("*") includes the account', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const all = must(await f.api.listAccounts('*'), 'listAccounts');
        const mine = all.filter((a) => a.login === login);
        expect(mine).toHaveLength(1);
        expect(mine[0]?.group).toBe(f.group);
      });

      test('listAccounts(group) lists that group and not the other', async (f) => {
        await connect(f);
        const here = await newAccount(f);
        const there = await newAccount(f);
        must(await f.api.updateAccount(there, { group: f.otherGroup }), 'updateAccount');
        const listed = must(await f.api.listAccounts(f.group), 'listAccounts');
        expect(listed.map((a) => a.login)).toContain(here);
        expect(listed.map((a) => a.login)).not.toContain(there);
        expect(listed.every((a) => a.group === f.group)).toBe(true);
      });
    });

    // ---- money ----

    describe('money', () => {
      test('a deposit returns a receipt and moves the balance by exactly its amount', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const before = await account(f, login);
        const comment = unique('dep');
        const receipt = await post(f, login, 123_45, 'balance', comment);
        expect(Number.isInteger(receipt.ticket)).toBe(true);
        expect(receipt.ticket).toBeGreaterThan(0);
        expect(receipt.login).toBe(login);
        expect(receipt.amountCents).toBe(123_45);
        expect(receipt.kind).toBe('balance');
        expect(receipt.comment).toBe(comment);
        const after = await account(f, login);
        expect(after.balanceCents - before.balanceCents).toBe(123_45);
        expect(after.creditCents).toBe(before.creditCents);
      });

      test('a credit moves credit, not balance', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const before = await account(f, login);
        const receipt = await post(f, login, 500_00, 'credit', unique('cred'));
        expect(receipt.kind).toBe('credit');
        expect(receipt.amountCents).toBe(500_00);
        const after = await account(f, login);
        expect(after.creditCents - before.creditCents).toBe(500_00);
        expect(after.balanceCents).toBe(before.balanceCents);
      });

      test('a withdrawal within the balance moves it back', async (f) => {
        await connect(f);
        const login = await fundedAccount(f, 1_000_00);
        const before = await account(f, login);
        const receipt = await post(f, login, -250_00, 'balance', unique('wd'));
        expect(receipt.amountCents).toBe(-250_00);
        expect((await account(f, login)).balanceCents).toBe(before.balanceCents - 250_00);
      });

      test('a withdrawal above the balance is rejected as no_money and nothing moves', async (f) => {
        await connect(f);
        const login = await fundedAccount(f, 100_00);
        const before = await account(f, login);
        const opsBefore = await history(f, login);
        const comment = unique('wdbig');
        expectFailure(
          await f.api.postBalance({ login, amountCents: -(before.balanceCents + 1), kind: 'balance', comment }),
          'withdrawal above the balance',
          'rejected',
          'no_money',
        );
        const after = await account(f, login);
        expect(after.balanceCents).toBe(before.balanceCents);
        expect(after.creditCents).toBe(before.creditCents);
        const opsAfter = await history(f, login);
        expect(opsAfter).toHaveLength(opsBefore.length);
        expect(opsAfter.filter((op) => op.comment === comment)).toEqual([]);
      });

      test('taking back more credit than given is rejected as no_money', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        await post(f, login, 100_00, 'credit', unique('cred'));
        const before = await account(f, login);
        expectFailure(
          await f.api.postBalance({ login, amountCents: -100_01, kind: 'credit', comment: unique('credbig') }),
          'credit out above credit given',
          'rejected',
          'no_money',
        );
        const after = await account(f, login);
        expect(after.creditCents).toBe(before.creditCents);
        expect(after.balanceCents).toBe(before.balanceCents);
        // Taking back exactly what was given is fine.
        await post(f, login, -100_00, 'credit', unique('credout'));
        expect((await account(f, login)).creditCents).toBe(before.creditCents - 100_00);
      });

      test('postBalance to an unknown login is rejected', async (f) => {
        await connect(f);
        const known = must(await f.api.listAccounts('*'), 'listAccounts').map((a) => a.login);
        const unknown = Math.max(0, ...known) + 7919;
        expectFailure(
          await f.api.postBalance({ login: unknown, amountCents: 100, kind: 'balance', comment: unique('nologin') }),
          'postBalance to an unknown login',
          'rejected',
        );
      });

      test('marginLevel of an unknown login is rejected', async (f) => {
        await connect(f);
        const known = must(await f.api.listAccounts('*'), 'listAccounts').map((a) => a.login);
        const unknown = Math.max(0, ...known) + 7919;
        expectFailure(await f.api.marginLevel(unknown), 'marginLevel of an unknown login', 'rejected');
      });

      test('the comment is cut to limits.commentChars in the receipt and in history', async (f) => {
        await connect(f);
        const limit = f.api.limits.commentChars;
        expect(limit).toBeGreaterThan(0);
        const login = await newAccount(f);
        const long = `${unique('cut')}-${'abcdefghij'.repeat(8)}`;
        expect(long.length).toBeGreaterThan(limit);
        const receipt = await post(f, login, 10_00, 'balance', long);
        expect(receipt.comment).toBe(long.slice(0, limit));
        const ops = (await history(f, login)).filter((op) => op.ticket === receipt.ticket);
        expect(ops).toHaveLength(1);
        expect(ops[0]?.comment).toBe(long.slice(0, limit));
      });

      test('balanceHistory lists each operation once, matching the receipts', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const baseline = await history(f, login);
        const receipts = [
          await post(f, login, 700_00, 'balance', unique('h-dep')),
          await post(f, login, 200_00, 'credit', unique('h-cred')),
          await post(f, login, -150_00, 'balance', unique('h-wd')),
          await post(f, login, -50_00, 'credit', unique('h-credout')),
        ];
        const now = must(await f.api.serverTime(), 'serverTime');
        const ops = must(await f.api.balanceHistory(login, now - HOUR_SEC, now + HOUR_SEC), 'balanceHistory');
        expect(ops).toHaveLength(baseline.length + receipts.length);
        expect(new Set(ops.map((op) => op.ticket)).size).toBe(ops.length);
        expect(new Set(receipts.map((r) => r.ticket)).size).toBe(receipts.length);
        for (const receipt of receipts) expectReceiptInHistory(ops, receipt);
        for (const op of ops) {
          expect(op.login).toBe(login);
          expect(op.timeServerSec).toBeGreaterThanOrEqual(now - HOUR_SEC);
          expect(op.timeServerSec).toBeLessThanOrEqual(now + HOUR_SEC);
        }
        const a = await account(f, login);
        expect(a.balanceCents).toBe(starting(f) + 700_00 - 150_00);
        expect(a.creditCents).toBe(200_00 - 50_00);
        // A range that ends before the operations holds none of them.
        const before = must(await f.api.balanceHistory(login, now - 2 * HOUR_SEC, now - HOUR_SEC), 'balanceHistory');
        expect(before.filter((op) => receipts.some((r) => r.ticket === op.ticket))).toEqual([]);
      });

      test('balanceHistory is stamped with the server clock and its bounds are inclusive', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        await f.advance(5_000);
        const t0 = must(await f.api.serverTime(), 'serverTime');
        const receipt = await post(f, login, 12_34, 'balance', unique('bounds'));
        const t1 = must(await f.api.serverTime(), 'serverTime');
        const op = (await history(f, login)).find((o) => o.ticket === receipt.ticket);
        expect(op).toBeDefined();
        const at = op?.timeServerSec ?? 0;
        expect(at).toBeGreaterThanOrEqual(t0);
        expect(at).toBeLessThanOrEqual(t1);
        const exact = must(await f.api.balanceHistory(login, at, at), 'balanceHistory [t, t]');
        expect(exact.map((o) => o.ticket)).toContain(receipt.ticket);
        const after = must(await f.api.balanceHistory(login, at + 1, at + HOUR_SEC), 'balanceHistory after');
        expect(after.map((o) => o.ticket)).not.toContain(receipt.ticket);
      });

      test('marginLevel without positions: equity = balance + credit, free margin = equity', async (f) => {
        await connect(f);
        const login = await fundedAccount(f, 800_00);
        await post(f, login, 300_00, 'credit', unique('mcred'));
        const a = await account(f, login);
        const m = await margin(f, login);
        expect(m.login).toBe(login);
        expect(m.balanceCents).toBe(a.balanceCents);
        expect(m.creditCents).toBe(300_00);
        expect(m.equityCents).toBe(a.balanceCents + 300_00);
        expect(m.marginCents).toBe(0);
        expect(m.freeMarginCents).toBe(m.equityCents);
        expect(m.marginLevelPct).toBe(0);
        expect(m.state).toBe('ok');
      });
    });

    // ---- groups ----

    describe('groups', () => {
      test("groups() lists the fixture's groups with currency and leverage", async (f) => {
        await connect(f);
        const groups = must(await f.api.groups(), 'groups');
        for (const name of [f.group, f.otherGroup]) {
          const g = groups.find((x) => x.name === name);
          expect(g, `group ${name}`).toBeDefined();
          expect(g?.currency).toMatch(/^[A-Z]{3}$/);
          expect(g?.leverage).toBeGreaterThan(0);
          expect(g?.enabled).toBe(true);
          expect(g?.stopOutPct).toBeLessThanOrEqual(g?.marginCallPct ?? 0);
        }
      });
    });

    // ---- events ----

    describe('events', () => {
      test('subscribe delivers a balance event for a deposit', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const events: PumpEvent[] = [];
        const sub = must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
        const comment = unique('ev');
        const receipt = await post(f, login, 42_00, 'balance', comment);
        await eventually(f, () => events.some((e) => e.type === 'balance' && e.ticket === receipt.ticket));
        const balance = events.filter((e) => e.type === 'balance' && e.ticket === receipt.ticket);
        expect(balance.length, 'one balance event for the deposit').toBeGreaterThanOrEqual(1);
        expect(balance[0]).toEqual({
          type: 'balance',
          login,
          ticket: receipt.ticket,
          kind: 'balance',
          amountCents: 42_00,
          comment,
        });
        expect(events.filter((e) => e.type === 'stopped')).toEqual([]);
        sub.close();
      });

      test('closing the subscription stops delivery', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const events: PumpEvent[] = [];
        const sub = must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
        const first = await post(f, login, 10_00, 'balance', unique('ev1'));
        await eventually(f, () => events.some((e) => e.type === 'balance' && e.ticket === first.ticket));
        expect(events.some((e) => e.type === 'balance' && e.ticket === first.ticket)).toBe(true);
        sub.close();
        const seen = events.length;
        const second = await post(f, login, 20_00, 'balance', unique('ev2'));
        await f.advance(1_000);
        expect(events.some((e) => e.type === 'balance' && e.ticket === second.ticket)).toBe(false);
        expect(events).toHaveLength(seen);
        // The main connection is unaffected.
        must(await f.api.ping(), 'ping after closing the subscription');
      });
      test('subscribe delivers user events for a new and an updated account', async (f) => {
        await connect(f);
        const events: PumpEvent[] = [];
        const sub = must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
        const login = await newAccount(f);
        await eventually(f, () => events.some((e) => e.type === 'user' && e.action === 'add' && e.login === login));
        expect(events).toContainEqual({ type: 'user', action: 'add', login });
        must(await f.api.updateAccount(login, { leverage: 20 }), 'updateAccount');
        await eventually(f, () => events.some((e) => e.type === 'user' && e.action === 'update' && e.login === login));
        expect(events).toContainEqual({ type: 'user', action: 'update', login });
        sub.close();
      });

      test('close() of the api ends its subscriptions: nothing arrives afterwards, even after connecting again', async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const events: PumpEvent[] = [];
        must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
        await f.api.close();
        await f.advance(1);
        // A 'stopped' notice is fine; anything else is not.
        const seen = events.filter((e) => e.type !== 'stopped').length;
        await connect(f);
        const receipt = await post(f, login, 10_00, 'balance', unique('ev-after-close'));
        await f.advance(1_000);
        expect(
          events.some((e) => e.type === 'balance' && e.ticket === receipt.ticket),
          'event delivered to a subscription of a closed connection',
        ).toBe(false);
        expect(events.filter((e) => e.type !== 'stopped')).toHaveLength(seen);
      });

      test("connect() again ends the old connection's subscriptions", async (f) => {
        await connect(f);
        const login = await newAccount(f);
        const old: PumpEvent[] = [];
        must(await f.api.subscribe((e) => old.push(e)), 'subscribe');
        await connect(f);
        const fresh: PumpEvent[] = [];
        const sub = must(await f.api.subscribe((e) => fresh.push(e)), 'subscribe again');
        const receipt = await post(f, login, 10_00, 'balance', unique('ev-reconn'));
        await f.advance(1_000);
        await eventually(f, () => fresh.some((e) => e.type === 'balance' && e.ticket === receipt.ticket));
        expect(fresh.some((e) => e.type === 'balance' && e.ticket === receipt.ticket)).toBe(true);
        expect(
          old.some((e) => e.type === 'balance' && e.ticket === receipt.ticket),
          'event delivered to a subscription of the replaced connection',
        ).toBe(false);
        sub.close();
      });
    });

    // ---- trading (client activity outside the Manager API) ----

    describe('trading', () => {
      test(
        'an open position appears in openPositions and moves equity and margin',
        async (f) => {
          const trade = f.trade as NonNullable<ContractFixture['trade']>;
          await connect(f);
          const login = await fundedAccount(f, 10_000_00);
          const ticket = await trade.open(login, SYMBOL, 'buy', 10);
          const positions = must(await f.api.openPositions(login), 'openPositions');
          const mine = positions.filter((p) => p.ticket === ticket);
          expect(mine).toHaveLength(1);
          const p = mine[0];
          expect(p?.login).toBe(login);
          expect(p?.symbol).toBe(SYMBOL);
          expect(p?.side).toBe('buy');
          expect(p?.volumeCentiLots).toBe(10);
          expect(p?.openPrice).toBeGreaterThan(0);
          expect(p?.closeServerSec).toBeUndefined();
          expect(p?.profitCents).toBeUndefined();
          await f.advance(60_000);
          const a = await account(f, login);
          let m = await margin(f, login);
          // Floating profit or loss differs from zero but for a price that happens to sit where it opened plus the
          // spread (a real-time world's price walk can): read again a little later then.
          for (let i = 0; i < 5 && m.equityCents === a.balanceCents + a.creditCents; i++) {
            await f.advance(60_000);
            m = await margin(f, login);
          }
          expect(m.balanceCents).toBe(a.balanceCents);
          expect(m.marginCents).toBeGreaterThan(0);
          expect(m.freeMarginCents).toBe(m.equityCents - m.marginCents);
          expect(m.freeMarginCents).toBeLessThan(m.equityCents);
          // Floating profit or loss (the spread at least) makes equity differ from balance + credit.
          expect(m.equityCents).not.toBe(a.balanceCents + a.creditCents);
          expect(m.marginLevelPct).toBeCloseTo((m.equityCents / m.marginCents) * 100, 1);
          await trade.close(ticket);
        },
        !canTrade,
      );

      test(
        'a closed trade appears in trades() and its profit moves the balance exactly',
        async (f) => {
          const trade = f.trade as NonNullable<ContractFixture['trade']>;
          await connect(f);
          const login = await fundedAccount(f, 10_000_00);
          const ticket = await trade.open(login, SYMBOL, 'sell', 20);
          await f.advance(120_000);
          const before = await account(f, login);
          await trade.close(ticket);
          expect(must(await f.api.openPositions(login), 'openPositions').filter((p) => p.ticket === ticket)).toEqual(
            [],
          );
          const now = must(await f.api.serverTime(), 'serverTime');
          const closed = must(await f.api.trades(login, now - DAY_SEC, now + DAY_SEC), 'trades');
          const mine = closed.filter((t) => t.ticket === ticket);
          expect(mine).toHaveLength(1);
          const t = mine[0];
          expect(t?.login).toBe(login);
          expect(t?.symbol).toBe(SYMBOL);
          expect(t?.side).toBe('sell');
          expect(t?.volumeCentiLots).toBe(20);
          expect(t?.openPrice).toBeGreaterThan(0);
          expect(t?.closePrice).toBeGreaterThan(0);
          expect(t?.closeServerSec).toBeGreaterThanOrEqual(t?.openServerSec ?? Number.POSITIVE_INFINITY);
          expect(Number.isInteger(t?.profitCents)).toBe(true);
          const after = await account(f, login);
          expect(after.balanceCents - before.balanceCents).toBe(t?.profitCents);
          // A trade is not a balance operation.
          expect((await history(f, login)).filter((op) => op.ticket === ticket)).toEqual([]);
        },
        !canTrade,
      );

      test(
        'a withdrawal above free margin is rejected as no_money on MT5; on MT4 the account agrees with the answer',
        async (f) => {
          const trade = f.trade as NonNullable<ContractFixture['trade']>;
          await connect(f);
          const login = await fundedAccount(f, 2_000_00);
          const ticket = await trade.open(login, SYMBOL, 'buy', 10);
          const a = await account(f, login);
          const m = await margin(f, login);
          expect(m.freeMarginCents, 'the position must tie up margin').toBeLessThan(a.balanceCents);
          // Not above the balance, but above the free margin.
          const comment = unique('wdfm');
          const sent = await f.api.postBalance({ login, amountCents: -a.balanceCents, kind: 'balance', comment });
          // MT5 documents the check; for MT4 only the fixture can say (undefined: either answer).
          const expected = f.api.platform === 'mt5' ? 'no_money' : f.mt4WithdrawalAboveFreeMargin;
          const inHistory = (await history(f, login)).filter((op) => op.comment === comment);
          if (expected === 'applied' || (expected === undefined && sent.ok)) {
            const receipt = must(sent, 'withdrawal above free margin');
            expect(receipt.amountCents).toBe(-a.balanceCents);
            expect((await account(f, login)).balanceCents).toBe(0);
            expectReceiptInHistory(inHistory, receipt);
          } else {
            expectFailure(sent, 'withdrawal above free margin', 'rejected', 'no_money');
            expect((await account(f, login)).balanceCents).toBe(a.balanceCents);
            expect(inHistory).toEqual([]);
          }
          await trade.close(ticket);
        },
        !canTrade,
      );

      test(
        'openPositionsOf reads the open positions of every login asked for, and of no other',
        async (f) => {
          const trade = f.trade as NonNullable<ContractFixture['trade']>;
          await connect(f);
          const [a, b, c] = [
            await fundedAccount(f, 10_000_00),
            await fundedAccount(f, 10_000_00),
            await fundedAccount(f, 10_000_00),
          ] as [number, number, number];
          const tickets = [
            await trade.open(a, SYMBOL, 'buy', 10),
            await trade.open(a, SYMBOL, 'sell', 20),
            await trade.open(b, SYMBOL, 'buy', 30),
            await trade.open(c, SYMBOL, 'buy', 40),
          ];
          const each = [
            ...must(await f.api.openPositions(a), 'openPositions a'),
            ...must(await f.api.openPositions(b), 'openPositions b'),
          ];
          const byTicket = (list: readonly { ticket: number }[]) => [...list].sort((x, y) => x.ticket - y.ticket);
          expect(byTicket(each).map((p) => p.ticket)).toEqual(tickets.slice(0, 3).sort((x, y) => x - y));
          // The same positions as one account at a time, in one request; an unknown login adds none.
          const unknown = Math.max(a, b, c) + 1_000_000;
          expect(byTicket(must(await f.api.openPositionsOf([a, b, unknown]), 'openPositionsOf'))).toEqual(
            byTicket(each),
          );
          expect(must(await f.api.openPositionsOf([]), 'openPositionsOf nothing')).toEqual([]);
          for (const ticket of tickets) await trade.close(ticket);
          expect(must(await f.api.openPositionsOf([a, b, c]), 'openPositionsOf after closing')).toEqual([]);
        },
        !canTrade,
      );
      test(
        'subscribe delivers trade open and close events',
        async (f) => {
          const trade = f.trade as NonNullable<ContractFixture['trade']>;
          await connect(f);
          const login = await fundedAccount(f, 10_000_00);
          const events: PumpEvent[] = [];
          const sub = must(await f.api.subscribe((e) => events.push(e)), 'subscribe');
          const ticket = await trade.open(login, SYMBOL, 'buy', 10);
          const seen = (action: string) => () =>
            events.some((e) => e.type === 'trade' && e.action === action && e.ticket === ticket);
          await eventually(f, seen('open'));
          expect(events).toContainEqual({ type: 'trade', action: 'open', login, ticket });
          await trade.close(ticket);
          await eventually(f, seen('close'));
          expect(events).toContainEqual({ type: 'trade', action: 'close', login, ticket });
          // Closing a trade is not a balance operation on the stream.
          expect(events.filter((e) => e.type === 'balance' && e.ticket === ticket)).toEqual([]);
          sub.close();
        },
        !canTrade,
      );
    });

    // ---- faults (armed by the fixture for the next call) ----

    describe('faults', () => {
      test(
        'timeoutAfterApply on a deposit: unknown, and history shows the operation exactly once',
        async (f) => {
          const faults = f.faults as NonNullable<ContractFixture['faults']>;
          await connect(f);
          const login = await newAccount(f);
          const before = await account(f, login);
          const comment = unique('tafter');
          faults.timeoutAfterApply();
          const result = await f.api.postBalance({ login, amountCents: 77_00, kind: 'balance', comment });
          expectFailure(result, 'deposit answered by a timeout', 'unknown');
          await reconnectIfNeeded(f);
          const ops = (await history(f, login)).filter((op) => op.comment === comment);
          expect(ops).toHaveLength(1);
          expect(ops[0]?.amountCents).toBe(77_00);
          expect(ops[0]?.kind).toBe('balance');
          expect((await account(f, login)).balanceCents - before.balanceCents).toBe(77_00);
        },
        !canFault,
      );

      test(
        'timeoutBeforeApply on a deposit: unknown, and history shows nothing',
        async (f) => {
          const faults = f.faults as NonNullable<ContractFixture['faults']>;
          await connect(f);
          const login = await newAccount(f);
          const before = await account(f, login);
          const comment = unique('tbefore');
          faults.timeoutBeforeApply();
          const result = await f.api.postBalance({ login, amountCents: 66_00, kind: 'balance', comment });
          expectFailure(result, 'deposit lost before the server', 'unknown');
          await reconnectIfNeeded(f);
          expect((await history(f, login)).filter((op) => op.comment === comment)).toEqual([]);
          expect((await account(f, login)).balanceCents).toBe(before.balanceCents);
        },
        !canFault,
      );

      test(
        'timeoutAfterApply on createAccount: unknown, and at most one account has its external id',
        async (f) => {
          const faults = f.faults as NonNullable<ContractFixture['faults']>;
          await connect(f);
          const tag = unique('tcreate');
          faults.timeoutAfterApply();
          const result = await f.api.createAccount({
            group: f.group,
            name: `Contract ${tag}`,
            externalId: `crm-${tag}`,
            password: f.password,
          });
          expectFailure(result, 'createAccount answered by a timeout', 'unknown');
          await reconnectIfNeeded(f);
          const all = must(await f.api.listAccounts('*'), 'listAccounts');
          expect(all.filter((a) => a.externalId === `crm-${tag}`).length).toBeLessThanOrEqual(1);
        },
        !canFault,
      );

      test(
        'dropConnection on a deposit: unknown, then unavailable until connect() again',
        async (f) => {
          const faults = f.faults as NonNullable<ContractFixture['faults']>;
          await connect(f);
          const login = await newAccount(f);
          const before = await account(f, login);
          const comment = unique('drop');
          faults.dropConnection();
          const result = await f.api.postBalance({ login, amountCents: 55_00, kind: 'balance', comment });
          expectFailure(result, 'deposit with the connection dropped', 'unknown', 'no_connection');
          expect(f.api.isConnected()).toBe(false);
          await f.advance(1_000);
          expectFailure(await f.api.ping(), 'ping after the drop', 'unavailable', 'no_connection');
          expectFailure(await f.api.getAccount(login), 'getAccount after the drop', 'unavailable', 'no_connection');
          const unsent = unique('unsent');
          expectFailure(
            await f.api.postBalance({ login, amountCents: 1_00, kind: 'balance', comment: unsent }),
            'postBalance after the drop',
            'unavailable',
            'no_connection',
          );
          await connect(f);
          must(await f.api.ping(), 'ping after reconnecting');
          // Applied or not, at most once, and the balance agrees with history.
          const ops = await history(f, login);
          const applied = ops.filter((op) => op.comment === comment);
          expect(applied.length).toBeLessThanOrEqual(1);
          expect(ops.filter((op) => op.comment === unsent)).toEqual([]);
          expect((await account(f, login)).balanceCents - before.balanceCents).toBe(55_00 * applied.length);
        },
        !canFault,
      );
    });
  });
}
