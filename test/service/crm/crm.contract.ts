import { HttpResponse, http } from 'msw';
import type { SetupServer } from 'msw/node';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../kit/clock.ts';
import type { CrmFieldNames, CrmPort, CrmUpdate } from '../../../service/crm/port.ts';

/**
 * The CRM adapter contract: what the HubSpot and the Salesforce adapter both do, against msw handlers that
 * answer as the CRM would. An adapter's test file owns the msw server (listen and close per file, unhandled
 * requests are errors) and calls `describeCrmContract(target)`.
 */

export const TOKEN = 'test-token-7f3a';
export const BASE_URL = 'https://crm.test';
const T0 = Date.UTC(2025, 0, 15, 9, 30, 0);

export const UPDATE: CrmUpdate = {
  crmClientId: '51',
  accountId: 'MTP-A0000000007',
  serverId: 'mt4-live-eu',
  login: 100_042,
  group: 'eu-std-usd',
  status: 'open',
  onboarding: 'account_open',
  atMs: T0,
};

/**
 * A clock under the test's control: `nowMs` is fixed and every sleep (the adapter's timeout) waits until
 * `fire()`, so a test decides when a request has taken too long — no real waiting.
 */
export class TestClock implements Clock {
  readonly #sleepers: (() => void)[] = [];
  constructor(readonly now = T0) {}
  nowMs(): number {
    return this.now;
  }
  sleep(): Promise<void> {
    return new Promise((resolve) => this.#sleepers.push(resolve));
  }
  fire(): void {
    for (const wake of this.#sleepers.splice(0)) wake();
  }
}

/** The values written, by the update's fact names: `written[names.status]` as `status`, and so on. */
export function byFact(written: Record<string, unknown>, names: Readonly<CrmFieldNames>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(names).map(([fact, name]) => [fact, written[name]]));
}

/** Answers every PATCH of `path` (below BASE_URL) with `answer`; returns the request bodies as they come. */
export function capturing(server: SetupServer, path: string, answer: () => Response): unknown[] {
  const bodies: unknown[] = [];
  server.use(
    http.patch(`${BASE_URL}${path}`, async ({ request }) => {
      bodies.push(await request.json());
      return answer();
    }),
  );
  return bodies;
}

export interface CrmContractTarget {
  name: string;
  server: SetupServer;
  /** The path the adapter writes a client's record at (below BASE_URL). */
  pathFor(crmClientId: string): string;
  make(options: { baseUrl: string; token: string; timeoutMs: number; clock: Clock }): CrmPort;
  /** The CRM's answer to a successful update. */
  success(): Response;
  /** An error answer in the CRM's own format, carrying `message`. */
  error(status: number, message: string, headers?: Record<string, string>): Response;
  /** The written values of a request body, by the update's field names. */
  fieldsOf(body: unknown): Record<string, unknown>;
}

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
  body: unknown;
}

export function describeCrmContract(target: CrmContractTarget): void {
  const { server } = target;
  const url = (id: string) => `${BASE_URL}${target.pathFor(id)}`;

  /** Answers every PATCH of the client's record with `answer`, recording what was sent. */
  function answering(answer: () => Response | Promise<Response>, id = UPDATE.crmClientId): Seen[] {
    const seen: Seen[] = [];
    server.use(
      http.patch(url(id), async ({ request }) => {
        seen.push({
          method: request.method,
          path: new URL(request.url).pathname,
          authorization: request.headers.get('authorization'),
          contentType: request.headers.get('content-type'),
          body: await request.json(),
        });
        return answer();
      }),
    );
    return seen;
  }

  function adapter(clock: Clock = new TestClock(), timeoutMs = 10_000): CrmPort {
    return target.make({ baseUrl: `${BASE_URL}/`, token: TOKEN, timeoutMs, clock });
  }

  describe(`CRM adapter contract: ${target.name}`, () => {
    it("writes the account's facts to the client's record with the bearer token", async () => {
      const seen = answering(() => target.success());
      expect(await adapter().writeBack(UPDATE)).toEqual({ ok: true, status: target.success().status });
      expect(seen).toHaveLength(1);
      const [request] = seen;
      expect(request?.method).toBe('PATCH');
      expect(request?.path).toBe(target.pathFor(UPDATE.crmClientId));
      expect(request?.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request?.contentType).toBe('application/json');
      const fields = target.fieldsOf(request?.body);
      expect(fields).toMatchObject({
        accountId: 'MTP-A0000000007',
        status: 'open',
        onboarding: 'account_open',
        serverId: 'mt4-live-eu',
        group: 'eu-std-usd',
        atMs: '2025-01-15T09:30:00.000Z',
      });
      expect(String(fields.login)).toBe('100042');
    });

    it('escapes the CRM id in the URL', async () => {
      const seen = answering(() => target.success(), 'a/b c');
      expect((await adapter().writeBack({ ...UPDATE, crmClientId: 'a/b c' })).ok).toBe(true);
      expect(seen[0]?.path).toBe(target.pathFor('a/b c'));
    });

    for (const status of [400, 404]) {
      it(`answers ${status} as rejected, with the CRM's message`, async () => {
        answering(() => target.error(status, `refused for a reason ${status}`));
        const result = await adapter().writeBack(UPDATE);
        expect(result).toMatchObject({ ok: false, outcome: 'rejected', code: 'MTP_CRM_REJECTED', status });
        expect(result.ok ? '' : result.message).toContain(`refused for a reason ${status}`);
        expect(result.ok ? '' : result.message).toContain(`HTTP ${status}`);
      });
    }

    it('answers 429 as unavailable, with the Retry-After seconds', async () => {
      answering(() => target.error(429, 'slow down', { 'retry-after': '7' }));
      expect(await adapter().writeBack(UPDATE)).toMatchObject({
        ok: false,
        outcome: 'unavailable',
        code: 'MTP_CRM_UNAVAILABLE',
        status: 429,
        retryAfterMs: 7_000,
      });
    });

    it('reads a Retry-After given as an HTTP date against its clock', async () => {
      const clock = new TestClock();
      answering(() => target.error(429, 'slow down', { 'retry-after': new Date(clock.now + 90_000).toUTCString() }));
      expect(await adapter(clock).writeBack(UPDATE)).toMatchObject({ outcome: 'unavailable', retryAfterMs: 90_000 });
    });

    for (const status of [500, 503]) {
      it(`answers ${status} as unavailable`, async () => {
        answering(() => target.error(status, 'try later'));
        const result = await adapter().writeBack(UPDATE);
        expect(result).toMatchObject({ ok: false, outcome: 'unavailable', code: 'MTP_CRM_UNAVAILABLE', status });
        expect(result.ok ? null : result.retryAfterMs).toBeNull();
      });
    }

    it('answers a network error as unavailable, without throwing', async () => {
      answering(() => HttpResponse.error());
      expect(await adapter().writeBack(UPDATE)).toMatchObject({
        ok: false,
        outcome: 'unavailable',
        code: 'MTP_CRM_UNREACHABLE',
        status: null,
      });
    });

    it('aborts a request that outlives the timeout and answers it as unavailable', async () => {
      const clock = new TestClock();
      let onAbort = () => {};
      const aborted = new Promise<void>((resolve) => {
        onAbort = resolve;
      });
      server.use(
        http.patch(url(UPDATE.crmClientId), async ({ request }) => {
          // The request has reached the CRM and hangs: now the adapter's timeout runs out.
          request.signal.addEventListener('abort', onAbort);
          clock.fire();
          await aborted;
          return HttpResponse.error();
        }),
      );
      expect(await adapter(clock, 2_500).writeBack(UPDATE)).toMatchObject({
        ok: false,
        outcome: 'unavailable',
        code: 'MTP_CRM_TIMEOUT',
        status: null,
        message: 'no answer within 2500 ms',
      });
      // The request itself was cancelled, not left hanging (a hung handler would time the test out).
      await aborted;
    });
  });
}
