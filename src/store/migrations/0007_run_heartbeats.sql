-- A running run's last sign of life: jobs beat every few seconds while they work, so a run
-- whose process was killed is found within a minute, not after hours of `running`.
ALTER TABLE job_runs ADD COLUMN heartbeat_at TEXT;
