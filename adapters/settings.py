"""Every environment variable csops reads, read here and nowhere else.

pydantic-settings: typed fields, defaults and validation in one declaration, and
a bad value is reported with the variable's name instead of failing later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapters.codec_keys import CodecKey, CodecKeyError, parse_codec_keys


class SettingsError(Exception):
    """An environment variable holds a value csops cannot use. Meant for a human."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # Temporal
    temporal_address: str = Field("localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field("csops", validation_alias="CSOPS_TASK_QUEUE")
    ui_url: str = Field("http://localhost:8233", validation_alias="CSOPS_UI_URL")
    # Who you are to Temporal: the identity `csops decide` sends (its --identity wins)
    user: str | None = Field(None, validation_alias="CSOPS_USER")

    # The context database: any SQLAlchemy URL; None means SQLite under .csops/
    database_url: str | None = Field(None, validation_alias="CSOPS_DATABASE_URL")
    # The policy files; None means the ones shipped in policies/
    policy_dir: Path | None = Field(None, validation_alias="CSOPS_POLICY_DIR")
    # Where renewal packages are written
    artifact_dir: Path = Field(Path(".csops/packages"), validation_alias="CSOPS_ARTIFACT_DIR")
    # Where a browser finds that folder: `csops up` serves it read-only on this URL's
    # port; notifications and the renewal workflow's details link to packages under it
    artifact_url: str = Field("http://127.0.0.1:8234", validation_alias="CSOPS_ARTIFACT_URL")
    # The retrieval index over articles and solved tickets (rebuilt from the database)
    knowledge_dir: Path = Field(Path(".csops/knowledge"), validation_alias="CSOPS_KNOWLEDGE_DIR")
    # Where queued outbox messages go: "maildir:PATH", "smtp://HOST:PORT" or "none"
    outbox_delivery: str = Field("maildir:.csops/maildir", validation_alias="CSOPS_OUTBOX_DELIVERY")
    # Where the Risk agent opens internal tickets for NPS dips: a Linear/Jira-shaped
    # JSON POST (adapters/ticket_webhook.py); None: no tickets are opened
    ticket_webhook_url: str | None = Field(None, validation_alias="CSOPS_TICKET_WEBHOOK_URL")

    # The LLM: the OpenAI provider when a key is set, else the offline engine
    openai_api_key: str | None = Field(None, validation_alias="OPENAI_API_KEY", repr=False)
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    llm_model: str = Field("gpt-4o-mini", validation_alias="CSOPS_LLM_MODEL")
    llm_timeout_s: float = Field(30.0, gt=0, validation_alias="CSOPS_LLM_TIMEOUT")
    # What each model's tokens cost, for `csops report`; None: adapters/llm_prices.yaml
    llm_prices: Path | None = Field(None, validation_alias="CSOPS_LLM_PRICES")

    # The SDK's default single workflow-task poller caps a 2-core dev server near
    # 50 completions/s while the CPU idles; a few more roughly double throughput.
    workflow_pollers: int = Field(4, gt=0, validation_alias="CSOPS_WORKFLOW_POLLERS")
    activity_pollers: int = Field(4, gt=0, validation_alias="CSOPS_ACTIVITY_POLLERS")
    # Open workflows the worker keeps in memory (the SDK's default). An evicted one is
    # rebuilt from its history when it next wakes: sleeping onboardings wake rarely,
    # so this bounds the worker's memory at little cost (bench/memory.py).
    workflow_cache: int = Field(1000, ge=0, validation_alias="CSOPS_WORKFLOW_CACHE")

    # Operations: the worker's Prometheus scrape ports (csops' counters, the Temporal
    # SDK's runtime metrics; None: not served) and its log lines ("text" or "json").
    metrics_port: int | None = Field(None, gt=0, lt=65536, validation_alias="CSOPS_METRICS_PORT")
    sdk_metrics_port: int | None = Field(
        None, gt=0, lt=65536, validation_alias="CSOPS_SDK_METRICS_PORT"
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias="CSOPS_LOG_FORMAT")

    # The optional payload codec (adapters/payload_codec.py): "kid1=BASE64,kid2=BASE64",
    # the first key encrypts, all decrypt. Empty tuple: payloads travel unencrypted.
    codec_keys: Annotated[tuple[CodecKey, ...], NoDecode] = Field(
        (), validation_alias="CSOPS_CODEC_KEYS", repr=False
    )

    @field_validator("codec_keys", mode="before")
    @classmethod
    def _parse_codec_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_codec_keys(value)
        except CodecKeyError as err:
            # A custom error type keeps pydantic's "Value error, " prefix off the sentence.
            raise PydanticCustomError("codec_keys", str(err)) from None


def load_settings() -> Settings:
    """The settings from the environment.

    Raises:
        SettingsError: one line per variable that holds an unusable value.
    """
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise SettingsError(f"bad environment: {problems}") from None
