import { MT4_MARGINLEVEL, MT4_OP, MT4_PUMP, MT4_TRANS } from '../../metatrader/constants.ts';
import type { Account, BalanceOp, Group, MarginLevel, PumpEvent, Trade } from './manager-api.ts';

/**
 * How every MT4 adapter reads the Manager API's records into the port (the simulator's dialect, the DLL): the
 * fields by their header names (facts 1.5), text already decoded, money as the platform's double of units.
 */

export interface Mt4TradeFacts {
  order: number;
  login: number;
  cmd: number;
  symbol: string;
  volume: number;
  open_price: number;
  open_time: number;
  close_price: number;
  close_time: number;
  profit: number;
  comment: string;
}

export interface Mt4UserFacts {
  login: number;
  group: string;
  name: string;
  email: string;
  country: string;
  id: string;
  leverage: number;
  enable: number;
  enable_read_only: number;
  balance: number;
  credit: number;
  regdate: number;
}

export interface Mt4MarginFacts {
  /** Balance + credit, as the header comments it. */
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number;
  level_type: number;
}

export interface Mt4GroupFacts {
  group: string;
  currency: string;
  default_leverage: number;
  default_deposit: number;
  margin_call: number;
  margin_stopout: number;
  enable: number;
}

const cents = (money: number): number => Math.round(money * 100);

/** A balance or credit operation, not a trade (OP_BALANCE / OP_CREDIT). */
export function isMoneyRecord(t: Pick<Mt4TradeFacts, 'cmd'>): boolean {
  return t.cmd === MT4_OP.OP_BALANCE || t.cmd === MT4_OP.OP_CREDIT;
}

export function balanceOpOfRecord(t: Mt4TradeFacts): BalanceOp {
  return {
    ticket: t.order,
    login: t.login,
    amountCents: cents(t.profit),
    kind: t.cmd === MT4_OP.OP_BALANCE ? 'balance' : 'credit',
    comment: t.comment,
    timeServerSec: t.close_time,
    platformType: t.cmd,
  };
}

export function tradeOfRecord(t: Mt4TradeFacts): Trade {
  const closed = t.close_time !== 0;
  return {
    ticket: t.order,
    login: t.login,
    symbol: t.symbol,
    side: t.cmd === MT4_OP.OP_BUY ? 'buy' : 'sell',
    volumeCentiLots: t.volume,
    openPrice: t.open_price,
    openServerSec: t.open_time,
    ...(closed ? { closePrice: t.close_price, closeServerSec: t.close_time, profitCents: cents(t.profit) } : {}),
  };
}

export function accountOfUser(u: Mt4UserFacts): Account {
  return {
    login: u.login,
    group: u.group,
    name: u.name,
    email: u.email,
    country: u.country,
    externalId: u.id,
    leverage: u.leverage,
    enabled: u.enable !== 0,
    readOnly: u.enable_read_only !== 0,
    balanceCents: cents(u.balance),
    creditCents: cents(u.credit),
    registeredServerSec: u.regdate,
  };
}

/** MarginLevel's balance is balance + credit: `creditCents` (from the user record) is taken out of it. */
export function marginLevelOf(login: number, level: Mt4MarginFacts, creditCents: number): MarginLevel {
  return {
    login,
    balanceCents: cents(level.balance) - creditCents,
    creditCents,
    equityCents: cents(level.equity),
    marginCents: cents(level.margin),
    freeMarginCents: cents(level.margin_free),
    marginLevelPct: level.margin_level,
    state:
      level.level_type === MT4_MARGINLEVEL.MARGINLEVEL_STOPOUT
        ? 'stop_out'
        : level.level_type === MT4_MARGINLEVEL.MARGINLEVEL_MARGINCALL
          ? 'margin_call'
          : 'ok',
  };
}

export function groupOf(g: Mt4GroupFacts): Group {
  return {
    name: g.group,
    currency: g.currency,
    leverage: g.default_leverage,
    depositCents: cents(g.default_deposit),
    marginCallPct: g.margin_call,
    stopOutPct: g.margin_stopout,
    enabled: g.enable !== 0,
  };
}

/**
 * A pumping notification as the port's event: PUMP_STOP_PUMPING ends the stream; a user record is a user event;
 * a trade record a balance event (OP_BALANCE / OP_CREDIT) or a trade opened (TRANS_ADD) or closed (TRANS_DELETE).
 */
export function pumpEventOf(
  code: number,
  type: number,
  data: Pick<Mt4UserFacts, 'login'> | Mt4TradeFacts | null,
): PumpEvent | null {
  if (code === MT4_PUMP.PUMP_STOP_PUMPING) return { type: 'stopped' };
  if (data === null) return null;
  if (code === MT4_PUMP.PUMP_UPDATE_USERS) {
    return { type: 'user', action: type === MT4_TRANS.TRANS_ADD ? 'add' : 'update', login: data.login };
  }
  if (code !== MT4_PUMP.PUMP_UPDATE_TRADES || !('cmd' in data)) return null;
  if (isMoneyRecord(data)) {
    const op = balanceOpOfRecord(data);
    return {
      type: 'balance',
      login: op.login,
      ticket: op.ticket,
      kind: op.kind,
      amountCents: op.amountCents,
      comment: op.comment,
    };
  }
  if (type === MT4_TRANS.TRANS_ADD) return { type: 'trade', action: 'open', login: data.login, ticket: data.order };
  if (type === MT4_TRANS.TRANS_DELETE) return { type: 'trade', action: 'close', login: data.login, ticket: data.order };
  return null;
}
