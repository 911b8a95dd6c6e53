"""Check a parsed input against every constraint of its shape: required, min, max, pattern, enum.

botocore checks only required members, types and `min` on the client; everything else reaches the server
and is refused here with one ValidationException that lists every problem, in AWS's wording.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import regex
from botocore.model import Shape

from server.protocol.parsing import field_name
from server.spec.errors import validation_error

_SHOWN_CHARS = 100


@cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    # The `regex` module understands the \p{L}-style classes the tag patterns use.
    return regex.compile(pattern)


def validate_input(shape: Shape | None, params: dict[str, Any]) -> None:
    if shape is None:
        return
    problems: list[str] = []
    _check_structure(shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation_error(f"{count} validation {noun} detected: " + "; ".join(problems))


def validate_value(shape: Shape, value: Any, field: str) -> None:
    """One value against one member's shape (length, pattern, range, enum), with the API's message."""
    problems: list[str] = []
    _check(shape, value, field, problems)
    if problems:
        raise validation_error(f"1 validation error detected: {problems[0]}")


def _check_structure(shape: Shape, value: dict[str, Any], prefix: str, problems: list[str]) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(
                f"Value null at '{prefix}{field_name(name)}' failed to satisfy constraint: "
                "Member must not be null"
            )
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _check(member, value[name], f"{prefix}{field_name(name)}", problems)


def _check(shape: Shape, value: Any, field: str, problems: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata

    def fail(rule: str) -> None:
        problems.append(f"Value {_show(value)} at '{field}' failed to satisfy constraint: {rule}")

    if kind == "structure":
        _check_structure(shape, value, f"{field}.", problems)
        return
    if kind in ("string", "blob", "list", "map"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            fail(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(f"Member must have value less than or equal to {meta['max']}")
    if kind == "string":
        if "enum" in meta and value not in meta["enum"]:
            fail(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            fail(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if kind == "list":
        for index, item in enumerate(value, 1):
            _check(shape.member, item, f"{field}.{index}.member", problems)
    if kind == "map":
        for key, item in value.items():
            _check(shape.key, key, f"{field}.key", problems)
            _check(shape.value, item, f"{field}.{key}", problems)


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return f"'<{len(value)} bytes>'"
    if isinstance(value, (dict, list)):
        return f"'<{type(value).__name__} of {len(value)}>'"
    text = str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "..."
    return f"'{text}'"
