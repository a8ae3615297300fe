"""Every shell block of the documentation says how it is tested (tests/support/docblocks.py has the markers).

A new block without a ``<!-- doctest: … -->`` line above it fails here, naming the file and line, so an
example can not be added untested by accident; and the reading of a documented command's expected output
and exit code works as the convention says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docblocks import NOT_RUN, REPO_ROOT, Block, commands, documents, output_matches, shell_blocks

ALL_BLOCKS = [block for doc in documents() for block in shell_blocks(doc)]


def test_every_shell_block_is_marked() -> None:
    unmarked = [block.where for block in ALL_BLOCKS if block.marker is None]
    assert not unmarked, (
        "shell blocks without a '<!-- doctest: run -->' (or tested-by FILE, needs-cluster, needs-github, "
        "needs-docker) line above them (tests/support/docblocks.py): " + ", ".join(unmarked))
    unknown = [f"{b.where} ({b.marker})" for b in ALL_BLOCKS if b.marker not in {"run", "tested-by", *NOT_RUN}]
    assert not unknown, "unknown doctest markers: " + ", ".join(unknown)
    assert len(ALL_BLOCKS) >= 40 and sum(b.marker == "run" for b in ALL_BLOCKS) >= 15


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.marker == "tested-by"], ids=lambda b: b.where)
def test_a_tested_by_block_names_a_test_that_reads_its_document(block: Block) -> None:
    assert block.marker_arg, f"{block.where}: tested-by needs the test file"
    test = REPO_ROOT / block.marker_arg
    assert test.is_file(), f"{block.where}: {block.marker_arg} does not exist"
    assert block.doc.name in test.read_text(), f"{block.where}: {block.marker_arg} does not read {block.doc.name}"


def test_console_commands_their_output_and_exit_codes(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("<!-- doctest: run -->\n```console\n$ extctl plan --source . --offline  # exit 2: changes\n"
                   "revision: local@sha256:…\nNAME  AGE\n...\n5 change(s) planned\n\n$ echo a \\\n  b\n$ true\n```\n")
    [block] = shell_blocks(doc)
    first, second, third = commands(block)
    assert (block.marker, first.exit_code, second.text, second.output, third.exit_code) == (
        "run", 2, "echo a \\\n  b", None, 0)
    assert first.output is not None
    assert output_matches(first.output, "revision: local@sha256:abc\nNAME   AGE\nx\ny\n5 change(s) planned\n")
    assert output_matches(first.output, "revision: local@sha256:abc\nNAME AGE\n5 change(s) planned\n")
    assert not output_matches(first.output, "revision: local@sha256:abc\nNAME AGE\n4 change(s) planned\n")
    assert output_matches(["certs  True  1s"], "certs True 12m\n")
    assert output_matches(["Last applied: local@sha256:… (10s ago)"], "Last applied: local@sha256:4cf2 (6s ago)\n")
    assert not output_matches(["version 1.1.1"], "version 1.1.2\n")
    assert not output_matches(["certs  True  1s"], "certs False 1s\n")


def test_shell_blocks_split_into_commands_as_bash_parses_them(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("<!-- doctest: run -->\n```bash\nexport F=/tmp/x\ncat > a.yaml <<'EOF'\nb: 1\n\nc: 2\nEOF\n"
                   "for c in a b; do\n  echo $c\ndone\n# a comment\nextctl status  # exit 1 when anything failed\n"
                   "extctl fleet status --source . \\\n  --kubeconfig-dir k   # exit 1: not compliant\n```\n")
    found = commands(shell_blocks(doc)[0])
    assert [c.text.split()[0] for c in found] == ["export", "cat", "for", "extctl", "extctl"]
    assert [c.exit_code for c in found] == [0, 0, 0, 0, 1]
    assert found[1].text.endswith("c: 2\nEOF")
