"""All CLI configuration: flags override ``CACHE_CLI_*`` environment variables; empty is unset."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from . import version
from .errors import UsageError
from .target import Target, redact
from .thresholds import Threshold, parse_threshold

ENV_PREFIX = "CACHE_CLI_"
_DURATION = re.compile(r"\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Framing is the client's to decide; a user's value would break or desynchronise it.
_RESERVED_HEADERS = {"content-length", "transfer-encoding", "connection", "content-type"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ReportFormat(StrEnum):
    """How the human summary is printed."""

    TABLE = "table"
    JSON = "json"


class CliSettings(BaseSettings):
    """One run of the CLI, validated before any request is sent."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,  # As in the service: VAR= is unset, not an empty value.
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
    concurrency: int = Field(1, ge=1, le=10_000, description="Connections, each one iteration.")
    duration: float | None = Field(None, gt=0, description="Seconds to run; -r is then unused.")
    rate: float | None = Field(None, gt=0, description="Requests started per second, at most.")
    timeout: float = Field(10.0, gt=0, description="Seconds for a whole request.")
    api_key: SecretStr | None = Field(None, description="Sent as the x-api-key header.")
    header: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra 'Name: value' headers."
    )
    format: ReportFormat = Field(ReportFormat.TABLE, description="Summary format.")
    no_get: bool = Field(False, description="POST only; skip the GET of each id.")
    unique: bool = Field(False, description="Every request a payload never sent before.")
    fresh: bool = Field(False, description="Payloads new to this run, repeated within it.")
    no_progress: bool = Field(False, description="No live display on a terminal.")
    fail_if: Annotated[list[Threshold], NoDecode] = Field(
        default_factory=list, description="Conditions that fail the run (exit 3)."
    )
    warm: str | None = Field(
        None, min_length=1, description="JSON Lines to POST once each, '-' for stdin."
    )
    retries: int = Field(
        5, ge=0, le=100, description="With --warm: retries of a 429 or a 503 with Retry-After."
    )

    @field_validator("host")
    @classmethod
    def _host_is_a_base_url(cls, value: str) -> str:
        try:
            Target.parse(value)
        except UsageError as error:
            raise ValueError(str(error)) from None
        return value.rstrip("/")

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_in_seconds(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"cannot read {value!r}: expected a number and ms, s, m or h: 30s")
        return float(match["number"]) * _SECONDS[match["unit"] or "s"]

    @field_validator("header", mode="before")
    @classmethod
    def _headers_from_a_variable(cls, value: Any) -> Any:
        return _one_or_a_json_list(value)

    @field_validator("header")
    @classmethod
    def _headers_are_name_colon_value(cls, values: list[str]) -> list[str]:
        for value in values:
            name, colon, rest = value.partition(":")
            if not colon or not _TOKEN.fullmatch(name.strip()) or "\n" in rest or "\r" in rest:
                raise ValueError(f"expected 'Name: value', got {value!r}")
            if name.strip().lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name.strip()} is set by cache-cli itself")
        return values

    @field_validator("fail_if", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> Any:
        values = _one_or_a_json_list(value)
        if isinstance(values, list):
            return [parse_threshold(v) if isinstance(v, str) else v for v in values]
        return values

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.warm is not None:
            return self._warm_alone()
        if "retries" in self.model_fields_set:
            raise ValueError("--retries (CACHE_CLI_RETRIES) applies only to --warm")
        if (self.input is None) == (self.json_payload is None):
            raise ValueError("give exactly one of -i/--input, -j/--json and --warm")
        if self.unique and self.fresh:
            raise ValueError("give at most one of --unique and --fresh")
        return self

    def _warm_alone(self) -> Self:
        """--warm sends each line once and reports per line: the load run's shaping is moot."""
        given = [
            field
            for field in _LOAD_ONLY
            # Unset, or a flag turned off (CACHE_CLI_UNIQUE=false), asks for nothing.
            if field in self.model_fields_set and getattr(self, field) not in (None, False, [])
        ]
        if given:
            named = ", ".join(f"{flag_name(f)} ({env_name(f)})" for f in given)
            raise ValueError(f"--warm sends each line once; it takes no {named}")
        return self

    @property
    def target(self) -> Target:
        return Target.parse(self.host)

    def request_headers(self) -> dict[str, str]:
        """Every request's headers: our User-Agent, then the URL's and the flags' credentials,
        then ``-H`` (which may replace any of them)."""
        headers = {"User-Agent": f"cache-cli/{version()}"}
        if self.target.basic_auth is not None:
            headers["Authorization"] = self.target.basic_auth
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key.get_secret_value()
        for line in self.header:
            name, _, value = line.partition(":")
            for known in [k for k in headers if k.lower() == name.strip().lower()]:
                del headers[known]
            headers[name.strip()] = value.strip()
        return headers


def _one_or_a_json_list(value: Any) -> Any:
    """A variable holds one item, or a JSON list of several; the flag repeats."""
    if isinstance(value, str):
        return json.loads(value) if value.lstrip().startswith("[") else [value]
    return value


# What shapes a load run and means nothing to --warm (its input is the lines it sends).
_LOAD_ONLY = ("input", "json_payload", "repeat", "duration", "output", "unique", "fresh", "fail_if")

_FLAGS = {
    "input": "-i/--input",
    "json_payload": "-j/--json",
    "host": "-h/--host",
    "repeat": "-r/--repeat",
    "output": "-o/--output",
    "concurrency": "-c/--concurrency",
    "duration": "-z/--duration",
    "rate": "-q/--rate",
    "header": "-H/--header",
}


def flag_name(field: str) -> str:
    """The flag that sets ``field``."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.removesuffix('_payload')}".upper()


def describe_error(error: ValidationError) -> str:
    """The first problem, on one line, named by flag and variable, with no password shown."""
    item = error.errors()[0]
    message = redact(str(item["msg"]).removeprefix("Value error, "))
    if not item["loc"]:  # A rule across fields names them itself.
        return message
    field = str(item["loc"][0])
    if field.startswith(ENV_PREFIX):
        field = field.removeprefix(ENV_PREFIX).lower()
    field = "json_payload" if field == "json" else field
    return f"{flag_name(field)} ({env_name(field)}): {message}"
