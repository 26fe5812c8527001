"""test_health_digest.py with its context databases on PostgreSQL (see conftest.py here)."""

import pytest
from test_health_digest import *  # noqa: F403


@pytest.fixture(scope="module")
def dev_env(own_dev_env):
    """A server of its own (see conftest.py here)."""
    return own_dev_env
