#!/usr/bin/env python3
"""Generate the deployment files from their one source each, or check that they are current.

Owns: ``deploy/chart/crds/extensions.extctl.dev.yaml`` (from ``controller.cluster.crd.EXTENSION_CRD``, the
CRD extctl applies itself) and ``deploy/extctl.yaml`` (``helm template`` of ``deploy/chart`` with its
default values, the CRD and a Namespace: the static manifest for ``kubectl apply``).
Must not: write anything else; helm runs with its config, cache and data in a temporary directory.

    python scripts/render_deploy.py           # rewrite both files
    python scripts/render_deploy.py --check   # exit 1, naming the stale files, when either differs
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[1]
CHART = REPO_ROOT / "deploy" / "chart"
CRD_FILE = CHART / "crds" / "extensions.extctl.dev.yaml"
MANIFEST = REPO_ROOT / "deploy" / "extctl.yaml"
RELEASE = "extctl"
NAMESPACE = "extctl-system"

CRD_HEADER = """\
# The Extension CRD (extensions.extctl.dev): the status objects extctl writes, one per extension in Git.
# Generated from controller/cluster/crd.py by scripts/render_deploy.py: do not edit. helm installs it
# with the chart; extctl applies (upgrades) the same CRD at start when its RBAC allows.
"""
MANIFEST_HEADER = f"""\
# extctl in a cluster: two replicas with leader election following one Git repository.
# GENERATED from deploy/chart (default values) by scripts/render_deploy.py: do not edit; change the chart
# and run the script (make test fails while this file is stale). docs/install.md is the full guide.
#
#   1. edit --source (and --branch) in the Deployment below, and the image
#   2. kubectl apply --server-side -f deploy/extctl.yaml
#
# Credentials, webhooks, SSH sources, least-privilege RBAC, a ServiceMonitor or a NetworkPolicy are
# chart values; render your own manifest with them instead of editing this one, e.g. for an SSH source
# (extctl never trusts a host key on first use: check the fingerprints against your Git host's):
#   ssh-keyscan github.com > known_hosts && ssh-keygen -lf known_hosts
#   kubectl -n {NAMESPACE} create configmap extctl-known-hosts --from-file=known_hosts
#   kubectl -n {NAMESPACE} create secret generic extctl-git --from-file=identity=id_ed25519
#   helm template {RELEASE} deploy/chart -n {NAMESPACE} --set createNamespace=true --include-crds \\
#     --set source.url=git@github.com:acme/cluster-extensions.git --set git.auth=ssh \\
#     --set git.existingSecret=extctl-git --set git.knownHosts.configMap=extctl-known-hosts > extctl.yaml
"""


def helm_bin() -> str:
    return os.environ.get("HELM_BIN") or str(REPO_ROOT / ".tools" / "bin" / "helm")


def helm_template(*args: str) -> str:
    """``helm template`` of the chart as release ``extctl`` in ``extctl-system``; raises with helm's stderr."""
    with tempfile.TemporaryDirectory(prefix="extctl-render-") as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "HELM_CONFIG_HOME": f"{home}/config",
               "HELM_CACHE_HOME": f"{home}/cache", "HELM_DATA_HOME": f"{home}/data"}
        result = subprocess.run([helm_bin(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args],
                                env=env, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"helm template {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def render_crd() -> str:
    from controller.cluster.crd import EXTENSION_CRD  # noqa: PLC0415 - needs REPO_ROOT on sys.path first

    yaml = YAML()
    yaml.representer.ignore_aliases = lambda _data: True  # spelled out: no &id001 anchors in a CRD
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(EXTENSION_CRD, out)
    return CRD_HEADER + out.getvalue()


def render_manifest() -> str:
    return MANIFEST_HEADER + helm_template("--include-crds", "--set", "createNamespace=true")


def stale(files: dict[Path, str]) -> list[str]:
    return [str(path.relative_to(REPO_ROOT)) for path, text in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main() -> int:
    parser = argparse.ArgumentParser(description="generate deploy/extctl.yaml and the chart's CRD")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is stale")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    if args.check:
        crd_stale = stale({CRD_FILE: render_crd()})
        out_of_date = crd_stale or stale({MANIFEST: render_manifest()})
        if out_of_date:
            print(f"stale: {', '.join(out_of_date)}; run python scripts/render_deploy.py", file=sys.stderr)
            return 1
        print("deploy/extctl.yaml and the chart's CRD are current")
        return 0
    CRD_FILE.write_text(render_crd(), encoding="utf-8")  # first: helm template reads the chart from disk
    MANIFEST.write_text(render_manifest(), encoding="utf-8")
    print(f"wrote {CRD_FILE.relative_to(REPO_ROOT)} and {MANIFEST.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
