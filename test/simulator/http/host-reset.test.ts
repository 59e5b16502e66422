import { describe, expect, it } from 'vitest';
import { buildSimApp } from '../../../simulator/http/app.ts';
import { SimHost } from '../../../simulator/http/host.ts';
import { srvRandAnswer } from '../../../simulator/http/webapi/auth.ts';
import { buildWebApiApp } from '../../../simulator/http/webapi/index.ts';

/** Reviewer R1: behaviours the served simulator gets wrong (failing tests demonstrate the defects). */

const SERVER = 'mt5-live-global';

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'hung'> {
  return Promise.race([promise, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms))]);
}

describe('the served world across resets and tokens', () => {
  it('stops every realtime driver when two resets run concurrently', async () => {
    let nowCalls = 0;
    const host = new SimHost({
      seed: 'r1',
      tickMs: 2,
      now: () => {
        nowCalls++;
        return Date.now();
      },
    });
    host.start();
    await Promise.all([host.reset({ seed: 'a' }), host.reset({ seed: 'b' })]);
    await host.stop();
    const after = nowCalls;
    await new Promise((r) => setTimeout(r, 100));
    // A driver nobody can stop any more keeps ticking on an orphaned world.
    expect(nowCalls - after).toBe(0);
  });

  it('answers a native request in flight when the world is reset', async () => {
    const host = new SimHost({ seed: 'r1', frozen: true });
    const { app } = buildSimApp(host);
    const opened = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { serverId: SERVER } });
    const session = opened.json().session as string;
    await app.inject({
      method: 'POST',
      url: `/v1/sessions/${session}/connect`,
      payload: { login: 1000, password: 'Manager#1' },
    });
    host.cluster.inject(SERVER, 'timeoutAfterApply');
    const inFlight = app.inject({ method: 'POST', url: `/v1/sessions/${session}/ping`, payload: {} });
    await new Promise((r) => setTimeout(r, 20));
    const reset = await app.inject({ method: 'POST', url: '/control/reset', payload: {} });
    expect(reset.statusCode).toBe(200);
    const answer = await within(inFlight, 1_000);
    await app.close();
    await host.stop();
    expect(answer).not.toBe('hung');
  });

  it('answers a Web API request in flight when the world is reset', async () => {
    const host = new SimHost({ seed: 'r1', frozen: true });
    const app = buildWebApiApp(host, SERVER, { connectionKey: 'header' });
    const start = await app.inject({
      method: 'GET',
      url: '/api/auth/start?version=3802&agent=r1&login=1000&type=manager',
    });
    const srvRand = start.json().srv_rand as string;
    const answer = await app.inject({
      method: 'GET',
      url: `/api/auth/answer?srv_rand_answer=${srvRandAnswer('Manager#1', srvRand)}&cli_rand=${'ab'.repeat(16)}`,
    });
    expect(answer.json().retcode).toBe('0 Done');
    host.cluster.inject(SERVER, 'timeoutAfterApply');
    const inFlight = app.inject({ method: 'GET', url: '/api/time/server' });
    await new Promise((r) => setTimeout(r, 20));
    await host.reset();
    const result = await within(inFlight, 1_000);
    await app.close();
    await host.stop();
    expect(result).not.toBe('hung');
  });

  it('refuses /docs/../control routes without the token', async () => {
    const host = new SimHost({ seed: 'r1', frozen: true });
    const { app } = buildSimApp(host, { token: 'secret-token' });
    const res = await app.inject({ method: 'GET', url: '/docs/../control/state' });
    const res2 = await app.inject({ method: 'GET', url: '/docs/..%2F..%2Fcontrol/state' });
    await app.close();
    await host.stop();
    expect(res.statusCode === 401 || res.statusCode === 404).toBe(true);
    expect(res2.statusCode === 401 || res2.statusCode === 404).toBe(true);
  });
});
