"""test_investigation.py with its context databases on PostgreSQL (see conftest.py
here). Left out: the tests that read JSON columns back as text (SQLite's way)."""

from test_investigation import (
    test_the_qbr_narrative_waits_for_the_csm_and_stores_the_edited_text,  # noqa: F401
)
