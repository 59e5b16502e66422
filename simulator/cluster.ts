import type { Clock } from '../kit/clock.ts';
import { MtproofError } from '../kit/errors.ts';
import { Random } from '../kit/random.ts';
import { Process, Scheduler } from '../kit/scheduler.ts';
import { Trace, type TraceOptions } from '../kit/trace.ts';
import { MT4_OP, MT5_DEAL_ACTION } from '../metatrader/constants.ts';
import { type ClusterConfig, type ClusterConfigInput, parseClusterConfig } from './config.ts';
import { DEFAULT_CLUSTER } from './default-cluster.ts';
import {
  checkFaultParams,
  FAULT_SCOPE,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
  type FaultPlan,
  FaultTable,
  parseFaultConfig,
  planFaults,
  type ScheduledFault,
} from './faults.ts';
import { PriceFeed } from './prices.ts';
import { type Fail, type Op, type ServerEvent, type Side, type SimAccount, SimServer } from './server.ts';

/**
 * The simulated cluster: its servers, the network in front of them (sessions, answers, timeouts), the
 * fault engine, the pumping streams, and the two actors that bypass the Manager API: clients trading in
 * their terminals and dealers editing by hand. Everything is driven by one seed and one scheduler.
 */

export interface ClusterOptions {
  seed: string | number;
  /** The cluster layout; the embedded default (MT4 live, MT5 live, MT4 demo) when absent. */
  config?: ClusterConfigInput | Readonly<ClusterConfig>;
  /** Fault configuration; absent means the defaults (all kinds, swarm on). */
  faults?: FaultConfigInput | Readonly<FaultConfig>;
  /** Share a scheduler with the rest of a run; a new one starting at `config.startAt` otherwise. */
  scheduler?: Scheduler;
  trace?: TraceOptions;
  /** Network delay of every answer. 0 (the default) answers at once, without a scheduler turn. */
  baseLatencyMs?: number;
}

/** What came back over the simulated network for one manager request. */
export type Exchange<T> =
  | { kind: 'answered'; value: T }
  /** The session is not connected (known to the server, or the server is down): nothing was sent. */
  | { kind: 'no_connection' }
  /** No answer within the caller's timeout (applied or not). */
  | { kind: 'timeout' }
  /** The connection broke while the request was in flight (applied or not). */
  | { kind: 'lost' }
  | { kind: 'too_frequent' }
  | { kind: 'no_rights' };

export type PumpMessage = ServerEvent | { type: 'stopped' };

const NO_CONNECTION: Exchange<never> = Object.freeze({ kind: 'no_connection' });
const TIMEOUT: Exchange<never> = Object.freeze({ kind: 'timeout' });
const LOST: Exchange<never> = Object.freeze({ kind: 'lost' });
const TOO_FREQUENT: Exchange<never> = Object.freeze({ kind: 'too_frequent' });
const NO_RIGHTS: Exchange<never> = Object.freeze({ kind: 'no_rights' });
const NO_PARAMS: ScheduledFault['params'] = Object.freeze({});

export class SimSession {
  /** Numbered per cluster, so that ids in the trace do not depend on other clusters in the process. */
  readonly id: number;
  readonly server: SimServer;
  /** 'open' until the connection drops (fault, restart) or the client closes it. */
  state: 'open' | 'dropped' | 'closed' = 'open';
  /** Set by a successful manager login. */
  managerLogin: number | null = null;
  /** The server logged the session out while the socket stayed up. */
  silentLogout = false;
  readonly pumps = new Set<PumpSubscription>();
  readonly clock: Clock;
  /** Unregisters the owning process's kill hook once the session is closed. */
  forgetOwner: () => void = () => {};

  constructor(id: number, server: SimServer, clock: Clock) {
    this.id = id;
    this.server = server;
    this.clock = clock;
  }

  get usable(): boolean {
    return this.state === 'open' && !this.silentLogout;
  }
}

export class PumpSubscription {
  readonly session: SimSession;
  readonly listener: (message: PumpMessage) => void;
  queue: PumpMessage[] = [];
  held: ServerEvent | null = null;
  flushing = false;
  closed = false;

  constructor(session: SimSession, listener: (message: PumpMessage) => void) {
    this.session = session;
    this.listener = listener;
  }
}

interface ServerFaultState {
  pick: Random;
  params: Random;
  armed: ScheduledFault[];
  /** Pump faults armed by hand for this server's next pumped event. */
  pumpArmed: FaultKind[];
  pumpStalledUntilMs: number;
  /** The cluster listens to the server's events from the first pump subscription on (for good). */
  listening: boolean;
}

export class SimCluster {
  readonly config: Readonly<ClusterConfig>;
  faultConfig: Readonly<FaultConfig>;
  readonly scheduler: Scheduler;
  readonly trace: Trace;
  readonly random: Random;
  plan: FaultPlan;
  readonly prices: PriceFeed;
  readonly servers = new Map<string, SimServer>();
  readonly baseLatencyMs: number;
  /** Manager requests received so far (the unit of `atStep` in fault schedules). */
  step = 0;
  #sessionCount = 0;
  #randomFaults = true;
  readonly #faults = new Map<string, ServerFaultState>();
  /** The random request and server faults, one table for every server. */
  #faultTable: FaultTable;
  /** The random pump faults, drawn once per pumped event. */
  #pumpTable: FaultTable;
  readonly #sessions = new Map<string, Set<SimSession>>();
  #stepSchedule: ScheduledFault[];
  /** Fault configurations applied after construction (`reconfigureFaults`), for their random streams. */
  #reconfigurations = 0;
  readonly #pumpFaults: Random;
  /** Pumps with events waiting for the next delivery timer, and whether that timer is set. */
  #pendingPumps: PumpSubscription[] = [];
  #deliveryScheduled = false;
  readonly #dealerRandom: Random;

  constructor(options: ClusterOptions) {
    this.config = parseClusterConfig(options.config ?? DEFAULT_CLUSTER);
    this.faultConfig = parseFaultConfig(options.faults ?? {});
    this.baseLatencyMs = options.baseLatencyMs ?? 0;
    this.random = new Random(options.seed);
    this.scheduler = options.scheduler ?? new Scheduler({ startMs: Date.parse(this.config.startAt) });
    this.trace = new Trace(() => this.scheduler.nowMs(), options.trace);
    this.plan = planFaults(this.faultConfig, this.random.fork('faults'));
    this.prices = new PriceFeed(this.config.symbols, this.random, this.scheduler.nowMs());
    this.#pumpFaults = this.random.fork('pump');
    this.#dealerRandom = this.random.fork('dealer');
    this.#faultTable = new FaultTable(this.plan, ['request', 'server']);
    this.#pumpTable = new FaultTable(this.plan, ['pump']);
    for (const serverConfig of this.config.servers) {
      const server = new SimServer(
        serverConfig,
        () => this.scheduler.nowMs(),
        this.prices,
        (what, detail) => this.trace.state(serverConfig.id, what, detail),
      );
      this.servers.set(server.id, server);
      this.#sessions.set(server.id, new Set());
      this.#faults.set(server.id, {
        pick: this.random.fork('fault-pick').fork(server.id),
        params: this.random.fork('fault-params').fork(server.id),
        armed: [],
        pumpArmed: [],
        pumpStalledUntilMs: 0,
        listening: false,
      });
    }
    this.#stepSchedule = this.#schedule(this.plan, 0);
    for (const kind of this.plan.swarmedOff) this.trace.state('cluster', 'swarm.off', kind);
  }

  /**
   * Replaces the fault configuration of a running cluster (the control API): new probabilities, swarm and
   * schedule, planned from a random stream of their own. A schedule's `atStep` counts from the cluster's
   * current request, `atMs` from now. Faults already armed and effects under way are kept. Throws
   * MTP_FAULTS_INVALID (naming the path) for a bad configuration, leaving the old one in place.
   */
  reconfigureFaults(input: FaultConfigInput | Readonly<FaultConfig>): void {
    const config = parseFaultConfig(input);
    const plan = planFaults(config, this.random.fork('faults').fork(`reconfigured-${++this.#reconfigurations}`));
    this.#checkSchedule(plan);
    this.faultConfig = config;
    this.plan = plan;
    this.#faultTable = new FaultTable(plan, ['request', 'server']);
    this.#pumpTable = new FaultTable(plan, ['pump']);
    this.#stepSchedule = this.#schedule(plan, this.step);
    this.trace.state('cluster', 'faults.reconfigured', `${this.#reconfigurations}`);
    for (const kind of plan.swarmedOff) this.trace.state('cluster', 'swarm.off', kind);
  }

  #checkSchedule(plan: FaultPlan): void {
    plan.schedule.forEach((entry, i) => {
      if (!this.servers.has(entry.server)) {
        throw new MtproofError('MTP_FAULTS_INVALID', 'fault schedule names an unknown server', [
          { path: `schedule[${i}].server`, message: `no server "${entry.server}" in the cluster` },
        ]);
      }
    });
  }

  /** Sets the timers of a plan's timed faults and returns its step-triggered ones, in step order. */
  #schedule(plan: FaultPlan, fromStep: number): ScheduledFault[] {
    this.#checkSchedule(plan);
    for (const entry of plan.schedule) {
      if (entry.atMs !== undefined) this.scheduler.after(entry.atMs, () => this.#fireAt(entry));
    }
    return plan.schedule
      .filter((e) => e.atStep !== undefined)
      .map((e) => (fromStep === 0 ? e : { ...e, atStep: (e.atStep as number) + fromStep }))
      .sort((a, b) => (a.atStep as number) - (b.atStep as number));
  }

  /**
   * Switches random faults on or off (a scenario's heal phase). Injected and scheduled faults still fire,
   * and effects under way (a restart's downtime, a lag window, a stall) run their course.
   */
  setRandomFaults(on: boolean): void {
    if (this.#randomFaults === on) return;
    this.#randomFaults = on;
    this.trace.state('cluster', 'faults.random', on ? 'on' : 'off');
  }

  get randomFaults(): boolean {
    return this.#randomFaults;
  }

  server(id: string): SimServer {
    const server = this.servers.get(id);
    if (server === undefined) throw new Error(`cluster: no server ${id}`);
    return server;
  }

  // ---- sessions and the network ----

  /** Opens a TCP session to a server (MT4 Connect, the first half of MT5 Connect). Null when it is down. */
  openSession(serverId: string, clock: Clock): SimSession | null {
    const server = this.server(serverId);
    if (server.isDown()) return null;
    const session = new SimSession(++this.#sessionCount, server, clock);
    (this.#sessions.get(serverId) as Set<SimSession>).add(session);
    // A killed process takes its sockets with it.
    if (clock instanceof Process) session.forgetOwner = clock.onKill(() => this.closeSession(session));
    return session;
  }

  closeSession(session: SimSession): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    session.forgetOwner();
    for (const pump of session.pumps) pump.closed = true;
    session.pumps.clear();
    this.#sessions.get(session.server.id)?.delete(session);
  }

  /**
   * Sends one manager request over the simulated network and applies the faults. `apply` runs the
   * operation on the server (at most once); it may run although the caller never hears the answer.
   * Without a fault or network delay the answer comes back synchronously (no promise, no scheduler
   * turn): that path is the simulator's hot path.
   */
  exchange<T>(session: SimSession, timeoutMs: number, apply: () => T): Exchange<T> | Promise<Exchange<T>> {
    const step = ++this.step;
    if (this.#stepSchedule.length > 0) this.#armByStep(step);
    const server = session.server;
    if (!session.usable || server.isDown()) return NO_CONNECTION;
    const faults = this.#faults.get(server.id) as ServerFaultState;
    let kind: FaultKind | null = null;
    let params: ScheduledFault['params'] = NO_PARAMS;
    const armed = faults.armed.length > 0 ? faults.armed.shift() : undefined;
    if (armed !== undefined) {
      kind = armed.fault;
      params = armed.params;
    } else if (this.#randomFaults && this.#faultTable.total > 0) {
      kind = this.#faultTable.pick(faults.pick.float());
    }
    if (kind !== null && FAULT_SCOPE[kind] !== 'request') {
      this.#fireServerFault(server.id, kind, params);
      kind = null;
    }
    if (kind === null) {
      if (this.baseLatencyMs > 0) return this.#delayed(session, timeoutMs, this.baseLatencyMs, apply);
      return { kind: 'answered', value: apply() };
    }
    return this.#requestFault(session, timeoutMs, apply, kind, params, step);
  }

  #requestFault<T>(
    session: SimSession,
    timeoutMs: number,
    apply: () => T,
    kind: FaultKind,
    params: ScheduledFault['params'],
    step: number,
  ): Exchange<T> | Promise<Exchange<T>> {
    const server = session.server;
    const random = (this.#faults.get(server.id) as ServerFaultState).params;
    switch (kind) {
      case 'timeoutBeforeApply':
        this.trace.fault(server.id, kind, `step ${step}`);
        return session.clock.sleep(timeoutMs).then(() => TIMEOUT);
      case 'timeoutAfterApply':
        this.trace.fault(server.id, kind, `step ${step}`);
        apply();
        return session.clock.sleep(timeoutMs).then(() => TIMEOUT);
      case 'connectionDrop': {
        const applied = boolParam(params, 'applied') ?? random.chance(this.plan.params.inFlightAppliedProbability);
        this.trace.fault(server.id, kind, `step ${step} applied=${applied}`);
        if (applied) apply();
        this.dropSession(session);
        return LOST;
      }
      case 'silentLogout':
        this.trace.fault(server.id, kind, `step ${step} session ${session.id}`);
        session.silentLogout = true;
        return NO_CONNECTION;
      case 'restart': {
        const applied = boolParam(params, 'applied') ?? random.chance(this.plan.params.inFlightAppliedProbability);
        if (applied) apply();
        this.restart(server.id, this.#downtimeMs(params, random), applied);
        return LOST;
      }
      case 'tooFrequent':
        this.trace.fault(server.id, kind, `step ${step}`);
        return TOO_FREQUENT;
      case 'permissionDenied':
        this.trace.fault(server.id, kind, `step ${step}`);
        return NO_RIGHTS;
      case 'latency': {
        const extraMs = numParam(params, 'latencyMs') ?? between(random, this.plan.params.latencyMs);
        this.trace.fault(server.id, kind, `${extraMs}ms`);
        return this.#delayed(session, timeoutMs, this.baseLatencyMs + extraMs, apply);
      }
      default:
        throw new Error(`cluster: ${kind} is not a request fault`);
    }
  }

  /**
   * A request that takes `delayMs` on the wire: it reaches the server half-way (on the server's own
   * time, so a caller that dies meanwhile does not stop it being applied) and the answer comes back in the
   * other half, unless the caller's timeout comes first.
   */
  #delayed<T>(session: SimSession, timeoutMs: number, delayMs: number, apply: () => T): Promise<Exchange<T>> {
    const arriveMs = Math.floor(delayMs / 2);
    let arrived: { value: T } | null = null;
    if (arriveMs < timeoutMs) {
      this.scheduler.after(arriveMs, () => {
        // A request written before its caller closed the socket (or died: the kernel flushes what was
        // written) still arrives; one on a connection that broke (dropped) does not.
        if (session.state !== 'dropped' && !session.server.isDown()) arrived = { value: apply() };
      });
    }
    if (delayMs >= timeoutMs) return session.clock.sleep(timeoutMs).then(() => TIMEOUT);
    return session.clock.sleep(delayMs).then((): Exchange<T> => {
      const answer = arrived as { value: T } | null;
      if (answer === null || session.state !== 'open') return LOST;
      return { kind: 'answered', value: answer.value };
    });
  }

  /** Drops a session as a broken connection does: its pumps receive a stop notice. */
  dropSession(session: SimSession): void {
    if (session.state !== 'open') return;
    session.state = 'dropped';
    this.#sessions.get(session.server.id)?.delete(session);
    this.trace.state(session.server.id, 'session.dropped', String(session.id));
    for (const pump of session.pumps) {
      pump.queue.push({ type: 'stopped' });
      this.#scheduleFlush(pump);
    }
  }

  /** Restarts a server: every session dropped, down for `downtimeMs`, state kept. */
  restart(serverId: string, downtimeMs: number, inFlightApplied?: boolean): void {
    const server = this.server(serverId);
    const detail = `down ${downtimeMs}ms${inFlightApplied === undefined ? '' : ` applied=${inFlightApplied}`}`;
    this.trace.fault(serverId, 'restart', detail);
    for (const session of [...(this.#sessions.get(serverId) as Set<SimSession>)]) this.dropSession(session);
    server.downUntilMs = Math.max(server.downUntilMs, this.scheduler.nowMs() + downtimeMs);
    this.scheduler.after(downtimeMs, () => {
      if (!server.isDown()) this.trace.state(serverId, 'server.up');
    });
  }

  // ---- faults ----

  /**
   * Fires a server fault now, or arms a request fault for the next request to the server. This is how
   * scenarios and the control API inject faults by hand; `params` override the random choices.
   */
  inject(serverId: string, fault: FaultKind, params: ScheduledFault['params'] = {}): void {
    this.server(serverId);
    checkFaultParams(fault, params);
    this.#arm({ server: serverId, fault, params });
  }

  #armByStep(step: number): void {
    while (this.#stepSchedule.length > 0 && ((this.#stepSchedule[0] as ScheduledFault).atStep as number) <= step) {
      this.#arm(this.#stepSchedule.shift() as ScheduledFault);
    }
  }

  #arm(entry: Pick<ScheduledFault, 'server' | 'fault' | 'params'>): void {
    const state = this.#faults.get(entry.server) as ServerFaultState;
    if (FAULT_SCOPE[entry.fault] === 'request') state.armed.push(entry as ScheduledFault);
    else if (FAULT_SCOPE[entry.fault] === 'server') this.#fireServerFault(entry.server, entry.fault, entry.params);
    else state.pumpArmed.push(entry.fault);
  }

  /**
   * A fault scheduled at a virtual time. Faults that hit the server itself (restart, a dropped or
   * silently logged-out connection) happen at that time, whether or not a request is in flight; faults
   * that shape one answer (timeouts, latency, refusals) wait for the server's next request.
   */
  #fireAt(entry: ScheduledFault): void {
    const random = (this.#faults.get(entry.server) as ServerFaultState).params;
    switch (entry.fault) {
      case 'restart':
        this.restart(entry.server, this.#downtimeMs(entry.params, random));
        return;
      case 'connectionDrop':
        this.trace.fault(entry.server, 'connectionDrop', 'all sessions');
        for (const session of this.sessions(entry.server)) this.dropSession(session);
        return;
      case 'silentLogout':
        this.trace.fault(entry.server, 'silentLogout', 'all sessions');
        for (const session of this.sessions(entry.server)) session.silentLogout = true;
        return;
      default:
        this.#arm(entry);
    }
  }

  /** A restart's downtime: the one given, or drawn from the configured range. */
  #downtimeMs(params: ScheduledFault['params'], random: Random): number {
    return numParam(params, 'downtimeMs') ?? between(random, this.plan.params.restartDowntimeMs);
  }

  #fireServerFault(serverId: string, kind: FaultKind, params: ScheduledFault['params']): void {
    const server = this.server(serverId);
    const state = this.#faults.get(serverId) as ServerFaultState;
    const random = state.params;
    const p = this.plan.params;
    const now = this.scheduler.nowMs();
    switch (kind) {
      case 'historyLag': {
        const lagMs = numParam(params, 'lagMs') ?? between(random, p.historyLagMs);
        const windowMs = numParam(params, 'windowMs') ?? between(random, p.historyLagWindowMs);
        server.historyLagMs = lagMs;
        server.historyLagUntilMs = now + windowMs;
        this.trace.fault(serverId, kind, `lag ${lagMs}ms for ${windowMs}ms`);
        return;
      }
      case 'pumpStall': {
        const stallMs = numParam(params, 'stallMs') ?? between(random, p.pumpStallMs);
        state.pumpStalledUntilMs = now + stallMs;
        this.trace.fault(serverId, kind, `${stallMs}ms`);
        return;
      }
      case 'clockSkew': {
        const skewMs = numParam(params, 'skewMs') ?? between(random, p.clockSkewMs) * (random.chance(0.5) ? 1 : -1);
        server.clockSkewMs += skewMs;
        this.trace.fault(serverId, kind, `${skewMs}ms`);
        return;
      }
      case 'timezoneShift': {
        const shiftMin = numParam(params, 'shiftMin') ?? p.timezoneShiftMin * (random.chance(0.5) ? 1 : -1);
        server.timezoneOffsetMin += shiftMin;
        this.trace.fault(serverId, kind, `${shiftMin}min`);
        return;
      }
      case 'dealerBalanceEdit':
      case 'dealerGroupChange':
      case 'dealerDisable':
      case 'dealerLeverageChange':
        this.#randomDealerEdit(serverId, kind, params);
        return;
      default:
        throw new Error(`cluster: ${kind} is not a server fault`);
    }
  }

  #randomDealerEdit(serverId: string, kind: FaultKind, params: ScheduledFault['params']): void {
    const server = this.server(serverId);
    const random = this.#dealerRandom;
    let login = numParam(params, 'login');
    if (login === undefined) {
      if (server.accounts.size === 0) {
        this.trace.fault(serverId, kind, 'no account to edit');
        return;
      }
      // Pick by index over insertion order: deterministic and O(n) only when the fault fires.
      const index = random.int(0, server.accounts.size - 1);
      let i = 0;
      for (const key of server.accounts.keys()) {
        if (i++ === index) {
          login = key;
          break;
        }
      }
    }
    const account = server.accounts.get(login as number);
    if (account === undefined) {
      this.trace.fault(serverId, kind, `no account ${login}`);
      return;
    }
    const dealer = this.dealer(serverId);
    switch (kind) {
      case 'dealerBalanceEdit': {
        let amountCents = numParam(params, 'amountCents') ?? between(random, this.plan.params.dealerAmountCents);
        if (
          numParam(params, 'amountCents') === undefined &&
          random.chance(0.4) &&
          account.balanceCents >= amountCents
        ) {
          amountCents = -amountCents;
        }
        const comment = strParam(params, 'comment') ?? random.pick(DEALER_COMMENTS);
        dealer.balanceCorrection(account.login, amountCents, comment);
        return;
      }
      case 'dealerGroupChange': {
        const others = [...server.groups.keys()].filter((g) => g !== account.group);
        const group = strParam(params, 'group') ?? (others.length > 0 ? random.pick(others) : undefined);
        if (group === undefined) this.trace.fault(serverId, kind, `${account.login}: no other group`);
        else dealer.changeGroup(account.login, group);
        return;
      }
      case 'dealerDisable':
        dealer.disable(account.login);
        return;
      case 'dealerLeverageChange': {
        const choices = [10, 20, 30, 50, 100, 200, 300, 500].filter((l) => l !== account.leverage);
        dealer.setLeverage(account.login, numParam(params, 'leverage') ?? random.pick(choices));
        return;
      }
    }
  }

  // ---- the actors outside the Manager API ----

  /** A dealer editing accounts by hand in the administrator terminal. Each edit is a traced fault. */
  dealer(serverId: string): Dealer {
    return new Dealer(this, this.server(serverId));
  }

  /** A client trading in the terminal: opens and closes positions at the price walk's prices. */
  client(serverId: string): TradingClient {
    return new TradingClient(this, this.server(serverId));
  }

  // ---- pumping ----

  subscribe(session: SimSession, listener: (message: PumpMessage) => void): PumpSubscription {
    const pump = new PumpSubscription(session, listener);
    session.pumps.add(pump);
    const state = this.#faults.get(session.server.id) as ServerFaultState;
    if (!state.listening) {
      session.server.subscribe((event) => this.#onServerEvent(session.server.id, event));
      state.listening = true;
    }
    return pump;
  }

  unsubscribe(pump: PumpSubscription): void {
    pump.closed = true;
    pump.session.pumps.delete(pump);
  }

  #onServerEvent(serverId: string, event: ServerEvent): void {
    const state = this.#faults.get(serverId) as ServerFaultState;
    const stalled = this.scheduler.nowMs() < state.pumpStalledUntilMs;
    for (const session of this.#sessions.get(serverId) as Set<SimSession>) {
      // A silently logged-out session is not told anything: its pump just goes quiet.
      if (session.state !== 'open' || session.silentLogout) continue;
      for (const pump of session.pumps) {
        if (pump.closed) continue;
        if (stalled) {
          this.trace.state(serverId, 'pump.lost', `${event.type}#${event.seq}`);
          continue;
        }
        this.#enqueue(serverId, pump, event);
      }
    }
  }

  #enqueue(serverId: string, pump: PumpSubscription, event: ServerEvent): void {
    const pumpArmed = (this.#faults.get(serverId) as ServerFaultState).pumpArmed;
    // An armed reorder waits while another event is held back: it applies to the next free one.
    const armed = pump.held !== null && pumpArmed[0] === 'pumpReorder' ? undefined : pumpArmed.shift();
    // One draw per event, used or not: arming a fault by hand or switching random faults off shifts no later draw.
    const u = this.#pumpFaults.float();
    const picked = armed === undefined && this.#randomFaults ? this.#pumpTable.pick(u) : null;
    const duplicate = armed === 'pumpDuplicate' || picked === 'pumpDuplicate';
    const reorder = armed === 'pumpReorder' || picked === 'pumpReorder';
    if (pump.held !== null) {
      // The held event goes after this one: that is the reordering.
      pump.queue.push(event, pump.held);
      pump.held = null;
    } else if (reorder) {
      this.trace.fault(serverId, 'pumpReorder', `${event.type}#${event.seq}`);
      pump.held = event;
      this.#releaseHeldLater(pump, event);
    } else {
      pump.queue.push(event);
    }
    if (duplicate) {
      this.trace.fault(serverId, 'pumpDuplicate', `${event.type}#${event.seq}`);
      pump.queue.push(event);
    }
    if (pump.queue.length > 0) this.#scheduleFlush(pump);
  }

  /** A held event with nothing after it within the reorder window goes out alone, late but not lost. */
  #releaseHeldLater(pump: PumpSubscription, event: ServerEvent): void {
    const owner = pump.session.clock instanceof Process ? pump.session.clock : null;
    this.scheduler.after(
      this.plan.params.pumpReorderWindowMs,
      () => {
        if (pump.held !== event) return;
        pump.held = null;
        pump.queue.push(event);
        this.#scheduleFlush(pump);
      },
      owner,
    );
  }

  /**
   * Pumped events go out on one delivery timer per instant for the whole cluster. Listeners are called
   * synchronously from it, and a pump whose owning process has died by the time its turn comes is skipped.
   */
  #scheduleFlush(pump: PumpSubscription): void {
    if (pump.flushing) return;
    pump.flushing = true;
    this.#pendingPumps.push(pump);
    if (this.#deliveryScheduled) return;
    this.#deliveryScheduled = true;
    this.scheduler.after(0, () => {
      this.#deliveryScheduled = false;
      const pumps = this.#pendingPumps;
      this.#pendingPumps = [];
      for (const p of pumps) {
        p.flushing = false;
        const owner = p.session.clock;
        if (p.closed || (owner instanceof Process && !owner.alive)) continue;
        const batch = p.queue;
        p.queue = [];
        for (const message of batch) {
          if (p.closed) break;
          p.listener(message);
          if (message.type === 'stopped') p.closed = true;
        }
      }
    });
  }

  /** Sessions open on a server, a silently logged-out one included (for tests and the control API). */
  sessions(serverId: string): readonly SimSession[] {
    return [...(this.#sessions.get(serverId) ?? [])];
  }
}

const DEALER_COMMENTS = [
  'correction',
  'Compensation',
  'adj by dealer',
  '',
  'Deposit',
  'bonus reversal',
  'DP-7Q2K9',
  'Withdrawal',
] as const;

export class Dealer {
  readonly #cluster: SimCluster;
  readonly #server: SimServer;

  constructor(cluster: SimCluster, server: SimServer) {
    this.#cluster = cluster;
    this.#server = server;
  }

  /** A balance correction typed in by hand (MT4 OP_BALANCE, MT5 DEAL_CORRECTION). */
  balanceCorrection(login: number, amountCents: number, comment: string): Op<unknown> {
    const type = this.#server.platform === 'mt5' ? MT5_DEAL_ACTION.DEAL_CORRECTION : MT4_OP.OP_BALANCE;
    const result = this.#server.postBalance(login, 'balance', amountCents, comment, type, { by: 'dealer' });
    this.#trace('dealerBalanceEdit', `${login} ${amountCents} "${comment}"`, result);
    return result;
  }

  /** Credit given or taken back by hand (MT4 OP_CREDIT, MT5 DEAL_CREDIT). */
  creditEdit(login: number, amountCents: number, comment: string): Op<unknown> {
    const type = this.#server.platform === 'mt5' ? MT5_DEAL_ACTION.DEAL_CREDIT : MT4_OP.OP_CREDIT;
    const result = this.#server.postBalance(login, 'credit', amountCents, comment, type, { by: 'dealer' });
    this.#trace('dealerBalanceEdit', `${login} credit ${amountCents} "${comment}"`, result);
    return result;
  }

  changeGroup(login: number, group: string): Op<SimAccount> {
    const result = this.#server.updateAccount(login, { group });
    this.#trace('dealerGroupChange', `${login} -> ${group}`, result);
    return result;
  }

  disable(login: number): Op<SimAccount> {
    const result = this.#server.updateAccount(login, { enabled: false });
    this.#trace('dealerDisable', String(login), result);
    return result;
  }

  setLeverage(login: number, leverage: number): Op<SimAccount> {
    const result = this.#server.updateAccount(login, { leverage });
    this.#trace('dealerLeverageChange', `${login} 1:${leverage}`, result);
    return result;
  }

  #trace(kind: FaultKind, detail: string, result: Op<unknown>): void {
    this.#cluster.trace.fault(this.#server.id, kind, result.ok ? detail : `${detail} refused ${result.fail}`);
  }
}

export class TradingClient {
  readonly #cluster: SimCluster;
  readonly #server: SimServer;

  constructor(cluster: SimCluster, server: SimServer) {
    this.#cluster = cluster;
    this.#server = server;
  }

  open(login: number, symbol: string, side: Side, volume: number): Op<{ ticket: number }> {
    const result = this.#server.openTrade(login, symbol, side, volume);
    this.#cluster.trace.state(
      this.#server.id,
      'trade.open',
      result.ok ? `${login} #${result.value.ticket}` : failText(result.fail),
    );
    return result.ok ? { ok: true, value: { ticket: result.value.ticket } } : result;
  }

  close(ticket: number): Op<{ profitCents: number }> {
    const result = this.#server.closeTrade(ticket);
    this.#cluster.trace.state(
      this.#server.id,
      'trade.close',
      result.ok ? `#${ticket} ${result.value.profitCents}` : failText(result.fail),
    );
    return result.ok ? { ok: true, value: { profitCents: result.value.profitCents } } : result;
  }
}

function failText(fail: Fail): string {
  return `refused ${fail}`;
}

function between(random: Random, [min, max]: readonly [number, number]): number {
  return random.int(Math.round(min), Math.round(max));
}

function numParam(params: ScheduledFault['params'], name: string): number | undefined {
  const v = params[name];
  return typeof v === 'number' ? v : undefined;
}

function strParam(params: ScheduledFault['params'], name: string): string | undefined {
  const v = params[name];
  return typeof v === 'string' ? v : undefined;
}

function boolParam(params: ScheduledFault['params'], name: string): boolean | undefined {
  const v = params[name];
  return typeof v === 'boolean' ? v : undefined;
}
