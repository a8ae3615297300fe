"""``.extctlignore``: gitignore-syntax rules that take files out of manifest loading.

Owns: ``IgnoreRules`` (the rules of one ``.extctlignore``, compiled by ``pathspec``'s gitignore flavour,
matched against paths relative to the manifests root: the ``--path`` directory, where the file lives),
``read_ignore_rules`` (the file on disk; unreadable or not UTF-8 is a located ``ManifestError``) and the
two helpers a file-list reader such as preview's Git reader uses (``with_ignore_file``,
``drop_ignored``). Only ``*.yaml``/``*.yml`` files are ever candidates (``loader.select_manifest_files``),
so a rule can only remove a file from loading, never add one. Rules are matched file by file: ``!pattern``
re-includes a file even below an ignored directory (Git would not enter that directory).
Must not: read anything but the one ``.extctlignore`` at the manifests root, or parse YAML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from controller.errors import Location, ManifestError, ValidationIssue
from controller.models.manifests import IGNORE_FILE


@dataclass(frozen=True)
class IgnoreRules:
    """The rules of one ``.extctlignore``. ``root``: the directory holding it, relative to the paths the
    rules are asked about (``""`` when they are relative to the manifests root already)."""

    text: str = ""
    root: str = ""
    spec: pathspec.GitIgnoreSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", pathspec.GitIgnoreSpec.from_lines(self.text.splitlines()))
        object.__setattr__(self, "root", self.root.strip("/"))

    @property
    def digest(self) -> bytes:
        """What parse caches key on: the rules' text (changing the rules changes every key)."""
        return hashlib.sha256(b"extctlignore\0" + self.text.encode("utf-8", "surrogateescape")).digest()

    def ignores(self, path: str) -> bool:
        """Whether the file at ``path`` (relative POSIX, normalised) is excluded by these rules."""
        if self.root:
            if not path.startswith(self.root + "/"):
                return False  # outside the manifests root: not these rules' business
            path = path[len(self.root) + 1:]
        return bool(self.text) and self.spec.match_file(path)


def read_ignore_rules(root: Path, subpath: str | None = None) -> IgnoreRules:
    """The ``.extctlignore`` at ``root/subpath`` (empty rules when there is none), for paths relative to
    ``root``. Raises ``ManifestError`` naming the file when it exists but cannot be read as UTF-8 text."""
    base = root / subpath if subpath else root
    relative = (subpath.strip("/") + "/" if subpath and subpath.strip("/") not in ("", ".") else "") + IGNORE_FILE
    try:
        data = (base / IGNORE_FILE).read_bytes()
    except FileNotFoundError:
        return IgnoreRules(root=subpath or "")
    except OSError as exc:
        raise _unusable(relative, f"cannot be read: {exc.strerror}", "make it readable by extctl's user") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _unusable(relative, "is not UTF-8 text", "save it as UTF-8") from exc
    return IgnoreRules(text, root=subpath or "")


def with_ignore_file(selected: Iterable[str], paths: Iterable[str]) -> list[str]:
    """``selected`` plus the root ``.extctlignore`` when ``paths`` (all files of the tree) hold one."""
    return [*selected, *([IGNORE_FILE] if IGNORE_FILE in set(paths) else [])]


def drop_ignored(files: Mapping[str, str]) -> dict[str, str]:
    """``files`` read by a ``with_ignore_file`` selection, without the ``.extctlignore`` itself and
    without the files its rules exclude (paths relative to the manifests root)."""
    rules = IgnoreRules(files.get(IGNORE_FILE, ""))
    return {path: text for path, text in files.items() if path != IGNORE_FILE and not rules.ignores(path)}


def _unusable(relative: str, problem: str, fix: str) -> ManifestError:
    return ManifestError([ValidationIssue(Location(relative, 1, 1), "", f"{IGNORE_FILE} {problem}; {fix}")])
