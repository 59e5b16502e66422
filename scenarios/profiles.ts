import { deepFreeze } from '../kit/freeze.ts';
import type { FaultKind } from '../simulator/faults.ts';
import type { StepKind } from './script.ts';

/**
 * Broker-day profiles: what kind of day a generated scenario plays. Each is a named set of weight tables
 * and parameters that scenarios/generate.ts turns into a fast-check arbitrary of scripts.
 *
 * A day is a sequence of phases (a morning burst, then the rest of the day...). A phase takes a share of
 * the script's steps and a share of the day's virtual time; its weights say how often each kind of step is
 * drawn. A `client` draw is a client's whole onboarding (register, KYC, an account or two, a first
 * deposit: about four steps), so it weighs less than its share of the steps; `kyc`, `open` and `deposit`
 * draws on their own are the later decisions, extra accounts and further deposits. Waits are sized from the time share, so a day spans about `dayMs` whatever the number of steps.
 * All weights are integers because fast-check's weighted choice (fc.oneof) counts in whole units.
 */

/** The step kinds a generator draws: every script step but `faults` (random faults are the script's `faults` field). */
export type GeneratedKind = Exclude<StepKind, 'faults'>;

/** Integer weights; a missing key weighs 0. */
export type Weights<K extends string> = Readonly<Partial<Record<K, number>>>;

export interface Phase {
  readonly name: string;
  /** Share of the script's steps (the shares of a profile add up to 1). */
  readonly stepShare: number;
  /** Share of the day's virtual time its waits add up to (the shares of a profile add up to 1). */
  readonly timeShare: number;
  readonly weights: Weights<GeneratedKind>;
}

/** Amount ranges in minor units (cents) for typical, everyday amounts; funding limits come from the broker config. */
export interface AmountRanges {
  readonly depositCents: readonly [number, number];
  readonly withdrawalCents: readonly [number, number];
  readonly creditCents: readonly [number, number];
  /** Size of a dealer's hand edit (either sign). */
  readonly dealerCents: readonly [number, number];
}

export interface Profile {
  readonly name: ProfileName;
  readonly summary: string;
  /** Virtual time the day's waits add up to (about). */
  readonly dayMs: number;
  readonly phases: readonly Phase[];
  /** Live or demo product on `open`. */
  readonly accountKinds: Weights<'live' | 'demo'>;
  readonly kycDecisions: Weights<'approved' | 'pending' | 'rejected'>;
  /**
   * Percent of onboardings where the client asks for an account before the KYC decision (and again after
   * an approval), and of later `open` steps aimed at a client not approved: the KYC gate gets exercised.
   */
  readonly openBeforeKycPct: number;
  /** Percent of `open` steps for a product routing does not place for the client (refused: no route/group). */
  readonly unroutablePct: number;
  readonly webhooks: Weights<'once' | 'twice' | 'lost'>;
  readonly amounts: AmountRanges;
  /** Where a deposit, withdrawal or credit amount sits against the funding limits. */
  readonly limits: Weights<'typical' | 'min' | 'max' | 'below' | 'above'>;
  /** part: some of what the account holds; all: everything; over: more than it holds; fixed: an amount (typical or at the limits) whatever it holds. */
  readonly withdrawals: Weights<'part' | 'all' | 'over' | 'fixed'>;
  /** Percent of withdrawals aimed at an account with open positions (free margin below balance, losing trades). */
  readonly withdrawFromOpenPositionsPct: number;
  /** Weights of the scripted fault kinds; a non-dealer kind not listed weighs 1, dealer kinds are never drawn. */
  readonly faultKinds: Weights<FaultKind>;
  /** Percent of request faults armed for the integration's next `postBalance` rather than its next call. */
  readonly faultOnPostBalancePct: number;
  /** Downtime of a `server-restart` step. */
  readonly restartDowntimeMs: readonly [number, number];
  /** When the integration is started again after a `crash` step. */
  readonly crashRestartMs: readonly [number, number];
  /** Random-fault intensity of the safety phase: each run draws one in this range from its seed. */
  readonly safetyIntensity: readonly [number, number];
}

export const PROFILE_NAMES = ['quiet-day', 'busy-monday', 'month-end', 'maintenance-night'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Everyday retail amounts: a card deposit of a few hundred dollars, a payout of a few hundred. */
const RETAIL: AmountRanges = {
  depositCents: [50_00, 5_000_00],
  withdrawalCents: [20_00, 3_000_00],
  creditCents: [10_00, 1_000_00],
  dealerCents: [1_00, 500_00],
};

export const PROFILES: Readonly<Record<ProfileName, Profile>> = deepFreeze({
  'quiet-day': {
    name: 'quiet-day',
    summary: 'A quiet day: a few clients sign up and fund, a little trading, mostly nothing happens.',
    dayMs: 24 * HOUR,
    phases: [
      {
        // Sign-ups come first so the rest of the day has someone to act on.
        name: 'morning',
        stepShare: 0.15,
        timeShare: 0.2,
        weights: { client: 4, kyc: 1, open: 1, deposit: 3, 'trade-open': 2, wait: 20, reconcile: 1 },
      },
      {
        name: 'day',
        stepShare: 0.85,
        timeShare: 0.8,
        weights: {
          client: 1,
          kyc: 1,
          open: 1,
          deposit: 3,
          withdraw: 2,
          credit: 1,
          'trade-open': 4,
          'trade-close': 3,
          'dealer-balance': 1,
          fault: 1,
          wait: 70,
          reconcile: 2,
        },
      },
    ],
    accountKinds: { live: 3, demo: 1 },
    kycDecisions: { approved: 85, pending: 10, rejected: 5 },
    openBeforeKycPct: 10,
    unroutablePct: 5,
    webhooks: { once: 97, twice: 3 },
    amounts: RETAIL,
    limits: { typical: 96, min: 2, max: 2 },
    withdrawals: { part: 80, all: 10, over: 5, fixed: 5 },
    withdrawFromOpenPositionsPct: 10,
    faultKinds: {},
    faultOnPostBalancePct: 30,
    restartDowntimeMs: [5_000, 60_000],
    crashRestartMs: [1_000, 120_000],
    safetyIntensity: [0.25, 0.75],
  },
  'busy-monday': {
    name: 'busy-monday',
    summary:
      'Monday morning: many sign-ups and card deposits in a short burst, webhooks retried, faults on; a calmer rest of the day.',
    dayMs: 10 * HOUR,
    phases: [
      {
        // The burst: most of the steps in about an hour of the day, most of them money coming in.
        name: 'morning-burst',
        stepShare: 0.6,
        timeShare: 0.12,
        weights: {
          client: 10,
          kyc: 2,
          open: 3,
          deposit: 25,
          credit: 3,
          withdraw: 1,
          'trade-open': 6,
          'trade-close': 1,
          fault: 5,
          crash: 1,
          wait: 12,
        },
      },
      {
        name: 'rest-of-day',
        stepShare: 0.4,
        timeShare: 0.88,
        weights: {
          client: 1,
          kyc: 2,
          open: 2,
          deposit: 2,
          withdraw: 5,
          credit: 1,
          'trade-open': 12,
          'trade-close': 10,
          'dealer-balance': 1,
          fault: 6,
          'server-restart': 1,
          crash: 1,
          wait: 40,
          reconcile: 3,
        },
      },
    ],
    accountKinds: { live: 4, demo: 1 },
    kycDecisions: { approved: 80, pending: 12, rejected: 8 },
    openBeforeKycPct: 15,
    unroutablePct: 5,
    webhooks: { once: 78, twice: 20, lost: 2 },
    amounts: { ...RETAIL, depositCents: [20_00, 5_000_00] },
    limits: { typical: 92, min: 3, max: 2, below: 2, above: 1 },
    withdrawals: { part: 75, all: 10, over: 10, fixed: 5 },
    withdrawFromOpenPositionsPct: 20,
    faultKinds: { latency: 3, tooFrequent: 3, timeoutAfterApply: 3, timeoutBeforeApply: 2, connectionDrop: 2 },
    faultOnPostBalancePct: 50,
    restartDowntimeMs: [5_000, 120_000],
    crashRestartMs: [1_000, 120_000],
    safetyIntensity: [2, 4],
  },
  'month-end': {
    name: 'month-end',
    summary:
      'Month end: clients with open positions cash out; withdrawals dominate and some race losing trades or exceed free margin.',
    dayMs: 12 * HOUR,
    phases: [
      {
        // The book the payouts act on: funded accounts with positions open.
        name: 'book',
        stepShare: 0.3,
        timeShare: 0.2,
        weights: { client: 8, kyc: 1, open: 3, deposit: 10, 'trade-open': 20, credit: 2, wait: 12 },
      },
      {
        name: 'payouts',
        stepShare: 0.7,
        timeShare: 0.8,
        weights: {
          kyc: 1,
          open: 1,
          deposit: 4,
          withdraw: 30,
          credit: 1,
          'trade-open': 10,
          'trade-close': 12,
          'dealer-balance': 2,
          'dealer-group': 1,
          fault: 4,
          crash: 1,
          wait: 25,
          reconcile: 4,
        },
      },
    ],
    accountKinds: { live: 9, demo: 1 },
    kycDecisions: { approved: 90, pending: 6, rejected: 4 },
    openBeforeKycPct: 8,
    unroutablePct: 3,
    webhooks: { once: 95, twice: 5 },
    amounts: { ...RETAIL, depositCents: [100_00, 10_000_00], withdrawalCents: [50_00, 10_000_00] },
    limits: { typical: 92, min: 2, max: 3, below: 1, above: 2 },
    withdrawals: { part: 40, all: 30, over: 20, fixed: 10 },
    withdrawFromOpenPositionsPct: 60,
    faultKinds: { timeoutAfterApply: 3, historyLag: 3, latency: 2 },
    faultOnPostBalancePct: 60,
    restartDowntimeMs: [5_000, 120_000],
    crashRestartMs: [1_000, 120_000],
    safetyIntensity: [0.75, 1.5],
  },
  'maintenance-night': {
    name: 'maintenance-night',
    summary:
      'Maintenance night: servers restart, the service crashes and comes back, dealers edit balances and credits, pumps stall.',
    dayMs: 8 * HOUR,
    phases: [
      {
        name: 'evening',
        stepShare: 0.25,
        timeShare: 0.15,
        weights: { client: 8, kyc: 1, open: 2, deposit: 8, 'trade-open': 10, credit: 3, wait: 15 },
      },
      {
        name: 'night',
        stepShare: 0.75,
        timeShare: 0.85,
        weights: {
          kyc: 1,
          deposit: 3,
          withdraw: 2,
          credit: 1,
          'trade-open': 2,
          'trade-close': 3,
          'dealer-balance': 8,
          'dealer-credit': 6,
          'dealer-group': 1,
          fault: 8,
          'server-restart': 6,
          crash: 5,
          wait: 30,
          reconcile: 4,
        },
      },
    ],
    accountKinds: { live: 3, demo: 1 },
    kycDecisions: { approved: 85, pending: 10, rejected: 5 },
    openBeforeKycPct: 10,
    unroutablePct: 5,
    webhooks: { once: 90, twice: 8, lost: 2 },
    amounts: { ...RETAIL, dealerCents: [1_00, 2_000_00] },
    limits: { typical: 94, min: 2, max: 2, below: 1, above: 1 },
    withdrawals: { part: 70, all: 10, over: 10, fixed: 10 },
    withdrawFromOpenPositionsPct: 20,
    faultKinds: {
      pumpStall: 8,
      restart: 4,
      connectionDrop: 3,
      silentLogout: 3,
      historyLag: 3,
      clockSkew: 2,
      timezoneShift: 2,
    },
    faultOnPostBalancePct: 30,
    restartDowntimeMs: [30_000, 15 * MINUTE],
    crashRestartMs: [1_000, 120_000],
    safetyIntensity: [1, 2],
  },
} satisfies Record<ProfileName, Profile>);
