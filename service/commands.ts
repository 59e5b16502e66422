import { z } from 'zod';
import { type ErrorCode, type Issue, schemaIssues } from '../kit/errors.ts';
import { MT4_LIMITS } from '../metatrader/limits.ts';
import { countryCode, currencyCode } from './config.ts';

/**
 * The commands the service accepts (from the CRM, the client portal, the PSP callback), validated once
 * at the edge. A refusal is a value with a stable code, a message and, for malformed input, the fields.
 */

export interface CommandError {
  code: ErrorCode;
  message: string;
  issues: Issue[];
}

export type CommandResult<T> = { ok: true; value: T } | { ok: false; error: CommandError };

export function refuse<T>(code: ErrorCode, message: string, issues: Issue[] = []): CommandResult<T> {
  return { ok: false, error: { code, message, issues } };
}

const positiveCents = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** No NUL anywhere: Postgres text cannot hold it, and no CRM id or name needs it. */
const text = () => z.string().refine((value) => !value.includes('\u0000'), 'no NUL characters');
const id = text().min(1).max(64);

export const registerClientInput = z.strictObject({
  /** The CRM's id: registering the same externalId again returns the same client. */
  externalId: id.optional(),
  // The narrower platform's limits: the same client may get an MT4 and an MT5 account.
  name: text().trim().min(1).max(MT4_LIMITS.nameBytes),
  email: text()
    .max(MT4_LIMITS.emailBytes)
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'an email address'),
  country: countryCode,
  /** The introducing broker the client came through (an `ib.partners` id of the config). */
  partnerId: id.optional(),
});

export const kycInput = z.strictObject({
  clientId: id,
  state: z.enum(['none', 'pending', 'approved', 'rejected']),
});

export const openAccountInput = z.strictObject({ clientId: id, productId: id });

/** A withdrawal or a credit. */
export const transferInput = z.strictObject({ accountId: id, amountCents: positiveCents, currency: currencyCode });

export const depositInput = transferInput.extend({
  /** The payment provider's id: the same pspRef again returns the same transfer (the PSP retries webhooks). */
  pspRef: id.optional(),
});

export const payoutInput = z.strictObject({
  ref: id,
  succeeded: z.boolean(),
  /** The provider's payout id. */
  pspRef: id.optional(),
});

export type RegisterClientInput = z.input<typeof registerClientInput>;
export type DepositInput = z.input<typeof depositInput>;
export type TransferInput = z.input<typeof transferInput>;
export type PayoutInput = z.input<typeof payoutInput>;

/** Parses a command; a malformed one is MTP_BAD_REQUEST naming each field. */
export function parseCommand<T extends z.ZodType>(
  schema: T,
  input: unknown,
  what: string,
): { ok: true; value: z.output<T> } | { ok: false; error: CommandError } {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  return refuse('MTP_BAD_REQUEST', `${what}: bad request`, schemaIssues(parsed.error)) as {
    ok: false;
    error: CommandError;
  };
}
