"""Renewal sweep: renewal packages completed per minute, against a raw workflow
with as many trivial activities as one package runs.

- csops: the nightly sweep as its Schedule starts it (`csops.schedules.install`,
  then the Schedule triggered) over a context database in which this round's
  accounts renew inside the window (a seeded book with 91 days of usage; the
  other accounts renew outside it). The sweep starts one `RenewalPackageWorkflow`
  per account from its activity (`policies/renewal.yaml`: sweep concurrency,
  batch size); `csops worker` runs them. A package is complete when its last
  activity before waiting on people committed its row: the sections, artifact,
  notifications and audit rows (PACKAGE_ACTIVITIES); commit times come from an
  SQLite trigger on the outbox and audit tables, added by the benchmark.
- raw: as many `raw.Chain` workflows, each PACKAGE_ACTIVITIES - 1 trivial
  activities and one committing a row to an SQLite outbox, started from the
  benchmark process at the sweep's concurrency; the raw worker runs them.

Figure: packages completed per minute, from the start (the trigger; the first
raw start) to the last package's commit. Targets: csops/raw ≥ 0.5; and a
10,000-package night under 30 minutes, extrapolated from the measured rate
(`--size night` measures it: 10,000 accounts, every one renewing in the window).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

from activities.renewal_sweep import IN_FLIGHT
from bench.measure import Progress, Spread
from bench.outcome import Outcome
from bench.raw_worker import ChainInput, prepare_outbox
from bench.temporal import (
    cpu_s,
    dev_server,
    start_csops_worker,
    start_raw_worker,
    wait_until_polling,
)
from context.db import make_engine
from csops import schedules
from csops.demo_book import generate_book
from policies.loader import load_policies

NAME = "renewal_sweep"
RATIO_TARGET = 0.5
NIGHT_ACCOUNTS = 10_000
NIGHT_TARGET_MIN = 30.0
# Activities one package runs before it waits on people: the policy snapshot and
# the account (local activities), every section at once (a local activity), the
# narrative, the store, "package ready" to the CSM, the "stored" audit, and for
# each of the two requests (pricing, signing) its "requested" audit and its
# notification. A package with terms requests runs two more (a third request); the
# raw side runs the common 11. (Before patch renewal-one-read: 16, sections one
# activity each.)
PACKAGE_ACTIVITIES = 11
# size -> (csops packages, raw packages per round, warm-up packages per side, timeout
# s per side); the night measures the 10,000 on the csops side, raw at its full size.
SIZES = {
    "small": (20, 20, 0, 120),
    "full": (150, 150, 5, 600),
    "night": (NIGHT_ACCOUNTS, 150, 5, 7_200),
}
USAGE_DAYS = 91  # the sections read 13 weeks
CSOPS_QUEUE, RAW_QUEUE = "csops", "raw"
POLL_S = 0.5

# Commit times of the rows a package writes, taken by SQLite as they are inserted.
COMMIT_TRIGGERS = """
CREATE TABLE IF NOT EXISTS bench_commit (workflow_id TEXT, key TEXT, at REAL);
CREATE INDEX IF NOT EXISTS bench_commit_workflow ON bench_commit (workflow_id);
CREATE TRIGGER IF NOT EXISTS bench_outbox AFTER INSERT ON outboxmessage BEGIN
  INSERT INTO bench_commit VALUES
    (NEW.workflow_id, NEW.idempotency_key, (julianday('now') - 2440587.5) * 86400.0);
END;
CREATE TRIGGER IF NOT EXISTS bench_audit AFTER INSERT ON auditevent BEGIN
  INSERT INTO bench_commit VALUES
    (NEW.workflow_id, NEW.idempotency_key, (julianday('now') - 2440587.5) * 86400.0);
END;
"""
# A package is complete once its requests' notifications are in: pricing,
# signing, and the terms task when it has terms requests.
COMPLETE = """
SELECT r.workflow_id, (SELECT max(at) FROM bench_commit b WHERE b.workflow_id = r.workflow_id)
FROM renewalpackagerecord r
WHERE r.account_id IN ({slice})
  AND (SELECT count(*) FROM bench_commit b
       WHERE b.workflow_id = r.workflow_id AND b.key LIKE '%/new')
      = 2 + (json_array_length(json_extract(r.package, '$.terms_requests')) > 0)
"""

# Where csops's time went, for RESULTS.md: measured while writing this benchmark on
# 2026-11-22, on this 2-core machine shared with three other benchmarks (load
# average 5-9), so the ratios count more than the absolute rates.
FINDINGS = """\
Before (16 activities per package: the six sections one activity each; 300
packages, 1 round): csops 75 packages/min against raw 193/min (ratio 0.39; a
second run of 150: 112 against 165, 0.68). Per package the csops worker used
220 ms of CPU (raw 105 ms) and the server 216 ms (raw 162 ms).

py-spy on the csops worker (`--gil`, the 150-package run):
- 30% workflow code in the sandbox, most of it re-importing `workflows.renewal`,
  `workflows.human` and their helpers for every workflow (fixed on main: the
  worker shares its workflow modules, merged here);
- 18% the outbox dispatcher delivering the three messages of each package to the
  maildir (a claim, the delivery and a commit per message);
- 15% the section activities: each of the six read the account again, four read
  the 13 weeks of usage, and the expansion section computed the usage report and
  the whole risk assessment a second time (risk 5.7%, expansion 3.2%);
- payload sizes in a package's history: the policy snapshot 11.2 KB, the package
  sent to the narrative 4.2 KB and to the store 4.5 KB. Passing ids instead of the
  package would save about 9 KB per package; not done, as the snapshot is larger
  and both are small against the server's own work per activity.

Fix (patch `renewal-one-read`, older packages replay their recorded commands):
the policy snapshot and the account are read at once, and all six sections in
one activity (`RenewalSectionActivities.renewal_sections`: the account, its usage
and contacts read once, the risk computed once), all three as local activities
(no task queue round trip). A package runs 11 activities instead of 16, 8 of them
through the task queue. After (150 packages, 1 round, load average 8): csops 261
packages/min against raw 212/min (a raw chain of 10 activities in that run, one
short; ratio 1.23); per package the
csops worker used 125 ms of CPU (raw 69 ms) and the server 90 ms (raw 113 ms: the
raw chain sends every activity through the task queue, which is why csops can
beat it under load). On the machine alone at last (1 round, load average 0.4):
csops 641 packages/min against raw 921 (11 activities), ratio 0.70; per package
the csops worker used 96 ms of CPU (raw 55 ms) and the server 70 ms (raw 69 ms).
The SQL of every section uses an index; the usage read sorted its 455
rows in a temporary B-tree for GROUP BY, which the covering index on
usagedaily(account_id, feature, day, value) (from the context_pulls work, merged
after these figures) removes.

The brief rebuilt for the call (issue 12: story, agenda, evidence, two matplotlib
charts) brought it back down: 150 packages, 1 round, alone: csops 189 packages/min
against raw 783 (ratio 0.24; 10,000 in 53 min extrapolated), 340 ms of worker CPU
per package. py-spy on the worker: 55% in `usage_charts`, most of it matplotlib
drawing axes, ticks and text (`Axis.draw`, `Text.draw`) and Agg rasterizing them.
Fix: each chart's background (everything but the data lines) is drawn once per set
of axes and kept; a package draws its lines onto a copy (Agg blitting, one cache
for the worker's threads under a lock: one per thread still spent 17% drawing the
same backgrounds). Charts went from 130-170 ms to 16 ms of CPU per package, most of
that the PNG encoding. After, same size, alone: 420 packages/min against raw 678
(ratio 0.62; 10,000 in 23.8 min extrapolated), 147 ms of worker CPU per package.
The 10,000-package night below was measured before the rebuilt brief.

A later full run missed (0.45: 163 ms of worker CPU per package against 58 raw).
py-spy on the worker during one full round, machine alone: the charts were still
22% of its samples, most of it the seats chart redrawing its legend's text over
each package's lines (`Legend.draw`, 58% of `usage_charts` under cProfile) and
PNG encoding at zlib's default level (27%). The seats legend now sits beside the
axes, as the features legend did: no line reaches it, so the kept background's
copy of it stands and nothing but the lines and spines is drawn per package; the
PNGs are encoded at zlib level 1 (6% more bytes). `usage_charts` 29 -> 11.5 ms
per package (60 packages, five passes, in-process); one full round right after:
csops 607 packages/min against raw 987 (0.61), 95 ms of worker CPU per package."""

# The 10,000-package night, measured by `python -m bench --only renewal_sweep
# --size night` (too long for `make bench`).
NIGHT_MEASURED = """\
Measured on 2026-11-22 alone on this 2-core machine (`python -m bench --size
night`, bench/night/): a sweep over 10,000 accounts, every one renewing inside
the window, stored its 10,000 packages in 24.9 minutes (401 per minute) from the
Schedule's trigger: inside the 30-minute night. The `csops worker` process used
1,471 s of CPU in those 1,497 s: one core, the whole time, so the worker's one
Python process is what bounds the night (a second worker process on a machine
with more cores would share it). raw.Chain of 11 activities on the same server:
949 per minute over 150. An earlier run, with three other benchmarks beside it
(load 6-10), took 34.1 minutes; before the sweep kept its packages in flight to
200, it stored about 70 packages per minute in its first minutes (10,000
workflows started at once, far more than the worker's workflow cache of 1,000)."""


def run(size: str, rounds: int) -> list[Outcome]:
    progress = Progress(NAME)
    n, n_raw, warm_up, timeout_s = SIZES[size]
    if size == "night":
        rounds = 1
    with tempfile.TemporaryDirectory(prefix="csops-bench-sweep-") as tmp:
        result = asyncio.run(_run(Path(tmp), n, n_raw, rounds, warm_up, timeout_s, progress))
    return _outcomes(size, n, n_raw, rounds, result)


async def _run(
    folder: Path,
    n: int,
    n_raw: int,
    rounds: int,
    warm_up: int,
    timeout_s: float,
    progress: Progress,
) -> dict[str, Any]:
    today = datetime.now(UTC).date()  # the sweep's as_of: the workflow's clock
    db = folder / "context.db"
    start = time.perf_counter()
    generate_book(make_engine(f"sqlite:///{db}"), accounts=warm_up + n * rounds,
                  as_of=today, days=USAGE_DAYS)  # fmt: skip
    seed_s = time.perf_counter() - start
    with sqlite3.connect(db) as conn:
        conn.executescript(COMMIT_TRIGGERS)
        accounts = [a for (a,) in conn.execute("SELECT id FROM account ORDER BY id")]
    progress(f"seeded {len(accounts):,} accounts with {USAGE_DAYS} days of usage in {seed_s:.1f} s")
    raw_db = folder / "raw-outbox.db"
    prepare_outbox(str(raw_db))
    renewal = load_policies().renewal
    assert renewal is not None  # the loader always fills it
    per_round: dict[str, list[dict[str, Any]]] = {"raw": [], "csops": []}
    async with dev_server(folder) as server:
        client = server.client
        workers = {
            "csops": start_csops_worker(folder, server.address, CSOPS_QUEUE),
            "raw": start_raw_worker(folder, server.address, RAW_QUEUE),
        }
        try:
            for side, queue in (("csops", CSOPS_QUEUE), ("raw", RAW_QUEUE)):
                await wait_until_polling(client, queue, workers[side])
            progress(f"workers polling (csops worker pid {workers['csops'].pid})")
            await schedules.install(client, CSOPS_QUEUE, renewal.schedule.cron,
                                    renewal.schedule.timezone, renewal.schedule.catchup_window_hours)  # fmt: skip
            # Each call gets its own accounts (csops) or keys (raw): fresh workflow ids.
            cases = {
                "csops": lambda part: _csops(client, db, today, part, timeout_s),
                "raw": lambda part: _raw(
                    client, raw_db, part, renewal.sweep.concurrency, timeout_s
                ),
            }
            if warm_up:
                for side in ("raw", "csops"):
                    await cases[side](accounts[:warm_up])
                progress(f"{warm_up} warm-up packages per side done")
            for r in range(rounds):
                parts = {
                    "csops": accounts[warm_up + r * n : warm_up + (r + 1) * n],
                    "raw": [f"r{r}-{i}" for i in range(n_raw)],
                }
                order = ("raw", "csops") if r % 2 == 0 else ("csops", "raw")
                for side in order:
                    procs = {"server": server.process, "worker": workers[side]}
                    before = {k: cpu_s(p) for k, p in procs.items()}
                    figures = await cases[side](parts[side])
                    for k, p in procs.items():
                        figures[f"{k} cpu s"] = cpu_s(p) - before[k]
                    per_round[side].append(figures)
                    progress(
                        f"round {r + 1}/{rounds} {side}: {figures['completed']}/"
                        f"{len(parts[side])} packages "
                        f"in {figures['seconds']:.1f} s ({figures['per minute']:.0f}/min), "
                        f"worker CPU {figures['worker cpu s']:.1f} s"
                    )
        finally:
            for w in workers.values():
                w.stop()
    return {"rounds": per_round, "seed s": seed_s, "concurrency": renewal.sweep.concurrency,
            "batch size": renewal.sweep.batch_size, "window days": renewal.window_days}  # fmt: skip


def _renew_in_window(db: Path, today: date, part: list[str]) -> None:
    """This round's accounts renew inside the window (1..40 days from today); every
    other account renews outside it, so the sweep starts exactly this round's."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE account SET renewal_date = ?", (today + timedelta(days=200),))
        conn.executemany(
            "UPDATE account SET renewal_date = ? WHERE id = ?",
            [(today + timedelta(days=1 + i % 40), a) for i, a in enumerate(part)],
        )


async def _csops(
    client: Client, db: Path, today: date, part: list[str], timeout_s: float
) -> dict[str, Any]:
    _renew_in_window(db, today, part)
    schedule = client.get_schedule_handle(schedules.SCHEDULE_ID)
    start = time.time()
    await schedule.trigger()
    query = COMPLETE.format(slice=",".join("?" * len(part)))
    done = await _poll(lambda: _read(db, query, part), len(part), start + timeout_s)
    last = max((at for _, at in done), default=start)
    action = (await schedule.describe()).info.recent_actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)  # the only kind there is
    sweep = await client.get_workflow_handle(action.workflow_id).describe()
    return {
        "completed": len(done),
        "seconds": last - start,
        "per minute": len(done) / (last - start) * 60,
        "trigger to sweep start s": sweep.start_time.timestamp() - start,
        "sweep s": (sweep.close_time or sweep.start_time).timestamp() - start,
    }


async def _raw(
    client: Client, raw_db: Path, part: list[str], concurrency: int, timeout_s: float
) -> dict[str, Any]:
    prefix = f"raw-{part[0]}/"
    gate = asyncio.Semaphore(concurrency)

    async def one(account: str) -> None:
        async with gate:
            key = prefix + account
            await client.start_workflow(
                "raw.Chain",
                ChainInput(key=key, steps=PACKAGE_ACTIVITIES - 1, notify_db=str(raw_db)),
                id=key,
                task_queue=RAW_QUEUE,
            )

    start = time.time()
    await asyncio.gather(*(one(a) for a in part))
    query = "SELECT key, committed_at FROM outbox WHERE key LIKE ?"
    done = await _poll(lambda: _read(raw_db, query, [prefix + "%"]), len(part), start + timeout_s)
    last = max((at for _, at in done), default=start)
    return {
        "completed": len(done),
        "seconds": last - start,
        "per minute": len(done) / (last - start) * 60,
    }


def _read(db: Path, query: str, params: list[str]) -> list[tuple[str, float]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return list(conn.execute(query, params))


async def _poll(read, n: int, deadline: float) -> list[tuple[str, float]]:
    """Until `n` rows are done or the deadline (unfinished ones are left out)."""
    while True:
        done = await asyncio.to_thread(read)
        if len(done) >= n or time.time() > deadline:
            return done
        await asyncio.sleep(POLL_S)


def _outcomes(size: str, n: int, n_raw: int, rounds: int, result: dict[str, Any]) -> list[Outcome]:
    per_round = result["rounds"]
    keys = sorted({k for side in per_round.values() for r in side for k in r})
    figures = {
        side: {k: Spread.of([r[k] for r in rs if k in r]) for k in keys if any(k in r for r in rs)}
        for side, rs in per_round.items()
    }
    raw, csops = (round(figures[s]["per minute"].median, 1) for s in ("raw", "csops"))
    details: dict[str, Any] = {
        "packages per round": n,
        "raw packages per round": n_raw,
        "rounds": rounds,
        "activities per package": PACKAGE_ACTIVITIES,
        "sweep concurrency": result["concurrency"],
        "sweep batch size": result["batch size"],
        "window days": result["window days"],
        "seed s": round(result["seed s"], 1),
        "measured at": datetime.now(UTC).isoformat(timespec="seconds"),
        "per side (median, min, max over rounds)": {
            side: {k: s.rounded() for k, s in f.items()} for side, f in figures.items()
        },
        "worker cpu ms per package": {
            side: round(figures[side]["worker cpu s"].median / count * 1000, 1)
            for side, count in (("raw", n_raw), ("csops", n))
        },
    }
    rate = Outcome(
        name=NAME,
        metric="renewal packages completed per minute",
        raw=raw,
        csops=csops,
        target=RATIO_TARGET,
        met_when="ratio >= target",
        bottleneck=(
            f"csops's worker spends {details['worker cpu ms per package']['csops']:.0f} ms of "
            f"CPU per package against {details['worker cpu ms per package']['raw']:.0f} ms raw"
        ),
        details=details,
    )
    minutes = {side: NIGHT_ACCOUNTS / rate_ for side, rate_ in (("raw", raw), ("csops", csops))}
    if size == "night":  # measured: from the trigger to the last of the 10,000 packages
        minutes["csops"] = figures["csops"]["seconds"].median / 60
    night = Outcome(
        name=f"{NAME}: {NIGHT_ACCOUNTS:,} accounts",
        metric=(
            f"minutes for a sweep of {NIGHT_ACCOUNTS:,} packages"
            + (
                " (csops measured, raw extrapolated)"
                if size == "night"
                else " (extrapolated from the rates above)"
            )  # fmt: skip
        ),
        raw=round(minutes["raw"], 2),
        csops=round(minutes["csops"], 2),
        target=NIGHT_TARGET_MIN,
        met_when="csops <= target",
        bottleneck=(
            f"at {csops:.0f} packages per minute, {NIGHT_ACCOUNTS:,} packages take "
            f"{minutes['csops']:.0f} minutes"
            + (
                f"; raw Temporal alone, at {raw:.0f} chains of {PACKAGE_ACTIVITIES} activities "
                f"per minute, would take {minutes['raw']:.0f}: this machine's dev server and "
                "worker, not csops, set the limit"
                if minutes["raw"] > NIGHT_TARGET_MIN
                else ""
            )
        ),
        details={"extrapolated": size != "night", "from packages per minute": [raw, csops]},
    )
    rate.markdown = _markdown(rate, night, figures)
    return [rate, night]


def _markdown(rate: Outcome, night: Outcome, figures: dict[str, dict[str, Spread]]) -> str:
    d = rate.details
    rows = "\n".join(
        f"| {label} | {figures['raw'][k].text(digits) if k in figures['raw'] else '–'} | "
        f"{figures['csops'][k].text(digits)} |"
        for label, k, digits in (
            ("packages per minute", "per minute", 0),
            ("seconds, start to last package", "seconds", 1),
            ("worker CPU s", "worker cpu s", 1),
            ("server CPU s", "server cpu s", 1),
            ("Schedule trigger to sweep start s", "trigger to sweep start s", 2),
            ("sweep workflow done after s", "sweep s", 1),
        )
    )
    verdict = "met" if rate.met else f"missed: {rate.bottleneck}"
    night_verdict = "met" if night.met else f"missed: {night.bottleneck}"
    return f"""\
## renewal_sweep: renewal packages per minute

{d["packages per round"]:,} packages per side per round, {d["rounds"]} round(s), the
sides alternating, one in-memory dev server; a few warm-up packages per side first.

- csops: the nightly sweep Schedule (`csops.schedules.install`) triggered over a
  context database whose round's accounts renew inside the {d["window days"]}-day window
  (a seeded book with {USAGE_DAYS} days of usage; the other accounts renew outside it).
  The sweep starts the packages from its activity ({d["sweep concurrency"]} starts at a time,
  {d["sweep batch size"]} per batch, at most {IN_FLIGHT} being assembled at once);
  `csops worker` runs them. A package is complete
  when its {PACKAGE_ACTIVITIES} activities before waiting on people are done (policy
  snapshot and account facts, then all six sections, as local activities; the
  narrative, the store, "package ready", the "stored" audit, and the "requested"
  audit and notification of the pricing and signing requests); its last row's
  commit time is taken by an SQLite trigger.
- raw: as many `raw.Chain` workflows of {PACKAGE_ACTIVITIES - 1} trivial activities and one
  committing an outbox row, started from the benchmark at the same concurrency.

From the trigger (the first raw start) to the last package committed; median over
rounds (min–max).

| figure | raw | csops |
| --- | --- | --- |
{rows}
| csops/raw, packages per minute | | {rate.ratio:.2f} |

Target: csops/raw ≥ {rate.target:g}: **{verdict}**

{NIGHT_ACCOUNTS:,} packages in a night: {night.metric}: raw {night.raw:.1f}, csops
{night.csops:.1f} minutes. Target ≤ {night.target:g} minutes: **{night_verdict}**
That is a book whose {NIGHT_ACCOUNTS:,} accounts all renew inside the window (the worst
night: the first sweep over a whole book); with the demo book's spread of renewals,
about one account in nine renews inside a {d["window days"]}-day window, so the first
sweep of a {NIGHT_ACCOUNTS:,}-account book starts about 1,100 packages and later
nights a few dozen.

{NIGHT_MEASURED}

### What the profile showed

{FINDINGS}
"""
