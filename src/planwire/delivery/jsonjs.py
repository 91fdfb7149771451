"""JSON bytes that JavaScript would write back unchanged.

Receivers written from the Exepron document's Node examples verify the signature over
``JSON.stringify(req.body)``, i.e. over ``JSON.stringify(JSON.parse(body))``, not over the bytes we
sent. :func:`dumps` produces exactly those bytes, so the two agree:

* compact separators, UTF-8, only ``"``, ``\\`` and control characters escaped (``\\b \\f \\n \\r
  \\t`` short forms, ``\\u00xx`` lowercase otherwise); U+2028/U+2029 and all other non-ASCII text
  are written raw; a lone surrogate is written ``\\udxxx``; a surrogate pair held as two Python
  code points is written as the character it encodes;
* numbers as ECMAScript's ``Number.prototype.toString``: ``1.0`` is ``1``, ``-0.0`` is ``0``,
  ``1e16`` is ``10000000000000000``, ``1e-7`` is ``1e-7``; the exponent form is used only from
  1e21 up and below 1e-6;
* integers beyond 2**53 lose precision in JavaScript, which reads every number as a double:
  they are written as JavaScript prints the double it reads (``2**64`` is
  ``18446744073709552000``), so the signature still matches, **but the receiver sees the rounded
  value**: send ids that large as strings. Integers beyond the double range are refused, like NaN
  and the infinities (JavaScript would turn them into ``null``): ``ValueError``;
* object keys that are array indices (``"0"``, ``"7"``, up to 2**32 - 2, no leading zeros) come
  first in ascending numeric order, then the other keys in insertion order, as in a JavaScript
  object.

Accepted input is what :func:`json.dumps` accepts (dicts, lists, tuples, str, int, float, bool,
None; str/int/float/bool/None keys). Most payloads have no big integer, no key starting
with a digit and only floats that JavaScript writes as Python does (or integral ones, written
as integers); their bytes are :func:`json.dumps`'s with ``ensure_ascii=False`` and compact
separators, after a quick type walk of the value (:func:`_as_plain`; about 1.6 times the cost
of json.dumps alone on a task-sized payload; the full pure-Python path is about 4 times).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Raw", "dumps", "dumps_members", "js_number"]

_MAX_SAFE_INTEGER = 2**53
_MAX_ARRAY_INDEX = 2**32 - 2
_DIGITS = frozenset("0123456789")

_fast_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=True
).encode
# ``"\\u2028"``-free, quote-wrapping string encoder (ensure_ascii=False flavour, C-accelerated).
_encode_basestring = json.encoder.encode_basestring

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON equal to JavaScript's ``JSON.stringify(JSON.parse(body))``.

    Raises ``ValueError`` for NaN, infinities, integers outside the double range and circular
    references, ``TypeError`` for values JSON cannot represent.
    """
    try:
        plain = _as_plain(obj, 0)
    except _NotPlain:
        pass
    else:
        try:
            return _fast_encode(plain).encode("utf-8")
        except UnicodeEncodeError:  # a surrogate code point: the careful path escapes it
            pass
    _fast_encode(obj)  # refuses cycles, NaN and unknown types as json.dumps does
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes :func:`dumps` already wrote, for :func:`dumps_members` to splice as they are."""

    json: bytes


def dumps_members(members: Mapping[str, Any]) -> bytes:
    """``dumps(dict(members))``, where a :class:`Raw` value is written as its bytes.

    An object's JSON is its members' JSON joined, so a payload serialized once can go into
    several envelopes (one event, many webhooks) at the cost of the envelope alone. Keys are
    written in the given order: none may be an array index (JavaScript would move it first).
    """
    parts: list[bytes] = []
    for key, value in members.items():
        if type(key) is not str or _array_index(key) is not None:
            raise ValueError(f"envelope keys are strings, not array indices: {key!r}")
        encoded = value.json if type(value) is Raw else dumps(value)
        parts.append(_encode_string(key).encode("utf-8") + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"


def js_number(value: float | int) -> str:
    """``value`` as JavaScript's ``String(Number(value))`` writes it (``1.0`` is ``"1"``).

    Integers beyond 2**53 are first rounded to the nearest double, as ``JSON.parse`` does.
    ``ValueError`` for NaN, infinities and integers beyond the double range.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return int.__repr__(value)
        try:
            value = float(value)
        except OverflowError:
            raise ValueError(
                "integer too large for a JavaScript number (it would become null)"
            ) from None
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not JSON compliant (JavaScript would write null)")
    if value == 0:
        return "0"
    # repr gives the shortest round-tripping digits, the same digits ECMAScript picks;
    # only the layout differs.
    text = float.__repr__(float(value))
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # value = 0.<digits> * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        body = digits + "0" * (point - count)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        power = point - 1
        exp = ("e+" if power >= 0 else "e-") + str(abs(power))
        body = (digits if count == 1 else digits[0] + "." + digits[1:]) + exp
    return sign + body


class _NotPlain(Exception):
    """The value needs the careful path."""


_NOT_PLAIN = _NotPlain()
#: Deeper values take the careful path (which also reports cycles, as json.dumps does).
_MAX_PLAIN_DEPTH = 64


def _as_plain(obj: Any, depth: int) -> Any:
    """``obj`` in a form json.dumps already writes as JavaScript would, or ``_NotPlain``.

    Plain values: str, None, bool, integers within 2**53, floats json.dumps writes as
    JavaScript does (finite, not integral, from 1e-4 to 1e16 where neither uses an exponent:
    ``repr`` gives the same shortest digits), dicts without a key that starts with a digit (it
    may be an array index), lists and tuples; exact types only. Integral floats within 2**53
    become ints (``40.0`` is written ``40``, ``-0.0`` is ``0``): the containers holding one are
    copied, the others are returned as they are. This runs on every delivery: it must stay
    cheap for the common payloads (task objects carry floats such as ``percent_complete``).
    """
    kind = type(obj)
    if kind is str or obj is None or kind is bool:
        return obj
    if kind is int:
        if -_MAX_SAFE_INTEGER <= obj <= _MAX_SAFE_INTEGER:
            return obj
        raise _NOT_PLAIN
    if kind is float:
        magnitude = abs(obj)
        integral = obj.is_integer()
        if integral and magnitude <= _MAX_SAFE_INTEGER:
            return int(obj)
        if not integral and 1e-4 <= magnitude < 1e16:
            return obj
        raise _NOT_PLAIN
    if depth > _MAX_PLAIN_DEPTH:
        raise _NOT_PLAIN
    if kind is dict:
        copy: dict[str, Any] | None = None
        for key, value in obj.items():
            if type(key) is not str or (key and key[0] in _DIGITS):
                raise _NOT_PLAIN
            new = _as_plain(value, depth + 1)
            if new is not value or copy is not None:
                if copy is None:
                    copy = {}
                    for earlier, kept in obj.items():
                        if earlier is key:
                            break
                        copy[earlier] = kept
                copy[key] = new
        return obj if copy is None else copy
    if kind is list or kind is tuple:
        items: list[Any] | None = None
        for index, value in enumerate(obj):
            new = _as_plain(value, depth + 1)
            if new is not value and items is None:
                items = list(obj[:index])
            if items is not None:
                items.append(new)
        return obj if items is None else items
    raise _NOT_PLAIN


def _encode_string(value: str) -> str:
    if value.isascii():
        return _encode_basestring(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Join pairs held as two code points into the character, then escape what is left
        # alone, as JSON.stringify does (ES2019 "well-formed JSON.stringify").
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", _encode_basestring(value))
    return _encode_basestring(value)


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        if not math.isfinite(key):
            raise ValueError(f"{key!r} is not JSON compliant")
        return float.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _array_index(key: str) -> int | None:
    if key == "0":
        return 0
    if key[:1] in "123456789" and key.isascii() and key.isdigit() and len(key) <= 10:
        number = int(key)
        if number <= _MAX_ARRAY_INDEX:
            return number
    return None


def _encode(obj: Any, out: list[str]) -> None:
    # Only reached for values json.dumps has already encoded, so no cycle checks are needed.
    if isinstance(obj, str):
        out.append(_encode_string(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int | float):
        out.append(js_number(obj))
    elif isinstance(obj, dict):
        items = [(_key(k), v) for k, v in obj.items()]
        indexed = sorted(
            ((index, k, v) for k, v in items if (index := _array_index(k)) is not None),
            key=lambda item: item[0],
        )
        if indexed:
            items = [(k, v) for _, k, v in indexed] + [
                (k, v) for k, v in items if _array_index(k) is None
            ]
        out.append("{")
        for position, (key, value) in enumerate(items):
            if position:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for position, value in enumerate(obj):
            if position:
                out.append(",")
            _encode(value, out)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
