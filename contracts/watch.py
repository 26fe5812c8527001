"""The account watch (`health/{account_id}`, workflow type `AccountWatch`): one
always-on workflow per account that the nightly health sweep signals with its
findings (`health_scored`, a `contracts.health.WatchFindings`), where the Risk and
Growth agents act on them. Pydantic only: these cross Temporal."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from contracts.health import HealthBand, WatchFindings


class WatchNight(BaseModel):
    """One night the watch acted on: the health it was told and what the agents did."""

    as_of: date
    score: int
    band: HealthBand
    trend: int | None = None
    weakest: str = ""
    actions: list[str] = []  # in words, one per action ("alert sent to jane@...")


class WatchState(BaseModel):
    """What the watch knows between nights: its input when it continues as new
    (empty when the sweep first starts it), and the `account_watch` query's answer."""

    account_id: str
    last: WatchNight | None = None  # the last night acted on (its band and score)
    nights: int = 0  # nights acted on since the watch started, over all its runs
    anomaly_before: bool = False  # the last night had a usage anomaly (alerted once)
    last_play: list[str] = []  # the suggestions of the last expansion play drafted
    tickets: list[str] = []  # the dip keys tickets were opened for (the latest kept)
    # Findings that arrived while the run was closing: the next run acts on them.
    pending: list[WatchFindings] = []
