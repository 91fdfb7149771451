"""JSON columns are written by ``planwire.db.json_dumps`` (orjson, with the standard library
for what orjson refuses) and read by the standard library: every JSON value survives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from planwire.auth import service as auth_service
from planwire.db import json_dumps, make_session_factory
from planwire.events.models import Event

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


def test_a_json_column_reads_back_exactly_through_the_database(engine: Engine) -> None:
    """Integers beyond 64 bits and floats survive a round trip on both databases (a reader
    that turns big integers into floats would break receivers' signatures)."""
    data = {"big": 2**70, "negative": -(2**65), "float": 0.1, "text": "é\u2028", "7": [1, None]}
    with make_session_factory(engine)() as session:
        organization = auth_service.create_organization(session, name="JSON")
        event = Event(organization_id=organization.id, type="task.updated", data=data)
        session.add(event)
        session.commit()
        event_id = event.id
    with engine.connect() as connection:
        stored = connection.scalar(select(Event.data).where(Event.id == event_id))
    assert stored == data
    assert isinstance(stored["big"], int)
