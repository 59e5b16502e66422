import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ERROR_CODES } from '../kit/errors.ts';
import { buildSimApp, type SimApp } from '../simulator/http/app.ts';
import { SimHost } from '../simulator/http/host.ts';
import { buildWebApiApp, srvRandAnswer } from '../simulator/http/webapi/index.ts';
import type { SimCluster } from '../simulator/index.ts';
import { buildProxyControlApp } from '../simulator/proxy/control.ts';
import { ProxyRegistry } from '../simulator/proxy/proxy.ts';
import { isLoopback, parseAddress } from '../simulator/proxy/schema.ts';
import {
  type ConcreteRequest,
  describeRequest,
  materialize,
  PROXY_HINTS,
  type Ref,
  type RefResolver,
  type RequestTemplate,
  type RouteSpec,
  routeRequest,
  routesFromOpenApi,
  SIM_HINTS,
  webApiRequest,
} from './fuzz-arbitraries.ts';

/**
 * `npm run fuzz:wire [-- --requests N --seed S --surfaces native,control,webapi,webapi-auth,proxy]`: malformed
 * requests (bench/fuzz-arbitraries.ts) against every surface of the served simulator through `app.inject()`
 * (no sockets): the native and control APIs (`buildSimApp`, with a token), the MT5 Web API of the MT5 server
 * (`buildWebApiApp` with header-named connections) on fresh connections and on connections that passed the
 * real handshake, and the fault proxies' control API. The oracle, per answer: no 5xx and no hang; JSON (but
 * /docs pages, HEAD and 204); the native, control and proxy APIs answer 2xx or a 4xx
 * `{ error: { code: MTP_…, message, issues } }` with a registered code, and a native method's 200 is a port
 * Result; the Web API answers a JSON envelope whose first member is a "<number> <text>" retcode. After every
 * request the world has not failed; every 500 requests and at the end, money adds up on every server: each
 * account's balance is the sum of its balance operations and closed trades' profit, its credit the sum of
 * its credit operations, no ticket twice, every acknowledged deposit there as acknowledged, and no more
 * manager operations than requests that could have made one. Exit 1 on any failure.
 *
 * Virtual time stands still (the host is frozen) except when a request waits on it (a timeout, a latency
 * fault): then it is advanced in steps until the answer comes, or reported as a hang after 10 virtual minutes.
 */

export const SURFACES = ['native', 'control', 'webapi', 'webapi-auth', 'proxy'] as const;
export type Surface = (typeof SURFACES)[number];

const TOKEN = 'fuzz-token-0123456789';
const MT5 = 'mt5-live-global';
/** A fixed start: the world is a function of the seed. */
const START_MS = Date.UTC(2026, 0, 5, 8, 0, 0);
const MANAGER = { login: 1000, password: 'Manager#1' };
/** Connections of the authenticated Web API surface. */
const AUTH_CONNECTIONS = 4;
/** Native sessions kept open (the fuzz closes some): fewer, and new ones are opened and connected. */
const MIN_SESSIONS = 4;
/** The Web API drops a connection idle for 180 virtual seconds: one quiet longer than this is handshaken again. */
const REAUTH_AFTER_MS = 150_000;
const STEP_MS = 500;
const HANG_AFTER_MS = 600_000;
const BATCH = 200;
const CHECK_EVERY = 500;
const MAX_EXAMPLES = 10;

// ---- the oracle ----

const MTP_CODE = /^MTP_[A-Z_]+$/;
const RETCODE = /^\d+ .+/;
const OUTCOMES = new Set(['rejected', 'unavailable', 'unknown']);

export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** What is wrong with `answer` to `request` on `surface`, or null. */
export function answerProblem(surface: Surface, request: ConcreteRequest, answer: Answer): string | null {
  if (answer.status >= 500 || answer.status < 100) return `status ${answer.status}`;
  const path = request.url.split('?', 1)[0] as string;
  // A 204 has no body; a HEAD answer's body is dropped on the wire (inject shows it: checked like any other).
  if (answer.status === 204) return answer.body === '' ? null : 'a 204 answer with a body';
  if (request.method === 'HEAD' && answer.body === '') return null;
  if (
    surface !== 'webapi' &&
    surface !== 'webapi-auth' &&
    answer.status < 400 &&
    /^\/docs(\/|$)/.test(routedPath(path))
  ) {
    // Swagger UI's pages and assets are HTML, JavaScript, CSS.
    return null;
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return `status ${answer.status} with a body that is not JSON: ${clip(answer.body)}`;
  }
  if (surface === 'webapi' || surface === 'webapi-auth') {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return 'a Web API answer that is not an object';
    const first = Object.keys(body)[0];
    const retcode = (body as { retcode?: unknown }).retcode;
    if (first !== 'retcode' || typeof retcode !== 'string' || !RETCODE.test(retcode)) {
      return `no "<number> <text>" retcode first: ${clip(answer.body)}`;
    }
    return null;
  }
  if (answer.status >= 400) return errorBodyProblem(body);
  if (answer.status >= 300) return `status ${answer.status} outside /docs`;
  if (surface === 'native' && answer.status === 200 && /^\/v1\/sessions\/[^/]+\/[A-Za-z]+$/.test(path)) {
    return resultProblem(body);
  }
  return null;
}

/** The path as the router sees it: `/./docs` and `/a/../docs` are `/docs`. */
function routedPath(path: string): string {
  try {
    return new URL(path, 'http://localhost').pathname;
  } catch {
    return path;
  }
}

function errorBodyProblem(body: unknown): string | null {
  const error = (body as { error?: { code?: unknown; message?: unknown; issues?: unknown } } | null)?.error;
  if (error === undefined || error === null || typeof error !== 'object') return 'a 4xx without { error }';
  const code = error.code;
  if (typeof code !== 'string' || !MTP_CODE.test(code)) return `a 4xx whose code is ${JSON.stringify(code)}`;
  if (!Object.hasOwn(ERROR_CODES, code)) return `a 4xx with the unregistered code ${code}`;
  if (typeof error.message !== 'string' || error.message === '') return `${code} without a message`;
  if (!Array.isArray(error.issues)) return `${code} without an issues list`;
  for (const issue of error.issues as unknown[]) {
    const i = issue as { path?: unknown; message?: unknown } | null;
    if (typeof i?.path !== 'string' || typeof i.message !== 'string') return `${code} with a malformed issue`;
  }
  return null;
}

/** A native method's 200: the port's Result. */
function resultProblem(body: unknown): string | null {
  const result = body as { ok?: unknown; error?: { code?: unknown; outcome?: unknown } } | null;
  if (result === null || typeof result !== 'object' || typeof result.ok !== 'boolean') return 'a 200 that is no Result';
  if (result.ok) return null;
  if (typeof result.error?.code !== 'number' || !OUTCOMES.has(result.error.outcome as string)) {
    return `a failed Result without a platform code and outcome: ${clip(JSON.stringify(body))}`;
  }
  return null;
}

function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** What an answer is counted as: its MTP code, its retcode's number, or its status class. */
function codeOf(surface: Surface, answer: Answer): string {
  try {
    const body = JSON.parse(answer.body) as {
      error?: { code?: unknown };
      retcode?: unknown;
      ok?: unknown;
    } & Record<string, unknown>;
    if (surface === 'webapi' || surface === 'webapi-auth') {
      return typeof body.retcode === 'string' ? `retcode ${body.retcode.split(' ', 1)[0]}` : 'no retcode';
    }
    if (typeof body.error?.code === 'string') return body.error.code;
    if (body.ok === true) return 'ok';
    if (body.ok === false) {
      // A native Result names the platform's code; a control edit (dealer, client) its failure.
      return `refused ${String((body.error as { codeName?: unknown } | undefined)?.codeName ?? body.fail)}`;
    }
  } catch {
    // Not JSON: counted by status.
  }
  return `${Math.floor(answer.status / 100)}xx`;
}

// ---- the world ----

interface Receipt {
  cluster: SimCluster;
  serverId: string;
  ticket: number;
  login: number;
  amountCents: number | null;
  kind: string | null;
}

/** Live values of the current world, read once per request. */
interface Truth {
  logins: number[];
  mt5Logins: number[];
  tickets: number[];
  groups: string[];
  mt5Groups: string[];
}

interface AuthConnection {
  name: string;
  authed: boolean;
  lastMs: number;
}

export interface Exchange {
  request: ConcreteRequest;
  answer: Answer | null;
  /** No answer within HANG_AFTER_MS of virtual time. */
  hung: boolean;
  /** The request could not be built (the inject client refused it): not sent. */
  unsendable: string | null;
}

/** The simulator's surfaces built on one host, the live values requests refer to, and the ground truth. */
export class FuzzWorld implements RefResolver {
  readonly host: SimHost;
  readonly sim: SimApp;
  readonly webApi: FastifyInstance;
  readonly registry: ProxyRegistry;
  readonly proxyControl: FastifyInstance;
  routes: Record<'native' | 'control' | 'proxy', RouteSpec[]> = { native: [], control: [], proxy: [] };
  /** The world the pools below belong to (a reset replaces it). */
  #cluster: SimCluster | null = null;
  /** Native sessions that are connected (as far as the fuzz knows), and ones opened but not connected. */
  #sessions: string[] = [];
  #unconnected: string[] = [];
  #subscriptions: string[] = [];
  #receipts: Receipt[] = [];
  /** Per server: requests that reached a server's balance operation (upper bound of the manager's ops). */
  #attempts = new Map<string, number>();
  readonly #auth: AuthConnection[] = [];
  #fresh = 0;
  #truth: Truth | null = null;
  /** Requests the world sent itself (set-up, handshakes): not counted as fuzz. */
  setupRequests = 0;

  constructor(seed: number) {
    this.host = new SimHost({ seed: `fuzz-${seed}`, frozen: true, now: () => START_MS });
    this.sim = buildSimApp(this.host, { token: TOKEN, sessions: { timeoutMs: 2_000 } });
    this.webApi = buildWebApiApp(this.host, MT5, { connectionKey: 'header', requestTimeoutMs: 2_000 });
    this.registry = new ProxyRegistry({ seed: `fuzz-${seed}`, maxProxies: 16, maxToxics: 8 });
    this.proxyControl = buildProxyControlApp(this.registry, { token: TOKEN });
    for (let i = 0; i < AUTH_CONNECTIONS; i++) this.#auth.push({ name: `fz-auth-${i}`, authed: false, lastMs: 0 });
  }

  static async create(seed: number): Promise<FuzzWorld> {
    const world = new FuzzWorld(seed);
    await Promise.all([world.sim.app.ready(), world.webApi.ready(), world.proxyControl.ready()]);
    const simRoutes = routesFromOpenApi(await world.#doc(world.sim.app));
    const extra = (segments: string[]): RouteSpec => ({ method: 'GET', segments, params: {}, query: {}, body: null });
    world.routes = {
      native: simRoutes.filter((r) => r.segments[0] === 'v1'),
      control: [
        ...simRoutes.filter((r) => r.segments[0] !== 'v1'),
        extra(['health']),
        extra(['docs']),
        extra(['docs', 'json']),
      ],
      proxy: routesFromOpenApi(await world.#doc(world.proxyControl)),
    };
    await world.#prepare();
    return world;
  }

  async #doc(app: FastifyInstance): Promise<unknown> {
    const res = await app.inject({ method: 'GET', url: '/docs/json', headers: { authorization: `Bearer ${TOKEN}` } });
    if (res.statusCode !== 200) throw new Error(`fuzz: no OpenAPI document (${res.statusCode})`);
    return res.json();
  }

  async close(): Promise<void> {
    await Promise.all([this.sim.app.close(), this.webApi.close(), this.proxyControl.close()]);
    await this.registry.close();
    await this.host.stop();
  }

  /** A fresh world (after a reset) gets sessions, accounts with money, and a subscription again. */
  async #prepare(): Promise<void> {
    this.#cluster = this.host.cluster;
    this.#sessions = [];
    this.#unconnected = [];
    this.#subscriptions = [];
    this.#receipts = [];
    this.#attempts.clear();
    for (const a of this.#auth) a.authed = false;
    this.#truth = null;
    for (const server of this.host.config.servers) {
      for (let s = 0; s < 2; s++) {
        const opened = await this.#own('POST', '/v1/sessions', { serverId: server.id });
        const session = (opened.json() as { session?: string }).session;
        if (opened.statusCode !== 201 || session === undefined)
          throw new Error(`fuzz: cannot open a session: ${opened.body}`);
        this.#sessions.push(session);
        await this.#ownCall(session, 'connect', MANAGER);
        if (s > 0) continue;
        for (let a = 0; a < 3; a++) {
          const group = server.groups[a % server.groups.length]?.name as string;
          const created = await this.#ownCall(session, 'createAccount', {
            account: { group, name: `Fuzz ${a}`, password: 'Passw0rd!x' },
          });
          const login = (created as { value?: { login?: number } }).value?.login;
          if (login === undefined) continue;
          await this.#ownCall(session, 'postBalance', {
            request: { login, amountCents: 500_000, kind: 'balance', comment: `fuzz-seed-${a}` },
          });
        }
        const subscribed = (await this.#ownCall(session, 'subscribe', {})) as { value?: { subscription?: string } };
        if (subscribed.value?.subscription !== undefined) this.#subscriptions.push(subscribed.value.subscription);
      }
    }
  }

  /** Forgets closed sessions and ended subscriptions; opens and connects new sessions when few are left. */
  async #keepSessions(): Promise<void> {
    const alive = (id: string) => this.sim.sessions.get(id) !== undefined;
    this.#sessions = this.#sessions.filter(alive);
    this.#unconnected = this.#unconnected.filter(alive);
    this.#subscriptions = this.#subscriptions.filter((id) => {
      const session = this.sim.sessions.get(id.slice(0, id.lastIndexOf('.')));
      return session?.buffers.has(id) === true;
    });
    const servers = this.host.config.servers;
    for (let i = 0; this.#sessions.length < MIN_SESSIONS; i++) {
      const serverId = (servers[i % servers.length] as (typeof servers)[number]).id;
      const opened = await this.#own('POST', '/v1/sessions', { serverId });
      const session = (opened.json() as { session?: string }).session;
      if (session === undefined) throw new Error(`fuzz: cannot open a session: ${opened.body}`);
      this.#sessions.push(session);
      await this.#ownCall(session, 'connect', MANAGER);
    }
  }

  async #own(method: 'POST', url: string, payload: unknown): Promise<LightMyRequestResponse> {
    this.setupRequests++;
    const request = { method, url, headers: { authorization: `Bearer ${TOKEN}` }, payload: JSON.stringify(payload) };
    const exchange = await this.#settle(this.sim.app, {
      ...request,
      headers: { ...request.headers, 'content-type': 'application/json' },
    });
    if (exchange === null) throw new Error(`fuzz: set-up request ${method} ${url} got no answer`);
    return exchange;
  }

  async #ownCall(session: string, method: string, body: unknown): Promise<unknown> {
    const res = await this.#own('POST', `/v1/sessions/${session}/${method}`, body);
    const parsed = res.json() as unknown;
    this.#learn(
      'native',
      { method: 'POST', url: `/v1/sessions/${session}/${method}`, headers: {} },
      {
        status: res.statusCode,
        contentType: String(res.headers['content-type'] ?? ''),
        body: res.body,
      },
    );
    return parsed;
  }

  /** Injects a request, advancing virtual time while it waits on it; null when it never answers. */
  async #settle(app: FastifyInstance, request: ConcreteRequest): Promise<LightMyRequestResponse | null> {
    let settled = false;
    const pending = app.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers,
      ...(request.payload === undefined ? {} : { payload: request.payload }),
    });
    pending.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (let turn = 0; turn < 6 && !settled; turn++) await new Promise((resolve) => setImmediate(resolve));
    for (let waitedMs = 0; !settled; waitedMs += STEP_MS) {
      if (waitedMs >= HANG_AFTER_MS) return null;
      await this.host.advance(STEP_MS);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return pending;
  }

  // ---- refs ----

  #groundTruth(): Truth {
    if (this.#truth !== null) return this.#truth;
    const logins: number[] = [];
    const mt5Logins: number[] = [];
    const tickets: number[] = [];
    for (const server of this.host.cluster.servers.values()) {
      for (const login of server.accounts.keys()) {
        logins.push(login);
        if (server.id === MT5) mt5Logins.push(login);
        for (const op of server.allBalanceOps(login)) tickets.push(op.ticket);
        for (const p of server.openPositions(login)) tickets.push(p.ticket);
      }
    }
    const groups = this.host.config.servers.flatMap((s) => s.groups.map((g) => g.name));
    const mt5Groups = this.host.config.servers.filter((s) => s.id === MT5).flatMap((s) => s.groups.map((g) => g.name));
    this.#truth = { logins, mt5Logins, tickets, groups, mt5Groups };
    return this.#truth;
  }

  resolve(ref: Ref): string | number {
    const pick = <T>(items: readonly T[], otherwise: T): T =>
      items.length === 0 ? otherwise : (items[ref.pick % items.length] as T);
    switch (ref.kind) {
      case 'session':
        // One in eight: a session that does not exist (closed, or of a world before a reset); one in eight: one
        // that is open but not connected.
        if (ref.pick % 8 === 7) return `s0-${ref.pick}`;
        return ref.pick % 8 === 6 && this.#unconnected.length > 0
          ? pick(this.#unconnected, 's0-0')
          : pick(this.#sessions, 's0-0');
      case 'subscription':
        return ref.pick % 8 === 7 ? `s0-0.${ref.pick}` : pick(this.#subscriptions, 's0-0.1');
      case 'login':
        // One in five: the manager's login (what `connect` wants), else an account's.
        return ref.pick % 5 === 0 ? MANAGER.login : pick(this.#groundTruth().logins, 1);
      case 'mt5Login':
        return pick(this.#groundTruth().mt5Logins, 1);
      case 'ticket':
        return pick(this.#groundTruth().tickets, 1);
      case 'serverId':
        return pick(
          this.host.config.servers.map((s) => s.id),
          MT5,
        );
      case 'group':
        return pick(this.#groundTruth().groups, '*');
      case 'mt5Group':
        return pick(this.#groundTruth().mt5Groups, '*');
      case 'proxy':
        return ref.pick % 6 === 5
          ? 'no-such-proxy'
          : pick(
              this.registry.list().map((p) => p.name),
              'no-such-proxy',
            );
      case 'toxic':
        return ref.pick % 6 === 5
          ? 'no-such-toxic'
          : pick(
              this.registry.list().flatMap((p) => p.toxics().map((t) => t.name)),
              'no-such-toxic',
            );
    }
  }

  // ---- sending ----

  async send(surface: Surface, template: RequestTemplate): Promise<Exchange> {
    if (this.host.cluster !== this.#cluster) await this.#prepare();
    else if (surface === 'native') await this.#keepSessions();
    this.#truth = null;
    let connection: string | undefined;
    if (surface === 'webapi-auth') {
      const auth = this.#auth[
        (template.connection?.kind === 'session' ? template.connection.pick : 0) % AUTH_CONNECTIONS
      ] as AuthConnection;
      await this.#ensureAuth(auth);
      connection = auth.name;
    } else if (surface === 'webapi') {
      const c = template.connection;
      connection =
        c === undefined || c.kind === 'shared' ? undefined : c.kind === 'named' ? c.name : `fz-anon-${++this.#fresh}`;
    }
    let request = materialize(
      template,
      this,
      connection === undefined ? { token: TOKEN } : { token: TOKEN, connection },
    );
    if (surface === 'proxy') request = loopbackOnly(request);
    if (surface === 'native') request = shortPolls(request);
    const app = surface === 'proxy' ? this.proxyControl : surface.startsWith('webapi') ? this.webApi : this.sim.app;
    let res: LightMyRequestResponse | null;
    try {
      res = await this.#settle(app, request);
    } catch (error) {
      return { request, answer: null, hung: false, unsendable: (error as Error).message };
    }
    if (res === null) return { request, answer: null, hung: true, unsendable: null };
    const answer: Answer = {
      status: res.statusCode,
      contentType: String(res.headers['content-type'] ?? ''),
      body: res.body,
    };
    this.#learn(surface, request, answer);
    if (surface === 'webapi-auth') this.#afterWebApi(connection as string, request, answer);
    return { request, answer, hung: false, unsendable: null };
  }

  /** Keeps what later requests refer to, and what the money check holds the servers to. */
  #learn(surface: Surface, request: ConcreteRequest, answer: Answer): void {
    if (answer.status >= 300) return;
    const path = request.url.split('?', 1)[0] as string;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(answer.body) as Record<string, unknown>;
    } catch {
      return;
    }
    if (surface === 'native' || surface === 'control') {
      if (path === '/v1/sessions' && typeof body.session === 'string') {
        if (this.#unconnected.length < 32) this.#unconnected.push(body.session);
        return;
      }
      const call = /^\/v1\/sessions\/([^/]+)\/([A-Za-z]+)$/.exec(path);
      if (call === null) return;
      const method = call[2] as string;
      const id = safeDecode(call[1] as string);
      const value = body.value as Record<string, unknown> | undefined;
      if (method === 'connect' && body.ok === true && !this.#sessions.includes(id)) {
        this.#unconnected = this.#unconnected.filter((u) => u !== id);
        this.#sessions.push(id);
      }
      if (method === 'close' && body.ok === true && this.#sessions.includes(id)) {
        this.#sessions = this.#sessions.filter((c) => c !== id);
        this.#unconnected.push(id);
      }
      if (method === 'subscribe' && body.ok === true && typeof value?.subscription === 'string') {
        if (this.#subscriptions.length < 64) this.#subscriptions.push(value.subscription);
      }
      if (method !== 'postBalance') return;
      const serverId = this.sim.sessions.get(id)?.serverId;
      if (serverId === undefined) return;
      this.#attempts.set(serverId, (this.#attempts.get(serverId) ?? 0) + 1);
      if (body.ok === true && value !== undefined) {
        this.#receipts.push({
          cluster: this.host.cluster,
          serverId,
          ticket: value.ticket as number,
          login: value.login as number,
          amountCents: value.amountCents as number,
          kind: value.kind as string,
        });
      }
      return;
    }
    if ((surface === 'webapi' || surface === 'webapi-auth') && path === '/api/trade/balance') {
      this.#attempts.set(MT5, (this.#attempts.get(MT5) ?? 0) + 1);
      const ticket = Number((body.answer as { Ticket?: unknown } | undefined)?.Ticket);
      const login = Number(new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1)).get('login'));
      if (typeof body.retcode === 'string' && body.retcode.startsWith('0 ') && Number.isSafeInteger(ticket)) {
        this.#receipts.push({
          cluster: this.host.cluster,
          serverId: MT5,
          ticket,
          login,
          amountCents: null,
          kind: null,
        });
      }
    }
  }

  async #ensureAuth(auth: AuthConnection): Promise<void> {
    if (auth.authed && this.host.nowMs() - auth.lastMs < REAUTH_AFTER_MS) return;
    auth.authed = false;
    const headers = { 'x-mtproof-connection': auth.name };
    this.setupRequests += 2;
    const start = await this.#settle(this.webApi, {
      method: 'GET',
      url: `/api/auth/start?version=484&agent=fuzz&login=${MANAGER.login}&type=manager`,
      headers,
    });
    const srvRand = (start?.json() as { srv_rand?: unknown } | undefined)?.srv_rand;
    if (typeof srvRand !== 'string') return;
    const answered = await this.#settle(this.webApi, {
      method: 'GET',
      url: `/api/auth/answer?srv_rand_answer=${srvRandAnswer(MANAGER.password, srvRand)}&cli_rand=${'0f'.repeat(16)}`,
      headers,
    });
    const retcode = (answered?.json() as { retcode?: unknown } | undefined)?.retcode;
    auth.authed = typeof retcode === 'string' && retcode.startsWith('0 ');
    auth.lastMs = this.host.nowMs();
  }

  /** A command that ends or replaces the session, or one refused for want of it, needs a new handshake. */
  #afterWebApi(name: string, request: ConcreteRequest, answer: Answer): void {
    const auth = this.#auth.find((a) => a.name === name) as AuthConnection;
    auth.lastMs = this.host.nowMs();
    const path = request.url.split('?', 1)[0] as string;
    let code = -1;
    try {
      code = Number.parseInt(String((JSON.parse(answer.body) as { retcode?: unknown }).retcode), 10);
    } catch {
      // Counted as it is; the oracle reports the body.
    }
    if (path.startsWith('/api/auth/') || path === '/api/quit' || code === 7 || code === 8 || code === 10) {
      auth.authed = false;
    }
  }

  /** Whether an answer came from a session's command (not refused for want of authentication). */
  static ranCommand(answer: Answer): boolean {
    try {
      return !String((JSON.parse(answer.body) as { retcode?: unknown }).retcode).startsWith('8 ');
    } catch {
      return false;
    }
  }

  readonly #worldIds = new WeakMap<SimCluster, number>();
  #worlds = 0;

  #worldId(cluster: SimCluster): number {
    let id = this.#worldIds.get(cluster);
    if (id === undefined) {
      id = ++this.#worlds;
      this.#worldIds.set(cluster, id);
    }
    return id;
  }

  /**
   * What a refused request must leave as it was: the world of the control API (which world, its generation,
   * seed and faults), the proxies and their toxics. Empty for the other surfaces.
   */
  snapshot(surface: Surface): string {
    if (surface === 'control') {
      return JSON.stringify({
        world: this.#worldId(this.host.cluster),
        generation: this.host.generation,
        seed: this.host.seed,
        faults: this.host.faults,
      });
    }
    if (surface === 'proxy') {
      return JSON.stringify(
        this.registry.list().map((p) => {
          const { name, listen, upstream, enabled, toxics } = p.view();
          return { name, listen, upstream, enabled, toxics };
        }),
      );
    }
    return '';
  }

  // ---- ground truth ----

  /** Money that does not add up on any server, or an acknowledged operation that is not there. */
  moneyProblems(): string[] {
    const problems: string[] = [];
    for (const server of this.host.cluster.servers.values()) {
      const tickets = new Set<number>();
      let managerOps = 0;
      for (const account of server.accounts.values()) {
        let balance = 0;
        let credit = 0;
        for (const op of server.allBalanceOps(account.login)) {
          if (op.kind === 'balance') balance += op.amountCents;
          else credit += op.amountCents;
          if (tickets.has(op.ticket)) problems.push(`${server.id}: ticket ${op.ticket} twice`);
          tickets.add(op.ticket);
          if (op.login !== account.login)
            problems.push(`${server.id}: op ${op.ticket} of ${op.login} under ${account.login}`);
          if (op.actor.by === 'manager') managerOps++;
        }
        for (const trade of server.allClosedTrades(account.login)) balance += trade.profitCents;
        if (account.balanceCents !== balance) {
          problems.push(
            `${server.id} ${account.login}: balance ${account.balanceCents} ≠ operations and profit ${balance}`,
          );
        }
        if (account.creditCents !== credit) {
          problems.push(`${server.id} ${account.login}: credit ${account.creditCents} ≠ credit operations ${credit}`);
        }
      }
      const attempts = this.#attempts.get(server.id) ?? 0;
      if (managerOps > attempts) {
        problems.push(`${server.id}: ${managerOps} manager balance operations from ${attempts} requests`);
      }
    }
    for (const r of this.#receipts) {
      if (r.cluster !== this.host.cluster) continue;
      const op = this.host.cluster.servers
        .get(r.serverId)
        ?.allBalanceOps(r.login)
        .find((o) => o.ticket === r.ticket);
      if (op === undefined)
        problems.push(`${r.serverId}: acknowledged ticket ${r.ticket} of ${r.login} is not on the server`);
      else if (
        (r.amountCents !== null && op.amountCents !== r.amountCents) ||
        (r.kind !== null && op.kind !== r.kind)
      ) {
        problems.push(
          `${r.serverId}: ticket ${r.ticket} acknowledged as ${r.kind} ${r.amountCents}, is ${op.kind} ${op.amountCents}`,
        );
      }
    }
    return problems;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A proxy listens and connects where its body says: every `host:port` in a body is made a loopback address
 * (port 0 or 1), so that the fuzz never binds a port another program may want, nor resolves a name or reaches
 * beyond this machine.
 */
export function loopbackOnly(request: ConcreteRequest): ConcreteRequest {
  if (typeof request.payload !== 'string') return request;
  const payload = request.payload.replace(
    /("upstream"\s*:\s*)?"((?:[^"\\]|\\.)*)"/g,
    (match, upstream: string | undefined, inner: string) => {
      let text: unknown;
      try {
        text = JSON.parse(`"${inner}"`);
      } catch {
        return match;
      }
      if (typeof text !== 'string') return match;
      const address = parseAddress(text, 0);
      if (typeof address === 'string') return match;
      // An upstream is never connected to (nobody connects through the proxies): port 1 keeps it valid.
      const port = upstream === undefined ? 0 : 1;
      if (isLoopback(address.host) && address.port === port) return match;
      const host = isLoopback(address.host) ? text.slice(0, text.lastIndexOf(':')) : '127.0.0.1';
      return `${upstream ?? ''}${JSON.stringify(`${host}:${port}`)}`;
    },
  );
  return { ...request, payload };
}

/**
 * A native long poll (`events` with `waitMs`) waits in real time, up to 30 s: valid, but the fuzz is about
 * inputs, not waiting, so a wait above 50 ms is sent as 5 ms (and the hang detector, which counts virtual
 * time, does not mistake it for a hang).
 */
export function shortPolls(request: ConcreteRequest): ConcreteRequest {
  if (typeof request.payload !== 'string' || !request.payload.includes('waitMs')) return request;
  const payload = request.payload.replace(/("waitMs"\s*:\s*)(\d+(?:\.\d+)?)/g, (match, key: string, value: string) =>
    Number(value) > 50 && Number(value) <= 30_000 ? `${key}5` : match,
  );
  return { ...request, payload };
}

// ---- the run ----

export interface FuzzFailure {
  surface: Surface;
  /** 0-based index of the request in the run. */
  index: number;
  problem: string;
  request: string;
  answer: string;
}

export interface SurfaceStats {
  surface: Surface;
  requests: number;
  statuses: Map<number, number>;
  codes: Map<string, number>;
  failures: number;
  unsendable: number;
  /** Web API: answers of a command that ran on an authenticated session. */
  commandsRun: number;
  elapsedMs: number;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  surfaces: readonly Surface[];
  stats: SurfaceStats[];
  failures: FuzzFailure[];
  /** The first few failures in full (per surface), then only counted. */
  examples: FuzzFailure[];
  setupRequests: number;
  resets: number;
  elapsedMs: number;
}

export interface FuzzOptions {
  seed: number;
  requests: number;
  surfaces?: readonly Surface[];
  /** Progress lines (every 10 %). */
  log?: (line: string) => void;
}

function arbitraryOf(world: FuzzWorld, surface: Surface): fc.Arbitrary<RequestTemplate> {
  switch (surface) {
    // Routes that make what the others act on (accounts, money, proxies, toxics) come up more often.
    case 'native':
      return routeRequest(world.routes.native, SIM_HINTS, (r) =>
        r.segments.at(-1) === 'postBalance' ? 4 : r.segments.at(-1) === 'createAccount' ? 2 : 1,
      );
    case 'control':
      return routeRequest(world.routes.control, SIM_HINTS, (r) =>
        r.segments.at(-1) === 'dealer' || r.segments.at(-1) === 'client' ? 3 : 1,
      );
    case 'proxy':
      return routeRequest(world.routes.proxy, PROXY_HINTS, (r) =>
        r.method === 'POST' && r.segments.at(-1) === 'proxies'
          ? 4
          : r.method === 'POST' && r.segments.at(-1) === 'toxics'
            ? 3
            : 1,
      );
    case 'webapi':
      return webApiRequest(
        fc.oneof(
          { arbitrary: fc.constant({ kind: 'fresh' as const }), weight: 6 },
          { arbitrary: fc.constant({ kind: 'shared' as const }), weight: 2 },
          {
            arbitrary: fc
              .constantFrom('fz-auth-0', 'x', '', 'x'.repeat(300))
              .map((name) => ({ kind: 'named' as const, name })),
            weight: 1,
          },
        ),
      );
    case 'webapi-auth':
      return webApiRequest(fc.nat().map((pick) => ({ kind: 'session' as const, pick })));
  }
}

/** Templates of one surface, drawn in batches from seeds derived from the run's. */
class TemplateStream {
  readonly #arbitrary: fc.Arbitrary<RequestTemplate>;
  readonly #seed: number;
  #buffer: RequestTemplate[] = [];
  #batch = 0;
  constructor(arbitrary: fc.Arbitrary<RequestTemplate>, seed: number) {
    this.#arbitrary = arbitrary;
    this.#seed = seed;
  }
  next(): RequestTemplate {
    if (this.#buffer.length === 0) {
      this.#buffer = fc.sample(this.#arbitrary, { seed: (this.#seed + 104_729 * this.#batch++) | 0, numRuns: BATCH });
    }
    return this.#buffer.shift() as RequestTemplate;
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const surfaces = options.surfaces ?? SURFACES;
  const started = performance.now();
  const world = await FuzzWorld.create(options.seed);
  const stats = new Map<Surface, SurfaceStats>();
  const streams = new Map<Surface, TemplateStream>();
  surfaces.forEach((surface, i) => {
    stats.set(surface, {
      surface,
      requests: 0,
      statuses: new Map(),
      codes: new Map(),
      failures: 0,
      unsendable: 0,
      commandsRun: 0,
      elapsedMs: 0,
    });
    streams.set(surface, new TemplateStream(arbitraryOf(world, surface), (options.seed + 7_919 * (i + 1)) | 0));
  });
  const failures: FuzzFailure[] = [];
  const examples: FuzzFailure[] = [];
  let resets = 0;
  const fail = (failure: FuzzFailure) => {
    failures.push(failure);
    (stats.get(failure.surface) as SurfaceStats).failures++;
    if (examples.filter((e) => e.surface === failure.surface).length < MAX_EXAMPLES) examples.push(failure);
  };
  try {
    for (let index = 0; index < options.requests; index++) {
      const surface = surfaces[index % surfaces.length] as Surface;
      const s = stats.get(surface) as SurfaceStats;
      const template = (streams.get(surface) as TemplateStream).next();
      const before = world.snapshot(surface);
      const t0 = performance.now();
      const exchange = await world.send(surface, template);
      s.elapsedMs += performance.now() - t0;
      s.requests++;
      const line = describeRequest(exchange.request);
      if (exchange.unsendable !== null) {
        s.unsendable++;
      } else if (exchange.answer === null) {
        fail({
          surface,
          index,
          problem: `no answer within ${HANG_AFTER_MS / 60_000} virtual minutes`,
          request: line,
          answer: '',
        });
      } else {
        const answer = exchange.answer;
        s.statuses.set(answer.status, (s.statuses.get(answer.status) ?? 0) + 1);
        const code = codeOf(surface, answer);
        s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
        if (surface === 'webapi-auth' && FuzzWorld.ranCommand(answer)) s.commandsRun++;
        // The proxies' /reset tries every proxy and reports the first that cannot listen (documented): partial.
        const partial = surface === 'proxy' && exchange.request.url.split('?', 1)[0] === '/reset';
        const after = answer.status >= 400 && !partial ? world.snapshot(surface) : before;
        const problem =
          answerProblem(surface, exchange.request, answer) ??
          (after === before
            ? null
            : `refused with ${answer.status}, yet it changed ${clip(before, 400)} into ${clip(after, 400)}`);
        if (problem !== null) {
          fail({ surface, index, problem, request: line, answer: `${answer.status} ${clip(answer.body, 300)}` });
        }
      }
      if (world.host.failure !== null) {
        fail({
          surface,
          index,
          problem: `the simulated world failed: ${String(world.host.failure)}`,
          request: line,
          answer: '',
        });
        await world.host.reset();
        resets++;
      }
      if ((index + 1) % CHECK_EVERY === 0 || index + 1 === options.requests) {
        for (const problem of world.moneyProblems())
          fail({ surface, index, problem: `money: ${problem}`, request: line, answer: '' });
      }
      if (options.log !== undefined && options.requests >= 10 && (index + 1) % Math.ceil(options.requests / 10) === 0) {
        options.log(
          `  ${index + 1} requests, ${failures.length} failures, ${Math.round(performance.now() - started)} ms`,
        );
      }
    }
  } finally {
    await world.close();
  }
  return {
    seed: options.seed,
    requests: options.requests,
    surfaces,
    stats: [...stats.values()],
    failures,
    examples,
    setupRequests: world.setupRequests,
    resets,
    elapsedMs: performance.now() - started,
  };
}

export function replayCommand(report: Pick<FuzzReport, 'seed' | 'surfaces'>, index: number): string {
  return `npm run -s fuzz:wire -- --seed ${report.seed} --requests ${index + 1} --surfaces ${report.surfaces.join(',')}`;
}

/** An answer as its status and code (MTP code, or the retcode's text without its detail). */
function answerGist(answer: string): string {
  const space = answer.indexOf(' ');
  if (space < 0) return answer;
  try {
    const body = JSON.parse(answer.slice(space + 1)) as { error?: { code?: string }; retcode?: string };
    return `→ ${answer.slice(0, space)} ${body.error?.code ?? body.retcode?.slice(0, 64) ?? ''}`;
  } catch {
    return `→ ${answer.slice(0, Math.min(answer.length, 40))}`;
  }
}

export function renderFuzzReport(report: FuzzReport): string[] {
  const lines = [
    `fuzz:wire — seed ${report.seed}, ${report.requests} requests over ${report.surfaces.join(', ')} in ${(report.elapsedMs / 1000).toFixed(1)} s (+${report.setupRequests} set-up requests, ${report.resets} resets after a failure)`,
  ];
  for (const s of report.stats) {
    const perSec = s.elapsedMs === 0 ? 0 : (s.requests / s.elapsedMs) * 1000;
    const statuses = [...s.statuses.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    const codes = [...s.codes.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code}×${n}`)
      .join(', ');
    lines.push(
      `${s.surface}: ${s.requests} requests, ${Math.round(perSec)} req/s, ${s.failures} failures${s.unsendable > 0 ? `, ${s.unsendable} not sendable` : ''}${s.surface === 'webapi-auth' ? `, ${s.commandsRun} commands ran authenticated` : ''}`,
    );
    lines.push(`  statuses: ${statuses}`);
    lines.push(`  codes: ${codes}`);
  }
  // Failures grouped by kind (numbers and quoted values blurred), so that one bug's cascade reads as one line.
  const kinds = new Map<string, { count: number; first: FuzzFailure }>();
  for (const f of report.failures) {
    const key = `${f.surface}: ${f.problem.split(/[{(:]/, 1)[0]?.trim()} ${answerGist(f.answer)}`.replace(/\d+/g, 'N');
    const kind = kinds.get(key);
    if (kind === undefined) kinds.set(key, { count: 1, first: f });
    else kind.count++;
  }
  for (const [key, { count, first }] of kinds) lines.push(`failure kind (${count}×, first #${first.index}): ${key}`);
  for (const f of report.examples) {
    lines.push(`FAIL ${f.surface} #${f.index}: ${f.problem}`);
    lines.push(`  request: ${f.request}`);
    if (f.answer !== '') lines.push(`  answer: ${f.answer}`);
    lines.push(`  replay: ${replayCommand(report, f.index)}`);
  }
  if (report.failures.length > report.examples.length) {
    lines.push(`… and ${report.failures.length - report.examples.length} more failures`);
  }
  lines.push(report.failures.length === 0 ? 'no failures' : `${report.failures.length} failures`);
  return lines;
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

async function main(): Promise<number> {
  const requestsText = argument('requests') ?? '120000';
  const seedText = argument('seed') ?? String(Math.floor(Math.random() * 2 ** 31));
  const surfacesText = argument('surfaces') ?? SURFACES.join(',');
  const requests = Number(requestsText);
  const seed = Number(seedText);
  const surfaces = surfacesText.split(',');
  if (!Number.isSafeInteger(requests) || requests <= 0) {
    console.error('fuzz:wire: --requests needs a positive integer');
    return 2;
  }
  if (!Number.isSafeInteger(seed)) {
    console.error('fuzz:wire: --seed needs an integer');
    return 2;
  }
  const unknown = surfaces.filter((s) => !(SURFACES as readonly string[]).includes(s));
  if (unknown.length > 0 || surfaces.length === 0) {
    console.error(`fuzz:wire: --surfaces takes a comma-separated list of ${SURFACES.join(', ')}`);
    return 2;
  }
  console.error(`fuzz:wire: seed ${seed}, ${requests} requests (replay: --seed ${seed})`);
  const report = await runFuzz({
    seed,
    requests,
    surfaces: surfaces as Surface[],
    log: (line) => console.error(line),
  });
  for (const line of renderFuzzReport(report)) console.log(line);
  return report.failures.length === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`fuzz:wire: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
