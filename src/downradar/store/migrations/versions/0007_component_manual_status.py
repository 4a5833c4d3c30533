"""component manual status: operators set a component's status directly, without an incident

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, so existing components start with no manual claim and follow their incidents as before.
    with op.batch_alter_table("components") as batch:
        batch.add_column(sa.Column("manual_status", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("manual_status_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("manual_status_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("components") as batch:
        batch.drop_column("manual_status_by")
        batch.drop_column("manual_status_at")
        batch.drop_column("manual_status")
