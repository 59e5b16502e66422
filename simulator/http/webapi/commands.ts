import { MT5_RET as R } from '../../../metatrader/codes.ts';
import { MT5_USER_RIGHT } from '../../../metatrader/constants.ts';
import { MT5_LIMITS } from '../../../metatrader/limits.ts';
import type { Mt5Deal, Mt5ManagerApi, Mt5User, SimServer } from '../../index.ts';
import { mt5User } from '../../mt5.ts';
import type { SimHost } from '../host.ts';
import { ParamError, type Params } from './params.ts';
import { accountRecord, dealRecord, groupRecord, positionRecord, serverTimeText, userRecord } from './records.ts';
import type { WebApiAnswer } from './retcode.ts';

/**
 * The authenticated commands (facts 3.4), each one or more requests of the connection's `Mt5ManagerApi`, so
 * the cluster's faults, history lag and the manager's rights apply as they do to a Manager API client. A
 * command that needs several dialect requests (batches, user/update) answers the first failing code.
 */

export interface CommandContext {
  readonly host: SimHost;
  readonly serverId: string;
  readonly params: Params;
  readonly link: Mt5ManagerApi;
}

export type Command = (ctx: CommandContext) => Promise<WebApiAnswer> | WebApiAnswer;

/** All of history: DealRequest takes server-time seconds. */
const ALL_TIME: readonly [number, number] = [0, Number.MAX_SAFE_INTEGER];
/** facts 3.4: deal/get_page returns at most 100 per call (the same limit is applied to position/get_page). */
export const MAX_PAGE = 100;
/** The Web API's balance operation types (facts 3.4): 2 balance, 3 credit, 4 charge, 5 correction, 6 bonus. */
const BALANCE_TYPES: readonly number[] = [2, 3, 4, 5, 6];
/**
 * Amounts whose cents are no longer exact doubles: answered MT_RET_TRADE_MAX_MONEY here, as the server does
 * from 1 000 000 000 up (facts 3.5) — the dialect would otherwise see an amount it cannot hold.
 */
const AMOUNT_BEYOND_CENTS = 1e13;

function done(answer?: unknown): WebApiAnswer {
  return answer === undefined ? { code: R.MT_RET_OK } : { code: R.MT_RET_OK, answer };
}

function failed(code: number): WebApiAnswer {
  return { code };
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max);
}

function page<T>(items: readonly T[], params: Params): T[] {
  const offset = params.int('offset', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
  const total = params.int('total', { min: 1, max: MAX_PAGE, fallback: MAX_PAGE });
  return items.slice(offset, offset + total);
}

function total(count: number): WebApiAnswer {
  return done({ total: String(count) });
}

// ---- users ----

async function userAdd({ params, link, host, serverId }: CommandContext): Promise<WebApiAnswer> {
  const user: Mt5User = {
    // facts 3.4: login 0 or absent lets the server allocate one.
    Login: params.int('login', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0, bodyName: 'Login' }),
    Group: params.requiredText('group', 'Group'),
    // facts 3.6: name 128 and comment 64 characters including the terminator; longer values are cut.
    Name: cut(params.requiredText('name', 'Name'), MT5_LIMITS.nameChars),
    Email: params.field('email', 'Email') ?? '',
    Country: params.field('country', 'Country') ?? '',
    ID: params.field('id', 'ID') ?? '',
    Comment: cut(params.field('comment', 'Comment') ?? '', MT5_LIMITS.commentUserChars),
    Leverage: params.int('leverage', { min: 0, max: 2 ** 31 - 1, bodyName: 'Leverage' }),
    // USER_RIGHT_* bits fit 32 bits; a larger number would wrap in the bit tests (silently another set of rights).
    Rights: params.int('rights', {
      min: 0,
      max: 2 ** 32 - 1,
      fallback: MT5_USER_RIGHT.USER_RIGHT_DEFAULT,
      bodyName: 'Rights',
    }),
    Balance: 0,
    Credit: 0,
    Registration: 0,
    PassMain: params.field('pass_main', 'PassMain') ?? '',
    PassInvestor: params.field('pass_investor', 'PassInvestor'),
  };
  const code = await link.UserAdd(user);
  if (code !== R.MT_RET_OK) return failed(code);
  // The server answers with the record it stored (balance of a demo group's deposit, registration time).
  const stored = host.cluster.servers.get(serverId)?.accounts.get(user.Login);
  return done(userRecord(stored === undefined ? user : mt5User(stored)));
}

/** facts 3.4: login required; other fields optional; invalid values are ignored field by field. */
async function userUpdate({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const login = params.login('login', 'Login');
  const current = await link.UserRequest(login);
  if (current.code !== R.MT_RET_OK || current.user === null) return failed(current.code);
  const user: Mt5User = { ...current.user };
  const group = params.field('group', 'Group');
  if (group !== undefined && group.trim() !== '') user.Group = group;
  const name = params.field('name', 'Name');
  if (name !== undefined && name.trim() !== '') user.Name = cut(name, MT5_LIMITS.nameChars);
  user.Email = params.field('email', 'Email') ?? user.Email;
  user.Country = params.field('country', 'Country') ?? user.Country;
  const comment = params.field('comment', 'Comment');
  if (comment !== undefined) user.Comment = cut(comment, MT5_LIMITS.commentUserChars);
  user.Leverage =
    params.lenientInt('leverage', 'Leverage', MT5_LIMITS.leverageMin, MT5_LIMITS.leverageMax) ?? user.Leverage;
  user.Rights = params.lenientInt('rights', 'Rights', 0, 2 ** 32 - 1) ?? user.Rights;
  const code = await link.UserUpdate(user);
  if (code !== R.MT_RET_OK) return failed(code);
  return done(userRecord(user));
}

async function userGet({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.UserRequest(params.login());
  if (r.code !== R.MT_RET_OK || r.user === null) return failed(r.code);
  return done(userRecord(r.user));
}

/**
 * The logins a batch command names: its `login` list, plus the logins of the groups its `group` list or mask
 * matches (asked of the server). At least one of the two is required.
 */
async function batchLogins(params: Params, link: Mt5ManagerApi): Promise<number[] | WebApiAnswer> {
  const logins = params.idList('login') ?? [];
  const groups = params.list('group') ?? [];
  if (logins.length === 0 && groups.length === 0) throw new ParamError('login', 'a login list or a group is required');
  const out = new Set(logins);
  if (groups.length > 0) {
    const r = await link.UserRequestByGroup(groups.join(','));
    if (r.code !== R.MT_RET_OK) return failed(r.code);
    for (const u of r.users) out.add(u.Login);
  }
  return [...out];
}

async function userGetBatch({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const logins = params.idList('login') ?? [];
  const groups = params.list('group') ?? [];
  if (logins.length === 0 && groups.length === 0) throw new ParamError('login', 'a login list or a group is required');
  const users = new Map<number, Mt5User>();
  for (const login of new Set(logins)) {
    const r = await link.UserRequest(login);
    // A login the server does not have is left out of the batch.
    if (r.code === R.MT_RET_ERR_NOTFOUND) continue;
    if (r.code !== R.MT_RET_OK || r.user === null) return failed(r.code);
    users.set(login, r.user);
  }
  if (groups.length > 0) {
    const r = await link.UserRequestByGroup(groups.join(','));
    if (r.code !== R.MT_RET_OK) return failed(r.code);
    for (const u of r.users) if (!users.has(u.Login)) users.set(u.Login, u);
  }
  return done([...users.values()].map(userRecord));
}

async function userLogins({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const groups = params.list('group') ?? [];
  if (groups.length === 0) throw new ParamError('group', 'required');
  const r = await link.UserRequestByGroup(groups.join(','));
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  return done(r.users.map((u) => String(u.Login)));
}

async function accountGet({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.UserAccountRequest(params.login());
  if (r.code !== R.MT_RET_OK || r.account === null) return failed(r.code);
  return done(accountRecord(r.account));
}

async function accountGetBatch({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const logins = await batchLogins(params, link);
  if (!Array.isArray(logins)) return logins;
  const accounts = [];
  for (const login of logins) {
    const r = await link.UserAccountRequest(login);
    if (r.code === R.MT_RET_ERR_NOTFOUND) continue;
    if (r.code !== R.MT_RET_OK || r.account === null) return failed(r.code);
    accounts.push(accountRecord(r.account));
  }
  return done(accounts);
}

/** USER_PASS_MAIN 0, USER_PASS_INVESTOR 1, USER_PASS_API 2 (facts 2.6). */
const PASSWORD_TYPES: ReadonlyMap<string, number> = new Map([
  ['main', 0],
  ['investor', 1],
  ['api', 2],
]);

/** facts 3.4: `type` main, investor or api. API passwords are not modelled: the dialect refuses them (3). */
async function changePassword({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const login = params.login();
  const type = PASSWORD_TYPES.get(params.query('type') ?? 'main');
  if (type === undefined) throw new ParamError('type', 'main, investor or api');
  const password = params.field('password', 'Password');
  if (password === undefined || password === '') throw new ParamError('password', 'required');
  return { code: await link.UserPasswordChange(type, login, password) };
}

// ---- money ----

/**
 * facts 3.4/3.5: `login`, `type` 2..6, `balance` signed, `comment` (cut at 31 characters by the server),
 * `check_margin` 1 (default) or 0. The dialect's DealerBalance answers MT_RET_REQUEST_DONE (10009) with the
 * deal; the Web API answers "0 Done" with `{ "Ticket": … }`. check_margin=0 lets a withdrawal exceed the free
 * margin (never the balance, nor the credit given).
 */
async function tradeBalance({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const login = params.login();
  const type = params.int('type', { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  if (!BALANCE_TYPES.includes(type)) return { code: R.MT_RET_ERR_PARAMS, detail: `type: ${type} is not 2..6` };
  const amount = params.amount('balance');
  const checkMargin = params.int('check_margin', { min: 0, max: 1, fallback: 1 }) === 1;
  if (Math.abs(amount) >= AMOUNT_BEYOND_CENTS) return failed(R.MT_RET_TRADE_MAX_MONEY);
  const r = await link.DealerBalance(login, amount, type, params.field('comment') ?? '', { checkMargin });
  if (r.code !== R.MT_RET_REQUEST_DONE) return failed(r.code);
  return done({ Ticket: String(r.dealId) });
}

// ---- deals ----

/**
 * Which login a deal ticket belongs to, from the server's own records (a real server has its deal index):
 * the dialect has no request by ticket, so deal/get finds the login here and then asks the dialect for that
 * login's history, where faults, lag and rights apply. Rebuilt on a miss; deals never change hands.
 */
const dealOwners = new WeakMap<SimServer, Map<number, number>>();

function ownerOfDeal(server: SimServer | undefined, ticket: number): number | undefined {
  if (server === undefined) return undefined;
  let owners = dealOwners.get(server);
  if (owners === undefined) {
    owners = new Map();
    dealOwners.set(server, owners);
  }
  const known = owners.get(ticket);
  if (known !== undefined) return known;
  for (const login of server.accounts.keys()) {
    for (const op of server.allBalanceOps(login)) owners.set(op.ticket, login);
    for (const t of server.allClosedTrades(login)) {
      owners.set(t.openDeal, login);
      owners.set(t.closeDeal, login);
    }
    for (const p of server.openPositions(login)) owners.set(p.openDeal, login);
  }
  return owners.get(ticket);
}

async function dealGet({ params, link, host, serverId }: CommandContext): Promise<WebApiAnswer> {
  const ticket = params.int('ticket', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const login = ownerOfDeal(host.cluster.servers.get(serverId), ticket);
  if (login === undefined) return failed(R.MT_RET_ERR_NOTFOUND);
  const r = await link.DealRequest(login, ...ALL_TIME);
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  // Still lagging history shows nothing yet: not found, as for any deal the server does not show.
  const deal = r.deals.find((d) => d.Deal === ticket);
  return deal === undefined ? failed(R.MT_RET_ERR_NOTFOUND) : done(dealRecord(deal));
}

async function dealsOfLogin(params: Params, link: Mt5ManagerApi): Promise<Mt5Deal[] | WebApiAnswer> {
  const login = params.login();
  const from = params.seconds('from');
  const to = params.seconds('to');
  const r = await link.DealRequest(login, from, to);
  return r.code === R.MT_RET_OK ? r.deals : failed(r.code);
}

async function dealGetTotal({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const deals = await dealsOfLogin(params, link);
  return Array.isArray(deals) ? total(deals.length) : deals;
}

async function dealGetPage({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const deals = await dealsOfLogin(params, link);
  return Array.isArray(deals) ? done(page(deals, params).map(dealRecord)) : deals;
}

/** facts 3.4: by `ticket` list, or by `login` list / `group` list or mask with `from`, `to`; optional `symbol` list. */
async function dealGetBatch({ params, link, host, serverId }: CommandContext): Promise<WebApiAnswer> {
  const tickets = params.idList('ticket') ?? [];
  const symbols = new Set((params.list('symbol') ?? []).map((s) => s.toUpperCase()));
  const wanted = new Map<number, { from: number; to: number; tickets: Set<number> | null }>();
  if (tickets.length > 0) {
    const server = host.cluster.servers.get(serverId);
    for (const ticket of tickets) {
      const login = ownerOfDeal(server, ticket);
      if (login === undefined) continue;
      const entry = wanted.get(login) ?? { from: ALL_TIME[0], to: ALL_TIME[1], tickets: new Set<number>() };
      entry.tickets?.add(ticket);
      wanted.set(login, entry);
    }
  } else {
    const logins = await batchLogins(params, link);
    if (!Array.isArray(logins)) return logins;
    const from = params.seconds('from');
    const to = params.seconds('to');
    for (const login of logins) wanted.set(login, { from, to, tickets: null });
  }
  const deals: Mt5Deal[] = [];
  for (const [login, { from, to, tickets: only }] of wanted) {
    const r = await link.DealRequest(login, from, to);
    if (r.code === R.MT_RET_ERR_NOTFOUND) continue;
    if (r.code !== R.MT_RET_OK) return failed(r.code);
    for (const d of r.deals) {
      if (only !== null && !only.has(d.Deal)) continue;
      if (symbols.size > 0 && !symbols.has(d.Symbol.toUpperCase())) continue;
      deals.push(d);
    }
  }
  deals.sort((a, b) => a.Time - b.Time || a.Deal - b.Deal);
  return done(deals.map(dealRecord));
}

// ---- positions ----

async function positionGet({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const login = params.login();
  const symbol = params.requiredText('symbol');
  const r = await link.PositionRequest(login);
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  const position = r.positions.find((p) => p.Symbol.toUpperCase() === symbol.toUpperCase());
  return position === undefined ? failed(R.MT_RET_ERR_NOTFOUND) : done(positionRecord(position));
}

async function positionGetTotal({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.PositionRequest(params.login());
  return r.code === R.MT_RET_OK ? total(r.positions.length) : failed(r.code);
}

async function positionGetPage({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.PositionRequest(params.login());
  return r.code === R.MT_RET_OK ? done(page(r.positions, params).map(positionRecord)) : failed(r.code);
}

async function positionGetBatch({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const symbols = new Set((params.list('symbol') ?? []).map((s) => s.toUpperCase()));
  const logins = await batchLogins(params, link);
  if (!Array.isArray(logins)) return logins;
  const r = await link.PositionRequestByLogins(logins);
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  const positions = r.positions.filter((p) => symbols.size === 0 || symbols.has(p.Symbol.toUpperCase()));
  return done(positions.map(positionRecord));
}

// ---- groups and time ----

/** facts 3.4: `group` by name (one object) or mask (`*`, `!`, commas: an array of the matching groups). */
async function groupGet({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const group = params.requiredText('group');
  const r = await link.GroupRequestArray(group);
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  if (/[*!,]/.test(group)) return done(r.groups.map(groupRecord));
  const found = r.groups[0];
  return found === undefined ? failed(R.MT_RET_ERR_NOTFOUND) : done(groupRecord(found));
}

async function groupTotal({ link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.GroupRequestArray('*');
  return r.code === R.MT_RET_OK ? total(r.groups.length) : failed(r.code);
}

async function groupNext({ params, link }: CommandContext): Promise<WebApiAnswer> {
  const index = params.int('index', { min: 0, max: Number.MAX_SAFE_INTEGER });
  const r = await link.GroupRequestArray('*');
  if (r.code !== R.MT_RET_OK) return failed(r.code);
  const group = r.groups[index];
  return group === undefined ? failed(R.MT_RET_ERR_NOTFOUND) : done(groupRecord(group));
}

async function timeServer({ link }: CommandContext): Promise<WebApiAnswer> {
  const r = await link.TimeServerRequest();
  return r.code === R.MT_RET_OK ? done({ Time: serverTimeText(r.time) }) : failed(r.code);
}

/** The commands behind a session, by path under `/api/`. `quit` and the handshake are the dispatcher's. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  // facts 3.1: the ping; answered by the access server itself (no trade-server request, no fault).
  ['test/access', () => done()],
  ['time/server', timeServer],
  ['user/add', userAdd],
  ['user/update', userUpdate],
  ['user/get', userGet],
  ['user/get_batch', userGetBatch],
  ['user/logins', userLogins],
  ['user/account/get', accountGet],
  ['user/account/get_batch', accountGetBatch],
  ['user/change_password', changePassword],
  ['trade/balance', tradeBalance],
  ['deal/get', dealGet],
  ['deal/get_total', dealGetTotal],
  ['deal/get_page', dealGetPage],
  ['deal/get_batch', dealGetBatch],
  ['position/get', positionGet],
  ['position/get_total', positionGetTotal],
  ['position/get_page', positionGetPage],
  ['position/get_batch', positionGetBatch],
  ['group/get', groupGet],
  ['group/total', groupTotal],
  ['group/next', groupNext],
]);
