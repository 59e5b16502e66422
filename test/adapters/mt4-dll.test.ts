import { describe, it } from 'vitest';
import { Mt4DllManagerApi } from '../../adapters/mt4-dll/index.ts';
import { buildMt4Fake, gxxMissing, mt4FakeHooks } from '../fixtures/mt4-fake/build.ts';
import { type ContractFixture, describeManagerApiContract } from './contract/manager-api.contract.ts';

/**
 * The ManagerApi contract for the MT4 DLL adapter over the g++-built fake of mtmanapi64.dll: the same exports,
 * vtable slot order and struct packing, an in-memory server behind them, pumping callbacks from a thread of
 * its own. The fake has no client trading and no faults, so those groups are skipped.
 */

const missing = gxxMissing();

let libPath: string | undefined;

async function makeMt4DllFixture(): Promise<ContractFixture> {
  // Built at collection time (the contract asks a probe fixture what it offers), once per source hash.
  libPath ??= buildMt4Fake();
  const hooks = mt4FakeHooks(libPath);
  hooks.reset();
  const api = new Mt4DllManagerApi({ serverId: 'mt4-fake', address: '127.0.0.1:443', libraryPath: libPath });
  return {
    api,
    credentials: { login: 1000, password: 'Manager#1' },
    group: 'eu-std-usd',
    otherGroup: 'eu-pro-usd',
    password: 'Passw0rd!x',
    run: (body) => body(),
    async advance(ms) {
      // The fake's server clock follows the real one plus an offset: server time passes without waiting...
      hooks.advanceSeconds(Math.ceil(ms / 1000));
      // ...but pumping callbacks come from the fake's thread through the event loop: let it turn.
      await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20)));
    },
    close: () => api.close(),
  };
}

if (missing === null) {
  describeManagerApiContract('mt4-dll over the g++ fake', makeMt4DllFixture);
} else {
  describe('ManagerApi contract: mt4-dll over the g++ fake', () => {
    it.skip(missing, () => {});
  });
}
