"""The fast path of manifest parsing: libyaml's C parser composing ruamel.yaml's round-trip objects.

Owns: ``compose_fast(text)``: every document of ``text`` as the objects ``YAML(typ="rt").load_all`` gives
(``CommentedMap``/``CommentedSeq`` with their line/column marks, built by the same ``RoundTripConstructor``
and YAML 1.2 resolver), composed by ``ruamel.yaml.clib``'s C parser, several times faster than the
pure-Python scanner and parser (bench/README.md, P6). It answers ``None`` whenever the text is outside
what this path is known to handle exactly like the pure-Python one, and the caller then parses it the
slow way, which also words every error: a file that fails here (a syntax error, a duplicate key or
anchor, an undefined alias) is parsed again by the pure-Python path. Declined:

* what ``controller.yaml_c.declined`` names: constructs the two scanners read differently (directives,
  tabs, tags, ``&a:b``, ``|#`` and others);
* more than ``MAX_INDICATORS`` of the characters that open a nesting level (``[{-:?``): the C composer
  recurses once per level, so this bounds its stack use (20,000 levels crash an 8 MiB thread stack);
* documents nested more than ``max_depth`` levels (the pure path reports them).

libyaml marks an empty value where the next token starts, ruamel where the indicator before it ends:
``loader.parse_documents`` therefore reports the issues of a revision from a pure-Python parse.

Must not: report issues, or be required: without ``ruamel.yaml.clib`` every file takes the pure path.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from controller.yaml_c import CParser, declined

MAX_INDICATORS = 2000  # nesting levels are bounded by these characters; far below the C stack's limit
_INDICATORS = "[{-:?"
_YAML_1_2 = (1, 2)


if CParser is not None:

    class _Loader(CParser, RoundTripConstructor, VersionedResolver):  # type: ignore[misc]
        """What ``YAML(typ="rt")`` builds when its parser is ``CParser`` (ruamel.yaml.main's XLoader), minus
        the version lookup per scalar: without a ``%YAML`` directive the version is always 1.2."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            self._parser = self._composer = self
            self.comment_handling = None
            RoundTripConstructor.__init__(self, loader=self)
            self.allow_duplicate_keys = False
            VersionedResolver.__init__(self, version=None, loadumper=self)
            self._version_implicit_resolver = _RESOLVERS

        @property
        def processing_version(self) -> Any:
            return _YAML_1_2

    _RESOLVERS: dict[Any, Any] = {}
    _RESOLVERS.update(_Loader("")._version_implicit_resolver)
    _ = _Loader("").versioned_resolver  # fills the shared 1.2 table once, before any thread uses it


def compose_fast(text: str, max_depth: int) -> list[Any] | None:
    """The round-trip objects of every non-empty document of ``text``, or None: parse it the slow way."""
    if declined(text):
        return None
    indicators = sum(text.count(character) for character in _INDICATORS)
    if indicators > MAX_INDICATORS:
        return None
    try:
        loader = _Loader(text)
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if indicators + 1 > max_depth and _depth(node) > max_depth:
                return None
            documents.append(loader.construct_document(node))
        loader.dispose()
    except Exception:  # noqa: BLE001 - any failure: the pure-Python path parses it and words the error
        return None
    return [document for document in documents if document is not None]


def _depth(root: Node) -> int:
    """Nesting depth as ruamel's composer counts it (a scalar is a level; an alias is not)."""
    deepest, seen = 0, set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue  # an alias: the composer does not descend into it again
        seen.add(id(node))
        deepest = max(deepest, depth)
        if isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        else:
            continue
        stack.extend((child, depth + 1) for child in reversed(children))
    return deepest
