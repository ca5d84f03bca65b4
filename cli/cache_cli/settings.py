"""All CLI configuration: flags override ``CACHE_CLI_*`` environment variables."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

import httpx
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CACHE_CLI_"


class ReportFormat(StrEnum):
    """How the human summary is printed."""

    TABLE = "table"
    JSON = "json"


class CliSettings(BaseSettings):
    """One run of the CLI, validated before any request is sent."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = Field("http://localhost:8000", description="Base URL; a path is kept.")
    repeat: int = Field(1, ge=1, description="Times each payload is sent.")
    input: str | None = Field(None, min_length=1, description="Payload file, '-' for stdin.")
    # ``json`` would shadow BaseModel.json; the variable is still CACHE_CLI_JSON.
    json_payload: str | None = Field(
        None,
        validation_alias=AliasChoices("json_payload", f"{ENV_PREFIX}JSON"),
        description="Payload as a JSON string.",
    )
    output: str | None = Field(None, min_length=1, description="Report file, '-' for stdout.")
    concurrency: int = Field(1, ge=1, le=1000, description="Requests in flight at once.")
    timeout: float = Field(10.0, gt=0, description="Seconds allowed for each request.")
    api_key: SecretStr | None = Field(None, description="Sent as the x-api-key header.")
    format: ReportFormat = Field(ReportFormat.TABLE, description="Summary format.")
    no_get: bool = Field(False, description="POST only; skip the GET of each id.")
    unique: bool = Field(False, description="Make each repeat's payload distinct.")

    @field_validator("host")
    @classmethod
    def _host_is_a_base_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid URL {value!r}: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"invalid URL {value!r}: expected http(s)://host[:port][/path]")
        if url.query or url.fragment:
            raise ValueError(f"invalid URL {value!r}: a base URL takes no query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _exactly_one_payload_source(self) -> Self:
        if (self.input is None) == (self.json_payload is None):
            raise ValueError("give exactly one of -i/--input and -j/--json")
        return self

    @property
    def payload_url(self) -> str:
        """Where payloads are POSTed; the base URL's path (an API Gateway stage) is kept."""
        return f"{self.host}/payload"

    def item_url(self, payload_id: str) -> str:
        """Where one stored result is read back."""
        return f"{self.host}/payload/{payload_id}"


_FLAGS = {"input": "-i/--input", "json_payload": "-j/--json", "host": "-h/--host"}


def flag_name(field: str) -> str:
    """The flag that sets ``field``."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.removesuffix('_payload')}".upper()


def describe_error(error: ValidationError) -> str:
    """The first problem, on one line, named by flag and variable."""
    item = error.errors()[0]
    message = str(item["msg"]).removeprefix("Value error, ")
    if not item["loc"]:  # A rule across fields names them itself.
        return message
    field = str(item["loc"][0])
    if field.startswith(ENV_PREFIX):
        field = field.removeprefix(ENV_PREFIX).lower()
    field = "json_payload" if field == "json" else field
    return f"{flag_name(field)} ({env_name(field)}): {message}"
