"""Every benchmark runs end to end at a tiny size and writes results the later
tools can read. Structure only: timings are never asserted (they drift)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The one tiny run starts dev servers and workers for every benchmark: minutes, not seconds.
pytestmark = pytest.mark.timeout(400)

ROOT = Path(__file__).parent.parent
KEYS = {"name", "metric", "raw", "csops", "ratio", "target", "met", "bottleneck"}
# The comparisons `met_when` may name, written out here so the test does not trust bench's.
MET_WHEN = {
    "csops <= target": lambda e: e["csops"] <= e["target"],
    "csops >= target": lambda e: e["csops"] >= e["target"],
    "ratio <= target": lambda e: e["csops"] / e["raw"] <= e["target"],
    "ratio >= target": lambda e: e["csops"] / e["raw"] >= e["target"],
}


def _benchmark_names() -> set[str]:
    """Benchmarks are bench/ modules with a NAME; read as text, as bench is not installed."""
    return {
        line.split("=", 1)[1].strip().strip("\"'")
        for path in (ROOT / "bench").glob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("NAME = ")
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run of every benchmark into a temporary folder (the timeout only
    stops a hung run: the workflow benchmarks start dev servers and workers)."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "small", "--rounds", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, done


def test_results_json_has_a_complete_entry_per_benchmark(run) -> None:
    out, _ = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entries = {e["name"]: e for e in results["benchmarks"]}
    # Every benchmark module reports: an entry named NAME, or NAME: what (two targets).
    assert {name.split(":")[0] for name in entries} == _benchmark_names()
    assert "retrieval" in entries
    for entry in entries.values():
        assert KEYS <= entry.keys(), entry.keys()
        assert entry["raw"] > 0 and entry["csops"] > 0 and entry["target"] > 0
        assert entry["ratio"] == pytest.approx(entry["csops"] / entry["raw"], rel=1e-12)
        assert entry["met"] is MET_WHEN[entry["met_when"]](entry)
        if entry["met"]:
            assert entry["bottleneck"] is None
        else:
            assert isinstance(entry["bottleneck"], str) and entry["bottleneck"]
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["ram_gib"] > 0 and machine["cpu"]
    assert results["command"] == f"python -m bench --size small --rounds 1 --out {out}"


def test_retrieval_reports_its_percentiles_build_and_both_sides_finding_documents(run) -> None:
    out, _ = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    [entry] = [e for e in results["benchmarks"] if e["name"] == "retrieval"]
    details = entry["details"]
    assert (details["documents"], details["questions"], details["rounds"]) == (2000, 20, 1)
    assert details["articles"] + details["tickets"] == 2000
    assert set(details["shard documents"]) == {"en", "de", "es", "fr", "pt"}
    latency = details["latency ms (median, min, max over rounds)"]
    for case in ("raw", "csops"):
        p50, p95, p99 = (latency[case][p] for p in ("p50", "p95", "p99"))
        assert 0 < p50[0] <= p95[0] <= p99[0]
        assert p95[1] <= p95[0] <= p95[2]  # the median lies in its range
    assert latency["raw"]["p95"][0] == entry["raw"]
    assert latency["csops"]["p95"][0] == entry["csops"]
    assert all(seconds > 0 for seconds in details["build s"].values())
    assert details["quality"]["questions with a candidate (csops)"] > 0.5
    assert details["quality"]["questions with a hit (raw)"] > 0.5


def test_results_md_names_the_command_the_machine_and_the_figures(run) -> None:
    out, done = run
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    assert f"`python -m bench --size small --rounds 1 --out {out}`" in text
    assert "cores" in text and "GiB RAM" in text and "bm25s" in text
    assert "## retrieval: knowledge search over 2,000 documents" in text
    assert "| csops/raw (medians) |" in text
    assert "round 1/1 csops" in done.stderr  # progress goes to stderr


def test_seeding_and_context_pulls_report_sizes_percentiles_and_query_plans(run) -> None:
    out, _ = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entries = {e["name"]: e for e in results["benchmarks"]}
    seeding, memory = entries["seeding"], entries["seeding: peak memory"]
    d = seeding["details"]
    assert (d["accounts"], d["small book accounts"], d["rounds"]) == (300, 30, 1)
    assert d["rows"]["account"] == 300 and d["rows"]["usagedaily"] > 0
    assert memory["details"] == d
    for spread in (*d["seconds (median, min, max over rounds)"].values(),
                   *d["peak RSS MiB (median, min, max over rounds)"].values()):  # fmt: skip
        assert 0 < spread[1] <= spread[0] <= spread[2]
    assert "seeded 300 accounts" in d["csops seed output"]

    pulls = entries["context_pulls"]
    c = pulls["details"]
    assert (c["accounts"], c["accounts drawn per round"], c["rounds"]) == (300, 40, 1)
    assert c["usage rows"] > 0 and c["tickets"] > 0
    latency = c["latency ms (median, min, max over rounds)"]
    assert {"raw", "load_policies", "pull_ticket_context", "usage_report"} <= latency.keys()
    for by_q in latency.values():
        assert 0 < by_q["p50"][0] <= by_q["p95"][0] <= by_q["p99"][0]
    assert pulls["raw"] == latency["raw"]["p95"][0]
    assert pulls["csops"] == max(by_q["p95"][0] for n, by_q in latency.items() if n != "raw")
    # Every pull but the policy load reads the database, and every plan was read.
    plans = c["query plans"]
    assert set(plans) == latency.keys() - {"raw"}
    assert all(plans[n] for n in plans if n != "load_policies")
    assert all(q["plan"] and isinstance(q["indexed"], bool) for qs in plans.values() for q in qs)
    assert c["queries without an index"] == []  # plans, not timings: a lost index fails here


def test_hot_ticket_reports_both_rates_both_sides_and_every_ticket(run) -> None:
    out, _ = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entries = {e["name"]: e for e in results["benchmarks"]}
    absolute, ratio = entries["hot_ticket"], entries["hot_ticket: p99 ratio"]
    assert (absolute["met_when"], ratio["met_when"]) == ("csops <= target", "ratio <= target")
    assert (absolute["raw"], absolute["csops"]) == (ratio["raw"], ratio["csops"])
    details = absolute["details"]
    assert details["rates per s"] == [5, 20] and details["rounds"] == 1
    latency = details["latency ms (median, min, max over rounds)"]
    for side in ("raw", "csops"):
        for rate in ("5/s", "20/s"):
            p50, p95, p99 = (latency[side][rate][p][0] for p in ("p50", "p95", "p99"))
            assert 0 < p50 <= p95 <= p99
            tickets = details["tickets"][side][rate]
            assert (
                tickets["submitted"] == int(rate.split("/")[0]) * details["seconds per case"][rate]
            )
            assert tickets["failed to submit"] == 0
            assert tickets["completed"] + tickets["unfinished"] == tickets["submitted"]
            assert details["worker CPU ms per ticket"][side][rate][0] > 0
        assert latency[side]["20/s"]["p99"][0] == absolute[side]


def test_cli_startup_times_each_command_against_the_import_baseline(run) -> None:
    out, done = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entries = {e["name"]: e for e in results["benchmarks"] if e["name"].startswith("cli_startup")}
    assert set(entries) == {f"cli_startup: {c}" for c in ("--help", "status", "ticket")}
    baselines = {e["raw"] for e in entries.values()}
    assert len(baselines) == 1  # one baseline, the same for every command
    for entry in entries.values():
        details = entry["details"]
        assert (details["runs per round"], details["rounds"]) == (2, 1)
        wall = details["wall s (median, min, max over rounds)"]
        for case in ("raw", "csops"):
            assert wall[case][1] <= wall[case][0] <= wall[case][2]
            imports = details["imports"][case]
            assert imports["import ms"] > 0 and imports["largest"]
        assert wall["csops"][0] == entry["csops"] and wall["raw"][0] == entry["raw"]
        assert "temporalio.client" in details["imports"]["raw"]["largest"]
    # --help does not load the Temporal client; the commands that talk to Temporal do.
    assert (
        "temporalio.client"
        not in entries["cli_startup: --help"]["details"]["imports"]["csops"]["largest"]
    )
    assert "## cli_startup: `csops` commands from the shell" in (out / "RESULTS.md").read_text()
    assert "round 1/1:" in done.stderr


def test_memory_reports_both_workers_per_open_workflow(run) -> None:
    out, done = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    [entry] = [e for e in results["benchmarks"] if e["name"] == "memory"]
    details = entry["details"]
    assert (details["open workflows"], details["rounds"], details["workflow cache"]) == (30, 1, 30)
    figures = details["figures (median, min, max over rounds)"]
    for case in ("raw", "csops"):
        per_workflow = figures[case]["per open workflow KiB"]
        assert per_workflow[1] <= per_workflow[0] <= per_workflow[2]
        assert figures[case]["open MiB"][0] > figures[case]["idle MiB"][0] > 0
        assert figures[case]["settle s"][0] >= figures[case]["start s"][0] > 0
    assert figures["raw"]["per open workflow KiB"][0] == entry["raw"]
    assert figures["csops"]["per open workflow KiB"][0] == entry["csops"]
    # A raw timer's history: started, workflow task scheduled/started/completed, timer.
    assert figures["raw"]["history events"][0] == 5
    # An onboarding does more before its timers: policy, account, the welcome.
    assert figures["csops"]["history events"][0] > 5
    assert "## memory: worker RSS with 30 open workflows" in (out / "RESULTS.md").read_text()
    assert "round 1/1 csops" in done.stderr


def test_bulk_launch_and_renewal_sweep_report_both_sides_and_their_counts(run) -> None:
    out, _ = run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    entries = {e["name"]: e for e in results["benchmarks"]}

    launch = entries["bulk_launch"]["details"]
    assert (launch["workflows per round"], launch["rounds"], launch["concurrency"]) == (50, 1, 16)
    for side in ("raw", "csops"):
        figures = launch["memory"][side]
        for key in ("starts/s end to end", "starts/s after start-up", "start-up s", "wall s"):
            median, low, high = figures[key]
            assert 0 < low <= median <= high
        # Spawn to exit takes longer than spawn to the first start.
        assert figures["wall s"][0] > figures["start-up s"][0]
    headline = launch["memory"]["csops"]["starts/s end to end"][0]
    assert entries["bulk_launch"]["csops"] == pytest.approx(headline, abs=0.01)

    sweep = entries["renewal_sweep"]
    night = entries["renewal_sweep: 10,000 accounts"]
    details = sweep["details"]
    assert (details["packages per round"], details["rounds"]) == (20, 1)
    per_side = details["per side (median, min, max over rounds)"]
    for side in ("raw", "csops"):
        assert per_side[side]["completed"][0] == 20  # every package completed
        assert per_side[side]["per minute"][0] > 0 and per_side[side]["worker cpu s"][0] > 0
    assert per_side["csops"]["trigger to sweep start s"][0] >= 0
    # The night is extrapolated from the measured rates at this size.
    assert night["details"]["extrapolated"] is True
    assert night["csops"] == pytest.approx(10_000 / sweep["csops"], rel=0.01)
    assert night["raw"] == pytest.approx(10_000 / sweep["raw"], rel=0.01)
