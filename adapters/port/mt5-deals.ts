import { MT5_BALANCE_DEAL_ACTIONS, MT5_DEAL_ACTION, MT5_DEAL_ENTRY } from '../../metatrader/constants.ts';
import type { BalanceOp, Trade } from './manager-api.ts';

/**
 * How every MT5 adapter reads deals into the port (the simulator's dialect, the Manager API DLL): a balance-side
 * deal is a balance operation (its Profit the signed amount), and a closed trade is a pair of deals, the opening
 * (ENTRY_IN) and the closing (ENTRY_OUT) one. Each adapter turns its own deal record into these facts first.
 */

/** An IMTDeal's properties the port needs; money as the platform's double of units. */
export interface Mt5DealFacts {
  deal: number;
  login: number;
  action: number;
  entry: number;
  time: number;
  symbol: string;
  price: number;
  volume: number;
  profit: number;
  positionId: number;
  comment: string;
  pricePosition: number;
}

export function isBalanceDeal(d: Mt5DealFacts): boolean {
  return MT5_BALANCE_DEAL_ACTIONS.has(d.action);
}

export function balanceOpOfDeal(d: Mt5DealFacts): BalanceOp {
  return {
    ticket: d.deal,
    login: d.login,
    amountCents: Math.round(d.profit * 100),
    kind: d.action === MT5_DEAL_ACTION.DEAL_CREDIT ? 'credit' : 'balance',
    comment: d.comment,
    timeServerSec: d.time,
    platformType: d.action,
  };
}

/** The trades closed by these deals; a closing deal whose opening lies outside them has no `openServerSec`. */
export function closedTradesOfDeals(deals: readonly Mt5DealFacts[]): Trade[] {
  const opens = new Map<number, Mt5DealFacts>();
  const trades: Trade[] = [];
  for (const d of deals) {
    if (isBalanceDeal(d)) continue;
    if (d.entry === MT5_DEAL_ENTRY.ENTRY_IN) opens.set(d.positionId, d);
    else if (d.entry === MT5_DEAL_ENTRY.ENTRY_OUT) {
      // The closing deal is the opposite side of the position and carries its opening price.
      const open = opens.get(d.positionId);
      trades.push({
        ticket: d.positionId,
        login: d.login,
        symbol: d.symbol,
        side: d.action === MT5_DEAL_ACTION.DEAL_SELL ? 'buy' : 'sell',
        volumeCentiLots: d.volume / 100,
        openPrice: d.pricePosition,
        ...(open === undefined ? {} : { openServerSec: open.time }),
        closePrice: d.price,
        closeServerSec: d.time,
        profitCents: Math.round(d.profit * 100),
      });
    }
  }
  return trades;
}
