"""Process entry point that serves the Kubernetes API emulator: ``python -m sandbox.server --port N``.

Owns: the asyncio loop of one emulator process, the workload simulator it starts next to the emulator
(``sandbox.workloads``: the status a kubelet and the workload controllers would write, after
``--ready-delay`` seconds), and the clean exit of both on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from sandbox.emulator import serve
from sandbox.workloads import DEFAULT_DELAY_S, WorkloadSimulator


async def _main(port: int, ready_delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = asyncio.Event()
    server = asyncio.create_task(serve(port, ready=ready, stop=stop))
    await asyncio.wait([server, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
    if server.done():  # it failed to start: report why
        await server
        return
    await WorkloadSimulator(f"http://127.0.0.1:{port}", delay=ready_delay).run(stop)
    await server


def main() -> None:
    parser = argparse.ArgumentParser(prog="sandbox.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-delay", type=float, default=DEFAULT_DELAY_S,
                        help="seconds before a new or changed workload reports ready (env SANDBOX_READY_DELAY_S)")
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.ready_delay))


if __name__ == "__main__":
    main()
