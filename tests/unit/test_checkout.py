"""A fresh clone is one ``make setup`` can set up: nothing it creates is tracked in Git.

``make setup`` creates ``.venv/`` and ``.tools/``. A worktree that links them to another checkout's (the
developers' usual setup) once committed the links: a clone then had ``.venv`` pointing at a path that
does not exist there, and a fast-forward merge replaced a checkout's real venv by a link to itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CREATED_BY_SETUP = (".venv", ".tools", ".demo", ".sandbox")


def test_nothing_make_setup_creates_is_tracked() -> None:
    git = shutil.which("git")
    assert git is not None, "git is needed to list the tracked files"
    tracked = subprocess.run([git, "-C", str(ROOT), "ls-files", "--", *CREATED_BY_SETUP], capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked == [], f"tracked but created by make setup (git rm --cached them): {tracked}"


def test_gitignore_ignores_them_as_directories_and_as_links() -> None:
    # ``.venv/`` matches a directory only; a worktree's ``.venv`` symlink needs the pattern without the slash.
    patterns = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert {".venv", ".tools"} <= patterns
