import { createSimWorld, type SimWorld, type SimWorldOptions } from '../../scenarios/world.ts';
import type { DepositInput } from '../../service/commands.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import {
  type AccountRow,
  type BrokerConfigInput,
  type CommandResult,
  TERMINAL_TRANSFER_STATES,
  type TransferRow,
} from '../../service/index.ts';

/** Shared fixtures for the service tests: a simulated world, an open account, transfers run to settlement. */

/** Settled as far as the service goes: terminal, or a withdrawal posted and waiting for its payout. */
export const SETTLED: ReadonlySet<string> = new Set([...TERMINAL_TRANSFER_STATES, 'posted']);

/** The default broker config with `edit` applied. */
export function brokerConfig(edit: (config: BrokerConfigInput) => void = () => {}): BrokerConfigInput {
  const config = structuredClone(DEFAULT_BROKER_CONFIG);
  edit(config);
  return config;
}

/** A world whose service is running. */
export function startedWorld(options: Partial<SimWorldOptions> = {}): SimWorld {
  const world = createSimWorld({ seed: 'service-test', ...options });
  world.start();
  return world;
}

/** The value of a command the test expects to be accepted; throws with the refusal otherwise. */
export function must<T>(result: CommandResult<T>): T {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

/**
 * Registers a client, approves KYC and opens an account; runs until it is open (polling every `stepMs` of
 * virtual time, at most `maxMs`) and throws if it does not open.
 */
export async function openAccount(
  world: SimWorld,
  options: { country?: string; productId?: string; name?: string; maxMs?: number; stepMs?: number } = {},
): Promise<AccountRow> {
  const service = world.service;
  const client = must(
    await service.registerClient({
      name: options.name ?? 'Anna Schmidt',
      email: 'anna@example.com',
      country: options.country ?? 'DE',
    }),
  );
  must(await service.setKyc(client.id, 'approved'));
  const { id } = must(await service.openAccount({ clientId: client.id, productId: options.productId ?? 'eu-classic' }));
  const opened = await world.until(
    async () => (await world.service.account(id))?.state === 'open',
    options.maxMs ?? 3_600_000,
    options.stepMs,
  );
  const account = await world.service.account(id);
  if (!opened || account === undefined) {
    throw new Error(`account ${id} did not open: ${account?.state} (${account?.lastError})`);
  }
  return account;
}

/** Runs until the transfer is settled and returns it; throws if it is not settled within `maxMs`. */
export async function settle(world: SimWorld, ref: string, maxMs = 7_200_000): Promise<TransferRow> {
  const get = () => world.store.transaction((tx) => tx.get('transfers', ref));
  const settled = await world.until(async () => {
    const t = await get();
    return t !== undefined && SETTLED.has(t.state);
  }, maxMs);
  const transfer = await get();
  if (!settled || transfer === undefined) {
    throw new Error(`transfer ${ref} not settled within ${maxMs} ms: ${transfer?.state} (${transfer?.lastError})`);
  }
  return transfer;
}

/** Deposits `input` (which the service must accept) and runs until the deposit is settled. */
export async function depositSettled(world: SimWorld, input: DepositInput): Promise<TransferRow> {
  const accepted = must(await world.service.deposit(input));
  return settle(world, accepted.ref);
}

/** The simulator's ground truth: every balance operation on the account carrying `comment`. */
export function opsWithComment(world: SimWorld, serverId: string, login: number, comment: string) {
  return world.cluster
    .server(serverId)
    .allBalanceOps(login)
    .filter((op) => op.comment === comment);
}

export function balanceOf(world: SimWorld, serverId: string, login: number): number {
  const account = world.cluster.server(serverId).accounts.get(login);
  if (account === undefined) throw new Error(`no account ${login} on ${serverId}`);
  return account.balanceCents;
}
