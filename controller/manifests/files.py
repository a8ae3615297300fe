"""Manifest files as text: reading them from disk and decoding their bytes, every failure a located issue.

Owns: reading one selected file under a root (unreadable, a directory, vanished, not a regular file),
decoding bytes as UTF-8 (an optional byte-order mark allowed), and finding characters YAML does not
allow (NUL and other control characters) with their line and column. Each failure is a
``ValidationIssue`` on field ``<document>`` that says what was expected and how to fix it, so a broken
file rejects the revision like a YAML syntax error does.
Must not: parse YAML, choose which files are manifests, or follow anything but the given path.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from pathlib import Path

from controller.errors import Location, ValidationIssue

# YAML 1.2 c-printable (the set ruamel.yaml accepts); everything else is refused by the YAML reader.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BOM = "\ufeff"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def file_issue(file: str, message: str, line: int = 1, column: int = 1) -> ValidationIssue:
    """An issue about the file as a whole (field ``<document>``)."""
    return ValidationIssue(Location(file, line, column), "", message)


def read_manifest_bytes(root: Path, relative: str) -> bytes | ValidationIssue:
    """The bytes of ``root/relative``, or an issue saying why they cannot be read.

    Opened without blocking and checked to be a regular file, so a FIFO or device named ``*.yaml``
    never hangs the loader."""
    path = root / relative
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return file_issue(relative, _os_problem(exc, dangling=path.is_symlink()))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            return file_issue(relative, "expected a file, found a directory (through a symbolic link); "
                                        "rename it or remove the link")
        if not stat.S_ISREG(mode):
            return file_issue(relative, "expected a regular file, found a special file (FIFO, socket or "
                                        "device); remove it or rename it so it does not end in .yaml/.yml")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        return file_issue(relative, _os_problem(exc, dangling=False))
    finally:
        os.close(fd)
    if len(data) > MAX_MANIFEST_BYTES:
        return file_issue(relative, f"file is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB; "
                                    "a manifest is a few kilobytes: split it or remove what is not a manifest")
    return data


def _os_problem(exc: OSError, *, dangling: bool) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot read the file: permission denied; make it readable by the user extctl runs as"
    if exc.errno == errno.ENOENT and dangling:
        return "cannot read the file: it is a symbolic link to a missing file; fix or remove the link"
    if exc.errno == errno.ENOENT:
        return ("cannot read the file: it vanished while the revision was being read (deleted or renamed "
                "meanwhile); the next reconcile reads the directory again")
    if exc.errno == errno.EISDIR:
        return "expected a file, found a directory; rename it so it does not end in .yaml/.yml"
    if exc.errno == errno.ELOOP:
        return "cannot read the file: too many levels of symbolic links; fix the link"
    reason = exc.strerror or type(exc).__name__
    return f"cannot read the file: {reason}; check the file and the file system it is on"


def decode_manifest(file: str, data: bytes) -> str | ValidationIssue:
    """``data`` as text, or an issue locating the first byte that is not UTF-8 or the first character
    YAML refuses. A UTF-8 byte-order mark at the start is accepted and dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        return file_issue(
            file,
            f"file is not valid UTF-8 at byte {exc.start} (line {line}, column {column}): "
            f"expected UTF-8 text, found byte 0x{data[exc.start]:02X}; save the file as UTF-8",
            line, column,
        )
    return check_text(file, text)


def check_text(file: str, text: str) -> str | ValidationIssue:
    """``text`` without a leading byte-order mark, or an issue at the first character YAML refuses."""
    text = text.removeprefix(_BOM)
    match = _NOT_PRINTABLE.search(text)
    if match is None:
        return text
    position = match.start()
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = match.group()
    name = unicodedata.name(character, "") or _CONTROL_NAMES.get(ord(character), "a control character")
    return file_issue(
        file,
        f"character U+{ord(character):04X} ({name}) is not allowed in YAML (line {line}, column {column}): "
        "expected printable text; remove it (a binary file or a bad copy-paste?)",
        line, column,
    )


_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x0B: "VERTICAL TAB", 0x0C: "FORM FEED",
                  0x1B: "ESCAPE", 0x7F: "DELETE"}
