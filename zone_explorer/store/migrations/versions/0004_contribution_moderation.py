"""Contribution moderation: a contributed task's metric range, a fingerprint that keeps a result from being stored
twice (unique among active rows), and the requests made with an Idempotency-Key.

Existing tasks keep NULL ranges (unbounded) and existing contributions a NULL fingerprint (never a duplicate).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = "status = 'active'"


def upgrade() -> None:
    op.add_column("ze_contributed_tasks", sa.Column("metric_low", sa.Float, nullable=True))
    op.add_column("ze_contributed_tasks", sa.Column("metric_high", sa.Float, nullable=True))
    op.add_column("ze_contributions", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.create_index(
        "uq_ze_contributions_active_fingerprint",
        "ze_contributions",
        ["fingerprint"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_table(
        "ze_contribution_requests",
        sa.Column("owner", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("contribution_ids", sa.JSON, nullable=False),
        sa.Column("duplicates", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    # DROP COLUMN in place (SQLite >= 3.35, PostgreSQL), as 0003 does: no table rebuilds
    op.drop_table("ze_contribution_requests")
    op.drop_index("uq_ze_contributions_active_fingerprint", table_name="ze_contributions")
    op.drop_column("ze_contributions", "fingerprint")
    op.drop_column("ze_contributed_tasks", "metric_high")
    op.drop_column("ze_contributed_tasks", "metric_low")
