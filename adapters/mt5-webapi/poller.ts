import type { Clock } from '../../kit/clock.ts';
import { SystemClock } from '../../kit/clock.ts';
import type { PumpEvent, Result } from '../port/manager-api.ts';
import { dealEvents, parseServerTime, userFingerprint } from './records.ts';
import type { Command } from './session.ts';
import { AnswerError, asRecord, asRecords, intField } from './wire.ts';

/**
 * The Web API has no pumping: a subscription is emulated by polling over the same session.
 *
 * Each poll asks for the server time, every user (`user/get_batch?group=*`) and every deal of the recent
 * past (`deal/get_batch?group=*&from&to`), then reports what is new since the last poll: logins not seen
 * before (`user` add), users whose fingerprint changed (`user` update), and deals not seen before (`balance`
 * for balance-side deals, `trade` open/close for trade deals). The deal window reaches back
 * HISTORY_OVERLAP_SEC before the previous poll, so a deal that shows in history late (history lag) is
 * still found; deals already reported are remembered by ticket for as long as the window holds them.
 */

/** How far before the previous poll's server time each poll looks for deals (history may lag). */
export const HISTORY_OVERLAP_SEC = 120;
/** How far past the server time the deal window reaches (a deal stamped in the poll's own second). */
const FUTURE_SLACK_SEC = 60;

/** Sends one background command of the subscription (never logs in again, never changes the api's state). */
export type PollRequest = (command: Command) => Promise<Result<Record<string, unknown>>>;

/** Waits that end early when stopped; real timers are cleared so a closed api leaves none behind. */
export class Timers {
  readonly #clock: Clock;
  readonly #real: boolean;
  #stopped = false;
  readonly #pending = new Set<() => void>();

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#real = clock instanceof SystemClock;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True after `ms`, false when stopped first. `background`: a real timer that does not keep Node alive. */
  sleep(ms: number, background = false): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      let handle: NodeJS.Timeout | null = null;
      const settle = (elapsed: boolean): void => {
        if (!this.#pending.delete(stop)) return;
        resolve(elapsed);
      };
      const stop = (): void => {
        if (handle !== null) clearTimeout(handle);
        settle(false);
      };
      this.#pending.add(stop);
      if (this.#real) {
        handle = setTimeout(() => settle(true), ms);
        if (background) handle.unref();
      } else {
        void this.#clock.sleep(ms).then(() => settle(true));
      }
    });
  }

  stop(): void {
    this.#stopped = true;
    for (const stop of [...this.#pending]) stop();
  }
}

export interface SubscriptionOptions {
  readonly request: PollRequest;
  readonly listener: (event: PumpEvent) => void;
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  /** The socket of the session the subscription belongs to: it ends with that session. */
  readonly socketId: number;
  /** Called once when it ends, however it ends. */
  readonly onEnd: (subscription: PollingSubscription) => void;
  /** The failure for an answer the poll cannot read (a platform_error: polling goes on). */
  readonly badAnswer: (detail: string) => Result<never>;
}

export class PollingSubscription {
  readonly socketId: number;
  readonly #options: SubscriptionOptions;
  readonly #timers: Timers;
  #open = true;
  /** Polls run one after another: the loop's and `pollNow`'s. */
  #chain: Promise<void> = Promise.resolve();
  #cursorSec = 0;
  /** Deals reported, by ticket, with their time (forgotten once they fall out of the window). */
  #seenDeals = new Map<number, number>();
  /** Users as last seen: login → fingerprint. */
  #users = new Map<number, string>();

  constructor(options: SubscriptionOptions) {
    this.socketId = options.socketId;
    this.#options = options;
    this.#timers = new Timers(options.clock);
  }

  get open(): boolean {
    return this.#open;
  }

  /** Takes the first snapshot (nothing in it is reported) and starts polling. */
  async start(): Promise<Result<void>> {
    const snapshot = await this.#read();
    if (!snapshot.ok) return snapshot;
    this.#commit(snapshot.value);
    void this.#loop();
    return { ok: true, value: undefined };
  }

  /** Runs one poll now (after any poll under way) and resolves when its events have been delivered. */
  pollNow(): Promise<void> {
    const next = this.#chain.then(() => this.#pollOnce());
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Ends the subscription; `stopped`: tell the listener (the session was lost), otherwise silently. */
  end(stopped: boolean): void {
    if (!this.#open) return;
    this.#open = false;
    this.#timers.stop();
    if (stopped) this.#deliver({ type: 'stopped' });
    this.#options.onEnd(this);
  }

  async #loop(): Promise<void> {
    while (this.#open) {
      if (!(await this.#timers.sleep(this.#options.pollIntervalMs))) return;
      try {
        await this.pollNow();
      } catch {
        // A listener's error was rethrown to the process by #deliver; the stream goes on.
      }
    }
  }

  async #pollOnce(): Promise<void> {
    if (!this.#open) return;
    const read = await this.#read();
    if (!this.#open) return;
    if (!read.ok) {
      // The session is gone: the stream ends. Anything else (too frequent, a bad answer) is retried next poll.
      if (read.error.reason === 'no_connection') this.end(true);
      return;
    }
    const events = this.#diff(read.value);
    this.#commit(read.value);
    for (const event of events) {
      if (!this.#open) return;
      this.#deliver(event);
    }
  }

  #deliver(event: PumpEvent): void {
    try {
      this.#options.listener(event);
    } catch (error) {
      // A listener's bug is not the stream's: surface it like an EventEmitter listener's, keep polling.
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  async #read(): Promise<Result<Snapshot>> {
    const request = this.#options.request;
    const time = await request({ path: '/api/time/server' });
    if (!time.ok) return time;
    let nowSec: number;
    try {
      nowSec = parseServerTime(time.value.answer);
    } catch (error) {
      return this.#badAnswer(error);
    }
    const fromSec = Math.max(0, (this.#cursorSec === 0 ? nowSec : this.#cursorSec) - HISTORY_OVERLAP_SEC);
    const users = await request({ path: '/api/user/get_batch', query: { group: '*' } });
    if (!users.ok) return users;
    const deals = await request({
      path: '/api/deal/get_batch',
      query: { group: '*', from: fromSec, to: nowSec + FUTURE_SLACK_SEC },
    });
    if (!deals.ok) return deals;
    try {
      const userList = new Map<number, string>();
      for (const u of asRecords(users.value.answer, 'user/get_batch')) {
        userList.set(intField(u, 'Login'), userFingerprint(u));
      }
      const dealList = asRecords(deals.value.answer, 'deal/get_batch')
        .map((d) => ({
          ticket: intField(d, 'Deal'),
          timeSec: intField(d, 'Time'),
          events: dealEvents(asRecord(d, 'deal')),
        }))
        .sort((a, b) => a.ticket - b.ticket);
      return { ok: true, value: { nowSec, fromSec, users: userList, deals: dealList } };
    } catch (error) {
      return this.#badAnswer(error);
    }
  }

  #badAnswer(error: unknown): Result<never> {
    if (!(error instanceof AnswerError)) throw error;
    return this.#options.badAnswer(error.message);
  }

  #diff(snapshot: Snapshot): PumpEvent[] {
    const events: PumpEvent[] = [];
    for (const [login, fingerprint] of snapshot.users) {
      const before = this.#users.get(login);
      if (before === undefined) events.push({ type: 'user', action: 'add', login });
      else if (before !== fingerprint) events.push({ type: 'user', action: 'update', login });
    }
    for (const deal of snapshot.deals) {
      if (!this.#seenDeals.has(deal.ticket)) events.push(...deal.events);
    }
    return events;
  }

  #commit(snapshot: Snapshot): void {
    this.#users = snapshot.users;
    for (const deal of snapshot.deals) this.#seenDeals.set(deal.ticket, deal.timeSec);
    // The next window starts HISTORY_OVERLAP_SEC before this poll: older deals cannot come back.
    const keepFromSec = snapshot.nowSec - HISTORY_OVERLAP_SEC;
    for (const [ticket, timeSec] of this.#seenDeals) if (timeSec < keepFromSec) this.#seenDeals.delete(ticket);
    this.#cursorSec = snapshot.nowSec;
  }
}

interface Snapshot {
  nowSec: number;
  fromSec: number;
  users: Map<number, string>;
  deals: { ticket: number; timeSec: number; events: PumpEvent[] }[];
}
