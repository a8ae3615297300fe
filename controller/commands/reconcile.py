"""``extctl reconcile --once``: one pass; exit 0 when everything succeeded or was unchanged, 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from controller.commands._engine import add_engine_options, build_reconciler


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reconcile", help="run one reconcile pass against the current kube context")
    parser.add_argument("--once", action="store_true",
                        help="run a single pass and exit (always the case here; `extctl run` loops)")
    parser.add_argument("--reset", action="append", metavar="NAME", default=[],
                        help="clear the failure count of extension NAME first (repeatable): its retries start over")
    add_engine_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    reconciler = build_reconciler(args)
    result = asyncio.run(reconciler.run_pass(apply=True))
    return 0 if result.ok else 1
