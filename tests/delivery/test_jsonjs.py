"""jsonjs.dumps writes what JavaScript's JSON.stringify(JSON.parse(...)) writes back."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planwire.delivery.jsonjs import _encode, dumps, js_number
from tests.support.receiver import JsRoundtrip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.0, "0"),
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (1e16, "10000000000000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (5e-324, "5e-324"),
        (123456789.125, "123456789.125"),
        (2**53, "9007199254740992"),
        (-(2**53), "-9007199254740992"),
        (2**53 + 1, "9007199254740992"),  # JavaScript reads the nearest double
        (2**64, "18446744073709552000"),
        (10**21, "1e+21"),
        (-(2**70), "-1.1805916207174113e+21"),
        (42, "42"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, expected: str) -> None:
    assert js_number(value) == expected
    assert dumps(value) == expected.encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\', r'"\"\\"'),
        ("\b\f\n\r\t", r'"\b\f\n\r\t"'),
        ("\x00\x01\x1f", r'"\u0000\u0001\u001f"'),
        ("\x7f", '"\x7f"'),
        ("\u2028\u2029", '"\u2028\u2029"'),  # written raw, unlike many JSON encoders
        ("é😀", '"é😀"'),
        ("/</script>", '"/</script>"'),
        ("\ud800", r'"\ud800"'),  # lone surrogates are escaped, lowercase
        ("a\udfffb", r'"a\udfffb"'),
        ("\ud83d\ude00", '"😀"'),  # a pair held as two code points is the character
        ("\ude00\ud83d", r'"\ude00\ud83d"'),  # reversed, so two lone surrogates
    ],
)
def test_strings_are_escaped_as_javascript_escapes_them(text: str, expected: str) -> None:
    assert dumps(text) == expected.encode("utf-8")


def test_array_index_keys_come_first_in_ascending_order() -> None:
    value = {"b": 1, "10": 2, "2": 3, "a": 4, "01": 5, "-1": 6, "4294967294": 7, "4294967295": 8}
    assert dumps(value) == (
        b'{"2":3,"10":2,"4294967294":7,"b":1,"a":4,"01":5,"-1":6,"4294967295":8}'
    )


def test_nested_objects_are_ordered_too() -> None:
    assert dumps([{"x": {"1": 1, "0": 0}}]) == b'[{"x":{"0":0,"1":1}}]'


def test_non_string_keys_are_converted_like_json_dumps() -> None:
    assert dumps({True: 1, None: 2, 2.5: 3, 7: 4}) == b'{"7":4,"true":1,"null":2,"2.5":3}'


def test_plain_payloads_are_exactly_json_dumps_output() -> None:
    value = {
        "event": "task.updated",
        "name": "Développement — 😀 \u2028",
        "count": 2**53,
        "tags": ["a", "b"],
        "nested": {"ok": True, "none": None, "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
    }
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert dumps(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, math.nan], 10**400])
def test_values_javascript_would_turn_into_null_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps(value)


def test_unserializable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        dumps({"a": {1, 2}})


def test_circular_references_raise_value_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        dumps(loop)


def test_subclasses_are_written_as_their_values() -> None:
    class Text(str):
        pass

    class Number(int):
        pass

    assert dumps({Text("k"): [Text("v"), Number(3), (1, 2)]}) == b'{"k":["v",3,[1,2]]}'


def test_payloads_with_floats_take_the_fast_path_unchanged() -> None:
    value = {"percent": 40.0, "ratio": 12.25, "items": [0.0, -0.0, 1.5, (2.0, "x")], "n": 3}
    before = repr(value)
    assert dumps(value) == b'{"percent":40,"ratio":12.25,"items":[0,0,1.5,[2,"x"]],"n":3}'
    assert repr(value) == before  # converted in a copy, the caller's value is untouched


_numeric_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_numeric_values)
def test_fast_path_equals_the_careful_path(value: Any) -> None:
    """The fast path (json.dumps after the plain walk) writes what the careful one writes."""
    try:
        expected_parts: list[str] = []
        _encode(value, expected_parts)
    except ValueError:
        with pytest.raises(ValueError):
            dumps(value)
        return
    assert dumps(value) == "".join(expected_parts).encode()


# --- property: byte-for-byte agreement with Node ------------------------------------------------

# Every code point, surrogates included (Hypothesis' text() leaves those out by default).
_any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None)
_texts = st.one_of(
    st.text(_any_char, max_size=12),
    st.text(st.sampled_from('"\\\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é😀\ud800\udc00'), max_size=8),
)
_keys = st.one_of(
    _texts,
    st.integers(min_value=0, max_value=2**32 + 5).map(str),
    st.sampled_from(["0", "00", "01", "-1", "1.0", "1e3", " 1", "4294967294", "4294967295"]),
)
_ints = st.one_of(
    st.integers(min_value=-(2**60), max_value=2**60),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**64, 10**21, 10**21 - 1]),
)
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e21, 1e-6, 1e-7, 1e16, 9.999999999999999e20, 0.1, 5e-324]),
)
_json_values = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json_values)
def test_dumps_matches_node_json_stringify(js: JsRoundtrip, value: Any) -> None:
    ours = dumps(value)
    # What JavaScript writes for the same value, starting from Python's plain json.dumps ...
    assert js.stringify_parse(json.dumps(value).encode()) == ours
    # ... and what a Node receiver re-serializing our body gets: the very same bytes.
    assert js.stringify_parse(ours) == ours


def test_roundtrip_process_reports_invalid_json(js: JsRoundtrip) -> None:
    with pytest.raises(ValueError, match="JavaScript refused"):
        js.stringify_parse(b"{nope")
