"""Command-line entry point: argument parsing and exit codes.

Owns: the ``extctl`` command tree, mapping expected failures (``ExtctlError``) to a one-line
message and an exit code without a traceback. Must not: contain business logic; every
subcommand lives in ``controller/commands/<name>.py`` and exposes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from controller import __version__
from controller.errors import ExtctlError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extctl",
        description="GitOps controller for Kubernetes cluster extensions.",
    )
    parser.add_argument("--version", action="version", version=f"extctl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    # Each command module registers itself; keep this list sorted.
    # Imported here, not at module level, so that importing controller.cli stays cheap.
    from controller.commands import catalog, plan, preview, reconcile, resolve, run, validate, version  # noqa: PLC0415

    for module in (catalog, plan, preview, reconcile, resolve, run, validate, version):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ExtctlError as exc:
        print(f"extctl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
