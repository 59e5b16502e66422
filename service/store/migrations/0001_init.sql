-- mtproof store, version 1: every table of service/store/schema.ts (TABLE_KEYS), columns as in columns.ts.
-- Applied by migrate.ts inside one transaction, with search_path set to the store's schema, under an
-- advisory lock; recorded in schema_migrations. Written to be harmless if run again (IF NOT EXISTS).
--
-- Text is COLLATE "C": ordering by code point, as the memory store compares strings (and faster indexes).
-- "_ord" is the adapter's own column: insertion order, the order of a select without orderBy.
-- Unique constraints leave NULLs unconstrained (SQL's default), as the port says.

CREATE TABLE IF NOT EXISTS "clients" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "external_id" text COLLATE "C",
  "name" text COLLATE "C" NOT NULL,
  "email" text COLLATE "C" NOT NULL,
  "country" text COLLATE "C" NOT NULL,
  "kyc" text COLLATE "C" NOT NULL,
  "partner_id" text COLLATE "C",
  "created_ms" bigint NOT NULL,
  "updated_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT "clients_external_id_key" UNIQUE ("external_id")
);

CREATE TABLE IF NOT EXISTS "accounts" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "client_id" text COLLATE "C" NOT NULL,
  "product_id" text COLLATE "C" NOT NULL,
  "kind" text COLLATE "C" NOT NULL,
  "server_id" text COLLATE "C" NOT NULL,
  "group" text COLLATE "C" NOT NULL,
  "currency" text COLLATE "C" NOT NULL,
  "leverage" bigint,
  "state" text COLLATE "C" NOT NULL,
  "login" bigint,
  "attempts" bigint NOT NULL,
  "uncertain_since_ms" bigint,
  "last_error" text COLLATE "C",
  "created_ms" bigint NOT NULL,
  "updated_ms" bigint NOT NULL,
  "opened_ms" bigint,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "transfers" (
  "ref" text COLLATE "C" NOT NULL PRIMARY KEY,
  "kind" text COLLATE "C" NOT NULL,
  "client_id" text COLLATE "C" NOT NULL,
  "account_id" text COLLATE "C" NOT NULL,
  "server_id" text COLLATE "C" NOT NULL,
  "login" bigint NOT NULL,
  "amount_cents" bigint NOT NULL,
  "currency" text COLLATE "C" NOT NULL,
  "state" text COLLATE "C" NOT NULL,
  "psp_ref" text COLLATE "C",
  "ticket" bigint,
  "refund_ticket" bigint,
  "attempts" bigint NOT NULL,
  "uncertain_since_ms" bigint,
  "last_error" text COLLATE "C",
  "reason" text COLLATE "C",
  "accepted_ms" bigint NOT NULL,
  "leg_started_ms" bigint NOT NULL,
  "updated_ms" bigint NOT NULL,
  "posted_ms" bigint,
  "finished_ms" bigint,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT "transfers_psp_ref_key" UNIQUE ("psp_ref")
);

CREATE TABLE IF NOT EXISTS "jobs" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "kind" text COLLATE "C" NOT NULL,
  "subject" text COLLATE "C" NOT NULL,
  "state" text COLLATE "C" NOT NULL,
  "run_at_ms" bigint NOT NULL,
  "attempts" bigint NOT NULL,
  "lease_owner" text COLLATE "C",
  "lease_until_ms" bigint NOT NULL,
  "last_error" text COLLATE "C",
  "created_ms" bigint NOT NULL,
  "updated_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "ledger" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "ref" text COLLATE "C" NOT NULL,
  "kind" text COLLATE "C" NOT NULL,
  "account_id" text COLLATE "C" NOT NULL,
  "server_id" text COLLATE "C" NOT NULL,
  "login" bigint NOT NULL,
  "amount_cents" bigint NOT NULL,
  "ticket" bigint NOT NULL,
  "at_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "audit" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "at_ms" bigint NOT NULL,
  "server_id" text COLLATE "C" NOT NULL,
  "op" text COLLATE "C" NOT NULL,
  "request" jsonb NOT NULL,
  "subject" text COLLATE "C",
  "outcome" text COLLATE "C",
  "code" bigint,
  "code_name" text COLLATE "C",
  "reason" text COLLATE "C",
  "answer" jsonb,
  "answered_ms" bigint,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "alerts" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "key" text COLLATE "C" NOT NULL,
  "kind" text COLLATE "C" NOT NULL,
  "severity" text COLLATE "C" NOT NULL,
  "subject" text COLLATE "C" NOT NULL,
  "message" text COLLATE "C" NOT NULL,
  "details" jsonb NOT NULL,
  "at_ms" bigint NOT NULL,
  "delivered_to" jsonb NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT "alerts_key_key" UNIQUE ("key")
);

CREATE TABLE IF NOT EXISTS "reconciliations" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "started_ms" bigint NOT NULL,
  "finished_ms" bigint NOT NULL,
  "state" text COLLATE "C" NOT NULL,
  "unreachable" jsonb NOT NULL,
  "findings" jsonb NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "trades" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "server_id" text COLLATE "C" NOT NULL,
  "login" bigint NOT NULL,
  "ticket" bigint NOT NULL,
  "action" text COLLATE "C" NOT NULL,
  "symbol" text COLLATE "C" NOT NULL,
  "side" text COLLATE "C" NOT NULL,
  "volume_centi_lots" bigint NOT NULL,
  "price" double precision NOT NULL,
  "profit_cents" bigint,
  "server_sec" bigint,
  "source" text COLLATE "C" NOT NULL,
  "recorded_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "outbox" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "seq" bigint NOT NULL,
  "topic" text COLLATE "C" NOT NULL,
  "payload" jsonb NOT NULL,
  "created_ms" bigint NOT NULL,
  "published_ms" bigint,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT "outbox_seq_key" UNIQUE ("seq")
);

CREATE TABLE IF NOT EXISTS "ib_commissions" (
  "trade_id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "partner_id" text COLLATE "C" NOT NULL,
  "plan_id" text COLLATE "C" NOT NULL,
  "client_id" text COLLATE "C" NOT NULL,
  "account_id" text COLLATE "C" NOT NULL,
  "server_id" text COLLATE "C" NOT NULL,
  "login" bigint NOT NULL,
  "symbol" text COLLATE "C" NOT NULL,
  "volume_centi_lots" bigint NOT NULL,
  "rate_per_lot_cents" bigint NOT NULL,
  "commission_centi_cents" bigint NOT NULL,
  "currency" text COLLATE "C" NOT NULL,
  "at_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "idempotency" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "key" text COLLATE "C" NOT NULL,
  "method" text COLLATE "C" NOT NULL,
  "route" text COLLATE "C" NOT NULL,
  "body_hash" text COLLATE "C" NOT NULL,
  "body" jsonb NOT NULL,
  "status" bigint NOT NULL,
  "response" jsonb NOT NULL,
  "created_ms" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE IF NOT EXISTS "api_keys" (
  "id" text COLLATE "C" NOT NULL PRIMARY KEY,
  "name" text COLLATE "C" NOT NULL,
  "hash" text COLLATE "C" NOT NULL,
  "prefix" text COLLATE "C" NOT NULL,
  "created_ms" bigint NOT NULL,
  "revoked_ms" bigint,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY,
  CONSTRAINT "api_keys_hash_key" UNIQUE ("hash")
);

CREATE TABLE IF NOT EXISTS "sequences" (
  "name" text COLLATE "C" NOT NULL PRIMARY KEY,
  "value" bigint NOT NULL,
  "_ord" bigint GENERATED ALWAYS AS IDENTITY
);

-- The hot filters (memory.ts INDEXED, and the service's queries).
CREATE INDEX IF NOT EXISTS "accounts_server_id_state_idx" ON "accounts" ("server_id", "state");
CREATE INDEX IF NOT EXISTS "accounts_server_id_login_idx" ON "accounts" ("server_id", "login");
CREATE INDEX IF NOT EXISTS "accounts_state_idx" ON "accounts" ("state");
CREATE INDEX IF NOT EXISTS "transfers_state_idx" ON "transfers" ("state");
-- Claims and the next wake-up read queued jobs only.
CREATE INDEX IF NOT EXISTS "jobs_state_run_at_ms_idx" ON "jobs" ("state", "run_at_ms");
-- The outbox relay reads the unpublished rows in seq order.
CREATE INDEX IF NOT EXISTS "outbox_unpublished_idx" ON "outbox" ("seq") WHERE "published_ms" IS NULL;
CREATE INDEX IF NOT EXISTS "ib_commissions_partner_id_idx" ON "ib_commissions" ("partner_id");
-- An account's trades (IB volume).
CREATE INDEX IF NOT EXISTS "trades_server_id_login_idx" ON "trades" ("server_id", "login");
