"""entity syncs: a job of their own, and each layer's sync cadence

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import adpilot.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
    op.create_table(
        "entity_syncs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("layer_id", sa.String(length=48), nullable=False),
        sa.Column("ad_account_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=8), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window_since", sa.Date(), nullable=False),
        sa.Column("window_until", sa.Date(), nullable=False),
        sa.Column("counts", json_type, nullable=True),
        sa.Column("error", json_type, nullable=True),
        sa.Column("started_at", adpilot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", adpilot.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_entity_syncs_ad_account_id_ad_accounts"),
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_entity_syncs_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["layer_id"], ["layers.id"], name=op.f("fk_entity_syncs_layer_id_layers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_entity_syncs_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_entity_syncs_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity_syncs")),
    )
    op.create_index(op.f("ix_entity_syncs_job_id"), "entity_syncs", ["job_id"], unique=False)
    op.create_index(op.f("ix_entity_syncs_layer_id"), "entity_syncs", ["layer_id"], unique=False)
    op.create_index(
        "uq_entity_syncs_active_layer",
        "entity_syncs",
        ["layer_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    with op.batch_alter_table("layers") as batch:
        batch.add_column(sa.Column("sync_schedule", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("next_sync_at", adpilot.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index(batch.f("ix_layers_next_sync_at"), ["next_sync_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("layers") as batch:
        batch.drop_index(batch.f("ix_layers_next_sync_at"))
        batch.drop_column("next_sync_at")
        batch.drop_column("sync_schedule")
    op.drop_index("uq_entity_syncs_active_layer", table_name="entity_syncs")
    op.drop_index(op.f("ix_entity_syncs_layer_id"), table_name="entity_syncs")
    op.drop_index(op.f("ix_entity_syncs_job_id"), table_name="entity_syncs")
    op.drop_table("entity_syncs")
