import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimHost } from '../../../simulator/http/host.ts';
import { buildWebApiApp, CONNECTION_HEADER, srvRandAnswer } from '../../../simulator/http/webapi/index.ts';
import { propertyParams } from '../../property.ts';

/**
 * Random query strings and bodies at every command of the served Web API, on an authenticated connection and
 * on a fresh one: never a 5xx, always a JSON envelope whose first member is a "<number> <text>" retcode.
 */

const COMMANDS = [
  'auth/start',
  'auth/answer',
  'test/access',
  'quit',
  'time/server',
  'user/add',
  'user/update',
  'user/get',
  'user/get_batch',
  'user/logins',
  'user/account/get',
  'user/account/get_batch',
  'user/change_password',
  'trade/balance',
  'deal/get',
  'deal/get_total',
  'deal/get_page',
  'deal/get_batch',
  'position/get',
  'position/get_total',
  'position/get_page',
  'position/get_batch',
  'group/get',
  'group/total',
  'group/next',
  'user/delete',
  'nothing',
];

/** Junk any parameter may get. */
const junk = fc.oneof(
  fc.constantFrom('', '0', '-0', '1e9', 'NaN', '__proto__', '%', '*', ',,,', ' 1 '),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

const login = fc.integer({ min: 4_999_998, max: 5_000_008 }).map(String);
const logins = fc.array(fc.integer({ min: 4_999_998, max: 5_000_008 }), { maxLength: 4 }).map((xs) => xs.join(','));
const amount = fc.oneof(
  fc.integer({ min: -2_000, max: 2_000 }).map(String),
  fc.constantFrom('0.01', '-0.01', '1000000000', '1000000001', '-99999999999999999999', '12.345', '+5'),
);
const time = fc.oneof(
  fc.constant('0'),
  fc.constant(String(2 ** 31 - 1)),
  fc.integer({ min: 0, max: 2 ** 31 }).map(String),
);
const group = fc.constantFrom('real\\standard-usd', 'real\\pro-usd', 'real\\*', 'real\\*,!real\\pro-usd', 'demo', '*');

/** Plausible values per parameter, so that commands get past their parameter checks and into the dialect. */
const PLAUSIBLE: Record<string, fc.Arbitrary<string>> = {
  login: fc.oneof(login, logins),
  type: fc.oneof(fc.integer({ min: 1, max: 7 }).map(String), fc.constantFrom('main', 'investor', 'api', 'manager')),
  balance: amount,
  comment: fc.string({ maxLength: 50 }),
  check_margin: fc.constantFrom('0', '1', '2'),
  ticket: fc.oneof(
    fc.integer({ min: 1, max: 40 }).map(String),
    fc.array(fc.integer({ min: 1, max: 40 })).map((t) => t.join(',')),
  ),
  from: time,
  to: time,
  offset: fc.integer({ min: 0, max: 5 }).map(String),
  total: fc.integer({ min: 0, max: 120 }).map(String),
  group,
  name: fc.constantFrom('Ada', 'Grace Hopper', 'x'.repeat(200)),
  leverage: fc.integer({ min: 0, max: 600 }).map(String),
  pass_main: fc.constantFrom('Secret#123a', 'weak'),
  pass_investor: fc.constantFrom('Invest#123a', ''),
  rights: fc.constantFrom('0', '355', '867', '-1'),
  email: fc.emailAddress(),
  symbol: fc.constantFrom('EURUSD', 'GBPUSD,XAUUSD', 'NOPE'),
  index: fc.integer({ min: -1, max: 4 }).map(String),
  password: fc.constantFrom('Secret#456b', 'short'),
  version: fc.constantFrom('484', '483', '4000', 'x'),
  agent: fc.constantFrom('fuzz', 'a b', ''),
  srv_rand_answer: fc.constantFrom('00'.repeat(16), 'zz'),
  cli_rand: fc.constantFrom('11'.repeat(16), ''),
};

const query = fc
  .record(
    Object.fromEntries(
      Object.entries(PLAUSIBLE).map(([name, arb]) => [
        name,
        fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: junk }),
      ]),
    ),
    { requiredKeys: [] },
  )
  .chain((known) =>
    fc
      .array(fc.tuple(fc.string({ maxLength: 8 }), junk), { maxLength: 2 })
      .map((extra) => [...Object.entries(known as Record<string, string>), ...extra]),
  );

const BODY_NAMES = [
  'Login',
  'Group',
  'Name',
  'Leverage',
  'PassMain',
  'PassInvestor',
  'Rights',
  'Comment',
  'login',
  'ticket',
];

const bodyValue = fc.oneof(
  junk,
  login,
  group,
  fc.constantFrom('Secret#123a', 'Ada'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(login, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), junk, { maxKeys: 2 }),
);

const body = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: fc.dictionary(fc.constantFrom(...BODY_NAMES), bodyValue, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom('{', '[]', 'null', '{"__proto__": {"x": 1}}', '   ') },
);

const request = fc.record({
  command: fc.constantFrom(...COMMANDS),
  query,
  body,
  authenticated: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  contentType: fc.constantFrom(undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain'),
});

let host: SimHost;
let app: ReturnType<typeof buildWebApiApp>;
let connections = 0;

beforeAll(async () => {
  host = new SimHost({ seed: 'webapi-fuzz', frozen: true });
  app = buildWebApiApp(host, 'mt5-live-global', { connectionKey: 'header', journal: false });
  // A few accounts with deals and an open position, so that reads find something.
  await authenticate('setup');
  for (let i = 0; i < 4; i++) {
    const added = await app.inject({
      method: 'POST',
      url: '/api/user/add?group=real%5Cstandard-usd&name=Seed&leverage=100',
      headers: { [CONNECTION_HEADER]: 'setup' },
      payload: JSON.stringify({ PassMain: 'Secret#123a' }),
    });
    const login = Number(added.json().answer.Login);
    await app.inject({
      method: 'GET',
      url: `/api/trade/balance?login=${login}&type=2&balance=5000`,
      headers: { [CONNECTION_HEADER]: 'setup' },
    });
    expect(host.cluster.client('mt5-live-global').open(login, 'EURUSD', 'buy', 10).ok).toBe(true);
  }
});

afterAll(async () => {
  await app.close();
});

async function authenticate(connection: string): Promise<void> {
  const headers = { [CONNECTION_HEADER]: connection };
  const start = await app.inject({
    method: 'GET',
    url: '/api/auth/start?version=4000&agent=fuzz&login=1000&type=manager',
    headers,
  });
  const srvRand = start.json().srv_rand as string;
  const answer = await app.inject({
    method: 'GET',
    url: `/api/auth/answer?srv_rand_answer=${srvRandAnswer('Manager#1', srvRand)}&cli_rand=${'ab'.repeat(16)}`,
    headers,
  });
  expect(answer.statusCode).toBe(200);
}

describe('the served Web API under random requests', () => {
  it('answers every request with a JSON retcode envelope and never a 5xx', async () => {
    const params = propertyParams('webapi fuzz', 300);
    let answered = 0;
    let done = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const connection = `fuzz-${++connections}`;
        if (r.authenticated) await authenticate(connection);
        const search = r.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const response = await app.inject({
          method: r.body === undefined ? 'GET' : 'POST',
          url: `/api/${r.command}${search === '' ? '' : `?${search}`}`,
          headers: {
            [CONNECTION_HEADER]: connection,
            ...(r.contentType === undefined ? {} : { 'content-type': r.contentType }),
          },
          ...(r.body === undefined ? {} : { payload: r.body }),
        });
        expect(response.statusCode).toBeLessThan(500);
        const parsed = response.json() as Record<string, unknown>;
        expect(Object.keys(parsed)[0]).toBe('retcode');
        expect(parsed.retcode).toMatch(/^\d+ .+/);
        answered++;
        if (r.authenticated && parsed.retcode === '0 Done' && !r.command.startsWith('auth/')) done++;
      }),
      params,
    );
    expect(answered).toBe(params.numRuns);
    // The generators reach the commands themselves, not only their parameter checks.
    expect(done, 'commands answered "0 Done"').toBeGreaterThan(0);
  });
});
