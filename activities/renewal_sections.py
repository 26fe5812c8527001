"""The renewal package's sections as activities (see context/renewal_sections.py
for how each is computed), and the store of the finished package."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import permanent_not_found
from adapters import offline_engine
from adapters.files import write_atomic
from adapters.renewal_artifacts import artifact_paths, artifact_url, render_package
from context import renewal_sections as sections
from context.db import session
from context.queries import account_facts, ticket_of
from context.tables import RenewalPackageRecord, SupportTicket
from contracts import errors
from contracts.accounts import AccountFacts
from contracts.escalation import TicketContext
from contracts.renewal import (
    DecisionMakerMap,
    ExpansionRecommendation,
    RenewalSections,
    RiskAssessment,
    RoiProof,
    SectionInput,
    StoredPackage,
    StorePackageInput,
    UsageReport,
)


def anger_judge(facts: AccountFacts) -> sections.AngerJudge:
    """The same keyword rules the escalation workflow uses, applied to an open ticket."""

    def judge(row: SupportTicket, open_count: int) -> tuple[bool, float]:
        ctx = TicketContext(
            ticket=ticket_of(row.model_dump()),
            account=facts,
            open_tickets=open_count,
        )
        assessment = offline_engine.assess(ctx)
        return (
            assessment.sentiment <= sections.ANGRY_SENTIMENT or assessment.hot,
            assessment.sentiment,
        )

    return judge


def _stored(row: RenewalPackageRecord, url: str | None) -> StoredPackage:
    assert row.id is not None  # a stored row has its id
    return StoredPackage(
        package_id=row.id, markdown_path=row.markdown_path, html_path=row.html_path, url=url
    )


def _rewritten(row: RenewalPackageRecord, url: str | None) -> StoredPackage:
    # A retry rewrites the stored artifacts byte for byte (in case the files went missing).
    write_atomic(row.markdown_path, row.markdown)
    write_atomic(row.html_path, row.html)
    return _stored(row, url)


class RenewalSectionActivities:
    """Synchronous DB reads the worker runs on its thread pool, plus the store of the
    finished package."""

    def __init__(
        self, engine: Engine, artifact_dir: str | Path, artifact_url: str | None = None
    ) -> None:
        self._engine = engine
        self._artifact_dir = str(artifact_dir)
        self._artifact_url = artifact_url  # the folder's base URL (CSOPS_ARTIFACT_URL)

    def _facts(self, s: Session, account_id: str) -> AccountFacts:
        with permanent_not_found():
            return account_facts(s, account_id)

    def _usage(self, s: Session, facts: AccountFacts, as_of: date) -> UsageReport:
        return sections.usage_report(facts, as_of, sections.daily_usage(s, facts.account_id, as_of))

    def _risk(
        self, s: Session, facts: AccountFacts, as_of: date, usage: UsageReport
    ) -> RiskAssessment:
        return sections.risk_assessment(
            s,
            facts,
            as_of,
            usage,
            sections.contacts_of(s, facts.account_id),
            anger_judge(facts),
            sections.conversations(s, facts.account_id, as_of),
        )

    @activity.defn(name="renewal_sections")
    def renewal_sections(self, inp: SectionInput) -> RenewalSections:
        """Every section in one session, each input read once (the account, its
        13 weeks of usage, its contacts, its notes and calls) and the risk computed once."""
        with session(self._engine) as s:
            facts = self._facts(s, inp.account_id)
            daily = sections.daily_usage(s, facts.account_id, inp.as_of)
            usage = sections.usage_report(facts, inp.as_of, daily)
            contacts = sections.contacts_of(s, facts.account_id)
            talks = sections.conversations(s, facts.account_id, inp.as_of)
            risk = sections.risk_assessment(
                s, facts, inp.as_of, usage, contacts, anger_judge(facts), talks
            )
            return RenewalSections(
                usage=usage,
                roi=sections.roi_proof(s, facts, inp.as_of, daily),
                risk=risk,
                expansion=sections.expansion_recommendation(
                    facts, usage, risk, sections.first_usage_day(daily)
                ),
                decision_makers=sections.decision_maker_map(contacts, inp.as_of, talks),
                terms_requests=sections.terms_requests(s, facts.account_id, inp.as_of),
                commercial=sections.commercial_history(s, facts.account_id),
            )

    @activity.defn(name="usage_report")
    def usage_report(self, inp: SectionInput) -> UsageReport:
        """Usage over the 90 days ending at as_of."""
        with session(self._engine) as s:
            return self._usage(s, self._facts(s, inp.account_id), inp.as_of)

    @activity.defn(name="roi_proof")
    def roi_proof(self, inp: SectionInput) -> RoiProof:
        """Value delivered over the 90 days ending at as_of."""
        with session(self._engine) as s:
            facts = self._facts(s, inp.account_id)
            daily = sections.daily_usage(s, facts.account_id, inp.as_of)
            return sections.roi_proof(s, facts, inp.as_of, daily)

    @activity.defn(name="risk_assessment")
    def risk_assessment(self, inp: SectionInput) -> RiskAssessment:
        """Renewal risk as of as_of."""
        with session(self._engine) as s:
            facts = self._facts(s, inp.account_id)
            return self._risk(s, facts, inp.as_of, self._usage(s, facts, inp.as_of))

    @activity.defn(name="expansion_recommendation")
    def expansion_recommendation(self, inp: SectionInput) -> ExpansionRecommendation:
        """Expansion from usage, gated by risk."""
        with session(self._engine) as s:
            facts = self._facts(s, inp.account_id)
            daily = sections.daily_usage(s, facts.account_id, inp.as_of)
            usage = sections.usage_report(facts, inp.as_of, daily)
            risk = self._risk(s, facts, inp.as_of, usage)
            return sections.expansion_recommendation(
                facts, usage, risk, sections.first_usage_day(daily)
            )

    @activity.defn(name="decision_maker_map")
    def decision_maker_map(self, inp: SectionInput) -> DecisionMakerMap:
        """The account's contacts and the roles nobody covers."""
        with session(self._engine) as s:
            facts = self._facts(s, inp.account_id)
            return sections.decision_maker_map(
                sections.contacts_of(s, facts.account_id),
                inp.as_of,
                sections.conversations(s, facts.account_id, inp.as_of),
            )

    @activity.defn(name="find_terms_requests")
    def find_terms_requests(self, inp: SectionInput) -> list[str]:
        """Non-standard-terms requests in the last 90 days."""
        with session(self._engine) as s:
            return sections.terms_requests(s, inp.account_id, inp.as_of)

    @activity.defn(name="store_renewal_package")
    def store_renewal_package(self, inp: StorePackageInput) -> StoredPackage:
        """Render the package (Markdown and standalone HTML), write
        `<artifact_dir>/<account_id>/renewal-<renewal_date>.md|.html`, and store a
        RenewalPackageRecord. The result carries the HTML's URL under the served
        folder (computed here, so the workflow stays deterministic).

        Idempotent on workflow_id: a retry returns the stored row and rewrites its
        files identically (the artifacts hold no generation time).
        """
        folder = inp.artifact_dir or self._artifact_dir
        with session(self._engine) as s:
            row = self._record(s, inp.workflow_id)
            if row is not None:
                return _rewritten(row, artifact_url(self._artifact_url, folder, row.html_path))
            pkg = inp.package
            markdown, html = render_package(pkg)
            md_path, html_path = artifact_paths(folder, pkg)
            write_atomic(md_path, markdown)
            write_atomic(html_path, html)
            row = RenewalPackageRecord(
                workflow_id=inp.workflow_id,
                account_id=pkg.account.account_id,
                renewal_date=pkg.renewal_date,
                created_at=datetime.now(UTC),
                risk_level=pkg.risk.level,
                markdown_path=str(md_path),
                html_path=str(html_path),
                markdown=markdown,
                html=html,
                package=pkg.model_dump(mode="json"),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError as err:
                # A concurrent attempt stored it first: return that one.
                s.rollback()
                stored = self._record(s, inp.workflow_id)
                if stored is None:  # not a duplicate: the account is gone
                    raise ApplicationError(
                        f"cannot store the package: {err.orig}",
                        type=errors.INTEGRITY_ERROR,
                        non_retryable=True,
                    ) from err
                return _rewritten(
                    stored, artifact_url(self._artifact_url, folder, stored.html_path)
                )
            return _stored(row, artifact_url(self._artifact_url, folder, row.html_path))

    @staticmethod
    def _record(s: Session, workflow_id: str) -> RenewalPackageRecord | None:
        return s.exec(
            select(RenewalPackageRecord).where(RenewalPackageRecord.workflow_id == workflow_id)
        ).first()
