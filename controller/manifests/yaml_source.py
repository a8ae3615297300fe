"""YAML documents with source positions.

Owns: parsing manifest text with ruamel.yaml (round-trip mode, which keeps line and column of every
key, value and list item; libyaml's C parser composes the same objects for most files, ``clib.py``),
converting nodes to JSON-compatible plain Python for schema validation, and mapping a field path back
to a 1-based ``Location``. Every way parsing can fail (syntax, nesting deeper than ``MAX_DEPTH``, cyclic
or exploding aliases, exceptions ruamel raises without a position) becomes a located issue:
``read_documents`` never raises.
Must not: know about manifest kinds or validation rules, or quote values in messages (they may be secrets).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import DocumentStartEvent
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from controller.errors import Location, ValidationIssue
from controller.logs import scrub_text
from controller.manifests.clib import compose_fast

FieldPath = Sequence[str | int]
_DUPLICATE_VALUE_TEXT = re.compile(r" with value .*$", re.DOTALL)
_QUOTED = re.compile(r"(['\"]).*?\1")
MAX_DEPTH = 100  # nesting levels; deeper input would exhaust Python's stack in the YAML composer
MAX_VALUES = 200_000  # values per document after expanding aliases (a "billion laughs" stays small)


class _DocumentTooLarge(Exception):
    """Raised inside ``to_plain`` when a document is cyclic or expands beyond ``MAX_VALUES``."""


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document of one file: the positioned node tree and its plain-Python twin.

    A cached document (``light``) keeps its plain data and the positions of a few paths only, not the
    node tree (about 12 KB per manifest): enough to build models from a document that validated."""

    file: str
    node: Any
    data: Any
    positions: Mapping[tuple[str | int, ...], tuple[int, int]] | None = None

    def locate(self, path: FieldPath) -> Location:
        """The position of ``path`` (or of its deepest existing ancestor) in this document.

        Scalars point at their value, mappings and lists at their key, missing fields at the parent.
        A light document knows the paths it kept; any other is reported at 1:1."""
        if self.node is None and self.positions is not None:
            return Location(self.file, *self.positions.get(tuple(path), (1, 1)))
        return Location(self.file, *locate_node(self.node, path))

    def light(self, kept: Iterable[FieldPath]) -> SourceDocument:
        """This document without its node tree, with the positions of the ``kept`` paths."""
        return SourceDocument(self.file, None, self.data, {tuple(path): locate_node(self.node, path) for path in kept})


def format_field_path(path: FieldPath) -> str:
    """``["spec", "dependsOn", 0]`` -> ``spec.dependsOn[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def locate_node(root: Any, path: FieldPath) -> tuple[int, int]:
    """1-based (line, column) of ``path`` inside ``root``; falls back to the deepest ancestor found."""
    position = _own_position(root)
    current = root
    for part in path:
        key = _source_key(current, part) if isinstance(current, CommentedMap) and not isinstance(part, int) else None
        if key is not None:
            child = current[key]
            if isinstance(child, (CommentedMap, CommentedSeq)):
                line, column = current.lc.key(key)
            else:
                line, column = current.lc.value(key)
            position = (line + 1, column + 1)
            current = child
        elif isinstance(current, CommentedSeq) and isinstance(part, int) and 0 <= part < len(current):
            line, column = current.lc.item(part)
            position = (line + 1, column + 1)
            current = current[part]
        else:
            break
    return position


def locate_key(root: Any, path: FieldPath) -> tuple[int, int]:
    """Like ``locate_node`` but points at the key of the last path element (for unknown-field errors)."""
    if not path:
        return _own_position(root)
    parent = root
    for part in path[:-1]:
        if isinstance(parent, CommentedMap) and not isinstance(part, int):
            key = _source_key(parent, part)
            if key is None:
                return locate_node(root, path)
            parent = parent[key]
        elif isinstance(parent, CommentedSeq) and isinstance(part, int) and 0 <= part < len(parent):
            parent = parent[part]
        else:
            return locate_node(root, path)
    last = path[-1]
    key = _source_key(parent, last) if isinstance(parent, CommentedMap) and not isinstance(last, int) else None
    if key is not None:
        line, column = parent.lc.key(key)
        return line + 1, column + 1
    return locate_node(root, path)


def _source_key(mapping: CommentedMap, part: str) -> Any:
    """The key of ``mapping`` whose plain (string) form is ``part``, or None (``1:`` is field ``"1"``)."""
    if part in mapping:
        return part
    for key in mapping:
        try:
            if _plain_key(key, _Budget()) == part:
                return key
        except _DocumentTooLarge:
            continue
    return None


def _own_position(node: Any) -> tuple[int, int]:
    if isinstance(node, (CommentedMap, CommentedSeq)):
        return node.lc.line + 1, node.lc.col + 1
    return 1, 1


class _Budget:
    """Counts the values ``to_plain`` produces and the containers on the current path (cycle check)."""

    def __init__(self) -> None:
        self.values = 0
        self.open: set[int] = set()

    def spend(self) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _DocumentTooLarge(f"the document expands to more than {MAX_VALUES} values through aliases "
                                    "(*name); write the values out, or use fewer aliases")


def to_plain(node: Any, budget: _Budget | None = None) -> Any:
    """Round-trip nodes to JSON-compatible dict/list/str/int/float/bool/None, as helm would read them:
    mapping keys become strings (``1:`` is ``"1"``), dates ISO strings, ``!!binary`` base64 text,
    ``!!set`` a mapping to null, and a custom-tagged scalar its text.

    Raises ``_DocumentTooLarge`` for a cyclic document or one that aliases expand beyond ``MAX_VALUES``."""
    budget = budget if budget is not None else _Budget()
    budget.spend()
    if isinstance(node, (dict, list, set)):
        if id(node) in budget.open:
            raise _DocumentTooLarge("the document refers to itself through an alias (*name inside &name); "
                                    "a manifest must be a tree: write the value out")
        budget.open.add(id(node))
        try:
            if isinstance(node, dict):
                return {_plain_key(key, budget): to_plain(value, budget) for key, value in node.items()}
            if isinstance(node, set):
                return {_plain_key(key, budget): None for key in node}
            return [to_plain(item, budget) for item in node]
        finally:
            budget.open.discard(id(node))
    return _plain_scalar(node)


def _plain_scalar(node: Any) -> Any:
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, ScalarBoolean):  # an anchored ``&x true`` is an int subclass in ruamel
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node.isoformat()
    if isinstance(node, bytes):
        return base64.b64encode(node).decode("ascii")
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, tuple):
        return [_plain_scalar(item) for item in node]
    return str(node)


def _plain_key(key: Any, budget: _Budget) -> str:
    """A mapping key as the string JSON (and helm) would use: ``true``, ``1``, ``null``, ``[a, b]`` -> text."""
    if isinstance(key, str):
        return str(key)
    plain = to_plain(list(key) if isinstance(key, tuple) else key, budget)
    return plain if isinstance(plain, str) else json.dumps(plain, sort_keys=True, ensure_ascii=False, default=str)


def read_documents(file: str, text: str, *, fast: bool = True) -> tuple[list[SourceDocument], list[ValidationIssue]]:
    """Every non-empty document of ``text``; any YAML problem becomes a located issue (the documents
    before it are still returned). Never raises, whatever ``text`` holds.

    libyaml's C parser reads most files (``clib.py``); what it declines or fails on is read again here by
    ruamel's pure-Python parser, which words every error. ``fast=False``: the pure-Python parser only (its
    positions of empty values differ from libyaml's: ``parse_documents`` reports issues from its parse)."""
    parsed = _read_fast(file, text) if fast else None
    if parsed is not None:
        return parsed, []
    documents: list[SourceDocument] = []
    issues: list[ValidationIssue] = []
    nodes = _yaml().load_all(text)
    for index in itertools.count():
        try:
            node = next(nodes)
        except StopIteration:
            break
        except MarkedYAMLError as exc:
            issues.append(_syntax_issue(file, exc))
            break
        except ReaderError as exc:
            issues.append(_issue(file, _offset_position(text, exc.position),
                                 f"invalid YAML: character #x{exc.character:04x} is not allowed; remove it"
                                 if isinstance(exc.character, int) else "invalid YAML: not readable text"))
            break
        except Exception as exc:  # noqa: BLE001 - ruamel.yaml raises plain Python errors for some input
            # (``!!float x`` is a ValueError) and they carry no mark: point at the document being read.
            first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            first_line = _QUOTED.sub(r"\1…\1", scrub_text(first_line))  # the value itself may be a secret
            detail = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
            issues.append(_issue(file, _document_start(text, index),
                                 f"invalid YAML: this document cannot be read ({detail}); check its tags (!!…) "
                                 "and the values they apply to"))
            break
        if node is None:
            continue
        try:
            data = to_plain(node)
        except _DocumentTooLarge as exc:
            issues.append(_issue(file, _own_position(node), f"invalid YAML: {exc}"))
            continue
        documents.append(SourceDocument(file=file, node=node, data=data))
    return documents, issues


def _read_fast(file: str, text: str) -> list[SourceDocument] | None:
    nodes = compose_fast(text, MAX_DEPTH)
    if nodes is None:
        return None
    try:
        return [SourceDocument(file=file, node=node, data=to_plain(node)) for node in nodes]
    except _DocumentTooLarge:
        return None


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.max_depth = MAX_DEPTH  # one instance per file: ruamel does not reset its depth after an error
    yaml.composer.warn_double_anchors = False  # a re-used &name is valid YAML; no warning on stderr
    return yaml


def _issue(file: str, position: tuple[int, int], message: str) -> ValidationIssue:
    return ValidationIssue(Location(file, *position), "", message)


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _document_start(text: str, index: int) -> tuple[int, int]:
    """1-based position where document ``index`` (0-based) starts, or (1, 1) if it cannot be found."""
    seen = 0
    try:
        for event in _yaml().parse(text):
            if isinstance(event, DocumentStartEvent):
                if seen == index:
                    mark = event.start_mark
                    return mark.line + 1, mark.column + 1
                seen += 1
    except (YAMLError, ValueError, TypeError, RecursionError):
        pass
    return 1, 1


def _syntax_issue(file: str, exc: MarkedYAMLError) -> ValidationIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(exc.problem or exc.context or "malformed YAML")
    if isinstance(exc, MaxDepthExceededError):
        problem = f"nested more than {MAX_DEPTH} levels deep; flatten the structure"
    elif isinstance(exc, DuplicateKeyError):
        # ruamel quotes both values; they may be secrets, so keep only the key.
        problem = _DUPLICATE_VALUE_TEXT.sub("", problem) + "; each key may appear once per mapping"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    return ValidationIssue(Location(file, line, column), "", f"invalid YAML: {problem}")
