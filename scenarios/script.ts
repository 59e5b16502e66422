import { Document, isMap, isSeq, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MtproofError, schemaIssues } from '../kit/errors.ts';
import { FAULT_KINDS, type FaultKind } from '../simulator/faults.ts';

/**
 * Scenario scripts: one versioned format for generated and hand-written scenarios (YAML or JSON).
 *
 * Steps run in order at the current virtual time; only `wait` moves time forward (and a command's answer,
 * which the harness awaits up to `answerTimeoutMs`). Steps name their entities with the script's own ids
 * (`c1`, `a1`, `t1`); a step whose entity does not exist (a refused client, an account still pending, a
 * step removed by shrinking) is skipped and the run log says why, so any subsequence of a script is a
 * script.
 */

export const SCRIPT_VERSION = 'scenario/1';

const name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, 'a name: a letter, then up to 31 letters, digits, _ or -');
const cents = z.number().int().positive().max(1e13);
const signedCents = z
  .number()
  .int()
  .min(-1e13)
  .max(1e13)
  .refine((v) => v !== 0, 'not zero');
const ms = z
  .number()
  .int()
  .min(0)
  .max(30 * 86_400_000);

export const INVARIANT_NAMES = [
  'exactly-once',
  'conservation',
  'routing',
  'gating',
  'reconciliation',
  'audit',
  'liveness',
  'trade-sync',
] as const;
export type InvariantName = (typeof INVARIANT_NAMES)[number];

const faultKind = z.enum(FAULT_KINDS as unknown as [FaultKind, ...FaultKind[]]);

const steps = {
  client: z.strictObject({
    do: z.literal('client'),
    id: name,
    country: z.string().regex(/^[A-Z]{2}$/, 'ISO 3166-1 alpha-2, upper case'),
    name: z.string().min(1).max(64).optional(),
    email: z.string().min(3).max(64).optional(),
  }),
  kyc: z.strictObject({ do: z.literal('kyc'), client: name, decision: z.enum(['pending', 'approved', 'rejected']) }),
  open: z.strictObject({ do: z.literal('open'), id: name, client: name, product: z.string().min(1).max(64) }),
  deposit: z.strictObject({
    do: z.literal('deposit'),
    account: name,
    amountCents: cents,
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
    /** The provider's id; default: one the harness makes up. */
    pspRef: z.string().min(1).max(64).optional(),
    /** once: the webhook arrives (and is retried until answered); twice: delivered twice; lost: never. */
    webhook: z.enum(['once', 'twice', 'lost']).default('once'),
  }),
  withdraw: z.strictObject({ do: z.literal('withdraw'), account: name, amountCents: cents }),
  credit: z.strictObject({ do: z.literal('credit'), account: name, amountCents: cents }),
  tradeOpen: z.strictObject({
    do: z.literal('trade-open'),
    id: name,
    account: name,
    symbol: z.string().min(1).max(12).default('EURUSD'),
    side: z.enum(['buy', 'sell']).default('buy'),
    /** Lots x 100 (1 = 0.01 lot). */
    volume: z.number().int().min(1).max(10_000).default(10),
  }),
  tradeClose: z.strictObject({ do: z.literal('trade-close'), trade: name }),
  dealerBalance: z.strictObject({
    do: z.literal('dealer-balance'),
    account: name,
    /** Signed: a dealer adds or takes money by hand. */
    amountCents: signedCents,
    comment: z.string().max(64).default('correction'),
  }),
  dealerCredit: z.strictObject({
    do: z.literal('dealer-credit'),
    account: name,
    amountCents: signedCents,
    comment: z.string().max(64).default('bonus'),
  }),
  dealerGroup: z.strictObject({ do: z.literal('dealer-group'), account: name, group: z.string().min(1).max(64) }),
  fault: z.strictObject({
    do: z.literal('fault'),
    server: z.string().min(1),
    kind: faultKind,
    /** Arm it for the integration's next call of this ManagerApi operation on that server (default: any). */
    op: z.string().min(1).optional(),
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
  }),
  faults: z.strictObject({ do: z.literal('faults'), on: z.boolean() }),
  serverRestart: z.strictObject({
    do: z.literal('server-restart'),
    server: z.string().min(1),
    downtimeMs: ms.default(30_000),
  }),
  crash: z.strictObject({
    do: z.literal('crash'),
    /** The integration is started again this much later (it always is: a run ends with it running). */
    restartAfterMs: ms.default(5_000),
  }),
  wait: z.strictObject({ do: z.literal('wait'), ms: ms.refine((v) => v > 0, 'more than 0') }),
  reconcile: z.strictObject({ do: z.literal('reconcile') }),
} as const;

const stepSchema = z.discriminatedUnion('do', [
  steps.client,
  steps.kyc,
  steps.open,
  steps.deposit,
  steps.withdraw,
  steps.credit,
  steps.tradeOpen,
  steps.tradeClose,
  steps.dealerBalance,
  steps.dealerCredit,
  steps.dealerGroup,
  steps.fault,
  steps.faults,
  steps.serverRestart,
  steps.crash,
  steps.wait,
  steps.reconcile,
]);

export type Step = z.output<typeof stepSchema>;
export type StepInput = z.input<typeof stepSchema>;
export type StepKind = Step['do'];
export const STEP_KINDS: readonly StepKind[] = stepSchema.options.map((o) => o.shape.do.value);

const verdictSchema = z.enum(['pass', 'fail', 'unknown']);

export const scriptSchema = z.strictObject({
  mtproof: z.literal(SCRIPT_VERSION),
  name: z.string().min(1).max(128),
  /** What the scenario proves (incidents), or how it came to be (generated, shrunk). */
  proves: z.string().max(4_000).optional(),
  /** Seeds the cluster, the integration's randomness and the harness's. */
  seed: z.string().min(1).max(64),
  /** Random faults in the safety phase (the simulator's fault config); absent: only scripted faults. */
  faults: z.record(z.string(), z.unknown()).optional(),
  /** The broker config (inline), when not the one given on the command line. Saved counterexamples carry it. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** The cluster layout (inline); absent: the embedded default. */
  cluster: z.record(z.string(), z.unknown()).optional(),
  /**
   * A mis-deployment: the integration runs with these product → group mappings in place of the certified
   * config's (`{ productId: { serverId: group } }`); the invariants still judge by the certified config.
   */
  deploy: z
    .strictObject({ groups: z.record(z.string().min(1), z.record(z.string().min(1), z.string().min(1))) })
    .optional(),
  /** The integration module it ran against (a path, or `mtproof` for ours); saved counterexamples carry it. */
  integration: z.string().min(1).optional(),
  heal: z
    .strictObject({
      /** After the steps, faults off: every accepted transfer must be settled (or in review) within this. */
      deadlineMs: ms.default(7_200_000),
    })
    .prefault({}),
  /** How long the CRM waits for each command's answer. */
  answerTimeoutMs: ms.default(30_000),
  /** The verdict each invariant must reach (default: pass); an incident that shows a catch expects a fail. */
  expect: z.partialRecord(z.enum(INVARIANT_NAMES), verdictSchema).default({}),
  /** Where a saved counterexample came from. */
  origin: z
    .strictObject({
      runSeed: z.string().optional(),
      run: z.number().int().min(0).optional(),
      profile: z.string().optional(),
      traceHash: z.string().optional(),
      failed: z.array(z.string()).optional(),
      originalSteps: z.number().int().min(0).optional(),
    })
    .optional(),
  steps: z.array(stepSchema).max(1_000_000),
});

export type Script = z.output<typeof scriptSchema>;
export type ScriptInput = z.input<typeof scriptSchema>;

/** Validates a script (an object); errors name the step and field (`steps[3].amountCents`). */
export function parseScript(input: unknown, source = 'script'): Script {
  const parsed = scriptSchema.safeParse(input);
  if (!parsed.success) {
    const issues = schemaIssues(parsed.error).map((i) => ({ ...i, message: describeStep(input, i.path, i.message) }));
    throw new MtproofError('MTP_SCRIPT_INVALID', `${source}: not a valid scenario script`, issues);
  }
  return parsed.data;
}

/** Parses YAML or JSON text (JSON is YAML). */
export function parseScriptText(text: string, source = 'script'): Script {
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new MtproofError('MTP_SCRIPT_INVALID', `${source}: not YAML or JSON: ${(error as Error).message}`);
  }
  return parseScript(data, source);
}

/** Key order of a saved script: what it is first, its steps next, the (long) inline config last. */
const KEY_ORDER = [
  'mtproof',
  'name',
  'proves',
  'seed',
  'integration',
  'origin',
  'faults',
  'heal',
  'answerTimeoutMs',
  'expect',
  'deploy',
  'steps',
  'cluster',
  'config',
];

/** YAML for a script, one step per line (flow style), as a person would write it. */
export function scriptToYaml(script: Script | ScriptInput): string {
  const ordered: Record<string, unknown> = {};
  for (const key of KEY_ORDER)
    if ((script as Record<string, unknown>)[key] !== undefined) ordered[key] = (script as Record<string, unknown>)[key];
  for (const [key, value] of Object.entries(script)) if (!(key in ordered) && value !== undefined) ordered[key] = value;
  const doc = new Document(ordered);
  const steps = doc.get('steps');
  if (isSeq(steps)) for (const item of steps.items) if (isMap(item)) item.flow = true;
  return doc.toString({ lineWidth: 0 });
}

function describeStep(input: unknown, path: string, message: string): string {
  const match = /^steps\[(\d+)\]/.exec(path);
  if (match === null) return message;
  const steps = (input as { steps?: unknown[] } | null)?.steps;
  const step = Array.isArray(steps) ? steps[Number(match[1])] : undefined;
  const kind = typeof step === 'object' && step !== null ? (step as { do?: unknown }).do : undefined;
  return typeof kind === 'string' ? `${message} (in a '${kind}' step)` : message;
}
