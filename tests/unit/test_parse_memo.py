"""Per-file parse results (controller/manifests/loader.py ``FileMemo``, cache.py ``FILE_STORE``): a one-file
change re-parses one file, in a running controller and in a fresh process, and whatever is answered from
the memo equals a full parse, locations included; a broken file is never remembered and its errors read
exactly as ``load_directory`` words them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.errors import ManifestError
from controller.manifests import load_directory, parse_documents, read_manifest_files, select_manifest_files
from controller.manifests.cache import FILE_STORE, ParseCache
from controller.manifests.loader import FileMemo


def _files(tree: Path) -> int:
    return len(read_manifest_files(tree)[0])


def _touch(tree: Path, text: str = "# touched\n") -> Path:
    manifest = tree / "extensions" / "certs.yaml"
    manifest.write_text(manifest.read_text() + text)
    return manifest


@pytest.mark.parametrize("directory", [True, False], ids=["disk", "memory-only"])
def test_a_running_cache_reparses_only_the_changed_file(tree: Path, tmp_path: Path, directory: bool) -> None:
    cache = ParseCache(tmp_path / "cache" if directory else None)
    first = cache.load(tree)
    assert cache.memo.parsed == _files(tree)
    _touch(tree)
    second = cache.load(tree)
    assert (cache.memo.parsed, cache.memo.reused) == (1, _files(tree) - 1)
    assert second == first == load_directory(tree)


def test_a_fresh_process_reuses_the_file_store(tree: Path, tmp_path: Path) -> None:
    ParseCache(tmp_path / "cache").load(tree)
    assert (tmp_path / "cache" / FILE_STORE).is_file()
    _touch(tree)
    fresh = ParseCache(tmp_path / "cache")  # as a new process would build it
    manifests = fresh.load(tree)
    assert fresh.hits == 0
    assert (fresh.memo.parsed, fresh.memo.reused) == (1, _files(tree) - 1)
    assert manifests == load_directory(tree)


def test_remembered_documents_locate_what_models_record(tree: Path) -> None:
    files, _ = read_manifest_files(tree)
    memo = FileMemo()
    parse_documents(files, memo=memo)
    answered = parse_documents(files, memo=memo)
    assert memo.reused == len(files)
    full = load_directory(tree)
    assert [(e.name, e.location) for e in answered.extensions.values()] == \
        [(e.name, e.location) for e in full.extensions.values()]
    assert [(t.name, t.location) for t in answered.types.values()] == \
        [(t.name, t.location) for t in full.types.values()]
    assert all(d.node is None for entry in memo.entries.values() for _, d in entry.documents)


def test_a_broken_file_is_never_remembered_and_reports_like_a_full_parse(tree: Path, tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    cache.load(tree)
    manifest = tree / "extensions" / "certs.yaml"
    manifest.write_text(manifest.read_text().replace("extensionType:", "extensionTyp:"))
    for _ in range(2):
        with pytest.raises(ManifestError) as caught:
            cache.load(tree)
        with pytest.raises(ManifestError) as expected:
            load_directory(tree)
        assert caught.value.issues == expected.value.issues
    assert not any(path == "extensions/certs.yaml" for path, _ in cache.memo.entries)


def test_a_semantic_error_across_unchanged_files_is_located_as_before(tree: Path, tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    cache.load(tree)
    duplicate = tree / "extensions" / "certs-again.yaml"
    duplicate.write_text((tree / "extensions" / "certs.yaml").read_text())
    with pytest.raises(ManifestError) as caught:
        cache.load(tree)
    with pytest.raises(ManifestError) as expected:
        load_directory(tree)
    assert caught.value.issues == expected.value.issues


def test_removed_files_leave_the_memo(tree: Path) -> None:
    cache = ParseCache(None)
    cache.load(tree)
    (tree / "extensions" / "policy.yaml").unlink()
    cache.load(tree)
    assert len(cache.memo.entries) == _files(tree)
    assert not any(path == "extensions/policy.yaml" for path, _ in cache.memo.entries)


def _select_by_pure_paths(paths: list[str]) -> list[str]:
    """The selection rule as it was written with PurePosixPath (the reference for the string version)."""
    all_paths = [PurePosixPath(path) for path in paths]
    by_directory: dict[PurePosixPath, set[str]] = {}
    for path in all_paths:
        by_directory.setdefault(path.parent, set()).add(path.name)
    excluded = {d for d, names in by_directory.items()
                if "Chart.yaml" in names or ("index.yaml" in names and any(n.endswith(".tgz") for n in names))}
    return sorted(path.as_posix() for path in all_paths
                  if path.suffix in (".yaml", ".yml") and not any(part.startswith(".") for part in path.parts)
                  and not any(parent in excluded for parent in [path.parent, *path.parent.parents]))


PARTS = st.sampled_from(["a", "b", ".git", ".x", "charts", "..", ".", "", "Chart.yaml", "index.yaml", "c.tgz",
                         "m.yaml", "n.yml", ".h.yaml", "v.txt", "x.yaml.bak", "d.e"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(PARTS, min_size=1, max_size=4).map("/".join).filter(lambda p: not p.startswith("/")),
                max_size=12))  # relative paths, as a tree listing gives them
def test_file_selection_equals_the_pure_path_rule(paths: list[str]) -> None:
    assert select_manifest_files(paths) == _select_by_pure_paths(paths)


def test_listing_reads_links_and_skips_hidden_directories(tree: Path, tmp_path: Path) -> None:
    (tree / ".hidden").mkdir()
    (tree / ".hidden" / "x.yaml").write_text("not: read\n")
    (tree / "extensions" / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")
    (tree / "linked").symlink_to(tree / "extensions", target_is_directory=True)
    files, issues = read_manifest_files(tree)
    assert not any(path.startswith((".hidden/", "linked/")) for path in files)
    assert [issue.location.file for issue in issues] == ["extensions/dangling.yaml"]
