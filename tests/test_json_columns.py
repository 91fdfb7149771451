"""JSON columns are written by ``planwire.db.json_dumps`` (orjson, with the standard library
for what orjson refuses) and read by the standard library: every JSON value survives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from planwire.db import json_dumps

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_what_is_written_reads_back_equal(value: Any) -> None:
    assert json.loads(json_dumps(value)) == value


def test_integers_beyond_64_bits_and_integer_keys_are_kept() -> None:
    value = {"big": 2**70, "small": -(2**65), 7: "seven"}
    assert json.loads(json_dumps(value)) == {"big": 2**70, "small": -(2**65), "7": "seven"}
