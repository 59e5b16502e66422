import { isIP } from 'node:net';
import { z } from 'zod';
import { MtproofError, schemaIssues } from '../../kit/errors.ts';

/**
 * The fault proxy's vocabulary, in zod: toxics (their kinds, directions and attributes), proxy specs and
 * `host:port` addresses. The control API validates with these schemas and publishes them as OpenAPI; the
 * `--toxics` file of `mtproof sim proxy` is read with the same ones, so a toxic has one shape everywhere.
 */

/** Which bytes a toxic acts on: client → upstream, upstream → client, or both streams. */
export const DIRECTIONS = ['upstream', 'downstream', 'both'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** The streams of a connection (a toxic's `both` means both of them). */
export type Stream = 'upstream' | 'downstream';

export const TOXIC_TYPES = ['latency', 'bandwidth', 'blackhole', 'reset', 'slowClose', 'limitData', 'timeout'] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];

/** Proxy and toxic names: safe in a URL path, in a log line, and as a `Random.fork` name (no `/`). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const proxyName = z
  .string()
  .regex(NAME_PATTERN, '1 to 64 letters, digits, _ . - (the first a letter or a digit)')
  .describe('letters, digits, _ . - (1 to 64, the first a letter or a digit)');

/** Up to an hour: a longer wait on the wire is a configuration mistake, not a fault to simulate. */
const durationMs = z.number().int().min(0).max(3_600_000);
const byteCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Each kind's attributes: strict, so a misspelt field is named rather than ignored. */
export const TOXIC_ATTRIBUTES = {
  latency: z.strictObject({
    latencyMs: durationMs.describe('added to every chunk of the stream'),
    jitterMs: durationMs.default(0).describe('each chunk gets a further uniform draw in [-jitterMs, +jitterMs]'),
  }),
  bandwidth: z.strictObject({
    rateBytesPerSec: z.number().int().min(1).max(10_000_000_000).describe('at most this many bytes a second'),
  }),
  blackhole: z.strictObject({}),
  reset: z.strictObject({
    afterBytes: byteCount
      .default(0)
      .describe('0: reset the connection at once (after delayMs); N: forward N bytes of the stream, then reset'),
    delayMs: durationMs.default(0).describe('with afterBytes 0: wait this long before the reset'),
  }),
  slowClose: z.strictObject({ delayMs: durationMs.describe('the close (FIN) of the stream comes this late') }),
  limitData: z.strictObject({
    bytes: byteCount.describe('forward this many bytes of the stream, then close the connection (FIN)'),
  }),
  timeout: z.strictObject({
    timeoutMs: durationMs.describe('swallow the stream and close the connection this late (0: never close)'),
  }),
} as const satisfies Record<ToxicType, z.ZodType>;

export type ToxicAttributes = { [T in ToxicType]: z.output<(typeof TOXIC_ATTRIBUTES)[T]> };

/** A toxic as the proxy holds it and the control API shows it. */
export type Toxic = {
  [T in ToxicType]: {
    name: string;
    type: T;
    direction: Direction;
    /** Probability in [0, 1] that the toxic is in effect on a connection, drawn once per connection. */
    toxicity: number;
    enabled: boolean;
    attributes: ToxicAttributes[T];
  };
}[ToxicType];

const toxicity = z.number().min(0).max(1).describe('probability that the toxic is in effect on a connection');

function toxicVariant<T extends ToxicType, A extends z.ZodType>(type: T, attributes: A) {
  return z.strictObject({
    type: z.literal(type),
    name: proxyName.optional().describe('default: <type>_<direction>'),
    direction: z.enum(DIRECTIONS).default('downstream'),
    toxicity: toxicity.default(1),
    enabled: z.boolean().default(true),
    attributes,
  });
}

/** A new toxic (`POST /proxies/:name/toxics`, one entry of a `--toxics` file). */
export const toxicInput = z.discriminatedUnion('type', [
  toxicVariant('latency', TOXIC_ATTRIBUTES.latency),
  toxicVariant('bandwidth', TOXIC_ATTRIBUTES.bandwidth),
  // Kinds whose attributes all have defaults may leave `attributes` out.
  toxicVariant('blackhole', TOXIC_ATTRIBUTES.blackhole.prefault({})),
  toxicVariant('reset', TOXIC_ATTRIBUTES.reset.prefault({})),
  toxicVariant('slowClose', TOXIC_ATTRIBUTES.slowClose),
  toxicVariant('limitData', TOXIC_ATTRIBUTES.limitData),
  toxicVariant('timeout', TOXIC_ATTRIBUTES.timeout),
]);
export type ToxicInput = z.output<typeof toxicInput>;

/** A change to a toxic: its kind stays; `attributes` are merged onto the current ones and checked for the kind. */
export const toxicPatch = z.strictObject({
  direction: z.enum(DIRECTIONS).optional(),
  toxicity: toxicity.optional(),
  enabled: z.boolean().optional(),
  attributes: z.record(z.string(), z.unknown()).optional().describe("fields of the toxic's kind to change"),
});
export type ToxicPatch = z.output<typeof toxicPatch>;

/** A toxic file: a list of toxics. */
export const toxicList = z.array(toxicInput).max(32);

export interface Address {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`; null with the reason when it is not one. */
export function parseAddress(text: string, minPort: number): Address | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (match === null) return 'must be HOST:PORT (an IPv6 address in brackets: [::1]:PORT)';
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (match[1] !== undefined && isIP(host) !== 6) return `${host} is not an IPv6 address`;
  if (
    match[2] !== undefined &&
    isIP(host) === 0 &&
    !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)
  ) {
    return `${host} is neither an IP address nor a host name`;
  }
  if (port < minPort || port > 65_535) return `the port must be from ${minPort} to 65535`;
  return { host, port };
}

export function formatAddress(address: Address): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** True for an address only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const bare = host.toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  if (bare.startsWith('::ffff:')) return isLoopback(bare.slice(7));
  return isIP(bare) === 4 && bare.startsWith('127.');
}

function address(minPort: number, example: string) {
  return z
    .string()
    .max(300)
    .transform((text, context) => {
      const parsed = parseAddress(text, minPort);
      if (typeof parsed === 'string') {
        context.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .describe(`HOST:PORT, e.g. ${example}`);
}

/** Where a proxy listens: port 0 picks any free one (kept across disable and enable). */
export const listenAddress = address(0, '127.0.0.1:0');
/** Where a proxy forwards to. */
export const upstreamAddress = address(1, '127.0.0.1:5432');

export const proxyInput = z.strictObject({
  name: proxyName,
  listen: listenAddress,
  upstream: upstreamAddress,
  enabled: z.boolean().default(true),
});
export type ProxyInput = z.output<typeof proxyInput>;

export const proxyPatch = z.strictObject({
  listen: listenAddress.optional(),
  upstream: upstreamAddress.optional(),
  enabled: z.boolean().optional().describe('false: stop listening and cut every connection'),
});
export type ProxyPatch = z.output<typeof proxyPatch>;

/** Parses with `schema`, or throws MTP_BAD_REQUEST naming each field (under `at`, when given). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, at = ''): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = schemaIssues(parsed.error).map((i) => ({
    ...i,
    path: at === '' ? i.path : i.path === '(root)' ? at : `${at}.${i.path}`,
  }));
  throw new MtproofError('MTP_BAD_REQUEST', `${what} is not valid`, issues);
}
