/**
 * Builds the integration service on the in-process simulator and posts a card deposit through a
 * timeout-after-apply fault: MetaTrader applies the balance operation but the answer is lost. The service
 * looks the reference up before trying again, finds it, and records it: the money is on the account once.
 *
 *   npx tsx examples/service-deposit.ts
 */
import { createSimManagerApi } from '../adapters/sim/index.ts';
import { Random } from '../kit/index.ts';
import { buildService, DEFAULT_BROKER_CONFIG, MemoryStore, parseBrokerConfig, type Service } from '../service/index.ts';
import { SimCluster } from '../simulator/index.ts';

const cluster = new SimCluster({ seed: 42, faults: { intensity: 0 } }); // random faults off: we inject one
const config = parseBrokerConfig(DEFAULT_BROKER_CONFIG); // or examples/broker.yaml
const store = new MemoryStore();
let service: Service | undefined;

// The service runs as a process of the cluster's virtual-time scheduler: every wait goes through `proc`.
cluster.scheduler.spawn('service', async (proc) => {
  service = buildService({
    config,
    clock: proc,
    random: new Random(42).fork('service'),
    ports: {
      store,
      managers: (server) => createSimManagerApi(cluster, server.id, { clock: proc, timeoutMs: server.timeoutMs }),
      secrets: () => 'Manager#1', // the simulated managers' password; real use reads the environment
    },
  });
  await service.run();
});
await cluster.scheduler.runFor(1);
const svc = service as Service;
const runUntil = async (done: () => Promise<boolean>) => {
  while (!(await done())) await cluster.scheduler.runFor(1_000);
};

const client = await svc.registerClient({ name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE' });
if (!client.ok) throw new Error(client.error.message);
await svc.setKyc(client.value.id, 'approved');
const opened = await svc.openAccount({ clientId: client.value.id, productId: 'eu-classic' });
if (!opened.ok) throw new Error(opened.error.message);
await runUntil(async () => (await svc.account(opened.value.id))?.state === 'open');
const account = await svc.account(opened.value.id);
console.log(`account ${account?.id} open on ${account?.serverId} as login ${account?.login} in ${account?.group}`);

// Faults armed by hand hit the server's next requests in order: the deposit job's history lookup gets a
// little latency, its send is applied but the answer is lost (the busy-Monday card deposit).
cluster.inject('mt4-live-eu', 'latency', { latencyMs: 5 });
cluster.inject('mt4-live-eu', 'timeoutAfterApply');
const deposit = await svc.deposit({ accountId: opened.value.id, amountCents: 2_000_00, currency: 'USD', pspRef: 'CARD-1' });
if (!deposit.ok) throw new Error(deposit.error.message);
await runUntil(async () => (await svc.transfer(deposit.value.ref))?.state === 'done');

const transfer = await svc.transfer(deposit.value.ref);
const login = account?.login as number;
const onServer = cluster.server('mt4-live-eu').allBalanceOps(login).filter((op) => op.comment === deposit.value.ref);
const audit = await store.transaction((tx) => tx.select('audit', { subject: deposit.value.ref }));
console.log(`deposit ${transfer?.ref}: ${transfer?.state}, ticket ${transfer?.ticket}`);
console.log(`calls: ${audit.map((a) => `${a.op}=${a.outcome}`).join(', ')}`);
console.log(`on the server ${onServer.length} time(s); balance ${cluster.server('mt4-live-eu').accounts.get(login)?.balanceCents} cents`);
await svc.stop();
if (onServer.length !== 1) process.exit(1);
