"""The Redis codec: every supported value comes back equal, and of the same type."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backendperf.cache.codec import Codec, DecodeError
from backendperf.exceptions import SerializationError


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclass(frozen=True)
class Row:
    id: int
    name: str


CODEC = Codec()
CODEC.register_enum(Color)
CODEC.register_dataclass(Row)

offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23)),
)
zones = st.one_of(st.none(), offsets, st.timezones())

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: big ints go through their own extension type
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.datetimes(timezones=zones, allow_imaginary=True),
    st.dates(),
    st.times(timezones=st.one_of(st.none(), offsets)),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.sampled_from(Color),
    st.builds(Row, st.integers(), st.text(max_size=5)),
)
hashable = st.recursive(
    leaves.filter(lambda v: not isinstance(v, Decimal) or not v.is_snan()),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=5,
)
values: st.SearchStrategy[Any] = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
        | st.sets(hashable, max_size=3)
        | st.frozensets(hashable, max_size=3)
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal *and* of the same type, at every depth (``==`` alone equates 1 and True, a tuple
    and a list never, aware datetimes in different zones often)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, dt.datetime | dt.time):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return bool(a == b)


@given(values)
def test_every_supported_value_round_trips(value: Any) -> None:
    """dumps/loads returns an equal value of the same type, nested containers included."""
    assert same(CODEC.loads(CODEC.dumps(value)), value)


@given(st.binary())
def test_arbitrary_bytes_never_raise_anything_but_decode_error(data: bytes) -> None:
    """Foreign or corrupted bytes raise DecodeError (a miss), nothing else."""
    with contextlib.suppress(DecodeError):
        CODEC.loads(data)


@given(values)
def test_truncated_values_are_decode_errors(value: Any) -> None:
    """A value cut short (a partial write, a foreign truncation) is a DecodeError, not garbage."""
    data = CODEC.dumps(value)
    for cut in {1, len(data) // 2, len(data) - 1} - {len(data)}:
        if cut < 1:
            continue
        with pytest.raises(DecodeError):
            CODEC.loads(data[:cut])


def test_tuple_and_list_stay_distinct() -> None:
    """A tuple comes back a tuple and a list a list (plain msgpack merges them)."""
    assert CODEC.loads(CODEC.dumps([(1, 2), [1, 2]])) == [(1, 2), [1, 2]]
    assert type(CODEC.loads(CODEC.dumps((1,)))) is tuple


def test_unregistered_types_fail_when_stored_with_instructions() -> None:
    """An unsupported type fails at dumps() with the type's name and how to register it."""

    class Money:
        pass

    with pytest.raises(SerializationError, match=r"Money.*register"):
        Codec().dumps({"a": [Money()]})
    with pytest.raises(SerializationError, match="Color"):
        Codec().dumps(Color.RED)  # enums too need registering: they are code, not data


def test_values_of_an_unregistered_name_decode_as_errors() -> None:
    """A value whose registered type this process does not know is a DecodeError (a miss)."""
    data = CODEC.dumps(Row(1, "a"))
    with pytest.raises(DecodeError, match="unregistered"):
        Codec().loads(data)


def test_size_limit_is_a_clear_error() -> None:
    """A value over max_size raises SerializationError giving the size and the limit."""
    with pytest.raises(SerializationError, match=r"\d+ bytes, over the limit of 100"):
        Codec(max_size=100).dumps("x" * 200)
    assert Codec(max_size=None).loads(Codec(max_size=None).dumps("x" * 200)) == "x" * 200


def test_models_register_through_model_dump() -> None:
    """pydantic-style classes register with model_dump/model_validate."""

    class Model:
        def __init__(self, **data: Any) -> None:
            self.data = data

        def model_dump(self) -> dict[str, Any]:
            return self.data

        @classmethod
        def model_validate(cls, data: dict[str, Any]) -> Model:
            return cls(**data)

    codec = Codec()
    codec.register_model(Model)
    assert codec.loads(codec.dumps(Model(a=1))).data == {"a": 1}
    with pytest.raises(TypeError, match="model_dump"):
        codec.register_model(Row)
    with pytest.raises(TypeError, match="not a dataclass"):
        codec.register_dataclass(Model)


def test_zone_aware_datetimes_keep_their_zone() -> None:
    """A zoneinfo datetime comes back in the same zone, not as a fixed offset."""
    import zoneinfo

    paris = zoneinfo.ZoneInfo("Europe/Paris")
    value = dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris)
    back = CODEC.loads(CODEC.dumps(value))
    assert back.tzinfo is paris and back.fold == 1 and back.utcoffset() == value.utcoffset()
    assert CODEC.loads(CODEC.dumps(uuid.UUID(int=5))) == uuid.UUID(int=5)
