import { z } from 'zod';
import { type Issue, schemaIssues } from '../../kit/errors.ts';
import {
  depositInput,
  kycInput,
  openAccountInput,
  payoutInput,
  registerClientInput,
  transferInput,
} from '../commands.ts';
import { currencyCode } from '../config.ts';
import type { FindingClass, TransferState } from '../store/schema.ts';

/**
 * The HTTP API's schemas, written once in zod: the route schemas fastify validates with (through `validator`
 * below, so every refusal is the registry's MTP_BAD_REQUEST naming the fields) and the OpenAPI document
 * @fastify/swagger publishes at /docs are both generated from them. Bodies are the service's own command
 * schemas (service/commands.ts), with path parameters taken out.
 */

/** An id in a path: what the service's ids look like (letters, digits, dashes), bounded. */
const pathId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits, and . _ : - after the first');

export const idParams = z.strictObject({ id: pathId });
export const refParams = z.strictObject({ ref: pathId });

export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Headers the command routes read (others pass: a request carries many). */
export const commandHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN, '1 to 255 printable ASCII characters, no spaces')
    .optional()
    .describe('Unique per request: the same key and body answer the first answer again (kept permanently).'),
});

export const webhookHeaders = z.looseObject({
  'x-mtproof-signature': z
    .string()
    .optional()
    .describe("t=<epoch ms>,v1=<hex HMAC-SHA256(secret, t + '.' + raw body)>"),
});

export const registerClientBody = registerClientInput;
export const kycBody = kycInput.omit({ clientId: true });
export const openAccountBody = openAccountInput;
export const depositBody = depositInput;
export const withdrawalBody = transferInput;
export const payoutBody = payoutInput.omit({ ref: true });
/** No fields: the run covers every configured server of the reconciled kinds. An empty body may be left out. */
export const reconciliationBody = z.strictObject({}).nullish();

const eventId = z.string().min(1).max(128);
const positiveCents = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const paymentConfirmedEvent = z.strictObject({
  id: eventId,
  type: z.literal('payment.confirmed'),
  data: z.strictObject({
    /** The provider's payment id: the deposit's pspRef, so a retried webhook finds the same transfer. */
    paymentId: z.string().min(1).max(64),
    accountId: z.string().min(1).max(64),
    amountCents: positiveCents,
    currency: currencyCode,
  }),
});

export const payoutEvent = z.strictObject({
  id: eventId,
  type: z.enum(['payout.succeeded', 'payout.failed']),
  data: z.strictObject({
    /** The withdrawal's reference (the service's). */
    ref: z.string().min(1).max(64),
    /** The provider's payout id. */
    payoutId: z.string().min(1).max(64).optional(),
  }),
});

/** Any other event type is acknowledged and ignored: the provider decides what it sends. */
export const otherEvent = z.looseObject({ id: eventId, type: z.string().min(1).max(128) });

/** What the webhook route lets through to its handler, which validates after checking the signature. */
export const anything = z.unknown();

export const pspEvent = z.union([paymentConfirmedEvent, payoutEvent, otherEvent]);
export type PspEvent = z.infer<typeof paymentConfirmedEvent> | z.infer<typeof payoutEvent> | z.infer<typeof otherEvent>;

/**
 * Parses a provider event: a known type against its own schema (issues name its fields), any other type
 * by its envelope only.
 */
export function parsePspEvent(body: unknown): { ok: true; value: PspEvent } | { ok: false; issues: Issue[] } {
  const type = body !== null && typeof body === 'object' ? (body as { type?: unknown }).type : undefined;
  const schema =
    type === 'payment.confirmed'
      ? paymentConfirmedEvent
      : type === 'payout.succeeded' || type === 'payout.failed'
        ? payoutEvent
        : otherEvent;
  const parsed = schema.safeParse(body);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: schemaIssues(parsed.error) };
}

// ---- answers (documentation: fastify does not filter answers through them) ----

const ms = z.number().int();
const nullableMs = ms.nullable();

export const clientSchema = z.object({
  id: z.string(),
  externalId: z.string().nullable(),
  name: z.string(),
  email: z.string(),
  country: z.string(),
  kyc: z.enum(['none', 'pending', 'approved', 'rejected']),
  partnerId: z.string().nullable(),
  createdMs: ms,
  updatedMs: ms,
});

export const accountSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  productId: z.string(),
  kind: z.enum(['live', 'demo']),
  serverId: z.string(),
  group: z.string(),
  currency: z.string(),
  leverage: z.number().int().nullable(),
  state: z.enum(['pending', 'open', 'failed']),
  login: z.number().int().nullable(),
  attempts: z.number().int(),
  uncertainSinceMs: nullableMs,
  lastError: z.string().nullable(),
  createdMs: ms,
  updatedMs: ms,
  openedMs: nullableMs,
});

export const transferState = z.enum([
  'accepted',
  'hold',
  'posting',
  'posted',
  'done',
  'refunding',
  'refunded',
  'review',
  'rejected',
  'failed',
] satisfies TransferState[]);

export const transferSchema = z.object({
  ref: z.string(),
  kind: z.enum(['deposit', 'withdrawal', 'credit']),
  clientId: z.string(),
  accountId: z.string(),
  serverId: z.string(),
  login: z.number().int(),
  amountCents: z.number().int(),
  currency: z.string(),
  state: transferState,
  pspRef: z.string().nullable(),
  ticket: z.number().int().nullable(),
  refundTicket: z.number().int().nullable(),
  attempts: z.number().int(),
  uncertainSinceMs: nullableMs,
  lastError: z.string().nullable(),
  reason: z.string().nullable(),
  acceptedMs: ms,
  legStartedMs: ms,
  updatedMs: ms,
  postedMs: nullableMs,
  finishedMs: nullableMs,
});

export const findingSchema = z.object({
  key: z.string(),
  class: z.enum([
    'missing_on_server',
    'duplicate_on_server',
    'amount_mismatch',
    'unknown_operation',
    'wrong_account',
    'not_in_ledger',
    'psp_only',
    'ledger_only',
  ] satisfies FindingClass[]),
  serverId: z.string().nullable(),
  login: z.number().int().nullable(),
  ref: z.string().nullable(),
  ticket: z.number().int().nullable(),
  pspRef: z.string().nullable(),
  expectedCents: z.number().int().nullable(),
  actualCents: z.number().int().nullable(),
  detail: z.string(),
});

export const reconciliationSchema = z.object({
  id: z.string(),
  startedMs: ms,
  finishedMs: ms,
  state: z.enum(['done', 'partial']),
  unreachable: z.array(z.string()),
  findings: z.array(findingSchema),
});

/** Epoch milliseconds in a query string (15 digits at most: every such number is a safe integer). */
const queryMs = z
  .string()
  .regex(/^-?\d{1,15}$/, 'epoch milliseconds (an integer of at most 15 digits)')
  .transform(Number)
  .optional();

export const statementQuery = z.strictObject({ fromMs: queryMs, toMs: queryMs });

const commissionTotals = {
  closedTrades: z.number().int(),
  volumeCentiLots: z.number().int(),
  commissionCentiCents: z.number().int().describe('hundredths of the minor unit: divide by 100 for cents'),
};

export const ibStatementSchema = z.object({
  partnerId: z.string(),
  planId: z.string(),
  fromMs: nullableMs,
  toMs: nullableMs,
  accounts: z.array(
    z.object({
      accountId: z.string(),
      clientId: z.string(),
      serverId: z.string(),
      login: z.number().int(),
      currency: z.string(),
      ...commissionTotals,
    }),
  ),
  totals: z.array(z.object({ currency: z.string(), ...commissionTotals })),
});

export const accountVolumeSchema = z.object({
  accountId: z.string(),
  serverId: z.string(),
  login: z.number().int().nullable(),
  openedTrades: z.number().int(),
  closedTrades: z.number().int(),
  volumeCentiLots: z.number().int(),
  bySymbol: z.array(
    z.object({ symbol: z.string(), closedTrades: z.number().int(), volumeCentiLots: z.number().int() }),
  ),
});

export const webhookAnswerSchema = z.object({
  received: z.literal(true),
  transfer: transferSchema.optional(),
  ignored: z.string().optional(),
});

export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('a code of the registry (kit/errors.ts), e.g. MTP_BAD_REQUEST'),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })),
  }),
});

export const healthSchema = z.object({ status: z.literal('ok') });

export const readySchema = z.object({
  ready: z.boolean(),
  store: z.object({ ok: z.boolean(), detail: z.string().optional() }),
  servers: z.array(z.object({ id: z.string(), connected: z.boolean(), breaker: z.string(), subscribed: z.boolean() })),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() })),
  error: errorSchema.shape.error.optional(),
});

export { json, ValidationFailure, validator } from '../../kit/http.ts';
