"""test_knowledge_import.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_knowledge_import import *  # noqa: F403
