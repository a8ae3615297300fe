"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A private copy of the shipped sample repository, free to edit."""
    root = tmp_path / "repo"
    shutil.copytree(SAMPLE, root)
    return root
