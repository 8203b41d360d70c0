"""layer goal: the value of a conversion

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("layers", sa.Column("conversion_value_cents", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("layers", "conversion_value_cents")
