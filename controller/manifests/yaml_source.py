"""YAML documents with source positions.

Owns: parsing manifest text with ruamel.yaml (round-trip mode, which keeps line and column of every
key, value and list item), converting nodes to plain Python for schema validation, and mapping a
field path back to a 1-based ``Location``. Must not: know about manifest kinds or validation rules.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from controller.errors import Location, ValidationIssue

FieldPath = Sequence[str | int]
_DUPLICATE_VALUE_TEXT = re.compile(r" with value .*$", re.DOTALL)


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document of one file: the positioned node tree and its plain-Python twin."""

    file: str
    node: Any
    data: Any

    def locate(self, path: FieldPath) -> Location:
        """The position of ``path`` (or of its deepest existing ancestor) in this document.

        Scalars point at their value, mappings and lists at their key, missing fields at the parent."""
        return Location(self.file, *locate_node(self.node, path))


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
        if isinstance(current, CommentedMap) and not isinstance(part, int) and part in current:
            child = current[part]
            if isinstance(child, (CommentedMap, CommentedSeq)):
                line, column = current.lc.key(part)
            else:
                line, column = current.lc.value(part)
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
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return locate_node(root, path)
    last = path[-1]
    if isinstance(parent, CommentedMap) and last in parent:
        line, column = parent.lc.key(last)
        return line + 1, column + 1
    return locate_node(root, path)


def _own_position(node: Any) -> tuple[int, int]:
    if isinstance(node, (CommentedMap, CommentedSeq)):
        return node.lc.line + 1, node.lc.col + 1
    return 1, 1


def to_plain(node: Any) -> Any:
    """Round-trip nodes to plain dict/list/str/int/float/bool (what jsonschema and the models expect)."""
    if isinstance(node, dict):
        return {to_plain(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        return node  # left as is: the schema rejects it where a string is expected
    return node


def read_documents(file: str, text: str) -> tuple[list[SourceDocument], list[ValidationIssue]]:
    """Every non-empty document of ``text``; a YAML syntax error becomes a located issue (the
    documents before it are still returned)."""
    documents: list[SourceDocument] = []
    issues: list[ValidationIssue] = []
    try:
        for node in _load_all(text):
            if node is None:
                continue
            documents.append(SourceDocument(file=file, node=node, data=to_plain(node)))
    except MarkedYAMLError as exc:
        issues.append(_syntax_issue(file, exc))
    return documents, issues


def _load_all(text: str) -> Iterator[Any]:
    yaml = YAML(typ="rt")
    yield from yaml.load_all(text)


def _syntax_issue(file: str, exc: MarkedYAMLError) -> ValidationIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(exc.problem or exc.context or "malformed YAML")
    if isinstance(exc, DuplicateKeyError):
        # ruamel quotes both values; they may be secrets, so keep only the key.
        problem = _DUPLICATE_VALUE_TEXT.sub("", problem) + "; each key may appear once per mapping"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    return ValidationIssue(Location(file, line, column), "", f"invalid YAML: {problem}")
