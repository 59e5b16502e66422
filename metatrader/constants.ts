// Enumerations of the MT4 and MT5 Manager APIs as `as const` objects, keyed by the header identifiers.
// Values: ../shared/reference/metatrader-api-facts.md sections 1.1, 1.6, 2.6 and 2.7.

// ---------------------------------------------------------------------------------------------------------
// MT4
// ---------------------------------------------------------------------------------------------------------

// Facts 1.1: ManAPIVersion = MAKELONG(build, 400). MAKELONG(lo, hi) puts `lo` in the low 16 bits and `hi`
// in the high 16 bits, so the version is (400 << 16) | 1403 = 0x0190057B = 26215803. The MetaQuotes
// samples pass this header constant to MtManCreate, not the DLL's MtManVersion() value.
export const MT4_API_PROGRAM_VERSION = 400;
export const MT4_API_PROGRAM_BUILD = 1403;
export const MT4_API_VERSION = (MT4_API_PROGRAM_VERSION << 16) | MT4_API_PROGRAM_BUILD;

// Facts 1.6 "Trade transaction types" (TradeTransInfo.type). There is no TT_BR_CREDIT: balance and credit
// both go through TT_BR_BALANCE, told apart by cmd OP_BALANCE / OP_CREDIT (1.7).
export const MT4_TT = {
  TT_PRICES_GET: 0,
  TT_PRICES_REQUOTE: 1,
  TT_ORDER_IE_OPEN: 64,
  TT_ORDER_REQ_OPEN: 65,
  TT_ORDER_MK_OPEN: 66,
  TT_ORDER_PENDING_OPEN: 67,
  TT_ORDER_IE_CLOSE: 68,
  TT_ORDER_REQ_CLOSE: 69,
  TT_ORDER_MK_CLOSE: 70,
  TT_ORDER_MODIFY: 71,
  TT_ORDER_DELETE: 72,
  TT_ORDER_CLOSE_BY: 73,
  TT_ORDER_CLOSE_ALL: 74,
  TT_BR_ORDER_OPEN: 75,
  TT_BR_ORDER_CLOSE: 76,
  TT_BR_ORDER_DELETE: 77,
  TT_BR_ORDER_CLOSE_BY: 78,
  TT_BR_ORDER_CLOSE_ALL: 79,
  TT_BR_ORDER_MODIFY: 80,
  TT_BR_ORDER_ACTIVATE: 81,
  TT_BR_ORDER_COMMENT: 82,
  TT_BR_BALANCE: 83,
} as const;

// Facts 1.6: TradeTransInfo.flags (byte 1; it was `reserved` before build 1090).
export const MT4_TT_FLAG = {
  TT_FLAG_NONE: 0x00,
  TT_FLAG_SIGNAL: 0x01,
  TT_FLAG_EXPERT: 0x02,
  TT_FLAG_GATEWAY: 0x04,
  TT_FLAG_MOBILE: 0x08,
  TT_FLAG_WEB: 0x10,
  TT_FLAG_API: 0x20,
} as const;

// Facts 1.6 "Trade commands": TradeRecord.cmd / TradeTransInfo.cmd.
export const MT4_OP = {
  OP_BUY: 0,
  OP_SELL: 1,
  OP_BUY_LIMIT: 2,
  OP_SELL_LIMIT: 3,
  OP_BUY_STOP: 4,
  OP_SELL_STOP: 5,
  OP_BALANCE: 6,
  OP_CREDIT: 7,
} as const;

// Facts 1.6: TradeRecord.state.
export const MT4_TS = {
  TS_OPEN_NORMAL: 0,
  TS_OPEN_REMAND: 1,
  TS_OPEN_RESTORED: 2,
  TS_CLOSED_NORMAL: 3,
  TS_CLOSED_PART: 4,
  TS_CLOSED_BY: 5,
  TS_DELETED: 6,
} as const;

// Facts 1.6: TradeRecord.reason. The build 765 header stops at TR_REASON_GATEWAY.
export const MT4_TR_REASON = {
  TR_REASON_CLIENT: 0,
  TR_REASON_EXPERT: 1,
  TR_REASON_DEALER: 2,
  TR_REASON_SIGNAL: 3,
  TR_REASON_GATEWAY: 4,
  TR_REASON_MOBILE: 5,
  TR_REASON_WEB: 6,
  TR_REASON_API: 7,
} as const;

// Facts 1.6: MarginLevel.level_type.
export const MT4_MARGINLEVEL = {
  MARGINLEVEL_OK: 0,
  MARGINLEVEL_MARGINCALL: 1,
  MARGINLEVEL_STOPOUT: 2,
} as const;

// Facts 1.6: the `type` argument of extended pumping callbacks (1.7).
export const MT4_TRANS = {
  TRANS_ADD: 0,
  TRANS_DELETE: 1,
  TRANS_UPDATE: 2,
  TRANS_CHANGE_GRP: 3,
} as const;

// Facts 1.6 "Pumping notification codes". PUMP_UPDATE_NEWS_NEW is not in the 765 header.
export const MT4_PUMP = {
  PUMP_START_PUMPING: 0,
  PUMP_UPDATE_SYMBOLS: 1,
  PUMP_UPDATE_GROUPS: 2,
  PUMP_UPDATE_USERS: 3,
  PUMP_UPDATE_ONLINE: 4,
  PUMP_UPDATE_BIDASK: 5,
  PUMP_UPDATE_NEWS: 6,
  PUMP_UPDATE_NEWS_BODY: 7,
  PUMP_UPDATE_MAIL: 8,
  PUMP_UPDATE_TRADES: 9,
  PUMP_UPDATE_REQUESTS: 10,
  PUMP_UPDATE_PLUGINS: 11,
  PUMP_UPDATE_ACTIVATION: 12,
  PUMP_UPDATE_MARGINCALL: 13,
  PUMP_STOP_PUMPING: 14,
  PUMP_PING: 15,
  PUMP_UPDATE_NEWS_NEW: 16,
} as const;

// ---------------------------------------------------------------------------------------------------------
// MT5
// ---------------------------------------------------------------------------------------------------------

// Facts 2.6 "IMTDeal enumerations", EnDealAction (IMTDeal::Action()).
export const MT5_DEAL_ACTION = {
  DEAL_BUY: 0,
  DEAL_SELL: 1,
  DEAL_BALANCE: 2,
  DEAL_CREDIT: 3,
  DEAL_CHARGE: 4,
  DEAL_CORRECTION: 5,
  DEAL_BONUS: 6,
  DEAL_COMMISSION: 7,
  DEAL_COMMISSION_DAILY: 8,
  DEAL_COMMISSION_MONTHLY: 9,
  DEAL_AGENT_DAILY: 10,
  DEAL_AGENT_MONTHLY: 11,
  DEAL_INTERESTRATE: 12,
  DEAL_BUY_CANCELED: 13,
  DEAL_SELL_CANCELED: 14,
  DEAL_DIVIDEND: 15,
  DEAL_DIVIDEND_FRANKED: 16,
  DEAL_TAX: 17,
  DEAL_AGENT: 18,
  DEAL_SO_COMPENSATION: 19,
  DEAL_SO_COMPENSATION_CREDIT: 20,
} as const;

// Facts 2.7: the `type` values DealerBalance accepts; any other gives MT_RET_ERR_PARAMS (3).
// The Web API /api/trade/balance documents a narrower set, 2–6 (facts 3.4).
export const MT5_DEALER_BALANCE_TYPES = [
  MT5_DEAL_ACTION.DEAL_BALANCE,
  MT5_DEAL_ACTION.DEAL_CREDIT,
  MT5_DEAL_ACTION.DEAL_CHARGE,
  MT5_DEAL_ACTION.DEAL_CORRECTION,
  MT5_DEAL_ACTION.DEAL_BONUS,
  MT5_DEAL_ACTION.DEAL_COMMISSION,
  MT5_DEAL_ACTION.DEAL_TAX,
  MT5_DEAL_ACTION.DEAL_DIVIDEND,
  MT5_DEAL_ACTION.DEAL_DIVIDEND_FRANKED,
] as const;

/** The deal actions that are balance-side operations, not trades: the ones DealerBalance makes (facts 2.7). */
export const MT5_BALANCE_DEAL_ACTIONS: ReadonlySet<number> = new Set(MT5_DEALER_BALANCE_TYPES);

// Facts 2.6, EnDealEntry (IMTDeal::Entry()).
export const MT5_DEAL_ENTRY = {
  ENTRY_IN: 0,
  ENTRY_OUT: 1,
  ENTRY_INOUT: 2,
  ENTRY_OUT_BY: 3,
} as const;

// Facts 2.6, EnDealReason (IMTDeal::Reason()).
export const MT5_DEAL_REASON = {
  DEAL_REASON_CLIENT: 0,
  DEAL_REASON_EXPERT: 1,
  DEAL_REASON_DEALER: 2,
  DEAL_REASON_SL: 3,
  DEAL_REASON_TP: 4,
  DEAL_REASON_SO: 5,
  DEAL_REASON_ROLLOVER: 6,
  DEAL_REASON_EXTERNAL_CLIENT: 7,
  DEAL_REASON_VMARGIN: 8,
  DEAL_REASON_GATEWAY: 9,
  DEAL_REASON_SIGNAL: 10,
  DEAL_REASON_SETTLEMENT: 11,
  DEAL_REASON_TRANSFER: 12,
  DEAL_REASON_SYNC: 13,
  DEAL_REASON_EXTERNAL_SERVICE: 14,
  DEAL_REASON_MIGRATION: 15,
  DEAL_REASON_MOBILE: 16,
  DEAL_REASON_WEB: 17,
  DEAL_REASON_SPLIT: 18,
} as const;

// Facts 2.6: position actions (IMTPosition::Action()).
export const MT5_POSITION_ACTION = {
  POSITION_BUY: 0,
  POSITION_SELL: 1,
} as const;

// Facts 2.6 "IMTUser enumerations", EnUsersRights: bit flags in IMTUser::Rights(). 0x1000 is not defined.
// USER_RIGHT_DEFAULT is ENABLED | PASSWORD | TRAILING | EXPERT | REPORTS = 0x163.
export const MT5_USER_RIGHT = {
  USER_RIGHT_ENABLED: 0x1,
  USER_RIGHT_PASSWORD: 0x2,
  USER_RIGHT_TRADE_DISABLED: 0x4,
  USER_RIGHT_INVESTOR: 0x8,
  USER_RIGHT_CONFIRMED: 0x10,
  USER_RIGHT_TRAILING: 0x20,
  USER_RIGHT_EXPERT: 0x40,
  USER_RIGHT_OBSOLETE: 0x80,
  USER_RIGHT_REPORTS: 0x100,
  USER_RIGHT_READONLY: 0x200,
  USER_RIGHT_RESET_PASS: 0x400,
  USER_RIGHT_OTP_ENABLED: 0x800,
  USER_RIGHT_SPONSORED_HOSTING: 0x2000,
  USER_RIGHT_API_ENABLED: 0x4000,
  USER_RIGHT_PUSH_NOTIFICATION: 0x8000,
  USER_RIGHT_TECHNICAL: 0x10000,
  USER_RIGHT_EXCLUDE_REPORTS: 0x20000,
  USER_RIGHT_DEFAULT: 0x163,
} as const;

// Facts 2.6/2.7: the `type` of UserPasswordCheck/Change (EnUsersPasswords).
export const MT5_USER_PASS = {
  USER_PASS_MAIN: 0,
  USER_PASS_INVESTOR: 1,
  USER_PASS_API: 2,
} as const;

// Facts 2.6 "Pumping modes" (Connect's pump_mode, bit flags). 0x10 and 0x40 are not defined. There is no
// deals mode: deals are requested (DealRequest*) or observed through IMTDealSink.
export const MT5_PUMP_MODE = {
  PUMP_MODE_USERS: 0x00000001,
  PUMP_MODE_ACTIVITY: 0x00000002,
  PUMP_MODE_MAIL: 0x00000004,
  PUMP_MODE_ORDERS: 0x00000008,
  PUMP_MODE_NEWS: 0x00000020,
  PUMP_MODE_POSITIONS: 0x00000080,
  PUMP_MODE_GROUPS: 0x00000100,
  PUMP_MODE_SYMBOLS: 0x00000200,
  PUMP_MODE_HOLIDAYS: 0x00000800,
  PUMP_MODE_TIME: 0x00001000,
  PUMP_MODE_GATEWAYS: 0x00002000,
  PUMP_MODE_REQUESTS: 0x00004000,
  PUMP_MODE_PLUGINS: 0x00008000,
  PUMP_MODE_CLIENTS: 0x00010000,
  PUMP_MODE_SUBSCRIPTIONS: 0x00020000,
  // An unsigned 32-bit all-ones mask; JS bitwise operators yield -1 for it, so compare with `>>> 0`.
  PUMP_MODE_FULL: 0xffffffff,
} as const;
