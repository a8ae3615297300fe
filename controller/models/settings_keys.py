"""Arc-style dotted keys of ``configurationSettings``: ``"config.retention": 99h`` is ``{config: {retention: 99h}}``.

Owns: the key syntax (that of Arc's ``--configuration-settings`` and helm's ``--set``, whose parser Arc's
agent uses): ``.`` separates levels, ``name[N]`` is item N of a list (``0`` to ``MAX_INDEX``, missing items
``null``, like helm), a backslash makes the next character literal (``a\\.b`` is the one key ``a.b``); an
empty level, an unclosed or non-numeric index, text after ``]`` or a trailing backslash is malformed.
``expand_settings``: plain keys first, then dotted keys in document order, each setting its path the way
``--set`` overrides a values file, so **a dotted key wins** over a nested key for the same path (and a
later dotted key over an earlier one); each such overwrite is reported as a ``Collision`` (``validate``
warns). Values are never parsed or retyped (YAML already typed them, unlike ``--set``'s strings).
Must not: do I/O, or put a value in an error or a collision (protected settings share the syntax).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_INDEX = 65536  # helm's strvals.MaxIndex
MAX_LEVELS = 30  # helm's strvals.MaxNestedNameLevel
Segment = str | int


class DottedKeyError(ValueError):
    """A malformed key; the message says what is wrong, never a value."""


@dataclass(frozen=True)
class Collision:
    """A dotted key that replaced what another key (nested, or an earlier dotted one) set at ``path``."""

    key: str
    path: str


def parse_key(key: str) -> tuple[Segment, ...]:
    """The path a settings key names: ``"a.b[0].c"`` → ``("a", "b", 0, "c")``; raises ``DottedKeyError``."""
    if not key:
        return ("",)  # the empty key is a plain key, as before dotted keys existed
    segments: list[Segment] = []
    name: list[str] = []
    after_index = False  # just closed "]": only ".", "[" or the end may follow
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\":
            if i + 1 == len(key):
                raise DottedKeyError(f"key {key!r} ends with a backslash; write \\\\ for a literal one")
            if after_index:
                raise DottedKeyError(f"key {key!r} has text after ']'; expected '.', '[' or the end")
            name.append(key[i + 1])
            i += 2
            continue
        if char == ".":
            if not after_index:
                segments.append(_name(key, name))
            name, after_index = [], False
        elif char == "[":
            if not after_index:
                segments.append(_name(key, name))
            close = key.find("]", i)
            if close < 0:
                raise DottedKeyError(f"key {key!r} has '[' without ']'; write \\[ for a literal one")
            segments.append(_index(key, key[i + 1:close]))
            name, after_index, i = [], True, close
        elif after_index:
            raise DottedKeyError(f"key {key!r} has text after ']'; expected '.', '[' or the end")
        else:
            name.append(char)
        i += 1
    if not after_index:
        segments.append(_name(key, name))
    if len(segments) > MAX_LEVELS + 1:
        raise DottedKeyError(f"key {key!r} has {len(segments)} levels; at most {MAX_LEVELS + 1} (as helm --set)")
    return tuple(segments)


def _name(key: str, name: list[str]) -> str:
    if not name:
        raise DottedKeyError(f"key {key!r} has an empty level; write \\. for a literal dot")
    return "".join(name)


def _index(key: str, text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise DottedKeyError(f"key {key!r} has index [{text}]; expected a whole number from 0 to {MAX_INDEX}")
    index = int(text)
    if index > MAX_INDEX:
        raise DottedKeyError(f"key {key!r} has index [{text}]; at most {MAX_INDEX} (as helm --set)")
    return index


def format_path(path: tuple[Segment, ...]) -> str:
    """A path in key syntax (dots in names escaped): ``("a.b", "c", 0)`` → ``a\\.b.c[0]``."""
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            escaped = "".join("\\" + c if c in ".[\\" else c for c in segment)
            text += ("." if text else "") + escaped
    return text


def set_at(values: dict[str, Any], path: tuple[Segment, ...], value: Any) -> bool:
    """Set ``value`` at ``path`` in ``values``, creating levels (a mapping or list where the path needs one,
    replacing whatever else is in the way); True when something was already there and got replaced."""
    replaced = False
    cursor: Any = values
    for segment, following in itertools.pairwise(path):
        wanted: type = list if isinstance(following, int) else dict
        current = _get(cursor, segment)
        if not isinstance(current, wanted):
            replaced = replaced or current is not None
            current = wanted()
            _put(cursor, segment, current)
        cursor = current
    replaced = replaced or _get(cursor, path[-1]) is not None
    _put(cursor, path[-1], value)
    return replaced


def _get(container: Any, segment: Segment) -> Any:
    if isinstance(segment, int):
        return container[segment] if segment < len(container) else None
    return container.get(segment)


def _put(container: Any, segment: Segment, value: Any) -> None:
    if isinstance(segment, int):
        container.extend([None] * (segment + 1 - len(container)))
    container[segment] = value


@dataclass(frozen=True)
class Expanded:
    values: dict[str, Any]
    collisions: tuple[Collision, ...] = ()


def expand_settings(settings: Mapping[str, Any]) -> Expanded:
    """``configurationSettings`` with every dotted key expanded (see the module docstring). Raises
    ``DottedKeyError`` for a malformed key (``validate`` reports it first)."""
    paths = {key: parse_key(key) for key in settings}
    values: dict[str, Any] = {}
    dotted: list[str] = []
    for key, path in paths.items():
        if len(path) == 1:
            values[str(path[0])] = copy.deepcopy(settings[key])
        else:
            dotted.append(key)
    collisions = [Collision(key, format_path(paths[key]))
                  for key in dotted if set_at(values, paths[key], copy.deepcopy(settings[key]))]
    return Expanded(values, tuple(collisions))
