"""Renewal packages for tests: the test's own SQL over the context database, and a
package assembled from the section activities the way the workflow does."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Date, Executable, func, text
from sqlalchemy.engine import Engine

from activities.renewal_sections import RenewalSectionActivities
from context.db import session
from context.queries import account_facts
from contracts.renewal import RenewalPackage, SectionInput
from policies.pricing import pricing_proposal


def seeded_book(folder, accounts: int, seed: int, as_of: date) -> Engine:
    """A context database in `folder` holding a demo book of that size and seed."""
    from context.db import make_engine
    from csops.demo_book import generate_book

    engine = make_engine(f"sqlite:///{folder}/c.db")
    generate_book(engine, accounts=accounts, seed=seed, as_of=as_of)
    return engine


def q(engine: Engine, sql: str | Executable, **params) -> list[tuple]:
    """The rows of `sql`: SQL text, or a SQLAlchemy statement where the text would be
    one database's own (its values then come back typed the same on SQLite and
    PostgreSQL)."""
    statement = text(sql) if isinstance(sql, str) else sql
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(statement, params)]


def day_of(timestamp) -> ColumnElement[date]:
    """A timestamp column's day, as a date on SQLite and PostgreSQL alike (SQL's
    date(), which SQLite answers with text)."""
    return func.date(timestamp, type_=Date)


def usage_sum(engine: Engine, account_id: str, feature: str, first: date, last: date) -> float:
    ((total,),) = q(
        engine,
        "SELECT COALESCE(SUM(value), 0) FROM usagedaily WHERE account_id = :a "
        "AND feature = :f AND day >= :d0 AND day <= :d1",
        a=account_id,
        f=feature,
        d0=str(first),
        d1=str(last),
    )
    return float(total)


def package_of(
    acts: RenewalSectionActivities, engine: Engine, account_id: str, as_of: date
) -> RenewalPackage:
    """The account's package as of `as_of`, renewing on its renewal date."""
    with session(engine) as s:
        account = account_facts(s, account_id)
    got = acts.renewal_sections(
        SectionInput(account_id=account_id, renewal_date=account.renewal_date, as_of=as_of)
    )
    return RenewalPackage(
        account=account,
        renewal_date=account.renewal_date,
        as_of=as_of,
        usage=got.usage,
        roi=got.roi,
        risk=got.risk,
        expansion=got.expansion,
        decision_makers=got.decision_makers,
        pricing=pricing_proposal(account, got.risk, got.expansion),
        terms_requests=got.terms_requests,
        commercial=got.commercial,
    )
