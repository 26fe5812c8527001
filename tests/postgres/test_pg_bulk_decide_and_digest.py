"""test_bulk_decide_and_digest.py with its context databases on PostgreSQL (see conftest.py here)."""

import pytest
from test_bulk_decide_and_digest import *  # noqa: F403


@pytest.fixture(scope="module")
def dev_env(own_dev_env):
    """A server of its own (see conftest.py here)."""
    return own_dev_env
