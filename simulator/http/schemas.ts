import { z } from 'zod';

/**
 * The served simulator's request schemas, in zod: fastify validates with them (kit/http.ts `validator`) and
 * the OpenAPI document is generated from them. The native API's argument shapes are the ManagerApi port's
 * (adapters/port/manager-api.ts), field for field, so a client maps a method call to one request.
 */

/** A MetaTrader login as the API carries it. */
export const login = z.number().int().min(1).max(2_147_483_647);
/** Signed, non-zero, exact. */
/**
 * Signed, non-zero, exact, and at most 10^13 (100 billion in money units): the platforms keep money in doubles
 * of whole units, which hold cents exactly only up to 2^53 / 100, so a larger amount would lose a cent.
 */
export const MAX_AMOUNT_CENTS = 10_000_000_000_000;
const amountCents = z
  .number()
  .int()
  .min(-MAX_AMOUNT_CENTS)
  .max(MAX_AMOUNT_CENTS)
  .refine((n) => n !== 0, 'must not be 0');
const text = (max: number) => z.string().max(max);
const serverSec = z.number().int().min(0).max(32_503_680_000);
const serverId = z.string().min(1).max(64);
const sessionId = z.string().min(1).max(64);

export const serverParams = z.strictObject({ serverId });
export const sessionParams = z.strictObject({ session: sessionId });

export const openSessionBody = z.strictObject({ serverId });

const empty = z.strictObject({}).nullish();

const newAccount = z.strictObject({
  login: z.number().int().min(0).max(2_147_483_647).optional(),
  group: z.string().min(1).max(64),
  name: z.string().min(1).max(128),
  email: text(64).optional(),
  country: text(64).optional(),
  externalId: text(64).optional(),
  comment: text(64).optional(),
  leverage: z.number().int().min(1).max(10_000).optional(),
  password: z.string().min(1).max(64),
  investorPassword: z.string().min(1).max(64).optional(),
  enabled: z.boolean().optional(),
  readOnly: z.boolean().optional(),
});

const accountPatch = z.strictObject({
  group: z.string().min(1).max(64).optional(),
  leverage: z.number().int().min(1).max(10_000).optional(),
  enabled: z.boolean().optional(),
  readOnly: z.boolean().optional(),
  name: z.string().min(1).max(128).optional(),
  email: text(64).optional(),
  country: text(64).optional(),
});

const range = z.strictObject({ login, fromServerSec: serverSec, toServerSec: serverSec });

/** One entry per ManagerApi method the native API serves (`POST /v1/sessions/{session}/{method}`). */
export const NATIVE_METHODS = {
  connect: z.strictObject({ login, password: z.string().min(1).max(64) }),
  close: empty,
  isConnected: empty,
  ping: empty,
  serverTime: empty,
  createAccount: z.strictObject({ account: newAccount }),
  getAccount: z.strictObject({ login }),
  listAccounts: z.strictObject({ groupMask: z.string().min(1).max(256) }),
  updateAccount: z.strictObject({ login, patch: accountPatch }),
  setPassword: z.strictObject({ login, kind: z.enum(['main', 'investor']), password: z.string().min(1).max(64) }),
  postBalance: z.strictObject({
    request: z.strictObject({
      login,
      amountCents,
      kind: z.enum(['balance', 'credit']),
      comment: text(256),
    }),
  }),
  balanceHistory: range,
  marginLevel: z.strictObject({ login }),
  trades: range,
  openPositions: z.strictObject({ login }),
  openPositionsOf: z.strictObject({ logins: z.array(login).max(10_000) }),
  groups: empty,
  subscribe: empty,
  events: z.strictObject({
    subscription: sessionId,
    /** The last event sequence number the client has seen (0 at first): earlier events are released. */
    after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    /** Wait up to this long for an event when none is there (long poll). */
    waitMs: z.number().int().min(0).max(30_000).default(0),
  }),
  unsubscribe: z.strictObject({ subscription: sessionId }),
} as const;

export type NativeMethod = keyof typeof NATIVE_METHODS;

// ---- control ----

const faultParams = z.record(z.string().max(64), z.union([z.number(), z.boolean(), z.string().max(256)]));

export const controlFaultsBody = z.strictObject({
  /** A fault configuration as `--faults FILE` takes it (probabilities, swarm, schedule). */
  config: z.record(z.string(), z.unknown()),
});
export const controlRandomBody = z.strictObject({ on: z.boolean() });
export const controlInjectBody = z.strictObject({
  serverId,
  fault: z.string().min(1).max(64),
  params: faultParams.optional(),
});
export const controlRestartBody = z.strictObject({
  downtimeMs: z.number().int().min(0).max(86_400_000),
  /** Whether a request in flight at the restart is applied (default: drawn). */
  inFlightApplied: z.boolean().optional(),
});
export const controlDealerBody = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('balanceCorrection'), login, amountCents, comment: text(256) }),
  z.strictObject({ action: z.literal('creditEdit'), login, amountCents, comment: text(256) }),
  z.strictObject({ action: z.literal('changeGroup'), login, group: z.string().min(1).max(64) }),
  z.strictObject({ action: z.literal('disable'), login }),
  z.strictObject({ action: z.literal('setLeverage'), login, leverage: z.number().int().min(1).max(10_000) }),
]);
export const controlClientBody = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('open'),
    login,
    symbol: z.string().min(1).max(32),
    side: z.enum(['buy', 'sell']),
    volumeCentiLots: z.number().int().min(1).max(1_000_000),
  }),
  z.strictObject({ action: z.literal('close'), ticket: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
]);
export const controlTimeBody = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('freeze') }),
  z.strictObject({ action: z.literal('unfreeze') }),
  z.strictObject({
    action: z.literal('advance'),
    ms: z
      .number()
      .int()
      .min(0)
      .max(366 * 86_400_000),
  }),
]);
export const controlResetBody = z
  .strictObject({
    seed: z
      .string()
      .regex(/^[^/]{1,128}$/, '1 to 128 characters, without /')
      .optional(),
    faults: z.record(z.string(), z.unknown()).optional(),
  })
  .nullish();
export const controlJournalQuery = z.strictObject({
  surface: z.enum(['native', 'control', 'webapi']).optional(),
  serverId: serverId.optional(),
  method: z.string().min(1).max(16).optional(),
  pathPrefix: z.string().min(1).max(256).optional(),
  /** 0: a request whose connection was dropped without an answer (the Web API's broken connections). */
  status: z.coerce.number().int().min(0).max(599).optional(),
  afterSeq: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});
export const controlLoginParams = z.strictObject({
  serverId,
  login: z.coerce.number().int().min(1).max(2_147_483_647),
});
