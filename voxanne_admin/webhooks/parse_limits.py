"""Limits on webhook input, checked before anything else looks at it (pure functions, no I/O).

- JSON nesting deeper than `MAX_DEPTH` is refused before `json.loads` runs (deep nesting raised RecursionError,
  a 500, and costs CPU on the event loop); the route answers 400.
- `NaN`, `Infinity` and `-Infinity` (which Python's json accepts but JSON does not) are refused, so no timestamp
  or amount can be a non-finite float.
- `finite_number` is the one check for timestamps taken from headers or payloads.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # Vapi's messages nest about 8 deep; Twilio's JSON bodies are flat
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


class InputRefused(ValueError):
    """Webhook input outside the limits; the message is safe to send back (a 400)."""


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise InputRefused(f"malformed JSON: {name} is not a JSON number")


def loads(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a webhook's JSON body within the limits; `InputRefused` (a 400) otherwise."""
    # Nesting cannot go deeper than the number of openers: counted in C, that clears almost every body without
    # the byte-by-byte scan.
    if body.count(b"{") + body.count(b"[") > max_depth and json_depth(body) > max_depth:
        raise InputRefused(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except InputRefused:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputRefused(f"malformed JSON: {type(exc).__name__} at position {getattr(exc, 'pos', '?')}") from None
    except RecursionError:  # belt and braces: the depth check above should make this unreachable
        raise InputRefused(f"JSON nested deeper than {max_depth} levels") from None


def finite_number(value: Any) -> float | None:
    """A finite float from a number or numeric string, else None (NaN, inf, text, booleans, overflow)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
