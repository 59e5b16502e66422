import type { ManagerApi, ManagerRights, ManagerSession, Result } from '../adapters/port/manager-api.ts';
import type { Clock } from '../kit/clock.ts';

/**
 * The go-live probe: what a broker runs against a real server before letting an integration loose on it, through
 * the adapter the service will use. Read-only by default — connect, rights, server time, ping, groups, one
 * account, its margin and history — and, when asked, a tiny round trip on a demo account: deposit one unit, read it
 * back, withdraw it, read that back, and check that the balance is where it started. An answer that may or may not
 * have been applied (`unknown`) stops the round trip: the probe looks at the history and says what it found, and
 * never sends again blindly.
 */

export type ProbeStatus = 'ok' | 'failed' | 'skipped' | 'warning';

export interface ProbeCheck {
  name: string;
  status: ProbeStatus;
  detail: string;
  durationMs: number;
}

export interface ProbeOptions {
  api: ManagerApi;
  clock: Clock;
  credentials: { login: number; password: string };
  /** The account to read; default: the first one `listAccounts(groupMask)` returns. */
  account?: number;
  groupMask?: string;
  /** A demo account for the deposit-and-withdraw round trip; absent: read-only. */
  roundTrip?: number;
  /** Amount of the round trip (default 100 = one unit of the account's currency). */
  roundTripCents?: number;
  /** How far back history is read (default 30 days). */
  historyDays?: number;
}

export interface ProbeReport {
  serverId: string;
  platform: string;
  passed: boolean;
  checks: ProbeCheck[];
}

const DAY_SEC = 86_400;

export async function runProbe(options: ProbeOptions): Promise<ProbeReport> {
  const { api, clock } = options;
  const checks: ProbeCheck[] = [];
  const step = async (name: string, body: () => Promise<{ status: ProbeStatus; detail: string }>) => {
    const startedMs = clock.nowMs();
    let outcome: { status: ProbeStatus; detail: string };
    try {
      outcome = await body();
    } catch (error) {
      outcome = { status: 'failed', detail: `error: ${(error as Error).message}` };
    }
    checks.push({ name, ...outcome, durationMs: clock.nowMs() - startedMs });
    return outcome.status;
  };
  const failed = <T>(r: Result<T>): { status: ProbeStatus; detail: string } => ({
    status: 'failed',
    detail: r.ok ? '' : r.error.message,
  });

  let rights: ManagerSession['rights'] = null;
  const connected = await step('connect', async () => {
    const r = await api.connect(options.credentials);
    if (!r.ok) return failed(r);
    rights = r.value.rights;
    return { status: 'ok', detail: `logged in as ${r.value.login}` };
  });
  if (connected !== 'ok') {
    await api.close();
    return { serverId: api.serverId, platform: api.platform, passed: false, checks };
  }

  let serverSec = Math.floor(clock.nowMs() / 1000);
  await step('rights', async () => {
    if (rights === null) return { status: 'skipped', detail: 'this API does not tell a manager its rights' };
    const granted: ManagerRights = rights;
    const missing = (['accounts', 'money', 'trades'] as const).filter((right) => !granted[right]);
    return missing.length === 0
      ? { status: 'ok', detail: `accounts, money, trades; groups ${granted.groups.join(',')}` }
      : { status: 'failed', detail: `the manager lacks: ${missing.join(', ')}` };
  });
  await step('server time', async () => {
    const r = await api.serverTime();
    if (!r.ok) return failed(r);
    serverSec = r.value;
    const offsetMin = Math.round((r.value - clock.nowMs() / 1000) / 60);
    return {
      status: 'ok',
      detail: `server clock is UTC${offsetMin >= 0 ? '+' : ''}${offsetMin} min (its time zone and skew)`,
    };
  });
  await step('ping', async () => {
    const r = await api.ping();
    return r.ok ? { status: 'ok', detail: 'round trip answered' } : failed(r);
  });
  await step('groups', async () => {
    const r = await api.groups();
    if (!r.ok) return failed(r);
    if (r.value.length === 0) return { status: 'warning', detail: 'the manager sees no group' };
    const names = r.value.map((g) => `${g.name} (${g.currency})`);
    return {
      status: 'ok',
      detail: `${r.value.length}: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''}`,
    };
  });

  let login = options.account;
  await step('one account', async () => {
    if (login === undefined) {
      const r = await api.listAccounts(options.groupMask ?? '*');
      if (!r.ok) return failed(r);
      if (r.value.length === 0) return { status: 'warning', detail: 'no account in the groups the manager sees' };
      login = (r.value[0] as { login: number }).login;
    }
    const a = await api.getAccount(login);
    if (!a.ok) return failed(a);
    const m = await api.marginLevel(login);
    if (!m.ok) return failed(m);
    return {
      status: 'ok',
      detail: `${login} in ${a.value.group}: balance ${a.value.balanceCents}, credit ${a.value.creditCents}, equity ${m.value.equityCents}, free margin ${m.value.freeMarginCents} (cents)`,
    };
  });
  await step('history', async () => {
    if (login === undefined) return { status: 'skipped', detail: 'no account to read' };
    const from = serverSec - (options.historyDays ?? 30) * DAY_SEC;
    const ops = await api.balanceHistory(login, from, serverSec + DAY_SEC);
    if (!ops.ok) return failed(ops);
    const trades = await api.trades(login, from, serverSec + DAY_SEC);
    if (!trades.ok) return failed(trades);
    return { status: 'ok', detail: `${ops.value.length} balance operations, ${trades.value.length} closed trades` };
  });

  if (options.roundTrip === undefined) {
    checks.push({
      name: 'round trip',
      status: 'skipped',
      detail: 'read-only (give --round-trip LOGIN of a demo account)',
      durationMs: 0,
    });
  } else {
    await roundTrip(api, options.roundTrip, options.roundTripCents ?? 100, serverSec, step);
  }
  await api.close();
  return {
    serverId: api.serverId,
    platform: api.platform,
    passed: checks.every((c) => c.status !== 'failed'),
    checks,
  };
}

type Step = (name: string, body: () => Promise<{ status: ProbeStatus; detail: string }>) => Promise<ProbeStatus>;

async function roundTrip(api: ManagerApi, login: number, cents: number, serverSec: number, step: Step): Promise<void> {
  const tag = `mtproof probe ${serverSec}`;
  let startCents = 0;
  const read = async (): Promise<number | string> => {
    const a = await api.getAccount(login);
    return a.ok ? a.value.balanceCents : a.error.message;
  };
  /** Whether history holds an operation of `amount` with `comment` (how an unknown answer is settled). */
  const inHistory = async (amount: number, comment: string): Promise<number | null | string> => {
    const h = await api.balanceHistory(login, serverSec - 3_600, serverSec + 7 * DAY_SEC);
    if (!h.ok) return h.error.message;
    const cut = comment.slice(0, api.limits.commentChars);
    return h.value.find((op) => op.amountCents === amount && op.comment === cut)?.ticket ?? null;
  };
  const moved = async (amount: number, comment: string): Promise<{ status: ProbeStatus; detail: string }> => {
    const r = await api.postBalance({ login, amountCents: amount, kind: 'balance', comment });
    if (r.ok) {
      const ticket = await inHistory(amount, comment);
      return ticket === r.value.ticket
        ? { status: 'ok', detail: `ticket ${r.value.ticket}, found in history` }
        : { status: 'warning', detail: `ticket ${r.value.ticket}; history does not show it yet (${String(ticket)})` };
    }
    if (r.error.outcome !== 'unknown') return { status: 'failed', detail: r.error.message };
    // Sent, no answer: look before anything else.
    const ticket = await inHistory(amount, comment);
    return {
      status: 'failed',
      detail: `${r.error.message}; history ${typeof ticket === 'number' ? `shows it applied as ticket ${ticket}` : 'does not show it (yet)'} — not sent again`,
    };
  };
  const before = await step('round trip: balance before', async () => {
    const b = await read();
    if (typeof b === 'string') return { status: 'failed', detail: b };
    startCents = b;
    return { status: 'ok', detail: `${login}: ${b}` };
  });
  if (before !== 'ok') return;
  const deposited = await step('round trip: deposit', () => moved(cents, `${tag} in`));
  if (deposited === 'failed') return;
  const withdrawn = await step('round trip: withdrawal', () => moved(-cents, `${tag} out`));
  if (withdrawn === 'failed') return;
  await step('round trip: balance after', async () => {
    const b = await read();
    if (typeof b === 'string') return { status: 'failed', detail: b };
    return b === startCents
      ? { status: 'ok', detail: `${login}: back to ${b}` }
      : {
          status: 'failed',
          detail: `${login}: ${b}, not ${startCents} (something else moved it, or a leg applied twice)`,
        };
  });
}
