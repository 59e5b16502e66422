-- mtproof store, version 2: indexes for lookups that came with the CRM write-back (service/crm/sync.ts).
--
-- A CRM sync job is queued unless one for the same account is already queued: jobs by (kind, subject,
-- state), on a table that keeps every job ever run. A client's accounts: accounts by client_id. Without
-- them each is a scan of the table, and under serializable isolation a scan locks the whole table against
-- every concurrent writer of it (a rerun for each). Not partial indexes: the store's statements are
-- prepared with every value a parameter, and a generic plan cannot use an index on `state = 'queued'`.

CREATE INDEX IF NOT EXISTS "jobs_kind_subject_state_idx" ON "jobs" ("kind", "subject", "state");
CREATE INDEX IF NOT EXISTS "accounts_client_id_idx" ON "accounts" ("client_id");
