"""The renewal brief as a CSM reads it, on a seeded demo book: its figures against
the test's own SQL, a negative champion in the map and in the risks, an account
outgrowing its plan with a priced expansion, NPS from the responses, charts with
labelled axes, and every evidence link landing on its record.

Plain sync tests: the activities are called directly, no worker needed (on SQLite,
and on PostgreSQL in tests/postgres/).
"""

from __future__ import annotations

import base64
import io
import math
import re
from datetime import date, timedelta

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image, ImageChops
from support.renewal import package_of, q, seeded_book, usage_sum

from activities.renewal_sections import RenewalSectionActivities
from adapters.renewal_artifacts import chart_figures, render_package, usage_charts

AS_OF = date(2026, 11, 1)
DAY = timedelta(days=1)
# The pricing rules as the test reads them (policies/pricing.py's docstring).
UPLIFT = {"high": 0.0, "medium": 0.03, "low": 0.07}
LIST = {"starter": 480, "team": 720, "business": 900, "enterprise": 1_100}
NEXT = {"starter": "team", "team": "business", "business": "enterprise"}
ADD_ON = {"agent resolution add-on": 0.08, "API volume add-on": 0.10}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return seeded_book(tmp_path_factory.mktemp("brief"), accounts=80, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def acts(engine, tmp_path_factory):
    return RenewalSectionActivities(engine, tmp_path_factory.mktemp("artifacts"))


def section(html: str, heading: str) -> str:
    """The HTML between an <h2> and the next one."""
    start = html.index(f"<h2>{heading}</h2>")
    end = html.find("<h2>", start + 1)
    return html[start : end if end > 0 else None]


def test_the_brief_shows_the_books_figures(engine, acts):
    account_id = q(engine, "SELECT id FROM account WHERE stage = 'renewing' ORDER BY id")[0][0]
    package = package_of(acts, engine, account_id, AS_OF)
    _, html = render_package(package)

    ((arr, seats),) = q(engine, "SELECT arr, seats FROM account WHERE id = :a", a=account_id)
    avg = usage_sum(engine, account_id, "active_users", AS_OF - 29 * DAY, AS_OF) / 30
    resolutions = usage_sum(engine, account_id, "agent_resolutions", AS_OF - 89 * DAY, AS_OF)
    assert f"${arr:,.0f}" in html
    assert f"{avg:,.1f} active/day of {seats:,}" in html
    assert f"{avg / seats * 100:.1f}%" in html
    assert f"Their AI agent resolved {resolutions:,.0f} support conversations" in html

    terms = q(
        engine,
        "SELECT start_date, end_date, term_months, seats, list_arr, discount_pct, arr "
        "FROM contractterm WHERE account_id = :a ORDER BY start_date",
        a=account_id,
    )
    history = section(html, "Commercial history")
    rows = re.findall(r"<tr><td>.*?</tr>", history)
    assert len(rows) == len(terms) >= 1
    for row, (start, end, months, term_seats, list_arr, discount, signed) in zip(
        rows, terms, strict=True
    ):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[1:4] == [str(start), str(end), str(months)]  # dates, or SQLite's text
        assert cells[5:9] == [
            f"{term_seats:,}",
            f"${list_arr:,.0f}",
            f"{round(discount, 1)}%",
            f"${signed:,.0f}",
        ]


def test_a_negative_champion_is_a_gap_in_the_map_and_a_risk(engine, acts):
    account_id, name, sentiment, email = q(
        engine,
        "SELECT account_id, name, sentiment, email FROM contact WHERE role = 'Champion' "
        "AND sentiment <= -0.3 ORDER BY account_id LIMIT 1",
    )[0]
    gap = f"champion {name} is negative: sentiment {sentiment:+.2f}"

    package = package_of(acts, engine, account_id, AS_OF)

    assert gap in package.decision_makers.missing
    assert gap in package.risk.evidence
    factor = next(f for f in package.risk.factors if f.text == gap)
    assert factor.weight > 0 and email in [s.ref for s in factor.sources]
    _, html = render_package(package)
    people, risks = section(html, "Decision-maker map"), section(html, "Risks, with the evidence")
    assert f"gap: {gap}" in people
    row = next(r for r in re.findall(r"<tr id=.*?</tr>", people, re.S) if email in r)
    assert 'class="flagged"' in row and gap in row
    assert gap in risks
    anchor = re.search(r'<tr id="([^"]+)"', row).group(1)
    assert f'href="#{anchor}"' in risks  # the claim links to the person


def test_an_account_outgrowing_its_plan_gets_a_priced_expansion(engine, acts):
    outgrowing = []
    for account_id, seats, plan, first_day in q(
        engine,
        "SELECT a.id, a.seats, a.plan, MIN(u.day) FROM account a "
        "JOIN usagedaily u ON u.account_id = a.id GROUP BY a.id ORDER BY a.id",
    ):
        avg = usage_sum(engine, account_id, "active_users", AS_OF - 29 * DAY, AS_OF) / 30
        api = usage_sum(engine, account_id, "api_calls", AS_OF - 29 * DAY, AS_OF)
        api_before = usage_sum(engine, account_id, "api_calls", AS_OF - 59 * DAY, AS_OF - 30 * DAY)
        if (
            avg / seats >= 0.85
            and api >= 1.25 * api_before
            and str(first_day) <= str(AS_OF - 59 * DAY)
        ):
            outgrowing.append((account_id, seats, plan, avg))
    assert outgrowing, "the demo book has no account outgrowing its plan"

    priced = 0
    for account_id, seats, plan, avg in outgrowing:
        package = package_of(acts, engine, account_id, AS_OF)
        e, risk, arr = package.expansion, package.risk, package.account.arr
        if risk.level == "high":
            assert not e.recommended  # held back to protect the renewal
            continue
        extra = max(math.ceil(seats * 0.2), math.ceil(round(avg, 2) / 0.7) - seats)
        assert e.recommended and e.suggested_seats == extra
        ratio = LIST[NEXT[plan]] / LIST[plan] if plan in NEXT else 1.0
        assert e.next_plan == NEXT.get(plan)
        base = arr * (1 + UPLIFT[risk.level]) * ratio
        expected = base + arr / seats * ratio * extra
        expected += sum(base * share for name, share in ADD_ON.items() if name in e.suggestions)
        assert package.pricing.proposed_arr == math.floor(expected + 0.5)
        assert package.pricing.proposed_arr > arr
        _, html = render_package(package)
        assert f"${package.pricing.proposed_arr:,.0f}" in section(html, "Expansion case")
        priced += 1
    assert priced, "every outgrowing account was held back"


def test_nps_is_promoters_minus_detractors(engine, acts):
    since = f"{AS_OF - 89 * DAY} 00:00:00"
    accounts = q(
        engine,
        "SELECT account_id, COUNT(*), COUNT(*) FILTER (WHERE score >= 9), "
        "COUNT(*) FILTER (WHERE score <= 6) FROM npsresponse "
        "WHERE at >= :since GROUP BY account_id ORDER BY account_id LIMIT 12",
        since=since,
    )
    assert any(p != d for _, _, p, d in accounts)
    for account_id, n, promoters, detractors in accounts:
        package = package_of(acts, engine, account_id, AS_OF)
        r = package.risk
        assert (r.nps_responses, r.nps_promoters, r.nps_detractors) == (n, promoters, detractors)
        assert r.nps_score == round((promoters - detractors) / n * 100, 1)
        _, html = render_package(package)
        assert f"{n} response(s): {promoters} promoter(s), {detractors} detractor(s)" in html


def test_the_html_holds_charts_with_labelled_axes(engine, acts):
    account_id = q(engine, "SELECT id FROM account WHERE stage = 'adopting' ORDER BY id")[0][0]
    package = package_of(acts, engine, account_id, AS_OF)
    _, html = render_package(package)

    images = re.findall(
        r'<img class="chart" id="chart-(\w+)" src="data:image/png;base64,([^"]+)"', html
    )
    assert [name for name, _ in images] == ["seats", "features"]
    for _, data in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and (image.width, image.height) == (900, 320)
    figures = chart_figures(package)
    assert [name for name, _, _ in figures] == ["seats", "features"]
    for _, title, figure in figures:
        assert title
        for ax in figure.axes:
            assert ax.get_xlabel() == "week ending" and ax.get_ylabel()
            assert ax.get_title()
    seats_axes = figures[0][2].axes[0]
    assert seats_axes.get_ylabel() == "users per day"
    assert package.usage.seats in [line.get_ydata()[0] for line in seats_axes.get_lines()]
    [features] = figures[1][2].axes
    lines = {line.get_label(): list(line.get_ydata()) for line in features.get_lines()}
    assert list(lines) == ["agent resolutions", "API calls", "integrations", "reports"]
    api = next(f.weekly for f in package.usage.features if f.feature == "api_calls")
    assert lines["API calls"] == [v / max(api) * 100 for v in api]  # share of its peak


def test_charts_drawn_on_a_kept_background_match_a_full_drawing(engine, acts):
    """The sweep draws each chart's axes once and only the lines per package: the
    picture must be the one a full drawing of the package's own figure gives, for
    accounts that share a background and for one drawn from scratch."""
    ids = [r[0] for r in q(engine, "SELECT id FROM account ORDER BY id LIMIT 6")]
    packages = [package_of(acts, engine, account_id, AS_OF) for account_id in ids]
    for package in packages * 2:  # the second pass is all kept backgrounds
        for chart, (name, _, figure) in zip(
            usage_charts(package), chart_figures(package), strict=True
        ):
            assert chart.name == name
            full = io.BytesIO()
            FigureCanvasAgg(figure).print_png(full)
            shown, drawn = Image.open(io.BytesIO(chart.png)), Image.open(full)
            assert shown.size == drawn.size
            difference = ImageChops.difference(shown.convert("RGB"), drawn.convert("RGB"))
            # Antialiased edges drawn twice may differ by a shade, nothing more.
            assert _changed_share(difference) < 0.001, name


def _changed_share(difference: Image.Image) -> float:
    """The share of pixels that differ visibly (by more than a shade)."""
    grey = difference.convert("L").point(lambda v: 255 if v > 24 else 0)
    histogram = grey.histogram()
    return histogram[255] / (grey.width * grey.height)


def test_every_evidence_link_lands_on_its_record(engine, acts):
    account_id, open_tickets = q(
        engine,
        "SELECT account_id, COUNT(*) FROM supportticket WHERE status = 'open' "
        "GROUP BY account_id ORDER BY COUNT(*) DESC, account_id LIMIT 1",
    )[0]
    ticket_ids = [
        r[0]
        for r in q(
            engine,
            "SELECT id FROM supportticket WHERE account_id = :a AND status = 'open'",
            a=account_id,
        )
    ]
    package = package_of(acts, engine, account_id, AS_OF)
    markdown, html = render_package(package)

    targets = set(re.findall(r'id="([^"]+)"', html))
    links = re.findall(r'href="#([^"]+)"', html)
    assert links and set(links) <= targets
    evidence = section(html, "Evidence")
    for ticket_id in ticket_ids:
        assert f'id="ev-ticket-{ticket_id}"' in evidence
        assert f'href="#ev-ticket-{ticket_id}"' in section(html, "Risks, with the evidence")
    md_targets = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    assert set(re.findall(r"\]\(#([^)]+)\)", markdown)) <= md_targets
    # Scores rank the claims; the prose never shows them.
    for doc in (markdown, html):
        assert "[+" not in doc and "/100" not in doc
