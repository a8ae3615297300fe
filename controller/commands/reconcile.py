"""``extctl reconcile --once``: one pass (plus a follow-up pass right after one that unlocked a stuck
release, at most 3 in all); exit 0 when everything succeeded or was unchanged, 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._engine import add_engine_options, build_engine


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "reconcile", help=SUMMARIES["reconcile"])
    parser.add_argument("--once", action="store_true",
                        help="run a single pass and exit (always the case here; `extctl run` loops)")
    parser.add_argument("--reset", action="append", metavar="NAME", default=[],
                        help="clear the failure count of extension NAME first (repeatable): its retries start over")
    add_engine_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = build_engine(args, mode="apply")
    results = asyncio.run(engine.run_until_settled())
    return 0 if results[-1].ok else 1
