"""Contributed tasks, contributions and API tokens (the REST service).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ze_contributed_tasks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dataset", sa.String(500), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
    )
    op.create_table(
        "ze_contributions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("optimizer", sa.String(50), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("given", sa.JSON, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("curve", sa.JSON, nullable=True),
        sa.Column("epochs", sa.Integer, nullable=True),
        sa.Column("steps", sa.Integer, nullable=True),
        sa.Column("seeds", sa.JSON, nullable=True),
        sa.Column("hardware", sa.String(500), nullable=True),
        sa.Column("software", sa.String(500), nullable=True),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("verify_job_id", sa.String(32), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("measured_value", sa.Float, nullable=True),
        sa.Column("verdict_detail", sa.Text, nullable=True),
    )
    op.create_index("ix_ze_contributions_task_optimizer", "ze_contributions", ["task", "optimizer", "status"])
    op.create_table(
        "ze_api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ze_api_tokens")
    op.drop_index("ix_ze_contributions_task_optimizer", table_name="ze_contributions")
    op.drop_table("ze_contributions")
    op.drop_table("ze_contributed_tasks")
