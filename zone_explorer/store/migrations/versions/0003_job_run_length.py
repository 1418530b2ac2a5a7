"""The run length derived at submission, stored with the job (workers read it instead of deriving it per trial).

Existing jobs keep NULL: a worker derives their run length once per job, as submission would have.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ze_jobs", sa.Column("run_length", sa.JSON, nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL), not a batch rebuild: dropping and recreating
    # ze_jobs would delete every trial claim through their ON DELETE CASCADE
    op.drop_column("ze_jobs", "run_length")
