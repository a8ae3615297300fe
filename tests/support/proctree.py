"""Watch what the children of a process can be seen to hold: ``/proc/<pid>/cmdline`` and ``environ``.

Owns: ``ProcessTreeSampler``, a thread that walks the process tree below one pid as fast as it can
(``/proc/<pid>/task/<tid>/children``) until the root exits, and records the command line and the
environment of every descendant it catches, as anyone on the host with the same uid could.
A descendant still showing the root's own command line is a fork that has not exec'd yet (it holds the
root's memory, not a child's environment) and is not recorded.
Owns too: ``files_containing``, the scan for secrets in files left behind under a directory.
Must not: signal or otherwise touch the processes, or sleep as a way to synchronise (the loop ends
when the root has exited, or at a deadline; between rounds it yields the GIL for 1 ms).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ChildSample:
    """One descendant as seen once: its argv and its environment block (raw ``NAME=value`` entries)."""

    pid: int
    argv: tuple[str, ...]
    environ: tuple[bytes, ...]

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    @property
    def variable_names(self) -> set[str]:
        return {entry.split(b"=", 1)[0].decode(errors="replace") for entry in self.environ if entry}

    def holds(self, needle: str) -> bool:
        data = needle.encode()
        return any(data in arg.encode() for arg in self.argv) or any(data in entry for entry in self.environ)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # gone, or not readable
        return None


def children(pid: int) -> list[int]:
    """Direct children of every thread of ``pid`` (a thread that forks is the child's parent task)."""
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        raw = _read(task / "children")
        if raw:
            found += [int(p) for p in raw.split()]
    return found


def descendants(pid: int) -> list[int]:
    result: list[int] = []
    stack = children(pid)
    while stack:
        child = stack.pop()
        result.append(child)
        stack += children(child)
    return result


class ProcessTreeSampler:
    """``with ProcessTreeSampler(process) as sampler: process.wait()`` -- then read ``sampler.samples``."""

    def __init__(self, process: subprocess.Popen[bytes], *, timeout: float = 120) -> None:
        self.process = process
        self.timeout = timeout
        self.samples: list[ChildSample] = []
        self.rounds = 0
        self._seen: set[tuple[int, bytes]] = set()
        self._root_argv = b""  # read in the loop: right after exec it can still be empty
        self._thread = threading.Thread(target=self._loop, name="proc-sampler", daemon=True)

    def __enter__(self) -> ProcessTreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=self.timeout)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.timeout
        pause = threading.Event()  # never set: a 1 ms pause per round lets the test's own servers run
        while self.process.poll() is None and time.monotonic() < deadline:
            self.rounds += 1
            if not self._root_argv:
                self._root_argv = _read(PROC / str(self.process.pid) / "cmdline") or b""
            for pid in descendants(self.process.pid) if self._root_argv else ():
                self._sample(pid)
            pause.wait(0.001)

    def _sample(self, pid: int) -> None:
        base = PROC / str(pid)
        cmdline = _read(base / "cmdline")
        if not cmdline or cmdline == self._root_argv:
            return  # gone, a zombie, or a fork of the root that has not exec'd yet
        environ = _read(base / "environ")
        if environ is None:
            return
        if _read(base / "cmdline") != cmdline:
            return  # exec'd between the two reads: caught on the next round
        key = (pid, cmdline)
        if key in self._seen:
            return
        self._seen.add(key)
        argv = tuple(a.decode(errors="replace") for a in cmdline.split(b"\0") if a)
        self.samples.append(ChildSample(pid, argv, tuple(e for e in environ.split(b"\0") if e)))

    def programs(self) -> set[str]:
        return {s.program for s in self.samples}


def files_containing(root: Path, needles: list[str]) -> list[str]:
    """``path: needle`` for every regular file under ``root`` that contains one of ``needles``."""
    found: list[str] = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found
