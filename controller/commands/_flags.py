"""Value types of extctl's flags: one duration syntax and checked numbers, shared by every command.

Owns: ``duration`` (``30s``, ``5m``, ``1h``, ``1h30m``, ``500ms`` or plain seconds, for every duration
flag), ``fraction`` (``0.5`` or ``50%``), ``integer(minimum)``; each raises ``argparse.ArgumentTypeError``
with what was expected, so argparse's usage error names the flag (``argument --concurrency: expected an
integer >= 1, got '-3'``). ``format_duration`` writes seconds back in that syntax. Also the floor of
``run --interval`` (``interval_problem``). Must not: read the environment or know any command.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_SYNTAX = "a duration like 30s, 5m, 1h, 1h30m, 500ms or plain seconds"
INTERVAL_FLOOR_S = 5.0


def duration(text: str) -> float:
    """``90`` → 90.0, ``1m30s`` → 90.0, ``500ms`` → 0.5 (no sign, no spaces inside, units in any order once)."""
    value = text.strip()
    if _NUMBER.fullmatch(value):
        return float(value)
    parts = _PART.findall(value)
    units = [unit for _, unit in parts]
    if not parts or "".join(n + u for n, u in parts) != value or len(set(units)) != len(units):
        raise argparse.ArgumentTypeError(f"expected {DURATION_SYNTAX}, got {text!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """The shortest exact form ``duration`` reads back: ``90`` → ``1m30s``, ``0.5`` → ``500ms``."""
    if seconds == 0:
        return "0s"
    whole = math.floor(seconds)
    if whole != seconds:
        return f"{round(seconds * 1000)}ms" if (seconds * 1000).is_integer() else f"{seconds!r}"
    hours, rest = divmod(int(whole), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


def fraction(text: str) -> float:
    """``0.25`` or ``25%`` → 0.25, between 0 and 1."""
    raw = text.strip()
    number = raw[:-1] if raw.endswith("%") else raw
    try:
        value = float(number) / (100 if raw.endswith("%") else 1)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, or 0%..100%, got {text!r}")
    return value


def integer(minimum: int) -> Callable[[str], int]:
    """A type for an integer flag of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def interval_problem(interval_s: float, *, triggered: bool, floor_s: float = INTERVAL_FLOOR_S) -> str | None:
    """Why ``run --interval`` cannot be used, or None: below the floor (``--min-interval``, default 5s) a
    controller would spin (every pass reads Git and every release); 0 means "no timer" and needs a
    webhook or file watch to start passes."""
    if interval_s == 0:
        return None if triggered else (
            "--interval 0 runs passes only when triggered, and nothing would trigger one: add "
            "--webhook-secret-file, use a local --source directory (its changes start passes), or give an "
            f"interval of at least {format_duration(floor_s)}")
    if interval_s < floor_s:
        return (f"--interval {format_duration(interval_s)} is below the floor of {format_duration(floor_s)} "
                "(each pass reads Git and every release): use a longer interval, lower the floor with "
                "--min-interval (a lab or a test), or --interval 0 with a webhook or a local --source directory "
                "to run passes only when triggered")
    return None
