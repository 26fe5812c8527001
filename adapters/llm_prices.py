"""LLM prices per model for the outcome report, from a small YAML file: the shipped
`llm_prices.yaml` or the file CSOPS_LLM_PRICES names.

A file of its own, not a policy: prices change with the vendor's list and the
contract, not with what the agents may do, so a price update leaves the policy
version (a hash of the policy files) unchanged. Not an environment variable either:
several models, each with a comment saying where its price comes from."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SHIPPED_PRICES = Path(__file__).resolve().parent / "llm_prices.yaml"


class PriceError(Exception):
    """The price file is missing or invalid. Meant for a human."""


class LlmPrices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    usd_per_million_tokens: dict[str, float] = Field(default_factory=dict)


def load_prices(path: Path | None = None) -> dict[str, float]:
    """Model -> USD per million tokens (prompt and completion blended).

    Raises:
        PriceError: the file cannot be read, is not YAML, or a price is not a number ≥ 0.
    """
    path = path or SHIPPED_PRICES
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise PriceError(f"{path}: cannot read the LLM prices ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise PriceError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    try:
        prices = LlmPrices.model_validate(data or {})
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(map(str, e["loc"]))
        raise PriceError(f"{path}: {where}: {e['msg']}") from None
    negative = [m for m, p in prices.usd_per_million_tokens.items() if p < 0]
    if negative:
        raise PriceError(f"{path}: negative price for {', '.join(negative)}")
    return dict(prices.usd_per_million_tokens)
