import type { BrokerConfig, IbPlan } from './config.ts';
import type { Tx } from './store/port.ts';
import type { AccountRow, ClientRow, IbCommissionRow, TradeRow } from './store/schema.ts';

/**
 * IB (introducing broker) data: the commission a partner earns on its clients' closed trades, and the
 * trading volume of any account.
 *
 * A close recorded on an account whose client came through a partner (`ClientRow.partnerId`) gets one
 * `ib_commissions` row, in the transaction that records the close and keyed by the close's trade id: the
 * pump saying it twice, a fill finding it again, a restart reading history from the start — none records
 * the trade again, so none counts its commission again. Amounts are exact integers: a plan's rate is in
 * minor units per lot, a volume in hundredths of a lot, so the commission is in hundredths of a minor unit
 * (`commissionCentiCents`), never rounded.
 *
 * The plan is read from the config when the close is recorded: a rate changed later applies to later
 * closes only. A client whose partner the config no longer lists earns no one anything (logged by the caller).
 */

/** The rate (minor units per lot) `plan` pays on `symbol`. */
export function ratePerLotCents(plan: Readonly<IbPlan>, symbol: string): number {
  return plan.symbols[symbol] ?? plan.commissionPerLotCents;
}

/** The partner's plan, or undefined when the config lists no such partner (or plan). */
export function partnerPlan(
  config: Readonly<BrokerConfig>,
  partnerId: string,
): { partnerId: string; plan: Readonly<IbPlan> } | undefined {
  const partner = config.ib.partners.find((p) => p.id === partnerId);
  const plan = partner === undefined ? undefined : config.ib.plans.find((p) => p.id === partner.plan);
  return plan === undefined ? undefined : { partnerId, plan };
}

/**
 * The commission row of a recorded close, or null when nothing is owed (an open, a client without a partner).
 * `unknownPartner` is set when the client names a partner the config does not list.
 */
export function commissionFor(
  config: Readonly<BrokerConfig>,
  trade: TradeRow,
  account: AccountRow,
  client: ClientRow,
  nowMs: number,
): { row: IbCommissionRow | null; unknownPartner: string | null } {
  if (trade.action !== 'close' || client.partnerId === null) return { row: null, unknownPartner: null };
  const found = partnerPlan(config, client.partnerId);
  if (found === undefined) return { row: null, unknownPartner: client.partnerId };
  const rate = ratePerLotCents(found.plan, trade.symbol);
  const commissionCentiCents = trade.volumeCentiLots * rate;
  if (!Number.isSafeInteger(commissionCentiCents)) {
    throw new Error(`ib: commission of ${trade.id} overflows (${trade.volumeCentiLots} × ${rate})`);
  }
  return {
    row: {
      tradeId: trade.id,
      partnerId: found.partnerId,
      planId: found.plan.id,
      clientId: client.id,
      accountId: account.id,
      serverId: trade.serverId,
      login: trade.login,
      symbol: trade.symbol,
      volumeCentiLots: trade.volumeCentiLots,
      ratePerLotCents: rate,
      commissionCentiCents,
      currency: account.currency,
      // The server's wall clock (its time zone, as MetaTrader stamps and reports): statements are bounded in
      // server time. The service's clock only when the platform gave no time.
      atMs: trade.serverSec === null ? nowMs : trade.serverSec * 1000,
    },
    unknownPartner: null,
  };
}

/** One account's line of a partner's statement. */
export interface IbStatementLine {
  accountId: string;
  clientId: string;
  serverId: string;
  login: number;
  currency: string;
  /** Closes counted. */
  closedTrades: number;
  /** Sum of the closes' volumes, in hundredths of a lot. */
  volumeCentiLots: number;
  /** Hundredths of the currency's minor unit (divide by 100 for cents). */
  commissionCentiCents: number;
}

export interface IbStatement {
  partnerId: string;
  planId: string;
  /** The range asked for (closes with `fromMs <= atMs < toMs`, in server time; open-ended where absent). */
  fromMs: number | null;
  toMs: number | null;
  /** By account id. */
  accounts: IbStatementLine[];
  /** One line per currency (amounts of different currencies are never added). */
  totals: { currency: string; closedTrades: number; volumeCentiLots: number; commissionCentiCents: number }[];
}

/** A partner's statement over its commission rows, per account, in account order. */
export async function ibStatement(
  tx: Tx,
  partnerId: string,
  planId: string,
  range: { fromMs?: number; toMs?: number },
): Promise<IbStatement> {
  const rows = await tx.select('ib_commissions', { partnerId }, { orderBy: 'tradeId' });
  const lines = new Map<string, IbStatementLine>();
  const totals = new Map<string, IbStatement['totals'][number]>();
  for (const r of rows) {
    if (range.fromMs !== undefined && r.atMs < range.fromMs) continue;
    if (range.toMs !== undefined && r.atMs >= range.toMs) continue;
    const line = entry(lines, r.accountId, () => ({
      accountId: r.accountId,
      clientId: r.clientId,
      serverId: r.serverId,
      login: r.login,
      currency: r.currency,
      closedTrades: 0,
      volumeCentiLots: 0,
      commissionCentiCents: 0,
    }));
    const total = entry(totals, r.currency, () => ({
      currency: r.currency,
      closedTrades: 0,
      volumeCentiLots: 0,
      commissionCentiCents: 0,
    }));
    for (const sum of [line, total]) {
      sum.closedTrades++;
      sum.volumeCentiLots += r.volumeCentiLots;
      sum.commissionCentiCents += r.commissionCentiCents;
    }
  }
  return {
    partnerId,
    planId,
    fromMs: range.fromMs ?? null,
    toMs: range.toMs ?? null,
    accounts: [...lines.values()].sort(byKey((l) => l.accountId)),
    totals: [...totals.values()].sort(byKey((t) => t.currency)),
  };
}

/** An account's trading volume as the service recorded it (partner or not). */
export interface AccountVolume {
  accountId: string;
  serverId: string;
  login: number | null;
  /** Positions opened and closed (each once, however often the pump said so). */
  openedTrades: number;
  closedTrades: number;
  /** Sum of the closes' volumes, in hundredths of a lot (the volume IB plans pay on). */
  volumeCentiLots: number;
  /** The same per symbol. */
  bySymbol: { symbol: string; closedTrades: number; volumeCentiLots: number }[];
}

export async function accountVolume(tx: Tx, account: AccountRow): Promise<AccountVolume> {
  const out: AccountVolume = {
    accountId: account.id,
    serverId: account.serverId,
    login: account.login,
    openedTrades: 0,
    closedTrades: 0,
    volumeCentiLots: 0,
    bySymbol: [],
  };
  if (account.login === null) return out;
  const rows = await tx.select('trades', { serverId: account.serverId, login: account.login }, { orderBy: 'id' });
  const bySymbol = new Map<string, AccountVolume['bySymbol'][number]>();
  for (const r of rows) {
    if (r.action === 'open') {
      out.openedTrades++;
      continue;
    }
    out.closedTrades++;
    out.volumeCentiLots += r.volumeCentiLots;
    const s = entry(bySymbol, r.symbol, () => ({ symbol: r.symbol, closedTrades: 0, volumeCentiLots: 0 }));
    s.closedTrades++;
    s.volumeCentiLots += r.volumeCentiLots;
  }
  out.bySymbol = [...bySymbol.values()].sort(byKey((s) => s.symbol));
  return out;
}

/** The value `map` holds for `key`, made and stored first when it holds none. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Orders by a string key (code-unit order, as the store's `orderBy` on the same ids). */
function byKey<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}
