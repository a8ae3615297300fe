"""No planted secret reaches a helm or git child of extctl, its output, or a file it leaves behind.

Proof on the real harness (issue 10, item 6): a git smart-HTTP remote and a chart repository, both
behind basic auth with planted passwords (handed to extctl in ``EXTCTL_*`` variables, as in a pod),
while extctl installs, upgrades, plans, previews (``helm template``) and fails once. Every run is
watched by ``ProcessTreeSampler``, which reads ``/proc/<pid>/cmdline`` and ``/proc/<pid>/environ`` of
every descendant it catches, as anyone with the same uid could. The test also asserts that helm and
git children were in fact caught, so it cannot pass by seeing nothing. Afterwards it scans the temp
dir, the cache, helm's cache and the state ConfigMap. Two quick checks show what a real helm plugin
and a real git alias see of the environment (the allow-lists of ``controller.helm.runner`` and
``controller.source.gitenv``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.charts import helm_bin
from tests.support.extctl import ExtctlRun, extension, extension_type
from tests.support.proctree import ChildSample, ProcessTreeSampler, files_containing
from tests.support.sandbox import SandboxHandle

TYPE_FILE = "catalog/agent.yaml"
USER = "extctl"


class Watched:
    """extctl runs, each watched by a process-tree sampler; everything seen is kept for the scan."""

    def __init__(self, sandbox: SandboxHandle, env: dict[str, str]) -> None:
        self.sandbox = sandbox
        self.env = env
        self.runs: list[ExtctlRun] = []
        self.samples: list[ChildSample] = []

    def run(self, *args: str) -> ExtctlRun:
        process = subprocess.Popen([sys.executable, "-m", "controller", *args], env=self.sandbox.full_env(**self.env),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with ProcessTreeSampler(process) as sampler:
            stdout, stderr = process.communicate(timeout=120)
        result = ExtctlRun(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))
        self.runs.append(result)
        self.samples += sampler.samples
        return result


def test_planted_passwords_reach_no_child_output_or_leftover_file(
    sandbox: SandboxHandle, git_remote_factory: Any, chart_repo_factory: Any, unique_name: str, tmp_path: Path
) -> None:
    git_password = f"git-pw-{uuid.uuid4().hex}"
    repo_password = f"repo-pw-{uuid.uuid4().hex}"
    needles = [git_password, repo_password]
    charts = chart_repo_factory(versions=("1.0.0", "1.1.0"), auth=(USER, repo_password))
    remote = git_remote_factory(auth=(USER, git_password))
    ns = unique_name
    remote.commit({TYPE_FILE: extension_type("demo.agent", charts.url, namespace=ns)})
    remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", ns, version="1.0.0",
                                                       settings={"logLevel": "info"})})
    temp, cache = tmp_path / "tmp", tmp_path / "cache"
    temp.mkdir()
    watched = Watched(sandbox, {
        "TMPDIR": str(temp),
        "EXTCTL_GIT_USERNAME": USER, "EXTCTL_GIT_PASSWORD": git_password,
        "EXTCTL_REPO_HOST": f"127.0.0.1:{charts.port}", "EXTCTL_REPO_USERNAME": USER,
        "EXTCTL_REPO_PASSWORD": repo_password,
        "EXTCTL_HELM_PASS_ENV": "EXTCTL_REPO_PASSWORD",  # even when asked for, no EXTCTL_* variable is passed on
    })
    source = ["--source", remote.http_url, "--cache-dir", str(cache), "--instance", ns]

    install = watched.run("reconcile", "--once", *source, "--log-format", "json")
    assert install.returncode == 0, install.stdout + install.stderr
    assert install.changes() == [("agent", "install", "succeeded")]

    upgraded_at = remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", ns, version="1.1.0",
                                                                     settings={"logLevel": "debug"})})
    upgrade = watched.run("reconcile", "--once", *source, "--log-format", "json")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert upgrade.changes() == [("agent", "upgrade", "succeeded")]
    plan = watched.run("plan", *source, "--output", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr

    remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", ns, version="1.0.0",
                                                       settings={"logLevel": "warn"})})
    preview = watched.run("preview", "--source", remote.http_url, "--cache-dir", str(cache), "--base", upgraded_at,
                          "--head", "main", "--output", "json")
    assert preview.returncode == 2, preview.stdout + preview.stderr
    assert "logLevel" in preview.stdout

    remote.http.stop()  # an error message too: the Git server is down
    try:
        down = watched.run("reconcile", "--once", *source, "--log-format", "json")
    finally:
        remote.http.start()
    assert down.returncode == 1 and down.summary()["outcome"] == "source-error", down.stdout + down.stderr

    # The children were watched: helm (install, upgrade, get, list, template) and git (fetch over HTTP).
    programs = {s.program for s in watched.samples}
    helm_name = os.path.basename(helm_bin())
    assert helm_name in programs, f"no helm child was seen: {sorted(programs)}"
    assert any(p == "git" or p.startswith("git-") for p in programs), f"no git child was seen: {sorted(programs)}"
    helm_argvs = [s.argv for s in watched.samples if s.program == helm_name]
    assert any(argv[1:2] == ("template",) for argv in helm_argvs), "preview's helm template was seen"
    assert any(argv[1:2] in {("install",), ("upgrade",)} for argv in helm_argvs), "helm install/upgrade was seen"

    leaks = [(s.argv, s.pid, n) for s in watched.samples for n in needles if s.holds(n)]
    assert leaks == [], f"planted password in a child's cmdline or environ: {leaks}"
    extctl_vars = {(s.program, name) for s in watched.samples for name in s.variable_names
                   if name.startswith("EXTCTL_")}
    assert extctl_vars == set(), f"EXTCTL_* variables in a child's environment: {sorted(extctl_vars)}"

    for run in watched.runs:
        for needle in needles:
            assert needle not in run.stdout and needle not in run.stderr
    assert not list(temp.iterdir()), f"left in TMPDIR: {sorted(p.name for p in temp.iterdir())}"
    assert not files_containing(cache, needles)
    assert not files_containing(Path(sandbox.env["HELM_CACHE_HOME"]), needles)
    assert not files_containing(Path(sandbox.env["HELM_CONFIG_HOME"]), needles)
    state = sandbox.core_v1().read_namespaced_config_map(f"extctl-state-{ns}", "extctl-system")
    assert not [n for n in needles if n in json.dumps(state.data or {})]
    release = json.dumps([sandbox.helm_json("get", "metadata", "agent", "-n", ns),
                          sandbox.helm_json("history", "agent", "-n", ns)])
    assert not [n for n in needles if n in release]


# -------------------------------------------------------------------------------- what a child itself sees
@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in extctl's own environment, in the variables a deployment would use."""
    value = f"planted-{uuid.uuid4().hex}"
    for name in ("EXTCTL_REPO_PASSWORD", "EXTCTL_GIT_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXTCTL_HELM_PASS_ENV", "EXTCTL_REPO_PASSWORD,AWS_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    return value


def _environment(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_a_helm_plugin_sees_only_the_allow_listed_environment(planted: str, tmp_path: Path) -> None:
    from controller.helm import HelmRunner, HelmSettings

    plugin = tmp_path / "plugins" / "envdump"
    plugin.mkdir(parents=True)
    (plugin / "plugin.yaml").write_text("name: envdump\nversion: 0.1.0\nusage: env\ndescription: env\ncommand: env\n")
    settings = HelmSettings.from_env(binary=helm_bin(), extra_env={"HELM_PLUGINS": str(tmp_path / "plugins")})
    result = asyncio.run(HelmRunner(settings).run(["envdump"]))
    env = _environment(result.stdout)
    assert planted not in result.stdout
    assert not [name for name in env if name.startswith("EXTCTL_")]
    assert "GITHUB_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["AWS_REGION"] == "eu-north-1"  # named in EXTCTL_HELM_PASS_ENV
    assert env["PATH"] == os.environ["PATH"] and env["HELM_PLUGINS"] == str(tmp_path / "plugins")


def test_git_sees_only_the_allow_listed_environment(planted: str, tmp_path: Path) -> None:
    import git

    from controller.source.gitenv import git_settings

    with git_settings(GIT_TERMINAL_PROMPT="0", GIT_CEILING_DIRECTORIES=str(tmp_path)):
        # A shell alias makes the real git start a child with git's own environment.
        output = git.Git(str(tmp_path)).execute(["git", "-c", "alias.showenv=!env", "showenv"])
    env = _environment(str(output))
    assert planted not in str(output)
    assert not [name for name in env if name.startswith(("EXTCTL_", "AWS_", "GITHUB_"))]
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["LC_ALL"] == "C"
    assert env["HOME"] == os.environ["HOME"]


def test_gitpythons_timeout_watchdog_still_works_through_the_allow_list(tmp_path: Path) -> None:
    import errno

    import git
    from git.exc import GitCommandError

    from controller.source.gitenv import git_settings

    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    try:
        # The alias blocks opening a FIFO nobody writes; the watchdog lists git's children (pgrep, through
        # the wrapped factory) and kills them.
        with git_settings(GIT_TERMINAL_PROMPT="0"), pytest.raises(GitCommandError) as failure:
            git.Git(str(tmp_path)).execute(["git", "-c", f"alias.block=!cat {fifo}", "block"], kill_after_timeout=0.5)
        assert "did not complete in 0.5 secs" in str(failure.value)
    finally:
        try:  # release a reader the watchdog may have orphaned, so no process outlives the test
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            assert exc.errno == errno.ENXIO  # no reader left
