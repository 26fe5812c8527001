"""The OpenAI provider: any OpenAI-compatible endpoint through the `openai` SDK.

The client never retries (`max_retries=0`): Temporal's retry policy owns
retries, so every attempt is visible in the workflow history. Requests the
server refuses for good (4xx other than 429) are raised non-retryable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import openai
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from adapters.settings import Settings
from contracts import errors

T = TypeVar("T", bound=BaseModel)


@dataclass
class CallStats:
    model: str
    tokens: int
    latency_ms: float


def _retry_after(err: openai.APIStatusError) -> timedelta | None:
    try:
        seconds = float(err.response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return timedelta(seconds=min(max(seconds, 0.0), 300.0))


class InvalidModelOutput(Exception):
    """The model answered, but not with JSON matching the schema."""

    def __init__(self, reason: str, stats: CallStats) -> None:
        super().__init__(reason)
        self.stats = stats


class OpenAIProvider:
    def __init__(
        self, api_key: str, base_url: str | None, model: str, timeout_s: float = 30.0
    ) -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider | None:
        """The provider when OPENAI_API_KEY is set, else None (offline engine)."""
        if not settings.openai_api_key:
            return None
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or None,
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_s,
        )

    @property
    def label(self) -> str:
        return f"openai:{self.model}"

    async def structured(self, system: str, user: str, schema: type[T]) -> tuple[T, CallStats]:
        """Ask for JSON matching `schema` and validate it with pydantic.

        Raises:
            InvalidModelOutput: the answer was not valid JSON for the schema.
            ApplicationError: non-retryable for a request the server refuses for good.
            openai.APIError: anything transient (429, 5xx, timeouts): Temporal retries.
        """
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
                },
                temperature=0,
            )
        except openai.RateLimitError as err:
            # Retryable, after the server's Retry-After when it gives one.
            raise ApplicationError(
                f"LLM endpoint rate-limited the call: {err.message}",
                type=errors.RATE_LIMITED,
                next_retry_delay=_retry_after(err),
            ) from err
        except openai.APIStatusError as err:
            if 400 <= err.status_code < 500:
                raise ApplicationError(
                    f"LLM endpoint refused the request: {err.message}",
                    type=errors.LLM_REQUEST_REFUSED,
                    non_retryable=True,
                ) from err
            raise
        stats = CallStats(
            model=response.model or self.model,
            tokens=response.usage.total_tokens if response.usage else 0,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        content = response.choices[0].message.content or ""
        try:
            return schema.model_validate(json.loads(content)), stats
        except (json.JSONDecodeError, ValidationError, TypeError) as err:
            raise InvalidModelOutput(f"{type(err).__name__}: {str(err)[:200]}", stats) from err
