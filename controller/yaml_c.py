"""libyaml's C scanner and parser (``ruamel.yaml.clib``), and where it reads a text as ruamel's pure-Python one does.

Owns: ``CParser`` (``_ruamel_yaml.CParser``, or None without the package) and ``declined(text)``: whether a
text has a construct the two scanners read differently, so that a fast path built on ``CParser`` must
leave it to the pure-Python parser. Declined (found by ``tests/unit/test_manifest_clib.py``): directives
(a line starting with ``%``: ``%YAML 1.1`` changes the resolver's rules); tabs, the YAML 1.1 line breaks
NEL, LS and PS, a byte-order mark after the start, tags (``!``), an anchor or alias name followed by other
characters (``&a:b``) and a block scalar header followed by a comment without a space (``|#``). Used by
the manifests' composer (``controller/manifests/clib.py``) and the chart index reader
(``controller/catalog/index.py``), which sit in sibling layers.

Must not: parse, report anything, or be required: without ``ruamel.yaml.clib`` every text takes the pure path.
"""

from __future__ import annotations

import re

try:
    from _ruamel_yaml import CParser  # type: ignore[import-not-found]  # ruamel.yaml.clib: libyaml's scanner and parser, and a C composer
except ImportError:  # pragma: no cover - the pinned dependency is installed; without it parsing is slower
    CParser = None

__all__ = ["CParser", "declined"]

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


def declined(text: str) -> bool:
    """True when libyaml is absent or may read ``text`` otherwise than ruamel's pure-Python scanner."""
    return CParser is None or _DECLINED.search(text) is not None
