"""The options of commands that need no engine: logging, kube access and environment defaults.

Owns: ``add_log_options`` (``--log-format``, ``--log-level``), ``add_kube_options`` (``--kubeconfig``,
``--kube-context``) and ``_env_default`` (a flag's default from the environment). ``preview``, ``status`` and
``fleet`` take them from here, so that they do not import the engine that ``_engine.py`` wires (``preview``
builds one only for ``--cluster``; bench/README.md, P4). Must not: import the engine or any edge module.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def _env_default(name: str, fallback: str | None = None) -> str | None:
    return os.environ.get(name) or fallback


def add_kube_options(group: Any) -> None:
    """``--kubeconfig`` and ``--kube-context``: which cluster, as kubectl and helm take them."""
    group.add_argument("--kubeconfig", default=None, metavar="FILE",
                       help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config; in a pod, the in-cluster "
                            "config)")
    group.add_argument("--kube-context", default=None, help="kubeconfig context (default: current context)")


def add_log_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("--log-format", choices=["auto", "json", "console"], default="auto",
                       help="auto: JSON lines when stdout is not a terminal, console otherwise")
    group.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
