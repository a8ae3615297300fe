"""Turn a directory (or a set of file contents) into a validated ``ManifestSet``.

Owns: which files are manifests, reading them, and running schema then semantic validation so that
**all** issues of a revision are reported at once, sorted by file and line.

File selection rule (any layout is allowed): every ``*.yaml``/``*.yml`` file under the root is a
manifest, except
  * files under hidden directories and hidden files (``.git/``, ``.github/``, ``.foo.yaml``);
  * Helm chart sources: a directory holding ``Chart.yaml``, and everything below it;
  * local chart repositories: a directory holding ``index.yaml`` and at least one ``.tgz``, and
    everything below it.
Any other YAML document must be an extctl manifest: unknown kinds are errors, never skipped. A
selected file that cannot be read, is not UTF-8 or holds characters YAML forbids is an error too
(``files.py``), reported with all the others.

Must not: fetch charts, resolve versions or talk to the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from controller.errors import ManifestError, PermanentError, ValidationIssue
from controller.manifests.files import check_text, decode_manifest, read_manifest_bytes
from controller.manifests.schema import validate_document
from controller.manifests.semantics import SemanticChecker
from controller.manifests.yaml_source import SourceDocument, read_documents
from controller.models.manifests import Kind, ManifestSet

MANIFEST_SUFFIXES = (".yaml", ".yml")
CHART_MARKER = "Chart.yaml"
REPOSITORY_INDEX = "index.yaml"
REPOSITORY_ARCHIVE_SUFFIX = ".tgz"


def select_manifest_files(paths: Iterable[str]) -> list[str]:
    """Pick the manifest files among relative POSIX ``paths`` (all files of a tree), sorted.

    Pure: the Git source can apply the same rule to a commit's file list."""
    all_paths = [PurePosixPath(path) for path in paths]
    files_by_directory: dict[PurePosixPath, set[str]] = {}
    for path in all_paths:
        files_by_directory.setdefault(path.parent, set()).add(path.name)
    excluded = {
        directory
        for directory, names in files_by_directory.items()
        if CHART_MARKER in names
        or (REPOSITORY_INDEX in names and any(name.endswith(REPOSITORY_ARCHIVE_SUFFIX) for name in names))
    }
    selected = []
    for path in all_paths:
        if path.suffix not in MANIFEST_SUFFIXES:
            continue
        if any(part.startswith(".") for part in path.parts):
            continue
        if any(parent in excluded for parent in [path.parent, *path.parent.parents]):
            continue
        selected.append(path.as_posix())
    return sorted(selected)


def parse_documents(files: Mapping[str, str | bytes], *, issues: Iterable[ValidationIssue] = (),
                    fast: bool = True) -> ManifestSet:
    """Validate manifest files (relative path -> text, or raw bytes decoded here as UTF-8) into a
    ``ManifestSet``. ``issues`` are problems found while reading the files, reported with the rest.

    Raises ``ManifestError`` carrying every issue (reading, syntax, schema and semantic), sorted by location.
    Files are parsed by libyaml's C parser where it can (``clib.py``); a revision with any issue is parsed
    again by ruamel's pure-Python parser alone, whose positions every error message has always used."""
    issues = tuple(issues)
    found: list[ValidationIssue] = list(issues)
    type_documents: list[SourceDocument] = []
    extension_documents: list[SourceDocument] = []
    cluster_documents: list[SourceDocument] = []
    invalid_names: dict[Kind, set[str]] = {kind: set() for kind in Kind}
    unreadable = bool(found)  # a file that could not be read, decoded or parsed
    for file in sorted(files):
        content = files[file]
        text = decode_manifest(file, content) if isinstance(content, bytes) else check_text(file, content)
        if isinstance(text, ValidationIssue):
            found.append(text)
            unreadable = True
            continue
        documents, syntax_issues = read_documents(file, text, fast=fast)
        found.extend(syntax_issues)
        unreadable = unreadable or bool(syntax_issues)
        for document in documents:
            kind, schema_issues = validate_document(document)
            if schema_issues:
                found.extend(schema_issues)
                # Remember the broken document's name so references to it are not reported again.
                for affected in [kind] if kind is not None else list(Kind):
                    invalid_names[affected].add(_name_of(document))
            elif kind is Kind.EXTENSION_TYPE:
                type_documents.append(document)
            elif kind is Kind.EXTENSION:
                extension_documents.append(document)
            elif kind is Kind.CLUSTER:
                cluster_documents.append(document)
    checker = SemanticChecker(
        invalid_type_names=invalid_names[Kind.EXTENSION_TYPE],
        invalid_extension_names=invalid_names[Kind.EXTENSION],
        # A file that cannot be read or parsed may define the very names others refer to: report that,
        # not a cascade of "unknown extension/type" errors.
        check_references=not unreadable,
        invalid_cluster_names=invalid_names[Kind.CLUSTER],
    )
    manifest_set = checker.check(type_documents, extension_documents, cluster_documents)
    found.extend(checker.issues)
    if found and fast:
        return parse_documents(files, issues=issues, fast=False)
    if found:
        unique = set(found)
        raise ManifestError(
            sorted(unique, key=lambda i: (i.location.file, i.location.line, i.location.column, i.field, i.message))
        )
    return manifest_set


def read_manifest_files(root: Path, subpath: str | None = None) -> tuple[dict[str, bytes], list[ValidationIssue]]:
    """The raw bytes of the manifest files under ``root`` (or ``root/subpath``), keyed by path relative to
    ``root``, and an issue for each selected file that could not be read (permission, vanished, …)."""
    base = root / subpath if subpath else root
    if not base.is_dir():
        raise PermanentError(f"{base} is not a directory", reason="SourceNotFound")
    # Everything but real directories: a symbolic link named *.yaml is read (and reported if it is broken).
    relative_paths = [path.relative_to(root).as_posix() for path in base.rglob("*")
                      if path.is_symlink() or not path.is_dir()]
    files: dict[str, bytes] = {}
    issues: list[ValidationIssue] = []
    for relative in select_manifest_files(relative_paths):
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
