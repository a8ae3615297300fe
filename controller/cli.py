"""Command-line entry point: argument parsing and exit codes.

Owns: the ``extctl`` command tree and what reaches the terminal when a command cannot run: a usage
error is one ``extctl: error:`` line plus a ``--help`` hint (exit 1; exit 2 means "plan found
changes"), an expected failure (``ExtctlError``) one ``extctl: error:`` line, and any other exception
one ``extctl: internal error:`` line (exit 1; the traceback only with ``EXTCTL_DEBUG=1``).
Must not: contain business logic; every subcommand lives in ``controller/commands/<name>.py`` and
exposes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from controller import __version__
from controller.commands import EXAMPLES, SUMMARIES
from controller.errors import ExtctlError
from controller.logs import scrub_text

Handler = Callable[[argparse.Namespace], int]
USAGE_EXIT = 1
_PARSER_ATTR = "_extctl_parser"  # the innermost (sub)parser of a command line, for its usage errors


class ExtctlArgumentParser(argparse.ArgumentParser):
    """argparse with extctl's usage errors: one line, a ``--help`` hint, exit 1. Subparsers are created
    with the same class (argparse's ``add_subparsers`` defaults ``parser_class`` to ``type(self)``)."""

    def error(self, message: str) -> NoReturn:
        print(f"extctl: error: {' '.join(message.split())}", file=sys.stderr)
        print(f"extctl: hint: run '{self.prog} --help'", file=sys.stderr)
        sys.exit(USAGE_EXIT)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command tree for ``argv``: the command being run is registered in full, every other one by
    its summary only, so a command imports its own dependencies and nobody else's (``extctl version``
    never imports the kubernetes client, gitpython or ruamel.yaml)."""
    parser = ExtctlArgumentParser(
        prog="extctl",
        description="GitOps controller for Kubernetes cluster extensions.",
    )
    parser.add_argument("--version", action="version", version=f"extctl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    chosen = _command_in(sys.argv[1:] if argv is None else argv)
    for name, summary in SUMMARIES.items():
        if name == chosen:
            importlib.import_module(f"controller.commands.{name}").register(subparsers)
            _document(subparsers.choices[name], name, summary)
        else:
            subparsers.add_parser(name, help=summary, description=summary)
    _remember_parsers(parser)
    return parser


def _document(parser: argparse.ArgumentParser, name: str, summary: str) -> None:
    """A description (the summary, where the command gives none) and the examples of ``EXAMPLES`` as the
    epilog of the command and of each of its subcommands."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = parser.description or summary
    children = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # no public walk
    for action in children:
        for child_name, child in dict(action.choices).items():
            _document(child, f"{name} {child_name}", summary)
    examples = EXAMPLES.get(name) or "\n".join(EXAMPLES[key] for key in EXAMPLES if key.startswith(f"{name} "))
    if examples:
        parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples.splitlines())


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named by ``argv`` (its first argument that is not an option), if it is one."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in SUMMARIES else None


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)parser record itself in the namespace: the innermost one wins, so an unknown
    argument is reported with the usage hint of the command it was given to."""
    parser.set_defaults(**{_PARSER_ATTR: parser})
    for action in parser._actions:  # argparse exposes no public way to walk the command tree
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict(action.choices).values():
                _remember_parsers(subparser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        getattr(args, _PARSER_ATTR, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    handler: Handler = args.handler
    try:
        return handler(args)
    except ExtctlError as exc:
        print(f"extctl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`extctl plan | head`): nothing left to say to it
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush from failing again
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback for a user
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    detail = " ".join(scrub_text(str(exc)).split())
    print(f"extctl: internal error: {type(exc).__name__}: {detail} "
          "(this is a bug; please report it, with --log-level debug output)", file=sys.stderr)
    if os.environ.get("EXTCTL_DEBUG") == "1":
        traceback.print_exception(exc, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
