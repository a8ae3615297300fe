"""The manifest parse cache: a fresh process reuses the validated parse of an unchanged tree, and never a
stale, broken or foreign one (controller/manifests/cache.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifests import load_directory
from controller.manifests.cache import KEEP, ParseCache


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.pickle"))


def test_an_unchanged_tree_is_answered_from_disk_by_a_new_process(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ParseCache(cache).load(tree)
    fresh = ParseCache(cache)  # as a new process would build it
    second = fresh.load(tree)
    assert fresh.hits == 1
    assert second == first == load_directory(tree)
    [entry] = _entries(cache)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_a_changed_file_is_parsed_again(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ParseCache(cache).load(tree)
    manifest = tree / "extensions" / "certs.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    fresh = ParseCache(cache)
    changed = fresh.load(tree)
    assert fresh.hits == 0
    assert changed == load_directory(tree)
    assert changed.extensions["certs"].spec.version == "1.1.0"


def test_a_broken_tree_is_never_cached_and_always_reports_every_error(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (tree / "extensions" / "broken.yaml").write_text("kind: Extension\nmetadata: [\n")
    for _ in range(2):
        with pytest.raises(ManifestError) as caught:
            ParseCache(cache).load(tree)
        assert any(i.location.file == "extensions/broken.yaml" for i in caught.value.issues)
    assert _entries(cache) == []


def test_a_corrupt_entry_is_a_miss_and_is_replaced(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = ParseCache(cache).load(tree)
    [entry] = _entries(cache)
    entry.write_bytes(b"not a pickle")
    fresh = ParseCache(cache)
    assert fresh.load(tree) == expected
    assert fresh.hits == 0
    assert ParseCache(cache).load(tree) == expected
    assert len(_entries(cache)) == 1


def test_an_unusable_cache_directory_only_costs_a_parse(tree: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way")
    assert ParseCache(blocked / "manifests").load(tree) == load_directory(tree)


def test_only_the_newest_entries_are_kept(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    manifest = tree / "extensions" / "certs.yaml"
    original = manifest.read_text()
    for i in range(KEEP + 3):
        manifest.write_text(original + f"# revision {i}\n")
        ParseCache(cache).load(tree)
    assert len(_entries(cache)) == KEEP
