"""Onboarding activities: the day-30 review, computed from usage and outcomes
and written back to the context layer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import func, select
from temporalio import activity

from adapters.templates import render
from context.db import session
from context.queries import usage_value
from context.tables import Account, OnboardingReviewRecord, SupportTicket
from contracts.onboarding import OnboardingReview, OnboardingReviewInput

# Peak day for people, totals for work done.
REVIEW_FEATURES = {
    "active_users": "max",
    "integrations": "max",
    "agent_resolutions": "sum",
    "api_calls": "sum",
    "reports": "sum",
}


def activation_level(pct: float) -> str:
    if pct >= 75:
        return "activated"
    return "partially activated" if pct >= 40 else "not activated"


class OnboardingActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="write_onboarding_review")
    def write_onboarding_review(self, inp: OnboardingReviewInput) -> OnboardingReview:
        """Draft the review from data, store it, and move the account's stage on.

        Idempotent: a retry returns the review already stored for the workflow.
        """
        with session(self._engine) as s:
            stored = s.exec(
                select(OnboardingReviewRecord).where(
                    OnboardingReviewRecord.workflow_id == inp.workflow_id
                )
            ).first()
            if stored:
                return OnboardingReview.model_validate(stored.review)
            review = self._draft(s, inp)
            s.add(
                OnboardingReviewRecord(
                    workflow_id=inp.workflow_id,
                    account_id=inp.account.account_id,
                    at=inp.at,
                    status=review.status,
                    activation_level=review.activation_level,
                    activation_pct=review.activation_pct,
                    next_owner=review.next_owner,
                    review=review.model_dump(mode="json"),
                    markdown=review.markdown,
                )
            )
            account = s.get(Account, inp.account.account_id)
            if account is not None:
                account.stage = "adopting" if review.status == "On track" else "at_risk"
                s.add(account)
            s.commit()
            return review

    def _draft(self, s, inp: OnboardingReviewInput) -> OnboardingReview:
        a = inp.account
        usage = {
            f: usage_value(s, a.account_id, f, m, inp.since, inp.until)
            for f, m in REVIEW_FEATURES.items()
        }
        hit = [m.title for m in inp.milestones if m.status == "done"]
        missed = [m.title for m in inp.milestones if m.status in ("behind", "stuck", "missed")]
        checked = [m for m in inp.milestones if m.last_check or m.completed_by == "event"]
        basis = checked or inp.milestones
        pct = round(100 * sum(m.status == "done" for m in basis) / len(basis), 1)
        status = (
            "Stuck"
            if any(m.status == "stuck" for m in inp.milestones)
            else "Behind"
            if missed
            else "On track"
        )

        risks = []
        for m in inp.milestones:
            if m.status in ("behind", "stuck") and m.last_check:
                c = m.last_check
                risks.append(
                    f"{m.title}: {m.status} ({c.feature} {c.measure} {c.value:g} of {c.at_least:g})"
                )
            elif m.status == "missed":
                risks.append(f"{m.title}: missed ({m.message or 'not done'})")
        risks += [f"{r} still waits for a human" for r in inp.open_requests]
        last_week = usage_value(
            s, a.account_id, "active_users", "sum", inp.until - timedelta(days=6), inp.until
        )
        week_before = usage_value(
            s,
            a.account_id,
            "active_users",
            "sum",
            inp.until - timedelta(days=13),
            inp.until - timedelta(days=7),
        )
        if week_before and last_week < 0.8 * week_before:
            risks.append(
                f"active users fell {100 * (1 - last_week / week_before):.0f}% in the last week"
            )
        open_tickets = s.exec(
            select(func.count())
            .select_from(SupportTicket)
            .where(SupportTicket.account_id == a.account_id, SupportTicket.status == "open")
        ).one()
        if open_tickets:
            risks.append(f"{open_tickets} open support ticket(s)")

        human_led = a.segment == "enterprise" or status == "Stuck"
        next_owner = a.owner_csm if human_led else f"agent (adoption program; CSM {a.owner_csm})"
        values = {
            "account": a,
            "status": status,
            "level": activation_level(pct),
            "pct": pct,
            "hit": hit,
            "missed": missed,
            "usage": usage,
            "risks": risks,
            "next_owner": next_owner,
            "since": inp.since,
            "until": inp.until,
            "milestones": inp.milestones,
        }
        return OnboardingReview(
            account_id=a.account_id,
            workflow_id=inp.workflow_id,
            status=status,
            activation_level=activation_level(pct),
            activation_pct=pct,
            milestones_hit=hit,
            milestones_missed=missed,
            usage=usage,
            open_risks=risks,
            next_owner=next_owner,
            markdown=render("artifacts/onboarding_review.md.j2", **values),
        )
