"""The documentation's examples do what they say: every ``<!-- doctest: run -->`` block runs here.

Each document's run blocks run in order in one bash process (tests/support/docblocks.py), from a fresh
copy of this checkout's tracked files (the ``.venv`` and ``.tools`` of the checkout linked in, ``HOME`` a
temporary directory), with their exit codes and shown output checked. The context a reader brings is
set up here and nowhere else:

- README.md starts its own sandbox with ``make demo`` as it says (``make demo`` runs ``demo.py start``
  here: its ``setup`` step is this test run's venv) and reads ``make test`` as this suite;
- the examples that run "in your configuration repository" (``--source .``) get one: sample-repo,
  committed as ``main``, cloned (so ``origin/main`` exists), with a ``feature`` branch that changes a
  setting; the fleet example's clusters are three kubeconfigs of one sandbox under ``~/.kube/fleet``;
- docs/observability.md reads the cluster ``make demo`` leaves behind (a demo started for it);
- docs/fleet.md and docs/health-and-drift.md start their own sandboxes, as they say;
- ports and ``/tmp`` paths a reader would type are swapped for free ones (``SUBSTITUTIONS``).

Blocks marked needs-cluster / needs-github / needs-docker are not run, and nothing fakes those.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.core import Sandbox
from tests.support.charts import helm_env
from tests.support.docblocks import REPO_ROOT, Command, commands, documents, run_commands, shell_blocks
from tests.support.localnet import free_port
from tests.support.sandbox import TOOLS_BIN, SandboxHandle, running_sandbox

# A document gets 150 s (run_document); pytest's limit is above it, so a hung command is reported by name.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

IDENTITY = {"GIT_AUTHOR_NAME": "Reader", "GIT_AUTHOR_EMAIL": "reader@example.com",
            "GIT_COMMITTER_NAME": "Reader", "GIT_COMMITTER_EMAIL": "reader@example.com"}


def reader_dir(prefix: str) -> Path:
    """A world-traversable temporary directory: a sandbox started in it runs PostgreSQL as ``postgres``."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)
    return directory


def fresh_checkout(into: Path) -> Path:
    """This checkout's tracked files, written anew (as a clone would), with its venv and tools linked in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, text=True)
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, into / name)
    for tool in (".venv", ".tools"):
        (into / tool).symlink_to((REPO_ROOT / tool).resolve(), target_is_directory=True)
    return into


def reader_env(home: Path, sandbox: SandboxHandle | None = None) -> dict[str, str]:
    base = sandbox.full_env() if sandbox is not None else dict(os.environ)
    for leaked in ("KUBECONFIG", "HELM_DRIVER", "HELM_DRIVER_SQL_CONNECTION_STRING", "EXTCTL_CACHE_DIR"):
        if sandbox is None:
            base.pop(leaked, None)
    env = helm_env(home / ".helm", base=base)
    env.update(IDENTITY, HOME=str(home), PYTHONPATH=str(REPO_ROOT), PYTHON=sys.executable,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), str(TOOLS_BIN), env["PATH"]]))
    if sandbox is None:
        env.pop("EXTCTL_SANDBOX", None)
    return env


def run_document(doc: str, cwd: Path, env: dict[str, str], scratch: Path, *,
                 substitutions: list[tuple[str, str]] | None = None,
                 before: dict[str, list[str]] | None = None, timeout: float = 150) -> list[Command]:
    """Run the document's run blocks; ``before[first command]`` are commands the test runs ahead of a block."""
    todo: list[Command] = []
    for block in shell_blocks(REPO_ROOT / doc):
        if block.marker != "run":
            continue
        found = commands(block)
        assert found, f"{block.where}: a run block without a command"
        for setup in (before or {}).get(found[0].text.split("  #")[0].strip(), []):
            todo.append(Command(block, setup, 0, None))
        todo.extend(found)
    outcomes = run_commands(todo, cwd, env, scratch=scratch, substitutions=substitutions or [], timeout=timeout)
    problems = [problem for outcome in outcomes if (problem := outcome.problem())]
    assert not problems, f"{len(problems)} documented command(s) of {doc} do not do what it says:\n\n" + \
        "\n\n".join(problems)
    return todo


INVENTORY = """apiVersion: extctl.dev/v1alpha1
kind: Cluster
metadata:
  name: east
  labels: {env: prod}
"""


def config_repository(space: Path) -> list[str]:
    """Commands that make ``space/config``: sample-repo plus a one-cluster inventory (``east``), cloned
    (so ``origin/main`` exists), with a ``feature`` branch that changes a setting; ``cd`` into it."""
    (space / "clusters.yaml").write_text(INVENTORY)
    return [
        f"git init -q -b main {space}/upstream && cp -r sample-repo/. {space}/upstream/ && "
        f"cp {space}/clusters.yaml {space}/upstream/ && "
        f"git -C {space}/upstream add -A && git -C {space}/upstream commit -qm sample",
        f"git clone -q {space}/upstream {space}/config && cd {space}/config && git switch -q -c feature && "
        "sed -i 's/retention: 72h/retention: 96h/' extensions/monitoring.yaml && git commit -qam retention && "
        "git switch -q main",
    ]


@pytest.fixture
def space() -> Iterator[Path]:
    directory = reader_dir("extctl-doc-")
    yield directory
    for started in [*directory.glob("ws/.demo/sandbox"), *directory.glob("fleet/*"), *directory.glob("ws/.sandbox")]:
        if (started / "env").exists():
            subprocess.run([sys.executable, "-m", "sandbox", "stop", "--dir", str(started)], cwd=REPO_ROOT,
                           capture_output=True, check=False, timeout=120)
    shutil.rmtree(directory, ignore_errors=True)


def test_readme(space: Path) -> None:
    ws = fresh_checkout(space / "ws")
    home = space / "home"
    port = free_port()
    todo = run_document(
        "README.md", ws, reader_env(home), space / "scratch",
        substitutions=[(r"^make demo\b", '"$PYTHON" scripts/demo.py start --dir .demo'),
                       (r"^make test\b", ": the suite running this test"),
                       (r"127\.0\.0\.1:8080", f"127.0.0.1:{port}")],
        before={"extctl preview --source . --base origin/main --head HEAD": config_repository(space),
                # the inventory's one cluster is the demo sandbox
                "extctl plan --source . --cluster east --offline": [
                    'mkdir -p ~/.kube/fleet && cp "$KUBECONFIG" ~/.kube/fleet/east.yaml'],
                "kubectl get extensions -A": [f"cd {ws}"]})
    assert len(todo) >= 15


def test_the_readme_manifest_example_validates(tmp_path: Path) -> None:
    """README.md's manifests, each document written to the file its first comment names."""
    text = (REPO_ROOT / "README.md").read_text()
    found = re.search(r"^```yaml\n(# catalog/monitoring\.yaml\n.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert found, "README.md lost its manifest example"
    for document in found[1].split("---\n"):
        name = document.splitlines()[0].removeprefix("# ")
        (tmp_path / "repo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / name).write_text(document)
    result = subprocess.run([sys.executable, "-m", "controller", "validate", str(tmp_path / "repo")],
                            env=reader_env(tmp_path / "home"), capture_output=True, text=True, check=False, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (
        0, f"{tmp_path / 'repo'}: valid (1 extension types, 1 extensions)"), result.stdout + result.stderr


# kubectl 1.35 sends a built-in object it creates as protobuf, which the API emulator does not decode; the
# same object through `kubectl apply` is JSON (unvalidated: the emulator serves no OpenAPI document, as in
# test_deploy_bootstrap.py). Nothing else about the command changes.
SANDBOX_KUBECTL_CREATE = (r"^kubectl (-n \S+ )?create (.*)$",
                          r"kubectl \1create \2 --dry-run=client -o json | kubectl \1apply --server-side "
                          r"--validate=false -f -")


def test_sample_repo_readme(space: Path, sandbox: SandboxHandle) -> None:
    ws = fresh_checkout(space / "ws")
    run_document("sample-repo/README.md", ws, reader_env(space / "home", sandbox), space / "scratch",
                 substitutions=[SANDBOX_KUBECTL_CREATE])
    assert subprocess.run(["git", "status", "--porcelain", "sample-repo/charts"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout == "", "the rebuild ran in the copy, not in the checkout"


def test_health_and_drift(space: Path) -> None:
    ws = fresh_checkout(space / "ws")
    run_document("docs/health-and-drift.md", ws, reader_env(space / "home"), space / "scratch")


def test_observability(space: Path) -> None:
    ws = fresh_checkout(space / "ws")
    env = reader_env(space / "home")
    demo = subprocess.run([sys.executable, "scripts/demo.py", "start", "--dir", ".demo"], cwd=ws, env=env,
                          capture_output=True, text=True, check=False, timeout=240)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    env.update(Sandbox(ws / ".demo" / "sandbox").env())
    run_document("docs/observability.md", ws, env, space / "scratch")


def test_fleet(space: Path) -> None:
    ws = fresh_checkout(space / "ws")
    run_document("docs/fleet.md", ws, reader_env(space / "home"), space / "scratch",
                 substitutions=[(r"/tmp/fleet\b", str(space / "fleet"))], timeout=240)


def test_the_github_workflow_installs_extctl_and_the_tested_helm(tmp_path: Path) -> None:
    """docs/github-action.md's workflow: the helm it pins is the one the tests run, and extctl is installed
    the way that works (from its checkout, with the pinned dependencies), not from PyPI where it is not."""
    from ruamel.yaml import YAML

    text = (REPO_ROOT / "docs" / "github-action.md").read_text()
    found = re.search(r"^```yaml\n(name: extctl preview\n.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert found, "docs/github-action.md lost its workflow"
    steps = YAML(typ="safe").load(found[1])["jobs"]["preview"]["steps"]
    helm = subprocess.run([str(TOOLS_BIN / "helm"), "version", "--template", "{{.Version}}"], capture_output=True,
                          text=True, check=True, timeout=30).stdout
    [setup_helm] = [s for s in steps if str(s.get("uses", "")).startswith("azure/setup-helm@")]
    assert setup_helm["with"]["version"] == helm
    [checkout] = [s for s in steps if s.get("uses") == "actions/checkout@v4" and "path" in s.get("with", {})]
    [install] = [s for s in steps if s.get("name") == "Install extctl"]
    path = checkout["with"]["path"]
    assert install["run"].split("#")[0].split() == ["pip", "install", "--constraint", f"{path}/constraints.txt",
                                                      f"./{path}"]
    assert (REPO_ROOT / "constraints.txt").is_file() and path.startswith(".")  # hidden: never read as manifests


def test_the_readme_log_queries_read_real_logs(tmp_path: Path) -> None:
    """README.md's ``kubectl logs … | jq`` queries (they need a cluster with extctl in it: marked tested-by
    this test), run on the JSON logs of two real passes over sample-repo: one installs (team-a-metrics with
    a crash-looping image fails NotReady), one corrects a Deployment scaled by hand."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "sample-repo", repo)
    team_a = repo / "extensions" / "team-a.yaml"
    settings = "    service:\n      enabled: false\n"
    team_a.write_text(team_a.read_text().replace(settings, settings + "    image: {tag: crashloop}\n", 1))
    logs = tmp_path / "extctl.log"
    with running_sandbox() as box:
        env = reader_env(tmp_path / "home", box)
        passes: tuple[list[str], ...] = ([], ["--drift-detection", "enabled"])
        for n, extra in enumerate(passes):
            if n:
                box.kubectl("-n", "monitoring", "patch", "deployment", "monitoring", "--type", "merge", "-p",
                            '{"spec":{"replicas":3}}')
            run = subprocess.run([sys.executable, "-m", "controller", "reconcile", "--once", "--source", str(repo),
                                  "--log-format", "json", "--helm-timeout", "3s", "--drift-interval", "0", *extra],
                                 env=env, capture_output=True, text=True, check=False, timeout=240)
            assert run.returncode == 1, run.stdout + run.stderr  # team-a-metrics failed, team-a-backup pending
            with logs.open("a") as out:
                out.write(run.stdout + run.stderr)
    queries = [c for b in shell_blocks(REPO_ROOT / "README.md") for c in commands(b)
               if c.text.startswith("kubectl logs -n extctl-system deploy/extctl | jq")]
    assert len(queries) == 4, "README.md's log queries changed: update this test"
    printed = []
    for query in queries:
        result = subprocess.run(["bash", "-c", query.text.replace("kubectl logs -n extctl-system deploy/extctl",
                                                                  f"grep '^{{' {logs}")],
                                capture_output=True, text=True, check=False, timeout=30)
        assert result.returncode == 0, f"{query.text}\n{result.stderr}"
        printed.append(result.stdout)
    summaries, failures, changes, drifts = printed
    assert '"outcome":"applied","installed":3,"upgraded":0,"failed":1}' in summaries, summaries
    assert '"outcome":"applied","installed":0,"upgraded":1,"failed":0}' in summaries, summaries
    assert '{"extension":"team-a-metrics","state":"absent","error_reason":"NotReady","transient":true,' in failures
    assert "monitoring install null -> 1.1.1: not installed\n" in changes, changes
    assert "monitoring upgrade 1.1.1 -> 1.1.1: drift" in changes, changes
    assert drifts == ('{"extension":"monitoring","corrected":true,'
                      '"drift":["Deployment monitoring/monitoring: /spec/replicas (2 → 3)"]}\n'), drifts


EXTCTL_CALL = re.compile(r"(?:^|[;&|(])[ \t]*(?:\$ )?extctl((?:[ \t]+[a-z][a-z-]*){1,2})"  # in command position
                         r"(?P<args>(?:[^|;&)\n\\]|\\\n|\\.)*)", re.MULTILINE)
SUBCOMMANDS = re.compile(r"^usage: extctl \S+ \[-h\] (COMMAND|\{\S+\}) \.\.\.$", re.MULTILINE)  # catalog, fleet
COMMENT = re.compile(r"(?:^|\s)#.*$", re.MULTILINE)


def test_every_extctl_flag_the_docs_show_exists(tmp_path: Path) -> None:
    """Blocks that are not run (a real cluster, GitHub) and docs/preview.md's synopsis still only use flags
    their extctl command has: each ``--flag`` after ``extctl SUBCOMMAND`` is in that command's ``--help``."""
    texts = [(b.where, "\n".join(c.text for c in commands(b))) for doc in documents() for b in shell_blocks(doc)]
    synopsis = re.search(r"^```text\n(extctl preview .*?)^```", (REPO_ROOT / "docs" / "preview.md").read_text(),
                         re.MULTILINE | re.DOTALL)
    assert synopsis, "docs/preview.md lost its synopsis"
    texts.append(("docs/preview.md synopsis", synopsis[1].replace("\n  ", " ")))
    helps: dict[tuple[str, ...], str] = {}

    def help_of(words: tuple[str, ...]) -> str | None:
        if words not in helps:
            shown = subprocess.run([sys.executable, "-m", "controller", *words, "--help"],
                                   env=reader_env(tmp_path / "home"), capture_output=True, text=True, check=False,
                                   timeout=60)
            helps[words] = shown.stdout if shown.returncode == 0 else ""
        return helps[words] or None

    unknown: list[str] = []
    checked = 0
    for where, text in texts:
        for call in EXTCTL_CALL.finditer(COMMENT.sub("", text)):
            words = tuple(call[1].split())
            command = help_of(words[:1])
            assert command, f"{where}: `extctl {words[0]}` has no --help"
            if len(words) > 1 and SUBCOMMANDS.search(command):
                command = help_of(words)  # catalog versions, fleet status
                assert command, f"{where}: `extctl {' '.join(words)}` has no --help"
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", call["args"]):
                checked += 1
                if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", command):
                    unknown.append(f"{where}: extctl {' '.join(words)} {flag}")
    assert not unknown, "flags the docs show that the command does not have:\n" + "\n".join(unknown)
    usage = helps[("preview",)].split("\n\n", 1)[0]
    missing = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage)) - {"--help"}
                     - set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", synopsis[1])))
    assert not missing, f"docs/preview.md's synopsis lacks {missing} (extctl preview --help has them)"
    assert checked > 90 and ("run",) in helps
