"""holdout share and assignments; backtests

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import adpilot.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("layers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("holdout_share", sa.Float(), server_default="0", nullable=False)
        )
    op.create_table(
        "holdout_assignments",
        sa.Column("layer_id", sa.String(length=48), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("entity_id", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=8), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("assigned_at", adpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["layer_id"], ["layers.id"], name=op.f("fk_holdout_assignments_layer_id_layers")
        ),
        sa.PrimaryKeyConstraint(
            "layer_id", "period_start", "entity_id", name=op.f("pk_holdout_assignments")
        ),
    )
    op.create_table(
        "backtests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("layer_id", sa.String(length=48), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("weeks_done", sa.Integer(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error", _json(), nullable=True),
        sa.Column("started_at", adpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", adpilot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_backtests_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["layer_id"], ["layers.id"], name=op.f("fk_backtests_layer_id_layers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_backtests_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_backtests_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        for column in ("job_id", "layer_id", "organization_id", "project_id"):
            batch_op.create_index(batch_op.f(f"ix_backtests_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("backtests")
    op.drop_table("holdout_assignments")
    with op.batch_alter_table("layers", schema=None) as batch_op:
        batch_op.drop_column("holdout_share")
