"""Baseline: the context schema when csops began migrating (issue 15).

Frozen here, so later migrations change it step by step. It makes every table of an
empty database, and brings a database made before migrations (by `create_all` and
added nullable columns) to this schema without losing rows: tables it lacks are
created, columns it lacks are added (nullable, as csops always added them), and
indexes it lacks are built.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = sa.MetaData()
sa.Table(
    "account",
    SCHEMA,
    sa.Column("id", AutoString(), nullable=False),
    sa.Column("name", AutoString(), nullable=False),
    sa.Column("arr", sa.Float(), nullable=False),
    sa.Column("segment", AutoString(), nullable=False),
    sa.Column("plan", AutoString(), nullable=False),
    sa.Column("seats", sa.Integer(), nullable=False),
    sa.Column("stage", AutoString(), nullable=False),
    sa.Column("top_rank", sa.Integer(), nullable=False),
    sa.Column("signed_date", sa.Date(), nullable=False),
    sa.Column("renewal_date", sa.Date(), nullable=False),
    sa.Column("owner_csm", AutoString(), nullable=False),
    sa.Column("manager", AutoString(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_account_owner_csm", "owner_csm"),
    sa.Index("ix_account_renewal_date", "renewal_date"),
    sa.Index("ix_account_segment", "segment"),
    sa.Index("ix_account_stage", "stage"),
)
sa.Table(
    "auditevent",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", AutoString(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("actor", AutoString(), nullable=False),
    sa.Column("action", AutoString(), nullable=False),
    sa.Column("outcome", AutoString(), nullable=False),
    sa.Column("autonomy", AutoString(), nullable=True),
    sa.Column("policy_rule", AutoString(), nullable=True),
    sa.Column("policy_version", AutoString(), nullable=True),
    sa.Column("engine", AutoString(), nullable=True),
    sa.Column("model", AutoString(), nullable=True),
    sa.Column("tokens", sa.Integer(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("detail", sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("idempotency_key"),
    sa.Index("ix_auditevent_account_id", "account_id"),
    sa.Index("ix_auditevent_workflow_id", "workflow_id"),
)
sa.Table(
    "investigation",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("mode", AutoString(), nullable=False),
    sa.Column("question", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("engine", AutoString(), nullable=False),
    sa.Column("claims", sa.JSON(), nullable=True),
    sa.Column("evidence_ids", sa.JSON(), nullable=True),
    sa.Column("dropped", sa.JSON(), nullable=True),
    sa.Column("answer_note", AutoString(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("workflow_id"),
    sa.Index("ix_investigation_account_id", "account_id"),
)
sa.Table(
    "knowledgearticle",
    SCHEMA,
    sa.Column("id", AutoString(), nullable=False),
    sa.Column("title", AutoString(), nullable=False),
    sa.Column("locale", AutoString(), nullable=False),
    sa.Column("url", AutoString(), nullable=True),
    sa.Column("tags", sa.JSON(), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("content_hash", AutoString(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_knowledgearticle_locale", "locale"),
)
sa.Table(
    "outboxmessage",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", AutoString(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("audience", AutoString(), nullable=False),
    sa.Column("channel", AutoString(), nullable=False),
    sa.Column("to", AutoString(), nullable=False),
    sa.Column("subject", AutoString(), nullable=False),
    sa.Column("body", AutoString(), nullable=False),
    sa.Column("engine", AutoString(), nullable=True),
    sa.Column("sampled_for_review", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("claimed_at", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", AutoString(), nullable=True),
    sa.Column("confirm", sa.Boolean(), nullable=False),
    sa.Column("reported_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("idempotency_key"),
    sa.Index("ix_outboxmessage_account_id", "account_id"),
    sa.Index("ix_outboxmessage_status", "status"),
    sa.Index("ix_outboxmessage_workflow_id", "workflow_id"),
)
sa.Table(
    "pastticket",
    SCHEMA,
    sa.Column("id", AutoString(), nullable=False),
    sa.Column("subject", AutoString(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=True),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("priority", AutoString(), nullable=True),
    sa.Column("tags", sa.JSON(), nullable=True),
    sa.Column("language", AutoString(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=True),
    sa.Column("account_id", AutoString(), nullable=True),
    sa.Column("content_hash", AutoString(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_pastticket_language", "language"),
)
sa.Table(
    "qbrnarrative",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("quarter", AutoString(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("decided_by", AutoString(), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("workflow_id"),
    sa.Index("ix_qbrnarrative_account_id", "account_id"),
)
sa.Table(
    "calltranscript",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("title", AutoString(), nullable=False),
    sa.Column("participants", AutoString(), nullable=False),
    sa.Column("text", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_call_account_at", "account_id", "at"),
)
sa.Table(
    "contact",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("name", AutoString(), nullable=False),
    sa.Column("email", AutoString(), nullable=False),
    sa.Column("role", AutoString(), nullable=False),
    sa.Column("is_decision_maker", sa.Boolean(), nullable=False),
    sa.Column("is_primary", sa.Boolean(), nullable=False),
    sa.Column("influence", AutoString(), nullable=False),
    sa.Column("sentiment", sa.Float(), nullable=False),
    sa.Column("last_touch", sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_contact_account_id", "account_id"),
)
sa.Table(
    "contractterm",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("kind", AutoString(), nullable=False),
    sa.Column("start_date", sa.Date(), nullable=False),
    sa.Column("end_date", sa.Date(), nullable=False),
    sa.Column("term_months", sa.Integer(), nullable=False),
    sa.Column("plan", AutoString(), nullable=False),
    sa.Column("seats", sa.Integer(), nullable=False),
    sa.Column("list_arr", sa.Float(), nullable=False),
    sa.Column("arr", sa.Float(), nullable=False),
    sa.Column("discount_pct", sa.Float(), nullable=False),
    sa.Column("signed_by", AutoString(), nullable=True),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_contractterm_account_start", "account_id", "start_date"),
)
sa.Table(
    "crmnote",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("author", AutoString(), nullable=False),
    sa.Column("text", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_crmnote_account_at", "account_id", "at"),
)
sa.Table(
    "healthscore",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("computed_at", UTCDateTime(), nullable=False),
    sa.Column("as_of", sa.Date(), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("band", AutoString(), nullable=False),
    sa.Column("components", sa.JSON(), nullable=True),
    sa.Column("policy_version", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("account_id", "as_of"),
    sa.Index("ix_healthscore_account_computed", "account_id", "computed_at"),
)
sa.Table(
    "internalticket",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dip_key", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("external_id", AutoString(), nullable=False),
    sa.Column("url", AutoString(), nullable=True),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("dip_key"),
    sa.Index("ix_internalticket_account_id", "account_id"),
)
sa.Table(
    "npsresponse",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("contact_email", AutoString(), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("comment", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_nps_account_at", "account_id", "at"),
)
sa.Table(
    "onboardingreviewrecord",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("activation_level", AutoString(), nullable=False),
    sa.Column("activation_pct", sa.Float(), nullable=False),
    sa.Column("next_owner", AutoString(), nullable=False),
    sa.Column("review", sa.JSON(), nullable=True),
    sa.Column("markdown", AutoString(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("workflow_id"),
    sa.Index("ix_onboardingreviewrecord_account_id", "account_id"),
)
sa.Table(
    "renewalpackagerecord",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("workflow_id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("renewal_date", sa.Date(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("risk_level", AutoString(), nullable=False),
    sa.Column("markdown_path", AutoString(), nullable=False),
    sa.Column("html_path", AutoString(), nullable=False),
    sa.Column("markdown", sa.Text(), nullable=False),
    sa.Column("html", sa.Text(), nullable=False),
    sa.Column("package", sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("workflow_id"),
    sa.Index("ix_renewalpackagerecord_account_id", "account_id"),
)
sa.Table(
    "supportticket",
    SCHEMA,
    sa.Column("id", AutoString(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("subject", AutoString(), nullable=False),
    sa.Column("body", AutoString(), nullable=False),
    sa.Column("requester_email", AutoString(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("language", AutoString(), nullable=False),
    sa.Column("priority", AutoString(), nullable=True),
    sa.Column("tags", sa.JSON(), nullable=True),
    sa.Column("channel", AutoString(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=True),
    sa.Column("answer_source", AutoString(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_ticket_account_created_id", "account_id", "created_at", "id"),
)
sa.Table(
    "usagedaily",
    SCHEMA,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", AutoString(), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("feature", AutoString(), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(
        ["account_id"],
        ["account.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_usage_account_feature_day", "account_id", "feature", "day", "value"),
)


def upgrade() -> None:
    bind = op.get_bind()
    SCHEMA.create_all(bind)  # checkfirst: only the tables the database lacks
    existing = sa.inspect(bind)
    for table in SCHEMA.sorted_tables:
        have = {column["name"] for column in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=bind.dialect)
                op.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
        for index in table.indexes:
            index.create(bind, checkfirst=True)


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
