"""Every environment variable csops reads, read here and nowhere else.

pydantic-settings: typed fields, defaults and validation in one declaration, and
a bad value is reported with the variable's name instead of failing later.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, FilePath, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapters.channel_specs import SENDER, ChannelOptions, spec_problem
from adapters.codec_keys import CodecKey, CodecKeyError, parse_codec_keys
from policies.addresses import email_address

if TYPE_CHECKING:
    from adapters.delivery import Delivery


class SettingsError(Exception):
    """An environment variable holds a value csops cannot use. Meant for a human."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # Temporal
    temporal_address: str = Field("localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field("csops", validation_alias="CSOPS_TASK_QUEUE")
    ui_url: str = Field("http://localhost:8233", validation_alias="CSOPS_UI_URL")
    # A cluster of your own or Temporal Cloud: mTLS (a client certificate and its key,
    # both or neither) or an API key; either turns TLS on, as do TEMPORAL_TLS and the
    # server CA below.
    temporal_tls: bool = Field(False, validation_alias="TEMPORAL_TLS")
    temporal_tls_cert: FilePath | None = Field(
        None, validation_alias="TEMPORAL_TLS_CLIENT_CERT_PATH"
    )
    temporal_tls_key: FilePath | None = Field(None, validation_alias="TEMPORAL_TLS_CLIENT_KEY_PATH")
    # A cluster whose certificate your own CA signed, and the name it was issued to
    # (the SDK's environment-configuration names).
    temporal_tls_server_ca: FilePath | None = Field(
        None, validation_alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH"
    )
    temporal_tls_server_name: str | None = Field(None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    temporal_api_key: str | None = Field(None, validation_alias="TEMPORAL_API_KEY", repr=False)
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
    # Where queued outbox messages go (adapters/channel_specs.SPECS): "maildir:PATH",
    # "smtp://HOST:PORT", "slack:WEBHOOK_URL", "webhook:URL" or "none"; each audience
    # can have its own channel, else this one
    outbox_delivery: str = Field("maildir:.csops/maildir", validation_alias="CSOPS_OUTBOX_DELIVERY")
    internal_delivery: str | None = Field(None, validation_alias="CSOPS_INTERNAL_DELIVERY")
    customer_delivery: str | None = Field(None, validation_alias="CSOPS_CUSTOMER_DELIVERY")
    # The From of every email; "Name <address>" or an address
    mail_from: str = Field(SENDER, validation_alias="CSOPS_MAIL_FROM")
    smtp_starttls: bool = Field(False, validation_alias="CSOPS_SMTP_STARTTLS")
    smtp_user: str | None = Field(None, validation_alias="CSOPS_SMTP_USER")
    smtp_password: str | None = Field(None, validation_alias="CSOPS_SMTP_PASSWORD", repr=False)
    # A CA bundle the SMTP server's certificate is checked against (else the system's)
    smtp_ca_file: Path | None = Field(None, validation_alias="CSOPS_SMTP_CA_FILE")
    # The shared secret webhook: channels sign every POST's body with (HMAC-SHA256)
    webhook_secret: str | None = Field(None, validation_alias="CSOPS_WEBHOOK_SECRET", repr=False)
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

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        name, address = parseaddr(value)
        try:
            email_address(address or value)
        except ValueError as err:
            raise PydanticCustomError("mail_from", "{problem}", {"problem": str(err)}) from None
        return formataddr((name, address)) if name else address

    @model_validator(mode="after")
    def _check_delivery(self) -> Settings:
        options = self.channel_options()
        for name, spec in (
            ("CSOPS_OUTBOX_DELIVERY", self.outbox_delivery),
            ("CSOPS_INTERNAL_DELIVERY", self.internal_delivery),
            ("CSOPS_CUSTOMER_DELIVERY", self.customer_delivery),
        ):
            problem = spec and spec_problem(spec, options)
            if problem:
                raise PydanticCustomError(
                    "delivery", "{name}: {problem}", {"name": name, "problem": problem}
                )
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise PydanticCustomError(
                "temporal_tls",
                "set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or neither",
            )
        if (self.smtp_user is None) != (self.smtp_password is None):
            raise PydanticCustomError(
                "smtp_login", "set both CSOPS_SMTP_USER and CSOPS_SMTP_PASSWORD, or neither"
            )
        return self

    def channel_options(self) -> ChannelOptions:
        """What the outbox's channels need from these settings."""
        login = (self.smtp_user, self.smtp_password or "") if self.smtp_user else None
        return ChannelOptions(
            sender=self.mail_from,
            smtp_starttls=self.smtp_starttls,
            smtp_login=login,
            smtp_ca_file=str(self.smtp_ca_file) if self.smtp_ca_file else None,
            webhook_secret=self.webhook_secret,
            ui_url=self.ui_url,
            namespace=self.namespace,
        )

    def delivery(self) -> Delivery:
        """Which channel each audience's outbox messages go through."""
        # Imported here: the channels load the database stack, which most commands
        # never need (adapters/channel_specs.py).
        from adapters.delivery import Delivery

        routed = {"internal": self.internal_delivery, "customer": self.customer_delivery}
        return Delivery(
            self.outbox_delivery,
            {a: spec for a, spec in routed.items() if spec},
            self.channel_options(),
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
        problems = "; ".join(
            # A check across variables (a model validator) names them in its message.
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in err.errors()
        )
        raise SettingsError(f"bad environment: {problems}") from None
