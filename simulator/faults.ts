import { z } from 'zod';
import { MtproofError, schemaIssues } from '../kit/errors.ts';
import { deepFreeze } from '../kit/freeze.ts';
import { type Random, WeightedChoice } from '../kit/random.ts';
import { MT4_MAX_LEVERAGE } from './config.ts';

/**
 * Fault kinds: each a typed knob. Request faults hit the manager request being handled; server faults
 * fire on the request's server and the request then goes on normally; pump faults hit one pumped event.
 * Every fault that fires is written to the trace.
 */
export interface FaultKnobs<T> {
  /** The request is lost before the server sees it: nothing applied, the caller waits its timeout. */
  timeoutBeforeApply: T;
  /** The server applies the request but the answer is lost: the caller waits its timeout, sees unknown. */
  timeoutAfterApply: T;
  /** The connection breaks around the request (applied or not, by chance); the pump stops too. */
  connectionDrop: T;
  /** The server logs the session out but the socket stays up: it looks connected, requests fail, its pump goes quiet. */
  silentLogout: T;
  /** The server restarts: sessions dropped, down for a while, state kept; the in-flight request applied or not. */
  restart: T;
  /** The server refuses the request as too frequent (anti-flood). */
  tooFrequent: T;
  /** The answer comes late; past the caller's timeout it becomes a timeout (applied if it arrived in time). */
  latency: T;
  /** The manager lacks the right for this request (rights edited on the server). */
  permissionDenied: T;
  /** From now on for a while, new operations reach history queries only after a lag. */
  historyLag: T;
  /** The pumping stream delivers nothing for a while; events of that time are lost. */
  pumpStall: T;
  /** A pumped event is delivered twice. */
  pumpDuplicate: T;
  /** A pumped event is held back and delivered after the next one (or alone, late, if none follows soon). */
  pumpReorder: T;
  /** A dealer posts a balance correction by hand, with any comment. */
  dealerBalanceEdit: T;
  /** A dealer moves an account to another group by hand. */
  dealerGroupChange: T;
  /** A dealer disables an account by hand. */
  dealerDisable: T;
  /** A dealer changes an account's leverage by hand. */
  dealerLeverageChange: T;
  /** The server's clock jumps (skew): server times shift by seconds to minutes. */
  clockSkew: T;
  /** The server's time zone shifts by an hour (a daylight-saving change). */
  timezoneShift: T;
}

export type FaultKind = keyof FaultKnobs<unknown>;

export const FAULT_KINDS: readonly FaultKind[] = Object.freeze([
  'timeoutBeforeApply',
  'timeoutAfterApply',
  'connectionDrop',
  'silentLogout',
  'restart',
  'tooFrequent',
  'latency',
  'permissionDenied',
  'historyLag',
  'pumpStall',
  'pumpDuplicate',
  'pumpReorder',
  'dealerBalanceEdit',
  'dealerGroupChange',
  'dealerDisable',
  'dealerLeverageChange',
  'clockSkew',
  'timezoneShift',
]);

export type FaultScope = 'request' | 'server' | 'pump';

export const FAULT_SCOPE: Readonly<FaultKnobs<FaultScope>> = Object.freeze({
  timeoutBeforeApply: 'request',
  timeoutAfterApply: 'request',
  connectionDrop: 'request',
  silentLogout: 'request',
  restart: 'request',
  tooFrequent: 'request',
  latency: 'request',
  permissionDenied: 'request',
  historyLag: 'server',
  pumpStall: 'server',
  pumpDuplicate: 'pump',
  pumpReorder: 'pump',
  dealerBalanceEdit: 'server',
  dealerGroupChange: 'server',
  dealerDisable: 'server',
  dealerLeverageChange: 'server',
  clockSkew: 'server',
  timezoneShift: 'server',
});

/** Default probability per manager request (pump faults: per pumped event), before the per-seed factor. */
export const DEFAULT_PROBABILITY: Readonly<FaultKnobs<number>> = Object.freeze({
  timeoutBeforeApply: 0.004,
  timeoutAfterApply: 0.004,
  connectionDrop: 0.003,
  silentLogout: 0.001,
  restart: 0.0005,
  tooFrequent: 0.004,
  latency: 0.02,
  permissionDenied: 0.002,
  historyLag: 0.002,
  pumpStall: 0.001,
  pumpDuplicate: 0.01,
  pumpReorder: 0.01,
  dealerBalanceEdit: 0.002,
  dealerGroupChange: 0.001,
  dealerDisable: 0.001,
  dealerLeverageChange: 0.001,
  clockSkew: 0.0005,
  timezoneShift: 0.0003,
});

const range = z
  .tuple([z.number().min(0), z.number().min(0)])
  .refine(([lo, hi]) => lo <= hi, 'a [min, max] pair with min <= max');

const paramsSchema = z.strictObject({
  /** Extra answer delay of the latency fault. */
  latencyMs: range.default([5, 2_000]),
  /** How long a restarted server stays down. */
  restartDowntimeMs: range.default([5_000, 120_000]),
  /** Chance that the request in flight at a restart or connection drop was applied. */
  inFlightAppliedProbability: z.number().min(0).max(1).default(0.5),
  /** How late a new operation appears in history queries while history lags. */
  historyLagMs: range.default([1_000, 60_000]),
  /** How long history lags once the fault fires. */
  historyLagWindowMs: range.default([30_000, 600_000]),
  /** How long a reordered pump event waits for the next one before it goes out alone. */
  pumpReorderWindowMs: z.number().int().min(0).default(5_000),
  /** How long a pump stall lasts. */
  pumpStallMs: range.default([5_000, 600_000]),
  /** Size of a dealer's balance correction (minor units, either sign). */
  dealerAmountCents: range.default([100, 50_000]),
  /** Size of a clock jump (either direction). */
  clockSkewMs: range.default([1_000, 600_000]),
  /** Size of a time-zone shift (either direction). */
  timezoneShiftMin: z.number().int().min(1).max(720).default(60),
});

const kindSchema = z.enum(FAULT_KINDS as [FaultKind, ...FaultKind[]]);

const ms = z.number().int().min(0);
const login = z.number().int().positive();
const none = z.strictObject({});

/** What each kind accepts as parameters of one firing (a schedule entry or `cluster.inject`). */
const FAULT_PARAMS: Readonly<FaultKnobs<z.ZodType<Record<string, unknown>>>> = Object.freeze({
  timeoutBeforeApply: none,
  timeoutAfterApply: none,
  connectionDrop: z.strictObject({ applied: z.boolean().optional() }),
  silentLogout: none,
  restart: z.strictObject({ downtimeMs: ms.optional(), applied: z.boolean().optional() }),
  tooFrequent: none,
  latency: z.strictObject({ latencyMs: ms.optional() }),
  permissionDenied: none,
  historyLag: z.strictObject({ lagMs: ms.optional(), windowMs: ms.optional() }),
  pumpStall: z.strictObject({ stallMs: ms.optional() }),
  pumpDuplicate: none,
  pumpReorder: none,
  dealerBalanceEdit: z.strictObject({
    login: login.optional(),
    amountCents: z
      .number()
      .int()
      .refine((n) => n !== 0, 'not zero')
      .optional(),
    comment: z.string().optional(),
  }),
  dealerGroupChange: z.strictObject({ login: login.optional(), group: z.string().min(1).optional() }),
  dealerDisable: z.strictObject({ login: login.optional() }),
  dealerLeverageChange: z.strictObject({
    login: login.optional(),
    leverage: z.number().int().min(1).max(MT4_MAX_LEVERAGE).optional(),
  }),
  clockSkew: z.strictObject({ skewMs: z.number().int().optional() }),
  timezoneShift: z.strictObject({ shiftMin: z.number().int().min(-720).max(720).optional() }),
});

const scheduleEntrySchema = z
  .strictObject({
    /** Arm at the N-th manager request to the cluster (1-based, all servers counted)... */
    atStep: z.number().int().min(1).optional(),
    /** ...or at this many ms of virtual time after the cluster is created. */
    atMs: z.number().int().min(0).optional(),
    server: z.string().min(1),
    fault: kindSchema,
    /** Overrides for this one firing, e.g. { downtimeMs: 30000 } or { login: 100001, amountCents: -5000 }. */
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
  })
  .refine((e) => (e.atStep === undefined) !== (e.atMs === undefined), 'give exactly one of atStep and atMs')
  .superRefine((entry, ctx) => {
    const parsed = FAULT_PARAMS[entry.fault].safeParse(entry.params);
    if (parsed.success) return;
    for (const issue of schemaIssues(parsed.error)) {
      const key = issue.path === '(root)' ? '' : `.${issue.path}`;
      ctx.addIssue({ code: 'custom', path: ['params'], message: `${entry.fault}${key}: ${issue.message}` });
    }
  });

/** Validates the parameters of one firing of `kind`; throws MTP_FAULTS_INVALID naming the bad one. */
export function checkFaultParams(kind: FaultKind, params: Record<string, unknown>, where = 'params'): void {
  const parsed = FAULT_PARAMS[kind].safeParse(params);
  if (parsed.success) return;
  throw new MtproofError(
    'MTP_FAULTS_INVALID',
    `bad parameters for ${kind}`,
    schemaIssues(parsed.error).map((i) => ({
      path: i.path === '(root)' ? where : `${where}.${i.path}`,
      message: i.message,
    })),
  );
}

const faultConfigSchema = z.strictObject({
  /** Swarm testing: each seed switches a few kinds off entirely, so faults combine differently per run. */
  swarm: z.boolean().default(true),
  /** Multiplies every default probability; 0 leaves only explicit `kinds.X.probability` values and schedules. */
  intensity: z.number().min(0).max(100).default(1),
  kinds: z
    .partialRecord(
      kindSchema,
      z.strictObject({
        enabled: z.boolean().optional(),
        /** An exact probability: no per-seed factor is applied to it. */
        probability: z.number().min(0).max(1).optional(),
      }),
    )
    .default({}),
  params: paramsSchema.default(paramsSchema.parse({})),
  schedule: z.array(scheduleEntrySchema).default([]),
});

export type FaultConfigInput = z.input<typeof faultConfigSchema>;
export type FaultConfig = z.output<typeof faultConfigSchema>;
type FaultParams = FaultConfig['params'];
export type ScheduledFault = FaultConfig['schedule'][number];

export function parseFaultConfig(raw: unknown, source = 'fault config'): Readonly<FaultConfig> {
  const parsed = faultConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new MtproofError('MTP_FAULTS_INVALID', `${source} is invalid`, schemaIssues(parsed.error));
  }
  return deepFreeze(parsed.data);
}

/** What one seed makes of a fault configuration. */
export interface FaultPlan {
  readonly probability: Readonly<FaultKnobs<number>>;
  /** Kinds the swarm switched off for this seed. */
  readonly swarmedOff: readonly FaultKind[];
  readonly params: FaultParams;
  readonly schedule: readonly ScheduledFault[];
}

/** Resolves the per-seed plan: per-kind probability factors and the swarm's choice of kinds to switch off. */
export function planFaults(config: Readonly<FaultConfig>, random: Random): FaultPlan {
  const swarmed = new Set<FaultKind>();
  if (config.swarm) {
    // A kind given explicitly (enabled: true, or an exact probability) is never switched off by the swarm.
    const candidates = FAULT_KINDS.filter(
      (k) => config.kinds[k]?.enabled !== true && config.kinds[k]?.probability === undefined,
    );
    const swarm = random.fork('swarm');
    const count = swarm.int(0, Math.floor(FAULT_KINDS.length / 4));
    for (const kind of swarm.shuffle(candidates).slice(0, count)) swarmed.add(kind);
  }
  const probability = {} as FaultKnobs<number>;
  for (const kind of FAULT_KINDS) {
    const knob = config.kinds[kind];
    if (knob?.enabled === false || swarmed.has(kind)) probability[kind] = 0;
    else if (knob?.probability !== undefined) probability[kind] = knob.probability;
    else {
      const factor = 0.25 + 1.75 * random.fork('rate').fork(kind).float();
      probability[kind] = Math.min(1, DEFAULT_PROBABILITY[kind] * config.intensity * factor);
    }
  }
  for (const scopes of [['request', 'server'], ['pump']] as const) {
    const kinds = FAULT_KINDS.filter((k) => (scopes as readonly FaultScope[]).includes(FAULT_SCOPE[k]));
    const sum = kinds.reduce((total, k) => total + probability[k], 0);
    if (sum > 1) {
      throw new MtproofError('MTP_FAULTS_INVALID', 'fault probabilities are too high', [
        {
          path: config.intensity > 1 ? 'intensity' : 'kinds',
          message: `the ${scopes.join(' and ')} fault probabilities of this seed add up to ${sum.toFixed(3)} (at most 1): lower intensity or the explicit probabilities`,
        },
      ]);
    }
  }
  return Object.freeze({
    probability: Object.freeze(probability),
    swarmedOff: Object.freeze([...swarmed].sort()),
    params: config.params,
    schedule: config.schedule,
  });
}

/**
 * One draw picks at most one fault of the table's scopes (per request: a request or server fault; per
 * pumped event: a pump fault): a cumulative table over the kinds keeps the hot path at one random number.
 * A draw at or above the total picks no fault.
 */
export class FaultTable {
  readonly #choice: WeightedChoice<FaultKind> | null;
  readonly total: number;

  constructor(plan: FaultPlan, scopes: readonly FaultScope[]) {
    const entries: [FaultKind, number][] = [];
    for (const kind of FAULT_KINDS) {
      const p = plan.probability[kind];
      if (p > 0 && scopes.includes(FAULT_SCOPE[kind])) entries.push([kind, p]);
    }
    this.#choice = entries.length > 0 ? new WeightedChoice(entries) : null;
    this.total = this.#choice?.total ?? 0;
    // planFaults has already refused such a plan: reaching this is a bug.
    if (this.total > 1) throw new Error(`fault table: probabilities add up to ${this.total} > 1`);
  }

  /** The fault picked by a uniform draw `u` in [0, 1), or null. */
  pick(u: number): FaultKind | null {
    if (this.#choice === null || u >= this.total) return null;
    return this.#choice.at(u);
  }
}
