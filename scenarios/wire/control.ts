/**
 * The served simulator's control API as the harness uses it over the wire: fault configuration, injected
 * faults, dealer edits, and the world's ground truth (accounts and their balance operations).
 */

export interface TruthOp {
  ticket: number;
  kind: 'balance' | 'credit';
  amountCents: number;
  comment: string;
  by: 'manager' | 'dealer' | 'system';
}

export interface TruthAccount {
  login: number;
  group: string;
  balanceCents: number;
  creditCents: number;
  externalId: string;
}

export class SimControl {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(url: string, token?: string) {
    this.url = url.replace(/\/+$/, '');
    this.#token = token;
  }

  async state(): Promise<{ nowMs: number; trace: { faults: Record<string, number> }; servers: { id: string }[] }> {
    return this.#call('GET', '/control/state');
  }

  async setFaults(config: Record<string, unknown>): Promise<void> {
    await this.#call('PUT', '/control/faults', { config });
  }

  async randomFaults(on: boolean): Promise<void> {
    await this.#call('POST', '/control/faults/random', { on });
  }

  async inject(serverId: string, fault: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.#call('POST', '/control/faults/inject', { serverId, fault, params });
  }

  /** A dealer's balance correction by hand; the ticket of the operation, or null when the server refused it. */
  async dealerCorrection(
    serverId: string,
    login: number,
    amountCents: number,
    comment: string,
  ): Promise<number | null> {
    const answer = await this.#call<{ ok: boolean; value?: { ticket: number } }>(
      'POST',
      `/control/servers/${encodeURIComponent(serverId)}/dealer`,
      { action: 'balanceCorrection', login, amountCents, comment },
    );
    return answer.ok && answer.value !== undefined ? answer.value.ticket : null;
  }

  async accounts(serverId: string): Promise<TruthAccount[]> {
    return (
      await this.#call<{ accounts: TruthAccount[] }>('GET', `/control/servers/${encodeURIComponent(serverId)}/accounts`)
    ).accounts;
  }

  async account(serverId: string, login: number): Promise<{ account: TruthAccount; balanceOps: TruthOp[] } | null> {
    const res = await this.#fetch('GET', `/control/servers/${encodeURIComponent(serverId)}/accounts/${login}`);
    if (res.status === 404) return null;
    return (await this.#read(res, 'GET account')) as { account: TruthAccount; balanceOps: TruthOp[] };
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.#read(await this.#fetch(method, path, body), `${method} ${path}`)) as T;
  }

  #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  }

  async #read(res: Response, what: string): Promise<unknown> {
    const text = await res.text();
    if (res.status >= 300) throw new Error(`simulator control ${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }
}
