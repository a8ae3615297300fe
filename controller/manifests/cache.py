"""A disk cache of validated manifest sets, so a fresh process does not re-parse an unchanged tree.

Owns: ``ParseCache``: the key (every selected manifest file's path and content digest, plus a digest of
the loader's own source code, so a new extctl never reads an old entry), reading and writing entries
under ``<cache-dir>/manifests/`` (directory 0700, files 0600, written to a temporary file and renamed),
and keeping only the newest ``KEEP`` entries. Only a tree that validated is cached: a tree with issues is
parsed again on every load, so its errors are always reported in full.

Parsing and validating YAML is the slowest step of a steady-state pass (about 1.4 ms per file, see
bench/README.md); loading an entry takes a few milliseconds for 1000 manifests.

Must not: cache anything but a validated ``ManifestSet``, fail a load because the cache is unusable
(an unreadable, corrupt or unwritable entry is a miss), or write anywhere but the configured
directory. The entries are pickles: the cache directory must be
private to extctl, like the chart cache beside it (whose archives helm installs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from controller.manifests.loader import parse_documents, read_manifest_files
from controller.models.manifests import ManifestSet

KEEP = 8  # entries: the current tree, and a few earlier ones a branch switch or revert may return to
_FORMAT = b"extctl-manifests-v1"


def _code_digest() -> bytes:
    """A digest of the code that turns files into a ManifestSet: a changed rule invalidates every entry."""
    digest = hashlib.sha256(_FORMAT)
    here = Path(__file__).resolve().parent
    sources = [*sorted(here.glob("*.py")), here.parent / "models" / "manifests.py"]
    for source in sources:
        with contextlib.suppress(OSError):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.digest()


class ParseCache:
    """``load(root)`` = ``load_directory(root)``, answered from disk when the same files validated before."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._code = _code_digest() if directory is not None else b""
        self.hits = 0

    def load(self, root: Path, subpath: str | None = None) -> ManifestSet:
        files, issues = read_manifest_files(root, subpath)
        if self.directory is None or issues:
            return parse_documents(files, issues=issues)
        key = self._key(files)
        entry = self.directory / f"{key}.pickle"
        cached = self._read(entry)
        if cached is not None:
            self.hits += 1
            return cached
        manifests = parse_documents(files)
        self._write(entry, manifests)
        return manifests

    def _key(self, files: dict[str, bytes]) -> str:
        digest = hashlib.sha256(self._code)
        for path in sorted(files):
            digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(hashlib.sha256(files[path]).digest())
        return digest.hexdigest()

    def _read(self, entry: Path) -> ManifestSet | None:
        try:
            data = entry.read_bytes()
            value = pickle.loads(data)  # noqa: S301 - see the module docstring: extctl's own private entries
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, never a failed pass
            with contextlib.suppress(OSError):
                entry.unlink()
            return None
        if not isinstance(value, ManifestSet):
            return None
        with contextlib.suppress(OSError):
            os.utime(entry)  # most recently used: kept by _prune
        return value

    def _write(self, entry: Path, manifests: ManifestSet) -> None:
        directory = entry.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, scratch = tempfile.mkstemp(prefix=".entry-", dir=directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    pickle.dump(manifests, out, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(scratch, entry)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(scratch)
            self._prune(directory)
        except (OSError, pickle.PicklingError):
            return  # an unwritable cache only costs the next fresh process a parse

    @staticmethod
    def _prune(directory: Path) -> None:
        aged: list[tuple[float, Path]] = []
        for path in directory.glob("*.pickle"):
            with contextlib.suppress(OSError):
                aged.append((path.stat().st_mtime, path))
        for _, stale in sorted(aged, reverse=True)[KEEP:]:
            with contextlib.suppress(OSError):
                stale.unlink()
