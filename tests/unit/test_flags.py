"""The flag value types: one duration syntax for every duration flag, checked numbers, the interval floor."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.commands._flags import duration, format_duration, fraction, integer, interval_problem


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("300", 300.0), ("1.5", 1.5), ("500ms", 0.5),
    ("1h30m", 5400.0), ("1m30s", 90.0), ("0", 0.0), (" 10m ", 600.0), ("48h", 172800.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5s", "5 m", "5x", "m", "1h1h", "5m3", "1e3", "abc", "1,5s", "inf", "nan"])
def test_bad_durations_say_the_syntax(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a duration like 30s, 5m, 1h"):
        duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_format_duration_reads_back(seconds: int) -> None:
    assert duration(format_duration(seconds)) == seconds
    assert duration(str(seconds)) == seconds


@given(hours=st.integers(0, 999), minutes=st.integers(0, 59), secs=st.integers(0, 59), millis=st.integers(0, 999))
def test_duration_parts_add_up(hours: int, minutes: int, secs: int, millis: int) -> None:
    parts = [(hours, "h"), (minutes, "m"), (secs, "s"), (millis, "ms")]
    text = "".join(f"{n}{u}" for n, u in parts if n) or "0"
    assert duration(text) == pytest.approx(hours * 3600 + minutes * 60 + secs + millis / 1000)


@given(st.text(max_size=12))
def test_duration_accepts_or_explains_anything(text: str) -> None:
    try:
        assert duration(text) >= 0
    except argparse.ArgumentTypeError as exc:
        assert repr(text) in str(exc)


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("50%", 0.5), ("0", 0.0), ("100%", 1.0)])
def test_fractions(text: str, value: float) -> None:
    assert fraction(text) == value


@pytest.mark.parametrize("text", ["abc", "1.5", "-1", "150%", "%", "nan"])
def test_bad_fractions(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a share between 0 and 1, or 0%\.\.100%"):
        fraction(text)


def test_integers_name_the_minimum() -> None:
    assert integer(1)("3") == 3
    for bad in ("-3", "0", "two", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected an integer >= 1, got '{bad}'"):
            integer(1)(bad)


@pytest.mark.parametrize(("interval", "triggered", "ok"), [
    (60, False, True), (5, False, True), (4.9, False, False), (0, False, False), (0, True, True), (1, True, False),
])
def test_interval_floor(interval: float, triggered: bool, ok: bool) -> None:
    problem = interval_problem(interval, triggered=triggered)
    assert (problem is None) == ok
    if problem is not None:
        assert "below the floor of 5s" in problem or "nothing would trigger one" in problem


def test_the_floor_can_be_lowered() -> None:
    assert interval_problem(1, triggered=False, floor_s=1) is None
    assert "below the floor of 500ms" in (interval_problem(0.2, triggered=False, floor_s=0.5) or "")
