import type { AddressInfo } from 'node:net';
import { HttpManagerApi } from '../../../adapters/http/index.ts';
import { SystemClock } from '../../../kit/clock.ts';
import { SimControl } from '../../../scenarios/wire/control.ts';
import {
  IntegrationRefused,
  IntegrationUnreachable,
  type WireAccount,
  type WireFinding,
  type WireIntegration,
  type WireTransfer,
} from '../../../scenarios/wire/integration.ts';
import { runWireCertification, type WireRunResult } from '../../../scenarios/wire/run.ts';
import { buildSimApp } from '../../../simulator/http/app.ts';
import { SimHost } from '../../../simulator/http/host.ts';

/**
 * Toy integrations for the wire checker's tests, over a served simulator's native API: a correct one, and one
 * per planted bug — posting again when its answer was lost, refusing everything, posting each deposit again as
 * credit, creating an account twice and moving money on the one it does not report.
 */

const SERVER = 'mt5-live-global';

export type ToyBug = 'none' | 'blind-retry' | 'refuse-all' | 'duplicate-as-credit' | 'orphan-account';

export class ToyIntegration implements WireIntegration {
  readonly name: string;
  readonly #api: HttpManagerApi;
  readonly #bug: ToyBug;
  readonly #accounts = new Map<string, WireAccount>();
  readonly #orphans = new Map<string, number>();
  readonly #transfers = new Map<string, WireTransfer>();
  readonly #lostOnce = new Set<string>();

  constructor(url: string, bug: ToyBug) {
    this.name = `toy (${bug})`;
    this.#api = new HttpManagerApi({ url, serverId: SERVER, platform: 'mt5', timeoutMs: 5_000 });
    this.#bug = bug;
  }

  async #connected(): Promise<void> {
    if (this.#api.isConnected()) return;
    const r = await this.#api.connect({ login: 1000, password: 'Manager#1' });
    if (!r.ok) throw new IntegrationUnreachable('connect', r.error.message, null);
  }

  async #create(name: string): Promise<number> {
    const r = await this.#api.createAccount({ group: 'real\\standard-usd', name, password: 'Passw0rd!x' });
    if (!r.ok) throw new Error(r.error.message);
    return r.value.login;
  }

  async openAccount(input: { clientRef: string; name: string }): Promise<WireAccount> {
    const known = this.#accounts.get(input.clientRef);
    if (known !== undefined) return known;
    await this.#connected();
    if (this.#bug === 'orphan-account' && !this.#orphans.has(input.clientRef)) {
      // A retried opening that created the account twice: the first one is never reported.
      this.#orphans.set(input.clientRef, await this.#create(input.name));
      throw new IntegrationUnreachable('POST /accounts', 'answer lost', null);
    }
    const login = await this.#create(input.name);
    const account: WireAccount = { accountRef: input.clientRef, serverId: SERVER, login, state: 'open' };
    this.#accounts.set(input.clientRef, account);
    return account;
  }

  async account(accountRef: string): Promise<WireAccount> {
    return this.#accounts.get(accountRef) as WireAccount;
  }

  deposit(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('deposit', input);
  }

  withdraw(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('withdrawal', input);
  }

  async #move(
    kind: 'deposit' | 'withdrawal',
    input: { reference: string; accountRef: string; amountCents: number },
  ): Promise<WireTransfer> {
    if (this.#bug === 'refuse-all') throw new IntegrationRefused('POST', 'MTP_NOPE', 'refused');
    const known = this.#transfers.get(input.reference);
    if (known !== undefined && this.#bug !== 'blind-retry') return known;
    await this.#connected();
    const login = this.#accounts.get(input.accountRef)?.login as number;
    const signed = kind === 'deposit' ? input.amountCents : -input.amountCents;
    const r = await this.#api.postBalance({ login, amountCents: signed, kind: 'balance', comment: input.reference });
    if (r.ok && kind === 'deposit' && this.#bug === 'duplicate-as-credit') {
      await this.#api.postBalance({ login, amountCents: signed, kind: 'credit', comment: input.reference });
    }
    if (r.ok && kind === 'deposit' && this.#bug === 'orphan-account') {
      const orphan = this.#orphans.get(input.accountRef) as number;
      await this.#api.postBalance({ login: orphan, amountCents: signed, kind: 'balance', comment: input.reference });
    }
    const transfer: WireTransfer = {
      reference: input.reference,
      accountRef: input.accountRef,
      kind,
      amountCents: input.amountCents,
      state: r.ok ? 'done' : 'failed',
      ticket: r.ok ? r.value.ticket : null,
    };
    this.#transfers.set(input.reference, transfer);
    // The blind one loses its first answer for every third reference, as a killed process would, and posts again.
    if (this.#bug === 'blind-retry' && !this.#lostOnce.has(input.reference)) {
      if (Number(input.reference.split('-t')[1]) % 3 === 0) {
        this.#lostOnce.add(input.reference);
        throw new IntegrationUnreachable(`${kind} ${input.reference}`, 'answer lost', null);
      }
    }
    return transfer;
  }

  async transfer(reference: string): Promise<WireTransfer | null> {
    return this.#transfers.get(reference) ?? null;
  }

  async reconcile(): Promise<{ findings: WireFinding[] }> {
    await this.#connected();
    const mine = new Set([...this.#transfers.values()].map((t) => t.ticket));
    const findings: WireFinding[] = [];
    const now = await this.#api.serverTime();
    for (const account of this.#accounts.values()) {
      const r = await this.#api.balanceHistory(account.login as number, 0, (now.ok ? now.value : 0) + 3_600);
      if (!r.ok) throw new Error(r.error.message);
      for (const op of r.value) {
        if (op.kind === 'balance' && !mine.has(op.ticket)) {
          findings.push({ serverId: SERVER, login: op.login, kind: 'unknown_operation', ticket: op.ticket });
        }
      }
    }
    return { findings };
  }
}

/** Certifies a toy on a fresh served simulator (a short day: 3 clients, 12 operations, no faults, 1 dealer edit). */
export async function certifyToy(bug: ToyBug): Promise<WireRunResult> {
  const host = new SimHost({ seed: `toy-${bug}`, tickMs: 2 });
  host.start();
  const { app } = buildSimApp(host, { docs: false, sessions: { timeoutMs: 300 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  try {
    return await runWireCertification({
      seed: 'toy',
      integration: new ToyIntegration(url, bug),
      control: new SimControl(url),
      clock: new SystemClock(),
      clients: 3,
      operations: 12,
      concurrency: 2,
      countries: ['DE'],
      faults: null,
      dealerEdits: 1,
      settleTimeoutMs: 5_000,
      unreachableForMs: 5_000,
    });
  } finally {
    await app.close();
    await host.stop();
  }
}
