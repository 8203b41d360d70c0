"""Strict request bodies, parsed after the path's objects are found (SPEC §2.2 error order).

FastAPI would validate a declared body before the route runs, answering 422 for a request whose
path object does not exist (which must be 404). Routes therefore take the raw body and call
`parse_body` once their 404 checks passed; `body_schema` keeps the model in the OpenAPI document.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from adpilot import errors

M = TypeVar("M", bound=BaseModel)


class StrictBody(BaseModel):
    """Base for request bodies: no unknown fields, no type coercion ("1" is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class PartialBody(StrictBody):
    """Base for PATCH bodies: an absent field stays unchanged; `null` only where it means "clear".

    Fields are typed `X | None = None` so absence can be told from a value; `given()` holds only
    the fields the caller sent, and an explicit `null` is refused unless the field is `nullable`.
    """

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise PydanticCustomError("null", "must not be null")
        return value

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def _problem(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "is required"
    return str(err.get("msg", "is invalid"))


# No request body of ours nests anywhere near this deep; refusing deeper ones keeps every walk
# over a body (ours, pydantic's, the JSON encoder's) far from Python's recursion limit.
MAX_BODY_DEPTH = 32


def _refusal(value: Any) -> tuple[str, str] | None:
    """(field, problem) for the first part of a parsed body that can never be accepted.

    NUL characters are refused because PostgreSQL cannot store them in text, so such a value
    could only fail half-way through a write. The walk is iterative: a hostile body must not
    be able to exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            return path or "body", f"is nested more than {MAX_BODY_DEPTH} levels deep"
        if isinstance(item, str):
            if "\x00" in item:
                return path or "body", "must not contain NUL characters"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                here = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return here.replace("\x00", ""), "must not contain NUL characters"
                stack.append((child, here, depth + 1))
        elif isinstance(item, list):
            for index in reversed(range(len(item))):
                stack.append((item[index], f"{path}.{index}" if path else str(index), depth + 1))
    return None


def parse_body(model: type[M], raw: bytes, *, allow_empty: bool = False) -> M:
    if not raw.strip():
        if allow_empty:
            return model.model_validate({})
        raise errors.validation("body", "a JSON object is required")
    try:
        data = json.loads(raw)
    except ValueError:
        raise errors.validation("body", "the body is not valid JSON") from None
    except RecursionError:
        raise errors.validation("body", "is nested too deeply") from None
    if not isinstance(data, dict):
        raise errors.validation("body", "must be a JSON object")
    refused = _refusal(data)
    if refused is not None:
        raise errors.validation(*refused)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [(_field(tuple(e["loc"])), _problem(e)) for e in exc.errors()]
        first, *rest = problems
        raise errors.validation(first[0], first[1], *rest) from None


def _inline_defs(node: Any, defs: dict[str, Any]) -> Any:
    # Pydantic points nested models at "#/$defs/…", which inside the OpenAPI document would
    # resolve against its root and dangle; the bodies are small and acyclic, so inline them.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_defs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_defs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_defs(item, defs) for item in node]
    return node


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route parses itself."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_defs(schema, schema.get("$defs", {}))}
            },
        }
    }
