"""A private asyncio loop on a thread, for injectors that must hold many connections open while the
runner's own loop keeps probing. The held resources die with the process, so a SIGKILLed runner
cannot leave them behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundHold:
    """Runs `hold(stop_event)` on its own loop until `release()` or `max_seconds` passes."""

    def __init__(
        self, name: str, hold: Callable[[asyncio.Event], Coroutine[Any, Any, None]], max_seconds: float
    ):
        self.name = name
        self._hold = hold
        self._max_seconds = max_seconds
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chaosgate-{name}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            # The dead man's switch for this injector: past its deadline the hold ends by itself.
            async with asyncio.timeout(self._max_seconds):
                await self._hold(self._stop)
        except TimeoutError:
            pass
        except BaseException as exc:
            self.error = exc

    def release(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
