import { randomBytes } from 'node:crypto';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpManagerApi } from '../../../adapters/http/index.ts';
import { SimHost } from '../../../simulator/http/host.ts';
import { randAnswer, webApiPasswordHash } from '../../../simulator/http/webapi/index.ts';
import { simHandlers } from '../../../simulator/msw/index.ts';
import { type ContractFixture, describeManagerApiContract } from '../../adapters/contract/manager-api.contract.ts';
import { simHooks } from '../../adapters/contract/sim-hooks.ts';

/**
 * The msw handlers: HTTP clients in a test talk to the simulator without a socket. The port contract runs on
 * the native API's adapter through them, and a Web API client does the documented handshake through them.
 */

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

let fixtures = 0;

async function makeMswFixture(): Promise<ContractFixture> {
  // Each fixture answers at its own origin, so that handlers of closed fixtures never catch its requests.
  const origin = `http://sim-${++fixtures}.test`;
  const host = new SimHost({ seed: `msw-contract-${fixtures}`, tickMs: 2 });
  host.start();
  const sim = simHandlers(host, { url: origin, app: { sessions: { timeoutMs: 300 }, docs: false } });
  server.use(...sim.handlers);
  const api = new HttpManagerApi({ url: origin, serverId: 'mt5-live-global', platform: 'mt5', pollWaitMs: 100 });
  const serverId = 'mt5-live-global';
  return {
    api,
    credentials: { login: 1000, password: 'Manager#1' },
    group: 'real\\standard-usd',
    otherGroup: 'real\\pro-usd',
    password: 'Passw0rd!x',
    run: (body) => body(),
    advance: async (ms) => {
      await host.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
    ...simHooks(() => host.cluster, serverId),
    async close() {
      await api.close();
      await sim.close();
      await host.stop();
    },
  };
}

describeManagerApiContract('http over msw mt5-live-global', makeMswFixture);

describe('msw handlers for the MT5 Web API', () => {
  it('let a documented Web API client authenticate, create a user, post a balance and read the deal back', async () => {
    const host = new SimHost({ seed: 'msw-webapi', tickMs: 2 });
    host.start();
    const sim = simHandlers(host, { url: 'http://sim-webapi.test', webApi: { 'mt5-live-global': 'http://mt5.test' } });
    server.use(...sim.handlers);
    try {
      const get = async (path: string, init?: RequestInit) => {
        const res = await fetch(`http://mt5.test${path}`, init);
        expect(res.status).toBe(200);
        return (await res.json()) as { retcode: string; answer?: Record<string, string> } & Record<string, string>;
      };
      const start = await get('/api/auth/start?version=3000&agent=msw-test&login=1000&type=manager');
      expect(start.retcode).toBe('0 Done');
      const hash = webApiPasswordHash('Manager#1');
      const cliRand = randomBytes(16).toString('hex');
      const answer = await get(
        `/api/auth/answer?srv_rand_answer=${randAnswer(hash, start.srv_rand as string)}&cli_rand=${cliRand}`,
      );
      expect(answer.retcode).toBe('0 Done');
      expect(answer.cli_rand_answer).toBe(randAnswer(hash, cliRand));
      const added = await get('/api/user/add?group=real%5Cstandard-usd&name=Ada%20Lovelace&leverage=100', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ PassMain: 'Passw0rd!x', PassInvestor: 'Inv3stor!x' }),
      });
      expect(added.retcode).toBe('0 Done');
      const login = (added.answer as Record<string, string>).Login as string;
      const balance = await get(`/api/trade/balance?login=${login}&type=2&balance=250.50&comment=msw-dep`);
      expect(balance.retcode).toMatch(/^0 /);
      const ticket = (balance.answer as Record<string, string>).Ticket as string;
      const deal = await get(`/api/deal/get?ticket=${ticket}`);
      expect(deal.retcode).toBe('0 Done');
      expect((deal.answer as Record<string, string>).Login).toBe(login);
      expect(host.cluster.server('mt5-live-global').accounts.get(Number(login))?.balanceCents).toBe(25_050);
    } finally {
      await sim.close();
      await host.stop();
    }
  });
});
