"""notifications: channels, subscribers, grouped messages

Routes gain a channel (webhook or Apprise) and grouping times; public subscribers arrive; the per-route
`deliveries` become outbox rows (one per event and recipient) grouped into `messages`, which carry the
delivery state. Deliveries still pending move to the outbox, so nothing unsent is lost.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alert_routes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), server_default="webhook", nullable=False)
        )
        batch_op.add_column(sa.Column("group_wait_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("group_interval_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("repeat_interval_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_notified_at", When, nullable=True))
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("pending_components", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("confirm_token_hash", sa.String(length=64), nullable=True),
        sa.Column("confirm_sent_at", When, nullable=True),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=False),
        sa.Column("last_notified_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("confirmed_at", When, nullable=True),
        sa.Column("unsubscribed_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", name="uq_subscribers_channel_address"),
    )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index("ix_subscribers_state", ["state"], unique=False)
        batch_op.create_index("ix_subscribers_unsubscribe_token", ["unsubscribe_token"], unique=True)
        batch_op.create_index("ix_subscribers_confirm_token_hash", ["confirm_token_hash"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("incident_id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unassigned", ["message_id", "recipient"], unique=False)
        batch_op.create_index("ix_outbox_recipient_incident", ["recipient", "incident_id"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_messages_recipient_status", ["recipient", "status"], unique=False)
    op.create_table(
        "page_keys",
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("incident_id", sa.String(length=16), nullable=False),
        sa.Column("dedup_key", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("recipient", "incident_id"),
    )
    op.execute(
        "INSERT INTO outbox (recipient, event_id, incident_id, kind, created_at) "
        "SELECT 'route:' || route_id, event_id, incident_id, 'event', created_at FROM deliveries "
        "WHERE status = 'pending' ORDER BY event_id, id"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_route_incident")
        batch_op.drop_index("ix_deliveries_status_next")
    op.drop_table("deliveries")


def downgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("route_id", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.ForeignKeyConstraint(["route_id"], ["alert_routes.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "ix_deliveries_route_incident", ["route_id", "incident_id", "event_id"], unique=False
        )
    op.drop_table("page_keys")
    op.drop_table("messages")
    op.drop_table("outbox")
    op.drop_table("subscribers")
    with op.batch_alter_table("alert_routes", schema=None) as batch_op:
        batch_op.drop_column("last_notified_at")
        batch_op.drop_column("repeat_interval_seconds")
        batch_op.drop_column("group_interval_seconds")
        batch_op.drop_column("group_wait_seconds")
        batch_op.drop_column("channel")
