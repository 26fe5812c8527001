"""`python -m bench`: run the benchmarks and write bench/RESULTS.md and
bench/results.json.

    python -m bench                                   # all, full size, 3 rounds
    python -m bench --only retrieval --size small --rounds 1
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from bench import (
    bulk_launch,
    cli_startup,
    context_pulls,
    hot_ticket,
    memory,
    renewal_sweep,
    retrieval,
    seeding,
)
from bench.outcome import Outcome
from bench.report import write

# name -> run(size, rounds); a new benchmark is one module and one line here. A
# benchmark with two targets (say, an absolute bound and a ratio) returns two outcomes.
BENCHMARKS: dict[str, Callable[[str, int], Outcome | list[Outcome]]] = {
    retrieval.NAME: retrieval.run,
    seeding.NAME: seeding.run,
    context_pulls.NAME: context_pulls.run,
    hot_ticket.NAME: hot_ticket.run,
    memory.NAME: memory.run,
    cli_startup.NAME: cli_startup.run,
    bulk_launch.NAME: bulk_launch.run,
    renewal_sweep.NAME: renewal_sweep.run,
}
SIZES = ("small", "full", "night")
# Benchmarks with a night size: a long measured run (not part of `make bench`),
# whose figures their full-size report quotes.
NIGHT = {renewal_sweep.NAME}
HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, write the results; exit status 0 even when a
    target is missed (the results say so; a benchmark is not a test)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS),
                        help="run this benchmark (repeatable); default: all")  # fmt: skip
    parser.add_argument("--size", choices=SIZES, default="full",
                        help="small: seconds, for the smoke test; full: the measured size; "
                             "night: the long runs of the benchmarks that have one")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of raw and csops, alternating (default 3)")  # fmt: skip
    parser.add_argument("--out", type=Path,
                        help="folder for RESULTS.md and results.json "
                             "(default bench/, bench/night/ for the night size)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    out = args.out or (HERE / "night" if args.size == "night" else HERE)
    names = [n for n in args.only or BENCHMARKS if args.size != "night" or n in NIGHT]
    if not names:
        parser.error(f"no night size for {', '.join(args.only)}; benchmarks with one: {NIGHT}")
    outcomes: list[Outcome] = []
    for name in names:
        result = BENCHMARKS[name](args.size, args.rounds)
        outcomes += result if isinstance(result, list) else [result]
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    write(outcomes, out, command)
    for o in outcomes:
        verdict = "met" if o.met else "MISSED"
        print(f"{o.name}: raw {o.raw:.2f}, csops {o.csops:.2f}, csops/raw {o.ratio:.2f}, "
              f"target {o.met_when.replace('target', f'{o.target:g}')}: {verdict}")  # fmt: skip
    print(f"wrote {out / 'RESULTS.md'} and {out / 'results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
