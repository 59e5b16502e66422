import koffi from 'koffi';
import { MtproofError } from '../../kit/errors.ts';

/**
 * koffi layouts of the MT4 Manager API structs (facts file 1.5, build 1403 header). Text fields are raw
 * byte arrays (`Uint8Array`): the adapter decodes them with the configured ANSI code page, since koffi
 * would decode `char[]` as UTF-8. Structs the header wraps in pack(1) use `koffi.pack`; the others use
 * the platform's natural alignment, which for these field types equals MSVC's on x64.
 */

const bytes = (n: number) => koffi.array('uint8', n, 'Typed');
const ints = (n: number) => koffi.array('int32', n, 'Typed');
const doubles = (n: number) => koffi.array('double', n, 'Typed');

export const UserRecord = koffi.struct('Mt4UserRecord', {
  login: 'int32',
  group: bytes(16),
  password: bytes(16),
  enable: 'int32',
  enable_change_password: 'int32',
  enable_read_only: 'int32',
  enable_otp: 'int32',
  enable_reserved: ints(2),
  password_investor: bytes(16),
  password_phone: bytes(32),
  name: bytes(128),
  country: bytes(32),
  city: bytes(32),
  state: bytes(32),
  zipcode: bytes(16),
  address: bytes(96),
  lead_source: bytes(32),
  phone: bytes(32),
  email: bytes(48),
  comment: bytes(64),
  id: bytes(32),
  status: bytes(16),
  regdate: 'int32',
  lastdate: 'int32',
  leverage: 'int32',
  agent_account: 'int32',
  timestamp: 'int32',
  last_ip: 'int32',
  balance: 'double',
  prevmonthbalance: 'double',
  prevbalance: 'double',
  credit: 'double',
  interestrate: 'double',
  taxes: 'double',
  prevmonthequity: 'double',
  prevequity: 'double',
  reserved2: doubles(2),
  otp_secret: bytes(32),
  secure_reserved: bytes(240),
  send_reports: 'int32',
  mqid: 'uint32',
  user_color: 'uint32',
  unused: bytes(40),
  api_data: bytes(16),
});

export const TradeRecord = koffi.pack('Mt4TradeRecord', {
  order: 'int32',
  login: 'int32',
  symbol: bytes(12),
  digits: 'int32',
  cmd: 'int32',
  volume: 'int32',
  open_time: 'int32',
  state: 'int32',
  open_price: 'double',
  sl: 'double',
  tp: 'double',
  close_time: 'int32',
  gw_volume: 'int32',
  expiration: 'int32',
  reason: 'int8',
  conv_reserv: bytes(3),
  conv_rates: doubles(2),
  commission: 'double',
  commission_agent: 'double',
  storage: 'double',
  close_price: 'double',
  profit: 'double',
  taxes: 'double',
  magic: 'int32',
  comment: bytes(32),
  gw_order: 'int32',
  activation: 'int32',
  gw_open_price: 'int16',
  gw_close_price: 'int16',
  margin_rate: 'double',
  timestamp: 'int32',
  api_data: ints(4),
  // A `__ptr32` in the header: 4 bytes even in 64-bit builds.
  next: 'uint32',
});

export const TradeTransInfo = koffi.pack('Mt4TradeTransInfo', {
  type: 'uint8',
  flags: 'int8',
  cmd: 'int16',
  order: 'int32',
  orderby: 'int32',
  symbol: bytes(12),
  volume: 'int32',
  price: 'double',
  sl: 'double',
  tp: 'double',
  ie_deviation: 'int32',
  comment: bytes(32),
  expiration: 'int32',
  crc: 'int32',
});

export const MarginLevel = koffi.struct('Mt4MarginLevel', {
  login: 'int32',
  group: bytes(16),
  leverage: 'int32',
  updated: 'int32',
  balance: 'double',
  equity: 'double',
  volume: 'int32',
  margin: 'double',
  margin_free: 'double',
  margin_level: 'double',
  margin_type: 'int32',
  level_type: 'int32',
});

/**
 * ConGroup: the fields the adapter reads, and the two big arrays (ConGroupSec[32], ConGroupMargin[128])
 * as opaque blocks of doubles so that they keep their 8-byte alignment (offset 664) and size.
 */
export const ConGroup = koffi.struct('Mt4ConGroup', {
  group: bytes(16),
  enable: 'int32',
  timeout: 'int32',
  otp_mode: 'int32',
  company: bytes(128),
  signature: bytes(128),
  support_page: bytes(128),
  smtp_server: bytes(64),
  smtp_login: bytes(32),
  smtp_password: bytes(32),
  support_email: bytes(64),
  templates: bytes(32),
  copies: 'int32',
  reports: 'int32',
  default_leverage: 'int32',
  default_deposit: 'double',
  maxsecurities: 'int32',
  secgroups: doubles(3584 / 8),
  secmargins: doubles(9216 / 8),
  secmargins_total: 'int32',
  currency: bytes(12),
  credit: 'double',
  margin_call: 'int32',
  margin_mode: 'int32',
  margin_stopout: 'int32',
  interestrate: 'double',
  use_swap: 'int32',
  news: 'int32',
  rights: 'int32',
  check_ie_prices: 'int32',
  maxpositions: 'int32',
  close_reopen: 'int32',
  hedge_prohibited: 'int32',
  close_fifo: 'int32',
  hedge_largeleg: 'int32',
  unused_rights: ints(2),
  securities_hash: bytes(16),
  margin_type: 'int32',
  archive_period: 'int32',
  archive_max_balance: 'int32',
  stopout_skip_hedged: 'int32',
  archive_pending_period: 'int32',
  news_languages: ints(8),
  news_languages_total: 'uint32',
  reserved: ints(17),
});

/** ConManager: the manager's own rights (ManagerRights, slot 14); ConManagerSec[32] kept opaque. */
export const ConManager = koffi.struct('Mt4ConManager', {
  login: 'int32',
  manager: 'int32',
  money: 'int32',
  online: 'int32',
  riskman: 'int32',
  broker: 'int32',
  admin: 'int32',
  logs: 'int32',
  reports: 'int32',
  trades: 'int32',
  market_watch: 'int32',
  email: 'int32',
  user_details: 'int32',
  see_trades: 'int32',
  news: 'int32',
  plugins: 'int32',
  server_reports: 'int32',
  techsupport: 'int32',
  market: 'int32',
  notifications: 'int32',
  unused: ints(9),
  ipfilter: 'int32',
  ip_from: 'uint32',
  ip_to: 'uint32',
  mailbox: bytes(64),
  groups: bytes(1024),
  secgroups: bytes(2560),
  exp_time: 'uint32',
  name: bytes(32),
  info_depth: 'int32',
  reserved: ints(22),
});

/** sizeof of each struct in the build 1403 header (facts 1.5). */
export const MT4_STRUCT_SIZES = Object.freeze({
  UserRecord: 1120,
  TradeRecord: 224,
  TradeTransInfo: 96,
  MarginLevel: 88,
  ConGroup: 13696,
  ConManager: 3904,
});

const TYPES = { UserRecord, TradeRecord, TradeTransInfo, MarginLevel, ConGroup, ConManager } as const;

/**
 * Asserts every layout's koffi size against the facts file: a wrong size would make the DLL read or write
 * past a buffer, so the adapter refuses to load rather than corrupt memory.
 */
export function checkLayouts(): void {
  const wrong: string[] = [];
  for (const [name, expected] of Object.entries(MT4_STRUCT_SIZES)) {
    const actual = koffi.sizeof(TYPES[name as keyof typeof TYPES]);
    if (actual !== expected) wrong.push(`${name}: koffi ${actual} bytes, facts ${expected}`);
  }
  if (wrong.length > 0) {
    throw new MtproofError('MTP_DLL_LAYOUT', `MT4 struct layouts differ from the facts file: ${wrong.join('; ')}`);
  }
}
