"""json.loads with a depth bound, for every JSON document a client can send.

The standard parser recurses once per nesting level, so a body of 100,000 `[` exhausts the
interpreter's recursion limit (RecursionError, which nothing expects: a 500). No document of this API
nests more than a few levels, so the depth is measured first, without recursion, and a deeper document
is refused before it is parsed. The size is bounded by the caller (the request body limit).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # the service model's deepest input nests 6 levels; scripted results about 8

# A JSON string, escapes included; its brackets are text, not structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LEVELS = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


class JsonError(ValueError):
    """Not a JSON document this server will read; the message says why."""


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    if isinstance(data, bytes):  # what json.loads does with bytes (UnicodeDecodeError is a ValueError too)
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    if nesting_depth(data) > max_depth:
        raise JsonError(f"it nests more than {max_depth} levels deep")
    try:
        return json.loads(data, parse_constant=_not_json)
    except RecursionError:  # cannot happen after the check above; kept so that it never becomes a 500
        raise JsonError(f"it nests more than {max_depth} levels deep") from None


def _not_json(constant: str) -> Any:
    # Python's parser takes NaN and Infinity; JSON has no such values, and no member could hold them.
    raise JsonError(f"{constant} is not a JSON value")


def nesting_depth(text: str) -> int:
    """The deepest nesting of brackets outside strings: for a valid document, exactly its depth; for an
    invalid one, at least the depth json.loads reaches before it finds the error (they read the same
    brackets up to there)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= 2 * MAX_DEPTH:  # the common case: too few brackets to matter, no numpy
        depth = deepest = 0
        for bracket in brackets:
            depth += 1 if bracket in "[{" else -1
            deepest = max(deepest, depth)
        return deepest
    import numpy as np  # a running sum over millions of brackets, in C

    steps = np.frombuffer(brackets.translate(_LEVELS).encode("latin-1"), dtype=np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max())
