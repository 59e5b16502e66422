import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRand,
  newCliRand,
  passwordHash,
  randAnswer,
  serverProofMatches,
} from '../../adapters/mt5-webapi/auth.ts';
import { createMt5WebApiManagerApi } from '../../adapters/mt5-webapi/index.ts';
import {
  dealEvents,
  parseServerTime,
  toAccount,
  toClosedTrades,
  userFingerprint,
} from '../../adapters/mt5-webapi/records.ts';
import { readReply } from '../../adapters/mt5-webapi/session.ts';
import { AnswerError, formatCents, intField, parseMoneyCents, parseRetcode } from '../../adapters/mt5-webapi/wire.ts';
import { MtproofError } from '../../kit/errors.ts';
import { propertyParams } from '../property.ts';

/** Unit tests of the MT5 Web API adapter that need no server: hashes, numbers, retcodes, records. */

describe('mt5-webapi auth: the documented test vectors (facts 3.2)', () => {
  const hash = passwordHash('Password1');

  it('hashes the UTF-16LE password, then appends "WebAPI" and hashes again', () => {
    const inner = createHash('md5').update(Buffer.from('Password1', 'utf16le')).digest();
    expect([...inner]).toEqual([236, 46, 146, 255, 112, 191, 70, 145, 174, 12, 104, 224, 47, 220, 108, 34]);
    expect(hash.toString('hex')).toBe('904ba8ecb16273d2f0ae9c3b8a023752');
  });

  it('answers srv_rand with MD5(H ‖ srv_rand) over the raw bytes', () => {
    const srvRand = decodeRand('73007dc7184747ce0f7c98516ef1c851');
    expect(srvRand).not.toBeNull();
    expect(randAnswer(hash, srvRand as Buffer)).toBe('77fe51827f7fa69dd80fbec9aa33f1bb');
  });

  it("accepts the server's cli_rand_answer only when it is MD5(H ‖ cli_rand)", () => {
    const cliRand = decodeRand('4db98fec17aab4dc5a240bdc659e8395') as Buffer;
    expect(serverProofMatches(hash, cliRand, '1732021b1b332f51660b2b315eed3a35')).toBe(true);
    expect(serverProofMatches(hash, cliRand, '1732021B1B332F51660B2B315EED3A35')).toBe(true);
    expect(serverProofMatches(hash, cliRand, '1732021b1b332f51660b2b315eed3a36')).toBe(false);
    expect(serverProofMatches(passwordHash('Password2'), cliRand, '1732021b1b332f51660b2b315eed3a35')).toBe(false);
    expect(serverProofMatches(hash, cliRand, undefined)).toBe(false);
  });

  it('refuses a srv_rand that is not 16 bytes of hex', () => {
    for (const bad of [
      '',
      '73007dc7',
      '73007dc7184747ce0f7c98516ef1c85',
      'zz007dc7184747ce0f7c98516ef1c851',
      42,
      null,
    ]) {
      expect(decodeRand(bad), String(bad)).toBeNull();
    }
  });

  it('draws 16 fresh random bytes for cli_rand', () => {
    const a = newCliRand();
    const b = newCliRand();
    expect(a).toHaveLength(16);
    expect(a.equals(b)).toBe(false);
  });
});

describe('mt5-webapi money: decimal strings to cents exactly', () => {
  it('reads the decimal strings the Web API sends', () => {
    expect(parseMoneyCents('100.05')).toBe(10005);
    expect(parseMoneyCents('100')).toBe(10000);
    expect(parseMoneyCents('100.5')).toBe(10050);
    expect(parseMoneyCents('-250.00')).toBe(-25000);
    expect(parseMoneyCents('+1.01')).toBe(101);
    expect(parseMoneyCents('.5')).toBe(50);
    expect(parseMoneyCents('7.')).toBe(700);
    expect(parseMoneyCents('0.00')).toBe(0);
    expect(parseMoneyCents('-0.00')).toBe(0);
    expect(Object.is(parseMoneyCents('-0.001'), 0)).toBe(true);
  });

  it('has no binary-float drift where Math.round(x * 100) has', () => {
    // 1.005 * 100 is 100.49999999999999 in binary floating point.
    expect(Math.round(Number('1.005') * 100)).toBe(100);
    expect(parseMoneyCents('1.005')).toBe(101);
    expect(parseMoneyCents('0.30000000000000004')).toBe(30);
    expect(parseMoneyCents('19999999.99')).toBe(1_999_999_999);
    expect(parseMoneyCents('90071992547409.91')).toBe(9_007_199_254_740_991);
  });

  it('rounds digits beyond the cent half away from zero', () => {
    expect(parseMoneyCents('0.004')).toBe(0);
    expect(parseMoneyCents('0.005')).toBe(1);
    expect(parseMoneyCents('-0.005')).toBe(-1);
    expect(parseMoneyCents('-12.3449999')).toBe(-1234);
  });

  it('reads JSON numbers and exponents as the decimal they print as', () => {
    expect(parseMoneyCents(100.05)).toBe(10005);
    expect(parseMoneyCents(-0.1)).toBe(-10);
    expect(parseMoneyCents('1.5e3')).toBe(150_000);
    expect(parseMoneyCents('1e-7')).toBe(0);
    expect(parseMoneyCents(1e10)).toBe(1e12);
    expect(() => parseMoneyCents(1e21)).toThrow(/too large/);
  });

  it('refuses what is not a finite decimal, naming the field', () => {
    for (const bad of [
      '',
      ' ',
      'abc',
      '1,5',
      '1.2.3',
      '--1',
      'NaN',
      'Infinity',
      '0x10',
      null,
      undefined,
      {},
      Number.NaN,
    ]) {
      expect(() => parseMoneyCents(bad, 'Balance'), String(bad)).toThrow(AnswerError);
    }
    expect(() => parseMoneyCents('x', 'Balance')).toThrow(/Balance/);
    expect(() => parseMoneyCents('1e400')).toThrow(AnswerError);
    expect(() => parseMoneyCents('99999999999999999')).toThrow(/too large/);
  });

  it('formats signed cents as the Web API decimal string', () => {
    expect(formatCents(10005)).toBe('100.05');
    expect(formatCents(-25000)).toBe('-250.00');
    expect(formatCents(5)).toBe('0.05');
    expect(formatCents(-5)).toBe('-0.05');
    expect(formatCents(0)).toBe('0.00');
    expect(() => formatCents(1.5)).toThrow(/integer/);
  });

  it('formatting then parsing gives the cents back, for any amount', () => {
    const { seed, numRuns } = propertyParams('mt5-webapi money round trip', 500);
    fc.assert(
      fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (cents) => {
        expect(parseMoneyCents(formatCents(cents))).toBe(cents);
      }),
      { seed, numRuns },
    );
  });
});

describe('mt5-webapi retcodes and envelopes (facts 3.3)', () => {
  it('reads "<code> <text>"', () => {
    expect(parseRetcode('0 Done')).toEqual({ code: 0, text: 'Done' });
    expect(parseRetcode('10019 No money')).toEqual({ code: 10019, text: 'No money' });
    expect(parseRetcode('13')).toEqual({ code: 13, text: '' });
    expect(parseRetcode(' 3  Invalid parameters ')).toEqual({ code: 3, text: 'Invalid parameters' });
    expect(parseRetcode(0)).toEqual({ code: 0, text: '' });
  });

  it('refuses a retcode without a leading code', () => {
    for (const bad of ['', 'Done', '-1 x', '1.5 x', 'x 0', null, undefined, -3, 2.5, {}]) {
      expect(parseRetcode(bad), String(bad)).toBeNull();
    }
  });

  const answer = (status: number, text: string) => readReply({ kind: 'answer', status, text });

  it('a 200 with a success retcode is ok; 10009 (trade requests) too', () => {
    expect(answer(200, '{"retcode":"0 Done","answer":{"Ticket":"5"}}')).toMatchObject({ kind: 'ok', code: 0 });
    expect(answer(200, '{"retcode":"10009 Request completed"}')).toMatchObject({ kind: 'ok', code: 10009 });
  });

  it('a failure retcode is kept whatever the HTTP status', () => {
    expect(answer(200, '{"retcode":"10019 No money"}')).toEqual({
      kind: 'retcode',
      code: 10019,
      text: 'No money',
      status: 200,
    });
    expect(answer(400, '{"retcode":"3 Invalid parameters"}')).toMatchObject({ kind: 'retcode', code: 3, status: 400 });
  });

  it('a status other than 200 without an envelope is a bad answer, and a 403 a refusal', () => {
    expect(answer(500, 'Internal Server Error')).toMatchObject({ kind: 'bad_answer', status: 500 });
    expect(answer(200, 'not json')).toMatchObject({ kind: 'bad_answer', status: 200 });
    expect(answer(200, '{"answer":{}}')).toMatchObject({ kind: 'bad_answer' });
    expect(answer(403, 'Forbidden')).toMatchObject({ kind: 'forbidden' });
    // A success code on a failed status: nothing can be concluded.
    expect(answer(500, '{"retcode":"0 Done"}')).toMatchObject({ kind: 'bad_answer', status: 500 });
  });

  it('transport outcomes pass through', () => {
    expect(readReply({ kind: 'lost', detail: 'reset' })).toEqual({ kind: 'lost', detail: 'reset' });
  });
});

describe('mt5-webapi records', () => {
  it('reads numbers given as strings, and refuses a malformed one', () => {
    expect(intField({ Login: '764636' }, 'Login')).toBe(764636);
    expect(intField({ Login: 764636 }, 'Login')).toBe(764636);
    expect(() => intField({ Login: '76x' }, 'Login')).toThrow(/Login/);
    expect(() => intField({}, 'Login')).toThrow(AnswerError);
    expect(() => intField({ Login: '1.5' }, 'Login')).toThrow(AnswerError);
  });

  it('reads the leading unix seconds of time/server', () => {
    expect(parseServerTime({ Time: '1572518788 2019.10.31 10:46:28' })).toBe(1572518788);
    expect(parseServerTime('1572518788 2019.10.31 10:46:28')).toBe(1572518788);
    expect(() => parseServerTime({ Time: 'soon' })).toThrow(AnswerError);
  });

  it('maps a user record with money as decimal strings', () => {
    const account = toAccount({
      Login: '1001',
      Group: 'real\\standard-usd',
      Name: 'A B',
      Email: 'a@b.test',
      Country: 'Germany',
      ID: 'crm-1',
      Leverage: '100',
      Rights: String(0x163 | 0x200),
      Balance: '100.05',
      Credit: '0.00',
      Registration: '1700000000',
    });
    expect(account).toMatchObject({ login: 1001, balanceCents: 10005, enabled: true, readOnly: true, leverage: 100 });
  });

  it('turns deals into stream events: balance-side, trade open and close, nothing for the rest', () => {
    const deal = (fields: Record<string, string>) => ({ Deal: '9', Login: '1001', Time: '1700000000', ...fields });
    expect(dealEvents(deal({ Action: '2', Profit: '42.00', Comment: 'dep' }))).toEqual([
      { type: 'balance', login: 1001, ticket: 9, kind: 'balance', amountCents: 42_00, comment: 'dep' },
    ]);
    expect(dealEvents(deal({ Action: '3', Profit: '-5.5', Comment: '' }))).toEqual([
      { type: 'balance', login: 1001, ticket: 9, kind: 'credit', amountCents: -5_50, comment: '' },
    ]);
    expect(dealEvents(deal({ Action: '0', Entry: '0', PositionID: '77' }))).toEqual([
      { type: 'trade', action: 'open', login: 1001, ticket: 77 },
    ]);
    expect(dealEvents(deal({ Action: '1', Entry: '1', PositionID: '77' }))).toEqual([
      { type: 'trade', action: 'close', login: 1001, ticket: 77 },
    ]);
    // DEAL_AGENT (18) is neither a dealer balance type nor a trade.
    expect(dealEvents(deal({ Action: '18', Profit: '1.00' }))).toEqual([]);
  });

  it('pairs the deals of a closed trade as the sim adapter does', () => {
    const common = { Login: '1001', Symbol: 'EURUSD', Volume: '2000', PositionID: '77' };
    const trades = toClosedTrades([
      { ...common, Deal: '1', Action: '1', Entry: '0', Time: '100', Price: '1.1', PricePosition: '0', Profit: '0' },
      {
        ...common,
        Deal: '2',
        Action: '0',
        Entry: '1',
        Time: '200',
        Price: '1.2',
        PricePosition: '1.1',
        Profit: '-20.00',
      },
    ]);
    expect(trades).toEqual([
      {
        ticket: 77,
        login: 1001,
        symbol: 'EURUSD',
        side: 'sell',
        volumeCentiLots: 20,
        openPrice: 1.1,
        openServerSec: 100,
        closePrice: 1.2,
        closeServerSec: 200,
        profitCents: -20_00,
      },
    ]);
  });

  it('a user fingerprint ignores money and activity but not configuration', () => {
    const user = { Login: '1', Group: 'g', Leverage: '100', Balance: '1.00', LastAccess: '5' };
    expect(userFingerprint({ ...user, Balance: '2.00', LastAccess: '6' })).toBe(userFingerprint(user));
    expect(userFingerprint({ ...user, Leverage: '50' })).not.toBe(userFingerprint(user));
  });
});

describe('mt5-webapi options', () => {
  it('refuses bad options with a coded error naming each field', () => {
    let error: unknown;
    try {
      createMt5WebApiManagerApi({ serverId: '', url: 'ftp://x', timeoutMs: 0, agent: 'two words', version: 100 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MtproofError);
    const issues = (error as MtproofError).issues.map((i) => i.path);
    expect(issues).toEqual(['url', 'serverId', 'timeoutMs', 'agent', 'version']);
    expect(() => createMt5WebApiManagerApi({ serverId: 's', url: 'not a url' })).toThrow(/url/);
  });

  it('accepts https and http URLs and starts not connected', () => {
    for (const url of ['https://mt5.example.test:443', 'http://127.0.0.1:8080']) {
      const api = createMt5WebApiManagerApi({ serverId: 's', url });
      expect(api.isConnected()).toBe(false);
      expect(api.platform).toBe('mt5');
      expect(api.limits.commentChars).toBe(31);
    }
  });
});
