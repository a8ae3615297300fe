"""Turn a directory (or a set of file contents) into a validated ``ManifestSet``.

Owns: which files are manifests, reading them, and running schema then semantic validation so that
**all** issues of a revision are reported at once, sorted by file and line.

File selection rule (any layout is allowed): every ``*.yaml``/``*.yml`` file under the root is a
manifest, except
  * files under hidden directories and hidden files (``.git/``, ``.github/``, ``.foo.yaml``);
  * Helm chart sources: a directory holding ``Chart.yaml``, and everything below it;
  * local chart repositories: a directory holding ``index.yaml`` and at least one ``.tgz``, and
    everything below it;
  * files the ``.extctlignore`` at the manifests root excludes (gitignore syntax, ``ignore.py``).
Any other YAML document must be an extctl manifest: unknown kinds are errors, never skipped (the error
names ``.extctlignore`` as the way to leave a foreign file out). A
selected file that cannot be read, is not UTF-8 or holds characters YAML forbids is an error too
(``files.py``), reported with all the others.

Must not: fetch charts, resolve versions or talk to the cluster.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from controller.errors import ManifestError, PermanentError, ValidationIssue
from controller.manifests.files import check_text, decode_manifest, read_manifest_bytes
from controller.manifests.ignore import IgnoreRules, read_ignore_rules
from controller.manifests.schema import validate_document
from controller.manifests.semantics import SemanticChecker
from controller.manifests.settings_check import check_settings_keys
from controller.manifests.yaml_source import FieldPath, SourceDocument, read_documents
from controller.models.manifests import Kind, ManifestSet

MANIFEST_SUFFIXES = (".yaml", ".yml")
CHART_MARKER = "Chart.yaml"
REPOSITORY_INDEX = "index.yaml"
REPOSITORY_ARCHIVE_SUFFIX = ".tgz"
_ABNORMAL = re.compile(r"^/|//|(^|/)\.\.?(/|$)|/$")  # not as PurePosixPath(path).as_posix() would write it


def select_manifest_files(paths: Iterable[str], ignore: IgnoreRules | None = None) -> list[str]:
    """Pick the manifest files among relative POSIX ``paths`` (all files of a tree), sorted, leaving out
    those ``ignore`` (the rules of a ``.extctlignore``) excludes.

    Pure: the Git source can apply the same rule to a commit's file list. String operations on normalised
    paths (what ``PurePosixPath`` would give): 1000 files in a few milliseconds."""
    split: list[tuple[str, str, str]] = []
    files_by_directory: dict[str, set[str]] = {}
    for raw in paths:
        path = PurePosixPath(raw).as_posix() if _ABNORMAL.search(raw) else raw
        parent, _, name = path.rpartition("/")
        files_by_directory.setdefault(parent, set()).add(name)
        split.append((path, parent, name))
    excluded = {
        directory
        for directory, names in files_by_directory.items()
        if CHART_MARKER in names
        or (REPOSITORY_INDEX in names and any(name.endswith(REPOSITORY_ARCHIVE_SUFFIX) for name in names))
    }
    selected = []
    for path, parent, name in split:
        if not name.endswith(MANIFEST_SUFFIXES) or name.startswith(".") or path.startswith(".") or "/." in path:
            continue  # not YAML, or hidden (the file or a directory above it)
        directory, inside = parent, False
        while not inside:
            inside = directory in excluded
            if not directory:
                break
            directory = directory.rpartition("/")[0]
        if not inside and not (ignore is not None and ignore.ignores(path)):
            selected.append(path)
    return sorted(selected)


# What a cached document keeps besides its data: the models built from it record this position.
KEPT_PATHS: tuple[FieldPath, ...] = (("metadata", "name"),)


@dataclass(frozen=True)
class FileResult:
    """One file's contribution before the cross-file checks: its schema-valid documents by kind, its
    issues (reading, syntax, schema) and the names of its broken documents."""

    documents: tuple[tuple[Kind, SourceDocument], ...] = ()
    issues: tuple[ValidationIssue, ...] = ()
    invalid_names: tuple[tuple[Kind, str], ...] = ()
    unreadable: bool = False
    warnings: tuple[ValidationIssue, ...] = ()

    def light(self) -> FileResult:
        return replace(self, documents=tuple((kind, d.light(KEPT_PATHS)) for kind, d in self.documents))


class FileMemo:
    """The results of files that validated on their own, keyed by path and content digest (SHA-256), so
    a running controller never parses an unchanged file twice (``cache.py`` keeps them on disk too).
    Entries are light documents (plain data, no node tree); only files without issues are kept, and
    ``parse_documents`` drops the entries of files no longer in the tree; with ``prune`` False (a preview holds
    two trees, base and head) it only notes the files it saw, and the owner calls ``drop_unseen``."""

    def __init__(self, entries: Mapping[tuple[str, bytes], FileResult] | None = None, *, prune: bool = True) -> None:
        self.entries: dict[tuple[str, bytes], FileResult] = dict(entries or {})
        self.parsed = 0  # files parsed by the last parse_documents, and files answered from here
        self.reused = 0
        self.changed = False  # entries added or dropped since the owner last stored them
        self.prune = prune
        self.seen: set[tuple[str, bytes]] = set()  # the files of the trees parsed since the last drop_unseen

    def drop_unseen(self) -> None:
        """Forget the entries of files that no parse since the last call had."""
        stale = self.entries.keys() - self.seen
        for key in stale:
            del self.entries[key]
        self.changed = self.changed or bool(stale)
        self.seen = set()


def check_file(file: str, content: str | bytes, *, fast: bool = True) -> FileResult:
    """Decode, parse and schema-validate one file (no cross-file checks)."""
    text = decode_manifest(file, content) if isinstance(content, bytes) else check_text(file, content)
    if isinstance(text, ValidationIssue):
        return FileResult(issues=(text,), unreadable=True)
    documents, syntax_issues = read_documents(file, text, fast=fast)
    found = list(syntax_issues)
    valid: list[tuple[Kind, SourceDocument]] = []
    invalid: list[tuple[Kind, str]] = []
    warnings: list[ValidationIssue] = []
    for document in documents:
        kind, schema_issues = validate_document(document)
        if kind is not None and not schema_issues:
            schema_issues, found_warnings = check_settings_keys(kind, document)
            warnings.extend(found_warnings)
        if schema_issues:
            found.extend(schema_issues)
            # Remember the broken document's name so references to it are not reported again.
            invalid.extend((affected, _name_of(document)) for affected in ([kind] if kind is not None else list(Kind)))
        elif kind is not None:
            valid.append((kind, document))
    return FileResult(tuple(valid), tuple(found), tuple(invalid), unreadable=bool(syntax_issues),
                      warnings=tuple(warnings))


def parse_documents(files: Mapping[str, str | bytes], *, issues: Iterable[ValidationIssue] = (),
                    fast: bool = True, memo: FileMemo | None = None) -> ManifestSet:
    """Validate manifest files (relative path -> text, or raw bytes decoded here as UTF-8) into a
    ``ManifestSet``. ``issues`` are problems found while reading the files, reported with the rest.

    Raises ``ManifestError`` carrying every issue (reading, syntax, schema and semantic), sorted by location.
    Files are parsed by libyaml's C parser where it can (``clib.py``); a revision with any issue is parsed
    again by ruamel's pure-Python parser alone, whose positions every error message has always used.
    ``memo``: answer unchanged files from it and add the files that validated (see ``FileMemo``)."""
    issues = tuple(issues)
    found: list[ValidationIssue] = list(issues)
    by_kind: dict[Kind, list[SourceDocument]] = {kind: [] for kind in Kind}
    invalid_names: dict[Kind, set[str]] = {kind: set() for kind in Kind}
    unreadable = bool(found)  # a file that could not be read, decoded or parsed
    warnings: list[ValidationIssue] = []
    used = memo if fast else None  # the pure-Python parse of a revision with issues neither reads nor adds
    if used is not None:
        used.parsed = used.reused = 0
        if used.prune:
            used.seen = set()
    for file in sorted(files):
        content = files[file]
        result = key = None
        if used is not None:
            key = (file, hashlib.sha256(content if isinstance(content, bytes) else content.encode()).digest())
            used.seen.add(key)
            result = used.entries.get(key)
            used.reused += result is not None
        if result is None:
            result = check_file(file, content, fast=fast)
            if used is not None and key is not None:
                used.parsed += 1
                if not result.issues:
                    used.entries[key] = result.light()
                    used.changed = True
        found.extend(result.issues)
        warnings.extend(result.warnings)
        unreadable = unreadable or result.unreadable
        for kind, document in result.documents:
            by_kind[kind].append(document)
        for kind, name in result.invalid_names:
            invalid_names[kind].add(name)
    if used is not None and used.prune:
        used.drop_unseen()
    checker = SemanticChecker(
        invalid_type_names=invalid_names[Kind.EXTENSION_TYPE],
        invalid_extension_names=invalid_names[Kind.EXTENSION],
        # A file that cannot be read or parsed may define the very names others refer to: report that,
        # not a cascade of "unknown extension/type" errors.
        check_references=not unreadable,
        invalid_cluster_names=invalid_names[Kind.CLUSTER],
    )
    manifest_set = checker.check(by_kind[Kind.EXTENSION_TYPE], by_kind[Kind.EXTENSION], by_kind[Kind.CLUSTER])
    found.extend(checker.issues)
    if found and fast:
        return parse_documents(files, issues=issues, fast=False)
    if found:
        unique = set(found)
        raise ManifestError(sorted(unique, key=_by_location))
    return replace(manifest_set, warnings=tuple(sorted(warnings, key=_by_location)))


def _by_location(issue: ValidationIssue) -> tuple[str, int, int, str, str]:
    return issue.location.file, issue.location.line, issue.location.column, issue.field, issue.message


def read_manifest_files(root: Path, subpath: str | None = None, *, ignore: IgnoreRules | None = None,
                        ) -> tuple[dict[str, bytes], list[ValidationIssue]]:
    """The raw bytes of the manifest files under ``root`` (or ``root/subpath``), keyed by path relative to
    ``root``, and an issue for each selected file that could not be read (permission, vanished, …).
    ``ignore``: the rules to apply; by default those of the ``.extctlignore`` in ``root/subpath``."""
    base = root / subpath if subpath else root
    if not base.is_dir():
        raise PermanentError(f"{base} is not a directory", reason="SourceNotFound")
    if ignore is None:
        ignore = read_ignore_rules(root, subpath)
    # Everything but real directories: a symbolic link named *.yaml is read (and reported if it is broken).
    # Hidden directories are not entered: nothing under them is a manifest (select_manifest_files).
    relative_paths: list[str] = []
    for directory, subdirectories, names in os.walk(base, followlinks=False):
        prefix = os.path.relpath(directory, root).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        links = [d for d in subdirectories if os.path.islink(os.path.join(directory, d))]
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".") and d not in links]
        relative_paths.extend(prefix + name for name in [*names, *links])
    files: dict[str, bytes] = {}
    issues: list[ValidationIssue] = []
    for relative in select_manifest_files(relative_paths, ignore):
        data = read_manifest_bytes(root, relative)
        if isinstance(data, ValidationIssue):
            issues.append(data)
        else:
            files[relative] = data
    return files, issues


def load_directory(root: Path, subpath: str | None = None) -> ManifestSet:
    """Load and validate every manifest under ``root`` (or ``root/subpath``); paths in errors are
    relative to ``root``. Raises ``ManifestError`` with all issues."""
    files, issues = read_manifest_files(root, subpath)
    return parse_documents(files, issues=issues)


def _name_of(document: SourceDocument) -> str:
    metadata = document.data.get("metadata") if isinstance(document.data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""
