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
None; str/int/float/bool/None keys). Most payloads have no float, no big integer and no
key starting with a digit; their bytes are :func:`json.dumps`'s with ``ensure_ascii=False`` and
compact separators, used as they are after a quick type walk of the value (about 1.6 times the
cost of json.dumps alone on a task-sized payload; the full pure-Python path is about 3.5 times).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps", "js_number"]

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
    text = _fast_encode(obj)  # first: it also refuses cycles, NaN and unknown types
    if _is_plain(obj):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate code point: the careful path escapes it
            pass
    parts: list[str] = []
    _encode(obj, parts)
    return "".join(parts).encode("utf-8")


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


def _is_plain(obj: Any) -> bool:
    """Whether json.dumps already writes ``obj`` as JavaScript would: no float, no integer
    beyond 2**53, no key that starts with a digit (it may be an array index), no subclasses.
    An explicit stack rather than recursion: this runs on every delivery and must stay cheap."""
    stack = [obj]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or (key and key[0] in _DIGITS):
                    return False
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif kind is int:
            if not -_MAX_SAFE_INTEGER <= item <= _MAX_SAFE_INTEGER:
                return False
        else:
            return False
    return True


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
