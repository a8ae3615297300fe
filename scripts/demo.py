#!/usr/bin/env python3
"""`make demo`: start the sandbox, reconcile sample-repo into it once, show the releases and their status
(``extctl status``; last, ``kubectl get extensions -A``), leave it running.

`make demo-stop` (``demo.py stop``) stops exactly what ``start`` started. Everything lives in
``--dir`` (default ``.demo/``): the sandbox state, its env file and helm's config.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402 - after sys.path setup
from kubernetes.client.exceptions import ApiException  # noqa: E402 - after sys.path setup

from controller.manifests import load_directory  # noqa: E402 - after sys.path setup
from sandbox.core import Sandbox  # noqa: E402 - after sys.path setup


def _env(box: Sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env.update(box.env())
    env["PATH"] = f"{ROOT / '.tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HELM_BIN", str(ROOT / ".tools" / "bin" / "helm"))
    return env


def _create_demo_secrets(box: Sandbox, source: Path) -> list[str]:
    """Protected settings come from Secrets that never live in Git: create demo ones in the sandbox."""
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(box.kubeconfig)))
    manifests = load_directory(source)
    created: list[str] = []
    for extension in manifests.extensions.values():
        namespace = manifests.namespace_of(extension) or "default"
        for ref in extension.spec.configuration_protected_settings:
            secret_namespace = ref.namespace or namespace
            keys = [ref.key] if ref.key else ["value"]
            try:
                core.read_namespace(secret_namespace)
            except ApiException:
                core.create_namespace({"metadata": {"name": secret_namespace}})
            try:
                core.read_namespaced_secret(ref.secret_name, secret_namespace)
                continue
            except ApiException:
                pass
            core.create_namespaced_secret(secret_namespace, {
                "metadata": {"name": ref.secret_name},
                "stringData": {key: f"demo-{secrets.token_hex(8)}" for key in keys},
            })
            created.append(f"{secret_namespace}/{ref.secret_name}")
    return created


def start(directory: Path, source: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    box = Sandbox(directory / "sandbox")
    state = box.start()
    print(f"==> sandbox running: Kubernetes API emulator on 127.0.0.1:{state.emulator_port}, "
          f"PostgreSQL (Helm SQL driver) on 127.0.0.1:{state.postgres_port}")
    for name in _create_demo_secrets(box, source):
        print(f"==> created demo Secret {name} for protected settings")
    env = _env(box)
    extctl = [sys.executable, "-m", "controller"]
    print(f"==> extctl reconcile --once --source {source.relative_to(ROOT)}")
    reconcile = subprocess.run([*extctl, "reconcile", "--once", "--source", str(source), "--log-format", "console"],
                               env=env, check=False)
    print("==> helm list -A")
    subprocess.run([env["HELM_BIN"], "list", "-A"], env=env, check=False)
    print("==> extctl status")
    subprocess.run([*extctl, "status"], env=env, check=False)
    print(f"""
The sandbox keeps running. Next steps:

  source {box.env_file}
  export PATH="$PWD/.tools/bin:$PATH"
  .venv/bin/extctl plan --source sample-repo              # what would change (nothing, right now)
  .venv/bin/extctl run --source sample-repo --interval 30s  # the controller loop; Ctrl-C to stop

  In another terminal, edit a setting, e.g. sample-repo/extensions/*.yaml → configurationSettings,
  and watch `extctl run` upgrade exactly that extension (it watches the directory).
  kubectl get configmaps -A and helm history <name> -n <namespace> show the result.
  .venv/bin/extctl status monitoring                        # conditions, last actions, Events
  .venv/bin/extctl run --source sample-repo --http-addr 127.0.0.1:8080 & curl -s 127.0.0.1:8080/metrics

  make demo-stop                                            # stop the sandbox
""")
    print("==> kubectl get extensions -A")
    subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "get", "extensions", "-A"], env=env, check=False)
    return reconcile.returncode


def stop(directory: Path) -> int:
    Sandbox(directory / "sandbox").stop()
    print(f"==> sandbox stopped ({directory / 'sandbox'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="demo.py")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--source", type=Path, default=ROOT / "sample-repo")
    args = parser.parse_args()
    if args.action == "start":
        return start(args.dir.resolve(), args.source.resolve())
    return stop(args.dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
