"""The shell blocks of the documentation, read from the Markdown, and how a documented command is checked.

Owns: finding every shell block (```` ```bash ````, ``sh``, ``shell``, ``console``) of README.md,
sample-repo/README.md and docs/*.md with the ``<!-- doctest: … -->`` marker written above it; splitting a
block into commands with their expected exit code and output; running the commands of one document, in
order, in one bash process (so ``cd``, ``export`` and variables carry over, as they do for a reader); and
comparing what they printed with what the document shows.
Must not: decide which sandbox a document runs against (tests/integration/test_docs.py does), or skip a
block that carries no marker.

The convention (also in README.md, "Development"): the line above every shell block (blank lines
between are allowed) is one of

- ``<!-- doctest: run -->``: tests/integration/test_docs.py runs it against the sandbox;
- ``<!-- doctest: tested-by tests/PATH.py -->``: that test runs it, reading the block from the Markdown;
- ``<!-- doctest: needs-cluster -->``, ``needs-github``, ``needs-docker``: it needs something the sandbox
  is not (a real cluster, GitHub, a Docker engine) and is not run.

What a run block promises: in a ``console`` block, a ``$ `` line is a command (a trailing ``\\`` or a next
line starting ``> `` continues it) and the lines up to the next ``$ `` are its standard output; ``...``
or ``…`` on a line of its own stands for any lines, inside a line for any text; runs of blanks compare as
one blank and a duration (``1s``, ``(2m``) as any duration. A command showing no output is checked
for its exit code only. In ``bash``/``sh``/``shell`` blocks every command is checked for its exit code.
The exit code is 0 unless the command's comment says ``exit N`` (``# exit 2: changes``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
NOT_RUN = frozenset({"needs-cluster", "needs-github", "needs-docker"})
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- doctest: (?P<kind>[\w-]+)(?:[ \t]+(?P<arg>\S+))?[ \t]*-->")
EXIT_COMMENT = re.compile(r"#.*?\bexit (?P<code>\d+)(?=[:),]|\s*$)")
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:ms|s|m|h|d)(?!\w)")


def documents() -> list[Path]:
    return [REPO_ROOT / "README.md", REPO_ROOT / "sample-repo" / "README.md",
            *sorted((REPO_ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int                 # of the opening fence, 1-based
    lang: str
    body: str
    marker: str | None        # run, tested-by, needs-cluster, … (None: unmarked)
    marker_arg: str | None    # the test file of tested-by

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_ROOT)}:{self.line}"


def shell_blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found: list[Block] = []
    for fence in FENCE.finditer(text):
        if fence["lang"] not in SHELL_LANGS:
            continue
        before = text[:fence.start()].rstrip().rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        found.append(Block(doc, text.count("\n", 0, fence.start()) + 1, fence["lang"], fence["body"],
                           marker["kind"] if marker else None, marker["arg"] if marker else None))
    return found


@dataclass(frozen=True)
class Command:
    block: Block
    text: str
    exit_code: int
    output: list[str] | None  # the lines shown after it (console), None: not checked


def expected_exit(command: str) -> int:
    comment = EXIT_COMMENT.search(command.rstrip().rsplit("\n", 1)[-1])
    return int(comment["code"]) if comment else 0


def _complete(text: str) -> bool:
    """Whether ``text`` is one or more complete shell commands (bash's own parser decides)."""
    if text.rstrip().endswith("\\"):
        return False
    check = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True, check=False, timeout=10)
    return check.returncode == 0 and "delimited by end-of-file" not in check.stderr


def commands(block: Block) -> list[Command]:
    lines = block.body.splitlines()
    if block.lang == "console":
        found: list[Command] = []
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            text = lines[i][2:]
            while i + 1 < len(lines) and (text.endswith("\\") or lines[i + 1].startswith("> ")):
                i += 1
                text += "\n" + lines[i].removeprefix("> ")
            i += 1
            shown: list[str] = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            while shown and not shown[-1].strip():
                shown.pop()
            found.append(Command(block, text, expected_exit(text), shown or None))
        return found
    found, pending = [], ""
    for line in lines:
        pending = f"{pending}\n{line}" if pending else line
        if _complete(pending):
            if pending.strip() and not pending.lstrip().startswith("#"):
                found.append(Command(block, pending, expected_exit(pending), None))
            pending = ""
    assert not pending, f"{block.where}: an incomplete shell command at the end of the block:\n{pending}"
    return found


def _literal(text: str) -> str:
    """``text`` as a pattern in which every duration (``10s``, ``(2m``) stands for any duration."""
    return DURATION.pattern.join(re.escape(piece) for piece in DURATION.split(text))


def _line_pattern(line: str) -> str:
    parts = []
    for token in re.split(r"(\s+)", line.strip()):
        if not token:
            continue
        if token.isspace():
            parts.append(r"\s+")
        else:
            parts.append(".*?".join(_literal(piece) for piece in re.split(r"\.\.\.|…", token)))
    return r"[ \t]*" + "".join(parts) + r"[ \t]*"


def output_matches(shown: list[str], actual: str) -> bool:
    pattern = ""
    for line in shown:
        if line.strip() in {"...", "…"}:
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += _line_pattern(line) + r"\n"
    text = "\n".join(row.rstrip() for row in actual.rstrip().splitlines()) + "\n"
    return re.fullmatch(pattern, text) is not None


@dataclass(frozen=True)
class Outcome:
    command: Command
    ran: str                  # the command as run (after substitutions)
    exit_code: int | None     # None: never reached (an earlier command hung or the script was killed)
    stdout: str
    stderr: str

    def problem(self) -> str | None:
        """What differs from the document, or None."""
        cmd = self.command
        where = f"{cmd.block.where}: $ {cmd.text}"
        if self.exit_code is None:
            return (f"{where}\n  did not finish in time (or was never reached)\n  ran: {self.ran}\n"
                    f"  stderr:\n{self.stderr}")
        if self.exit_code != cmd.exit_code:
            return (f"{where}\n  exit code {self.exit_code}, the document says {cmd.exit_code}\n"
                    f"  ran: {self.ran}\n  stdout:\n{self.stdout}\n  stderr:\n{self.stderr}")
        if cmd.output is not None and not output_matches(cmd.output, self.stdout):
            shown = "\n".join(cmd.output)
            return f"{where}\n  the document shows:\n{shown}\n  it printed:\n{self.stdout}\n  stderr:\n{self.stderr}"
        return None


def run_commands(commands_: list[Command], cwd: Path, env: dict[str, str], *, scratch: Path,
                 substitutions: list[tuple[str, str]], timeout: float) -> list[Outcome]:
    """Run the commands in order in one bash process; each one's stdin is empty, its output captured.

    ``substitutions`` (regex, replacement) apply to the commands and to the output they show."""
    commands_ = list(commands_)
    scratch.mkdir(parents=True, exist_ok=True)
    script = ["trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    ran: list[str] = []
    for n, command in enumerate(commands_):
        text = command.text
        for pattern, replacement in substitutions:
            text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
            shown = commands_[n].output
            if shown is not None:  # a path the reader typed also appears in what is printed
                commands_[n] = dataclasses.replace(commands_[n], output=[re.sub(pattern, replacement, line)
                                                                         for line in shown])
        ran.append(text)
        script.append(f'{{ {text}\n}} </dev/null >"{scratch}/{n}.out" 2>"{scratch}/{n}.err"; '
                      f'echo $? >"{scratch}/{n}.rc"')
    (scratch / "script.sh").write_text("\n".join(script) + "\n")
    shell = subprocess.Popen(["bash", str(scratch / "script.sh")], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        shell.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)  # reported below: a command that never finished has no exit code
        shell.wait()

    def read(name: str) -> str:
        path = scratch / name
        return path.read_text(errors="replace") if path.exists() else ""

    return [Outcome(command, ran[n], int(read(f"{n}.rc")) if read(f"{n}.rc").strip() else None,
                    read(f"{n}.out"), read(f"{n}.err")) for n, command in enumerate(commands_)]
