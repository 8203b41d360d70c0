"""worker leases

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import adpilot.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_leases",
        sa.Column("executor_id", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", adpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", adpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", adpilot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("taken_over_at", adpilot.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("taken_over_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("executor_id", name=op.f("pk_worker_leases")),
    )


def downgrade() -> None:
    op.drop_table("worker_leases")
