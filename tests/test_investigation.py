"""Investigation on demand and the executive QBR narrative, on a real dev server
with a seeded demo book: `csops investigate --json` through the real CLI returns
claims whose every evidence id the test finds with its own SQL (the row exists for
the account and lies in the last 90 days); a model (the local OpenAI-compatible
server) that cites an id it was not given, or none, has those claims dropped and
counted; `csops qbr` waits for the account team, an edit stores exactly the edited
text, a rejection stores nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from support.cli import cli_env, csops, target
from support.openai_server import FakeOpenAI, json_answer, provider_for
from support.renewal import q
from support.temporal import current_details, decide, replay_and_maybe_record

from activities.renewal_sections import anger_judge
from context.health import record_health
from context.tables import Investigation
from contracts.investigation import qbr_id, quarter_of
from csops.demo_book import generate_book
from policies.loader import load_policies

ACCOUNTS = 12
DAYS = 90


def seeded(db) -> date:
    """The demo book as of today, with today's health score of every account."""
    today = datetime.now(UTC).date()
    generate_book(db, accounts=ACCOUNTS, seed=21, as_of=today)
    policies = load_policies()
    for (account_id,) in q(db, "SELECT id FROM account"):
        record_health(db, account_id, today, policies, anger_judge)
    return today


def richest_account(db, since: date, today: date) -> str:
    """The account with the most tickets, notes, calls and NPS responses in the window
    (the test's own count)."""
    window = {"d0": str(since), "d1": str(today)}
    counts = q(
        db,
        "SELECT a.id, "
        "(SELECT COUNT(*) FROM supportticket t WHERE t.account_id = a.id "
        " AND date(t.created_at) BETWEEN :d0 AND :d1) + "
        "(SELECT COUNT(*) FROM crmnote n WHERE n.account_id = a.id AND date(n.at) BETWEEN :d0 AND :d1) + "
        "(SELECT COUNT(*) FROM calltranscript c WHERE c.account_id = a.id "
        " AND date(c.at) BETWEEN :d0 AND :d1) + "
        "(SELECT COUNT(*) FROM npsresponse r WHERE r.account_id = a.id AND date(r.at) BETWEEN :d0 AND :d1) "
        "FROM account a ORDER BY 2 DESC, a.id LIMIT 1",
        **window,
    )
    return counts[0][0]


def iso_week_days(week: str) -> list[date]:
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    return [monday + timedelta(days=n) for n in range(7)]


def week_usage(db, account_id: str, feature: str, week: str, since: date, today: date):
    """(rows, figure per day) of one feature's ISO week, over its days in the window."""
    days = [d for d in iso_week_days(week) if since <= d <= today]
    if not days:
        return 0, None
    ((rows, total),) = q(
        db,
        "SELECT COUNT(*), COALESCE(SUM(value), 0) FROM usagedaily WHERE account_id = :a "
        "AND feature = :f AND day >= :w0 AND day <= :w1",
        a=account_id,
        f=feature,
        w0=str(days[0]),
        w1=str(days[-1]),
    )
    return rows, round(total / len(days), 2)


def in_db(db, account_id: str, evidence_id: str, since: date, today: date) -> bool:
    """Whether the id names a row of this account that lies in the window (own SQL)."""
    kind, _, ref = evidence_id.partition(":")
    if kind == "usage":
        feature, week = ref.rsplit(":", 1)
        return week_usage(db, account_id, feature, week, since, today)[0] > 0
    sql = {
        "ticket": "SELECT COUNT(*) FROM supportticket WHERE id = :r AND account_id = :a "
        "AND date(created_at) BETWEEN :d0 AND :d1",
        "note": "SELECT COUNT(*) FROM crmnote WHERE id = :r AND account_id = :a "
        "AND date(at) BETWEEN :d0 AND :d1",
        "call": "SELECT COUNT(*) FROM calltranscript WHERE id = :r AND account_id = :a "
        "AND date(at) BETWEEN :d0 AND :d1",
        "nps": "SELECT COUNT(*) FROM npsresponse WHERE id = :r AND account_id = :a "
        "AND date(at) BETWEEN :d0 AND :d1",
        "contact": "SELECT COUNT(*) FROM contact WHERE id = :r AND account_id = :a",
        "health": "SELECT COUNT(*) FROM healthscore WHERE as_of = :r AND account_id = :a "
        "AND as_of BETWEEN :d0 AND :d1",
    }[kind]
    return q(db, sql, r=ref, a=account_id, d0=str(since), d1=str(today))[0][0] == 1


async def test_investigate_json_claims_cite_evidence_in_the_database(
    tmp_path, dev_env, db, run_worker
):
    today = seeded(db)
    since = today - timedelta(days=DAYS - 1)
    account = richest_account(db, since, today)
    ((csm,),) = q(db, "SELECT owner_csm FROM account WHERE id = :a", a=account)

    refused = await csops(cli_env(tmp_path), "investigate", "acc-nope", "--json", cwd=tmp_path)
    assert refused.code == 2 and "acc-nope" in refused.err and "Traceback" not in refused.err

    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)
        data = (
            await csops(env, "investigate", account, "--json", cwd=tmp_path, timeout_s=120)
        ).json()
        wid = data["workflow_id"]
        assert wid.startswith(f"investigation/{account}/") and data["started"]
        await replay_and_maybe_record(dev_env.client.get_workflow_handle(wid), "investigation")

        shown = (await csops(env, "investigate", "--show", wid, "--json", cwd=tmp_path)).json()
        printed = await csops(env, "investigate", "--show", wid, cwd=tmp_path)

    assert data["engine"] == "offline" and data["dropped_count"] == 0
    assert (data["since"], data["as_of"]) == (str(since), str(today))
    given = {e["id"] for e in data["evidence"]}
    assert data["claims"], "the richest account of the book gave nothing to say"
    for claim in data["claims"]:
        assert claim["evidence"], claim
        for evidence_id in claim["evidence"]:
            assert evidence_id in given, (claim, evidence_id)
            assert in_db(db, account, evidence_id, since, today), (claim, evidence_id)
    # Every item it was given is a row of that account in the window too, and each
    # week's usage per day is the test's own figure.
    for item in data["evidence"]:
        assert in_db(db, account, item["id"], since, today), item
        if item["kind"] == "usage":
            feature, week = item["figures"]["feature"], item["figures"]["week"]
            expected = week_usage(db, account, feature, week, since, today)[1]
            assert item["figures"]["per_day"] == expected, item

    # Honest: every detractor and every open ticket of the window is a cited risk.
    cited_risks = {e for c in data["claims"] if c["section"] == "risk" for e in c["evidence"]}
    detractors = q(
        db,
        "SELECT id FROM npsresponse WHERE account_id = :a AND score <= 6 "
        "AND date(at) BETWEEN :d0 AND :d1",
        a=account,
        d0=str(since),
        d1=str(today),
    )
    open_tickets = q(
        db,
        "SELECT id FROM supportticket WHERE account_id = :a "
        "AND status IN ('open', 'new', 'awaiting_human', 'escalated') "
        "AND date(created_at) BETWEEN :d0 AND :d1",
        a=account,
        d0=str(since),
        d1=str(today),
    )
    assert {f"nps:{r}" for (r,) in detractors} <= cited_risks
    assert {f"ticket:{t}" for (t,) in open_tickets} <= cited_risks

    # Stored in the context layer, and the CSM told where.
    i = Investigation
    ((claims, evidence_ids, engine),) = q(
        db, select(i.claims, i.evidence_ids, i.engine).where(i.workflow_id == wid)
    )
    assert claims == data["claims"] and evidence_ids == [e["id"] for e in data["evidence"]]
    assert engine == "offline" and shown["claims"] == data["claims"]
    assert printed.exited(0) and "Where it is at risk, and why:" in printed.out
    for claim in data["claims"]:
        assert f"evidence: {', '.join(claim['evidence'])}" in printed.out
    ((to, body),) = q(
        db,
        "SELECT \"to\", body FROM outboxmessage WHERE workflow_id = :w AND audience = 'internal'",
        w=wid,
    )
    assert to == csm and f"csops investigate --show {wid}" in body


async def test_a_model_citing_what_it_was_not_given_has_the_claim_dropped(
    tmp_path, dev_env, db, run_worker
):
    today = seeded(db)
    since = today - timedelta(days=DAYS - 1)
    account = richest_account(db, since, today)
    ((nps_id,),) = q(
        db,
        "SELECT MIN(id) FROM npsresponse WHERE account_id = :a AND date(at) BETWEEN :d0 AND :d1",
        a=account,
        d0=str(since),
        d1=str(today),
    )
    (other_account,) = next(
        r for r in q(db, "SELECT id FROM account WHERE id != :a ORDER BY id", a=account)
    )
    ((other_contact,),) = q(
        db, "SELECT MIN(id) FROM contact WHERE account_id = :a", a=other_account
    )
    real = {"section": "risk", "text": "The latest NPS answer", "evidence": [f"nps:{nps_id}"]}
    made_up = {"section": "risk", "text": "Churn is certain", "evidence": ["ticket:T-NOPE"]}
    mixed = {
        "section": "strength",
        "text": "Their champion loves us",
        "evidence": [f"nps:{nps_id}", f"contact:{other_contact}"],
    }
    bare = {"section": "next_step", "text": "Offer a discount", "evidence": []}
    question = "Why did their NPS drop?"
    with FakeOpenAI() as fake:
        # Then a model that answers no JSON at all: the rules' synthesis, labelled so.
        fake.script(json_answer({"claims": [real, made_up, mixed, bare]}), json_answer("Sure!"))
        async with run_worker(dev_env, provider=provider_for(fake)) as tq:
            env = cli_env(tmp_path, target(dev_env), tq)
            run = await csops(
                env, "investigate", account, "--question", question, "--json",
                cwd=tmp_path, timeout_s=120,
            )  # fmt: skip
            data = run.json()
            unusable = (
                await csops(
                    env,
                    "investigate",
                    account,
                    "--id",
                    f"investigation/{account}/unusable",
                    "--json",
                    cwd=tmp_path,
                    timeout_s=120,
                )  # fmt: skip
            ).json()
        prompt = fake.requests[0]["body"]["messages"][1]["content"]

    assert question in prompt and f"[nps:{nps_id}]" in prompt
    assert f"contact:{other_contact}" not in prompt  # another account's: never given
    assert data["engine"] == "openai:test-model"
    assert data["claims"] == [{**real, "matches_question": False}]
    assert data["dropped_count"] == 3
    reasons = {d["text"]: d["reason"] for d in data["dropped"]}
    assert "T-NOPE" in reasons["Churn is certain"]
    assert f"contact:{other_contact}" in reasons["Their champion loves us"]
    assert reasons["Offer a discount"] == "it cites no evidence"
    ((dropped,),) = q(
        db,
        select(Investigation.dropped).where(Investigation.workflow_id == data["workflow_id"]),
    )
    assert len(dropped) == 3
    assert unusable["engine"].startswith("offline (model output unusable")
    assert unusable["dropped_count"] == 0 and unusable["claims"]
    for claim in unusable["claims"]:
        assert all(in_db(db, account, e, since, today) for e in claim["evidence"]), claim


async def test_the_qbr_narrative_waits_for_the_csm_and_stores_the_edited_text(
    tmp_path, dev_env, db, run_worker
):
    today = seeded(db)
    edited_account, rejected_account = (
        r[0] for r in q(db, "SELECT id FROM account ORDER BY top_rank LIMIT 2")
    )
    quarter = quarter_of(today)
    edited = "Q4 in one line: adoption is up; we ask for an executive sponsor.\n\n- Edited by Jane."
    async with run_worker(dev_env) as tq:
        env = cli_env(tmp_path, target(dev_env), tq)
        results = {}
        for account, decision in ((edited_account, "edit"), (rejected_account, "reject")):
            ((csm, manager),) = q(
                db, "SELECT owner_csm, manager FROM account WHERE id = :a", a=account
            )
            data = (await csops(env, "qbr", account, "--json", cwd=tmp_path, timeout_s=120)).json()
            assert data["workflow_id"] == qbr_id(account, quarter) and data["started"]
            request = data["request"]
            assert (request["kind"], request["action"], request["autonomy"]) == (
                "approval", "executive_qbr_narrative", "copilot"
            )  # fmt: skip
            assert set(request["eligible_approvers"]) == {csm, manager}
            for heading in (
                "Outcomes delivered",
                "Usage and adoption",
                "Risks and asks",
                "Next quarter",
            ):
                assert f"## {heading}" in request["draft"]
            handle = dev_env.client.get_workflow_handle(data["workflow_id"])
            details = await current_details(handle)
            assert "Executive QBR narrative" in details and request["request_id"] in details
            assert q(db, "SELECT COUNT(*) FROM qbrnarrative WHERE account_id = :a", a=account) == [
                (0,)
            ]
            await decide(
                handle, request_id=request["request_id"], decision=decision, approver=csm,
                **({"text": edited} if decision == "edit" else {}),
            )  # fmt: skip
            await handle.result()
            results[account] = handle
        again = (await csops(env, "qbr", edited_account, "--json", cwd=tmp_path)).json()
        await replay_and_maybe_record(results[edited_account], "qbr_narrative_edited")

    ((text, status, decided_by),) = q(
        db,
        "SELECT text, status, decided_by FROM qbrnarrative WHERE account_id = :a",
        a=edited_account,
    )
    ((csm,),) = q(db, "SELECT owner_csm FROM account WHERE id = :a", a=edited_account)
    assert (text, status, decided_by) == (edited, "edited", csm)
    # Once a quarter: asked again, it answers with what was decided.
    assert not again["started"] and again["result"]["narrative"] == edited
    told = q(
        db,
        "SELECT body FROM outboxmessage WHERE workflow_id = :w AND subject LIKE '%QBR narrative stored%'",
        w=qbr_id(edited_account, quarter),
    )
    assert len(told) == 1 and edited in told[0][0]
    assert q(db, "SELECT COUNT(*) FROM qbrnarrative WHERE account_id = :a", a=rejected_account) == [
        (0,)
    ]
