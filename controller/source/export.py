"""A materialised tree of one Git ref, for code that needs real files (local chart repositories).

Owns: ``export_ref``, which writes the files of a branch, tag or sha (all, or only those under given
directories) into a directory from a ``git archive`` of it (``controller.source.gitrefs.archive_at_ref``:
the same ``<key>-refs`` cache as ``files_at_ref``, so a ref a preview already read is not fetched again).
Must not: check out into or modify the source repository or its cache's working tree, follow
symlinks out of ``dest``, or let a credential reach a message.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from controller.errors import SourceError
from controller.source.auth import GitAuth
from controller.source.gitrefs import archive_at_ref


def export_ref(
    location: str,
    ref: str,
    *,
    cache_dir: Path,
    dest: Path,
    auth: GitAuth | None = None,
    only: Iterable[str] | None = None,
) -> str:
    """Write the tree at ``ref`` into ``dest`` (created; must not exist or be empty).

    ``only``: directories relative to the tree's root (``charts``, ``./charts/``); when given, only the
    files under them are written (a preview needs its local chart repositories, not 1000 manifests: 2.3 s
    of a 1000-extension preview went to writing them, bench/README.md P4). A directory the tree lacks
    writes nothing, so its reader reports it missing; ``.`` or an empty string means the whole tree.
    Returns the revision string (``"<ref>@sha1:<hex>"``) exactly like ``files_at_ref``. Only regular
    files and directories are written; tarfile's ``data`` filter refuses entries outside ``dest``.
    A ``dest`` that cannot be written is a ``SourceError``.
    """
    revision, archive_bytes = archive_at_ref(location, ref, cache_dir=cache_dir, auth=auth)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:") as archive:
            wanted = _prefixes(only)
            members = [m for m in archive.getmembers()
                       if (m.isfile() or m.isdir()) and (wanted is None or _under(m.name, wanted))]
            archive.extractall(dest, members=members, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise SourceError(
            f"cannot write the files of {revision} into {dest}: {exc}",
            reason="ExportFailed",
            hint="check free disk space and that the directory is writable",
        ) from exc
    return revision


def _prefixes(only: Iterable[str] | None) -> tuple[str, ...] | None:
    """Normalised directory prefixes (``./charts/`` → ``charts``); None: everything."""
    if only is None:
        return None
    prefixes = tuple(PurePosixPath(d).as_posix() for d in only)
    return None if any(p in ("", ".") for p in prefixes) else prefixes


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    path = PurePosixPath(name).as_posix()
    return any(path == p or path.startswith(p + "/") for p in prefixes)
