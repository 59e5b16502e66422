export { type AlertSink, type FetchLike, signBody, WebhookAlertSink } from './alerts.ts';
export { type ApiOptions, buildApi, LOG_REDACT_PATHS } from './api/app.ts';
export { type ApiKeyInfo, ApiKeys, generateKey, hashKey } from './api/auth.ts';
export { answerOf, type ErrorBody, statusOf } from './api/errors.ts';
export type { ReadinessCheck } from './api/routes.ts';
export { SIGNATURE_HEADER, signWebhook, verifyWebhook } from './api/webhook.ts';
export { REDACTED } from './audit.ts';
export { InProcessBus, type InProcessBusOptions } from './bus/memory.ts';
export {
  type BusError,
  type BusErrorCode,
  type BusMessage,
  type BusResult,
  type ConsumeOptions,
  type Consumer,
  DEFAULT_REDELIVERY_DELAY_MS,
  type Delivery,
  type EventBus,
  type Handler,
  type QueueSpec,
  topicMatches,
} from './bus/port.ts';
export { DEFAULT_EXCHANGE, RabbitMqBus, type RabbitMqBusOptions } from './bus/rabbitmq.ts';
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
export {
  type CrmFetch,
  type CrmPort,
  type CrmResult,
  type CrmUpdate,
  crmFromConfig,
  HUBSPOT_DEFAULT_PROPERTIES,
  HubSpotCrm,
  type OnboardingState,
  SALESFORCE_DEFAULT_FIELDS,
  SalesforceCrm,
} from './crm/index.ts';
export { DEFAULT_BROKER_CONFIG } from './default-config.ts';
export { commentFor, type Leg, makeReference, parseComment } from './domain/reference.ts';
export { jurisdictionOf, needsKyc, type Route, route, suspendedIn } from './domain/routing.ts';
export { type AccountVolume, type IbStatement, type IbStatementLine, ratePerLotCents } from './ib.ts';
export { type Answer, type CommandOptions, canonicalJson, type IdempotencyRequest } from './idempotency.ts';
export type { LogEntry, Logger } from './log.ts';
export { OUTBOX_BATCH, TRADE_QUEUE, tradeMessageId, tradeTopic } from './outbox.ts';
export { type PasswordSource, seededPasswords, systemPasswords } from './passwords.ts';
export { type CsvMapping, DEFAULT_CSV_MAPPING, parsePspCsv, toMinorUnits } from './psp/csv.ts';
export { type PaymentRecords, type PspRecord, StaticPaymentRecords } from './psp/port.ts';
export { SimulatedPsp } from './psp/simulated.ts';
export { type BuildServiceOptions, buildService, Service, type ServicePorts } from './service.ts';
export { MemoryStore } from './store/memory.ts';
export { dropSchema, type Migration, migrate, migrations } from './store/migrate.ts';
export { PgliteStore, type PgliteStoreOptions } from './store/pglite.ts';
export {
  type SelectOptions,
  type Store,
  StoreConflictError,
  StoreConstraintError,
  type Tx,
  type Where,
} from './store/port.ts';
export { PostgresStore, type PostgresStoreOptions } from './store/postgres.ts';
export * from './store/schema.ts';
export { type SqlClient, type SqlConnection, SqlStore, type SqlStoreOptions } from './store/sql.ts';
