/**
 * A command's parameters (facts 3.1): lower-case names in the query string; a POST may carry a JSON object
 * whose members win — record fields under their JSON names (`PassMain`, `Group` …, facts 3.4 and 3.6), lists
 * of a batch command under the query's names (`login`, `group`, `ticket`, `symbol`) as arrays or
 * comma-separated text. A bad value throws ParamError naming the parameter; the dispatcher answers it as
 * MT_RET_ERR_PARAMS (3).
 */

export class ParamError extends Error {
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'ParamError';
    this.field = field;
  }
}

/** Logins, tickets and times are unsigned 64-bit on the platform; here they must be safe integers. */
const MAX_ID = Number.MAX_SAFE_INTEGER;
/** A list longer than this is refused (a request cannot ask the simulator for unbounded work). */
export const MAX_LIST_ITEMS = 10_000;

const INTEGER = /^[+-]?\d{1,16}$/;
/** A signed decimal amount such as 100, -20.5 or +0.01 (no exponent, no thousands separators). */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
/** Longer amount texts are refused as such; shorter huge ones reach the cap check (4005). */
const MAX_AMOUNT_CHARS = 64;

type BodyValue = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;

export class Params {
  readonly #query: URLSearchParams;
  readonly #body: Readonly<Record<string, BodyValue>>;

  constructor(query: URLSearchParams, body: Readonly<Record<string, BodyValue>> | null) {
    this.#query = query;
    this.#body = body ?? {};
  }

  /** The first value of a query parameter, or undefined. */
  query(name: string): string | undefined {
    return this.#query.get(name) ?? undefined;
  }

  /** A scalar record field: the body's `bodyName` wins over the query's `name`. */
  field(name: string, bodyName?: string): string | undefined {
    if (bodyName !== undefined && Object.hasOwn(this.#body, bodyName)) {
      const value = this.#body[bodyName];
      if (typeof value === 'string') return value;
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      if (value === null) return undefined;
      throw new ParamError(bodyName, 'must be a string or a number');
    }
    return this.query(name);
  }

  /** A required text field (not empty after trimming). */
  requiredText(name: string, bodyName?: string): string {
    const value = this.field(name, bodyName);
    if (value === undefined || value.trim() === '') throw new ParamError(bodyName ?? name, 'required');
    return value;
  }

  /** An integer in [min, max]; `fallback` when absent (required when no fallback is given). */
  int(name: string, options: { min: number; max: number; fallback?: number; bodyName?: string }): number {
    const text = this.field(name, options.bodyName);
    if (text === undefined || text === '') {
      if (options.fallback !== undefined) return options.fallback;
      throw new ParamError(options.bodyName ?? name, 'required');
    }
    return parseInteger(text, options.bodyName ?? name, options.min, options.max);
  }

  /** An optional integer in [min, max]; undefined when absent or out of range (user/update ignores those). */
  lenientInt(name: string, bodyName: string, min: number, max: number): number | undefined {
    const text = this.field(name, bodyName);
    if (text === undefined || !INTEGER.test(text.trim())) return undefined;
    const value = Number(text.trim());
    return value >= min && value <= max ? value : undefined;
  }

  /** A login: a positive integer. */
  login(name = 'login', bodyName?: string): number {
    return this.int(name, { min: 1, max: MAX_ID, ...(bodyName === undefined ? {} : { bodyName }) });
  }

  /** A time in seconds (facts 2.7: seconds since 1970). */
  seconds(name: string): number {
    return this.int(name, { min: 0, max: MAX_ID });
  }

  /** A signed decimal amount. */
  amount(name: string): number {
    const text = this.field(name)?.trim();
    if (text === undefined || text === '') throw new ParamError(name, 'required');
    if (text.length > MAX_AMOUNT_CHARS || !DECIMAL.test(text)) {
      throw new ParamError(name, `"${clip(text)}" is not a decimal amount`);
    }
    return Number(text);
  }

  /**
   * A list: the body's member `name` (array of strings or numbers, or comma-separated text) wins over the
   * query's comma-separated text. Empty items are skipped; undefined when neither carries the parameter.
   */
  list(name: string): string[] | undefined {
    let items: string[];
    if (Object.hasOwn(this.#body, name)) {
      const value = this.#body[name];
      if (typeof value === 'string') items = value.split(',');
      else if (Array.isArray(value)) {
        items = value.map((item, i) => {
          if (typeof item === 'string') return item;
          if (typeof item === 'number' && Number.isFinite(item)) return String(item);
          throw new ParamError(`${name}[${i}]`, 'must be a string or a number');
        });
      } else if (typeof value === 'number' && Number.isFinite(value)) items = [String(value)];
      else throw new ParamError(name, 'must be an array or comma-separated text');
    } else {
      const text = this.query(name);
      if (text === undefined) return undefined;
      items = text.split(',');
    }
    const out = items.map((item) => item.trim()).filter((item) => item !== '');
    if (out.length > MAX_LIST_ITEMS) throw new ParamError(name, `more than ${MAX_LIST_ITEMS} items`);
    return out;
  }

  /** A list of positive integers (logins, tickets); undefined when absent. */
  idList(name: string): number[] | undefined {
    const items = this.list(name);
    if (items === undefined) return undefined;
    return items.map((item) => parseInteger(item, name, 1, MAX_ID));
  }
}

export function parseInteger(text: string, field: string, min: number, max: number): number {
  const trimmed = text.trim();
  if (!INTEGER.test(trimmed)) throw new ParamError(field, `"${clip(trimmed)}" is not an integer`);
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ParamError(field, `${trimmed} is outside ${min}..${max}`);
  }
  return value;
}

/** A bad value quoted in a retcode's detail, kept short. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * The JSON body of a request: null when there is none (absent or blank); a ParamError when it is not a JSON
 * object. The documentation's example sends JSON with `Content-Type: application/x-www-form-urlencoded`
 * (facts 3.1), so the content type is not looked at.
 */
export function parseBody(raw: unknown): Record<string, BodyValue> | null {
  if (raw === undefined || raw === null) return null;
  const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : null;
  if (text === null) throw new ParamError('(body)', 'unreadable');
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ParamError('(body)', 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ParamError('(body)', 'must be a JSON object');
  }
  return value as Record<string, BodyValue>;
}
