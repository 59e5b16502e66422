import { describe, expect, it } from 'vitest';
import { buildApi } from '../../service/api/app.ts';
import { ApiKeys } from '../../service/api/auth.ts';
import { MemoryStore } from '../../service/store/memory.ts';
import { type Store, StoreConflictError, type Tx } from '../../service/store/port.ts';
import { balanceOf, must, openAccount, settle, startedWorld } from './helpers.ts';

/**
 * A store under heavy concurrent load may give up on a transaction after its reruns (StoreConflictError):
 * nothing was committed. That is load, not a bug: the service must outlast it, and the API must answer it.
 */

/** A MemoryStore whose next `failures` transactions that claim jobs (or, `all`, any) lose every rerun. */
class ConflictingStore implements Store {
  readonly inner = new MemoryStore();
  failClaims = 0;
  failAll = false;
  refused = 0;

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.inner.transaction(async (tx) => {
      if (this.failAll) {
        this.refused++;
        throw new StoreConflictError('conflicting transactions (test)');
      }
      const wrapped = new Proxy(tx, {
        get: (target, name) => {
          if (name === 'claimJobs' && this.failClaims > 0) {
            return async () => {
              this.failClaims--;
              this.refused++;
              throw new StoreConflictError('conflicting claims (test)');
            };
          }
          const value = Reflect.get(target, name, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return fn(wrapped);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('store conflicts that outlast the reruns', () => {
  it('posts a deposit once although job claims keep conflicting for a while, without stopping the service', async () => {
    const store = new ConflictingStore();
    const world = startedWorld({ store });
    const account = await openAccount(world);
    store.failClaims = 20;
    const deposit = must(
      await world.service.deposit({ accountId: account.id, amountCents: 50_00, currency: 'USD', pspRef: 'PSP-C1' }),
    );
    const done = await settle(world, deposit.ref);
    expect(store.refused).toBe(20);
    expect(done.state).toBe('done');
    expect(balanceOf(world, 'mt4-live-eu', account.login as number)).toBe(50_00);
    expect(world.running).toBe(true);
  });

  it('answers 503 MTP_STORE_BUSY with Retry-After, not a 500, when the store gives up on a request', async () => {
    const store = new ConflictingStore();
    const world = startedWorld({ store });
    const clock = world.scheduler.clock;
    const { key } = await new ApiKeys({ store, clock }).create('test');
    const app = buildApi({ service: world.service, store, clock, secrets: () => undefined });
    store.failAll = true;
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { authorization: `Bearer ${key}`, 'idempotency-key': 'k-1' },
      payload: { name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE' },
    });
    store.failAll = false;
    expect(answer.statusCode).toBe(503);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.json().error.code).toBe('MTP_STORE_BUSY');
    await app.close();
  });
});
