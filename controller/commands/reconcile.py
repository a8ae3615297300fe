"""``extctl reconcile --once``: one pass (plus a follow-up pass right after one that unlocked a stuck
release, at most 3 in all); exit 0 when everything succeeded or was unchanged, 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._engine import add_engine_options, build_engine
from controller.engine import Engine
from controller.errors import ExtctlError


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
    if args.reset:
        check_reset(engine, args.reset)
    results = asyncio.run(engine.run_until_settled())
    return 0 if results[-1].ok else 1


def check_reset(engine: Engine, names: list[str]) -> None:
    """``--reset NAME`` must name an extension of the source (a typo would silently reset nothing)."""
    snapshot = engine.source.fetch()
    known = engine.parts.parse_cache.load(snapshot.root).extensions
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ExtctlError(f"--reset {', '.join(unknown)}: no such extension in {engine.source.describe()}",
                          reason="UsageError", hint=f"extensions: {', '.join(sorted(known)) or 'none'}")
