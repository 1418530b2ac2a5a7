-- The schema of Zone Explorer's first release (Alembic revision 0001: jobs and trial claims), as PostgreSQL (pg_dump) held it.
-- Frozen data for tests/zone_explorer/store/test_migrations.py, dumped once from a database at revision 0001: never
-- regenerate it from today's migrations (the test checks that they upgrade what was released).

CREATE TABLE public.ze_alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE public.ze_jobs (
    id character varying(32) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    status character varying(16) NOT NULL,
    task character varying(200) NOT NULL,
    optimizer character varying(50) NOT NULL,
    space json NOT NULL,
    sampler character varying(16) NOT NULL,
    sampler_seed integer,
    pruner character varying(16) NOT NULL,
    n_trials integer NOT NULL,
    seeds json NOT NULL,
    epochs integer NOT NULL,
    study_name character varying(200) NOT NULL,
    idempotency_key character varying(200),
    owner character varying(100),
    error text
);

CREATE TABLE public.ze_trial_claims (
    id integer NOT NULL,
    job_id character varying(32) NOT NULL,
    slot integer NOT NULL,
    worker character varying(200) NOT NULL,
    status character varying(16) NOT NULL,
    optuna_trial_id integer,
    trial_number integer,
    outcome character varying(16),
    reason text,
    started_at timestamp with time zone NOT NULL,
    heartbeat_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone
);

CREATE SEQUENCE public.ze_trial_claims_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.ze_trial_claims_id_seq OWNED BY public.ze_trial_claims.id;

ALTER TABLE ONLY public.ze_trial_claims ALTER COLUMN id SET DEFAULT nextval('public.ze_trial_claims_id_seq'::regclass);

INSERT INTO public.ze_alembic_version VALUES ('0001');

SELECT pg_catalog.setval('public.ze_trial_claims_id_seq', 1, false);

ALTER TABLE ONLY public.ze_trial_claims
    ADD CONSTRAINT uq_ze_claim_slot UNIQUE (job_id, slot);

ALTER TABLE ONLY public.ze_alembic_version
    ADD CONSTRAINT ze_alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY public.ze_jobs
    ADD CONSTRAINT ze_jobs_idempotency_key_key UNIQUE (idempotency_key);

ALTER TABLE ONLY public.ze_jobs
    ADD CONSTRAINT ze_jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ze_jobs
    ADD CONSTRAINT ze_jobs_study_name_key UNIQUE (study_name);

ALTER TABLE ONLY public.ze_trial_claims
    ADD CONSTRAINT ze_trial_claims_pkey PRIMARY KEY (id);

CREATE INDEX ix_ze_claims_job_status ON public.ze_trial_claims USING btree (job_id, status);

CREATE INDEX ix_ze_jobs_status ON public.ze_jobs USING btree (status);

ALTER TABLE ONLY public.ze_trial_claims
    ADD CONSTRAINT ze_trial_claims_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.ze_jobs(id) ON DELETE CASCADE;
