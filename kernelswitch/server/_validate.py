"""Check request input at the edge: size, JSON syntax, nesting, then a JSON Schema.

Public API (stable):

- :func:`parse_body` ``(raw, max_bytes=MAX_BODY) -> Any`` — JSON with bounded
  size and nesting, no NaN/Infinity, no number that overflows a float.
- :func:`check` ``(instance, schema, where, error=InvalidRequest)`` — validate
  with ``jsonschema``; the first error becomes *error* (a 4xx
  :class:`~kernelswitch.errors.KernelSwitchError`) naming the field.
- :func:`check_path_arg` — a URL path segment (``vms/{name}``): no control
  characters, bounded length.
- :func:`short` — cut user input to a sane length for messages and logs.

Handlers rarely call these directly: :class:`~._base.KSHandler` runs them from
its class attributes ``body_schema`` / ``query_schema`` before the verb runs.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .._echo import short
from ..errors import KernelSwitchError

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_PATH_ARG",
    "MAX_STRING",
    "InvalidRequest",
    "PayloadTooLarge",
    "check",
    "check_path_arg",
    "max_depth",
    "parse_body",
    "short",
]

#: Request bodies larger than this (bytes) are refused before parsing.
MAX_BODY = 64 * 1024
#: Deepest nesting of arrays/objects a body may have.
MAX_DEPTH = 16
#: Longest string anywhere in a body unless its schema says otherwise.
MAX_STRING = 4096
#: Longest URL path segment (``vms/{name}``).
MAX_PATH_ARG = 255


class InvalidRequest(KernelSwitchError):
    """The request itself is malformed (type, size, unknown key): nothing was done."""

    code = "invalid_request"
    http_status = 400


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"
    http_status = 413


# ----------------------------------------------------------------- parsing


class _NotFinite(str):
    """Where a body had NaN, Infinity or a number too large for a float (found after parsing)."""


def _finite_float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text)


def parse_body(
    raw: bytes, max_bytes: int = MAX_BODY, *, error: type[KernelSwitchError] = InvalidRequest
) -> Any:
    """The JSON value of a request body (``{}`` when empty), within the limits."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"The request body is {len(raw)} bytes; the limit is {max_bytes}. Send less.",
            details={"limit": max_bytes},
        )
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error("The request body is not UTF-8 text; send JSON.") from e
    depth = max_depth(text)
    if depth > MAX_DEPTH:
        raise error(
            f"The request body nests {depth} levels deep; the limit is {MAX_DEPTH}.",
            details={"limit": MAX_DEPTH},
        )
    try:
        value = json.loads(text, parse_constant=_NotFinite, parse_float=_finite_float)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise error(f"The request body is not valid JSON: {short(str(e), 200)}.") from e
    bad = _odd_value(value)
    if bad is not None:
        where, found = bad
        if isinstance(found, _NotFinite):
            raise error(
                f"'{where}' is {short(str(found), 40)}, not a finite number; send a number "
                "in the documented range.",
                details={"field": where},
            )
        raise error(
            f"'{where}' is {len(found)} characters long; the limit is {MAX_STRING}.",
            details={"field": where, "limit": MAX_STRING},
        )
    return value


def max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (checked before ``json.loads`` recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest  # no need to count further
        elif ch in "]}":
            depth -= 1
    return deepest


def _odd_value(value: Any, where: str = "body") -> tuple[str, str] | None:
    """The first non-finite number or over-long string, with where it is."""
    stack = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, _NotFinite) or (isinstance(v, str) and len(v) > MAX_STRING):
            return at, v
        if isinstance(v, dict):
            for k, item in v.items():
                if len(k) > MAX_STRING:
                    return f"{at} key", k
                stack.append((item, f"{at}.{short(k, 40)}" if at != "body" else short(k, 40)))
        elif isinstance(v, list):
            stack.extend((item, f"{at}[{i}]") for i, item in enumerate(v))
    return None


# ----------------------------------------------------------------- schema


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)  # a broken schema is our bug: fail loudly, once
    return cls(schema)


def check(
    instance: Any,
    schema: dict[str, Any],
    where: str = "body",
    *,
    error: type[KernelSwitchError] = InvalidRequest,
) -> None:
    """Raise *error* for the most relevant way *instance* breaks *schema*."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    found = best_match(validator.iter_errors(instance))
    if found is None:
        return
    field = _field(found, where)
    details: dict[str, Any] = {"field": field}
    if found.validator == "additionalProperties" and isinstance(found.instance, dict):
        allowed = found.schema.get("properties", {})
        details["unknown"] = sorted(short(k, 40) for k in found.instance if k not in allowed)
    raise error(_message(found, field, where), details=details)


def _field(e: ValidationError, where: str) -> str:
    path = [str(p) for p in e.absolute_path]
    if e.validator == "required":
        missing = _missing_key(e)
        if missing:
            path.append(missing)
    return ".".join(path) if path else where


def _missing_key(e: ValidationError) -> str | None:
    if isinstance(e.instance, dict):
        for key in e.validator_value:
            if key not in e.instance:
                return str(key)
    return None


def _message(e: ValidationError, field: str, where: str) -> str:
    """A sentence that names the field, the limit, and what to send instead."""
    kind, limit, got = e.validator, e.validator_value, e.instance
    hint = e.schema.get("description") if isinstance(e.schema, dict) else None
    name = f"'{field}'" if field != where else f"the {where}"
    if kind == "type":
        want = " or ".join(limit) if isinstance(limit, list) else limit
        text = f"{name} must be {_article(want)}, not {_json_type(got)}"
    elif kind == "required":
        text = f"{name} is required"
    elif kind == "additionalProperties":
        allowed = sorted(e.schema.get("properties", {}))
        unknown = sorted(k for k in got if k not in allowed) if isinstance(got, dict) else []
        text = f"Unknown keys {', '.join(short(k, 40) for k in unknown)}; " + (
            f"{where} takes {', '.join(allowed)}" if allowed else f"{where} takes no keys"
        )
        return text + "."
    elif kind in ("maximum", "exclusiveMaximum"):
        text = f"{name} is {short(got, 40)}; the largest allowed is {limit}"
    elif kind in ("minimum", "exclusiveMinimum"):
        text = f"{name} is {short(got, 40)}; the smallest allowed is {limit}"
    elif kind == "maxLength":
        text = f"{name} is {len(got)} characters long; the limit is {limit}"
    elif kind == "minLength":
        text = f"{name} must not be empty" if limit == 1 else f"{name} is too short"
    elif kind == "enum":
        choices = hint or ", ".join(dict.fromkeys(json.dumps(c) for c in limit))
        return f"{name} is {short(json.dumps(got), 40)}; use {choices}."
    elif kind in ("oneOf", "anyOf"):
        text = f"{name} cannot be {short(json.dumps(got), 40)}"
    elif kind == "pattern":
        text = f"{name} {short(got, 60)!r} is not in the expected form"
    elif kind in ("maxItems", "maxProperties"):
        text = f"{name} has too many entries; the limit is {limit}"
    else:
        text = f"{name}: {short(e.message, 200)}"
    return f"{text}{f'; expected {hint}' if hint else ''}."


def _article(t: str) -> str:
    return f"an {t}" if t[:1] in "aeiou" else f"a {t}"


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return f"the number {short(v, 40)}"
    if isinstance(v, str):
        return f"the string {short(v, 40)!r}"
    if isinstance(v, list):
        return "a list"
    return "an object"


# ----------------------------------------------------------------- path


def check_path_arg(
    name: str, value: str, *, error: type[KernelSwitchError] = InvalidRequest
) -> str:
    """A URL path segment, if it has no control characters and a sane length."""
    if len(value) > MAX_PATH_ARG:
        raise error(
            f"'{name}' in the URL is {len(value)} characters long; the limit is {MAX_PATH_ARG}.",
            details={"field": name},
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise error(
            f"'{name}' in the URL contains a control character ({short(value, 60)!r}); "
            "names are printable text.",
            details={"field": name},
        )
    return value
