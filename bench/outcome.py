"""What one benchmark reports, and its entry in results.json.

Every entry has the keys later tools read (`name`, `metric`, `raw`, `csops`,
`ratio`, `target`, `met`, `bottleneck`), plus `met_when` (which comparison
decides `met`, so a reader need not know each benchmark) and `details`
(informational figures: other percentiles, ranges over rounds, build times).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The comparisons a target can be met by (`met_when` names one): an absolute bound
# on the csops figure, or a bound on its ratio to raw.
MET_WHEN: dict[str, Callable[[float, float, float], bool]] = {
    "csops <= target": lambda raw, csops, target: csops <= target,
    "csops >= target": lambda raw, csops, target: csops >= target,
    "ratio <= target": lambda raw, csops, target: csops / raw <= target,
    "ratio >= target": lambda raw, csops, target: csops / raw >= target,
}


@dataclass
class Outcome:
    """A benchmark's headline figure for the raw baseline and for csops (medians
    over rounds, measured in the same run), its target, and what else it found."""

    name: str
    metric: str
    raw: float
    csops: float
    target: float
    met_when: str
    bottleneck: str | None  # why the target was missed, with the measurement; None if met
    details: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""  # the benchmark's own section of RESULTS.md

    @property
    def ratio(self) -> float:
        """csops / raw: steadier than absolute figures on a shared machine."""
        return self.csops / self.raw

    @property
    def met(self) -> bool:
        return MET_WHEN[self.met_when](self.raw, self.csops, self.target)

    def entry(self) -> dict[str, Any]:
        """The benchmark's entry in results.json."""
        return {
            "name": self.name, "metric": self.metric, "raw": self.raw, "csops": self.csops,
            "ratio": self.ratio, "target": self.target, "met": self.met,
            "bottleneck": None if self.met else self.bottleneck,
            "met_when": self.met_when, "details": self.details,
        }  # fmt: skip
