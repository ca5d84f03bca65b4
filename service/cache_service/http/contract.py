"""The wire format: request and response models, and strict parsing of the request body."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from pydantic import model_validator as model_check

ID_PATTERN = r"^[0-9a-f]{64}$"


class PayloadRequest(BaseModel):
    """Two lists of strings of equal length; their items are interleaved in the output."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "list_1": ["first string", "second string"],
                    "list_2": ["other string", "another string"],
                }
            ]
        },
    )

    list_1: list[StrictStr] = Field(min_length=1)
    list_2: list[StrictStr] = Field(min_length=1)

    @field_validator("list_1", "list_2")
    @classmethod
    def _valid_unicode(cls, values: list[str]) -> list[str]:
        # JSON escapes can smuggle in lone surrogates, which no store can encode.
        for index, value in enumerate(values):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    f"item {index} is not valid Unicode (it holds a lone surrogate)"
                ) from None
        return values

    @model_check(mode="after")
    def _equal_lengths(self) -> PayloadRequest:
        if len(self.list_1) != len(self.list_2):
            raise ValueError(
                f"list_1 and list_2 must have the same length "
                f"(got {len(self.list_1)} and {len(self.list_2)})"
            )
        return self


class PayloadResponse(BaseModel):
    """A stored payload result."""

    id: str = Field(pattern=ID_PATTERN, description="SHA-256 of the canonical input.")
    output: str


class ErrorResponse(BaseModel):
    """Every error: a sentence, or a list of ``{type, loc, msg}`` for validation errors."""

    detail: str | list[dict[str, Any]]
    request_id: str | None = Field(
        None,
        description="With failures on the service's side (5xx, and refusals before the app): "
        "the id under which the log records the cause. Also in the X-Request-ID header.",
    )


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _invalid(type_: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": type_, "loc": ("body",), "msg": message}])


def parse_payload(body: bytes) -> PayloadRequest:
    """The payload in ``body``, or a ``RequestValidationError`` that says what is wrong.

    Stricter than ``json.loads``: a duplicate key is refused rather than silently resolved to
    the last value (two parsers could disagree on which list was meant), and ``NaN``, deep
    nesting and oversized integers get a named reason instead of a generic parse failure.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("json_invalid", f"body is not valid UTF-8 at byte {exc.start}") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except _DuplicateKey as exc:
        raise _invalid("json_duplicate_key", f"duplicate key {exc.args[0]!r} in JSON") from None
    except json.JSONDecodeError as exc:
        raise _invalid("json_invalid", f"JSON decode error: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise _invalid("json_invalid", "JSON is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise _invalid("json_invalid", f"JSON value refused: {exc}") from None
    try:
        return PayloadRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


EQUAL_LENGTHS = "list_1 and list_2 must have the same number of items."


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """The size rules the settings put on a payload: ``check`` enforces them, ``request_body``
    states them in the OpenAPI document, from the same two numbers."""

    max_items: int
    max_string_length: int

    def check(self, body: PayloadRequest) -> None:
        """Raise a ``RequestValidationError`` naming every list or item over a limit."""
        errors: list[dict[str, Any]] = []
        for field in ("list_1", "list_2"):
            values: list[str] = getattr(body, field)
            if len(values) > self.max_items:
                errors.append(
                    {
                        "type": "too_long",
                        "loc": ["body", field],
                        "msg": f"must have at most {self.max_items} items "
                        f"(CACHE_MAX_ITEMS), got {len(values)}",
                    }
                )
            for index, value in enumerate(values):
                if len(value) > self.max_string_length:
                    errors.append(
                        {
                            "type": "string_too_long",
                            "loc": ["body", field, index],
                            "msg": f"must have at most {self.max_string_length} "
                            f"characters (CACHE_MAX_STRING_LENGTH), got {len(value)}",
                        }
                    )
        if errors:
            raise RequestValidationError(errors)

    def request_body(self) -> dict[str, Any]:
        """The request body's OpenAPI entry, with these limits.

        JSON Schema cannot compare two arrays' lengths, so the equal-length rule is stated in
        words (``description`` and ``x-equal-lengths``): the one rule a schema-driven client
        has to be told rather than shown.
        """
        schema = copy.deepcopy(PayloadRequest.model_json_schema())
        for field in ("list_1", "list_2"):
            prop = schema["properties"][field]
            prop["maxItems"] = self.max_items
            prop["items"]["maxLength"] = self.max_string_length
            prop["description"] = (
                f"1 to {self.max_items} strings of at most {self.max_string_length} characters."
            )
        schema["description"] = f"{schema.get('description', '')} {EQUAL_LENGTHS}".strip()
        schema["x-equal-lengths"] = ["list_1", "list_2"]
        return {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        }
