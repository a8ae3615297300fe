"""Caches of parsed manifests, so neither a fresh process nor a running controller parses an unchanged file.

Owns: ``ParseCache``: (1) whole trees on disk: the validated ``ManifestSet`` keyed by every selected
manifest file's path and content digest, the ``.extctlignore`` rules and a digest of the loader's own
source code (a new extctl never reads an old entry), under ``<cache-dir>/manifests/`` (directory 0700,
files 0600, written to a temporary file and renamed), the newest ``KEEP`` kept; (2) single files: a
``FileMemo`` of every file that validated on its own (light documents keyed by path and content digest,
only the current tree's files), in memory for the life of the process and in one store file beside the
tree entries (``FILE_STORE``), so a one-file change re-parses one file (bench/README.md, P7); ``parse_files``
serves files read elsewhere (``preview``'s, at Git refs, with a store of its own) through that memo. Only what
validated is cached: a tree or file with issues is parsed again on every load, so its errors are always
reported in full.

Parsing and validating YAML is the slowest step of a pass (about 0.5 ms per file with libyaml, 1.5-2.5 ms
without); a tree entry loads in about 10 ms for 1000 manifests, the file store in about 30 ms.

Must not: cache anything that did not validate, fail a load because the cache is unusable (an
unreadable, corrupt or unwritable entry is a miss), or write anywhere but the configured directory. The
entries are pickles: the cache directory must be private to extctl, like the chart cache beside it
(whose archives helm installs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path

from controller.manifests.ignore import IgnoreRules, read_ignore_rules
from controller.manifests.loader import FileMemo, parse_documents, read_manifest_files
from controller.models.manifests import ManifestSet

KEEP = 8  # entries: the current tree, and a few earlier ones a branch switch or revert may return to
FILE_STORE = "files.store"  # the per-file memo (a pickle too; not counted among the KEEP tree entries)
_FORMAT = b"extctl-manifests-v2"


def _code_digest() -> bytes:
    """A digest of the code that turns files into a ManifestSet: a changed rule invalidates every entry."""
    digest = hashlib.sha256(_FORMAT)
    here = Path(__file__).resolve().parent
    sources = [*sorted(here.glob("*.py")), here.parent / "models" / "manifests.py",
               here.parent / "models" / "settings_keys.py", here.parent / "yaml_c.py"]
    for source in sources:
        with contextlib.suppress(OSError):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.digest()


class ParseCache:
    """``load(root)`` = ``load_directory(root)``, answered from disk when the same files validated before,
    and from the per-file memo for the files that did not change. ``directory=None``: memory only."""

    def __init__(self, directory: Path | None, *, store: str = FILE_STORE, prune: bool = True) -> None:
        self.directory = directory
        self.store = store  # the per-file store's name: ``preview`` keeps its own, so it never evicts ``run``'s
        self._code = _code_digest() if directory is not None else b""
        self.hits = 0  # loads answered by a whole-tree entry
        self.last: dict[str, object] = {}  # the last load: files, parsed, reused, tree_cache (the engine logs it)
        self.memo = FileMemo(prune=prune)  # False: keep every tree parsed until ``save`` (preview's base and head)
        self._store_read = directory is None

    def load(self, root: Path, subpath: str | None = None) -> ManifestSet:
        ignore = read_ignore_rules(root, subpath)
        files, issues = read_manifest_files(root, subpath, ignore=ignore)
        if issues:
            return parse_documents(files, issues=issues)
        entry = self.directory / f"{self._key(files, ignore)}.pickle" if self.directory is not None else None
        cached = self._read(entry) if entry is not None else None
        if isinstance(cached, ManifestSet):
            self.hits += 1
            self._note(len(files), parsed=0, tree="hit")
            return cached
        manifests = self.parse_files(files)
        self._note(len(files), parsed=self.memo.parsed, tree="miss" if entry is not None else "off")
        if entry is not None:
            self._write(entry, manifests)
            self.save()
        return manifests

    def parse_files(self, files: Mapping[str, str | bytes]) -> ManifestSet:
        """``parse_documents(files)`` through the per-file memo, filled from the store on first use: for files
        read from elsewhere (``preview`` reads them at Git refs). ``save()`` writes the memo back."""
        if not self._store_read:
            self._store_read = True
            stored = self._read(self.directory / self.store) if self.directory is not None else None
            if isinstance(stored, dict):
                self.memo.entries.update(stored)
        return parse_documents(files, memo=self.memo)

    def save(self) -> None:
        """Write the per-file memo to its store if it changed (nothing without a directory)."""
        if not self.memo.prune:
            self.memo.drop_unseen()
        if self.directory is not None and self.memo.changed:
            self._write(self.directory / self.store, self.memo.entries)
            self.memo.changed = False

    def _note(self, files: int, *, parsed: int, tree: str) -> None:
        self.last = {"files": files, "parsed": parsed, "reused": files - parsed, "tree_cache": tree}

    def _key(self, files: dict[str, bytes], ignore: IgnoreRules) -> str:
        digest = hashlib.sha256(self._code + ignore.digest)
        for path in sorted(files):
            digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(hashlib.sha256(files[path]).digest())
        return digest.hexdigest()

    def _read(self, entry: Path) -> object:
        try:
            data = entry.read_bytes()
            value = pickle.loads(data)  # noqa: S301 - see the module docstring: extctl's own private entries
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, never a failed pass
            with contextlib.suppress(OSError):
                entry.unlink()
            return None
        if not isinstance(value, tuple) or len(value) != 2 or value[0] != self._code:
            return None  # written by another version of the loader
        with contextlib.suppress(OSError):
            os.utime(entry)  # most recently used: kept by _prune
        return value[1]

    def _write(self, entry: Path, value: object) -> None:
        directory = entry.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, scratch = tempfile.mkstemp(prefix=".entry-", dir=directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    pickle.dump((self._code, value), out, protocol=pickle.HIGHEST_PROTOCOL)
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
