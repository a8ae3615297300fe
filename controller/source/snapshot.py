"""The value a source hands to the rest of extctl: one revision of the manifests on disk.

Owns: ``Snapshot`` (revision string, manifest root, checkout root, commit) and the ``Source`` protocol.
Must not: import gitpython or know how a snapshot was produced; consumers only read files under
``root`` / ``repo_root``. A snapshot's directories stay valid until the next ``fetch()`` of the same
source (the Git checkout is updated in place, only after a successful fetch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Snapshot:
    """One readable revision of the source.

    ``revision`` is ``"<branch>@sha1:<40 hex>"`` for Git and ``"local@sha256:<hex>"`` for a directory.
    ``root`` holds the manifests (already joined with ``--path``); ``repo_root`` is the checkout (or
    directory) root that local chart repositories are relative to. ``commit`` is the full sha1 (None
    for a directory). ``history_rewritten`` is True when the previously checked-out commit is not an
    ancestor of this one (force-push); ``previous_commit`` is that earlier commit, if any.
    """

    revision: str
    root: Path
    repo_root: Path
    commit: str | None
    history_rewritten: bool = False
    previous_commit: str | None = None
    branch: str | None = None


class Source(Protocol):
    """Something that can produce the current ``Snapshot`` of the manifests."""

    def fetch(self) -> Snapshot:
        """Bring the source up to date; raises ``SourceError`` (or a subclass) on failure."""
        ...

    def describe(self) -> str:
        """A credential-free, human-readable description (URL without userinfo, branch, path)."""
        ...
