"""test_watch_findings.py with its context databases on PostgreSQL (see conftest.py
here). Left out: the tests whose own SQL is SQLite's (raw `?` parameters, dates
compared as text)."""

from test_watch_findings import (  # noqa: F401  (fixtures the tests use)
    engine,
    policies,
    test_detractors_are_the_responses_of_the_window,
    test_expansion_is_the_renewal_packages_recommendation_and_none_at_risk,
    test_the_policys_longest_detector_window_is_the_usage_the_detector_reads,
)
