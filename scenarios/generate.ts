import { base, en, Faker } from '@faker-js/faker';
import fc from 'fast-check';
import { MtproofError } from '../kit/errors.ts';
import { Random } from '../kit/random.ts';
import { type BrokerConfig, type BrokerConfigInput, type ProductConfig, parseBrokerConfig } from '../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../service/default-config.ts';
import { needsKyc, route } from '../service/domain/routing.ts';
import { DEFAULT_SYMBOLS } from '../simulator/config.ts';
import { FAULT_KINDS, FAULT_SCOPE, type FaultConfigInput, type FaultKind } from '../simulator/faults.ts';
import {
  type GeneratedKind,
  PROFILE_NAMES,
  PROFILES,
  type Profile,
  type ProfileName,
  type Weights,
} from './profiles.ts';
import { SCRIPT_VERSION, type Script, type Step, scriptSchema } from './script.ts';

/**
 * Generators: fast-check arbitraries of whole broker days (scenario scripts), one per profile.
 *
 * A script is drawn as a list of *intents* per phase of the profile's day — "a deposit to some account",
 * "a KYC decision for some client" — and then read in order into steps. Entities get their ids in order of
 * introduction (c1, a1, t1...) and an intent names the entity it acts on only by an index taken modulo the
 * entities that fit at that point (funded accounts for a withdrawal, open trades for a close...). So when
 * fast-check shrinks the intent lists (removing intents, lowering numbers), every shrunk value still reads
 * as a coherent script: references move to the entities that are left instead of dangling. Where nothing
 * fits yet, the step names the first id of its kind (a1, c1, t1) and the runner skips it if it never exists.
 *
 * A client's onboarding is one intent that reads into several steps (register, KYC, accounts, a first
 * deposit), so the first steps of a day have someone to act for and most references exist.
 *
 * The intent lists are generated at a fixed length (the one that gives about `steps` steps) but shrink down
 * to nothing: fast-check's arrays cannot do both (a minLength also binds shrinking), hence `ExactArray`.
 * Numbers shrink towards the plain case: the bottom of a typical amount range, the first entity, the first
 * (most common) choice of a weight table.
 */

/** EU and non-EU countries clients come from: both routing branches of the default config are exercised. */
export const EU_COUNTRIES = ['DE', 'FR', 'IT', 'ES', 'NL', 'PL'] as const;
export const NON_EU_COUNTRIES = ['GB', 'AE', 'ZA', 'TH', 'BR', 'AU', 'CH', 'SG'] as const;

/** What a dealer writes in the comment of a hand edit (the empty comment included: dealers skip it). */
const DEALER_COMMENTS = ['correction', 'compensation', 'bonus', ''] as const;

/** Fault kinds a `fault` step may carry: dealer edits are steps of their own, so the harness knows each one. */
export const SCRIPTED_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => !k.startsWith('dealer'));

/** Random dealer kinds: always off in the safety phase (dealer edits come only as explicit steps). */
export const RANDOM_DEALER_KINDS = [
  'dealerBalanceEdit',
  'dealerGroupChange',
  'dealerDisable',
  'dealerLeverageChange',
] as const satisfies readonly FaultKind[];

/** MT4 keeps a client's name and email in 32-byte fields (31 characters and a NUL). */
export const MT4_TEXT_MAX = 31;

export interface ScriptArbitraryOptions {
  profile: ProfileName;
  /** About how many steps each generated script has, and never more (shrinking then removes steps). */
  steps: number;
  /** The broker config whose products, servers and funding limits the steps use; default: the embedded one. */
  config?: BrokerConfigInput | Readonly<BrokerConfig>;
  /** Symbols clients trade; default: the simulator's DEFAULT_SYMBOLS. */
  symbols?: readonly string[];
  /** The script's seed (cluster and service randomness); default: drawn (never shrunk) by the arbitrary. */
  seed?: string;
}

export interface GenerateOptions {
  /** The certification's seed: with `run`, it decides the script. */
  seed: string;
  /** The run's index (0, 1, ...). */
  run: number;
  /** Default: the run's turn in the certification's rotation of profiles (`profileForRun`). */
  profile?: ProfileName;
  steps: number;
  config?: BrokerConfigInput | Readonly<BrokerConfig>;
  symbols?: readonly string[];
}

/** A fast-check arbitrary of scripts of a profile's day with `steps` steps, shrinkable to any subsequence. */
export function scriptArbitrary(options: ScriptArbitraryOptions): fc.Arbitrary<Script> {
  const profile = profileNamed(options.profile);
  if (!Number.isSafeInteger(options.steps) || options.steps < 0 || options.steps > 1_000_000) {
    throw new MtproofError('MTP_SCRIPT_INVALID', `steps must be an integer from 0 to 1000000, not ${options.steps}`);
  }
  const config = options.config === undefined ? DEFAULT_CONFIG : parseBrokerConfig(options.config);
  const symbols = options.symbols ?? DEFAULT_SYMBOLS.map((s) => s.name);
  if (symbols.length === 0) throw new MtproofError('MTP_SCRIPT_INVALID', 'symbols: at least one symbol to trade');
  const context: Context = { profile, config, symbols, faker: new Faker({ locale: [en, base] }), names: new Map() };

  // The day opens with a client's onboarding, so that its first steps have someone to act for (the world
  // starts empty); shrinking can remove it like any other intent.
  const opening = options.steps > 0 ? 1 : 0;
  const counts = phaseCounts(profile, options.steps);
  if (opening > 0) counts[0] = Math.max(0, (counts[0] ?? 0) - onboardingShape(profile).steps);
  const phases = profile.phases.map((phase, i) => {
    // An onboarding is several steps: fewer intents than steps, so that the script has about `steps`.
    const intents = Math.round((counts[i] ?? 0) / stepsPerIntent(profile, phase.weights));
    return new ExactArray(phaseIntent(context, profile, phase.weights, waitArbitrary(profile, i, intents)), intents);
  });
  const first = new ExactArray(intentArbitrary(context, profile, 'client', fc.constant(1_000)), opening);
  const seed =
    options.seed === undefined ? fc.noShrink(fc.nat()).map((n) => `${profile.name}.${n}`) : fc.constant(options.seed);
  return fc
    .record({ seed, first, phases: fc.tuple(...phases) as fc.Arbitrary<Intent[][]> })
    .map(({ seed, first, phases }) => buildScript(context, seed, [...first, ...phases.flat()], options.steps));
}

/** One script, a function of (seed, run): the sample fast-check draws for that seed, unbiased. */
export function generateScript(options: GenerateOptions): Script {
  const scriptSeed = `${options.seed}.${options.run}`;
  if (options.seed === '' || scriptSeed.length > 64) {
    throw new MtproofError('MTP_SCRIPT_INVALID', 'a run seed must be 1 to 64 characters (with the run number)', [
      { path: 'seed', message: `"${options.seed}" gives the script seed "${scriptSeed}"` },
    ]);
  }
  if (!Number.isSafeInteger(options.run) || options.run < 0) {
    throw new MtproofError('MTP_SCRIPT_INVALID', `run must be an integer from 0, not ${options.run}`);
  }
  const profile = options.profile ?? profileForRun(options.seed, options.run);
  const arbitrary = scriptArbitrary({
    profile,
    steps: options.steps,
    config: options.config,
    symbols: options.symbols,
    seed: scriptSeed,
  });
  // Unbiased: fast-check biases its first samples towards small and extreme values (good for finding
  // bugs in a property's first runs, wrong for a broker day meant to look like a real one).
  const [script] = fc.sample(arbitrary, {
    seed: fnv1a(`${options.seed}/${options.run}`) | 0,
    numRuns: 1,
    unbiased: true,
  });
  if (script === undefined) throw new Error('generateScript: fast-check drew no sample');
  return {
    ...script,
    name: `${profile}-run${options.run}`,
    seed: scriptSeed,
    faults: safetyFaults(profile, scriptSeed),
    answerTimeoutMs: answerTimeout(scriptSeed),
    origin: { runSeed: options.seed, run: options.run, profile },
  };
}

/**
 * The random-fault config of the safety phase: the profile's intensity (drawn within its range from the
 * script's seed, so runs of one profile do not all share one rate), swarm on (each run's seed switches a
 * few kinds off), and the random dealer kinds pinned at probability 0: a dealer edit the harness did not
 * script would be a discrepancy it cannot account for.
 */
export function safetyFaults(profile: ProfileName, scriptSeed: string): FaultConfigInput {
  const [lo, hi] = profileNamed(profile).safetyIntensity;
  const u = fnv1a(`${scriptSeed}/safety-intensity`) / 2 ** 32;
  const intensity = Math.round((lo + (hi - lo) * u) * 100) / 100;
  const kinds: NonNullable<FaultConfigInput['kinds']> = {};
  for (const kind of RANDOM_DEALER_KINDS) kinds[kind] = { probability: 0 };
  return { swarm: true, intensity, kinds };
}

/**
 * How long the CRM and the provider wait for an answer: providers give a webhook a few seconds to 30 s
 * before they retry, so some runs are impatient (an integration that answers only after posting is then
 * retried while its first attempt is still in flight).
 */
function answerTimeout(scriptSeed: string): number {
  return ANSWER_TIMEOUTS_MS[fnv1a(`${scriptSeed}/answer-timeout`) % ANSWER_TIMEOUTS_MS.length] as number;
}

const ANSWER_TIMEOUTS_MS = [3_000, 5_000, 10_000, 30_000] as const;

/**
 * The profile of a run: runs come in blocks of as many runs as there are profiles, each block a seeded
 * shuffle of all of them, so every profile appears within the first four runs and equally often after.
 */
export function profileForRun(seed: string, run: number): ProfileName {
  const block = Math.floor(run / PROFILE_NAMES.length);
  const order = new Random(`p${fnv1a(`${seed}/profiles/${block}`)}`).shuffle(PROFILE_NAMES);
  return order[run % PROFILE_NAMES.length] as ProfileName;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: a stable hash, the same on every machine. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// ---- intents ----

type KycDecision = 'approved' | 'pending' | 'rejected';
type Webhook = 'once' | 'twice' | 'lost';
type AmountAt = 'typical' | 'min' | 'max' | 'below' | 'above';
type WithdrawMode = 'part' | 'all' | 'over' | 'fixed';

/** An amount as drawn: where it sits against the funding limits, and a typical value used when `typical`. */
interface Amount {
  at: AmountAt;
  cents: number;
}

/** Which product an `open` asks for: a product of `kind` that routing places for the client (or, `unroutable`, one it does not). */
interface OpenSpec {
  productPick: number;
  kind: 'live' | 'demo';
  unroutable: boolean;
}

/**
 * A client's onboarding, read into several steps: register, the KYC decision (before the first open, or
 * after it: then the open is asked again once approved), one or two accounts, a first deposit. Every part
 * but the registration is optional, so shrinking can take an onboarding apart.
 */
interface Onboarding {
  do: 'client';
  country: string;
  nameSeed: number;
  kyc: KycDecision | null;
  /** The first open is asked before the KYC decision. */
  openFirst: boolean;
  first: OpenSpec | null;
  second: OpenSpec | null;
  /** A first deposit, `delayMs` after the account was asked for (it must be open to take money). */
  fund: { delayMs: number; amount: Amount; webhook: Webhook } | null;
}

type Intent =
  | Onboarding
  | { do: 'kyc'; pick: number; decision: KycDecision }
  | { do: 'open'; pick: number; early: boolean; spec: OpenSpec }
  | { do: 'deposit'; pick: number; amount: Amount; webhook: Webhook }
  | { do: 'withdraw'; pick: number; mode: WithdrawMode; permille: number; amount: Amount; fromOpenPositions: boolean }
  | { do: 'credit'; pick: number; amount: Amount }
  | { do: 'trade-open'; pick: number; symbol: number; side: 'buy' | 'sell'; volume: number }
  | { do: 'trade-close'; pick: number }
  | { do: 'dealer-balance' | 'dealer-credit'; pick: number; cents: number; negative: boolean; comment: string }
  | { do: 'dealer-group'; pick: number; groupPick: number }
  | { do: 'fault'; server: number; kind: FaultKind; onPostBalance: boolean; params: Record<string, number | boolean> }
  | { do: 'server-restart'; server: number; downtimeMs: number }
  | { do: 'crash'; restartAfterMs: number; midDeposit: { pick: number; amount: Amount } | null }
  | { do: 'wait'; ms: number }
  | { do: 'reconcile' };

interface Context {
  profile: Profile;
  config: Readonly<BrokerConfig>;
  symbols: readonly string[];
  /** One instance per arbitrary, seeded afresh for every client, so a client's name depends on its draw only. */
  faker: Faker;
  /** nameSeed → name and email: shrinking rebuilds a script many times over. */
  names: Map<number, { name: string; email: string }>;
}

const DEFAULT_CONFIG = parseBrokerConfig(DEFAULT_BROKER_CONFIG, 'embedded broker config');
const DAY_MAX_MS = 30 * 86_400_000;
/** An index into whatever entities fit; taken modulo their number. */
const pick = fc.nat({ max: 0xffff });

function profileNamed(name: string): Profile {
  const profile = (PROFILES as Readonly<Record<string, Profile>>)[name];
  if (profile === undefined) {
    throw new MtproofError('MTP_SCRIPT_INVALID', `no profile "${name}" (profiles: ${PROFILE_NAMES.join(', ')})`);
  }
  return profile;
}

/**
 * A weighted choice among keys. Shrinking may jump to the first key's value (withCrossShrink): the
 * profiles list the plain case first (approved, once, typical...), so a counterexample gets simpler.
 */
function choice<K extends string>(weights: Weights<K>): fc.Arbitrary<K> {
  const entries = (Object.entries(weights) as [K, number | undefined][]).filter(([, w]) => (w ?? 0) > 0);
  if (entries.length === 0) throw new Error('choice: no positive weight');
  return fc.oneof(
    { withCrossShrink: true },
    ...entries.map(([key, weight]) => ({ weight: weight ?? 0, arbitrary: fc.constant(key) })),
  );
}

/** True `pct` percent of the time; shrinks to false. */
function chance(pct: number): fc.Arbitrary<boolean> {
  const p = Math.max(0, Math.min(100, Math.round(pct)));
  return choice<'no' | 'yes'>({ no: 100 - p, yes: p }).map((v) => v === 'yes');
}

/** `arbitrary`'s value `pct` percent of the time, else null; shrinks to null. */
function optional<T>(pct: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.tuple(chance(pct), arbitrary).map(([on, value]) => (on ? value : null));
}

function openSpec(profile: Profile): fc.Arbitrary<OpenSpec> {
  return fc.record({
    productPick: pick,
    kind: choice(profile.accountKinds),
    unroutable: chance(profile.unroutablePct),
  });
}

function range([min, max]: readonly [number, number]): fc.Arbitrary<number> {
  return fc.integer({ min, max });
}

function amount(profile: Profile, typical: readonly [number, number]): fc.Arbitrary<Amount> {
  return fc.record({ at: choice(profile.limits), cents: range(typical) });
}

/** How many steps each phase gets: shares rounded cumulatively, so they add up to `steps` exactly. */
function phaseCounts(profile: Profile, steps: number): number[] {
  const total = profile.phases.reduce((sum, p) => sum + p.stepShare, 0);
  let share = 0;
  let done = 0;
  return profile.phases.map((phase, i) => {
    share += phase.stepShare;
    const end = i === profile.phases.length - 1 ? steps : Math.round((steps * share) / total);
    const count = end - done;
    done = end;
    return count;
  });
}

/** The chances of an onboarding's optional parts (fc.option's freq: null one time in `freq`). */
const ONBOARDING = { kycFreq: 20, firstFreq: 10, secondPct: 20, fundFreq: 5 } as const;
/** How long a client takes from asking for an account to the first deposit (the wait is a step of its own). */
const FUND_DELAY_MS: readonly [number, number] = [20_000, 120_000];

/**
 * About how many steps an onboarding reads into: register, a KYC decision, the first account (asked again
 * after approval when asked before), maybe a second one, and a wait and a first deposit when a live account
 * opened; and how likely that deposit is.
 */
function onboardingShape(profile: Profile): { steps: number; funds: number } {
  const share = (weights: Weights<string>, key: string) => (weights[key] ?? 0) / Math.max(1, sumWeights(weights));
  const kyc = 1 - 1 / ONBOARDING.kycFreq;
  const first = 1 - 1 / ONBOARDING.firstFreq;
  const second = ONBOARDING.secondPct / 100;
  const approved = kyc * share(profile.kycDecisions, 'approved');
  const live = share(profile.accountKinds, 'live') * (1 - profile.unroutablePct / 100);
  const retry = (profile.openBeforeKycPct / 100) * first * approved * live;
  const liveAccount = 1 - (1 - first * live) * (1 - second * live);
  const funds = (1 - 1 / ONBOARDING.fundFreq) * approved * liveAccount;
  return { steps: 1 + kyc + first + second + retry + 2 * funds, funds };
}

function stepsPerIntent(profile: Profile, weights: Weights<GeneratedKind>): number {
  const total = sumWeights(weights);
  return total === 0 ? 1 : 1 + ((weights.client ?? 0) * (onboardingShape(profile).steps - 1)) / total;
}

function sumWeights(weights: Weights<string>): number {
  return (Object.values(weights) as (number | undefined)[]).reduce<number>((sum, w) => sum + (w ?? 0), 0);
}

/** Waits sized so that a phase's waits add up to about its share of the day, whatever the number of steps. */
function waitArbitrary(profile: Profile, phaseIndex: number, intents: number): fc.Arbitrary<number> {
  const phase = profile.phases[phaseIndex] as Profile['phases'][number];
  const total = sumWeights(phase.weights);
  const expectedWaits = Math.max(1, (intents * (phase.weights.wait ?? 0)) / Math.max(1, total));
  // Onboardings wait for their accounts too: that time comes out of the phase's share (down to a tenth).
  const onboardings = (intents * (phase.weights.client ?? 0)) / Math.max(1, total);
  const fundDelays = onboardings * onboardingShape(profile).funds * ((FUND_DELAY_MS[0] + FUND_DELAY_MS[1]) / 2);
  const budget = phase.timeShare * profile.dayMs;
  const mean = Math.max(budget / 10, budget - fundDelays) / expectedWaits;
  const min = Math.min(DAY_MAX_MS, Math.max(1_000, Math.round(mean / 4)));
  const max = Math.min(DAY_MAX_MS, Math.max(min, Math.round((mean * 7) / 4)));
  return fc.integer({ min, max });
}

function phaseIntent(
  context: Context,
  profile: Profile,
  weights: Weights<GeneratedKind>,
  wait: fc.Arbitrary<number>,
): fc.Arbitrary<Intent> {
  const entries = (Object.entries(weights) as [GeneratedKind, number | undefined][]).filter(([, w]) => (w ?? 0) > 0);
  return fc.oneof(
    ...entries.map(([kind, weight]) => ({
      weight: weight ?? 0,
      arbitrary: intentArbitrary(context, profile, kind, wait),
    })),
  ) as fc.Arbitrary<Intent>;
}

function intentArbitrary(
  context: Context,
  profile: Profile,
  kind: GeneratedKind,
  wait: fc.Arbitrary<number>,
): fc.Arbitrary<Intent> {
  const { amounts } = profile;
  switch (kind) {
    case 'client':
      return fc.record({
        do: fc.constant(kind),
        country: fc.constantFrom(...EU_COUNTRIES, ...NON_EU_COUNTRIES),
        // A name is a seed, not a string to shrink: a shorter name proves nothing.
        nameSeed: fc.noShrink(fc.nat()),
        kyc: fc.option(choice(profile.kycDecisions), { freq: ONBOARDING.kycFreq, nil: null }),
        openFirst: chance(profile.openBeforeKycPct),
        first: fc.option(openSpec(profile), { freq: ONBOARDING.firstFreq, nil: null }),
        second: optional(ONBOARDING.secondPct, openSpec(profile)),
        fund: fc.option(
          fc.record({
            delayMs: range(FUND_DELAY_MS),
            amount: amount(profile, amounts.depositCents),
            webhook: choice(profile.webhooks),
          }),
          {
            freq: ONBOARDING.fundFreq,
            nil: null,
          },
        ),
      });
    case 'kyc':
      return fc.record({ do: fc.constant(kind), pick, decision: choice(profile.kycDecisions) });
    case 'open':
      return fc.record({
        do: fc.constant(kind),
        pick,
        early: chance(profile.openBeforeKycPct),
        spec: openSpec(profile),
      });
    case 'deposit':
      return fc.record({
        do: fc.constant(kind),
        pick,
        amount: amount(profile, amounts.depositCents),
        webhook: choice(profile.webhooks),
      });
    case 'withdraw':
      return fc.record({
        do: fc.constant(kind),
        pick,
        mode: choice(profile.withdrawals),
        permille: fc.integer({ min: 1, max: 1000 }),
        amount: amount(profile, amounts.withdrawalCents),
        fromOpenPositions: chance(profile.withdrawFromOpenPositionsPct),
      });
    case 'credit':
      return fc.record({ do: fc.constant(kind), pick, amount: amount(profile, amounts.creditCents) });
    case 'trade-open':
      return fc.record({
        do: fc.constant(kind),
        pick,
        symbol: fc.nat({ max: context.symbols.length - 1 }),
        side: fc.constantFrom('buy' as const, 'sell' as const),
        volume: fc.integer({ min: 1, max: 200 }),
      });
    case 'trade-close':
      return fc.record({ do: fc.constant(kind), pick });
    case 'dealer-balance':
    case 'dealer-credit':
      return fc.record({
        do: fc.constant(kind),
        pick,
        cents: range(amounts.dealerCents),
        // Dealers take money back less often than they give it.
        negative: chance(30),
        comment: fc.constantFrom(...DEALER_COMMENTS),
      });
    case 'dealer-group':
      return fc.record({ do: fc.constant(kind), pick, groupPick: pick });
    case 'fault':
      return faultIntent(context, profile);
    case 'server-restart':
      return fc.record({
        do: fc.constant(kind),
        server: fc.nat({ max: context.config.servers.length - 1 }),
        downtimeMs: range(profile.restartDowntimeMs),
      });
    case 'crash':
      return fc.record({
        do: fc.constant(kind),
        restartAfterMs: range(profile.crashRestartMs),
        // Some crashes hit a deposit in flight: its answer lost, the process killed while it waits.
        midDeposit: fc.option(fc.record({ pick, amount: amount(profile, amounts.depositCents) }), {
          freq: 2,
        }) as fc.Arbitrary<{ pick: number; amount: Amount } | null>,
      });
    case 'wait':
      return fc.record({ do: fc.constant(kind), ms: wait });
    case 'reconcile':
      return fc.constant({ do: kind });
  }
}

function faultIntent(context: Context, profile: Profile): fc.Arbitrary<Intent> {
  const server = fc.nat({ max: context.config.servers.length - 1 });
  return fc.oneof(
    ...SCRIPTED_FAULT_KINDS.map((kind) => ({
      weight: profile.faultKinds[kind] ?? 1,
      arbitrary: fc.record({
        do: fc.constant('fault' as const),
        server,
        kind: fc.constant(kind),
        // Only a request fault can wait for one particular call.
        onPostBalance: FAULT_SCOPE[kind] === 'request' ? chance(profile.faultOnPostBalancePct) : fc.constant(false),
        params: faultParams(profile, kind),
      }),
    })),
  );
}

/** Parameters of one firing, as simulator/faults.ts accepts them per kind; kinds without any get {}. */
function faultParams(profile: Profile, kind: FaultKind): fc.Arbitrary<Record<string, number | boolean>> {
  switch (kind) {
    case 'connectionDrop':
      return fc.record({ applied: fc.boolean() });
    case 'restart':
      return fc.record({ downtimeMs: range(profile.restartDowntimeMs) });
    case 'latency':
      return fc.record({ latencyMs: fc.integer({ min: 100, max: 20_000 }) });
    case 'historyLag':
      return fc.record({
        lagMs: fc.integer({ min: 1_000, max: 60_000 }),
        windowMs: fc.integer({ min: 30_000, max: 600_000 }),
      });
    case 'pumpStall':
      return fc.record({ stallMs: fc.integer({ min: 5_000, max: 600_000 }) });
    case 'clockSkew':
      return fc
        .record({ ms: fc.integer({ min: 1_000, max: 600_000 }), back: fc.boolean() })
        .map(({ ms, back }) => ({ skewMs: back ? -ms : ms }));
    case 'timezoneShift':
      return fc.boolean().map((back) => ({ shiftMin: back ? -60 : 60 }));
    default:
      return fc.constant({});
  }
}

/** Generates exactly `length` items, shrinks like an array of 0 to `length` items (same item arbitrary). */
class ExactArray<T> extends fc.Arbitrary<T[]> {
  readonly #exact: fc.Arbitrary<T[]>;
  readonly #shrinkable: fc.Arbitrary<T[]>;

  constructor(item: fc.Arbitrary<T>, length: number) {
    super();
    this.#exact = fc.array(item, { minLength: length, maxLength: length });
    // size 'max': the length shrinker must cover 0..length, not fast-check's small default.
    this.#shrinkable = fc.array(item, { minLength: 0, maxLength: length, size: 'max' });
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T[]> {
    return this.#exact.generate(mrng, biasFactor);
  }

  canShrinkWithoutContext(value: unknown): value is T[] {
    return this.#shrinkable.canShrinkWithoutContext(value);
  }

  shrink(value: T[], context: unknown): fc.Stream<fc.Value<T[]>> {
    // Both are fast-check arrays of the same item arbitrary, so the contexts are interchangeable.
    return this.#shrinkable.shrink(value, context);
  }
}

// ---- reading intents into steps ----

interface ClientState {
  id: string;
  country: string;
  kyc: 'none' | KycDecision;
}

interface AccountState {
  id: string;
  client: ClientState | undefined;
  product: ProductConfig;
  /** The server routing places it on (when it routes). */
  serverId: string | undefined;
  /** Whether the open is expected to succeed: the client exists, KYC allows it, routing places it. */
  opened: boolean;
  /** Opening is asynchronous: the account takes money and trades once time has moved on. */
  readyAtMs: number;
  /** What the account should hold from deposits, withdrawals and dealer edits (trades left out). */
  balanceCents: number;
  creditCents: number;
  /** When the last deposit should have reached the server: a client trades money once it is there. */
  landsAtMs: number;
  openTrades: number;
  /** Margin its open trades hold, about (the simulator's prices move). */
  marginCents: number;
}

interface TradeState {
  id: string;
  account: AccountState | undefined;
  open: boolean;
  marginCents: number;
}

/** The script defaults (heal, answer timeout, expectations), taken from the schema so they never drift. */
const SCRIPT_DEFAULTS = scriptSchema.parse({ mtproof: SCRIPT_VERSION, name: 'defaults', seed: 'defaults', steps: [] });

function buildScript(context: Context, seed: string, intents: readonly Intent[], requested: number): Script {
  const { profile } = context;
  return {
    mtproof: SCRIPT_VERSION,
    name: profile.name,
    proves: `Generated: ${profile.summary} (${requested} steps requested)`,
    seed,
    faults: safetyFaults(profile.name, seed),
    heal: { ...SCRIPT_DEFAULTS.heal },
    answerTimeoutMs: SCRIPT_DEFAULTS.answerTimeoutMs,
    expect: {},
    origin: { profile: profile.name },
    // At most the steps asked for: an onboarding reads into several steps, so a day can overshoot a little.
    steps: new Reader(context).read(intents).slice(0, requested),
  };
}

class Reader {
  readonly #context: Context;
  readonly #clients: ClientState[] = [];
  readonly #accounts: AccountState[] = [];
  readonly #trades: TradeState[] = [];
  readonly #emails = new Set<string>();
  /** Virtual time of the step being read: only waits move it. */
  #nowMs = 0;

  constructor(context: Context) {
    this.#context = context;
  }

  read(intents: readonly Intent[]): Step[] {
    return intents.flatMap((intent) =>
      intent.do === 'client'
        ? this.#onboard(intent)
        : intent.do === 'crash' && intent.midDeposit !== null
          ? this.#crashMidDeposit(intent, intent.midDeposit)
          : [this.#step(intent)],
    );
  }

  /** A deposit whose answer the server loses, and the integration killed while it waits for it. */
  #crashMidDeposit(intent: Extract<Intent, { do: 'crash' }>, mid: { pick: number; amount: Amount }): Step[] {
    const account = choose(mid.pick, this.#fundable(true), this.#fundable(false), this.#accounts);
    const server = account?.serverId ?? this.#context.config.servers[0]?.id;
    const steps: Step[] = [];
    if (server !== undefined) {
      steps.push({ do: 'fault', server, kind: 'timeoutAfterApply', op: 'postBalance', params: {} });
    }
    steps.push(this.#deposit(account, mid.amount, 'once'));
    steps.push({ do: 'crash', restartAfterMs: intent.restartAfterMs });
    return steps;
  }

  #step(intent: Exclude<Intent, Onboarding>): Step {
    const { config } = this.#context;
    switch (intent.do) {
      case 'kyc': {
        const clients = this.#clients;
        const client = choose(
          intent.pick,
          clients.filter((c) => c.kyc === 'none'),
          clients.filter((c) => c.kyc === 'pending'),
          clients,
        );
        return this.#kyc(client, intent.decision);
      }
      case 'open': {
        const clients = this.#clients;
        // `early`: a client who has not passed KYC yet asks for an account (the gate must hold it back).
        const client = intent.early
          ? choose(
              intent.pick,
              clients.filter((c) => c.kyc === 'none' || c.kyc === 'pending'),
              clients,
            )
          : choose(
              intent.pick,
              clients.filter((c) => c.kyc === 'approved'),
              clients.filter((c) => c.kyc !== 'rejected'),
              clients,
            );
        return this.#open(client, intent.spec).step;
      }
      case 'deposit': {
        const account = choose(intent.pick, this.#fundable(true), this.#fundable(false), this.#accounts);
        return this.#deposit(account, intent.amount, intent.webhook);
      }
      case 'withdraw':
        return this.#withdraw(intent);
      case 'credit': {
        const account = choose(intent.pick, this.#fundable(true), this.#fundable(false), this.#accounts);
        const limits = this.#limits(account, 'credit');
        const amountCents = resolveAmount(intent.amount, limits);
        if (account !== undefined && this.#canFund(account) && within(amountCents, limits)) {
          account.creditCents += amountCents;
        }
        return { do: 'credit', account: account?.id ?? 'a1', amountCents };
      }
      case 'trade-open': {
        const opened = this.#accounts.filter((a) => a.opened);
        // Live accounts trade what was deposited; demo accounts come funded by their group.
        const funded = opened.filter((a) =>
          a.product.kind === 'demo' ? this.#ready(a) : a.balanceCents > 0 && a.landsAtMs <= this.#nowMs,
        );
        const account = choose(
          intent.pick,
          funded,
          opened.filter((a) => this.#ready(a)),
          opened,
          this.#accounts,
        );
        const symbol = this.#context.symbols[intent.symbol % this.#context.symbols.length] as string;
        const perLot = account === undefined ? undefined : marginPerVolumeCents(symbol, account.product);
        let volume = intent.volume;
        if (account !== undefined && perLot !== undefined && account.product.kind === 'live') {
          // A client sizes a position to the money on the account: at most half of the free margin, so
          // most orders are accepted and later withdrawals meet positions that hold margin.
          const free = account.balanceCents - account.marginCents;
          volume = Math.max(1, Math.min(volume, Math.floor((free * 0.5) / perLot)));
        }
        const marginCents = perLot === undefined ? 0 : volume * perLot;
        const id = `t${this.#trades.length + 1}`;
        this.#trades.push({ id, account, open: true, marginCents });
        if (account !== undefined) {
          account.openTrades++;
          account.marginCents += marginCents;
        }
        return { do: 'trade-open', id, account: account?.id ?? 'a1', symbol, side: intent.side, volume };
      }
      case 'trade-close': {
        const trade = choose(
          intent.pick,
          this.#trades.filter((t) => t.open),
          this.#trades,
        );
        if (trade?.open === true) {
          trade.open = false;
          if (trade.account !== undefined) {
            trade.account.openTrades--;
            trade.account.marginCents -= trade.marginCents;
          }
        }
        return { do: 'trade-close', trade: trade?.id ?? 't1' };
      }
      case 'dealer-balance':
      case 'dealer-credit': {
        const account = this.#dealerAccount(intent.pick);
        const held = intent.do === 'dealer-balance' ? account?.balanceCents : account?.creditCents;
        // A dealer takes back at most what the account holds (the server refuses more).
        const negative = intent.negative && held !== undefined && held >= intent.cents;
        const amountCents = negative ? -intent.cents : intent.cents;
        if (account !== undefined) {
          if (intent.do === 'dealer-balance') account.balanceCents += amountCents;
          else account.creditCents += amountCents;
        }
        return { do: intent.do, account: account?.id ?? 'a1', amountCents, comment: intent.comment };
      }
      case 'dealer-group': {
        const account = this.#dealerAccount(intent.pick);
        // A group of the server the account is on (a dealer moves accounts within a server).
        const serverId = account?.serverId;
        const onServer = config.products.flatMap((p) =>
          serverId === undefined || p.groups[serverId] === undefined ? [] : [p.groups[serverId]],
        );
        const all = config.products.flatMap((p) => Object.values(p.groups));
        const groups = [...new Set(onServer.length > 0 ? onServer : all)];
        const group = groups[intent.groupPick % groups.length] as string;
        return { do: 'dealer-group', account: account?.id ?? 'a1', group };
      }
      case 'fault': {
        const server = config.servers[intent.server % config.servers.length]?.id as string;
        const step: Step = { do: 'fault', server, kind: intent.kind, params: { ...intent.params } };
        return intent.onPostBalance ? { ...step, op: 'postBalance' } : step;
      }
      case 'server-restart': {
        const server = config.servers[intent.server % config.servers.length]?.id as string;
        return { do: 'server-restart', server, downtimeMs: intent.downtimeMs };
      }
      case 'crash':
        return { do: 'crash', restartAfterMs: intent.restartAfterMs };
      case 'wait':
        this.#nowMs += intent.ms;
        return { do: 'wait', ms: intent.ms };
      case 'reconcile':
        return { do: 'reconcile' };
    }
  }

  #onboard(intent: Onboarding): Step[] {
    const id = `c${this.#clients.length + 1}`;
    const client: ClientState = { id, country: intent.country, kyc: 'none' };
    this.#clients.push(client);
    const person = this.#person(intent.nameSeed);
    // Two clients with one email would be one client to a CRM: a clash gets the client's number.
    let email = person.email;
    if (this.#emails.has(email)) email = withSuffix(email, `.${this.#clients.length}`);
    this.#emails.add(email);
    const steps: Step[] = [{ do: 'client', id, country: intent.country, name: person.name, email }];
    const accounts: AccountState[] = [];
    const open = (spec: OpenSpec) => {
      const { step, account } = this.#open(client, spec);
      steps.push(step);
      accounts.push(account);
      return account;
    };
    if (intent.openFirst && intent.first !== null) {
      // Asked before KYC: a live account is refused; once approved, the client asks again.
      const attempt = open(intent.first);
      if (intent.kyc !== null) steps.push(this.#kyc(client, intent.kyc));
      if (!attempt.opened && attempt.serverId !== undefined && client.kyc === 'approved') open(intent.first);
    } else {
      if (intent.kyc !== null) steps.push(this.#kyc(client, intent.kyc));
      if (intent.first !== null) open(intent.first);
    }
    if (intent.second !== null) open(intent.second);
    const fund = intent.fund;
    const live = accounts.find((a) => a.product.kind === 'live' && a.opened);
    if (fund !== null && live !== undefined) {
      this.#nowMs += fund.delayMs;
      steps.push({ do: 'wait', ms: fund.delayMs });
      steps.push(this.#deposit(live, fund.amount, fund.webhook));
    }
    return steps;
  }

  #kyc(client: ClientState | undefined, decision: KycDecision): Step {
    if (client !== undefined) client.kyc = decision;
    return { do: 'kyc', client: client?.id ?? 'c1', decision };
  }

  #person(nameSeed: number): { name: string; email: string } {
    const cached = this.#context.names.get(nameSeed);
    if (cached !== undefined) return cached;
    const { faker } = this.#context;
    faker.seed(nameSeed);
    const first = ascii(faker.person.firstName()) || 'Alex';
    const last = ascii(faker.person.lastName()) || 'Smith';
    let name = `${first} ${last}`;
    if (name.length > MT4_TEXT_MAX) name = `${first.charAt(0)}. ${last}`.slice(0, MT4_TEXT_MAX).trim();
    let email = ascii(faker.internet.email({ firstName: first, lastName: last })).replace(/\s/g, '');
    if (email.length > MT4_TEXT_MAX || !/^[^@]+@[^@]+$/.test(email)) {
      const domain = email.split('@')[1] || 'example.com';
      const local = `${first.charAt(0)}.${last}`.toLowerCase().replace(/[^a-z0-9._-]/g, '') || 'client';
      email = `${local.slice(0, Math.max(1, MT4_TEXT_MAX - 1 - domain.length))}@${domain}`.slice(0, MT4_TEXT_MAX);
    }
    const person = { name, email };
    this.#context.names.set(nameSeed, person);
    return person;
  }

  #open(client: ClientState | undefined, spec: OpenSpec): { step: Step; account: AccountState } {
    const { config } = this.#context;
    const ofKind = config.products.filter((p) => p.kind === spec.kind);
    const candidates = ofKind.length > 0 ? ofKind : config.products;
    const placed = (p: ProductConfig) => client !== undefined && route(config, client.country, p, () => false).ok;
    const product = (
      spec.unroutable
        ? choose(
            spec.productPick,
            candidates.filter((p) => !placed(p)),
            candidates,
          )
        : choose(spec.productPick, candidates.filter(placed), candidates)
    ) as ProductConfig;
    const where = client === undefined ? undefined : route(config, client.country, product, () => false);
    const account: AccountState = {
      id: `a${this.#accounts.length + 1}`,
      client,
      product,
      serverId: where?.ok === true ? where.serverId : undefined,
      opened: client !== undefined && where?.ok === true && (client.kyc === 'approved' || !needsKyc(config, product)),
      readyAtMs: this.#nowMs + ACCOUNT_READY_MS,
      balanceCents: 0,
      creditCents: 0,
      landsAtMs: 0,
      openTrades: 0,
      marginCents: 0,
    };
    this.#accounts.push(account);
    return { step: { do: 'open', id: account.id, client: client?.id ?? 'c1', product: product.id }, account };
  }

  #deposit(account: AccountState | undefined, amount: Amount, webhook: Webhook): Step {
    const limits = this.#limits(account, 'deposit');
    const amountCents = resolveAmount(amount, limits);
    // A lost webhook never reaches the service: the money is at the provider, not on the account.
    if (account !== undefined && this.#canFund(account) && within(amountCents, limits) && webhook !== 'lost') {
      account.balanceCents += amountCents;
      account.landsAtMs = this.#nowMs + DEPOSIT_LANDS_MS;
    }
    return { do: 'deposit', account: account?.id ?? 'a1', amountCents, webhook };
  }

  #withdraw(intent: Extract<Intent, { do: 'withdraw' }>): Step {
    const fundable = this.#fundable(true);
    const funded = fundable.filter((a) => a.balanceCents > 0);
    const account = intent.fromOpenPositions
      ? choose(
          intent.pick,
          funded.filter((a) => a.openTrades > 0),
          funded,
          fundable,
          this.#accounts,
        )
      : choose(intent.pick, funded, fundable, this.#accounts);
    const limits = this.#limits(account, 'withdrawal');
    const fixed = resolveAmount(intent.amount, limits);
    const balance = Math.max(0, account?.balanceCents ?? 0);
    let amountCents: number;
    if (balance === 0 || intent.mode === 'fixed') amountCents = fixed;
    else if (intent.mode === 'all') amountCents = balance;
    else if (intent.mode === 'over') amountCents = balance + fixed;
    else {
      const part = Math.max(limits?.minCents ?? 1, Math.round((balance * intent.permille) / 1000));
      amountCents = Math.min(part, limits?.maxCents ?? part);
    }
    amountCents = Math.max(1, Math.min(1e13, amountCents));
    if (account !== undefined && this.#canFund(account) && amountCents <= balance && within(amountCents, limits)) {
      account.balanceCents -= amountCents;
    }
    return { do: 'withdraw', account: account?.id ?? 'a1', amountCents };
  }

  /** Accounts money can move on now (opened, KYC still allowing it); live only or all kinds. */
  #fundable(liveOnly: boolean): AccountState[] {
    return this.#accounts.filter((a) => this.#canFund(a) && (!liveOnly || a.product.kind === 'live'));
  }

  /** Dealers work on live accounts that are open on their server. */
  #dealerAccount(pick: number): AccountState | undefined {
    const ready = this.#accounts.filter((a) => this.#ready(a));
    return choose(
      pick,
      ready.filter((a) => a.product.kind === 'live'),
      ready,
      this.#accounts.filter((a) => a.opened),
      this.#accounts,
    );
  }

  /** Opened, and given the time to be provisioned on its server. */
  #ready(account: AccountState): boolean {
    return account.opened && account.readyAtMs <= this.#nowMs;
  }

  #canFund(account: AccountState): boolean {
    const client = account.client;
    return (
      this.#ready(account) &&
      client !== undefined &&
      (client.kyc === 'approved' || !needsKyc(this.#context.config, account.product))
    );
  }

  #limits(
    account: AccountState | undefined,
    kind: 'deposit' | 'withdrawal' | 'credit',
  ): { minCents: number; maxCents: number } | undefined {
    const { config } = this.#context;
    const currency = account?.product.currency ?? config.products[0]?.currency ?? 'USD';
    return config.funding.currencies[currency]?.[kind];
  }
}

/** The entity at `pick` (modulo) of the first non-empty pool: the preferred kind of entity when there is one. */
function choose<T>(pick: number, ...pools: readonly (readonly T[])[]): T | undefined {
  for (const pool of pools) if (pool.length > 0) return pool[pick % pool.length];
  return undefined;
}

function resolveAmount(amount: Amount, limits: { minCents: number; maxCents: number } | undefined): number {
  if (limits === undefined) return amount.cents;
  const { minCents, maxCents } = limits;
  switch (amount.at) {
    case 'typical':
      return Math.min(maxCents, Math.max(minCents, amount.cents));
    case 'min':
      return Math.max(1, minCents);
    case 'max':
      return Math.max(1, maxCents);
    // Just outside the limits: the service must refuse it (when there is room below the minimum).
    case 'below':
      return Math.max(1, minCents - 1);
    case 'above':
      return Math.min(1e13, maxCents + 1);
  }
}

/** Provisioning happens while virtual time moves (waits): an account is open a little after its step. */
const ACCOUNT_READY_MS = 15_000;
/** Posting happens while virtual time moves (waits): a deposit is on the server a little after its step. */
const DEPOSIT_LANDS_MS = 60_000;

/** Leverage assumed for a product that leaves it to its group (the groups of the default cluster: 1:100 to 1:500). */
const GROUP_LEVERAGE = 100;

/**
 * Margin of one volume unit (0.01 lot) of a default symbol, in cents of a USD account: contract size ×
 * price / leverage (all default symbols are quoted in USD). Unknown for another symbol or currency.
 */
function marginPerVolumeCents(symbol: string, product: ProductConfig): number | undefined {
  const spec = DEFAULT_SYMBOLS.find((s) => s.name === symbol);
  if (spec === undefined || product.currency !== 'USD') return undefined;
  return Math.ceil((spec.contractSize * spec.price) / (product.leverage ?? GROUP_LEVERAGE));
}

function within(cents: number, limits: { minCents: number; maxCents: number } | undefined): boolean {
  return limits === undefined || (cents >= limits.minCents && cents <= limits.maxCents);
}

/** ASCII only (MT4 stores names in a single-byte code page): accents dropped, the rest removed. */
function ascii(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .trim();
}

/** `local@domain` with `suffix` added to the local part, kept within MT4's 31 characters. */
function withSuffix(email: string, suffix: string): string {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const domain = email.slice(at);
  const room = Math.max(1, MT4_TEXT_MAX - domain.length - suffix.length);
  return `${local.slice(0, room)}${suffix}${domain}`.slice(0, MT4_TEXT_MAX);
}
