"""Watch streams of the emulator: the existing objects, then every change, bounded by ``timeoutSeconds``.

Owns: the order and completeness of a watch stream. kmock replays the objects under its lock but joins
the change bus only after it has sent them, so a change made while the replay is being written is never
streamed; an informer (helm's ``--wait=watcher``) then waits for ever for a status that is already there.
Here the snapshot and the bus position are taken together, under the lock every write holds while it
publishes its event.

Must not: filter by selectors (``sandbox.selectors``, applied by the emulator) or be imported by
``controller/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from kmock._internal import rendering


async def snapshot_then_events(emulator: Any, request: rendering.Request, objects_of: Callable[..., list[Any]],
                               permits: Callable[..., bool]) -> AsyncIterator[rendering.Payload]:
    """ADDED for every object that exists, then the bus from the same instant. ``objects_of`` and
    ``permits`` are kmock's object lookup and request check (private there, passed in by the emulator)."""
    yield b""  # send the headers now: a quiet watch is still a started stream
    assert request.resource is not None
    bus = emulator._buses[request.resource]  # kmock's per-resource event bus
    async with emulator._lock:  # the lock kmock's writes hold while they publish
        events = [{"type": "ADDED", "object": obj.raw} for obj in objects_of(request, strict=False) if not obj.deleted]
        marker = await bus.mark()
    try:
        for event in events:
            yield event
        async for event in bus.stream(since=marker):
            meta = event.get("object", {}).get("metadata", {})
            if permits(request, request.resource, meta.get("namespace"), meta.get("name"), strict=False):
                yield event
    finally:
        await bus.unmark(marker)


async def until_timeout(stream: AsyncIterator[rendering.Payload], timeout: float) -> AsyncIterator[rendering.Payload]:
    """The events of ``stream`` until ``timeout`` seconds have passed (0: until the client goes away)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout > 0 else None
    iterator = stream.__aiter__()
    while True:
        try:
            if deadline is None:
                event = await iterator.__anext__()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                event = await asyncio.wait_for(iterator.__anext__(), remaining)
        except (StopAsyncIteration, TimeoutError):
            return
        yield event
