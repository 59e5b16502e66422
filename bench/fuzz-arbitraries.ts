import fc from 'fast-check';
import { COMMANDS } from '../simulator/http/webapi/commands.ts';
import { FAULT_KINDS } from '../simulator/index.ts';

/**
 * fast-check arbitraries of malformed requests for every surface of the served simulator (native, control,
 * MT5 Web API, fault-proxy control), shared by `bench/fuzz-wire.ts` and its test. A generated request is a
 * template: values the world must supply at send time (a live session id, an existing login, a proxy's name)
 * are `Ref`s, resolved by `materialize`, so that most requests get past the route and its checks and reach
 * the code behind them, and the rest probe the edges: mutated paths (`..`, bad `%` encodings, very long
 * segments), random methods, query strings, content types and headers, and bodies that are wrong in one
 * field (wrong type, missing, extra, huge, float cents, zero or negative logins, NUL characters, unpaired
 * surrogates, deep nesting, arrays for objects) or not JSON at all.
 *
 * The native, control and proxy routes and their schemas come from the apps' own OpenAPI documents
 * (`routesFromOpenApi`), so a route added later is fuzzed without a change here; the Web API has no such
 * document: its commands and parameters are listed below and checked against its command table at load.
 */

/** What the world supplies at send time; `pick` chooses among the candidates (modulo their number). */
export type RefKind =
  | 'session'
  | 'subscription'
  | 'login'
  | 'mt5Login'
  | 'serverId'
  | 'group'
  | 'mt5Group'
  | 'ticket'
  | 'proxy'
  | 'toxic';

export class Ref {
  constructor(
    readonly kind: RefKind,
    readonly pick: number,
  ) {}
  toJSON(): string {
    return `<${this.kind}#${this.pick}>`;
  }
}

const ref = (kind: RefKind): fc.Arbitrary<Ref> => fc.nat().map((pick) => new Ref(kind, pick));

/** The subset of JSON Schema (as OpenAPI 3.0 carries it) the apps' schemas use. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  maxItems?: number;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  nullable?: boolean;
  default?: unknown;
}

/** One route of an app, as its OpenAPI document describes it. */
export interface RouteSpec {
  method: string;
  /** Path segments; a `{name}` segment is a path parameter. */
  segments: readonly string[];
  params: Readonly<Record<string, JsonSchema>>;
  query: Readonly<Record<string, JsonSchema>>;
  body: JsonSchema | null;
}

interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { in: string; name: string; schema: JsonSchema }[];
        requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
      }
    >
  >;
}

export function routesFromOpenApi(doc: unknown): RouteSpec[] {
  const routes: RouteSpec[] = [];
  for (const [path, operations] of Object.entries((doc as OpenApiDoc).paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const params: Record<string, JsonSchema> = {};
      const query: Record<string, JsonSchema> = {};
      for (const p of operation.parameters ?? []) {
        if (p.in === 'path') params[p.name] = p.schema;
        else if (p.in === 'query') query[p.name] = p.schema;
      }
      routes.push({
        method: method.toUpperCase(),
        segments: path.split('/').filter((s) => s !== ''),
        params,
        query,
        body: operation.requestBody?.content?.['application/json']?.schema ?? null,
      });
    }
  }
  return routes;
}

// ---- a request template ----

export type Segment = string | Ref;
export type QueryValue = string | Ref | readonly Ref[];

/** Changes to the JSON text of a body after its refs are resolved. */
export type TextMutation =
  | { kind: 'truncate'; fraction: number }
  | { kind: 'append'; text: string }
  | { kind: 'prefix'; text: string }
  | { kind: 'replace'; text: string };

export type BodyTemplate =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown; text?: TextMutation }
  | { kind: 'raw'; text: string }
  /** Bytes that are not UTF-8 (hex). */
  | { kind: 'bytes'; hex: string };

export type AuthTemplate = { kind: 'token' } | { kind: 'none' } | { kind: 'header'; value: string };

export interface RequestTemplate {
  method: string;
  /** Each segment is sent as it is (a string may hold `%` escapes, good or bad); refs are encoded. */
  segments: readonly Segment[];
  /** Appended after the path as it is (may hold `?`, bad escapes, …). */
  pathSuffix: string;
  /** A value that is a list of refs is sent comma-separated (the Web API's batch lists). */
  query: readonly (readonly [string, QueryValue])[];
  contentType: string | null;
  headers: Readonly<Record<string, string>>;
  auth: AuthTemplate;
  body: BodyTemplate;
  /** Web API only: which connection carries the request (`x-mtproof-connection`). */
  connection?:
    | { kind: 'session'; pick: number }
    | { kind: 'fresh' }
    | { kind: 'shared' }
    | { kind: 'named'; name: string };
}

// ---- values ----

/** Strings that break naive handling: NUL, unpaired surrogates, traversal, escapes, control characters. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udc00y',
  '\udbff\udfff',
  '\ufeff',
  '\u202e',
  '\r\n',
  '\t',
  '0',
  '-1',
  '1e3',
  '0x10',
  'NaN',
  'Infinity',
  'null',
  'true',
  'undefined',
  '__proto__',
  'constructor',
  '../..',
  '..',
  '%00',
  '%',
  '%zz',
  '<script>',
  "' OR 1=1 --",
  'é',
  '𝄞',
  'real\\standard-usd',
  '*',
  '!*',
  ',,,',
  '{}',
  '[]',
];

/** Numbers at and past the edges: floats for cents, zero, negatives, beyond 32 and 53 bits, and huge. */
export const NASTY_NUMBERS: readonly number[] = [
  0,
  -0,
  -1,
  1,
  0.5,
  -0.01,
  12.345,
  1e-7,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
];

function nested(depth: number, leaf: unknown, asObject: boolean): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asObject ? { a: value } : [value];
  return value;
}

/** A value of any JSON type with a bias for the troublesome ones. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 4 },
  { arbitrary: fc.constantFrom(...NASTY_NUMBERS), weight: 4 },
  { arbitrary: fc.constantFrom(null, true, false, [], {}, [1, 2, 3], { a: 1 }, ['x'], [null]), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 24 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 24 }), weight: 2 },
  { arbitrary: fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), weight: 2 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
  {
    arbitrary: fc.constantFrom(65, 129, 257, 5_000, 100_000).map((n) => 'x'.repeat(n)),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(10, 200, 1_000), fc.boolean())
      .map(([depth, asObject]) => nested(depth, 1, asObject)),
    weight: 1,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
);

/** Values a field of this name should mostly get, so that requests reach the code behind the checks. */
export type Hints = Readonly<Record<string, fc.Arbitrary<unknown>>>;

const amountCents = fc.oneof(
  fc.integer({ min: -60_000, max: 150_000 }).filter((n) => n !== 0),
  fc.constantFrom(1, -1, 100_000_000_000, -100_000_000_000, 99_999_999_999, 100_000_000_001),
);

const loopbackAddress = fc.oneof(
  { arbitrary: fc.constantFrom('127.0.0.1:0', '[::1]:0', 'localhost:0', '127.0.0.1:1', '127.0.0.1:65535'), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 70_000 }).map((port) => `127.0.0.1:${port}`), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      '127.0.0.1',
      ':80',
      '127.0.0.1:-1',
      '[::1',
      '[zz]:1',
      '127.0.0.1:0:0',
      'a b:1',
      '',
      '::1:0',
    ),
    weight: 1,
  },
);

const proxyNames = fc.oneof(
  fc.constantFrom('db', 'mt', 'p-1', 'a.b_c', 'x'.repeat(64), 'x'.repeat(65), '-bad', 'bad/name', ''),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,12}$/),
);

const faultConfigs = fc.oneof(
  fc.constantFrom({}, { intensity: 0 }, { intensity: 1 }, { swarm: false }, { intensity: 0.5, swarm: true }),
  fc.record({ intensity: fc.double({ min: 0, max: 3, noNaN: true }) }),
  fc.dictionary(fc.string({ maxLength: 12 }), weirdValue, { maxKeys: 3 }),
);

/** Hints of the native and control APIs (field or parameter name → values). */
export const SIM_HINTS: Hints = {
  session: ref('session'),
  login: fc.oneof({ arbitrary: ref('login'), weight: 5 }, { arbitrary: fc.constantFrom(0, -1, 1), weight: 1 }),
  logins: fc.array(ref('login'), { maxLength: 5 }),
  serverId: fc.oneof({ arbitrary: ref('serverId'), weight: 8 }, { arbitrary: fc.constant('nowhere'), weight: 1 }),
  group: ref('group'),
  groupMask: fc.oneof(ref('group'), fc.constantFrom('*', 'real\\*', '!*', 'demo*,!demo\\pro*')),
  password: fc.oneof(fc.constant('Manager#1'), fc.constantFrom('Passw0rd!x', 'short', 'x'.repeat(64))),
  subscription: ref('subscription'),
  ticket: ref('ticket'),
  amountCents,
  // A long poll waits in real time: kept short, the fuzz is about inputs, not about waiting.
  waitMs: fc.constantFrom(0, 1, 5),
  after: fc.nat({ max: 50 }),
  // Every kind the simulator has, and one it has not.
  fault: fc.constantFrom<string>(...FAULT_KINDS, 'nonsense'),
  config: faultConfigs,
  faults: faultConfigs,
  downtimeMs: fc.constantFrom(0, 1_000, 30_000, 86_400_000),
  ms: fc.constantFrom(0, 1, 1_000, 60_000, 3_600_000, 86_400_000, 366 * 86_400_000),
  volumeCentiLots: fc.constantFrom(1, 10, 100, 1_000_000),
  symbol: fc.constantFrom('EURUSD', 'GBPUSD', 'XAUUSD', 'eurusd', 'NOPE', ''),
  limit: fc.constantFrom(1, 10, 10_000),
};

/** Hints of the fault proxies' control API. */
export const PROXY_HINTS: Hints = {
  name: fc.oneof({ arbitrary: ref('proxy'), weight: 4 }, { arbitrary: proxyNames, weight: 1 }),
  toxic: fc.oneof({ arbitrary: ref('toxic'), weight: 4 }, { arbitrary: proxyNames, weight: 1 }),
  listen: loopbackAddress,
  upstream: loopbackAddress,
};

/** A value that satisfies `schema` (mostly: string lengths are kept short), fields steered by `hints`. */
export function validValue(schema: JsonSchema, hints: Hints, name = '', depth = 0): fc.Arbitrary<unknown> {
  const hinted = hints[name];
  const plain = plainValid(schema, hints, depth);
  const base =
    hinted === undefined ? plain : fc.oneof({ arbitrary: hinted, weight: 4 }, { arbitrary: plain, weight: 1 });
  return schema.nullable === true
    ? fc.oneof({ arbitrary: base, weight: 4 }, { arbitrary: fc.constant(null), weight: 1 })
    : base;
}

function plainValid(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants !== undefined && variants.length > 0) {
    return fc.oneof(...variants.map((v) => validValue(v, hints, '', depth)));
  }
  if (schema.enum !== undefined && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  const type = Array.isArray(schema.type) ? (schema.type[0] as string) : schema.type;
  switch (type) {
    case 'integer': {
      const min = Math.max(schema.minimum ?? -(2 ** 53) + 1, -(2 ** 53) + 1);
      const max = Math.min(schema.maximum ?? 2 ** 53 - 1, 2 ** 53 - 1);
      return fc.oneof(
        fc.integer({ min, max: Math.min(max, min + 1_000) }),
        fc.constantFrom(min, max),
        fc.integer({ min, max }),
      );
    }
    case 'number': {
      const min = schema.minimum ?? -1e9;
      const max = schema.maximum ?? 1e9;
      return fc.oneof(fc.constantFrom(min, max), fc.double({ min, max, noNaN: true }));
    }
    case 'string': {
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern));
      const minLength = schema.minLength ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxLength ?? 32, 32));
      return fc.oneof(
        { arbitrary: fc.string({ minLength, maxLength }), weight: 4 },
        {
          arbitrary: fc.constant('y'.repeat(Math.max(minLength, schema.maxLength ?? minLength))),
          weight: 1,
        },
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(validValue(schema.items ?? {}, hints, '', depth + 1), {
        maxLength: Math.min(schema.maxItems ?? 4, 4),
      });
    case 'object':
      return objectValue(schema, hints, depth);
    default:
      return depth > 2 ? fc.constant(null) : fc.jsonValue({ maxDepth: 1 });
  }
}

function objectValue(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(properties).map(([key, child]) => {
    const value = validValue(child, hints, key, depth + 1);
    // Optional fields are present half the time (fc.option: null means absent).
    return [
      key,
      required.has(key)
        ? value
        : fc.option(
            value.map((v) => ({ v })),
            { nil: null },
          ),
    ] as const;
  });
  const extra =
    typeof schema.additionalProperties === 'object' && Object.keys(properties).length === 0
      ? fc.dictionary(fc.string({ maxLength: 12 }), validValue(schema.additionalProperties, hints, '', depth + 1), {
          maxKeys: 3,
        })
      : fc.constant({});
  return fc.tuple(fc.tuple(...fields.map(([, arb]) => arb)), extra).map(([values, more]) => {
    const out: Record<string, unknown> = { ...(more as Record<string, unknown>) };
    fields.forEach(([key], i) => {
      const v = values[i];
      if (required.has(key)) out[key] = v;
      else if (v !== null) out[key] = (v as { v: unknown }).v;
    });
    return out;
  });
}

// ---- mutations of a JSON value ----

export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'extra'; at: number; key: string; value: unknown }
  | { kind: 'whole'; shape: 'array' | 'null' | 'string' | 'number' | 'nested' | 'prototype' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: weirdValue }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('extra' as const),
      at: fc.nat(),
      key: fc.oneof(fc.constantFrom('extra', '__proto__', 'constructor', '', '\u0000', '\ud800'), fc.string()),
      value: weirdValue,
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('whole' as const),
      shape: fc.constantFrom('array', 'null', 'string', 'number', 'nested', 'prototype') as fc.Arbitrary<
        'array' | 'null' | 'string' | 'number' | 'nested' | 'prototype'
      >,
    }),
    weight: 1,
  },
);

/** The containers of a value (objects and arrays), depth first, with itself first. */
function containers(
  value: unknown,
  out: (Record<string, unknown> | unknown[])[] = [],
): (Record<string, unknown> | unknown[])[] {
  if (value instanceof Ref || value === null || typeof value !== 'object') return out;
  out.push(value as Record<string, unknown> | unknown[]);
  for (const child of Array.isArray(value) ? value : Object.values(value)) containers(child, out);
  return out;
}

/** Applies mutations to a copy of `value`. */
export function applyMutations(value: unknown, mutations: readonly Mutation[]): unknown {
  let out = structuredCopy(value);
  for (const m of mutations) {
    if (m.kind === 'whole') {
      out =
        m.shape === 'array'
          ? [out]
          : m.shape === 'null'
            ? null
            : m.shape === 'string'
              ? (JSON.stringify(out) ?? '')
              : m.shape === 'number'
                ? 42
                : m.shape === 'nested'
                  ? { request: out, account: structuredCopy(out) }
                  : JSON.parse(`{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}`);
      continue;
    }
    const all = containers(out);
    if (all.length === 0) {
      if (m.kind === 'replace') out = structuredCopy(m.value);
      continue;
    }
    const target = all[m.at % all.length] as Record<string, unknown> | unknown[];
    const keys = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
    if (m.kind === 'extra') {
      // Copies: a generated value may be a constant shared by every sample (`[]`, `{}`), never to be changed.
      if (Array.isArray(target)) target.push(structuredCopy(m.value));
      else
        Object.defineProperty(target, m.key, {
          value: structuredCopy(m.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      continue;
    }
    if (keys.length === 0) continue;
    const key = keys[Math.floor(m.at / all.length) % keys.length] as string & number;
    if (m.kind === 'delete') {
      if (Array.isArray(target)) target.splice(key, 1);
      else delete target[key];
    } else {
      (target as Record<string, unknown>)[key] = structuredCopy(m.value);
    }
  }
  return out;
}

function structuredCopy(value: unknown): unknown {
  if (value instanceof Ref || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(structuredCopy);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, { value: structuredCopy(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// ---- bodies, headers, paths ----

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), fraction: fc.double({ min: 0, max: 0.99, noNaN: true }) }),
  fc.record({
    kind: fc.constant('append' as const),
    text: fc.constantFrom('}', ']', ',', '{"b":1}', ' garbage', '\u0000'),
  }),
  fc.record({ kind: fc.constant('prefix' as const), text: fc.constantFrom('\ufeff', ' ', ")]}'", 'x', '\u0000') }),
  fc.record({
    kind: fc.constant('replace' as const),
    text: fc.constantFrom(
      '{"a":1,}',
      "{'a':1}",
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":01}',
      '{"a":1e999}',
      '{"a":-}',
      '{"a":"\\ud800"}',
      '{"a":"\\u0000"}',
      '{"a":"\\x00"}',
      '{"a":1}{"a":2}',
      '{"login":1,"login":2}',
      '[',
      '{',
      '"text"',
      '42',
      'null',
      'true',
      '',
      '   ',
    ),
  }),
);

/** Deeply nested JSON text, past what a recursive parser survives (within the body limits or past them). */
const deepText = fc
  .tuple(fc.constantFrom(1_000, 10_000, 100_000, 130_000), fc.boolean())
  .map(([depth, asObject]) =>
    asObject ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : '['.repeat(depth) + ']'.repeat(depth),
  );

export function bodyTemplate(schema: JsonSchema | null, hints: Hints): fc.Arbitrary<BodyTemplate> {
  const valid = validValue(schema ?? {}, hints);
  const json = fc
    .tuple(
      valid,
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.option(textMutation, { freq: 6, nil: undefined }),
    )
    .map(([value, mutations, text]): BodyTemplate => {
      const mutated = applyMutations(value, mutations);
      return text === undefined ? { kind: 'json', value: mutated } : { kind: 'json', value: mutated, text };
    });
  return fc.oneof(
    { arbitrary: json, weight: 12 },
    { arbitrary: fc.constant<BodyTemplate>({ kind: 'none' }), weight: 2 },
    { arbitrary: deepText.map((text): BodyTemplate => ({ kind: 'raw', text })), weight: 1 },
    {
      arbitrary: fc
        .oneof(
          fc.string({ maxLength: 64 }),
          fc.string({ unit: 'binary', maxLength: 64 }),
          fc.constantFrom('login=1&amountCents=5', 'a=%zz', '<xml/>', '\u0000\u0000', 'x'.repeat(300_000)),
        )
        .map((text): BodyTemplate => ({ kind: 'raw', text })),
      weight: 2,
    },
    {
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 48 })
        .map((bytes): BodyTemplate => ({ kind: 'bytes', hex: Buffer.from(bytes).toString('hex') })),
      weight: 1,
    },
  );
}

/** Content types: mostly JSON, then its variants, others and junk. */
export const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 12 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/json; charset=latin1',
      'application/json;;',
      'application/vnd.api+json',
      'application/jsonx',
    ),
    weight: 2,
  },
  {
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '',
      '*/*',
      ';',
      'json',
      'application/json\u0000',
    ),
    weight: 2,
  },
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 30 }).map(printable), weight: 1 },
);

/** Header values a client could send (visible ASCII and spaces: anything else cannot cross the wire). */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '').trim();
}

export const authTemplate: fc.Arbitrary<AuthTemplate> = fc.oneof(
  { arbitrary: fc.constant<AuthTemplate>({ kind: 'token' }), weight: 16 },
  { arbitrary: fc.constant<AuthTemplate>({ kind: 'none' }), weight: 1 },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'bearer x', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'Bearer  ', 'Token abc'),
        fc.constantFrom('Bearer '.padEnd(10_000, 'x'), 'Bearer fuzz-token-0123456', 'Bearer fuzz-token-01234567890'),
        fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) => `Bearer ${printable(s)}`),
        fc.string({ unit: 'binary-ascii', maxLength: 60 }).map(printable),
      )
      .map((value): AuthTemplate => ({ kind: 'header', value })),
    weight: 2,
  },
);

/** Other headers: encodings the apps do not speak, forwarding headers, an Expect, junk names. */
export const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { arbitrary: fc.constant({}), weight: 8 },
  {
    arbitrary: fc.dictionary(
      fc.constantFrom(
        'accept',
        'accept-encoding',
        'content-encoding',
        'x-forwarded-for',
        'x-request-id',
        'expect',
        'origin',
        'cookie',
        'x-mtproof-connection',
        'x-http-method-override',
        'x-junk',
      ),
      fc.oneof(
        fc.constantFrom('gzip', 'br', 'deflate', '*/*', 'text/html', '100-continue', 'DELETE', '', 'x'.repeat(8_000)),
        fc.string({ unit: 'binary-ascii', maxLength: 40 }).map(printable),
      ),
      { maxKeys: 3 },
    ),
    weight: 1,
  },
);

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH'];

/** A segment as the client would put it in a URL: percent-encoded, or raw with bad escapes. */
const junkSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%',
    '%zz',
    '%2',
    '%00',
    '%2e%2e',
    '%2F',
    '%C0%AF',
    '%E0%A4%A',
    '%FF',
    '%ud800',
    '%EF%BF%BD',
    '%ED%A0%80',
    ';x=1',
    'x'.repeat(5_000),
    'x'.repeat(70_000),
    'é',
    '*',
    '~',
  ),
  fc.string({ maxLength: 20 }).map((s) => encodeText(s)),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => encodeText(s)),
);

type PathMutation =
  | { kind: 'replace'; at: number; segment: string }
  | { kind: 'insert'; at: number; segment: string }
  | { kind: 'drop'; at: number }
  | { kind: 'case'; at: number }
  | { kind: 'empty'; at: number };

const pathMutation: fc.Arbitrary<PathMutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), segment: junkSegment }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), segment: junkSegment }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('case' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('empty' as const), at: fc.nat() }),
);

function mutatePath(segments: readonly Segment[], mutations: readonly PathMutation[]): Segment[] {
  const out = [...segments];
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'replace' && out.length > 0) out[at] = m.segment;
    else if (m.kind === 'insert') out.splice(at, 0, m.segment);
    else if (m.kind === 'drop' && out.length > 0) out.splice(at, 1);
    else if (m.kind === 'empty') out.splice(at, 0, '');
    else if (m.kind === 'case') {
      const s = out[at];
      if (typeof s === 'string') out[at] = s.toUpperCase();
    }
  }
  return out;
}

const querySuffix: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(''), weight: 10 },
  {
    arbitrary: fc.constantFrom(
      '?',
      '?a=%',
      '?a=%zz',
      '?__proto__[x]=1',
      '?a=1&a=2',
      '?=',
      '?&&',
      '/',
      '#frag',
      '?x='.padEnd(9_000, 'y'),
    ),
    weight: 2,
  },
);

const junkQuery = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom('limit', 'surface', 'afterSeq', 'status', 'login', 'x', '__proto__'),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ maxLength: 16 })),
  ),
  { maxLength: 3 },
);

function queryOf(
  schema: Readonly<Record<string, JsonSchema>>,
  hints: Hints,
  broken: boolean,
): fc.Arbitrary<[string, QueryValue][]> {
  const entries = Object.entries(schema);
  if (entries.length === 0) {
    return broken ? junkQuery.map((q) => q.map(([k, v]) => [k, v] as [string, string])) : fc.constant([]);
  }
  const value = (key: string, s: JsonSchema) =>
    broken
      ? fc.oneof({ arbitrary: validValue(s, hints, key), weight: 1 }, { arbitrary: weirdValue, weight: 2 })
      : validValue(s, hints, key);
  return fc
    .tuple(
      ...entries.map(([key, s]) => fc.option(value(key, s), { nil: undefined })),
      broken ? junkQuery : fc.constant([] as [string, string][]),
    )
    .map((values) => {
      const junk = values.pop() as [string, string][];
      const out: [string, QueryValue][] = [];
      entries.forEach(([key], i) => {
        const v = values[i];
        if (v === undefined) return;
        out.push([key, v instanceof Ref ? v : typeof v === 'string' ? v : JSON.stringify(v)]);
      });
      return [...out, ...junk];
    });
}

/**
 * Requests near `routes`: a real route (its method most of the time), its parameters from the hints or junk,
 * its path mutated now and then, its body valid or broken, under varied content types and authorisations.
 */
export function routeRequest(
  routes: readonly RouteSpec[],
  hints: Hints,
  weightOf: (route: RouteSpec) => number = () => 1,
): fc.Arbitrary<RequestTemplate> {
  if (routes.length === 0) throw new Error('fuzz: no routes to fuzz');
  return fc.oneof(...routes.map((route) => ({ arbitrary: oneRoute(route, hints), weight: weightOf(route) })));
}

/**
 * How broken a request is: `valid` (every part as the route wants it, values from the hints), `one` (one part
 * broken, the rest valid: the body most often), `chaos` (every part drawn freely). Valid requests reach the
 * code behind the checks and change the world that the broken ones then meet.
 */
type Mode = 'valid' | 'one' | 'chaos';
type Part = 'method' | 'path' | 'query' | 'contentType' | 'headers' | 'auth' | 'params' | 'body';

const mode: fc.Arbitrary<Mode> = fc.oneof(
  { arbitrary: fc.constant<Mode>('valid'), weight: 4 },
  { arbitrary: fc.constant<Mode>('one'), weight: 5 },
  { arbitrary: fc.constant<Mode>('chaos'), weight: 1 },
);

const brokenPart: fc.Arbitrary<Part> = fc.oneof(
  { arbitrary: fc.constant<Part>('body'), weight: 8 },
  { arbitrary: fc.constant<Part>('params'), weight: 2 },
  {
    arbitrary: fc.constantFrom<Part>('method', 'path', 'query', 'contentType', 'headers', 'auth'),
    weight: 4,
  },
);

function oneRoute(route: RouteSpec, hints: Hints): fc.Arbitrary<RequestTemplate> {
  const paramNames = Object.keys(route.params);
  const validParams = fc.tuple(...paramNames.map((name) => validValue(route.params[name] as JsonSchema, hints, name)));
  const brokenParams = fc.tuple(
    ...paramNames.map((name) =>
      fc.oneof(
        { arbitrary: validValue(route.params[name] as JsonSchema, hints, name), weight: 1 },
        { arbitrary: weirdValue, weight: 2 },
      ),
    ),
  );
  const noBody = fc.constant<BodyTemplate>({ kind: 'none' });
  return fc
    .record({
      mode,
      broken: brokenPart,
      method: fc.oneof(
        { arbitrary: fc.constant(route.method), weight: 1 },
        { arbitrary: fc.constantFrom(...HTTP_METHODS), weight: 3 },
      ),
      validParams,
      brokenParams,
      pathMutations: fc.array(pathMutation, { minLength: 1, maxLength: 2 }),
      pathSuffix: querySuffix,
      validQuery: queryOf(route.query, hints, false),
      brokenQuery: queryOf(route.query, hints, true),
      contentType,
      headers: extraHeaders,
      auth: authTemplate,
      validBody:
        route.body === null
          ? noBody
          : validValue(route.body, hints).map((value): BodyTemplate => ({ kind: 'json', value })),
      brokenBody:
        route.body === null
          ? fc.oneof({ arbitrary: noBody, weight: 1 }, { arbitrary: bodyTemplate(null, hints), weight: 2 })
          : bodyTemplate(route.body, hints),
    })
    .map((r): RequestTemplate => {
      const broken = (part: Part) => r.mode === 'chaos' || (r.mode === 'one' && r.broken === part);
      const params = broken('params') ? r.brokenParams : r.validParams;
      const segments: Segment[] = route.segments.map((s) => {
        const match = /^\{(.+)\}$/.exec(s);
        if (match === null) return s;
        const value = params[paramNames.indexOf(match[1] as string)];
        return value instanceof Ref
          ? value
          : encodeText(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
      });
      const body = broken('body') ? r.brokenBody : r.validBody;
      const validType = body.kind === 'none' ? null : 'application/json';
      return {
        method: broken('method') ? r.method : route.method,
        segments: broken('path') ? mutatePath(segments, r.pathMutations) : segments,
        pathSuffix: broken('path') ? r.pathSuffix : '',
        query: broken('query') ? r.brokenQuery : r.validQuery,
        contentType: broken('contentType') ? r.contentType : validType,
        headers: broken('headers') ? r.headers : {},
        auth: broken('auth') ? r.auth : { kind: 'token' },
        body,
      };
    });
}

// ---- the MT5 Web API ----

/** Each command's query parameters (facts 3.4), as commands.ts and handshake.ts read them. */
export const WEBAPI_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  'auth/start': ['version', 'agent', 'login', 'type'],
  'auth/answer': ['srv_rand_answer', 'cli_rand'],
  quit: [],
  'test/access': [],
  'time/server': [],
  'user/add': [
    'login',
    'group',
    'name',
    'email',
    'country',
    'id',
    'comment',
    'leverage',
    'rights',
    'pass_main',
    'pass_investor',
  ],
  'user/update': ['login', 'group', 'name', 'email', 'country', 'comment', 'leverage', 'rights'],
  'user/get': ['login'],
  'user/get_batch': ['login', 'group'],
  'user/logins': ['group'],
  'user/account/get': ['login'],
  'user/account/get_batch': ['login', 'group'],
  'user/change_password': ['login', 'type', 'password'],
  'trade/balance': ['login', 'type', 'balance', 'comment', 'check_margin'],
  'deal/get': ['ticket'],
  'deal/get_total': ['login', 'from', 'to'],
  'deal/get_page': ['login', 'from', 'to', 'offset', 'total'],
  'deal/get_batch': ['ticket', 'login', 'group', 'from', 'to', 'symbol'],
  'position/get': ['login', 'symbol'],
  'position/get_total': ['login'],
  'position/get_page': ['login', 'offset', 'total'],
  'position/get_batch': ['login', 'group', 'symbol'],
  'group/get': ['group'],
  'group/total': [],
  'group/next': ['index'],
};

for (const name of COMMANDS.keys()) {
  if (WEBAPI_COMMANDS[name] === undefined) {
    throw new Error(`fuzz: the Web API serves "${name}", which bench/fuzz-arbitraries.ts does not list: add it`);
  }
}

/** JSON body members a POST may carry (record fields under their JSON names, batch lists by query name). */
const WEBAPI_BODY_FIELDS = [
  'Login',
  'Group',
  'Name',
  'Email',
  'Country',
  'ID',
  'Comment',
  'Leverage',
  'Rights',
  'PassMain',
  'PassInvestor',
  'Password',
  'login',
  'group',
  'ticket',
  'symbol',
];

const decimal = fc.oneof(
  fc.integer({ min: -5_000, max: 20_000 }).map(String),
  fc.integer({ min: -500_000, max: 2_000_000 }).map((c) => (c / 100).toFixed(2)),
  fc.constantFrom(
    '0',
    '0.001',
    '12.345',
    '-0.01',
    '+5',
    '1e3',
    '999999999.99',
    '1000000000',
    '1e400',
    '.5',
    '5.',
    '--1',
  ),
);

const seconds = fc.oneof(
  fc.constantFrom('0', '2147483647', '9007199254740991', '9007199254740992', '-1'),
  fc.nat().map(String),
);

/** Plausible values per Web API parameter; refs where the world knows real ones. */
const WEBAPI_VALUES: Record<string, fc.Arbitrary<QueryValue>> = {
  version: fc.constantFrom('484', '483', '3802', '0', 'x', '99999999999'),
  agent: fc.constantFrom('fuzz', 'has space', '', 'x'.repeat(300)),
  type: fc.constantFrom('manager', 'client', '2', '3', '4', '5', '6', '7', '1', 'main', 'investor', 'api'),
  login: fc.oneof(
    { arbitrary: ref('mt5Login'), weight: 6 },
    { arbitrary: fc.constantFrom('1000', '0', '-1', '1.5', '9007199254740992', '1,2,3'), weight: 1 },
    { arbitrary: fc.array(ref('mt5Login'), { minLength: 2, maxLength: 3 }), weight: 1 },
  ),
  group: fc.oneof(ref('mt5Group'), fc.constantFrom('*', 'real\\*', 'real\\*,!real\\pro-usd', 'nope', '!*')),
  balance: decimal,
  comment: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('x'.repeat(200), 'dep\u0000x')),
  check_margin: fc.constantFrom('0', '1', '2'),
  ticket: fc.oneof(
    ref('ticket'),
    fc.array(ref('ticket'), { minLength: 2, maxLength: 3 }),
    fc.constantFrom('1', '0', '99999999', '1,2,x'),
  ),
  from: seconds,
  to: seconds,
  offset: fc.constantFrom('0', '1', '5', '-1', '100000'),
  total: fc.constantFrom('0', '1', '100', '101'),
  index: fc.constantFrom('0', '1', '2', '99', '-1'),
  symbol: fc.constantFrom('EURUSD', 'eurusd', 'XAUUSD', 'NOPE', 'EURUSD,GBPUSD'),
  name: fc.constantFrom('Ada', 'Grace Hopper', 'x'.repeat(300), ' '),
  pass_main: fc.constantFrom('Secret#123a', 'weak', ''),
  password: fc.constantFrom('Secret#123a', 'weak', ''),
  srv_rand_answer: fc.constantFrom('0'.repeat(32), 'z'.repeat(32), '', 'abc'),
  cli_rand: fc.constantFrom('0'.repeat(32), 'f'.repeat(32), 'xyz'),
  leverage: fc.constantFrom('100', '0', '1', '5000', '-3', 'abc'),
  rights: fc.constantFrom('0', '1', '1027', '-1'),
};

function webApiValue(name: string): fc.Arbitrary<QueryValue> {
  const plausible = WEBAPI_VALUES[name] ?? fc.string({ maxLength: 20 });
  return fc.oneof(
    { arbitrary: plausible, weight: 6 },
    { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 1 },
  );
}

const webApiBody: fc.Arbitrary<BodyTemplate> = fc.oneof(
  { arbitrary: fc.constant<BodyTemplate>({ kind: 'none' }), weight: 6 },
  {
    arbitrary: fc
      .dictionary(
        fc.oneof(fc.constantFrom(...WEBAPI_BODY_FIELDS), fc.constantFrom('__proto__', 'constructor', 'x')),
        fc.oneof(weirdValue, fc.array(ref('mt5Login'), { maxLength: 3 }), ref('mt5Login'), ref('mt5Group')),
        { maxKeys: 4 },
      )
      .chain((value) =>
        fc
          .array(mutation, { maxLength: 2 })
          .map((mutations): BodyTemplate => ({ kind: 'json', value: applyMutations(value, mutations) })),
      ),
    weight: 3,
  },
  { arbitrary: bodyTemplate(null, {}), weight: 1 },
);

/**
 * Web API requests: a command (or something near one) with its parameters plausible or junk, GET or POST
 * (sometimes another method), on the connection `connection` picks.
 */
export function webApiRequest(
  connection: fc.Arbitrary<NonNullable<RequestTemplate['connection']>>,
): fc.Arbitrary<RequestTemplate> {
  const names = Object.keys(WEBAPI_COMMANDS);
  const command = fc.oneof(
    { arbitrary: fc.constantFrom(...names), weight: 20 },
    {
      arbitrary: fc.constantFrom('user/delete', 'nothing', 'auth', 'api', '', 'trade/balance/', 'TRADE/BALANCE'),
      weight: 1,
    },
  );
  return command.chain((name) => {
    const params = WEBAPI_COMMANDS[name] ?? [];
    return fc
      .record({
        mode,
        broken: brokenPart,
        method: fc.constantFrom(...HTTP_METHODS),
        validMethod: fc.constantFrom('GET', 'POST'),
        present: fc.array(fc.boolean(), { minLength: params.length, maxLength: params.length }),
        validValues: fc.tuple(...params.map((p) => WEBAPI_VALUES[p] ?? fc.string({ maxLength: 20 }))),
        brokenValues: fc.tuple(...params.map((p) => webApiValue(p))),
        extra: junkQuery,
        pathMutations: fc.array(pathMutation, { minLength: 1, maxLength: 2 }),
        pathSuffix: querySuffix,
        contentType,
        headers: extraHeaders,
        body: webApiBody,
        connection,
      })
      .map((r): RequestTemplate => {
        const broken = (part: Part) => r.mode === 'chaos' || (r.mode === 'one' && r.broken === part);
        const values = broken('params') ? r.brokenValues : r.validValues;
        const query: [string, QueryValue][] = [];
        params.forEach((p, i) => {
          // Parameters are there most of the time: present[i] false drops every other one.
          if (r.present[i] === true || i % 2 === 0) query.push([p, values[i] as QueryValue]);
        });
        const segments = ['api', ...name.split('/')];
        const body = broken('body') ? r.body : { kind: 'none' as const };
        return {
          method: broken('method') ? r.method : r.validMethod,
          segments: broken('path') ? mutatePath(segments, r.pathMutations) : segments,
          pathSuffix: broken('path') ? r.pathSuffix : '',
          query: broken('query') ? [...query, ...r.extra] : query,
          contentType: broken('contentType') ? r.contentType : body.kind === 'none' ? null : 'application/json',
          headers: broken('headers') ? r.headers : {},
          auth: { kind: 'none' },
          body,
          connection: r.connection,
        };
      });
  });
}

// ---- materializing ----

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Percent-encodes text for a URL; an unpaired surrogate (which UTF-8 cannot carry) goes as U+FFFD. */
export function encodeText(text: string): string {
  return encodeURIComponent(text.replace(LONE_SURROGATE, '\ufffd'));
}

/** What a template is sent as. */
export interface ConcreteRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

export interface RefResolver {
  resolve(ref: Ref): string | number;
}

function resolveDeep(value: unknown, resolver: RefResolver): unknown {
  if (value instanceof Ref) return resolver.resolve(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => resolveDeep(v, resolver));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, k, {
      value: resolveDeep(v, resolver),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function bodyText(template: BodyTemplate, resolver: RefResolver): string | Buffer | undefined {
  switch (template.kind) {
    case 'none':
      return undefined;
    case 'raw':
      return template.text;
    case 'bytes':
      return Buffer.from(template.hex, 'hex');
    case 'json': {
      const text = JSON.stringify(resolveDeep(template.value, resolver)) ?? '';
      const m = template.text;
      if (m === undefined) return text;
      if (m.kind === 'truncate') return text.slice(0, Math.floor(text.length * m.fraction));
      if (m.kind === 'append') return text + m.text;
      if (m.kind === 'prefix') return m.text + text;
      return m.text;
    }
  }
}

/** The request a template stands for in the world `resolver` describes. */
export function materialize(
  template: RequestTemplate,
  resolver: RefResolver,
  options: { token?: string; connection?: string },
): ConcreteRequest {
  const path = template.segments.map((s) => (s instanceof Ref ? encodeText(String(resolver.resolve(s))) : s)).join('/');
  const textOf = (v: QueryValue): string =>
    typeof v === 'string'
      ? v
      : v instanceof Ref
        ? String(resolver.resolve(v))
        : v.map((r) => resolver.resolve(r)).join(',');
  const query = template.query.map(([k, v]) => `${encodeText(k)}=${encodeText(textOf(v))}`).join('&');
  let url = `/${path}${template.pathSuffix}`;
  if (query !== '') url += `${url.includes('?') ? '&' : '?'}${query}`;
  const headers: Record<string, string> = { ...template.headers };
  if (template.contentType !== null) headers['content-type'] = template.contentType;
  if (template.auth.kind === 'token' && options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  else if (template.auth.kind === 'header') headers.authorization = template.auth.value;
  if (options.connection !== undefined) headers['x-mtproof-connection'] = options.connection;
  const payload = bodyText(template.body, resolver);
  return payload === undefined
    ? { method: template.method, url, headers }
    : { method: template.method, url, headers, payload };
}

/** One line naming a request (for failures and replays), long parts cut. */
export function describeRequest(request: ConcreteRequest): string {
  const cut = (text: string, max: number) =>
    text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
  const headers = Object.entries(request.headers)
    .map(([k, v]) => `${k}: ${cut(JSON.stringify(v), 60)}`)
    .join(', ');
  const payload =
    request.payload === undefined
      ? 'no body'
      : Buffer.isBuffer(request.payload)
        ? `bytes ${cut(request.payload.toString('hex'), 120)}`
        : `body ${cut(JSON.stringify(request.payload), 300)}`;
  return `${request.method} ${cut(request.url, 200)} [${headers}] ${payload}`;
}
