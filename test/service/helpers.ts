import { createSimWorld, type SimWorld, type SimWorldOptions } from '../../scenarios/world.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import type { AccountRow, BrokerConfigInput, TransferRow } from '../../service/index.ts';

/** Shared fixtures for the service tests: a simulated world, an open account, transfers run to settlement. */

export const SETTLED = new Set(['done', 'posted', 'refunded', 'review', 'rejected', 'failed']);

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

/** Registers a client, approves KYC and opens an account; runs until it is open. */
export async function openAccount(
  world: SimWorld,
  options: { country?: string; productId?: string; name?: string } = {},
): Promise<AccountRow> {
  const service = world.service;
  const client = await service.registerClient({
    name: options.name ?? 'Anna Schmidt',
    email: 'anna@example.com',
    country: options.country ?? 'DE',
  });
  if (!client.ok) throw new Error(client.error.message);
  await service.setKyc(client.value.id, 'approved');
  const account = await service.openAccount({
    clientId: client.value.id,
    productId: options.productId ?? 'eu-classic',
  });
  if (!account.ok) throw new Error(account.error.message);
  const id = account.value.id;
  const opened = await world.until(async () => (await world.service.account(id))?.state === 'open', 3_600_000);
  if (!opened) throw new Error(`account ${id} did not open`);
  return (await world.service.account(id)) as AccountRow;
}

/** Runs until the transfer is settled (or `maxMs` passes) and returns it. */
export async function settle(world: SimWorld, ref: string, maxMs = 7_200_000): Promise<TransferRow> {
  const store = world.store;
  await world.until(async () => {
    const t = await store.transaction((tx) => tx.get('transfers', ref));
    return t !== undefined && SETTLED.has(t.state);
  }, maxMs);
  return (await store.transaction((tx) => tx.get('transfers', ref))) as TransferRow;
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
