"""``.extctlignore``: gitignore-syntax rules at the manifests root take foreign YAML out of manifest loading
(controller/manifests/ignore.py, the pure rule in ``select_manifest_files``, and the parse cache's key)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifests import load_directory, select_manifest_files
from controller.manifests.cache import ParseCache
from controller.manifests.ignore import IgnoreRules, drop_ignored, read_ignore_rules, with_ignore_file

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"
KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
TREE = [
    "kustomization.yaml",
    "extensions/a.yaml",
    "extensions/kustomization.yaml",
    "ci/pipeline.yml",
    "ci/keep.yaml",
    "drafts/x.draft.yaml",
    "drafts/keep.draft.yaml",
    "top.yaml",
    "nested/top.yaml",
]


@pytest.mark.parametrize(("rules", "expected"), [
    ("", TREE),
    ("kustomization.yaml", [p for p in TREE if not p.endswith("kustomization.yaml")]),  # any depth, like Git
    ("/kustomization.yaml", [p for p in TREE if p != "kustomization.yaml"]),  # anchored at the root
    # Matched file by file (pathspec): unlike Git, "!" re-includes a file under an ignored directory.
    ("ci/\n!ci/keep.yaml", [p for p in TREE if p != "ci/pipeline.yml"]),
    ("*.draft.yaml\n!keep.draft.yaml", [p for p in TREE if p != "drafts/x.draft.yaml"]),
    ("# a comment\n\n/top.yaml", [p for p in TREE if p != "top.yaml"]),
    ("**/top.yaml", [p for p in TREE if not p.endswith("top.yaml")]),
], ids=["none", "name-anywhere", "anchored", "directory", "negation", "comments", "double-star"])
def test_rules_follow_gitignore_syntax(rules: str, expected: list[str]) -> None:
    assert select_manifest_files(TREE, IgnoreRules(rules)) == sorted(expected)


def test_rules_are_relative_to_the_manifests_root_under_a_subpath() -> None:
    rules = IgnoreRules("/kustomization.yaml\nci/", root="clusters/prod")
    paths = ["clusters/prod/kustomization.yaml", "clusters/prod/ci/x.yaml", "clusters/prod/ext/kustomization.yaml",
             "clusters/dev/ci/x.yaml", "kustomization.yaml"]
    assert select_manifest_files(paths, rules) == [
        "clusters/dev/ci/x.yaml", "clusters/prod/ext/kustomization.yaml", "kustomization.yaml"]


def test_rules_never_add_a_file_the_loader_skips() -> None:
    paths = [".github/workflows/ci.yaml", "charts-src/demo/Chart.yaml", "charts-src/demo/values.yaml", "README.md"]
    assert select_manifest_files(paths, IgnoreRules("!*\n!.github/\n!**/*.yaml")) == []


def test_a_git_file_list_reads_the_ignore_file_and_drops_what_it_excludes() -> None:
    paths = [".extctlignore", "a.yaml", "kustomization.yaml"]
    selected = with_ignore_file(select_manifest_files(paths), paths)
    assert selected == ["a.yaml", "kustomization.yaml", ".extctlignore"]
    files = {".extctlignore": "kustomization.yaml\n", "a.yaml": "x", "kustomization.yaml": KUSTOMIZATION}
    assert drop_ignored(files) == {"a.yaml": "x"}
    assert with_ignore_file(["a.yaml"], ["a.yaml"]) == ["a.yaml"]
    assert drop_ignored({"a.yaml": "x"}) == {"a.yaml": "x"}


def _sample(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE, root)
    (root / "kustomization.yaml").write_text(KUSTOMIZATION, encoding="utf-8")
    return root


def test_a_foreign_yaml_is_an_error_that_names_extctlignore_until_it_is_listed(tmp_path: Path) -> None:
    root = _sample(tmp_path)
    with pytest.raises(ManifestError) as raised:
        load_directory(root)
    assert [str(i) for i in raised.value.issues] == [
        "kustomization.yaml:1:13: error: apiVersion: unsupported apiVersion 'kustomize.config.k8s.io/v1beta1'; "
        "expected extctl.dev/v1alpha1",
        "kustomization.yaml:2:7: error: kind: unknown kind 'Kustomization'; expected one of: Extension, "
        "ExtensionType, Cluster; if this file is not an extctl manifest, add its path to .extctlignore at the "
        "manifests root (gitignore syntax)",
    ]
    (root / ".extctlignore").write_text("kustomization.yaml\n", encoding="utf-8")
    assert sorted(load_directory(root).extensions) == sorted(load_directory(SAMPLE).extensions)


def test_the_ignore_file_lives_in_the_path_directory(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE, root / "clusters" / "prod")
    (root / "clusters" / "prod" / "kustomization.yaml").write_text(KUSTOMIZATION, encoding="utf-8")
    (root / ".extctlignore").write_text("kustomization.yaml\n", encoding="utf-8")  # the repository root's: unused
    with pytest.raises(ManifestError, match=r"clusters/prod/kustomization\.yaml:2:7"):
        load_directory(root, "clusters/prod")
    (root / "clusters" / "prod" / ".extctlignore").write_text("/kustomization.yaml\n", encoding="utf-8")
    assert sorted(load_directory(root, "clusters/prod").extensions) == sorted(load_directory(SAMPLE).extensions)


def test_an_unreadable_ignore_file_is_a_located_error(tmp_path: Path) -> None:
    root = _sample(tmp_path)
    (root / ".extctlignore").write_bytes(b"kustomization.yaml\n\xff\n")
    with pytest.raises(ManifestError) as raised:
        read_ignore_rules(root)
    assert [str(i) for i in raised.value.issues] == [
        ".extctlignore:1:1: error: <document>: .extctlignore is not UTF-8 text; save it as UTF-8"]


def test_the_parse_cache_follows_changes_to_the_ignore_file(tmp_path: Path) -> None:
    root = _sample(tmp_path)
    (root / ".extctlignore").write_text("kustomization.yaml\n", encoding="utf-8")
    cache = tmp_path / "cache"
    valid = ParseCache(cache).load(root)
    (root / ".extctlignore").write_text("# nothing ignored any more\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"kustomization\.yaml:2:7"):
        ParseCache(cache).load(root)
    # Rules that select the same files still key a new entry: the cache never answers for other rules.
    (root / ".extctlignore").write_text("kustomization.yaml\n# reworded\n", encoding="utf-8")
    fresh = ParseCache(cache)
    assert fresh.load(root) == valid
    assert fresh.hits == 0
    assert ParseCache(cache).load(root) == valid
    assert len(list(cache.glob("*.pickle"))) == 2
