"""test_renewal_sections.py with its context databases on PostgreSQL (see conftest.py
here). Left out: the decision-maker map test, which reads dates back as text."""

from test_renewal_sections import (  # noqa: F401  (fixtures the tests use)
    acts,
    engine,
    test_all_sections_at_once_equal_each_section_and_read_each_table_once,
    test_declining_account_with_angry_ticket_is_at_risk,
    test_healthy_account_near_seat_limit_gets_expansion,
    test_high_risk_holds_expansion_back,
    test_missing_account_fails_for_good,
    test_onboarding_ramp_up_is_not_expansion,
    test_pricing_proposal_by_risk_level,
    test_pricing_proposal_prices_expansion_seats,
    test_pricing_proposal_prices_plan_upgrade_and_add_ons,
    test_risk_nps_and_relationship_rules,
    test_roi_proof_figures_match_sql,
    test_store_renewal_package_escapes_and_is_idempotent,
    test_usage_report_figures_match_sql,
    test_usage_report_reads_usage_in_one_query,
)
