-- The schema of Zone Explorer's first release (Alembic revision 0001: jobs and trial claims), as SQLite held it.
-- Frozen data for tests/zone_explorer/store/test_migrations.py, dumped once from a database at revision 0001: never
-- regenerate it from today's migrations (the test checks that they upgrade what was released).
BEGIN TRANSACTION;
CREATE TABLE ze_alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT ze_alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "ze_alembic_version" VALUES('0001');
CREATE TABLE ze_jobs (
	id VARCHAR(32) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	task VARCHAR(200) NOT NULL, 
	optimizer VARCHAR(50) NOT NULL, 
	space JSON NOT NULL, 
	sampler VARCHAR(16) NOT NULL, 
	sampler_seed INTEGER, 
	pruner VARCHAR(16) NOT NULL, 
	n_trials INTEGER NOT NULL, 
	seeds JSON NOT NULL, 
	epochs INTEGER NOT NULL, 
	study_name VARCHAR(200) NOT NULL, 
	idempotency_key VARCHAR(200), 
	owner VARCHAR(100), 
	error TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (study_name), 
	UNIQUE (idempotency_key)
);
CREATE TABLE ze_trial_claims (
	id INTEGER NOT NULL, 
	job_id VARCHAR(32) NOT NULL, 
	slot INTEGER NOT NULL, 
	worker VARCHAR(200) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	optuna_trial_id INTEGER, 
	trial_number INTEGER, 
	outcome VARCHAR(16), 
	reason TEXT, 
	started_at DATETIME NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_ze_claim_slot UNIQUE (job_id, slot), 
	FOREIGN KEY(job_id) REFERENCES ze_jobs (id) ON DELETE CASCADE
);
CREATE INDEX ix_ze_jobs_status ON ze_jobs (status);
CREATE INDEX ix_ze_claims_job_status ON ze_trial_claims (job_id, status);
COMMIT;
