"""Policy files: defaults of the design, pure evaluation, and clear errors for
broken files (in the loader and at `csops worker` start-up)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from support.data import HOW_TO, ON_CALL, add_account, add_ticket, audit, outbox
from support.temporal import new_ticket_id, start_escalation

from contracts.accounts import AccountFacts
from contracts.autonomy import AutonomyLevel
from contracts.escalation import TicketAssessment
from policies import evaluate
from policies.checks import rule_warnings
from policies.loader import DEFAULT_POLICY_DIR, PolicyError, load_policies

AUTO, SUP, COP, OFF = (
    AutonomyLevel.AUTONOMOUS,
    AutonomyLevel.SUPERVISED,
    AutonomyLevel.COPILOT,
    AutonomyLevel.OFF_LIMITS,
)


def facts(arr: float, top_rank: int = 300, segment: str = "smb") -> AccountFacts:
    return AccountFacts(
        account_id="acc-x",
        name="X",
        arr=arr,
        segment=segment,
        plan="team",
        stage="adopting",
        top_rank=top_rank,
        renewal_date=date(2027, 1, 1),
        owner_csm="jane@acme.test",
        manager="maria@acme.test",
    )


@pytest.mark.parametrize(
    "action, account, level, rule",
    [
        ("ticket_classification", facts(900_000, 1), AUTO, "default"),
        ("internal_notification", facts(10_000), AUTO, "default"),
        ("customer_reply", facts(20_000), SUP, "under-50k-supervised"),
        ("customer_reply", facts(20_000, top_rank=40), COP, "top-50-accounts-human-decides"),
        ("customer_reply", facts(120_000), COP, "default"),
        ("health_summary", facts(120_000), SUP, "default"),
        ("renewal_pricing", facts(5_000), COP, "default"),
        ("expansion_play", facts(400_000, top_rank=12), COP, "top-50-accounts-copilot"),
        ("expansion_play", facts(60_000, top_rank=120), SUP, "default"),
        ("sign_renewal", facts(5_000), OFF, "default"),
        ("non_standard_terms", facts(5_000), OFF, "default"),
        ("fire_the_customer_now", facts(5_000), OFF, "unknown-action"),
    ],
)
def test_default_policy_places_actions(action, account, level, rule):
    policies = load_policies()
    decision = evaluate.decide_autonomy(policies, action, account)
    assert (decision.level, decision.rule) == (level, rule)
    assert decision.policy_version == policies.version and len(policies.version) == 12


def _assessment(**overrides) -> TicketAssessment:
    base = {
        "intent": "how_to",
        "sentiment": 0.1,
        "severity": "low",
        "hot": False,
        "confidence": 0.9,
        "engine": "test",
    }
    return TicketAssessment(**{**base, **overrides})


@pytest.mark.parametrize(
    "overrides, expect_reason",
    [
        ({"confidence": 0.3}, "confidence below 0.6: 0.30"),
        ({"injection_suspected": True}, "possible prompt injection"),
        ({"needs_human": True}, "asked for a human"),
    ],
)
def test_assessment_moves_autonomy_right_never_left(overrides, expect_reason):
    policies = load_policies()
    supervised = evaluate.decide_autonomy(policies, "customer_reply", facts(20_000))
    moved = evaluate.with_assessment(supervised, _assessment(**overrides), policies.routing)
    assert moved.level == COP and expect_reason in " ".join(moved.adjustments)
    off = evaluate.decide_autonomy(policies, "sign_renewal", facts(20_000))
    # Even the most confident, injection-free assessment leaves off-limits alone.
    assert evaluate.with_assessment(off, _assessment(confidence=1.0), policies.routing).level == OFF
    assert evaluate.with_assessment(off, _assessment(**overrides), policies.routing).level == OFF


def test_hot_and_strategic_rules_read_the_text():
    routing = load_policies().routing
    calm = _assessment()
    assert evaluate.hot_reasons(routing, calm, "how do I export?") == []
    assert 'phrase: "evaluating other vendors"' in evaluate.hot_reasons(
        routing, calm, "We are evaluating other vendors."
    )
    assert evaluate.strategic_signal(routing, calm, "We are restructuring our team") == (
        "restructuring our team"
    )


def test_policy_version_is_a_content_hash(tmp_path):
    copy = tmp_path / "p"
    shutil.copytree(DEFAULT_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    same = load_policies(copy).version
    assert same == load_policies().version
    (copy / "routing.yaml").write_text((copy / "routing.yaml").read_text() + "\n# tuned\n")
    assert load_policies(copy).version != same


def _broken(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(DEFAULT_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (copy / filename).read_text()
    assert old in text
    (copy / filename).write_text(text.replace(old, new, 1))
    return copy


@pytest.mark.parametrize(
    "filename, old, new, expected",
    [
        (
            "autonomy.yaml",
            "level: supervised",
            "level: mostly",
            "autonomy.yaml: actions.customer_reply.rules.6.level: Input should be 'autonomous'",
        ),
        (
            "autonomy.yaml",
            "{arr_below: 50000}\n        level: supervised",
            "{arr_below: lots}\n        level: supervised",
            "autonomy.yaml: actions.customer_reply.rules.6.when.arr_below: Input should be a valid number",
        ),
        (
            "autonomy.yaml",
            "top_rank_at_most: 50}",
            "top_rank_at_most: 50, arr_blow: 3}",
            "autonomy.yaml: actions.customer_reply.rules.5.when.arr_blow: Extra inputs are not permitted",
        ),
        (
            "routing.yaml",
            "deadline_minutes: 15",
            "deadline_minutes: -5",
            "routing.yaml: ack.deadline_minutes: Input should be greater than 0",
        ),
        (
            "routing.yaml",
            "escalate_after_minutes: 30",
            "escalate_after_minutes: 500",
            "routing.yaml: ack: Value error, needs remind_after < escalate_after < expire_after",
        ),
        (
            "routing.yaml",
            "refund_request: issue_refund",
            "refund_request: refund_everything",
            "routing.intent_actions names actions missing from autonomy.yaml: ['refund_everything']",
        ),
        (
            "routing.yaml",
            "on_call: oncall@csops.test",
            "on_call: [oops",
            "routing.yaml: not valid YAML",
        ),
        (
            "onboarding.yaml",
            "action: customer_meeting",
            "action: karaoke_night",
            "onboarding.plans.mid_market.training: action 'karaoke_night' is missing from autonomy.yaml",
        ),
        (
            "onboarding.yaml",
            "template: onboarding/welcome.md.j2",
            "template: onboarding/nope.md.j2",
            "onboarding.yaml: plans.smb.welcome: template messages/onboarding/nope.md.j2 does not exist",
        ),
        (
            "onboarding.yaml",
            "by_day: 7}",
            "by_day: 1}",
            "onboarding.yaml: plans.smb.milestones.1: Value error, check.by_day 1 is before day 2",
        ),
        # Values that once passed start-up and broke or changed workflows at run time.
        (
            "routing.yaml",
            "severity_at_least: high",
            "severity_at_least: hgh",
            "routing.yaml: hot.severity_at_least: Input should be 'low', 'medium', 'high' or 'critical'",
        ),
        (
            "routing.yaml",
            "expire_after_hours: 72",
            "expire_after_hours: 100000000",
            "routing.yaml: approval.expire_after_hours: Input should be less than or equal to 8760",
        ),
        (
            "routing.yaml",
            "    - unacceptable\n",
            "    - unacceptable\n    - ''\n",
            "routing.yaml: hot.phrases.1: String should have at least 1 character",
        ),
        (
            "onboarding.yaml",
            "\n  smb:",
            "\n  small:",
            "onboarding.yaml: (top level): Value error, plans: one plan per segment (smb, mid_market, enterprise); none for smb; unknown segment(s) small",
        ),
        (
            "autonomy.yaml",
            "top_rank_at_most: 50}",
            "segment_in: [Enterprise]}",
            "autonomy.yaml: actions.customer_reply.rules.5.when.segment_in.0: Input should be 'smb', 'mid_market' or 'enterprise'",
        ),
        (
            "autonomy.yaml",
            "  issue_refund: {work_type: operations, default: off_limits}",
            (
                "  issue_refund: {work_type: operations, default: off_limits}\n"
                "  issue_refund: {work_type: operations, default: autonomous}"
            ),
            "autonomy.yaml: not valid YAML: duplicate key 'issue_refund'",
        ),
        (
            "autonomy.yaml",
            "approvers: [owner_csm, manager, deal_desk]",
            "approvers: [owner_csm, legal]",
            (
                "autonomy.yaml: (top level): Value error, actions.renewal_pricing.approvers: "
                "unknown role(s) legal; use owner_csm, manager, on_call or a name under roles"
            ),
        ),
        (
            "autonomy.yaml",
            "deal_desk: [deal-desk@acme.test]",
            "deal_desk: [deal-desk]",
            "autonomy.yaml: roles.deal_desk.0: Value error, 'deal-desk' is not an email address",
        ),
        (
            "renewal.yaml",
            "timezone: ",
            "timezone: Mars/Olympus # ",
            "renewal.yaml: schedule.timezone: Value error, 'Mars/Olympus' is not an IANA time zone",
        ),
    ],
)
def test_broken_policy_files_name_file_field_and_reason(tmp_path, filename, old, new, expected):
    with pytest.raises(PolicyError) as err:
        load_policies(_broken(tmp_path, filename, old, new))
    assert expected in str(err.value)


def test_worker_refuses_to_start_on_a_broken_policy(tmp_path):
    bad = _broken(tmp_path, "autonomy.yaml", "level: supervised", "level: mostly")
    env = {**os.environ, "CSOPS_POLICY_DIR": str(bad), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    csops = [sys.executable, "-m", "csops.cli"]
    for command in ("worker", "up"):
        run = subprocess.run(
            [*csops, command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert run.returncode == 2, run.stderr
        assert "autonomy.yaml: actions.customer_reply.rules.6.level" in run.stderr
        assert "Input should be 'autonomous', 'supervised', 'copilot' or 'off_limits'" in run.stderr


def test_rules_that_can_never_apply_are_warned_about(tmp_path):
    copy = _broken(
        tmp_path, "autonomy.yaml",
        "      - name: under-50k-supervised",
        "      - name: top-10-never-reached\n"
        "        when: {top_rank_at_most: 10}\n"
        "        level: copilot\n"
        "      - name: impossible\n"
        "        when: {arr_below: 1000, arr_at_least: 5000}\n"
        "        level: supervised\n"
        "      - name: under-50k-supervised",
    )  # fmt: skip
    assert rule_warnings(load_policies(copy)) == [
        (
            "autonomy.yaml: actions.customer_reply.rules 'top-10-never-reached' is never reached: "
            "rule 'top-50-accounts-human-decides' before it matches everything it matches"
        ),
        (
            "autonomy.yaml: actions.customer_reply.rules 'impossible' can never match: "
            "arr_below 1000 is not above arr_at_least 5000"
        ),
    ]
    assert rule_warnings(load_policies()) == []


def test_policy_check_prints_what_the_worker_would_refuse(tmp_path):
    csops = [sys.executable, "-m", "csops.cli", "policy", "check"]
    good = subprocess.run([*csops, "--json"], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) | {"directory": ""} == {
        "directory": "", "valid": True, "version": load_policies().version,
        "errors": [], "warnings": [],
    }  # fmt: skip
    bad = _broken(tmp_path, "routing.yaml", "severity_at_least: high", "severity_at_least: hgh")
    run = subprocess.run([*csops, str(bad), "--json"], capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert json.loads(run.stdout)["errors"] == [
        f"{bad}/routing.yaml: hot.severity_at_least: Input should be 'low', 'medium', 'high' or 'critical'"
    ]


async def test_a_policy_broken_while_the_worker_runs_keeps_the_last_good_one(
    tmp_path, monkeypatch, dev_env, db, run_worker
):
    """Once, the next escalation after a bad edit failed outright."""
    live = tmp_path / "live"
    shutil.copytree(DEFAULT_POLICY_DIR, live, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setenv("CSOPS_POLICY_DIR", str(live))
    good = load_policies(live).version
    add_account(db, "acc-1", arr=7_500)
    async with run_worker(dev_env) as tq:
        routing = live / "routing.yaml"
        routing.write_text(
            routing.read_text().replace("severity_at_least: high", "severity_at_least: hgh")
        )
        handles = []
        for _ in range(2):  # the same broken version: one alert
            ticket = new_ticket_id()
            add_ticket(db, ticket, "acc-1", *HOW_TO)
            handles.append(await start_escalation(db, dev_env.client, tq, ticket))
        results = [await h.result() for h in handles]

    assert all(r.outcome.startswith("sent") for r in results), results
    for h in handles:
        [decided] = [e for e in audit(db, h.id) if e.action == "customer_reply"]
        assert decided.policy_version == good
    [alert] = [m for m in outbox(db) if m.workflow_id == "policy"]
    assert alert.to == ON_CALL and alert.audience == "internal"
    assert f"policy files broken; {good} stays in force" in alert.subject
    assert "routing.yaml: hot.severity_at_least: Input should be" in alert.body
