"""Jobs and trial claims.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ze_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("optimizer", sa.String(50), nullable=False),
        sa.Column("space", sa.JSON, nullable=False),
        sa.Column("sampler", sa.String(16), nullable=False),
        sa.Column("sampler_seed", sa.Integer, nullable=True),
        sa.Column("pruner", sa.String(16), nullable=False),
        sa.Column("n_trials", sa.Integer, nullable=False),
        sa.Column("seeds", sa.JSON, nullable=False),
        sa.Column("epochs", sa.Integer, nullable=False),
        sa.Column("study_name", sa.String(200), nullable=False, unique=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "ze_trial_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("ze_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("optuna_trial_id", sa.Integer, nullable=True),
        sa.Column("trial_number", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("job_id", "slot", name="uq_ze_claim_slot"),
    )
    op.create_index("ix_ze_claims_job_status", "ze_trial_claims", ["job_id", "status"])


def downgrade() -> None:
    op.drop_table("ze_trial_claims")
    op.drop_table("ze_jobs")
