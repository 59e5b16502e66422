import { basename } from 'node:path';
import { loadIncidents } from '../../scenarios/certify.ts';
import type { Integration, IntegrationFactory, IntegrationRuntime } from '../../scenarios/integration.ts';
import { type BugName, MUTANTS, type MutantEntry } from '../../scenarios/mutants/index.ts';
import type { Observation } from '../../scenarios/observation.ts';
import type { InvariantResult, RunReport, Verdict } from '../../scenarios/result.ts';
import { type RunOutcome, type RunScriptOptions, runScript } from '../../scenarios/runner.ts';
import {
  INVARIANT_NAMES,
  type InvariantName,
  parseScript,
  type Script,
  type ScriptInput,
  type StepInput,
} from '../../scenarios/script.ts';
import { type BrokerConfig, parseBrokerConfig } from '../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import type { SimBalanceOp } from '../../simulator/index.ts';

/** Shared fixtures of the harness tests: small scripts, runs, wrapped integrations, lookups in a run. */

export const CONFIG: Readonly<BrokerConfig> = parseBrokerConfig(DEFAULT_BROKER_CONFIG);

/** A script from its steps (and any other fields), validated as a saved one would be. */
export function script(
  name: string,
  steps: StepInput[],
  extra: Partial<Omit<ScriptInput, 'steps' | 'name'>> = {},
): Script {
  return parseScript({ mtproof: 'scenario/1', name, seed: `${name}-1`, ...extra, steps });
}

/** A client from `country`, KYC approved, with account `a1` of `product`, open after a minute. */
export function openedAccount(product: string, country: string, id = 'a1', client = 'c1'): StepInput[] {
  return [
    { do: 'client', id: client, country },
    { do: 'kyc', client, decision: 'approved' },
    { do: 'open', id, client, product },
    { do: 'wait', ms: 60_000 },
  ];
}

/** The registered mutant that plants `name` (its factory, module and the invariants that should catch it). */
export function mutantEntry(name: BugName): MutantEntry {
  const found = MUTANTS.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no mutant ${name}`);
  return found;
}

export function run(s: Script, factory: IntegrationFactory, options: Partial<RunScriptOptions> = {}) {
  return runScript(s, { factory, config: CONFIG, ...options });
}

export function verdicts(report: RunReport): Record<InvariantName, Verdict> {
  return Object.fromEntries(report.invariants.map((r) => [r.name, r.verdict])) as Record<InvariantName, Verdict>;
}

/** Every invariant at `pass`, with the given exceptions. */
export function allPass(except: Partial<Record<InvariantName, Verdict>> = {}): Record<InvariantName, Verdict> {
  return Object.fromEntries(INVARIANT_NAMES.map((n) => [n, except[n] ?? 'pass'])) as Record<InvariantName, Verdict>;
}

export function invariant(report: RunReport, name: InvariantName): InvariantResult {
  const found = report.invariants.find((r) => r.name === name);
  if (found === undefined) throw new Error(`no ${name} in the report`);
  return found;
}

/** Where the integration put the script's account `id`: its id, server and login, from the observation. */
export function accountOf(obs: Observation, id: string): { accountId: string; serverId: string; login: number } {
  const accountId = obs.openRequests.find((r) => r.id === id)?.accountId;
  const view = obs.integration.accounts.find((a) => a.accountId === accountId);
  if (accountId === undefined || view?.serverId == null || view.login === null) {
    throw new Error(`account ${id} is not open in this run`);
  }
  return { accountId, serverId: view.serverId, login: view.login };
}

/** The operations the integration's manager made on the script's account `id` (the server's truth). */
export function managerOps(obs: Observation, id: string): SimBalanceOp[] {
  const { serverId, login } = accountOf(obs, id);
  const server = obs.servers.find((s) => s.id === serverId);
  return (server?.ops.get(login) ?? []).filter((op) => op.actor.by === 'manager');
}

/** An incident of scenarios/incidents by the start of its file name (`04`) or its name. */
let library: ReturnType<typeof loadIncidents> | undefined;
export function incident(which: string): Script {
  library ??= loadIncidents();
  const found = library.find((i) => basename(i.file).startsWith(which) || i.script.name === which);
  if (found === undefined) throw new Error(`no incident ${which}`);
  return found.script;
}

/**
 * An integration that delegates to `factory`'s, with some methods replaced: the way a test plants one
 * fault in a correct integration. `override` gets the inner integration and the runtime of the current
 * incarnation (null before the first start).
 */
export function wrap(
  factory: IntegrationFactory,
  override: (inner: Integration, runtime: () => IntegrationRuntime | null) => Partial<Integration>,
): IntegrationFactory {
  return (setup) => {
    const inner = factory(setup);
    let current: IntegrationRuntime | null = null;
    const replaced = override(inner, () => current);
    const pick = <K extends keyof Integration>(key: K): Integration[K] =>
      (replaced[key] ?? (inner[key] as (...a: unknown[]) => unknown)?.bind(inner)) as Integration[K];
    const innerRun = pick('run');
    return {
      run: (runtime) => {
        current = runtime;
        return innerRun(runtime);
      },
      registerClient: pick('registerClient'),
      setKyc: pick('setKyc'),
      openAccount: pick('openAccount'),
      deposit: pick('deposit'),
      withdraw: pick('withdraw'),
      credit: pick('credit'),
      reconcile: pick('reconcile'),
      accounts: pick('accounts'),
      transfers: pick('transfers'),
      alerts: pick('alerts'),
      audit: pick('audit'),
      trades: pick('trades'),
    };
  };
}

export type { RunOutcome };
