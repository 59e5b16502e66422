import type { Result } from '../adapters/port/manager-api.ts';
import { createSimManagerApi } from '../adapters/sim/index.ts';
import { MtproofError } from '../kit/errors.ts';
import { Random } from '../kit/random.ts';
import type { Process, Scheduler } from '../kit/scheduler.ts';
import type { BrokerConfig } from '../service/config.ts';
import { parseBrokerConfig } from '../service/config.ts';
import type { PspRecord } from '../service/psp/port.ts';
import { SimulatedPsp } from '../service/psp/simulated.ts';
import { type ClusterConfigInput, type ServerEvent, SimCluster } from '../simulator/index.ts';
import { ArmedFaults, type ManagerCall } from './armed-faults.ts';
import type { Answer, Integration, IntegrationFactory, IntegrationRuntime, ReconciliationView } from './integration.ts';
import { checkInvariants } from './invariants/index.ts';
import type { ClientRecord, Observation, OpenRequest, ServerTruth, WebhookRecord } from './observation.ts';
import type { InvariantResult, RunReport, SeriesPoint, TimelineEntry } from './result.ts';
import type { Script, Step } from './script.ts';

/**
 * Runs one scenario script against the simulated cluster and an integration, in virtual time.
 *
 * Safety phase: the steps, with the script's random faults on (and its scripted ones). Heal phase: random
 * faults off, the integration running, until everything it accepted is settled or `heal.deadlineMs`
 * passes; then the reconciliation settle time, a final reconciliation, and the invariants, judged from
 * the simulator's ground truth against what the integration says it did.
 *
 * The harness plays the CRM and the payment provider: each command waits for its answer up to
 * `answerTimeoutMs`; a deposit webhook that got no answer is delivered again (every minute, five times)
 * once the integration is up, as providers do.
 */

export interface RunScriptOptions {
  factory: IntegrationFactory;
  /** The config certified (a script's own `config` takes its place). */
  config: Readonly<BrokerConfig>;
  /** The cluster layout (a script's own `cluster` takes its place); the embedded default when absent. */
  cluster?: ClusterConfigInput;
  /** Manager passwords by environment-variable name; absent: `Manager#1` for every server. */
  secrets?: Readonly<Record<string, string>>;
  /** Keep the per-account timeline and the chart series (a report needs them; a bulk run may not). */
  detail?: boolean;
  /** Network delay of every answer, so that a crash can fall between a send and its answer. */
  baseLatencyMs?: number;
}

export interface RunOutcome {
  report: RunReport;
  observation: Observation;
}

const WEBHOOK_RETRY_MS = 60_000;
const WEBHOOK_ATTEMPTS = 5;
const HEAL_POLL_MS = 30_000;
const FINAL_RECONCILE_TIMEOUT_MS = 3_600_000;
const SUPERVISOR_RESTART_MS = 5_000;

export async function runScript(script: Script, options: RunScriptOptions): Promise<RunOutcome> {
  return new ScenarioRunner(script, options).run();
}

type Asked<T> = { kind: 'value'; value: T } | { kind: 'no-answer'; why: string } | { kind: 'threw'; error: string };
type Outcome<T> =
  | { kind: 'answer'; answer: Answer<T> }
  | { kind: 'no-answer'; why: string }
  | { kind: 'threw'; error: string };

class ScenarioRunner {
  readonly #script: Script;
  readonly #options: RunScriptOptions;
  readonly #config: Readonly<BrokerConfig>;
  readonly #cluster: SimCluster;
  readonly #scheduler: Scheduler;
  readonly #psp: SimulatedPsp;
  readonly #integration: Integration;
  readonly #random: Random;
  readonly #detail: boolean;
  readonly #startMs: number;
  /** One-shot faults of `fault` steps with an `op`, fired on the integration's next call of it. */
  readonly #armed: ArmedFaults;

  #process: Process | null = null;
  #incarnations = 0;
  #restartAtMs: number | null = null;

  readonly #clients = new Map<string, ClientRecord>();
  readonly #accounts = new Map<string, OpenRequest>();
  readonly #trades = new Map<string, { serverId: string; ticket: number; account: string }>();
  readonly #webhooks: WebhookRecord[] = [];
  readonly #logs: string[] = [];
  readonly #timeline: TimelineEntry[] = [];
  readonly #faultSeries: SeriesPoint[] = [];
  readonly #opSeries: SeriesPoint[] = [];
  readonly #managerCalls: Record<string, Record<string, number>> = {};
  readonly #thrown: string[] = [];
  readonly #crashes: number[] = [];
  readonly #dealerGroupChanged = new Set<string>();
  readonly #postedComments = new Map<string, number>();
  #commands = 0;
  #skipped = 0;
  #pspSeq = 0;

  constructor(script: Script, options: RunScriptOptions) {
    this.#script = script;
    this.#options = options;
    this.#config = script.config === undefined ? options.config : parseBrokerConfig(script.config);
    this.#detail = options.detail ?? true;
    this.#cluster = new SimCluster({
      seed: script.seed,
      config: (script.cluster as ClusterConfigInput | undefined) ?? options.cluster,
      faults: script.faults ?? { intensity: 0, swarm: false },
      baseLatencyMs: options.baseLatencyMs ?? 2,
      trace: this.#detail
        ? { onFault: (e) => this.#faultSeries.push({ atMs: e.atMs, serverId: e.where, name: e.name }) }
        : {},
    });
    this.#scheduler = this.#cluster.scheduler;
    this.#armed = new ArmedFaults(this.#cluster);
    this.#startMs = this.#scheduler.nowMs();
    this.#psp = new SimulatedPsp(this.#scheduler.clock);
    this.#random = new Random(script.seed).fork('harness');
    for (const server of this.#config.servers) {
      if (!this.#cluster.servers.has(server.id)) {
        throw new MtproofError(
          'MTP_CONFIG_INVALID',
          `the broker config names server ${server.id}, which the cluster does not have`,
        );
      }
    }
    this.#integration = options.factory({ config: deployed(this.#config, script), seed: script.seed });
    if (this.#detail) {
      for (const server of this.#cluster.servers.values()) {
        server.subscribe((event) => this.#onServerEvent(server.id, event));
      }
    }
  }

  async run(): Promise<RunOutcome> {
    const wallStart = performance.now();
    this.#note('phase', 'safety phase: steps with faults');
    let observation: Observation;
    try {
      this.#start();
      await this.#settle(0);
      for (const step of this.#script.steps) {
        await this.#deliverDueWebhooks();
        await this.#step(step);
      }
      await this.#heal();
      observation = await this.#observe();
    } finally {
      // The run is over: what the integration opened for it (a database store) is released.
      await this.#integration.close?.();
    }
    const results = checkInvariants(observation);
    const report = this.#report(results, observation, performance.now() - wallStart);
    return { report, observation };
  }

  // ---- the integration's life ----

  get #running(): boolean {
    return this.#process?.alive === true;
  }

  #start(): void {
    const incarnation = ++this.#incarnations;
    this.#restartAtMs = null;
    const random = this.#random.fork('integration').fork(`run${incarnation}`);
    const proc = this.#scheduler.spawn(`integration#${incarnation}`, async (p) => {
      try {
        await this.#integration.run(this.#runtime(p, random));
        this.#fail(p, 'its run() returned while the harness had not stopped it');
      } catch (error) {
        this.#fail(p, `its run() failed: ${describe(error)}`);
      }
    });
    this.#process = proc;
    if (incarnation > 1) this.#note('restart', `integration started again (incarnation ${incarnation})`);
  }

  /** The integration's process ended by itself: a supervisor would start it again. */
  #fail(p: Process, why: string): void {
    if (this.#process !== p) return;
    this.#thrown.push(why);
    this.#note('crash', `integration stopped: ${why}`);
    p.kill();
    this.#scheduleRestart(SUPERVISOR_RESTART_MS);
  }

  #crash(restartAfterMs: number): void {
    if (!this.#running) {
      this.#skip('crash', 'the integration is already down');
      return;
    }
    this.#process?.kill();
    this.#crashes.push(this.#scheduler.nowMs());
    this.#note('crash', `integration killed; restart in ${restartAfterMs} ms`);
    this.#scheduleRestart(restartAfterMs);
  }

  #scheduleRestart(afterMs: number): void {
    const at = this.#scheduler.nowMs() + afterMs;
    this.#restartAtMs = at;
    this.#scheduler.after(afterMs, () => {
      if (this.#restartAtMs === at && !this.#running) this.#start();
    });
  }

  #runtime(proc: Process, random: Random): IntegrationRuntime {
    const secrets = this.#options.secrets;
    return {
      clock: proc,
      random,
      manager: (serverId) => {
        const server = this.#config.servers.find((s) => s.id === serverId);
        if (server === undefined) throw new Error(`harness: no server "${serverId}" in the broker config`);
        const api = createSimManagerApi(this.#cluster, serverId, { clock: proc, timeoutMs: server.timeoutMs });
        // Scripted one-shot faults fire on the integration's calls; every call is recorded for the report.
        return this.#armed.wrap(api, (call) => this.#onCall(call));
      },
      secret: (name) => (secrets === undefined ? 'Manager#1' : secrets[name]),
      payments: this.#psp,
      log: (line) => {
        this.#logs.push(String(line));
      },
    };
  }

  /** An operation's answer is recorded once it comes, for the stats, the charts and the timeline. */
  #onCall({ serverId, op, args, out }: ManagerCall): void {
    if (!(out instanceof Promise) || op === 'close') return;
    const sentMs = this.#scheduler.nowMs();
    out.then((result: Result<unknown>) => this.#recordCall(serverId, op, args, result, sentMs));
  }

  #recordCall(serverId: string, op: string, args: unknown[], result: Result<unknown>, sentMs: number): void {
    const outcome = result.ok ? 'ok' : result.error.outcome;
    const byOp = this.#managerCalls[op] ?? {};
    byOp[outcome] = (byOp[outcome] ?? 0) + 1;
    this.#managerCalls[op] = byOp;
    if (!this.#detail) return;
    this.#opSeries.push({ atMs: sentMs, serverId, name: op, outcome });
    const login = loginOf(op, args);
    if (login === undefined) return;
    if (op === 'postBalance') {
      const request = args[0] as { amountCents: number; kind: string; comment: string };
      const key = `${serverId}:${login}:${request.comment}`;
      const seen = this.#postedComments.get(key) ?? 0;
      this.#postedComments.set(key, seen + 1);
      const what = `postBalance ${request.kind} ${request.amountCents} "${request.comment}"`;
      if (seen > 0) this.#entry({ atMs: sentMs, kind: 'retry', text: `sent again: ${what}`, serverId, login });
      const answer = result.ok ? 'ok' : `${result.error.outcome} (${result.error.codeName})`;
      this.#entry({
        atMs: this.#scheduler.nowMs(),
        kind: outcome === 'unknown' ? 'lost-answer' : 'call',
        text: outcome === 'unknown' ? `${what}: no answer (${answer})` : `${what}: ${answer}`,
        serverId,
        login,
      });
    } else if (op === 'balanceHistory' || op === 'marginLevel' || op === 'createAccount') {
      const answer = result.ok ? 'ok' : `${result.error.outcome} (${result.error.codeName})`;
      this.#entry({ atMs: sentMs, kind: 'call', text: `${op}: ${answer}`, serverId, login });
    }
  }

  #onServerEvent(serverId: string, event: ServerEvent): void {
    if (event.type !== 'balance') return;
    const op = event.op;
    this.#entry({
      atMs: op.atMs,
      kind: 'server-op',
      text: `${op.actor.by} ${op.kind} ${op.amountCents} "${op.comment}" applied, ticket ${op.ticket}`,
      serverId,
      login: op.login,
    });
  }

  // ---- commands (the CRM and the provider) ----

  /** Runs `call` as the CRM would: in its own process, waiting for the answer up to `timeoutMs`. */
  async #ask<T>(what: string, call: (i: Integration) => Promise<T>, timeoutMs: number): Promise<Asked<T>> {
    if (!this.#running) return { kind: 'no-answer', why: 'the integration is down' };
    let out: { value: T } | { error: unknown } | undefined;
    this.#scheduler.spawn(`crm:${what}`, async () => {
      try {
        out = { value: await call(this.#integration) };
      } catch (error) {
        out = { error };
      }
    });
    const untilMs = this.#scheduler.nowMs() + timeoutMs;
    await this.#settle(untilMs, () => out !== undefined);
    if (out === undefined) return { kind: 'no-answer', why: `no answer within ${timeoutMs} ms` };
    if ('error' in out) {
      const error = `${what} threw: ${describe(out.error)}`;
      this.#thrown.push(error);
      return { kind: 'threw', error };
    }
    return { kind: 'value', value: out.value };
  }

  async #command<T>(
    what: string,
    account: string | undefined,
    call: (i: Integration) => Promise<Answer<T>>,
    timeoutMs = this.#script.answerTimeoutMs,
  ): Promise<Outcome<T>> {
    this.#commands++;
    this.#entry({ atMs: this.#scheduler.nowMs(), kind: 'request', text: what, account });
    const asked = await this.#ask(what, call, timeoutMs);
    const outcome: Outcome<T> = asked.kind === 'value' ? { kind: 'answer', answer: asked.value } : asked;
    // The harness's side of the run goes into the trace too: a replay must also reproduce every answer.
    this.#cluster.trace.state(
      'crm',
      what,
      outcome.kind === 'answer'
        ? outcome.answer.ok
          ? `ok ${brief(outcome.answer.value)}`
          : `refused ${outcome.answer.code}`
        : outcome.kind,
    );
    const atMs = this.#scheduler.nowMs();
    if (outcome.kind === 'answer') {
      const a = outcome.answer;
      this.#entry({
        atMs,
        kind: 'answer',
        text: a.ok ? `${what}: ok ${brief(a.value)}` : `${what}: refused ${a.code}: ${a.message}`,
        account,
      });
    } else {
      const why = outcome.kind === 'threw' ? outcome.error : outcome.why;
      this.#entry({ atMs, kind: 'no-answer', text: `${what}: ${why}`, account });
    }
    return outcome;
  }

  /**
   * Where the script's account `id` is open, as the integration says now (the client and the dealer act on
   * the server, and only the integration knows where it put the account), or why it cannot be acted on.
   * Asked afresh at every step, not remembered: asking is also a turn of the scheduler in which the
   * integration's work of this instant runs before the client or the dealer acts; skipping it would reorder
   * them, and change the trace of every run that has such a step.
   */
  async #openAccount(id: string): Promise<{ serverId: string; login: number } | string> {
    const request = this.#accounts.get(id);
    if (request?.accountId === undefined) return `account ${id} was never accepted`;
    if (!this.#running) return 'the integration is down';
    const views = await this.#ask('accounts', (i) => i.accounts(), this.#script.answerTimeoutMs);
    const view = views.kind === 'value' ? views.value.find((a) => a.accountId === request.accountId) : undefined;
    if (view === undefined || view.status !== 'open' || view.serverId === null || view.login === null) {
      return `account ${id} is not open (${view?.status ?? 'unknown to the integration'})`;
    }
    if (!this.#cluster.servers.has(view.serverId)) return `account ${id} is on an unknown server ${view.serverId}`;
    return { serverId: view.serverId, login: view.login };
  }

  // ---- steps ----

  async #step(step: Step): Promise<void> {
    const now = this.#scheduler.nowMs();
    switch (step.do) {
      case 'client': {
        if (this.#clients.has(step.id)) return this.#skip(step.do, `client ${step.id} exists`);
        const name = step.name ?? `Client ${step.id}`;
        const email = step.email ?? `${step.id.toLowerCase()}@example.com`;
        const record: ClientRecord = { id: step.id, country: step.country, clientId: undefined, kyc: [] };
        this.#clients.set(step.id, record);
        const out = await this.#command(`register client ${step.id} (${step.country})`, undefined, (i) =>
          i.registerClient({ externalId: step.id, name, email, country: step.country }),
        );
        if (out.kind === 'answer' && out.answer.ok) record.clientId = out.answer.value.clientId;
        return;
      }
      case 'kyc': {
        const client = this.#clients.get(step.client);
        if (client?.clientId === undefined) return this.#skip(step.do, `client ${step.client} is not registered`);
        const clientId = client.clientId;
        const out = await this.#command(`KYC ${step.client} ${step.decision}`, undefined, (i) =>
          i.setKyc(clientId, step.decision),
        );
        if (out.kind === 'answer' && out.answer.ok) client.kyc.push({ atMs: now, decision: step.decision });
        else if (out.kind !== 'answer') client.kyc.push({ atMs: now, decision: step.decision, unanswered: true });
        return;
      }
      case 'open': {
        const client = this.#clients.get(step.client);
        if (client?.clientId === undefined) return this.#skip(step.do, `client ${step.client} is not registered`);
        if (this.#accounts.has(step.id)) return this.#skip(step.do, `account ${step.id} exists`);
        const clientId = client.clientId;
        const request: OpenRequest = {
          id: step.id,
          client: step.client,
          productId: step.product,
          requestedMs: now,
          kycAtRequest: kycAt(client, now),
          accountId: undefined,
          refused: undefined,
        };
        this.#accounts.set(step.id, request);
        const out = await this.#command(`open ${step.product} for ${step.client}`, step.id, (i) =>
          i.openAccount({ clientId, productId: step.product }),
        );
        if (out.kind === 'answer') {
          if (out.answer.ok) request.accountId = out.answer.value.accountId;
          else request.refused = out.answer.code;
        }
        return;
      }
      case 'deposit': {
        const request = this.#accounts.get(step.account);
        if (request?.accountId === undefined) return this.#skip(step.do, `account ${step.account} was never accepted`);
        const product = this.#config.products.find((p) => p.id === request.productId);
        const currency = step.currency ?? product?.currency ?? 'USD';
        const pspRef = step.pspRef ?? `PSP-${this.#script.seed}-${++this.#pspSeq}`.slice(0, 64);
        let record: PspRecord;
        try {
          record = this.#psp.confirmDeposit({
            amountCents: step.amountCents,
            currency,
            pspRef,
            reference: step.account,
          });
        } catch (error) {
          return this.#skip(step.do, `the provider refused it: ${describe(error)}`);
        }
        const webhook: WebhookRecord = {
          pspRef: record.pspRef,
          account: step.account,
          accountId: request.accountId,
          amountCents: step.amountCents,
          currency,
          confirmedMs: now,
          mode: step.webhook,
          deliveries: 0,
          answered: undefined,
          nextMs: step.webhook === 'lost' ? null : now,
        };
        this.#webhooks.push(webhook);
        this.#entry({
          atMs: now,
          kind: 'step',
          text: `provider confirmed deposit ${record.pspRef} of ${step.amountCents} ${currency}${step.webhook === 'lost' ? ' (webhook lost)' : ''}`,
          account: step.account,
        });
        if (step.webhook !== 'lost') await this.#deliver(webhook);
        if (step.webhook === 'twice' && webhook.answered !== undefined) await this.#deliver(webhook, true);
        return;
      }
      case 'withdraw':
      case 'credit': {
        const request = this.#accounts.get(step.account);
        if (request?.accountId === undefined) return this.#skip(step.do, `account ${step.account} was never accepted`);
        const accountId = request.accountId;
        const product = this.#config.products.find((p) => p.id === request.productId);
        const input = { accountId, amountCents: step.amountCents, currency: product?.currency ?? 'USD' };
        await this.#command(`${step.do} ${step.amountCents}`, step.account, (i) =>
          step.do === 'withdraw' ? i.withdraw(input) : i.credit(input),
        );
        return;
      }
      case 'trade-open': {
        if (this.#trades.has(step.id)) return this.#skip(step.do, `trade ${step.id} exists`);
        const at = await this.#openAccount(step.account);
        if (typeof at === 'string') return this.#skip(step.do, at);
        const opened = this.#cluster.client(at.serverId).open(at.login, step.symbol, step.side, step.volume);
        if (!opened.ok) return this.#skip(step.do, `the server refused it: ${opened.fail} ${opened.detail}`);
        this.#trades.set(step.id, { serverId: at.serverId, ticket: opened.value.ticket, account: step.account });
        this.#entry({
          atMs: now,
          kind: 'step',
          text: `client opened ${step.side} ${step.volume} ${step.symbol}, ticket ${opened.value.ticket}`,
          account: step.account,
          serverId: at.serverId,
          login: at.login,
        });
        return;
      }
      case 'trade-close': {
        const trade = this.#trades.get(step.trade);
        if (trade === undefined) return this.#skip(step.do, `trade ${step.trade} was never opened`);
        const closed = this.#cluster.client(trade.serverId).close(trade.ticket);
        if (!closed.ok) return this.#skip(step.do, `the server refused it: ${closed.fail} ${closed.detail}`);
        this.#entry({
          atMs: now,
          kind: 'step',
          text: `client closed ticket ${trade.ticket}: ${closed.value.profitCents}`,
          account: trade.account,
        });
        return;
      }
      case 'dealer-balance':
      case 'dealer-credit':
      case 'dealer-group': {
        const at = await this.#openAccount(step.account);
        if (typeof at === 'string') return this.#skip(step.do, at);
        const dealer = this.#cluster.dealer(at.serverId);
        const done =
          step.do === 'dealer-balance'
            ? dealer.balanceCorrection(at.login, step.amountCents, step.comment)
            : step.do === 'dealer-credit'
              ? dealer.creditEdit(at.login, step.amountCents, step.comment)
              : dealer.changeGroup(at.login, step.group);
        if (!done.ok) return this.#skip(step.do, `the server refused it: ${done.fail} ${done.detail}`);
        if (step.do === 'dealer-group') this.#dealerGroupChanged.add(`${at.serverId}:${at.login}`);
        this.#entry({
          atMs: now,
          kind: 'step',
          text:
            step.do === 'dealer-group'
              ? `dealer moved the account to group ${step.group}`
              : `dealer ${step.do === 'dealer-credit' ? 'credit' : 'balance'} edit ${step.amountCents} "${step.comment}"`,
          account: step.account,
          serverId: at.serverId,
          login: at.login,
        });
        return;
      }
      case 'fault': {
        if (!this.#cluster.servers.has(step.server)) return this.#skip(step.do, `no server ${step.server}`);
        if (step.op === undefined) this.#cluster.inject(step.server, step.kind, step.params);
        else this.#armed.arm(step.server, step.op, step.kind, step.params);
        this.#note('fault', `${step.kind} armed on ${step.server}${step.op === undefined ? '' : ` for ${step.op}`}`);
        return;
      }
      case 'faults':
        this.#cluster.setRandomFaults(step.on);
        this.#note('fault', `random faults ${step.on ? 'on' : 'off'}`);
        return;
      case 'server-restart':
        if (!this.#cluster.servers.has(step.server)) return this.#skip(step.do, `no server ${step.server}`);
        this.#cluster.restart(step.server, step.downtimeMs);
        this.#note('fault', `server ${step.server} restarts (down ${step.downtimeMs} ms)`);
        return;
      case 'crash':
        this.#crash(step.restartAfterMs);
        return;
      case 'wait':
        await this.#settle(now + step.ms);
        return;
      case 'reconcile': {
        const out = await this.#command('reconcile', undefined, (i) => i.reconcile());
        if (out.kind === 'answer' && out.answer.ok) this.#noteFindings(out.answer.value, 'reconciliation');
        return;
      }
    }
  }

  async #deliver(webhook: WebhookRecord, again = false): Promise<void> {
    webhook.deliveries++;
    const input = {
      accountId: webhook.accountId,
      amountCents: webhook.amountCents,
      currency: webhook.currency,
      pspRef: webhook.pspRef,
    };
    const label = `deposit webhook ${webhook.pspRef}${again ? ' (again)' : webhook.deliveries > 1 ? ` (retry ${webhook.deliveries - 1})` : ''}`;
    const out = await this.#command(label, webhook.account, (i) => i.deposit(input));
    if (out.kind === 'answer') {
      webhook.answered ??= out.answer.ok
        ? { ok: true, ref: out.answer.value.ref }
        : { ok: false, code: out.answer.code };
      webhook.nextMs = null;
    } else if (webhook.answered === undefined) {
      webhook.nextMs = webhook.deliveries < WEBHOOK_ATTEMPTS ? this.#scheduler.nowMs() + WEBHOOK_RETRY_MS : null;
    }
  }

  async #deliverDueWebhooks(): Promise<void> {
    if (!this.#running) return;
    const now = this.#scheduler.nowMs();
    for (const webhook of this.#webhooks) {
      if (webhook.nextMs !== null && webhook.nextMs <= now && webhook.answered === undefined) {
        await this.#deliver(webhook);
      }
    }
  }

  // ---- heal, observe, report ----

  async #heal(): Promise<void> {
    // A crash among the last steps: the heal deadline counts from when the integration is back.
    if (!this.#running && this.#restartAtMs !== null) await this.#settle(this.#restartAtMs, () => this.#running);
    const healStartMs = this.#scheduler.nowMs();
    this.#cluster.setRandomFaults(false);
    this.#armed.clear();
    this.#note('phase', 'heal phase: random faults off');
    const deadlineMs = healStartMs + this.#script.heal.deadlineMs;
    let settled = false;
    while (this.#scheduler.nowMs() < deadlineMs) {
      await this.#deliverDueWebhooks();
      if (this.#running && (await this.#quiescent())) {
        settled = true;
        break;
      }
      await this.#settle(Math.min(deadlineMs, this.#scheduler.nowMs() + HEAL_POLL_MS));
    }
    this.#note('phase', settled ? 'settled' : `heal deadline of ${this.#script.heal.deadlineMs} ms reached`);
    // Past the reconciliation settle time, nothing is in flight: the reconciliation must be exact.
    await this.#settle(this.#scheduler.nowMs() + this.#config.reconciliation.settleMs + 1_000);
    if (!this.#running) await this.#settle(this.#scheduler.nowMs() + SUPERVISOR_RESTART_MS * 2, () => this.#running);
  }

  async #quiescent(): Promise<boolean> {
    if (this.#webhooks.some((w) => w.nextMs !== null && w.answered === undefined)) return false;
    // Two questions, not one: between them the integration's work of this instant goes on, as it would
    // between two reads of a real CRM. The accounts are not asked while a transfer is still pending.
    const transfers = await this.#ask('transfers', (i) => i.transfers(), this.#script.answerTimeoutMs);
    if (transfers.kind !== 'value' || transfers.value.some((t) => t.status === 'pending')) return false;
    const accounts = await this.#ask('accounts', (i) => i.accounts(), this.#script.answerTimeoutMs);
    return accounts.kind === 'value' && accounts.value.every((a) => a.status !== 'pending');
  }

  async #observe(): Promise<Observation> {
    const finalRecon = await this.#command(
      'final reconciliation',
      undefined,
      (i) => i.reconcile(),
      FINAL_RECONCILE_TIMEOUT_MS,
    );
    let reconciliation: ReconciliationView | null = null;
    if (finalRecon.kind === 'answer' && finalRecon.answer.ok) {
      reconciliation = finalRecon.answer.value;
      this.#noteFindings(reconciliation, 'final reconciliation');
    }
    const view = async <T>(what: string, call: (i: Integration) => Promise<T>): Promise<T | null> => {
      const out = await this.#ask(what, call, this.#script.answerTimeoutMs);
      return out.kind === 'value' ? out.value : null;
    };
    // The optional views: absent, their invariants are `unknown`.
    const { audit: auditView, trades: tradesView } = this.#integration;
    const accounts = (await view('accounts', (i) => i.accounts())) ?? [];
    const transfers = (await view('transfers', (i) => i.transfers())) ?? [];
    const alerts = (await view('alerts', (i) => i.alerts())) ?? [];
    const audit = auditView === undefined ? null : await view('audit', (i) => auditView.call(i));
    const trades = tradesView === undefined ? null : await view('trades', (i) => tradesView.call(i));
    const servers: ServerTruth[] = [];
    for (const server of this.#cluster.servers.values()) {
      const logins = [...server.accounts.keys()];
      servers.push({
        id: server.id,
        platform: server.platform,
        kind: server.config.kind,
        accounts: logins.map((login) => ({
          ...(server.accounts.get(login) as NonNullable<ReturnType<typeof server.accounts.get>>),
        })),
        ops: new Map(logins.map((login) => [login, [...server.allBalanceOps(login)]])),
        closedTrades: new Map(logins.map((login) => [login, [...server.allClosedTrades(login)]])),
        openPositions: new Map(logins.map((login) => [login, server.openPositions(login)])),
        marginReads: new Map(logins.map((login) => [login, [...server.marginReads(login)]])),
      });
    }
    const managerPasswords = this.#config.servers
      .map((s) => (this.#options.secrets === undefined ? 'Manager#1' : this.#options.secrets[s.passwordEnv]))
      .filter((p): p is string => p !== undefined && p !== '');
    return {
      config: this.#config,
      endMs: this.#scheduler.nowMs(),
      servers,
      psp: this.#psp.all(),
      clients: [...this.#clients.values()],
      openRequests: [...this.#accounts.values()],
      webhooks: this.#webhooks,
      dealerGroupChanged: this.#dealerGroupChanged,
      crashes: this.#crashes,
      thrown: this.#thrown,
      integration: { accounts, transfers, alerts, audit, trades, reconciliation, logs: this.#logs },
      secrets: managerPasswords,
    };
  }

  #noteFindings(view: ReconciliationView, what: string): void {
    this.#note('reconciliation', `${what}: ${view.findings.length} finding(s)${view.partial ? ', partial' : ''}`);
    for (const f of view.findings) {
      this.#entry({
        atMs: this.#scheduler.nowMs(),
        kind: 'reconciliation',
        text: `${what}: ${f.class}: ${f.detail}`,
        serverId: f.serverId ?? undefined,
        login: f.login ?? undefined,
        ref: f.ref ?? undefined,
      });
    }
  }

  #report(invariants: InvariantResult[], observation: Observation, wallMs: number): RunReport {
    const expected = this.#script.expect;
    const verdict = invariants.every((r) => meets(r.verdict, expected[r.name] ?? 'pass')) ? 'pass' : 'fail';
    const { accounts, transfers } = observation.integration;
    // Entries by server and login belong to the account the integration opened there.
    const byLogin = new Map<string, string>();
    for (const request of this.#accounts.values()) {
      const view = accounts.find((a) => a.accountId === request.accountId);
      if (view?.serverId != null && view.login !== null) byLogin.set(`${view.serverId}:${view.login}`, request.id);
    }
    const timeline = this.#timeline
      .map((e) =>
        e.account === undefined && e.serverId !== undefined && e.login !== undefined
          ? { ...e, account: byLogin.get(`${e.serverId}:${e.login}`) }
          : e,
      )
      .map((e) => (e.account === undefined ? withoutUndefined(e) : e))
      .sort((a, b) => a.atMs - b.atMs);
    return {
      name: this.#script.name,
      seed: this.#script.seed,
      profile: this.#script.origin?.profile,
      steps: this.#script.steps.length,
      verdict,
      invariants,
      expected,
      traceHash: this.#cluster.trace.hash(),
      startMs: this.#startMs,
      endMs: this.#scheduler.nowMs(),
      wallMs: Math.round(wallMs),
      stats: {
        commands: this.#commands,
        skipped: this.#skipped,
        crashes: this.#crashes.length,
        accounts: accounts.length,
        transfers: transfers.length,
        managerCalls: this.#managerCalls,
        faults: this.#cluster.trace.counts('fault'),
      },
      series: { faults: this.#faultSeries, operations: this.#opSeries },
      timeline: this.#detail ? timeline : [],
    };
  }

  // ---- plumbing ----

  /** Runs virtual time to `untilMs` (or until `stopWhen`), surviving the integration's own failures. */
  async #settle(untilMs: number, stopWhen?: () => boolean): Promise<void> {
    for (;;) {
      try {
        await this.#scheduler.run({ untilMs, stopWhen });
        return;
      } catch (error) {
        // A process of the integration threw past its own run(): the integration failed, not the harness.
        const failed = this.#process;
        if (failed === null) throw error;
        this.#fail(failed, `a process failed: ${describe(error)}`);
      }
    }
  }

  #skip(kind: string, why: string): void {
    this.#skipped++;
    this.#note('skipped', `${kind} skipped: ${why}`);
  }

  #note(kind: TimelineEntry['kind'], text: string): void {
    this.#entry({ atMs: this.#scheduler.nowMs(), kind, text });
  }

  #entry(entry: TimelineEntry): void {
    if (this.#detail) this.#timeline.push(entry);
  }
}

/** The config the integration runs with: the certified one, or the script's mis-deployment of it. */
function deployed(config: Readonly<BrokerConfig>, script: Script): Readonly<BrokerConfig> {
  if (script.deploy === undefined) return config;
  const copy = structuredClone(config) as BrokerConfig;
  for (const [productId, groups] of Object.entries(script.deploy.groups)) {
    const product = copy.products.find((p) => p.id === productId);
    if (product === undefined)
      throw new MtproofError('MTP_SCRIPT_INVALID', `deploy.groups.${productId}: no such product`);
    Object.assign(product.groups, groups);
  }
  return parseBrokerConfig(copy, "the script's deployed config");
}

function kycAt(client: ClientRecord, atMs: number): string {
  let state = 'none';
  for (const k of client.kyc) if (k.atMs <= atMs && k.unanswered !== true) state = k.decision;
  return state;
}

function loginOf(op: string, args: unknown[]): number | undefined {
  const first = args[0];
  if (typeof first === 'number') return first;
  if (op === 'postBalance' && typeof first === 'object' && first !== null) return (first as { login: number }).login;
  return undefined;
}

function meets(verdict: string, expected: string): boolean {
  // Unknown is not a failure where a pass is expected: the report says what could not be judged.
  return expected === 'pass' ? verdict !== 'fail' : verdict === expected;
}

function brief(value: unknown): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withoutUndefined(entry: TimelineEntry): TimelineEntry {
  const { account: _a, ...rest } = entry;
  return rest;
}
