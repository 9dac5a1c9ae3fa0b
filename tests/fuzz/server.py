"""The whole server on a real socket in a thread of its own (its own event loop), for clients that
are not asyncio, such as schemathesis: requests go over TCP exactly as from outside."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class ThreadedServer:
    """An event loop in a thread (started at once, for set-up work such as creating a database),
    then :meth:`serve` an application on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.run(self._runner.setup())
        self.run(web.TCPSite(self._runner, "127.0.0.1", 0).start())
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop_app(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
            self._runner = None

    def stop_loop(self) -> None:
        self.stop_app()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
