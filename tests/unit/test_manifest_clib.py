"""libyaml's C parser (``controller/manifests/clib.py``) gives exactly what ruamel's pure-Python parser gives.

Differential property tests: for YAML-token soup, arbitrary text, mutated sample manifests and dumped
manifest-shaped trees, whenever the fast path answers, the pure-Python round-trip loader accepts the same
text and builds equal documents with the same line/column marks on every mapping key, value and list
item. Whatever the fast path declines is parsed by the pure path (``read_documents``), which words every
error, so located-error tests stay byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from controller.manifests import read_manifest_files
from controller.manifests.clib import MAX_INDICATORS, compose_fast
from controller.manifests.yaml_source import MAX_DEPTH, read_documents, to_plain
from tests.unit.test_manifest_fuzz import DOCUMENTS, SAMPLE_FILES, YAML_TOKENS, dump

_SCALE = float(os.environ.get("EXTCTL_FUZZ_SCALE", "1"))
REPO_ROOT = Path(__file__).resolve().parents[2]
# The fuzz file's tokens plus what the fast path's declining rules are about (anchors, aliases, cron).
TOKENS = [*YAML_TOKENS, "*", "&", "&a:b", "*a:", "*/5 ", "&x-1_y ", "*x-1_y", "|#", ">-#", "\t", "\u2029"]


def fuzz(examples: int) -> settings:
    return settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=max(1, int(examples * _SCALE)))


def pure(text: str) -> list[Any] | None:
    """The non-empty documents as ``YAML(typ="rt")`` loads them, or None when it raises."""
    yaml = YAML(typ="rt")
    yaml.max_depth = MAX_DEPTH
    yaml.composer.warn_double_anchors = False
    try:
        return [document for document in yaml.load_all(text) if document is not None]
    except Exception:  # noqa: BLE001 - any failure: the fast path must then decline too
        return None


def plain(node: Any) -> Any:
    try:
        return to_plain(node)
    except Exception as error:  # noqa: BLE001 - a cyclic or exploding document: compare the failure
        return type(error).__name__


def marks(node: Any, seen: set[int] | None = None) -> Any:
    """Every position ruamel keeps (own line/column, per key and per item) with the values, as plain data.

    Null keys and values are compared without their position: libyaml marks an empty scalar where the
    next token starts, ruamel where the indicator before it ends. Such a position only ever appears in an
    error, and a revision with any issue is parsed again by the pure-Python path (``loader.py``)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return "<alias>"
    if isinstance(node, CommentedMap):
        seen.add(id(node))
        return ("map", node.lc.line, node.lc.col, [(plain(k), _kv(node.lc.data.get(k), k, v), marks(v, seen))
                                                   for k, v in node.items()])
    if isinstance(node, CommentedSeq):
        seen.add(id(node))
        return ("seq", node.lc.line, node.lc.col, [(None if v is None else node.lc.data.get(i), marks(v, seen))
                                                   for i, v in enumerate(node)])
    return plain(node)


def _kv(position: Any, key: Any, value: Any) -> Any:
    if position is None:
        return None
    key_mark = None if key is None else tuple(position[:2])
    value_mark = None if value is None else tuple(position[2:])
    return key_mark, value_mark


def assert_same(text: str) -> None:
    fast = compose_fast(text, MAX_DEPTH)
    if fast is None:
        return
    slow = pure(text)
    assert slow is not None, f"the C parser accepted what the pure-Python parser rejects: {text!r}"
    assert [marks(d) for d in fast] == [marks(d) for d in slow], text


@fuzz(300)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_parses_alike(text: str) -> None:
    assert_same(text)


@fuzz(200)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_alike(text: str) -> None:
    assert_same(text)


@fuzz(100)
@given(st.data())
def test_mutated_sample_manifests_parse_alike(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(SAMPLE_FILES), label="file").read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        position = data.draw(st.integers(0, len(text)), label="position")
        cut = data.draw(st.integers(0, 8), label="cut")
        inserted = data.draw(st.text(max_size=6) | st.sampled_from(TOKENS), label="insert")
        text = text[:position] + inserted + text[position + cut:]
    assert_same(text)


@fuzz(100)
@given(st.lists(DOCUMENTS, min_size=1, max_size=3), st.booleans())
def test_dumped_manifests_parse_alike(documents: list[Any], as_json: bool) -> None:
    assert_same(dump(documents, as_json).decode("utf-8", errors="surrogatepass"))


def test_sample_manifests_take_the_fast_path() -> None:
    files, issues = read_manifest_files(REPO_ROOT / "sample-repo")
    assert files and not issues
    for path, data in files.items():
        text = data.decode("utf-8")
        assert compose_fast(text, MAX_DEPTH) is not None, path
        assert_same(text)


@pytest.mark.parametrize("text", [
    "%YAML 1.1\n---\na: yes\n",  # a directive changes the resolver: pure path
    "a: " + "[" * 150 + "]" * 150 + "\n",  # deeper than MAX_DEPTH: the pure path reports it
    "a: 1\na: 2\n",  # duplicate key: the pure path words the error
    "a: &x 1\nb: &x 2\n",  # a re-used anchor is valid YAML; libyaml's composer refuses it
    "a: *nothing\n",
    "a: [1, 2\n",
    "- " * (MAX_INDICATORS + 1) + "x\n",  # could exhaust the C composer's stack: never handed to it
])
def test_declined_texts_take_the_pure_path(text: str) -> None:
    assert compose_fast(text, MAX_DEPTH) is None
    documents, issues = read_documents("x.yaml", text)
    assert (pure(text) is None) == bool(issues), (documents, issues)


def test_deep_nesting_within_the_limit_takes_the_fast_path() -> None:
    text = "a: " + "[" * 90 + "]" * 90 + "\n"
    assert compose_fast(text, MAX_DEPTH) is not None
    assert_same(text)
