import type { PumpEvent, Trade } from '../adapters/port/manager-api.ts';
import { connection, type ServiceContext, serverRange } from './context.ts';
import { commissionFor } from './ib.ts';
import { enqueueTradeMessage } from './outbox.ts';
import { StoreConstraintError } from './store/port.ts';
import type { AccountRow, ClientRow, TradeAction, TradeRow } from './store/schema.ts';
import { tradeId } from './store/schema.ts';

/**
 * Trade-event synchronisation: every position a client opens or closes on an account the service opened
 * becomes one `trades` row, exactly once.
 *
 * The pump says only (login, ticket, action), may say it twice or out of order, and loses what happens
 * while it is stalled, dropped or the service is down. So:
 * - a pumped trade event on one of our open accounts is looked up (open positions for an open, closed
 *   trades for a close, or an open whose position has closed since) and recorded if absent — a duplicate
 *   or a late event finds its row and costs no call;
 * - after every (re)connect each open account on that server is read from history — open positions and
 *   trades closed since its last read — and whatever is missing is recorded with source `history`; and
 *   every `connections.tradeSyncIntervalMs` (and when a quiet pump is subscribed afresh) each account not
 *   read within that interval, so an event lost without any reconnect is recovered too.
 *
 * Rows are inserted if absent, in one transaction: the pump and a fill racing for the same trade make one
 * row. What was read last is remembered in memory only: after a restart the first fill reads everything.
 *
 * With each new row, in the same transaction: its message on the outbox (`trade:${id}`, topic `trade.open` or
 * `trade.close`: service/outbox.ts publishes it on the bus), and for a close on the account of a client who
 * came through an introducing broker, the partner's commission (service/ib.ts). A duplicate event or a fill
 * of a trade already recorded finds the row and writes neither: both are exactly once per trade id.
 */

export interface TradeSyncOptions {
  /** True once the service is stopping: no new calls are started. */
  stopped: () => boolean;
  /** A bug in fire-and-forget work (pump handling, fills started by a subscription): stops the service. */
  onBug: (error: unknown) => void;
  /** Trade rows (and their outbox messages) were committed: the outbox relay wakes. */
  onRecorded?: () => void;
}

type TradeEvent = Extract<PumpEvent, { type: 'trade' }>;

interface Wanted {
  account: AccountRow;
  opens: Set<number>;
  closes: Set<number>;
}

interface ServerState {
  /** Trade events not yet looked at, in arrival order. */
  pending: TradeEvent[];
  draining: boolean;
  /** A fill is running; `again`: a subscription asked for another full fill meanwhile. */
  filling: boolean;
  again: boolean;
  /** login → service time when its last successful history read began. */
  readMs: Map<number, number>;
}

export class TradeSync {
  readonly #ctx: ServiceContext;
  readonly #o: TradeSyncOptions;
  readonly #servers = new Map<string, ServerState>();

  constructor(ctx: ServiceContext, options: TradeSyncOptions) {
    this.#ctx = ctx;
    this.#o = options;
  }

  /** A pumped event (the connection's listener): trade events are queued and looked up one batch at a time. */
  onEvent(serverId: string, event: PumpEvent): void {
    if (event.type !== 'trade') return;
    const state = this.#state(serverId);
    state.pending.push(event);
    if (state.draining) return;
    state.draining = true;
    this.#drain(serverId, state).catch((error: unknown) => this.#o.onBug(error));
  }

  /**
   * A new subscription on `serverId`: what the pump may have missed before it is read from history. After a
   * (re)connect, every account (the stream was down: its events are gone). After a quiet pump subscribed
   * afresh, only the accounts not read within the interval, as the periodic fill does: the quiet may be a
   * stream that died without a word, or only a server where nothing happened, and what a silent stall lost
   * after an account's last read is the periodic fill's to recover anyway; reading every account again would
   * read an idle server in full every `pumpQuietMs`.
   */
  onSubscribed(serverId: string, quiet: boolean): void {
    this.fill(serverId, !quiet).catch((error: unknown) => this.#o.onBug(error));
  }

  /** The periodic fill: every server, each account not read within the interval. */
  async fillAll(): Promise<void> {
    await Promise.all([...this.#ctx.connections.keys()].map((serverId) => this.fill(serverId, false)));
  }

  /**
   * Reads every open account of `serverId` from history and records what is missing. `full`: every account
   * (after a reconnect, when events may have been lost just now); otherwise only accounts not read
   * within `connections.tradeSyncIntervalMs` (at most one read per account per interval).
   * One fill per server at a time: a full one asked for meanwhile runs after it; a periodic one is dropped
   * (the running fill covers it).
   */
  async fill(serverId: string, full: boolean): Promise<void> {
    const state = this.#state(serverId);
    if (state.filling) {
      if (full) state.again = true;
      return;
    }
    state.filling = true;
    try {
      let round = full;
      for (;;) {
        state.again = false;
        await this.#fillRound(serverId, state, round);
        if (!state.again || this.#o.stopped()) break;
        round = true;
      }
    } finally {
      state.filling = false;
    }
  }

  async #fillRound(serverId: string, state: ServerState, full: boolean): Promise<void> {
    const { store, clock, config } = this.#ctx;
    const accounts = await store.transaction((tx) =>
      tx.select('accounts', { serverId, state: 'open' }, { orderBy: 'id' }),
    );
    const startedMs = clock.nowMs();
    const { tradeSyncIntervalMs } = config.connections;
    // When the account's last read began; -1: never read.
    const lastReadMs = (account: AccountRow) => state.readMs.get(account.login as number) ?? -1;
    // Least recently read first: the accounts a round cut short by a failure did not reach come first in the
    // next one, instead of the same first accounts being read again and again.
    const due = accounts
      .filter((account) => full || lastReadMs(account) < 0 || startedMs - lastReadMs(account) >= tradeSyncIntervalMs)
      .sort((a, b) => lastReadMs(a) - lastReadMs(b));
    if (due.length === 0 || this.#o.stopped()) return;
    const conn = connection(this.#ctx, serverId);
    // Positions first, of every account in one request (MT4 can only read the whole server's): one that
    // closes before its account's closed trades are read is then among them.
    const logins = due.map((account) => account.login as number);
    const open = await conn.call('openPositionsOf', { logins }, null, (api) => api.openPositionsOf(logins));
    // Nothing read: the next subscription or interval reads again from the same points.
    if (!open.ok) return;
    const positions = new Map<number, Trade[]>();
    for (const t of open.value) {
      const of = positions.get(t.login);
      if (of === undefined) positions.set(t.login, [t]);
      else of.push(t);
    }
    for (const account of due) {
      if (this.#o.stopped()) return;
      const login = account.login as number;
      const lastMs = state.readMs.get(login);
      // A trade closed just before the last read may have shown in history only later (history lag): each
      // read starts that much before the previous one began (and the look-back for the server's clock).
      const range = serverRange(this.#ctx, (lastMs ?? 0) - config.posting.historyLagToleranceMs, clock.nowMs());
      const fromServerSec = lastMs === undefined ? 0 : Math.max(0, range.fromServerSec);
      const { toServerSec } = range;
      const closed = await conn.call('trades', { login, fromServerSec, toServerSec }, account.id, (api) =>
        api.trades(login, fromServerSec, toServerSec),
      );
      if (!closed.ok) {
        // Refused for this account only (e.g. deleted by a dealer): the others are still read. A connection
        // problem ends the round: the next subscription or interval reads again from the same point.
        if (closed.error.outcome === 'rejected') continue;
        return;
      }
      const rows = [
        ...(positions.get(login) ?? []).map((t) => row(serverId, login, t, 'open', 'history')),
        ...closed.value.flatMap((t) => closedRows(serverId, login, t, 'history')),
      ];
      const added = await this.#record(account, rows);
      // The account's read began with the positions, before the round's first call.
      state.readMs.set(login, startedMs);
      if (added > 0) {
        this.#ctx.log({ level: 'info', msg: 'trades filled from history', serverId, login, added });
      }
    }
  }

  async #drain(serverId: string, state: ServerState): Promise<void> {
    try {
      while (state.pending.length > 0 && !this.#o.stopped()) {
        const batch = state.pending.splice(0);
        await this.#lookUp(serverId, batch);
      }
    } finally {
      // In the same step as the loop's last check: an event pushed after it starts a new drain.
      state.draining = false;
    }
  }

  /** Looks the events of a batch up on the server, one account at a time, and records what it finds. */
  async #lookUp(serverId: string, events: TradeEvent[]): Promise<void> {
    const { store, clock } = this.#ctx;
    const wanted = await store.transaction(async (tx) => {
      const byLogin = new Map<number, Wanted>();
      for (const event of events) {
        // Already recorded (a duplicate, or a fill got there first): nothing to ask the server.
        if ((await tx.get('trades', tradeId(serverId, event.login, event.ticket, event.action))) !== undefined)
          continue;
        let entry = byLogin.get(event.login);
        if (entry === undefined) {
          const [account] = await tx.select('accounts', { serverId, login: event.login, state: 'open' });
          // Not an account of ours (another system's client, or a manager's own): ignored.
          if (account === undefined) continue;
          entry = { account, opens: new Set(), closes: new Set() };
          byLogin.set(event.login, entry);
        }
        (event.action === 'open' ? entry.opens : entry.closes).add(event.ticket);
      }
      return [...byLogin.values()];
    });
    const conn = connection(this.#ctx, serverId);
    for (const { account, opens, closes } of wanted) {
      if (this.#o.stopped()) return;
      const login = account.login as number;
      const rows: TradeRow[] = [];
      if (opens.size > 0) {
        const open = await conn.call('openPositions', { login }, account.id, (api) => api.openPositions(login));
        if (open.ok) {
          for (const t of open.value) {
            if (opens.delete(t.ticket)) rows.push(row(serverId, login, t, 'open', 'pump'));
          }
        }
      }
      // An open no longer among the positions has closed since: its details are in the closed trades.
      if (closes.size > 0 || opens.size > 0) {
        const { fromServerSec, toServerSec } = serverRange(this.#ctx, clock.nowMs(), clock.nowMs());
        const closed = await conn.call('trades', { login, fromServerSec, toServerSec }, account.id, (api) =>
          api.trades(login, fromServerSec, toServerSec),
        );
        if (closed.ok) {
          for (const t of closed.value) {
            const open = opens.delete(t.ticket);
            const close = closes.delete(t.ticket);
            if (!open && !close) continue;
            // The side no event was seen for (yet) is a gap this read fills.
            const [openRow, closeRow] = closedRows(serverId, login, t, 'pump');
            if (openRow !== undefined) rows.push({ ...openRow, source: open ? 'pump' : 'history' });
            if (closeRow !== undefined) rows.push({ ...closeRow, source: close ? 'pump' : 'history' });
          }
        }
      }
      if (rows.length > 0) await this.#record(account, rows);
      if (opens.size > 0 || closes.size > 0) {
        // Not readable yet (history lag) or the read failed: the next fill records them.
        this.#ctx.log({
          level: 'info',
          msg: 'trade events not found on the server yet: left to the next fill',
          serverId,
          login,
          tickets: [...opens, ...closes],
        });
      }
    }
  }

  /**
   * Inserts the rows (all of `account`) not yet recorded, each with its outbox message and, for a close of a
   * partner's client, its IB commission — all in one transaction; returns how many were new.
   */
  async #record(account: AccountRow, rows: TradeRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const { config, clock, log } = this.#ctx;
    const nowMs = clock.nowMs();
    const insertAbsent = () =>
      this.#ctx.store.transaction(async (tx) => {
        let added = 0;
        let client: ClientRow | undefined;
        const unknownPartners = new Set<string>();
        for (const r of rows) {
          if ((await tx.get('trades', r.id)) !== undefined) continue;
          const trade: TradeRow = { ...r, recordedMs: nowMs };
          await tx.insert('trades', trade);
          await enqueueTradeMessage(tx, trade, account, nowMs);
          if (trade.action === 'close') {
            client ??= await tx.get('clients', account.clientId);
            if (client === undefined) throw new Error(`account ${account.id}: no client ${account.clientId}`);
            const { row, unknownPartner } = commissionFor(config, trade, account, client, nowMs);
            if (row !== null) await tx.insert('ib_commissions', row);
            if (unknownPartner !== null) unknownPartners.add(unknownPartner);
          }
          added++;
        }
        return { added, unknownPartners };
      });
    let outcome: Awaited<ReturnType<typeof insertAbsent>>;
    try {
      outcome = await insertAbsent();
    } catch (error) {
      // A store may refuse the loser of two concurrent inserts of one row (the pump and a fill) on the
      // primary key rather than rerun it: run it again, and it finds the winner's row.
      if (!(error instanceof StoreConstraintError) || !RECORDED_TABLES.has(error.table)) throw error;
      outcome = await insertAbsent();
    }
    for (const partnerId of outcome.unknownPartners) {
      log({
        level: 'warn',
        msg: 'a close of a client whose partner is not in ib.partners: no commission recorded',
        accountId: account.id,
        partnerId,
      });
    }
    if (outcome.added > 0) this.#o.onRecorded?.();
    return outcome.added;
  }

  #state(serverId: string): ServerState {
    let state = this.#servers.get(serverId);
    if (state === undefined) {
      state = { pending: [], draining: false, filling: false, again: false, readMs: new Map() };
      this.#servers.set(serverId, state);
    }
    return state;
  }
}

/** Tables a trade recording inserts into, keyed by the trade's id: a concurrent duplicate collides on any of them. */
const RECORDED_TABLES: ReadonlySet<string> = new Set(['trades', 'outbox', 'ib_commissions']);

/** The row of one side of a trade (recordedMs is stamped when it is inserted). */
function row(serverId: string, login: number, t: Trade, action: TradeAction, source: TradeRow['source']): TradeRow {
  const closing = action === 'close';
  return {
    id: tradeId(serverId, login, t.ticket, action),
    serverId,
    login,
    ticket: t.ticket,
    action,
    symbol: t.symbol,
    side: t.side,
    volumeCentiLots: t.volumeCentiLots,
    price: closing ? (t.closePrice as number) : t.openPrice,
    profitCents: closing ? (t.profitCents ?? null) : null,
    serverSec: (closing ? t.closeServerSec : t.openServerSec) ?? null,
    source,
    recordedMs: 0,
  };
}

/** A closed trade carries both of its sides: the open (if missed, it is a gap too) and the close. */
function closedRows(serverId: string, login: number, t: Trade, source: TradeRow['source']): TradeRow[] {
  // A closed trade without a close price is not closed as far as this record goes: only its open counts.
  if (t.closePrice === undefined) return [row(serverId, login, t, 'open', source)];
  return [row(serverId, login, t, 'open', source), row(serverId, login, t, 'close', source)];
}
