import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
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
import { runWireCertification } from '../../../scenarios/wire/run.ts';
import { buildSimApp } from '../../../simulator/http/app.ts';
import { SimHost } from '../../../simulator/http/host.ts';

/**
 * Integrations with real bugs that a careless wire checker (scenarios/wire/run.ts) would let pass: one that
 * refuses everything (nothing moved, so nothing to find wrong), one that posts each deposit again as credit, one
 * that created an account twice and moves money on the one it does not report. Each run must fail.
 */

const SERVER = 'mt5-live-global';
type Bug = 'refuse-all' | 'duplicate-as-credit' | 'orphan-account';

class BuggyIntegration implements WireIntegration {
  readonly name: string;
  readonly #api: HttpManagerApi;
  readonly #bug: Bug;
  readonly #accounts = new Map<string, WireAccount>();
  readonly #orphans = new Map<string, number>();
  readonly #transfers = new Map<string, WireTransfer>();

  constructor(url: string, bug: Bug) {
    this.name = bug;
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
      // A retried openAccount that created the account twice: the first one is never reported.
      this.#orphans.set(input.clientRef, await this.#create(input.name));
      throw new IntegrationUnreachable('POST /accounts', 'answer lost', null);
    }
    const account: WireAccount = {
      accountRef: input.clientRef,
      serverId: SERVER,
      login: await this.#create(input.name),
      state: 'open',
    };
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
    // Refuses every transfer by a "rule" of its own: it never moves any money, so nothing can be checked.
    if (this.#bug === 'refuse-all') throw new IntegrationRefused('POST', 'MTP_NOPE', 'refused');
    const known = this.#transfers.get(input.reference);
    if (known !== undefined) return known;
    await this.#connected();
    const login = this.#accounts.get(input.accountRef)?.login as number;
    const signed = kind === 'deposit' ? input.amountCents : -input.amountCents;
    const r = await this.#api.postBalance({ login, amountCents: signed, kind: 'balance', comment: input.reference });
    if (r.ok && kind === 'deposit') {
      if (this.#bug === 'duplicate-as-credit') {
        // The same deposit posted a second time, as credit.
        await this.#api.postBalance({ login, amountCents: signed, kind: 'credit', comment: input.reference });
      }
      if (this.#bug === 'orphan-account') {
        // The same deposit posted a second time, on the account it never reported.
        const orphan = this.#orphans.get(input.accountRef) as number;
        await this.#api.postBalance({ login: orphan, amountCents: signed, kind: 'balance', comment: input.reference });
      }
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
        if (op.kind === 'balance' && !mine.has(op.ticket))
          findings.push({ serverId: SERVER, login: op.login, kind: 'unknown_operation', ticket: op.ticket });
      }
    }
    return { findings };
  }
}

let stop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await stop?.();
  stop = null;
});

async function certify(bug: Bug) {
  const host = new SimHost({ seed: `review-r2-${bug}`, tickMs: 2 });
  host.start();
  const { app } = buildSimApp(host, { docs: false, sessions: { timeoutMs: 300 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  stop = async () => {
    await app.close();
    await host.stop();
  };
  return runWireCertification({
    seed: 'r2',
    integration: new BuggyIntegration(url, bug),
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
}

describe('blind spots the wire checker must not have', () => {
  it('fails an integration that refuses every transfer (nothing moved, nothing checked)', async () => {
    const result = await certify('refuse-all');
    expect(result.stats.done).toBe(0);
    expect(result.passed).toBe(false);
  });

  it('fails an integration that posts each deposit a second time as credit', async () => {
    const result = await certify('duplicate-as-credit');
    expect(result.passed).toBe(false);
  });

  it('fails an integration that created an account twice and posts duplicates on the unreported one', async () => {
    const result = await certify('orphan-account');
    expect(result.passed).toBe(false);
  });
});
