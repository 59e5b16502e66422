// Field length and value limits of MT4 and MT5, and the pure string cuts they imply.
// Values: ../shared/reference/metatrader-api-facts.md sections 1.5, 1.6, 2.7, 3.5 and 3.6.
// Every length is what the platform keeps: the C array size minus the terminating NUL.

export const MT4_LIMITS = {
  // 1.6 limits table: TradeTransInfo.comment / TradeRecord.comment char[32]; the samples copy at most 31.
  commentBytes: 31,
  // 1.6 limits table and 1.7: UserRecord/ConGroup/MarginLevel/OnlineRecord.group char[16]; flat names.
  groupNameBytes: 15,
  // 1.6 limits table: UserRecord.comment char[64].
  userCommentBytes: 63,
  // 1.6 limits table: UserRecord.password / password_investor char[16].
  passwordBytes: 15,
  // 1.6 limits table: UserRecord.name char[128].
  nameBytes: 127,
  // 1.6 limits table: UserRecord.email char[48].
  emailBytes: 47,
  // 1.5 UserRecord layout: country char[32] (not in the 1.6 table, read from the struct).
  countryBytes: 31,
  // 1.6 limits table: UserRecord.id char[32] and status char[16].
  idBytes: 31,
  statusBytes: 15,
  // 1.6 limits table: symbol names char[12] (TradeRecord/TradeTransInfo.symbol).
  symbolBytes: 11,
  // 1.6 limits table: ConManager.groups, the comma-separated mask list, char[1024].
  managerGroupsBytes: 1023,
} as const;

export const MT5_LIMITS = {
  // 2.7 (DealerBalance) and 3.5 (/api/trade/balance): comment 32 characters including the terminator;
  // longer text is cut. MT5 strings are UTF-16 (wchar_t), so "characters" are UTF-16 code units.
  commentChars: 31,
  // 2.7 and 3.5: one balance operation may not exceed 1 000 000 000 (MT_RET_TRADE_MAX_MONEY 4005 above it);
  // the wording "not exceed" makes 1 000 000 000 itself allowed.
  balanceAmountMax: 1_000_000_000,
  // 3.6 Web API user pages: name 128, company 64, address 128, comment 64, all including the terminator.
  // These are the Web API limits; the facts file has no separate IMTUser limits for the Manager API.
  nameChars: 127,
  companyChars: 63,
  addressChars: 127,
  commentUserChars: 63,
  // 3.6: leverage 1–500 on the Web API user pages (0 is rejected on update).
  leverageMin: 1,
  leverageMax: 500,
  // 3.6: passwords 8–16 characters; a group may demand a longer minimum, never below 8.
  passwordMinChars: 8,
  passwordMaxChars: 16,
} as const;

/**
 * The comment MT4 keeps for `text`. MT4 strings are single-byte ANSI (char[32], facts 1.6); this models
 * the code page as Latin-1, so every character above 0xFF becomes '?' (the usual default character of a
 * wide-to-ANSI conversion — a modelling choice, not a fact from the facts file), and the result is cut to
 * MT4_LIMITS.commentBytes characters, which are bytes in Latin-1. Iterating by code point makes a
 * surrogate pair one '?', not two.
 */
export function cutMt4Comment(text: string): string {
  // Most comments are short Latin-1 already: keep them as they are.
  if (text.length <= MT4_LIMITS.commentBytes && !/[\u0100-\uffff]/.test(text)) return text;
  let out = '';
  for (const ch of text) {
    if (out.length >= MT4_LIMITS.commentBytes) break;
    out += (ch.codePointAt(0) ?? 0) > 0xff ? '?' : ch;
  }
  return out;
}

/**
 * The comment MT5 keeps for `text`: the first MT5_LIMITS.commentChars UTF-16 code units. A high surrogate
 * left at the end by the cut is dropped, so the result never holds half of a surrogate pair.
 */
export function cutMt5Comment(text: string): string {
  const max = MT5_LIMITS.commentChars;
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * Null when `pw` meets the MT5 password rule of facts 3.6 (8–16 characters with a lower-case letter, an
 * upper-case letter, a digit and a special character); otherwise the first rule it breaks. The facts file
 * does not list the special characters, so any character other than an ASCII letter or digit counts.
 * A group may require a longer minimum; that is server configuration and is not checked here.
 */
export function mt5PasswordProblem(pw: string): string | null {
  if (pw.length < MT5_LIMITS.passwordMinChars) {
    return `shorter than ${MT5_LIMITS.passwordMinChars} characters`;
  }
  if (pw.length > MT5_LIMITS.passwordMaxChars) {
    return `longer than ${MT5_LIMITS.passwordMaxChars} characters`;
  }
  if (!/[a-z]/.test(pw)) return 'no lower-case letter';
  if (!/[A-Z]/.test(pw)) return 'no upper-case letter';
  if (!/[0-9]/.test(pw)) return 'no digit';
  if (!/[^A-Za-z0-9]/.test(pw)) return 'no special character';
  return null;
}
