"""test_channels.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_channels import *  # noqa: F403
