/**
 * `CManagerInterface` vtable slots the adapter calls (0-based; facts file 1.4, build 1403 header, 195 slots,
 * declaration order, no base class and no virtual destructor). Byte offset of slot i = i x pointer size.
 */
export const MT4_SLOTS = Object.freeze({
  Release: 2,
  MemFree: 3,
  Connect: 6,
  Disconnect: 7,
  IsConnected: 8,
  Login: 9,
  Ping: 12,
  ManagerRights: 14,
  GroupsRequest: 93,
  UsersRequest: 97,
  UserRecordsRequest: 98,
  UserRecordNew: 99,
  UserRecordUpdate: 100,
  UserPasswordSet: 103,
  TradeTransaction: 105,
  TradesRequest: 106,
  TradesUserHistory: 108,
  ServerTime: 147,
  MarginLevelRequest: 156,
  PumpingSwitchEx: 163,
} as const);

/** Slots in the build 1403 vtable (facts 1.4): the fake declares exactly this many virtual methods. */
export const MT4_VTABLE_SLOTS = 195;

export type Mt4SlotName = keyof typeof MT4_SLOTS;
