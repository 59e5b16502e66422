import type { Outcome } from '../../adapters/port/errors.ts';
import type {
  BalanceOp,
  BalanceReceipt,
  ManagerApi,
  MoneyKind,
  NewAccount,
  PumpEvent,
  Result,
  Subscription,
} from '../../adapters/port/manager-api.ts';
import type { BrokerConfig } from '../../service/config.ts';
import type {
  AccountView,
  AlertView,
  Answer,
  AuditView,
  ClientInput,
  DepositInput,
  FindingView,
  Integration,
  IntegrationFactory,
  IntegrationRuntime,
  KycDecision,
  MoneyInput,
  ReconciliationView,
  TradeView,
  TransferView,
} from '../integration.ts';

/**
 * "lite": a small, correct broker integration written only against the public contract
 * (scenarios/integration.ts) and the ManagerApi port, as a third party would write one for
 * `mtproof certify --integration MODULE`. Its durable state (what a real system keeps in its database) is
 * one plain object made by the factory; each `run` is one incarnation with its own clock, connections and
 * loops, all dropped when the harness crashes it.
 *
 * Exactly once: a transfer is stored with its reference (the MetaTrader comment) before anything is sent;
 * before each send `uncertainSinceMs` is set, and only a definite answer clears it; while it is set the
 * worker looks in the account's history before sending again, and takes "not there" for proof only once
 * `posting.historyLagToleranceMs` has passed since that send (history lags behind the balance).
 *
 * Each BugName plants one bug: a minimal deviation marked `BUG(name)` where it lives (see README.md).
 */

export const BUG_NAMES = [
  'blind-retry',
  'ref-after-send',
  'comment-truncation',
  'jurisdiction-precedence',
  'no-free-margin',
  'recon-ignores-credit',
  'kyc-skip-product',
  'no-resubscribe',
] as const;
export type BugName = (typeof BUG_NAMES)[number];

type Bugs = Readonly<Partial<Record<BugName, true>>>;
type Config = Readonly<BrokerConfig>;
type Product = Config['products'][number];
type ServerConfig = Config['servers'][number];
type Kind = TransferView['kind'];

/** Server clocks are skewed and zoned: history reads cover all time (32-bit time_t, as MT4 keeps it). */
const ALL_TIME_SEC = 2_147_483_647;
/** A pump that said nothing for this long may have stalled silently: resubscribe and fill from history. */
const QUIET_MS = 5 * 60_000;
/** How often each server's keeper looks at its connection. */
const KEEPER_TICK_MS = 5_000;

type Job = { attempts: number; nextMs: number; uncertainSinceMs: number | null };
type ClientRec = { id: string; input: ClientInput; kyc: KycDecision };
type AccountRec = AccountView & Job & { serverId: string; group: string };
type TransferRec = TransferView &
  Job & { serverId: string; login: number; comment: string; acceptedMs: number; postedMs: number | null };
type Res<T> = { ok: true; value: T } | { ok: false; outcome: Outcome; reason: string; message: string };
type Live = { rt: IntegrationRuntime; conns: Map<string, Conn> };

const refuse = (code: string, message: string) => ({ ok: false, code, message }) as const;
const job = (nowMs: number): Job => ({ attempts: 0, nextMs: nowMs, uncertainSinceMs: null });
const pick = <T, K extends keyof T>(row: T, keys: readonly K[]) =>
  Object.fromEntries(keys.map((k) => [k, row[k]])) as Pick<T, K>;
const moneyKind = (t: TransferRec): MoneyKind => (t.kind === 'credit' ? 'credit' : 'balance');
const signedCents = (t: TransferRec) => (t.kind === 'withdrawal' ? -t.amountCents : t.amountCents);
/** Whether an operation on the server is this transfer's money (its comment already matched). */
const sameMoney = (op: BalanceOp, t: TransferRec) => op.amountCents === signedCents(t) && op.kind === moneyKind(t);

/** `initial × factor^(n−1)`, capped, jittered down by up to `jitter` (from the incarnation's Random). */
function backoffMs(p: Config['retry'], attempt: number, u: number): number {
  const d = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(d * (1 - p.jitter * u)));
}

export function liteIntegration(bugs: Bugs = {}): IntegrationFactory {
  return ({ config }) => new Lite(config, bugs);
}

class Lite implements Integration {
  readonly config: Config;
  readonly bugs: Bugs;
  /** Everything that survives a crash: the integration's "database". */
  readonly db = {
    seq: 0,
    incarnations: 0,
    clients: new Map<string, ClientRec>(),
    clientByExternalId: new Map<string, string>(),
    accounts: new Map<string, AccountRec>(),
    /** `${serverId}:${login}` → account id, for pumped events. */
    byLogin: new Map<string, string>(),
    transfers: new Map<string, TransferRec>(),
    byPspRef: new Map<string, string>(),
    alerts: [] as AlertView[],
    audit: [] as AuditView[],
    trades: new Map<string, TradeView>(),
  };
  /** The running incarnation: not durable, replaced by every `run`. */
  live: Live | null = null;

  constructor(config: Config, bugs: Bugs) {
    this.config = config;
    this.bugs = bugs;
  }

  async run(rt: IntegrationRuntime): Promise<void> {
    const live: Live = { rt, conns: new Map() };
    for (const server of this.config.servers) live.conns.set(server.id, new Conn(this, live, server));
    this.live = live;
    rt.log(`lite: incarnation ${++this.db.incarnations} starting`);
    // The loops never end: this settles only if one of them hits a bug (then it rejects).
    await Promise.all([...live.conns.values()].flatMap((c) => [c.keep(), c.work()]));
  }

  now(): number {
    return this.live?.rt.clock.nowMs() ?? 0;
  }

  log(line: string): void {
    this.live?.rt.log(`lite: ${line}`);
  }

  id(prefix: string): string {
    return `${prefix}-${String(++this.db.seq).padStart(8, '0')}`;
  }

  /** Every call is in the audit log before it is sent, and completed with its outcome. */
  async audited<T>(serverId: string, op: string, request: Record<string, unknown>, send: () => Promise<Result<T>>) {
    const entry: AuditView = { atMs: this.now(), serverId, op, request, outcome: null };
    this.db.audit.push(entry);
    const result = await send();
    entry.outcome = result.ok ? 'ok' : result.error.outcome;
    return result;
  }

  async registerClient(input: ClientInput): Promise<Answer<{ clientId: string }>> {
    const known = this.db.clientByExternalId.get(input.externalId);
    if (known !== undefined) return { ok: true, value: { clientId: known } };
    if (!/^[A-Z]{2}$/.test(input.country)) return refuse('BAD_COUNTRY', `"${input.country}" is not ISO 3166-1 alpha-2`);
    const id = this.id('LC');
    this.db.clients.set(id, { id, input: { ...input }, kyc: 'pending' });
    this.db.clientByExternalId.set(input.externalId, id);
    return { ok: true, value: { clientId: id } };
  }

  async setKyc(clientId: string, decision: KycDecision): Promise<Answer<void>> {
    const client = this.db.clients.get(clientId);
    if (client === undefined) return refuse('UNKNOWN_CLIENT', `no client ${clientId}`);
    client.kyc = decision;
    return { ok: true, value: undefined };
  }

  needsKyc(product: Product): boolean {
    // BUG(kyc-skip-product): products offered on several servers came later, and their path never got the
    // KYC check: a client who is not approved opens (and funds) a live 'pro' account.
    if (this.bugs['kyc-skip-product'] && Object.keys(product.groups).length > 1) return false;
    return product.requiresKyc ?? (product.kind === 'live' || !this.config.kyc.demoBeforeKyc);
  }

  async openAccount(input: { clientId: string; productId: string }): Promise<Answer<{ accountId: string }>> {
    const client = this.db.clients.get(input.clientId);
    if (client === undefined) return refuse('UNKNOWN_CLIENT', `no client ${input.clientId}`);
    const product = this.config.products.find((p) => p.id === input.productId);
    if (product === undefined) return refuse('UNKNOWN_PRODUCT', `no product ${input.productId}`);
    if (this.needsKyc(product) && client.kyc !== 'approved') {
      return refuse('KYC_REQUIRED', `product ${product.id} needs an approved KYC; the client's is ${client.kyc}`);
    }
    const serverId = this.route(client.input.country, product);
    const group = serverId === null ? undefined : product.groups[serverId];
    if (serverId === null || group === undefined) {
      return refuse('NO_ROUTE', `no server offers ${product.id} to clients from ${client.input.country}`);
    }
    const accountId = this.id('LA');
    const base = { accountId, clientId: client.id, productId: product.id, status: 'pending' as const, login: null };
    this.db.accounts.set(accountId, { ...base, serverId, group, ...job(this.now()) });
    return { ok: true, value: { accountId } };
  }

  /**
   * The first rule of the product's kind that covers the client's country or jurisdiction decides; a
   * covering rule whose server lacks the product is no reason to try the next one. Suspended: the fallback.
   */
  route(country: string, product: Product): string | null {
    const { routing, jurisdictions, servers } = this.config;
    const covers = (names: readonly string[]) => names.some((n) => jurisdictions[n]?.includes(country) === true);
    // BUG(jurisdiction-precedence): the rules are tried general first ("the default, then the exceptions"),
    // so the catch-all live rule takes EU clients before their jurisdiction's rule is ever looked at.
    const general = (r: (typeof routing)[number]) => r.jurisdictions === undefined && r.countries === undefined;
    const rules = this.bugs['jurisdiction-precedence']
      ? [...routing.filter(general), ...routing.filter((r) => !general(r))]
      : routing;
    const rule = rules.find(
      (r) =>
        r.kind === product.kind &&
        (r.countries === undefined || r.countries.includes(country)) &&
        (r.jurisdictions === undefined || covers(r.jurisdictions)),
    );
    if (rule === undefined) return null;
    const suspended = (id: string) => servers.find((s) => s.id === id)?.suspended === true;
    if (!suspended(rule.server)) return rule.server;
    const fallback = rule.fallback;
    return fallback !== undefined && !suspended(fallback) && product.groups[fallback] !== undefined ? fallback : null;
  }

  async deposit(input: DepositInput): Promise<Answer<{ ref: string }>> {
    const seen = this.db.transfers.get(this.db.byPspRef.get(input.pspRef) ?? '');
    if (seen !== undefined) {
      // The provider retries its webhook: the same payment answers the same reference.
      if (seen.accountId === input.accountId && seen.amountCents === input.amountCents) {
        return { ok: true, value: { ref: seen.ref } };
      }
      return refuse('DUPLICATE_PSP_REF', `provider id ${input.pspRef} already belongs to ${seen.ref}`);
    }
    const accepted = this.accept('deposit', input, input.pspRef);
    if (!accepted.ok) return accepted;
    const t = accepted.value;
    const conn = this.live?.conns.get(t.serverId);
    if (this.bugs['ref-after-send'] && conn !== undefined) {
      // BUG(ref-after-send): the webhook handler sends the deposit and stores it (with its reference) only
      // once the server has answered. A crash in between forgets it: the provider retries the webhook,
      // nothing matches its pspRef, and the deposit is posted again under a new reference.
      t.uncertainSinceMs = this.now();
      const sent = await conn.postBalance(t);
      this.store(t);
      if (sent.ok) this.posted(t, sent.value.ticket);
      else if (sent.outcome !== 'unknown') t.uncertainSinceMs = null;
      return { ok: true, value: { ref: t.ref } };
    }
    this.store(t);
    return { ok: true, value: { ref: t.ref } };
  }

  async withdraw(input: MoneyInput): Promise<Answer<{ ref: string }>> {
    return this.acceptAndStore('withdrawal', input);
  }

  async credit(input: MoneyInput): Promise<Answer<{ ref: string }>> {
    return this.acceptAndStore('credit', input);
  }

  acceptAndStore(kind: Kind, input: MoneyInput): Answer<{ ref: string }> {
    const accepted = this.accept(kind, input, null);
    if (!accepted.ok) return accepted;
    this.store(accepted.value);
    return { ok: true, value: { ref: accepted.value.ref } };
  }

  store(t: TransferRec): void {
    this.db.transfers.set(t.ref, t);
    if (t.pspRef !== null) this.db.byPspRef.set(t.pspRef, t.ref);
  }

  /** Validates a transfer and gives it its reference; the caller stores it before anything is sent. */
  accept(kind: Kind, input: MoneyInput, pspRef: string | null): Answer<TransferRec> {
    // Its deadline counts from acceptance, on the incarnation's clock: there is none before the first start.
    if (this.live === null) return refuse('NOT_RUNNING', 'the integration has not started');
    if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) {
      return refuse('BAD_AMOUNT', 'amounts are positive integer minor units');
    }
    const account = this.db.accounts.get(input.accountId);
    if (account === undefined) return refuse('UNKNOWN_ACCOUNT', `no account ${input.accountId}`);
    if (account.status !== 'open' || account.login === null) {
      return refuse('ACCOUNT_NOT_OPEN', `account ${account.accountId} is ${account.status}`);
    }
    const product = this.config.products.find((p) => p.id === account.productId) as Product;
    if (input.currency !== product.currency)
      return refuse('CURRENCY_MISMATCH', `the account is in ${product.currency}`);
    const client = this.db.clients.get(account.clientId) as ClientRec;
    if (this.needsKyc(product) && client.kyc !== 'approved') {
      return refuse('KYC_REQUIRED', `no money moves before KYC approval (the client's is ${client.kyc})`);
    }
    const rules = this.config.funding.currencies[product.currency];
    // Credits without limits of their own follow the deposit limits.
    const limits = rules?.[kind] ?? rules?.deposit;
    if (limits === undefined || input.amountCents < limits.minCents || input.amountCents > limits.maxCents) {
      return refuse('AMOUNT_OUT_OF_RANGE', `a ${kind} must be within ${limits?.minCents}..${limits?.maxCents}`);
    }
    // 11 characters, within the 31 both platforms keep: the comment is never cut.
    const ref = this.id('LT');
    // BUG(comment-truncation): a "readable" comment; the server keeps 31 characters, which cuts the
    // reference off: transfers of one account collide, and the lookup (by the full text) never finds its own.
    const label = { deposit: 'Deposit', withdrawal: 'Withdrawal', credit: 'Bonus' }[kind];
    const long = `${label} ${client.input.externalId} ${account.accountId} ${ref}`;
    const comment = this.bugs['comment-truncation'] ? long : ref;
    const { accountId, serverId, login } = account;
    const { amountCents, currency } = input;
    const now = this.now();
    const view = { ref, kind, accountId, amountCents, currency, pspRef, status: 'pending' as const };
    return { ok: true, value: { ...view, serverId, login, comment, acceptedMs: now, postedMs: null, ...job(now) } };
  }

  posted(t: TransferRec, ticket: number): void {
    t.uncertainSinceMs = null;
    t.status = 'posted';
    t.postedMs = this.now();
    this.log(`${t.kind} ${t.ref} posted on ${t.serverId} ${t.login}, ticket ${ticket}`);
  }

  finish(t: TransferRec, status: 'review' | 'rejected' | 'failed', why: string): void {
    t.status = status;
    this.log(`${t.kind} ${t.ref} ${status}: ${why}`);
    if (status === 'review') this.alert('transfer_review', t.ref, `${t.kind} ${t.ref} needs an operator: ${why}`);
    if (status === 'failed') this.alert('transfer_failed', t.ref, `${t.kind} ${t.ref} failed: ${why}`);
  }

  alert(kind: string, subject: string, message: string): void {
    if (this.db.alerts.some((a) => a.kind === kind && a.subject === subject)) return;
    this.db.alerts.push({ kind, subject, message, atMs: this.now() });
    this.log(`ALERT ${kind} ${subject}: ${message}`);
  }

  opened(a: AccountRec, login: number): void {
    a.uncertainSinceMs = null;
    a.status = 'open';
    a.login = login;
    this.db.byLogin.set(`${a.serverId}:${login}`, a.accountId);
    this.log(`account ${a.accountId} open on ${a.serverId} as ${login} in ${a.group}`);
  }

  openAccounts(serverId: string): AccountRec[] {
    return [...this.db.accounts.values()].filter((a) => a.serverId === serverId && a.status === 'open');
  }

  recordTrade(serverId: string, login: number, ticket: number, action: 'open' | 'close'): void {
    if (!this.db.byLogin.has(`${serverId}:${login}`)) return;
    // A close proves the open, even if the open's event was lost.
    if (action === 'close') this.recordTrade(serverId, login, ticket, 'open');
    const key = `${serverId}:${login}:${ticket}:${action}`;
    if (!this.db.trades.has(key)) this.db.trades.set(key, { serverId, login, ticket, action });
  }

  async reconcile(): Promise<Answer<ReconciliationView>> {
    const live = this.live;
    if (live === null) return refuse('NOT_RUNNING', 'the integration is not running');
    const { config, db } = this;
    const startedMs = this.now();
    const settledBeforeMs = startedMs - config.reconciliation.settleMs;
    let partial = false;
    const ops: (BalanceOp & { serverId: string })[] = [];
    const read = new Set<string>();
    for (const server of config.servers.filter((s) => config.reconciliation.kinds.includes(s.kind))) {
      const conn = live.conns.get(server.id) as Conn;
      const mine: typeof ops = [];
      let unreadable = false;
      for (const a of this.openAccounts(server.id)) {
        const h = await conn.history(a.login as number);
        if (!h.ok) {
          unreadable = true;
          break;
        }
        for (const op of h.value) mine.push({ ...op, serverId: server.id });
      }
      // A server read in part is not read: its findings would be false alarms.
      if (unreadable) partial = true;
      else {
        read.add(server.id);
        ops.push(...mine);
      }
    }
    // Read after the histories: every reference found on a server is already stored.
    const transfers = [...db.transfers.values()];
    const byComment = new Map(transfers.map((t) => [t.comment, t]));
    const findings = new Map<string, FindingView>();
    const add = (cls: FindingView['class'], f: Partial<FindingView>, detail: string) => {
      const v = { class: cls, serverId: null, login: null, ref: null, ticket: null, pspRef: null, ...f, detail };
      findings.set(`${cls}:${v.ref ?? v.pspRef}:${v.serverId}:${v.ticket}`, v);
    };
    const ours = new Map<string, BalanceOp[]>();
    for (const op of ops) {
      // BUG(recon-ignores-credit): "credit is only bonus money": credit operations are skipped, so a
      // dealer's credit edit (or a credit posted twice) is never reported.
      if (this.bugs['recon-ignores-credit'] && op.kind === 'credit') continue;
      const where = { serverId: op.serverId, login: op.login, ticket: op.ticket };
      const t = byComment.get(op.comment);
      if (t === undefined) add('unknown_operation', where, `${op.kind} ${op.amountCents} "${op.comment}" is not ours`);
      else if (t.serverId !== op.serverId || t.login !== op.login) {
        add('wrong_account', { ...where, ref: t.ref }, `${t.ref} belongs on ${t.serverId} ${t.login}`);
      } else ours.set(t.ref, [...(ours.get(t.ref) ?? []), op]);
    }
    for (const t of transfers.filter((x) => read.has(x.serverId))) {
      const found = ours.get(t.ref) ?? [];
      const [first, second] = found;
      const base = {
        serverId: t.serverId,
        login: t.login,
        ref: t.ref,
        pspRef: t.pspRef,
        ticket: first?.ticket ?? null,
      };
      if (second !== undefined) add('duplicate_on_server', { ...base, ticket: second.ticket }, `${found.length} times`);
      if (first !== undefined && !sameMoney(first, t)) {
        add('amount_mismatch', base, `${first.kind} ${first.amountCents} on the server, ${signedCents(t)} here`);
      }
      if (t.status === 'posted' && first === undefined && (t.postedMs as number) < settledBeforeMs) {
        add('missing_on_server', base, `${t.ref} was posted but is not in the server's history`);
      }
      if ((t.status === 'rejected' || t.status === 'failed') && first !== undefined) {
        add('not_in_ledger', base, `${t.ref} is on the server though it was ${t.status}`);
      }
    }
    try {
      for (const r of await live.rt.payments.records(0, startedMs)) {
        if (r.kind !== 'deposit' || r.status !== 'succeeded' || r.atMs >= settledBeforeMs) continue;
        const t = db.transfers.get(db.byPspRef.get(r.pspRef) ?? '');
        if (t === undefined || t.status === 'rejected' || t.status === 'failed') {
          add('psp_only', { pspRef: r.pspRef, ref: t?.ref ?? null }, `${r.amountCents} ${r.currency} never posted`);
        }
      }
    } catch (error) {
      partial = true;
      this.log(`payment records unreadable: ${(error as Error).message}`);
    }
    const list = [...findings.values()];
    this.log(`reconciliation: ${list.length} finding(s)${partial ? ', partial' : ''}`);
    return { ok: true, value: { partial, findings: list } };
  }

  async accounts(): Promise<AccountView[]> {
    const keys = ['accountId', 'clientId', 'productId', 'status', 'serverId', 'login', 'group'] as const;
    return [...this.db.accounts.values()].map((a) => pick(a, keys));
  }

  async transfers(): Promise<TransferView[]> {
    const keys = ['ref', 'kind', 'accountId', 'amountCents', 'currency', 'pspRef', 'status'] as const;
    return [...this.db.transfers.values()].map((t) => pick(t, keys));
  }

  async alerts(): Promise<AlertView[]> {
    return this.db.alerts.map((a) => ({ ...a }));
  }

  async audit(): Promise<AuditView[]> {
    return this.db.audit.map((a) => ({ ...a, request: { ...a.request } }));
  }

  async trades(): Promise<TradeView[]> {
    return [...this.db.trades.values()].map((t) => ({ ...t }));
  }
}

/** One incarnation's connection to one server, with its keeper (connection, pump) and worker (queue). */
class Conn {
  readonly lite: Lite;
  readonly live: Live;
  readonly server: ServerConfig;
  readonly api: ManagerApi;
  sub: Subscription | null = null;
  #subGen = 0;
  #subscribedOnce = false;
  #needFill = false;
  #connecting: Promise<boolean> | null = null;
  #connectFailures = 0;
  #nextConnectMs = 0;
  #lastEventMs = 0;
  #lastFillMs = 0;
  #lastOkMs = 0;

  constructor(lite: Lite, live: Live, server: ServerConfig) {
    this.lite = lite;
    this.live = live;
    this.server = server;
    this.api = live.rt.manager(server.id);
  }

  get #now(): number {
    return this.live.rt.clock.nowMs();
  }

  /** A call through the audit log; when it cannot even connect, `unavailable` (nothing was sent). */
  async call<T>(op: string, request: Record<string, unknown>, send: (api: ManagerApi) => Promise<Result<T>>) {
    if (!this.api.isConnected() && !(await this.connect())) {
      const message = `${this.server.id}: not connected`;
      return { ok: false, outcome: 'unavailable', reason: 'no_connection', message } as Res<T>;
    }
    const r = await this.lite.audited(this.server.id, op, request, () => send(this.api));
    if (r.ok) this.#lastOkMs = this.#now;
    return (r.ok ? r : { ok: false, ...pick(r.error, ['outcome', 'reason', 'message'] as const) }) as Res<T>;
  }

  /** Sends a transfer's money: the comment is its whole reference (or, with a bug, what the bug makes of it). */
  postBalance(t: TransferRec): Promise<Res<BalanceReceipt>> {
    const request = { login: t.login, amountCents: signedCents(t), kind: moneyKind(t), comment: t.comment };
    return this.call('postBalance', request, (api) => api.postBalance(request));
  }

  /** All of an account's balance and credit operations. */
  history(login: number): Promise<Res<BalanceOp[]>> {
    const range = { login, fromServerSec: 0, toServerSec: ALL_TIME_SEC };
    return this.call('balanceHistory', range, (api) => api.balanceHistory(login, 0, ALL_TIME_SEC));
  }

  /** One connect at a time, with backoff between failed ones. */
  connect(): Promise<boolean> {
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #connect(): Promise<boolean> {
    const { server, live } = this;
    if (this.#now < this.#nextConnectMs) return false;
    const password = live.rt.secret(server.passwordEnv);
    const credentials = { login: server.login, password: password ?? '' };
    const r =
      password === undefined
        ? null
        : await this.lite.audited(server.id, 'connect', { login: server.login }, () => this.api.connect(credentials));
    if (r === null || !r.ok) {
      const { reconnectInitialDelayMs: initialDelayMs, reconnectMaxDelayMs: maxDelayMs } = this.lite.config.connections;
      // Reconnects double from their own first delay up to their own cap, jittered as retries are.
      const policy = { ...this.lite.config.retry, initialDelayMs, maxDelayMs, factor: 2 };
      this.#nextConnectMs = this.#now + backoffMs(policy, ++this.#connectFailures, live.rt.random.float());
      this.lite.log(
        `cannot connect to ${server.id}: ${r === null ? `${server.passwordEnv} is not set` : r.error.message}`,
      );
      return false;
    }
    this.#connectFailures = 0;
    this.sub = null; // a (re)connect ends the subscriptions of the old connection
    this.lite.log(`connected to ${server.id} as manager ${server.login}`);
    await this.resubscribe();
    return true;
  }

  /** A fresh subscription; what the pump missed before it is filled from history (`#needFill`). */
  async resubscribe(): Promise<void> {
    // BUG(no-resubscribe): subscribes once per start only; after a reconnect (or a stall) the pump is never
    // renewed and nothing is filled from history: trades of the accounts go unseen from then on.
    if (this.lite.bugs['no-resubscribe'] && this.#subscribedOnce) return;
    this.sub?.close();
    this.sub = null;
    const gen = ++this.#subGen;
    const listener = (event: PumpEvent) => this.#onEvent(gen, event);
    const r = await this.lite.audited(this.server.id, 'subscribe', {}, () => this.api.subscribe(listener));
    if (!r.ok) return;
    if (gen !== this.#subGen) return r.value.close();
    this.sub = r.value;
    this.#subscribedOnce = true;
    this.#needFill = true;
    this.#lastEventMs = this.#now;
  }

  #onEvent(gen: number, event: PumpEvent): void {
    if (gen !== this.#subGen) return;
    this.#lastEventMs = this.#now;
    if (event.type === 'stopped') this.sub = null;
    else if (event.type === 'trade') this.lite.recordTrade(this.server.id, event.login, event.ticket, event.action);
  }

  /** Keeps the connection and the pump alive: reconnects, resubscribes, keepalive pings, gap fills. */
  async keep(): Promise<never> {
    const { pingIntervalMs } = this.lite.config.connections;
    for (;;) {
      const now = this.#now;
      if (!this.api.isConnected()) await this.connect();
      else if (this.sub === null) await this.resubscribe();
      else if (now - Math.max(this.#lastEventMs, this.#lastFillMs) >= QUIET_MS) await this.resubscribe();
      // A failed ping tells the adapter a silently logged-out session is gone: the next tick reconnects.
      else if (now - this.#lastOkMs >= pingIntervalMs) await this.call('ping', {}, (api) => api.ping());
      if (this.#needFill && this.sub !== null) await this.#fill();
      await this.live.rt.clock.sleep(KEEPER_TICK_MS);
    }
  }

  /** Every open and close of our accounts on this server, from history: what the pump may have missed. */
  async #fill(): Promise<void> {
    this.#needFill = false;
    for (const a of this.lite.openAccounts(this.server.id)) {
      const login = a.login as number;
      const range = { login, fromServerSec: 0, toServerSec: ALL_TIME_SEC };
      const closed = await this.call('trades', range, (api) => api.trades(login, 0, ALL_TIME_SEC));
      const open = closed.ok ? await this.call('openPositions', { login }, (api) => api.openPositions(login)) : closed;
      if (!closed.ok || !open.ok) {
        this.#needFill = true;
        return;
      }
      for (const t of closed.value) {
        this.lite.recordTrade(this.server.id, login, t.ticket, t.closeServerSec === undefined ? 'open' : 'close');
      }
      for (const t of open.value) this.lite.recordTrade(this.server.id, login, t.ticket, 'open');
    }
    this.#lastFillMs = this.#now;
  }

  /** Works this server's queue: accounts to create, transfers to post, each when due. */
  async work(): Promise<never> {
    const { idlePollMs } = this.lite.config.posting;
    for (;;) {
      for (const a of this.#pending(this.lite.db.accounts)) if (a.nextMs <= this.#now) await this.#provision(a);
      for (const t of this.#pending(this.lite.db.transfers)) {
        if (t.status === 'pending' && t.nextMs <= this.#now) await this.#post(t);
      }
      const jobs: Job[] = [...this.#pending(this.lite.db.accounts), ...this.#pending(this.lite.db.transfers)];
      const next = jobs.reduce((min, j) => Math.min(min, j.nextMs), Number.POSITIVE_INFINITY);
      await this.live.rt.clock.sleep(Math.min(idlePollMs, Math.max(1, next - this.#now)));
    }
  }

  #pending<T extends { status: string; serverId: string }>(rows: Map<string, T>): T[] {
    return [...rows.values()].filter((r) => r.status === 'pending' && r.serverId === this.server.id);
  }

  #retry(job: Job, deadlineMs = Number.POSITIVE_INFINITY): void {
    const delay = backoffMs(this.lite.config.retry, ++job.attempts, this.live.rt.random.float());
    job.nextMs = Math.min(this.#now + delay, deadlineMs);
  }

  async #provision(a: AccountRec): Promise<void> {
    const { config, db } = this.lite;
    if (a.uncertainSinceMs !== null) {
      // A create may have landed: look for our id before creating again (same tolerance as for history).
      const list = await this.call('listAccounts', { groupMask: '*' }, (api) => api.listAccounts('*'));
      if (!list.ok) return this.#retry(a);
      const found = list.value.find((x) => x.externalId === a.accountId);
      if (found !== undefined) {
        this.#needFill = true; // trades may have happened before we knew the login
        return this.lite.opened(a, found.login);
      }
      const proofAtMs = a.uncertainSinceMs + config.posting.historyLagToleranceMs;
      if (this.#now < proofAtMs) {
        a.nextMs = proofAtMs;
        return;
      }
      a.uncertainSinceMs = null;
    }
    const client = db.clients.get(a.clientId) as ClientRec;
    const product = config.products.find((p) => p.id === a.productId) as Product;
    // KYC may have been withdrawn since the request was accepted: check again right before creating.
    if (this.lite.needsKyc(product) && client.kyc !== 'approved') {
      a.status = 'failed';
      this.lite.alert('account_failed', a.accountId, `account ${a.accountId} not created: KYC is ${client.kyc}`);
      return;
    }
    const { name, email, country } = client.input;
    const { leverage } = product;
    const account: Omit<NewAccount, 'password'> = {
      ...{ group: a.group, name, email, country, externalId: a.accountId },
      ...(leverage === undefined ? {} : { leverage }),
    };
    const password = this.#password();
    a.uncertainSinceMs = this.#now;
    const r = await this.call('createAccount', { ...account, password: '[redacted]' }, (api) =>
      api.createAccount({ ...account, password }),
    );
    if (r.ok) return this.lite.opened(a, r.value.login);
    if (r.outcome === 'unknown') return this.#retry(a);
    a.uncertainSinceMs = null;
    if (r.outcome === 'unavailable') return this.#retry(a);
    a.status = 'failed';
    this.lite.alert('account_failed', a.accountId, `${a.serverId} refused account ${a.accountId}: ${r.message}`);
  }

  /** An initial password both platforms accept (MT5: 8–16 with lower, upper, digit, special); never stored. */
  #password(): string {
    const r = this.live.rt.random;
    const chars = 'abcdefghijkmnpqrstuvwxyz23456789';
    let body = '';
    for (let i = 0; i < 8; i++) body += chars[r.int(0, chars.length - 1)];
    return `Lt${body}#${r.int(10, 99)}`;
  }

  /** One attempt at a transfer: look if a send may have landed, check, send. */
  async #post(t: TransferRec): Promise<void> {
    const { config, bugs } = this.lite;
    const deadlineMs = t.acceptedMs + config.retry.deadlineMs;
    if (t.uncertainSinceMs !== null) {
      const history = await this.history(t.login);
      if (!history.ok) return this.#retryOrReview(t, deadlineMs, `history unreadable: ${history.message}`);
      const found = history.value.filter((op) => op.comment === t.comment);
      const [first] = found;
      if (first !== undefined) {
        if (found.length === 1 && sameMoney(first, t)) {
          return this.lite.posted(t, first.ticket);
        }
        return this.lite.finish(t, 'review', `on the server ${found.length} time(s), first ${first.amountCents}`);
      }
      // History lags: "not found" proves nothing until the tolerance has passed since the send.
      const proofAtMs = t.uncertainSinceMs + config.posting.historyLagToleranceMs;
      if (this.#now < proofAtMs) {
        if (this.#now >= deadlineMs) return this.lite.finish(t, 'review', 'send uncertain at the deadline');
        t.nextMs = proofAtMs;
        return;
      }
      t.uncertainSinceMs = null;
    }
    if (this.#now >= deadlineMs) return this.lite.finish(t, 'review', 'not posted by the deadline');
    // BUG(no-free-margin): the free-margin check is left out ("the server checks it"): MT4 checks only the
    // balance, so a withdrawal can take money an open position is using.
    if (t.kind === 'withdrawal' && config.funding.withdrawalsNeedFreeMargin && !bugs['no-free-margin']) {
      const m = await this.call('marginLevel', { login: t.login }, (api) => api.marginLevel(t.login));
      if (!m.ok) return this.#retryOrReview(t, deadlineMs, m.message);
      if (m.value.freeMarginCents < t.amountCents) {
        return this.lite.finish(t, 'rejected', `free margin ${m.value.freeMarginCents} is below ${t.amountCents}`);
      }
    }
    t.uncertainSinceMs = this.#now; // stored before the send: a crash leaves the transfer uncertain
    const r = await this.postBalance(t);
    if (r.ok) return this.lite.posted(t, r.value.ticket);
    if (r.outcome === 'unknown') {
      // BUG(blind-retry): a timeout is taken for "not done", and the next attempt sends again without looking.
      if (bugs['blind-retry']) t.uncertainSinceMs = null;
      return this.#retryOrReview(t, deadlineMs, r.message);
    }
    t.uncertainSinceMs = null;
    if (r.outcome === 'unavailable') return this.#retryOrReview(t, deadlineMs, r.message);
    this.lite.finish(t, r.reason === 'no_money' || r.reason === 'limit' ? 'rejected' : 'failed', r.message);
  }

  #retryOrReview(t: TransferRec, deadlineMs: number, why: string): void {
    if (this.#now >= deadlineMs) this.lite.finish(t, 'review', `past the deadline: ${why}`);
    else this.#retry(t, deadlineMs);
  }
}
