"""The fast path of manifest parsing: libyaml's C parser composing ruamel.yaml's round-trip objects.

Owns: ``compose_fast(text)``: every document of ``text`` as the objects ``YAML(typ="rt").load_all`` gives
(``CommentedMap``/``CommentedSeq`` with their line/column marks, built by the same ``RoundTripConstructor``
and YAML 1.2 resolver), composed by ``ruamel.yaml.clib``'s C parser, several times faster than the
pure-Python scanner and parser (bench/README.md, P6). It answers ``None`` whenever the text is outside
what this path is known to handle exactly like the pure-Python one, and the caller then parses it the
slow way, which also words every error: a file that fails here (a syntax error, a duplicate key or
anchor, an undefined alias) is parsed again by the pure-Python path. Declined:

* directives (a line starting with ``%``: ``%YAML 1.1`` changes the resolver's rules);
* tabs, the YAML 1.1 line breaks NEL, LS and PS, a byte-order mark after the start, tags (``!``),
  an anchor or alias name followed by other characters (``&a:b``) and a block scalar header followed by a comment
  without a space (``|#``): the two scanners differ there (found by ``tests/unit/test_manifest_clib.py``);
* more than ``MAX_INDICATORS`` of the characters that open a nesting level (``[{-:?``): the C composer
  recurses once per level, so this bounds its stack use (20,000 levels crash an 8 MiB thread stack);
* documents nested more than ``max_depth`` levels (the pure path reports them).

libyaml marks an empty value where the next token starts, ruamel where the indicator before it ends:
``loader.parse_documents`` therefore reports the issues of a revision from a pure-Python parse.

Must not: report issues, or be required: without ``ruamel.yaml.clib`` every file takes the pure path.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

try:
    from _ruamel_yaml import CParser  # type: ignore[import-not-found]  # ruamel.yaml.clib: libyaml's scanner and parser, and a C composer
except ImportError:  # pragma: no cover - the pinned dependency is installed; without it parsing is slower
    CParser = None

MAX_INDICATORS = 2000  # nesting levels are bounded by these characters; far below the C stack's limit
_INDICATORS = "[{-:?"
_DECLINED = re.compile(
    "^%"  # a directive
    "|[\t\x85\u2028\u2029\ufeff!]"  # a tab, a YAML 1.1 line break, a byte-order mark inside, a tag
    "|[|>][-+0-9]*#"  # a block scalar header and a comment without a space between
    # An anchor or alias name that goes on with other characters (``&a:b``): libyaml ends the name at the
    # first one that is not a letter, digit, - or _, ruamel does not. (Any other character right after & or *
    # is an error for libyaml, so the pure path words it.)
    "|(?:^|[\\s\\[\\]{},:?-])[&*][A-Za-z0-9_-]+(?![A-Za-z0-9_-]|[\\s,\\[\\]{}]|$)",
    re.MULTILINE,
)
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
    if CParser is None or _DECLINED.search(text) is not None:
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
