import type { Mt5Account, Mt5ConGroup, Mt5Deal, Mt5Position, Mt5User } from '../../index.ts';

/**
 * The JSON records of the served Web API. Field names are the IMTUser / IMTAccount / IMTDeal / IMTPosition /
 * IMTConGroup property names (facts 3.6). Every value is a JSON string, as the documentation's examples
 * serialise numbers and tickets (facts 3.3: `"Login": "764636"`): integers in decimal, money with two
 * decimals ("100.00", "-20.50"), prices and other fractions as JavaScript prints the double. A record carries
 * the fields the simulator models, not the documentation's full list (see README.md).
 */

export type WebApiRecord = Record<string, string>;

/** Two decimals: the simulator's money is integer cents, so the double converts exactly. */
export function money(amount: number): string {
  return amount.toFixed(2);
}

function int(value: number): string {
  return String(Math.trunc(value));
}

function real(value: number): string {
  return String(value);
}

/** Account currencies are modelled in cents. */
const CURRENCY_DIGITS = '2';

export function userRecord(u: Mt5User): WebApiRecord {
  return {
    Login: int(u.Login),
    Group: u.Group,
    Rights: int(u.Rights),
    Registration: int(u.Registration),
    Name: u.Name,
    Country: u.Country,
    Email: u.Email,
    ID: u.ID,
    Comment: u.Comment,
    Leverage: int(u.Leverage),
    Balance: money(u.Balance),
    Credit: money(u.Credit),
  };
}

export function accountRecord(a: Mt5Account): WebApiRecord {
  return {
    Login: int(a.Login),
    CurrencyDigits: CURRENCY_DIGITS,
    Balance: money(a.Balance),
    Credit: money(a.Credit),
    Margin: money(a.Margin),
    MarginFree: money(a.MarginFree),
    MarginLevel: a.MarginLevel.toFixed(2),
    MarginLeverage: int(a.MarginLeverage),
    Profit: money(a.Profit),
    Equity: money(a.Equity),
    SOActivation: int(a.SOActivation),
  };
}

export function dealRecord(d: Mt5Deal): WebApiRecord {
  return {
    Deal: int(d.Deal),
    // The simulator keeps no gateway id for deals: empty, as on a deal made on the server itself.
    ExternalID: '',
    Login: int(d.Login),
    Dealer: int(d.Dealer),
    Action: int(d.Action),
    Entry: int(d.Entry),
    Reason: int(d.Reason),
    Time: int(d.Time),
    TimeMsc: int(d.Time * 1000),
    Symbol: d.Symbol,
    Volume: int(d.Volume),
    Price: real(d.Price),
    Profit: money(d.Profit),
    Comment: d.Comment,
    PositionID: int(d.PositionID),
    PricePosition: real(d.PricePosition),
  };
}

export function positionRecord(p: Mt5Position): WebApiRecord {
  return {
    Position: int(p.Position),
    Login: int(p.Login),
    Symbol: p.Symbol,
    Action: int(p.Action),
    Volume: int(p.Volume),
    PriceOpen: real(p.PriceOpen),
    TimeCreate: int(p.TimeCreate),
    Digits: int(p.Digits),
  };
}

export function groupRecord(g: Mt5ConGroup): WebApiRecord {
  return {
    Group: g.Group,
    Currency: g.Currency,
    CurrencyDigits: CURRENCY_DIGITS,
    DemoLeverage: int(g.DemoLeverage),
    DemoDeposit: money(g.DemoDeposit),
    MarginCall: real(g.MarginCall),
    MarginStopOut: real(g.MarginStopOut),
  };
}

/** `/api/time/server`'s value: "<unix> <yyyy.mm.dd hh:mm:ss>", the number read as UTC giving the text (3.4). */
export function serverTimeText(serverSec: number): string {
  const d = new Date(serverSec * 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  const date = `${d.getUTCFullYear()}.${two(d.getUTCMonth() + 1)}.${two(d.getUTCDate())}`;
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `${serverSec} ${date} ${time}`;
}
