export { type AlertSink, type FetchLike, signBody, WebhookAlertSink } from './alerts.ts';
export { REDACTED } from './audit.ts';
export type { CommandError, CommandResult } from './commands.ts';
export {
  type BrokerConfig,
  type BrokerConfigInput,
  type ProductConfig,
  parseBrokerConfig,
  type RoutingRule,
  type ServerConfig,
  secretEnvs,
} from './config.ts';
export type { BreakerState, ConnectionStatus } from './connections.ts';
export { DEFAULT_BROKER_CONFIG } from './default-config.ts';
export { commentFor, type Leg, makeReference, parseComment } from './domain/reference.ts';
export { jurisdictionOf, needsKyc, type Route, route, suspendedIn } from './domain/routing.ts';
export type { LogEntry, Logger } from './log.ts';
export { type PasswordSource, seededPasswords, systemPasswords } from './passwords.ts';
export { type CsvMapping, DEFAULT_CSV_MAPPING, parsePspCsv, toMinorUnits } from './psp/csv.ts';
export { type PaymentRecords, type PspRecord, StaticPaymentRecords } from './psp/port.ts';
export { SimulatedPsp } from './psp/simulated.ts';
export { type BuildServiceOptions, buildService, Service, type ServicePorts } from './service.ts';
export { MemoryStore } from './store/memory.ts';
export {
  type SelectOptions,
  type Store,
  StoreConflictError,
  StoreConstraintError,
  type Tx,
  type Where,
} from './store/port.ts';
export * from './store/schema.ts';
