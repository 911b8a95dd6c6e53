"""Conversions between wire text and Python values for scalar shapes (timestamps, booleans, numbers)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from server.spec.errors import validation_error

_INTEGER = re.compile(r"[+-]?\d{1,19}")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_timestamp(text: str, field: str) -> float:
    """ISO 8601 (what botocore sends in query strings) or epoch seconds -> epoch seconds."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return finite(float(text), text, field)
    iso = text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise validation_error(
            f"Value '{text}' at '{field}' is not a valid timestamp: use ISO 8601, for example "
            "2020-06-23T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return finite(moment.timestamp(), text, field)


def parse_integer(text: str, field: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise validation_error(f"Value '{text}' at '{field}' must be an integer")
    return int(text)


def parse_float(text: str, field: str) -> float:
    if not _NUMBER.fullmatch(text.strip()):
        raise validation_error(f"Value '{text}' at '{field}' must be a number")
    return finite(float(text), text, field)


def finite(number: float, text: object, field: str) -> float:
    """1e400 reads as infinity: no member of the model can mean that."""
    if not math.isfinite(number):
        raise validation_error(f"Value '{text}' at '{field}' must be a finite number")
    return number


def parse_boolean(text: str, field: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise validation_error(f"Value '{text}' at '{field}' must be true or false")
    return lowered == "true"


def epoch_seconds(value: float | datetime) -> float:
    """Timestamps go out as epoch seconds with millisecond precision, as the service sent them."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.timestamp()
    return round(float(value), 3)
