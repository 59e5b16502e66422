import { afterAll } from 'vitest';
import { HttpManagerApi } from '../../adapters/http/index.ts';
import { buildSimApp } from '../../simulator/http/app.ts';
import { SimHost } from '../../simulator/http/host.ts';
import { type ContractFixture, describeManagerApiContract } from './contract/manager-api.contract.ts';
import { simHooks } from './contract/sim-hooks.ts';

/**
 * The ManagerApi contract through the native JSON API of a served simulator, over a real socket: a fresh
 * world per fixture (fixed seed, no random faults) at real-time pace, the adapter as a client would use it.
 */

interface ServerSpec {
  serverId: string;
  platform: 'mt4' | 'mt5';
  group: string;
  otherGroup: string;
  startingBalanceCents?: number;
}

const SERVERS: readonly ServerSpec[] = [
  { serverId: 'mt4-live-eu', platform: 'mt4', group: 'eu-std-usd', otherGroup: 'eu-pro-usd' },
  { serverId: 'mt5-live-global', platform: 'mt5', group: 'real\\standard-usd', otherGroup: 'real\\pro-usd' },
];

const open: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of open.splice(0)) await close();
});

async function makeHttpFixture(spec: ServerSpec): Promise<ContractFixture> {
  const host = new SimHost({ seed: `http-contract-${spec.serverId}`, tickMs: 2 });
  host.start();
  // The simulated library's timeout, shortened: a timeout fault then costs 300 ms of real time, not 10 s.
  const { app } = buildSimApp(host, { sessions: { timeoutMs: 300 }, docs: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const api = new HttpManagerApi({
    url: `http://127.0.0.1:${address.port}`,
    serverId: spec.serverId,
    platform: spec.platform,
    timeoutMs: 5_000,
    pollWaitMs: 200,
  });
  const shutdown = async (): Promise<void> => {
    await api.close();
    await app.close();
    await host.stop();
  };
  open.push(shutdown);
  const cluster = () => host.cluster;
  return {
    api,
    credentials: { login: 1000, password: 'Manager#1' },
    group: spec.group,
    otherGroup: spec.otherGroup,
    password: 'Passw0rd!x',
    run: (body) => body(),
    // Virtual time jumps; a short real pause lets what crosses the socket (a long-polled event) land.
    advance: async (ms) => {
      await host.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
    ...simHooks(cluster, spec.serverId),
    mt4WithdrawalAboveFreeMargin: 'applied',
    async close() {
      const i = open.indexOf(shutdown);
      if (i >= 0) open.splice(i, 1);
      await shutdown();
    },
  };
}

for (const spec of SERVERS) {
  describeManagerApiContract(`http ${spec.serverId}`, () => makeHttpFixture(spec));
}
