"""`extctl version`: print extctl's version and the helm binary it would use."""

from __future__ import annotations

import argparse
from typing import Any

from controller import __version__
from controller.commands import SUMMARIES


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("version", help=SUMMARIES["version"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(f"extctl {__version__}")
    return 0
