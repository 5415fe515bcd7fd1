"""Events: the wire format of DESIGN.md."""

from __future__ import annotations

import orjson
import pytest

from jupyter_assistant.events import TERMINAL_EVENT_TYPES, Event


def test_wire_format_has_exactly_the_design_keys() -> None:
    ev = Event.create("text_delta", session_id="s1", turn_id="t1", seq=3,
                      data={"text": "hi"}, timestamp=1_700_000_000_000)
    assert ev.to_dict() == {
        "type": "text_delta", "session_id": "s1", "turn_id": "t1", "seq": 3,
        "timestamp": 1_700_000_000_000, "data": {"text": "hi"},
    }
    assert orjson.loads(ev.to_json()) == ev.to_dict()


def test_round_trip_and_terminal() -> None:
    ev = Event.create("error", session_id="s", turn_id="t", seq=9,
                      data={"code": "overloaded", "message": "busy", "retryable": True})
    back = Event.from_dict(orjson.loads(ev.to_json()))
    assert back == ev
    assert back.is_terminal
    assert not Event.create("usage", session_id="s", turn_id="t", seq=1).is_terminal
    assert {"message_complete", "error", "cancelled"} == TERMINAL_EVENT_TYPES


def test_timestamp_defaults_to_now_in_ms() -> None:
    import time

    before = int(time.time() * 1000)
    ev = Event.create("cancelled", session_id="s", turn_id="t", seq=1)
    after = int(time.time() * 1000)
    assert before <= ev.timestamp <= after


def test_unknown_type_and_missing_key_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type 'txt'"):
        Event.create("txt", session_id="s", turn_id="t", seq=1)
    with pytest.raises(ValueError, match="missing key 'seq'"):
        Event.from_dict({"type": "usage", "session_id": "s", "turn_id": "t", "timestamp": 1})


def test_events_are_immutable() -> None:
    ev = Event.create("usage", session_id="s", turn_id="t", seq=1)
    with pytest.raises(AttributeError):
        ev.seq = 2  # type: ignore[misc]
