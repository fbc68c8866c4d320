-- The sweep deletes jobs a time to live after their last change (`JOB_TTL_DAYS`).
CREATE INDEX jobs_updated ON jobs (updated_ms);
