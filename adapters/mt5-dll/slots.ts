/**
 * The MT5 Manager API ABI the adapter binds to, from the facts file (build 3802): the DLL's exports
 * (section 2.1) and the 0-based vtable slots of the interfaces the adapter calls (2.4, 2.5). A slot's byte
 * offset is index x pointer size. Overloads follow MSVC's order: grouped at the first declaration, in reverse
 * declaration order — so a data object's setter (declared second) sits just before its getter.
 */

/** The 64-bit DLL a 64-bit Node can load (a 32-bit DLL gives "bad image"). */
export const MT5_DLL_NAME = 'MT5APIManager64.dll';

/** Header version passed at creation; the DLL's own version (`MTManagerVersion`) is checked against it. */
export const MT5_MANAGER_API_VERSION = 3802;

/** Exports of the DLL (no calling-convention keyword: the platform default). */
export const MT5_EXPORTS = Object.freeze({
  /** (UINT& version) -> MTAPIRES */
  version: 'MTManagerVersion',
  /** (UINT api_version, IMTManagerAPI** out) -> MTAPIRES */
  create: 'MTManagerCreate',
  /** (UINT api_version, LPCWSTR datapath or NULL, IMTManagerAPI** out) -> MTAPIRES */
  createExt: 'MTManagerCreateExt',
});

/** Slot count of each interface (build 3802): a fake, or a sink built in JS, must supply every slot. */
export const MT5_SLOT_COUNTS = Object.freeze({
  IMTManagerAPI: 535,
  IMTUser: 103,
  IMTAccount: 51,
  IMTDeal: 103,
  IMTConGroup: 111,
  IMTDealArray: 22,
  IMTUserArray: 22,
  IMTUserSink: 21,
  IMTDealSink: 7,
});

/** `IMTManagerAPI` slots the adapter calls. */
export const MANAGER_SLOT = Object.freeze({
  Release: 0,
  Connect: 5,
  Disconnect: 6,
  TimeServerRequest: 21,
  GroupCreate: 34,
  GroupTotal: 40,
  GroupNext: 41,
  GroupGet: 42,
  GroupRequest: 43,
  UserCreate: 75,
  UserCreateAccount: 76,
  UserSubscribe: 77,
  UserUnsubscribe: 78,
  UserAdd: 79,
  UserUpdate: 81,
  UserGet: 83,
  UserRequest: 84,
  UserPasswordChange: 88,
  UserAccountGet: 92,
  UserAccountRequest: 93,
  DealCreateArray: 99,
  /** DealRequest(UINT64 login, INT64 from, INT64 to, IMTDealArray*): declared second, so first of the pair. */
  DealRequestByLogin: 100,
  /** DealRequest(UINT64 ticket, IMTDeal*): declared first, so second of the pair. */
  DealRequestByTicket: 101,
  DealSubscribe: 102,
  DealUnsubscribe: 103,
  DealerBalance: 192,
  UserCreateArray: 226,
  UserRequestArray: 228,
});

/** `IMTUser` slots: setter then getter for each pair. */
export const USER_SLOT = Object.freeze({
  Release: 0,
  LoginSet: 3,
  Login: 4,
  GroupSet: 5,
  Group: 6,
  RightsSet: 8,
  Rights: 9,
  Registration: 10,
  NameSet: 13,
  Name: 14,
  CountrySet: 19,
  Country: 20,
  EMailSet: 33,
  EMail: 34,
  IDSet: 35,
  ID: 36,
  CommentSet: 39,
  Comment: 40,
  LeverageSet: 45,
  Leverage: 46,
  Balance: 49,
  Credit: 50,
});

/** `IMTAccount` getters (the trade state of an account). */
export const ACCOUNT_SLOT = Object.freeze({
  Release: 0,
  Login: 4,
  Balance: 8,
  Credit: 10,
  Margin: 12,
  MarginFree: 14,
  MarginLevel: 16,
  Equity: 28,
  SOActivation: 30,
});

/** `IMTDeal` getters. */
export const DEAL_SLOT = Object.freeze({
  Release: 0,
  Deal: 4,
  Login: 8,
  Action: 14,
  Entry: 16,
  Time: 24,
  Symbol: 26,
  Price: 28,
  Volume: 30,
  Profit: 32,
  PositionID: 46,
  Comment: 48,
  PricePosition: 60,
});

/** `IMTConGroup` getters. */
export const GROUP_SLOT = Object.freeze({
  Release: 0,
  Group: 4,
  Currency: 26,
  MarginCall: 61,
  MarginStopOut: 63,
  DemoLeverage: 65,
  DemoDeposit: 67,
});

/** Array interfaces (IMTDealArray, IMTUserArray: same shape, their element type). */
export const ARRAY_SLOT = Object.freeze({
  Release: 0,
  Clear: 2,
  Total: 12,
  /** Next(i): the element owned by the array, 0-based, i < Total(). */
  Next: 13,
});

/**
 * Sink slots the adapter handles (facts 2.5, sink interfaces: no Release, no destructor slot). Every other slot
 * of a sink the adapter builds answers MT_RET_OK, the headers' default (a Hook* returning OK lets the change pass).
 */
export const USER_SINK_SLOT = Object.freeze({ OnUserAdd: 0, OnUserUpdate: 1 });
export const DEAL_SINK_SLOT = Object.freeze({ OnDealAdd: 0 });
