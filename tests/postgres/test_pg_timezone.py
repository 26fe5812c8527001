"""A PostgreSQL server whose time zone is not UTC (a server's default comes from its
machine): csops stores and reads its UTC timestamps unchanged there too, so an audit
row's time reads back as written and a re-import of the same file changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from support.data import audit

from activities.records import write_audit
from context.db import make_engine
from contracts.records import AuditEntry
from csops.importing import import_accounts, import_notes, import_nps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
ZONE = "Pacific/Auckland"  # UTC+12/13: every stored wall time would move


def far_from_utc(postgres) -> str:
    """A new database whose sessions start in ZONE unless told otherwise."""
    url = postgres.new_database()
    admin = create_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{url.rsplit('/', 1)[1]}\" SET timezone = '{ZONE}'"))
    admin.dispose()
    with create_engine(url).connect() as conn:  # the zone the test is about is in force
        assert conn.execute(text("SHOW timezone")).scalar_one() == ZONE
    return url


def test_timestamps_read_back_as_written_and_a_reimport_changes_nothing(postgres):
    engine = make_engine(far_from_utc(postgres))
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    entry = AuditEntry(
        idempotency_key="tz/1", at=at, workflow_id="tz", account_id="acc-1",
        actor="agent", action="customer_reply", outcome="sent",
    )  # fmt: skip
    assert write_audit(engine, entry)
    [row] = audit(engine)
    assert row.at.replace(tzinfo=row.at.tzinfo or UTC) == at

    import_accounts(engine, EXAMPLES / "hubspot_companies.csv")
    import_accounts(engine, EXAMPLES / "salesforce_accounts.csv")
    for importer, sample in ((import_nps, "nps.csv"), (import_notes, "notes.csv")):
        first = importer(engine, EXAMPLES / sample)
        assert first.imported > 0 and not first.refused
        again = importer(engine, EXAMPLES / sample)
        assert (again.imported, again.updated, again.unchanged) == (0, 0, first.imported), sample
    engine.dispose()
