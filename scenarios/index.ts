/**
 * The harness's public surface (`mtproof/scenarios`): the Integration contract a third party implements,
 * the script format, and the functions `mtproof certify`, `run`, `replay` and `mutants` are built on.
 */

export {
  type Catch,
  type CertifyOptions,
  certify,
  failedInvariants,
  firstCatch,
  type Incident,
  loadIncidents,
  minimise,
  runResult,
} from './certify.ts';
export { generateScript, profileForRun, scriptArbitrary } from './generate.ts';
export type {
  AccountStatus,
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
  IntegrationSetup,
  KycDecision,
  MoneyInput,
  ReconciliationView,
  TradeView,
  TransferStatus,
  TransferView,
} from './integration.ts';
export { mtproofIntegration } from './integrations/mtproof.ts';
export { type LoadedIntegration, loadIntegration } from './load.ts';
export { liteIntegration } from './mutants/lite.ts';
export { PROFILE_NAMES, type ProfileName } from './profiles.ts';
export type * from './result.ts';
export { type RunOutcome, type RunScriptOptions, runScript } from './runner.ts';
export {
  INVARIANT_NAMES,
  type InvariantName,
  parseScript,
  parseScriptText,
  SCRIPT_VERSION,
  type Script,
  type ScriptInput,
  type Step,
  scriptToYaml,
} from './script.ts';
export { shrinkScript } from './shrink.ts';
