"""The ``golden`` fixture: ``--update-goldens`` (registered in tests/conftest.py) rewrites golden files.

Goldens are never rewritten implicitly: without the flag (or ``EXTCTL_UPDATE_GOLDENS=1``) a mismatch
fails with a unified diff. After regenerating, read the diff of the golden files before committing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


GoldenCheck = Callable[[str, str], None]


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> GoldenCheck:
    """``golden(relative_path, text)``: compare ``text`` with the stored golden (or rewrite it)."""
    update = bool(request.config.getoption("--update-goldens")) or os.environ.get("EXTCTL_UPDATE_GOLDENS") == "1"

    def check(relative: str, text: str) -> None:
        path = GOLDEN_DIR / relative
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        if not path.exists():
            pytest.fail(f"golden {path} is missing; run pytest with --update-goldens and review it")
        expected = path.read_text()
        if expected != text:
            diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), text.splitlines(keepends=True),
                                                fromfile=f"golden/{relative}", tofile="actual"))
            pytest.fail(f"output differs from golden/{relative} (run with --update-goldens to accept):\n{diff}")

    return check
