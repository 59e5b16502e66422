import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpManagerApi } from '../../../adapters/http/index.ts';
import { SystemClock } from '../../../kit/clock.ts';
import { SimControl } from '../../../scenarios/wire/control.ts';
import {
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
 * The wire certification's checks against toy integrations on a served simulator: one that posts each
 * reference once and looks before it answers, and one that posts again whenever its answer was lost — the
 * first must pass, the second must be caught.
 */

const SERVER = 'mt5-live-global';

class ToyIntegration implements WireIntegration {
  readonly name: string;
  readonly #api: HttpManagerApi;
  readonly #blindRetry: boolean;
  readonly #accounts = new Map<string, WireAccount>();
  readonly #transfers = new Map<string, WireTransfer>();
  readonly #lostOnce = new Set<string>();

  constructor(url: string, blindRetry: boolean) {
    this.name = blindRetry ? 'toy (retries blindly)' : 'toy (exactly once)';
    this.#api = new HttpManagerApi({ url, serverId: SERVER, platform: 'mt5', timeoutMs: 5_000 });
    this.#blindRetry = blindRetry;
  }

  async #connected(): Promise<void> {
    if (this.#api.isConnected()) return;
    const r = await this.#api.connect({ login: 1000, password: 'Manager#1' });
    if (!r.ok) throw new IntegrationUnreachable('connect', r.error.message, null);
  }

  async openAccount(input: { clientRef: string; name: string }): Promise<WireAccount> {
    const known = this.#accounts.get(input.clientRef);
    if (known !== undefined) return known;
    await this.#connected();
    const r = await this.#api.createAccount({ group: 'real\\standard-usd', name: input.name, password: 'Passw0rd!x' });
    if (!r.ok) throw new Error(r.error.message);
    const account: WireAccount = { accountRef: input.clientRef, serverId: SERVER, login: r.value.login, state: 'open' };
    this.#accounts.set(input.clientRef, account);
    return account;
  }

  async account(accountRef: string): Promise<WireAccount> {
    return this.#accounts.get(accountRef) as WireAccount;
  }

  async deposit(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('deposit', input);
  }

  async withdraw(input: { reference: string; accountRef: string; amountCents: number }): Promise<WireTransfer> {
    return this.#move('withdrawal', input);
  }

  async #move(
    kind: 'deposit' | 'withdrawal',
    input: { reference: string; accountRef: string; amountCents: number },
  ): Promise<WireTransfer> {
    const known = this.#transfers.get(input.reference);
    if (known !== undefined && !this.#blindRetry) return known;
    await this.#connected();
    const login = this.#accounts.get(input.accountRef)?.login as number;
    const signed = kind === 'deposit' ? input.amountCents : -input.amountCents;
    const r = await this.#api.postBalance({ login, amountCents: signed, kind: 'balance', comment: input.reference });
    const transfer: WireTransfer = {
      reference: input.reference,
      accountRef: input.accountRef,
      kind,
      amountCents: input.amountCents,
      state: r.ok ? 'done' : 'failed',
      ticket: r.ok ? r.value.ticket : null,
    };
    this.#transfers.set(input.reference, transfer);
    // The blind one loses its first answer for every third reference, as a killed process would.
    if (this.#blindRetry && !this.#lostOnce.has(input.reference) && Number(input.reference.split('-t')[1]) % 3 === 0) {
      this.#lostOnce.add(input.reference);
      throw new IntegrationUnreachable(`${kind} ${input.reference}`, 'answer lost', null);
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
        if (!mine.has(op.ticket))
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

async function certify(blindRetry: boolean) {
  const host = new SimHost({ seed: `wire-run-${blindRetry}`, tickMs: 2 });
  host.start();
  const { app } = buildSimApp(host, { docs: false, sessions: { timeoutMs: 300 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  stop = async () => {
    await app.close();
    await host.stop();
  };
  return runWireCertification({
    seed: 'toy',
    integration: new ToyIntegration(url, blindRetry),
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

describe('certification over the wire', () => {
  it('passes an integration that posts each reference once and reports the dealer edit', async () => {
    const result = await certify(false);
    expect(result.checks.filter((c) => !c.passed)).toEqual([]);
    expect(result.passed).toBe(true);
    expect(result.stats.done + result.stats.failed).toBe(12);
    expect(result.stats.done).toBeGreaterThan(8);
    expect(result.stats.dealerEdits).toBe(1);
  });

  it('catches an integration that posts again when its answer was lost', async () => {
    const result = await certify(true);
    expect(result.passed).toBe(false);
    const failed = Object.fromEntries(result.checks.map((c) => [c.name, c]));
    expect(failed['exactly-once']?.passed).toBe(false);
    expect(failed['exactly-once']?.problems.join('\n')).toMatch(/matches no done transfer/);
    expect(failed.conservation?.passed, 'the duplicate moved money twice').toBe(false);
    expect(result.stats.unreachableRetries).toBeGreaterThan(0);
  });
});
