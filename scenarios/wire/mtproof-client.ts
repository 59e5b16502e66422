import {
  IntegrationRefused,
  IntegrationUnreachable,
  type WireAccount,
  type WireFinding,
  type WireIntegration,
  type WireTransfer,
} from './integration.ts';

/**
 * mtproof's own service as the harness reaches it over the wire: its /v1 API with an API key, every command with
 * an Idempotency-Key derived from the harness's reference, so that a request repeated after the service was
 * killed answers the first answer and never moves money twice. A withdrawal counts as done once it is posted
 * on the server (the harness plays no payment provider, so no payout follows).
 */

export interface MtproofClientOptions {
  url: string;
  apiKey: string;
  /** The product accounts are opened on (routing picks the server from the country). */
  productId: string;
  currency: string;
  timeoutMs?: number;
}

interface ApiTransfer {
  ref: string;
  accountId: string;
  kind: 'deposit' | 'withdrawal' | 'credit';
  amountCents: number;
  state: string;
  ticket: number | null;
}

const DONE_STATES = new Set(['done', 'posted']);
const FAILED_STATES = new Set(['rejected', 'failed', 'refunded']);

export class MtproofServiceIntegration implements WireIntegration {
  readonly name = 'mtproof service';
  readonly #options: MtproofClientOptions;
  /** The harness's reference → the service's transfer ref (learnt from the idempotent answer). */
  readonly #refs = new Map<string, string>();
  #url: string;

  constructor(options: MtproofClientOptions) {
    this.#options = options;
    this.#url = options.url.replace(/\/+$/, '');
  }

  /** The service came back on another address. */
  set url(url: string) {
    this.#url = url.replace(/\/+$/, '');
  }

  async openAccount(input: { clientRef: string; name: string; email: string; country: string }): Promise<WireAccount> {
    const client = await this.#post<{ id: string }>('/v1/clients', `client-${input.clientRef}`, {
      externalId: input.clientRef,
      name: input.name,
      email: input.email,
      country: input.country,
    });
    await this.#post(`/v1/clients/${client.id}/kyc`, `kyc-${input.clientRef}`, { state: 'approved' });
    const account = await this.#post<Record<string, unknown>>('/v1/accounts', `account-${input.clientRef}`, {
      clientId: client.id,
      productId: this.#options.productId,
    });
    return accountView(account);
  }

  async account(accountRef: string): Promise<WireAccount> {
    return accountView(await this.#get<Record<string, unknown>>(`/v1/accounts/${accountRef}`));
  }

  async deposit(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    const transfer = await this.#post<ApiTransfer>('/v1/deposits', `deposit-${input.reference}`, {
      accountId: input.accountRef,
      amountCents: input.amountCents,
      currency: this.#options.currency,
      pspRef: input.reference,
    });
    this.#refs.set(input.reference, transfer.ref);
    return transferView(input.reference, transfer);
  }

  async withdraw(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    const transfer = await this.#post<ApiTransfer>('/v1/withdrawals', `withdrawal-${input.reference}`, {
      accountId: input.accountRef,
      amountCents: input.amountCents,
      currency: this.#options.currency,
    });
    this.#refs.set(input.reference, transfer.ref);
    return transferView(input.reference, transfer);
  }

  async transfer(reference: string): Promise<WireTransfer | null> {
    const ref = this.#refs.get(reference);
    if (ref === undefined) return null;
    return transferView(reference, await this.#get<ApiTransfer>(`/v1/transfers/${ref}`));
  }

  async reconcile(): Promise<{ findings: WireFinding[] }> {
    const run = await this.#post<{ findings: Record<string, unknown>[] }>('/v1/reconciliations', null, {});
    return {
      findings: run.findings.map((f) => ({
        serverId: (f.serverId as string | null) ?? null,
        login: (f.login as number | null) ?? null,
        kind: String(f.class),
        ticket: (f.ticket as number | null | undefined) ?? null,
      })),
    };
  }

  async #post<T>(path: string, idempotencyKey: string | null, body: unknown): Promise<T> {
    return this.#request<T>('POST', path, body, idempotencyKey);
  }

  async #get<T>(path: string): Promise<T> {
    return this.#request<T>('GET', path, undefined, null);
  }

  async #request<T>(method: string, path: string, body: unknown, idempotencyKey: string | null): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#options.apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      throw new IntegrationUnreachable(`${method} ${path}`, (error as Error).message, null);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      // The service died while answering (a SIGKILL mid-body): as unreachable as no answer at all.
      throw new IntegrationUnreachable(`${method} ${path}`, (error as Error).message, res.status);
    }
    // 503: not ready, store busy, closing — the same request later is right.
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      throw new IntegrationUnreachable(`${method} ${path}`, 'no usable answer now', res.status, text);
    }
    if (res.status === 422) {
      // A rule of the service (amount out of range, account not open): nothing recorded, nothing moved.
      let code = 'MTP_REFUSED';
      let message = text;
      try {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = body.error?.code ?? code;
        message = body.error?.message ?? text;
      } catch {
        // Not JSON: the text says it.
      }
      throw new IntegrationRefused(`${method} ${path}`, code, message);
    }
    if (res.status >= 400) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new IntegrationUnreachable(`${method} ${path}`, 'an answer that is not JSON', res.status, text);
    }
  }
}

function accountView(a: Record<string, unknown>): WireAccount {
  const state = a.state === 'open' ? 'open' : a.state === 'failed' || a.state === 'rejected' ? 'failed' : 'pending';
  return {
    accountRef: String(a.id),
    serverId: (a.serverId as string | null) ?? null,
    login: (a.login as number | null) ?? null,
    state,
  };
}

function transferView(reference: string, t: ApiTransfer): WireTransfer {
  return {
    reference,
    accountRef: t.accountId,
    kind: t.kind === 'withdrawal' ? 'withdrawal' : 'deposit',
    amountCents: t.amountCents,
    state: DONE_STATES.has(t.state) ? 'done' : FAILED_STATES.has(t.state) ? 'failed' : 'pending',
    ticket: t.ticket,
  };
}
