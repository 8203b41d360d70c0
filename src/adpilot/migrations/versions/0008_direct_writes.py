"""direct writes: pending actions without a run, with their job and who asked for them;
the scope of narrower optimizer jobs

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("job_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="optimizer", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_pending_actions_job_id"), ["job_id"], unique=False)
    with op.batch_alter_table("optimizer_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("optimizer_runs", schema=None) as batch_op:
        batch_op.drop_column("scope")
    with op.batch_alter_table("pending_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_actions_job_id"))
        batch_op.drop_column("source")
        batch_op.drop_column("job_id")
        batch_op.alter_column("run_id", existing_type=sa.String(length=40), nullable=False)
