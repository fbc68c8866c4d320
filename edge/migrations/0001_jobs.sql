-- Background jobs (edge/src/jobs/record.rs): one row per job. Every change is written with
-- `WHERE id = ? AND version = ?` (the version it was computed from), so concurrent consumers
-- and retried messages cannot overwrite each other or store a second result.
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  idempotency_key TEXT,
  kind TEXT NOT NULL,                -- converse | async_invoke
  route TEXT NOT NULL,
  input TEXT NOT NULL,               -- JSON: the chat request, or the model's native input
  status TEXT NOT NULL,              -- queued | running | succeeded | failed
  attempts INTEGER NOT NULL DEFAULT 0,
  error_code TEXT,
  error_message TEXT,
  result TEXT,                       -- JSON: the answer, or the async invocation's output
  callback_url TEXT,
  callback_state TEXT,               -- pending | delivered | failed
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_lease_until INTEGER,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER,
  finished_ms INTEGER,
  updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL
);

-- One job per client and idempotency key.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (client_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- `GET /api/jobs`: a client's jobs, newest first.
CREATE INDEX jobs_client_created ON jobs (client_id, created_ms DESC);
