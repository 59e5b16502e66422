import {
  MT5_BALANCE_DEAL_ACTIONS,
  MT5_DEAL_ACTION,
  MT5_DEAL_ENTRY,
  MT5_POSITION_ACTION,
  MT5_USER_RIGHT,
} from '../../metatrader/constants.ts';
import type { Account, BalanceOp, Group, MarginLevel, PumpEvent, Trade } from '../port/manager-api.ts';
import { boolField, intField, moneyField, numberField, parseMoneyCents, textField } from './wire.ts';

/**
 * The Web API's JSON records (facts 3.6: names follow the IMTUser / IMTAccount / IMTDeal / IMTPosition /
 * IMTConGroup properties) mapped to the port, the way adapters/sim/mt5.ts maps the same properties of the
 * Manager API objects. Every reader throws AnswerError on a field it cannot read.
 */

type Json = Record<string, unknown>;

/**
 * Deal actions that are balance-side operations, not trades: the types a dealer balance operation may
 * have (facts 2.7), the same set adapters/sim/mt5.ts keeps.
 */

/** USER_RIGHT_* bits with ENABLED and READONLY set as asked, the other bits of `base` kept. */
export function rights(enabled: boolean, readOnly: boolean, base: number = MT5_USER_RIGHT.USER_RIGHT_DEFAULT): number {
  let r = base & ~(MT5_USER_RIGHT.USER_RIGHT_ENABLED | MT5_USER_RIGHT.USER_RIGHT_READONLY);
  if (enabled) r |= MT5_USER_RIGHT.USER_RIGHT_ENABLED;
  if (readOnly) r |= MT5_USER_RIGHT.USER_RIGHT_READONLY;
  return r;
}

export function toAccount(u: Json): Account {
  const r = intField(u, 'Rights');
  return {
    login: intField(u, 'Login'),
    group: textField(u, 'Group'),
    name: textField(u, 'Name'),
    email: textField(u, 'Email'),
    country: textField(u, 'Country'),
    externalId: textField(u, 'ID'),
    leverage: intField(u, 'Leverage'),
    enabled: (r & MT5_USER_RIGHT.USER_RIGHT_ENABLED) !== 0,
    readOnly: (r & MT5_USER_RIGHT.USER_RIGHT_READONLY) !== 0,
    balanceCents: moneyField(u, 'Balance'),
    creditCents: moneyField(u, 'Credit'),
    registeredServerSec: intField(u, 'Registration'),
  };
}

/**
 * The user fields whose change is an `update` event: who the account is and how it is configured. Money
 * (Balance, Credit, the day/month snapshots) is left out — it moves with every deal, and deals have their
 * own events — and so is the activity (LastAccess, LastIP), which changes on every client login.
 */
const USER_FINGERPRINT_FIELDS = [
  'Group',
  'Rights',
  'Leverage',
  'Name',
  'FirstName',
  'LastName',
  'MiddleName',
  'Company',
  'Account',
  'Country',
  'Language',
  'City',
  'State',
  'ZIPCode',
  'Address',
  'Phone',
  'Email',
  'ID',
  'Status',
  'Comment',
  'Color',
  'Agent',
  'LeadSource',
  'LeadCampaign',
  'LimitOrders',
  'LimitPositions',
  'LastPassChange',
] as const;

/** A cheap fingerprint of a user record for telling updates apart between two polls. */
export function userFingerprint(u: Json): string {
  return JSON.stringify(USER_FINGERPRINT_FIELDS.map((f) => (u[f] === undefined ? null : String(u[f]))));
}

export function toBalanceOp(d: Json): BalanceOp {
  const action = intField(d, 'Action');
  return {
    ticket: intField(d, 'Deal'),
    login: intField(d, 'Login'),
    amountCents: moneyField(d, 'Profit'),
    kind: action === MT5_DEAL_ACTION.DEAL_CREDIT ? 'credit' : 'balance',
    comment: textField(d, 'Comment'),
    timeServerSec: intField(d, 'Time'),
    platformType: action,
  };
}

export function isBalanceDeal(d: Json): boolean {
  return MT5_BALANCE_DEAL_ACTIONS.has(intField(d, 'Action'));
}

/**
 * Closed trades from deals, as adapters/sim/mt5.ts pairs them: a closed trade is its closing deal
 * (ENTRY_OUT), which carries the position's opening price; the opening deal (ENTRY_IN) gives the opening
 * time when it lies in the range.
 */
export function toClosedTrades(deals: readonly Json[]): Trade[] {
  const opens = new Map<number, Json>();
  const trades: Trade[] = [];
  for (const d of deals) {
    if (isBalanceDeal(d)) continue;
    const entry = intField(d, 'Entry');
    if (entry === MT5_DEAL_ENTRY.ENTRY_IN) opens.set(intField(d, 'PositionID'), d);
    else if (entry === MT5_DEAL_ENTRY.ENTRY_OUT) {
      const open = opens.get(intField(d, 'PositionID'));
      trades.push({
        ticket: intField(d, 'PositionID'),
        login: intField(d, 'Login'),
        symbol: textField(d, 'Symbol'),
        // The closing deal is the opposite side of the position.
        side: intField(d, 'Action') === MT5_DEAL_ACTION.DEAL_SELL ? 'buy' : 'sell',
        volumeCentiLots: volumeCentiLots(d, 'Volume'),
        openPrice: numberField(d, 'PricePosition'),
        ...(open === undefined ? {} : { openServerSec: intField(open, 'Time') }),
        closePrice: numberField(d, 'Price'),
        closeServerSec: intField(d, 'Time'),
        profitCents: moneyField(d, 'Profit'),
      });
    }
  }
  return trades;
}

/** Web API volumes are 1/10000 lot (facts 2.7); the port counts lots x 100. */
function volumeCentiLots(record: Json, field: string): number {
  return intField(record, field) / 100;
}

export function toPosition(p: Json): Trade {
  return {
    ticket: intField(p, 'Position'),
    login: intField(p, 'Login'),
    symbol: textField(p, 'Symbol'),
    side: intField(p, 'Action') === MT5_POSITION_ACTION.POSITION_BUY ? 'buy' : 'sell',
    volumeCentiLots: volumeCentiLots(p, 'Volume'),
    openPrice: numberField(p, 'PriceOpen'),
    openServerSec: intField(p, 'TimeCreate'),
  };
}

export function toMarginLevel(login: number, a: Json): MarginLevel {
  // IMTAccount::SOActivation: 0 none, 1 margin call, 2 stop out.
  const activation = a.SOActivation === undefined ? 0 : intField(a, 'SOActivation');
  return {
    login,
    balanceCents: moneyField(a, 'Balance'),
    creditCents: moneyField(a, 'Credit'),
    equityCents: moneyField(a, 'Equity'),
    marginCents: moneyField(a, 'Margin'),
    freeMarginCents: moneyField(a, 'MarginFree'),
    marginLevelPct: numberField(a, 'MarginLevel'),
    state: activation === 2 ? 'stop_out' : activation === 1 ? 'margin_call' : 'ok',
  };
}

/** A group as adapters/sim/mt5.ts maps IMTConGroup: the demo leverage and deposit are the defaults. */
export function toGroup(g: Json): Group {
  return {
    name: textField(g, 'Group'),
    currency: textField(g, 'Currency'),
    leverage: intField(g, 'DemoLeverage'),
    depositCents: parseMoneyCents(g.DemoDeposit ?? '0', 'DemoDeposit'),
    marginCallPct: numberField(g, 'MarginCall'),
    stopOutPct: numberField(g, 'MarginStopOut'),
    // A real IMTConGroup has no such flag: absent means enabled.
    enabled: g.Enabled === undefined ? true : boolField(g, 'Enabled'),
  };
}

/**
 * What one deal says on the emulated pumping stream: a balance-side deal is a `balance` event; a trade
 * deal opens (ENTRY_IN) or closes (ENTRY_OUT, ENTRY_OUT_BY) its position; a reversal (ENTRY_INOUT) closes
 * the position and opens it the other way, under the same position ticket.
 */
export function dealEvents(d: Json): PumpEvent[] {
  const login = intField(d, 'Login');
  if (isBalanceDeal(d)) {
    const op = toBalanceOp(d);
    return [
      { type: 'balance', login, ticket: op.ticket, kind: op.kind, amountCents: op.amountCents, comment: op.comment },
    ];
  }
  const action = intField(d, 'Action');
  if (action !== MT5_DEAL_ACTION.DEAL_BUY && action !== MT5_DEAL_ACTION.DEAL_SELL) return [];
  const ticket = intField(d, 'PositionID');
  switch (intField(d, 'Entry')) {
    case MT5_DEAL_ENTRY.ENTRY_IN:
      return [{ type: 'trade', action: 'open', login, ticket }];
    case MT5_DEAL_ENTRY.ENTRY_OUT:
    case MT5_DEAL_ENTRY.ENTRY_OUT_BY:
      return [{ type: 'trade', action: 'close', login, ticket }];
    case MT5_DEAL_ENTRY.ENTRY_INOUT:
      return [
        { type: 'trade', action: 'close', login, ticket },
        { type: 'trade', action: 'open', login, ticket },
      ];
    default:
      return [];
  }
}

/** The leading unix seconds of `/api/time/server`'s "1572518788 2019.10.31 10:46:28". */
export function parseServerTime(answer: unknown): number {
  const time = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as Json).Time : answer;
  const match = typeof time === 'string' ? /^\s*(\d+)/.exec(time) : null;
  const seconds = typeof time === 'number' ? time : match === null ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(seconds)) return intField({ Time: time }, 'Time');
  return seconds;
}
