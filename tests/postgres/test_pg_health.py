"""test_health.py with its context databases on PostgreSQL (see conftest.py here).
Left out: the tests whose own SQL or reading of rows is SQLite's (SUM over booleans,
dates and JSON read back as text)."""

from test_health import (  # noqa: F401  (fixtures the tests use)
    engine,
    shipped,
    test_a_broken_health_policy_names_file_field_and_reason,
    test_a_declining_account_scores_lower_than_a_healthy_one,
    test_score_is_the_weighted_sum_and_the_band_follows_the_thresholds,
)
