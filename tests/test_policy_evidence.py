"""`csops policy stats` and `csops policy simulate` over a seeded book after real
escalations on the dev server: every figure equals what the test computes from the
audit table with its own SQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein
from support.audit import closed_requests
from support.cli import cli_env, csops, target
from support.data import (
    CSM,
    HOT_TEXT,
    HOW_TO,
    MANAGER,
    add_account,
    add_ticket,
    audit,
    customer_messages,
)
from support.temporal import decide, new_ticket_id, start_escalation, wait_for_requests

from context.db import session
from context.tables import AuditEvent
from contracts.human import HumanRequest, review_workflow_id
from policies.loader import DEFAULT_POLICY_DIR, load_policies

SMALL = 4  # how-tos at accounts under $50K: supervised sends, each reviewed
# How the reviews of those sends are graded (decision, reason), one send each.
GRADES = [("bad", "wrong_facts"), ("bad", "wrong_facts"), ("bad", "wrong_tone"), ("good", None)]
# How the copilot replies (top-50 accounts) are decided, one ticket each.
DECISIONS = [
    ("approve", None),
    ("approve", None),
    ("edit", "Hi Sam, Reports > Export > CSV. Jane"),
    ("edit", "Hello Sam, open Reports, choose the report, then Export and CSV. Best, Jane"),
    ("reject", None),
]
COUNTS = (
    "acted", "requested", "approved", "edited", "rejected", "acked", "done", "expired",
    "withdrawn", "escalations", "reviews_requested", "reviews_good", "reviews_bad",
    "reviews_expired",
)  # fmt: skip
FOLLOW_UPS = ("approved", "edited", "rejected", "acked", "done", "expired", "withdrawn")


def expected_figures(db) -> dict[tuple, dict]:
    """Per action × rule × level, the figures counted from the audit table directly."""
    figures: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    rows = audit(db)
    for e in rows:
        key, kind = (e.action, e.policy_rule, e.autonomy), e.detail.get("kind")
        if (
            e.actor == "agent"
            and e.autonomy in ("autonomous", "supervised")
            and e.outcome == "sent"
        ):
            figures[key]["acted"] += 1
        if e.autonomy is not None:
            f = figures[key]
            if kind == "review":
                f[f"reviews_{e.outcome}"] += 1
            elif e.outcome == "requested":
                f["requested"] += 1
            elif e.outcome in FOLLOW_UPS:
                f[e.outcome] += 1
                f["escalations"] += 1 if e.detail.get("escalated") else 0
        if e.outcome == "bad" and kind == "review":
            reasons = figures[key].setdefault("bad_reasons", {})
            reasons[e.detail.get("reason")] = reasons.get(e.detail.get("reason"), 0) + 1
    # A request's closing row beside its opening row (same key, another last part).
    seconds, distances = defaultdict(list), defaultdict(list)
    for r, c in closed_requests(rows, ("approved", "edited", "rejected", "acked", "done")):
        key = (c.action, c.policy_rule, c.autonomy)
        seconds[key].append((c.at - r.at).total_seconds())
        if c.outcome == "edited":
            distances[key].append(
                Levenshtein.normalized_distance(r.detail.get("draft"), c.detail.get("final_text"))
            )
    for key, values in seconds.items():
        figures[key]["decision_seconds_median"] = statistics.median(values)
    for key, values in distances.items():
        figures[key]["edit_distance_mean"] = statistics.fmean(values)
    return figures


def policy_copy(tmp_path: Path, name: str, changes: dict[str, str]) -> Path:
    """The shipped policy folder with passages of autonomy.yaml replaced (old -> new)."""
    folder = tmp_path / name
    shutil.copytree(DEFAULT_POLICY_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    autonomy = folder / "autonomy.yaml"
    content = autonomy.read_text()
    for old, new in changes.items():
        assert content.count(old) == 1, old
        content = content.replace(old, new)
    autonomy.write_text(content)
    return folder


async def test_policy_stats_and_simulate_read_the_recorded_decisions(
    tmp_path, dev_env, db, run_worker
):
    # The worker samples every supervised send for review.
    sampling = policy_copy(
        tmp_path, "sampling", {"supervised_sample_rate: 0.2": "supervised_sample_rate: 1.0"}
    )
    small, large = [], []
    for i in range(SMALL):
        add_account(db, f"acc-small-{i}", arr=20_000 + i, top_rank=180 + i)
        small.append(new_ticket_id())
        add_ticket(db, small[-1], f"acc-small-{i}", *HOW_TO)
    for i in range(len(DECISIONS)):
        add_account(db, f"acc-top-{i}", arr=400_000 + i, segment="enterprise", top_rank=10 + i)
        large.append(new_ticket_id())
        add_ticket(db, large[-1], f"acc-top-{i}", *HOW_TO)
    add_account(db, "acc-hot", arr=120_000, segment="mid_market", top_rank=60)
    hot = new_ticket_id()
    add_ticket(db, hot, "acc-hot", "We are done", HOT_TEXT)
    # A decision recorded before decisions carried their facts.
    with session(db) as s:
        s.add(
            AuditEvent(
                idempotency_key="escalation/T-old/reply/sent",
                at=datetime.now(UTC),
                workflow_id="escalation/T-old",
                account_id="acc-small-0",
                actor="agent",
                action="customer_reply",
                outcome="sent",
                autonomy="supervised",
                policy_rule="under-50k-supervised",
                policy_version="old",
                detail={"sampled_for_review": False},
            )
        )
        s.commit()

    async with run_worker(dev_env, settings={"policy_dir": sampling}) as tq:
        sent = [await start_escalation(db, dev_env.client, tq, t) for t in small]
        asked = [await start_escalation(db, dev_env.client, tq, t) for t in large]
        hot_handle = await start_escalation(db, dev_env.client, tq, hot)
        for handle, (decision, edited) in zip(asked, DECISIONS, strict=True):
            [request] = await wait_for_requests(handle)
            await decide(
                handle,
                request_id=request.request_id,
                decision=decision,
                approver=MANAGER if decision == "reject" else CSM,
                text=edited,
            )
        [ack] = await wait_for_requests(hot_handle)
        await decide(hot_handle, request_id=ack.request_id, decision="ack", approver=CSM)
        await asyncio.gather(*(h.result() for h in [*sent, *asked, hot_handle]))
        graded = []
        for handle, (grade, reason) in zip(sent, GRADES, strict=True):
            [reply] = customer_messages(db, handle.id)
            review = dev_env.client.get_workflow_handle(
                review_workflow_id(reply.idempotency_key), result_type=HumanRequest
            )
            await wait_for_requests(review)
            await decide(review, request_id="review-1", decision=grade, approver=CSM, reason=reason)
            graded.append(review)
        await asyncio.gather(*(r.result() for r in graded))

    env = cli_env(tmp_path, target(dev_env))
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    # ---- stats: every figure as the audit table counts it
    run = await csops(env, "policy", "stats", "--since", since, "--json", cwd=tmp_path)
    stats = run.json()
    expected = expected_figures(db)
    got = {(f["action"], f["rule"], f["level"]): f for f in stats["figures"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        figure = got[key]
        for name in {*COUNTS, *want} - {"bad_reasons"}:
            assert figure[name] == pytest.approx(want.get(name, 0), abs=1e-3), (key, name)
        assert figure["bad_reasons"] == want.get("bad_reasons", {}), key
        decided = figure["approved"] + figure["edited"] + figure["rejected"]
        if decided:
            assert figure["approval_rate"] == figure["approved"] / decided
            assert figure["edit_rate"] == figure["edited"] / decided
            assert figure["rejection_rate"] == figure["rejected"] / decided
    reply_sent = ("customer_reply", "under-50k-supervised", "supervised")
    reply_asked = ("customer_reply", "top-50-accounts-human-decides", "copilot")
    assert got[reply_sent]["acted"] == SMALL + 1  # with the one recorded before
    assert [got[reply_asked][k] for k in ("requested", "approved", "edited", "rejected")] == [
        5, 2, 2, 1
    ]  # fmt: skip
    assert 0 < got[reply_asked]["edit_distance_mean"] < 1
    assert [got[reply_sent][k] for k in ("reviews_requested", "reviews_good", "reviews_bad")] == [
        SMALL, 1, 3
    ]  # fmt: skip
    assert stats["policy_version"] == load_policies().version
    assert stats["suggestions"] == []  # 5 decisions are far from the shipped minimum

    # ---- a policy with lower thresholds states the evidence for moving left and right
    tuned = policy_copy(
        tmp_path,
        "tuned",
        {
            "min_decisions: 50": f"min_decisions: {SMALL}",
            "left_unedited_share: 0.95": "left_unedited_share: 0.4",
            "right_bad_share: 0.10": "right_bad_share: 0.5",
        },
    )
    run = await csops(
        {**env, "CSOPS_POLICY_DIR": str(tuned)},
        "policy", "stats", "--since", since, "--json", cwd=tmp_path,
    )  # fmt: skip
    share = got[reply_asked]["approved"] / 5
    left = (
        f"customer_reply at rule top-50-accounts-human-decides (copilot): {share:.0%} "
        "approved unedited over 5 decisions → candidate to move left"
    )
    bad = got[reply_sent]["reviews_bad"] / SMALL
    right = (
        f"customer_reply at rule under-50k-supervised (supervised): {bad:.0%} of reviews bad "
        "(wrong facts 2, wrong tone 1) over 4 reviews → move right"
    )
    assert [s["evidence"] for s in run.json()["suggestions"]] == [left, right]

    # ---- simulate: customer_reply under $50K moves to copilot
    rule = "      - name: under-50k-supervised\n        when: {arr_below: 50000}\n"
    candidate = policy_copy(
        tmp_path,
        "candidate",
        {f"{rule}        level: supervised": f"{rule}        level: copilot"},
    )
    run = await csops(
        env, "policy", "simulate", "--policy-dir", str(candidate), "--since", since, "--json",
        cwd=tmp_path,
    )  # fmt: skip
    simulated = run.json()
    supervised_sends = [
        (e.at, e.detail["facts"].get("owner_csm"))
        for e in audit(db)
        if (e.action, e.autonomy, e.outcome) == ("customer_reply", "supervised", "sent")
        and e.detail.get("facts") is not None
    ]
    assert len(supervised_sends) == SMALL
    assert simulated["not_reevaluable"] == 1  # the row recorded without facts
    assert simulated["moves"] == [
        {
            "action": "customer_reply",
            "from_rule": "under-50k-supervised",
            "from_level": "supervised",
            "to_rule": "under-50k-supervised",
            "to_level": "copilot",
            "direction": "right",
            "decisions": len(supervised_sends),
        }
    ]
    weeks: dict[tuple[str, str], int] = defaultdict(int)
    for at, csm in supervised_sends:
        year, week, _ = at.isocalendar()
        weeks[(csm, f"{year}-W{week:02d}")] += 1
    assert simulated["requests"] == [
        {"csm": csm, "week": week, "added": n, "removed": 0}
        for (csm, week), n in sorted(weeks.items())
    ]
    assert {csm for csm, _ in weeks} == {CSM}
    assert simulated["candidate_version"] != simulated["current_version"]

    # The shipped policy against itself: nothing moves.
    run = await csops(
        env, "policy", "simulate", "--policy-dir", str(DEFAULT_POLICY_DIR), "--since", since,
        "--json", cwd=tmp_path,
    )  # fmt: skip
    same = run.json()
    assert same["moves"] == [] and same["requests"] == []
    assert same["decisions"] == simulated["decisions"] > SMALL + len(DECISIONS)
    assert json.loads(json.dumps(same))  # plain JSON


async def test_policy_commands_refuse_bad_input(tmp_path, db):
    env = cli_env(tmp_path)
    run = await csops(env, "policy", "stats", "--since", "last week", cwd=tmp_path)
    assert run.code == 2 and "is not a date (YYYY-MM-DD)" in run.err
    assert "Traceback" not in run.err
    run = await csops(
        env, "policy", "simulate", "--policy-dir", str(tmp_path / "none"), cwd=tmp_path
    )
    assert run.code == 2 and "autonomy.yaml: cannot read" in run.err
    assert "Traceback" not in run.err
    broken = policy_copy(
        tmp_path, "broken", {"move_right_bad_share: 0.10": "move_right_bad_share: 2"}
    )
    run = await csops(env, "policy", "simulate", "--policy-dir", str(broken), cwd=tmp_path)
    assert run.code == 2 and "tuning.move_right_bad_share" in run.err
