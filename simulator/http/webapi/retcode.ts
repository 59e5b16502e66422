import { codeDescription, MT5_RET } from '../../../metatrader/codes.ts';

/**
 * The Web API's answer envelope (facts 3.3): a JSON object, `retcode` first as "<number> <description>", then
 * the command's fields (`answer`, or the handshake's own top-level fields). Numbers are MT_RET_* (2.6).
 */

/** What a command hands back to the dispatcher. */
export interface WebApiAnswer {
  /** MT_RET_* code of the retcode. */
  code: number;
  /** The `answer` member, absent for commands that return a retcode only. */
  answer?: unknown;
  /** Top-level members after `retcode` (the handshake's `srv_rand`, `version_access` …). */
  fields?: Readonly<Record<string, string>>;
  /** HTTP status (default 200). */
  status?: number;
  /** Appended to the description in parentheses: which parameter was bad and why. */
  detail?: string;
}

/**
 * Descriptions the Web API answers with where metatrader/codes.ts has none or a lower-case one. "Done" is the
 * platform's own wording (facts 3.3); the others paraphrase the constant names (the facts file lists no texts).
 */
const TEXTS: Readonly<Record<number, string>> = {
  [MT5_RET.MT_RET_ERR_PARAMS]: 'Invalid parameters',
  [MT5_RET.MT_RET_AUTH_CLIENT_INVALID]: 'Authentication not started or already answered',
  [MT5_RET.MT_RET_AUTH_CLIENT_OLD]: 'Client version too old',
  [MT5_RET.MT_RET_AUTH_INVALID_TYPE]: 'Invalid connection type',
  [MT5_RET.MT_RET_ERR_NOTIMPLEMENT]: 'Command not implemented',
};

/** "<code> <Description>" for an MT_RET_* code, with an optional detail in parentheses. */
export function retcodeText(code: number, detail?: string): string {
  let text = TEXTS[code];
  if (text === undefined) {
    // codeDescription falls back to the constant's name in lower case: drop the common prefix.
    const description = codeDescription('mt5', code).replace(/^mt ret /, '');
    text = description.charAt(0).toUpperCase() + description.slice(1);
  }
  return detail === undefined || detail === '' ? `${code} ${text}` : `${code} ${text} (${detail})`;
}

/** The JSON text of an answer: `retcode` first, then the top-level fields, then `answer`. */
export function envelope(answer: WebApiAnswer): string {
  const body: Record<string, unknown> = { retcode: retcodeText(answer.code, answer.detail) };
  if (answer.fields !== undefined) Object.assign(body, answer.fields);
  if (answer.answer !== undefined) body.answer = answer.answer;
  return JSON.stringify(body);
}
