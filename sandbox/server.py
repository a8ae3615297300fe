"""Process entry point that serves the Kubernetes API emulator: ``python -m sandbox.server --port N``.

Owns: the asyncio loop of one emulator process and its clean exit on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from sandbox.emulator import serve


async def _main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(port, stop=stop)


def main() -> None:
    parser = argparse.ArgumentParser(prog="sandbox.server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(_main(args.port))


if __name__ == "__main__":
    main()
