import { describe, it } from 'vitest';
import { Mt5DllManagerApi } from '../../adapters/mt5-dll/index.ts';
import { buildMt5Fake, HAVE_GXX, resetMt5Fake } from '../fixtures/mt5-fake/build.ts';
import { describeManagerApiContract } from './contract/manager-api.contract.ts';

/**
 * The ManagerApi contract on the koffi MT5 DLL adapter over the fake library (test/fixtures/mt5-fake): one fresh
 * in-memory server world per fixture, real time. No client trading and no faults in the fake: those groups skip.
 */
if (HAVE_GXX) {
  describeManagerApiContract('mt5-dll over the fake library', async () => {
    const lib = buildMt5Fake();
    resetMt5Fake(lib);
    const api = new Mt5DllManagerApi({ serverId: 'mt5-fake', address: '127.0.0.1:443', dllPath: lib });
    return {
      api,
      credentials: { login: 1000, password: 'Passw0rd!m' },
      group: 'demo\\forex',
      otherGroup: 'demo\\other',
      password: 'Passw0rd!x',
      run: (body) => body(),
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      close: () => api.close(),
    };
  });
} else {
  describe('ManagerApi contract: mt5-dll over the fake library', () => {
    it.skip('skipped: g++ is not installed, the fake MT5 Manager API library cannot be compiled', () => {});
  });
}
