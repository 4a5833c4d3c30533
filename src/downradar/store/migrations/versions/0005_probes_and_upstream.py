"""probes, probe locations and results; upstream status feeds and their changes; incident signals

Incidents gain `signals` (which kinds of evidence agree) and the provider's first acknowledgement.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signals", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", When, nullable=True))
        batch_op.add_column(sa.Column("acknowledgement", sa.Text(), nullable=True))
    op.create_table(
        "probes",
        sa.Column("id", sa.String(length=140), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_probes_service", "probes", ["service_id"], unique=False)
    op.create_table(
        "probe_results",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("probe_id", sa.String(length=140), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("ts", When, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_probe_results_probe_ts", "probe_results", ["probe_id", "ts"], unique=False)
    op.create_index("ix_probe_results_received", "probe_results", ["received_at"], unique=False)
    op.create_table(
        "probe_locations",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("last_seen_at", When, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_probe_locations_token_hash", "probe_locations", ["token_hash"], unique=True)
    op.create_table(
        "upstream_feeds",
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detected_kind", sa.String(length=16), nullable=True),
        sa.Column("fetch_url", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_polled_at", When, nullable=True),
        sa.Column("last_ok_at", When, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("state_since", When, nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.PrimaryKeyConstraint("service_id"),
    )
    op.create_table(
        "upstream_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("ts", When, nullable=False),
        sa.Column("indicator", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("incidents", sa.JSON(), nullable=False),
        sa.Column("provider_updated_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_upstream_changes_service_ts", "upstream_changes", ["service_id", "ts"], unique=False)
    op.create_index("ix_upstream_changes_ts", "upstream_changes", ["ts"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_upstream_changes_ts", table_name="upstream_changes")
    op.drop_index("ix_upstream_changes_service_ts", table_name="upstream_changes")
    op.drop_table("upstream_changes")
    op.drop_table("upstream_feeds")
    op.drop_index("ix_probe_locations_token_hash", table_name="probe_locations")
    op.drop_table("probe_locations")
    op.drop_index("ix_probe_results_received", table_name="probe_results")
    op.drop_index("ix_probe_results_probe_ts", table_name="probe_results")
    op.drop_table("probe_results")
    op.drop_index("ix_probes_service", table_name="probes")
    op.drop_table("probes")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("acknowledgement")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("signals")
