"""``python -m sandbox start|stop|status --dir DIR``: run the sandbox in the background by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.core import Sandbox
from sandbox.postgres import PostgresUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=Path(".sandbox"))
    args = parser.parse_args(argv)
    sandbox = Sandbox(args.dir)
    if args.action == "start":
        try:
            state = sandbox.start()
        except (PostgresUnavailable, RuntimeError) as exc:
            print(f"sandbox: error: {exc}", file=sys.stderr)
            return 1
        print(f"sandbox: Kubernetes API emulator on http://127.0.0.1:{state.emulator_port}, "
              f"PostgreSQL on 127.0.0.1:{state.postgres_port}")
        print(f"sandbox: run `source {sandbox.env_file}` to use it with helm, kubectl and extctl")
        return 0
    if args.action == "stop":
        sandbox.stop()
        print(f"sandbox: stopped ({sandbox.dir})")
        return 0
    running = sandbox.is_running()
    print(f"sandbox: {'running' if running else 'stopped'} ({sandbox.dir})")
    return 0 if running else 3


if __name__ == "__main__":
    sys.exit(main())
