"""test_prompt_injection.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_prompt_injection import *  # noqa: F403
