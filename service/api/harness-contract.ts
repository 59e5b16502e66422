import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { CommandResult } from '../commands.ts';
import type { BrokerConfig, ProductConfig } from '../config.ts';
import { route, suspendedIn } from '../domain/routing.ts';
import { type IdempotencyRequest, idempotencyId } from '../idempotency.ts';
import type { Service } from '../service.ts';
import type { Store } from '../store/port.ts';
import type { AccountRow, TransferRow } from '../store/schema.ts';
import { ApiError, answerOf, errorBody } from './errors.ts';
import { errorSchema, json } from './schemas.ts';

/**
 * The black-box harness contract (scenarios/README.md, "Black-box certification"), served by our own
 * service under `/harness/v1` (`mtproof service --harness-contract`), so that `mtproof certify
 * --integration-url http://HOST:PORT/harness/v1` certifies mtproof through the same door as anyone's
 * integration. Each route is a thin mapping onto the service's commands:
 *
 * - open an account: register the client (externalId = clientRef: the same client again), record its KYC
 *   approved (the harness plays a KYC provider that approves everyone), open an account on the product given
 *   or else the first live product the routing offers the client's country; idempotent by clientRef through
 *   the API's idempotency keys (kept in the store, in the command's transaction);
 * - a deposit is a deposit whose pspRef is the reference: the service's pspRef dedupe makes it idempotent;
 * - a withdrawal is a withdrawal whose idempotency key is the reference: the key's row, committed with the
 *   transfer, makes it idempotent across restarts and is how `GET /transfers/{reference}` finds it.
 *
 * The schemas are written again here (service/ may not import the harness); test/service/api/harness-contract
 * checks these answers with the harness's own schemas (scenarios/wire/contract.ts).
 */

export const HARNESS_CONTRACT_PREFIX = '/harness/v1';
const ACCOUNTS_ROUTE = `${HARNESS_CONTRACT_PREFIX}/accounts`;
const WITHDRAWALS_ROUTE = `${HARNESS_CONTRACT_PREFIX}/withdrawals`;
/**
 * The idempotency route both kinds record their reference under: one row per reference, whatever the kind, in
 * the command's own transaction — so a deposit and a withdrawal racing with one reference cannot both move money
 * (the second's body differs: 409).
 */
const REFERENCE_ROUTE = `${HARNESS_CONTRACT_PREFIX}/transfers`;

export interface HarnessContractContext {
  service: Service;
  /** Finds a reference's transfer: by pspRef (deposits) or by the withdrawal's idempotency row. */
  store: Store;
}

// ---- schemas (the harness contract's; scenarios/wire/contract.ts has the harness's copy) ----

const harnessRef = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, '1 to 64 characters: letters, digits, and . _ : - after the first');
const accountRef = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'an account id of this service');

const openAccountBody = z.strictObject({
  clientRef: harnessRef,
  // Checked by the register-client command (issues name these fields as they are).
  name: z.string(),
  email: z.string(),
  country: z.string(),
  /** mtproof only: the product to open; absent, the first live product the routing offers the country. */
  productId: z.string().min(1).max(64).optional(),
});

const transferBody = z.strictObject({
  reference: harnessRef,
  accountRef,
  amountCents: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});

const reconcileBody = z.strictObject({}).nullish();
const accountParams = z.strictObject({ accountRef });
const referenceParams = z.strictObject({ reference: harnessRef });

const accountAnswerSchema = z.object({
  accountRef: z.string(),
  serverId: z.string().nullable(),
  login: z.number().int().nullable(),
  state: z.enum(['pending', 'open', 'failed']),
});

const transferAnswerSchema = z.object({
  reference: z.string(),
  accountRef: z.string(),
  kind: z.enum(['deposit', 'withdrawal']),
  amountCents: z.number().int(),
  state: z.enum(['pending', 'done', 'failed']),
  ticket: z.number().int().nullable(),
});

const reconcileAnswerSchema = z.object({
  findings: z.array(
    z.object({
      serverId: z.string().nullable(),
      login: z.number().int().nullable(),
      kind: z.string().describe('the finding class: unknown_operation, missing_on_server, ...'),
      ticket: z.number().int().nullable(),
    }),
  ),
});

const healthAnswerSchema = z.object({ status: z.literal('ok') });

export type ContractTransferState = 'pending' | 'done' | 'failed';

/**
 * A transfer's state as the contract states it. `posted` is a withdrawal debited on its server and waiting
 * for the provider's payout, which the harness never sends: the money has left the account, so it is done.
 * `refunded` (a payout failed, the debit credited back) and `rejected`/`failed` moved nothing in the end;
 * `review` is unsettled until an operator decides: pending.
 */
export function contractState(transfer: Pick<TransferRow, 'state' | 'kind'>): ContractTransferState {
  switch (transfer.state) {
    case 'done':
      return 'done';
    case 'posted':
      return transfer.kind === 'withdrawal' ? 'done' : 'pending';
    case 'failed':
    case 'rejected':
    case 'refunded':
      return 'failed';
    default:
      return 'pending';
  }
}

/**
 * The product a harness client from `country` gets: the first live product the routing places on the
 * server it routes that country to (servers suspended in the config count as suspended).
 */
export function harnessProductFor(config: Readonly<BrokerConfig>, country: string): ProductConfig | undefined {
  const suspended = suspendedIn(config, new Set());
  return config.products.find((p) => p.kind === 'live' && route(config, country, p, suspended).ok);
}

function accountAnswer(account: AccountRow) {
  return { accountRef: account.id, serverId: account.serverId, login: account.login, state: account.state };
}

function transferAnswer(reference: string, transfer: TransferRow) {
  return {
    reference,
    accountRef: transfer.accountId,
    kind: transfer.kind as 'deposit' | 'withdrawal',
    amountCents: transfer.amountCents,
    state: contractState(transfer),
    ticket: transfer.ticket,
  };
}

/** 202 while the contract's state is pending, 200 once settled. */
function settledStatus(state: string): number {
  return state === 'pending' ? 202 : 200;
}

function sendRefusal(reply: FastifyReply, result: CommandResult<unknown>): FastifyReply {
  const { status, body } = answerOf(result, 200);
  return reply.code(status).send(body);
}

const TAG = 'harness contract';
const bearer = [{ bearerAuth: [] }];

function documented(status: number, schema: z.ZodType, description: string) {
  return { [status]: { description, ...json(schema, 'output') } };
}

function errors(...statuses: number[]) {
  const out: Record<number, Record<string, unknown>> = {};
  for (const status of statuses) out[status] = { description: `error ${status}`, ...json(errorSchema, 'output') };
  return out;
}

export function registerHarnessContract(app: FastifyInstance, ctx: HarnessContractContext): void {
  const { service, store } = ctx;
  const config = service.config;

  /** The transfer a reference names: through its idempotency row (either kind). */
  const byReference = (reference: string) =>
    store.transaction(async (tx): Promise<TransferRow | undefined> => {
      const key = await tx.get('idempotency', idempotencyId('POST', REFERENCE_ROUTE, reference));
      const ref = (key?.response as { value?: { ref?: unknown } } | undefined)?.value?.ref;
      return typeof ref === 'string' ? tx.get('transfers', ref) : undefined;
    });

  /** The reference's idempotency record for a transfer of `kind` (the kind is in the body: another kind is 409). */
  const referenceKey = (reference: string, kind: 'deposit' | 'withdrawal', body: Record<string, unknown>) =>
    ({
      key: reference,
      method: 'POST',
      route: REFERENCE_ROUTE,
      body: { kind, ...body },
      status: (result) => answerOf(result, 202).status,
    }) satisfies IdempotencyRequest;

  const accountOf = async (id: string): Promise<AccountRow> => {
    const account = await service.account(id);
    if (account === undefined) {
      throw new ApiError('MTP_UNKNOWN_ACCOUNT', `no account ${id}`, [
        { path: 'accountRef', message: 'unknown account' },
      ]);
    }
    return account;
  };

  const commandSchema = (summary: string, body: z.ZodType, answer: z.ZodType, extraErrors: number[]) => ({
    config: { auth: true },
    schema: {
      tags: [TAG],
      summary,
      security: bearer,
      body: json(body),
      response: {
        ...documented(200, answer, 'settled (open, done or failed)'),
        ...documented(202, answer, 'pending'),
        ...errors(400, 401, 409, 422, 500, ...extraErrors),
      },
    },
  });

  app.post(
    ACCOUNTS_ROUTE,
    commandSchema(
      'Open an account for a client (the same clientRef again: the same client and account). KYC is recorded approved; the product is productId, or the first live product the routing offers the country',
      openAccountBody,
      accountAnswerSchema,
      [404],
    ),
    async (request, reply) => {
      const input = request.body as z.output<typeof openAccountBody>;
      const client = await service.registerClient({
        externalId: input.clientRef,
        name: input.name,
        email: input.email,
        country: input.country,
      });
      if (!client.ok) return sendRefusal(reply, client);
      if (client.value.kyc !== 'approved') {
        const kyc = await service.setKyc(client.value.id, 'approved');
        if (!kyc.ok) return sendRefusal(reply, kyc);
      }
      const productId = input.productId ?? harnessProductFor(config, client.value.country)?.id;
      if (productId === undefined) {
        throw new ApiError(
          'MTP_NO_ROUTE',
          `no live product is offered where the routing places clients from ${input.country}`,
          [{ path: 'country', message: 'no live product routed' }],
        );
      }
      const body = { clientId: client.value.id, productId };
      const idempotency: IdempotencyRequest = {
        key: input.clientRef,
        method: 'POST',
        route: ACCOUNTS_ROUTE,
        body,
        status: (result) => answerOf(result, 202).status,
      };
      const opened = await service.openAccount(body, { idempotency });
      if (!opened.ok) return sendRefusal(reply, opened);
      // A replay answers the account as stored at its opening: read it as it is now.
      const account = (await service.account(opened.value.id)) ?? opened.value;
      return reply.code(settledStatus(account.state)).send(accountAnswer(account));
    },
  );

  app.get(
    `${ACCOUNTS_ROUTE}/:accountRef`,
    {
      config: { auth: true },
      schema: {
        tags: [TAG],
        summary: 'An account opened through the contract',
        security: bearer,
        params: json(accountParams),
        response: { ...documented(200, accountAnswerSchema, 'the account'), ...errors(400, 401, 404, 500) },
      },
    },
    async (request) => accountAnswer(await accountOf((request.params as { accountRef: string }).accountRef)),
  );

  /**
   * A deposit or a withdrawal, idempotent by reference: one idempotency row per reference (either kind), and for
   * a deposit the reference is its pspRef too, so the provider-id dedupe holds on top. A replay answers the
   * transfer as it is now, not as stored at acceptance.
   */
  const transferRoute = (kind: 'deposit' | 'withdrawal', url: string, summary: string) =>
    app.post(url, commandSchema(summary, transferBody, transferAnswerSchema, [404]), async (request, reply) => {
      const input = request.body as z.output<typeof transferBody>;
      const account = await accountOf(input.accountRef);
      const body = { accountId: account.id, amountCents: input.amountCents, currency: account.currency };
      const idempotency = referenceKey(input.reference, kind, body);
      const result =
        kind === 'deposit'
          ? await service.deposit({ ...body, pspRef: input.reference }, { idempotency })
          : await service.withdraw(body, { idempotency });
      if (!result.ok) return sendRefusal(reply, result);
      const transfer = (await service.transfer(result.value.ref)) ?? result.value;
      const answer = transferAnswer(input.reference, transfer);
      return reply.code(settledStatus(answer.state)).send(answer);
    });
  transferRoute(
    'deposit',
    `${HARNESS_CONTRACT_PREFIX}/deposits`,
    "A deposit, idempotent by reference (it is the transfer's pspRef): the same reference again answers the same transfer",
  );
  transferRoute(
    'withdrawal',
    WITHDRAWALS_ROUTE,
    'A withdrawal, idempotent by reference (kept as its idempotency key): the same reference again answers the same transfer',
  );

  app.get(
    `${HARNESS_CONTRACT_PREFIX}/transfers/:reference`,
    {
      config: { auth: true },
      schema: {
        tags: [TAG],
        summary: "A transfer by the harness's reference (404: never heard of it)",
        security: bearer,
        params: json(referenceParams),
        response: { ...documented(200, transferAnswerSchema, 'the transfer'), ...errors(400, 401, 404, 500) },
      },
    },
    async (request) => {
      const { reference } = request.params as { reference: string };
      const transfer = await byReference(reference);
      if (transfer === undefined) {
        throw new ApiError('MTP_UNKNOWN_TRANSFER', `no transfer with reference ${reference}`, [
          { path: 'params.reference', message: 'unknown reference' },
        ]);
      }
      return transferAnswer(reference, transfer);
    },
  );

  app.post(
    `${HARNESS_CONTRACT_PREFIX}/reconcile`,
    {
      config: { auth: true },
      schema: {
        tags: [TAG],
        summary:
          "Reconcile now (ledger, provider, each server's history) and answer the findings; 503 when a server could not be read",
        security: bearer,
        body: json(reconcileBody),
        response: {
          ...documented(200, reconcileAnswerSchema, 'the findings'),
          ...errors(400, 401, 500, 503),
        },
      },
    },
    async (_request, reply) => {
      const run = await service.reconcile();
      if (run.state !== 'done') {
        // Findings of a partial run are incomplete: the harness must not judge them, it asks again.
        return reply
          .code(503)
          .header('retry-after', '1')
          .send(
            errorBody(
              'MTP_RECONCILIATION_PARTIAL',
              `reconciliation ${run.id} could not read ${run.unreachable.join(', ')}: retry`,
              run.unreachable.map((name) => ({ path: name, message: 'unreadable' })),
            ),
          );
      }
      return reply.code(200).send({
        findings: run.findings.map((f) => ({ serverId: f.serverId, login: f.login, kind: f.class, ticket: f.ticket })),
      });
    },
  );

  app.get(
    `${HARNESS_CONTRACT_PREFIX}/health`,
    {
      // With the key: a harness given a wrong token learns it here, before it drives anything.
      config: { auth: true },
      schema: {
        tags: [TAG],
        summary: 'Ready to take contract requests (the API key is checked: the store answered)',
        security: bearer,
        response: { ...documented(200, healthAnswerSchema, 'ready'), ...errors(401, 500) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
}
