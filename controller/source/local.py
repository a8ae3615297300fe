"""Local-directory sources: a working tree used as it is, with no Git involved.

Owns: ``LocalSource`` (revision ``local@sha256:<digest>`` over the sorted relative paths and contents
of every ``*.yaml``/``*.yml``/``*.tgz`` and ``.extctlignore`` file under the directory, skipping dot-directories such as
``.git``; an unreadable file is a ``SourceError``), and ``watch_local`` / ``awatch_local``, which
yield the set of changed manifest paths (debounced, via watchfiles) so ``extctl run`` can reconcile as
soon as a manifest changes.
Must not: import gitpython, write into the directory, or sleep to wait for changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import watchfiles

from controller.errors import SourceError, SourcePathNotFound
from controller.models.manifests import IGNORE_FILE
from controller.source.snapshot import Snapshot

CONTENT_SUFFIXES = (".yaml", ".yml", ".tgz")
DEFAULT_DEBOUNCE_MS = 300


class _StopEvent(Protocol):
    def is_set(self) -> bool: ...


def resolve_subpath(repo_root: Path, path: str | None) -> Path:
    """``repo_root / path``, refusing absolute paths and ``..`` escapes (raises ``SourcePathNotFound``)."""
    if not path or path in (".", "/"):
        return repo_root
    rel = Path(path.strip("/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise SourcePathNotFound(
            f"--path {path!r} must be a relative directory inside the source", hint="use e.g. --path clusters/prod"
        )
    return repo_root / rel


def _is_content(name: str) -> bool:
    return name.endswith(CONTENT_SUFFIXES) or os.path.basename(name) == IGNORE_FILE


def content_files(repo_root: Path, root: Path | None = None) -> list[Path]:
    """Sorted content files under ``repo_root`` and under ``root`` (which may itself sit in a dot-directory).

    Dot-directories (``.git``, ``.github``, ...) below either starting point are skipped."""
    found: set[Path] = set()
    for top in {repo_root, root or repo_root}:
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if _is_content(name):
                    found.add(Path(dirpath, name))
    return sorted(found, key=lambda p: p.relative_to(repo_root).as_posix())


def directory_digest(repo_root: Path, root: Path | None = None) -> str:
    """sha256 over (relative path, size, content) of every content file, in sorted path order."""
    digest = hashlib.sha256()
    for file in content_files(repo_root, root):
        try:
            data = file.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed while we walked (editor swap files); the next pass sees the final state
        rel = file.relative_to(repo_root).as_posix().encode()
        digest.update(b"%d:%s\0%d\0" % (len(rel), rel, len(data)))
        digest.update(data)
    return digest.hexdigest()


class LocalSource:
    """A directory on disk; ``fetch()`` re-hashes it and never modifies it."""

    def __init__(self, directory: Path, *, path: str | None = None) -> None:
        self.directory = directory.resolve()
        self.path = path

    def describe(self) -> str:
        suffix = f" (path {self.path})" if self.path else ""
        return f"directory {self.directory}{suffix}"

    def fetch(self, *, digest: bool = True) -> Snapshot:
        """``digest=False``: the same checks, without hashing the tree (revision ``local``), for commands
        that only read the manifests once."""
        try:
            if not self.directory.is_dir():
                raise SourcePathNotFound(
                    f"source directory {self.directory} does not exist or is not a directory",
                    hint="pass an existing directory or a Git URL to --source",
                )
            root = resolve_subpath(self.directory, self.path)
            if not root.is_dir():
                raise SourcePathNotFound(
                    f"--path {self.path!r} is not a directory under {self.directory}",
                    hint="check --path against the directory layout",
                )
            revision = f"local@sha256:{directory_digest(self.directory, root)}" if digest else "local"
        except OSError as exc:  # e.g. a manifest extctl's user may not read
            raise SourceError(
                f"cannot read {exc.filename or self.directory}: {exc.strerror}",
                hint="check that extctl's user can read the source directory",
            ) from exc
        return Snapshot(revision=revision, root=root, repo_root=self.directory, commit=None)


class ManifestFilter(watchfiles.DefaultFilter):
    """watchfiles filter: manifest and chart files only, nothing under dot-directories."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = str(directory.resolve())

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if not _is_content(path):
            return False
        rel = os.path.relpath(path, self.directory)
        if any(part.startswith(".") for part in Path(rel).parts[:-1]):
            return False
        return bool(super().__call__(change, path))


def _changed_paths(changes: set[tuple[Any, str]]) -> set[str]:
    return {path for _change, path in changes}


def watch_local(
    directory: Path, stop_event: _StopEvent, *, debounce_ms: int = DEFAULT_DEBOUNCE_MS
) -> Iterator[set[str]]:
    """Yield the set of changed manifest paths under ``directory`` until ``stop_event`` is set.

    Changes within ``debounce_ms`` of each other arrive as one set. Blocks between changes; the
    watcher checks ``stop_event`` every few tens of milliseconds.
    """
    for changes in watchfiles.watch(
        directory,
        watch_filter=ManifestFilter(directory),
        debounce=debounce_ms,
        step=50,
        stop_event=stop_event,
        yield_on_timeout=False,
        raise_interrupt=False,
    ):
        paths = _changed_paths(changes)
        if paths:
            yield paths


async def awatch_local(
    directory: Path, stop_event: Any, *, debounce_ms: int = DEFAULT_DEBOUNCE_MS
) -> AsyncIterator[set[str]]:
    """Async variant of ``watch_local``; ``stop_event`` is an ``asyncio.Event`` (or anything watchfiles accepts)."""
    async for changes in watchfiles.awatch(
        directory, watch_filter=ManifestFilter(directory), debounce=debounce_ms, step=50, stop_event=stop_event
    ):
        paths = _changed_paths(changes)
        if paths:
            yield paths
