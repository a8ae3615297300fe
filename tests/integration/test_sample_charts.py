"""sample-repo/charts/ is what ``scripts/build_sample_charts.py`` builds, on a fresh clone too.

A clone stamps every file with the time of the checkout; the archives must not depend on it (nor on
the umask), so sample-repo/README.md's CI check ``build_sample_charts.py --check`` passes on a clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.charts import REPO_ROOT, helm_bin

pytestmark = pytest.mark.integration


def test_a_fresh_clone_passes_the_sample_charts_check(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(clone)], check=True,
                   timeout=120)
    # A later checkout time than the committed archives were built at, and another umask.
    env = {**os.environ, "HELM_BIN": helm_bin()}
    check = subprocess.run(["bash", "-c", f"umask 0002 && touch -d '2031-05-05 12:00' -- $(git ls-files) && "
                                          f"{sys.executable} scripts/build_sample_charts.py --check"],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert (check.returncode, check.stdout) == (0, "sample-repo/charts/ is up to date\n"), check.stdout + check.stderr

