"""Serve the console with uvicorn in a thread of the station process.

One process for the bench keeps one owner of the instruments and the
database: the console reads the Station object it shows, with no second
copy of the state to drift. uvicorn's own logs go to the `uvicorn` loggers
(the journal, through the station's stderr), never to the screen.
"""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from collector_station.console.app import create_app
from collector_station.console.live import ConsoleLive

log = logging.getLogger(__name__)


class ConsoleServer:
    """The console of `station` on http://bind:port/ (port 0: any free port)."""

    def __init__(self, station, bind: str = "127.0.0.1", port: int = 8080) -> None:
        self.live = ConsoleLive(station)
        self.app = create_app(self.live)
        self.bind = bind
        self._config = uvicorn.Config(self.app, host=bind, port=port, log_config=None,
                                      access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                                      ws="none", loop="asyncio", http="h11")
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked)."""
        for server in getattr(self._server, "servers", []) or []:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self._config.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        return f"http://{host}:{self.port}/"

    def start(self, timeout_s: float = 10.0) -> ConsoleServer:
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise OSError(f"the console could not listen on {self.bind}:{self._config.port}")
            if time.monotonic() > deadline:
                raise TimeoutError("the console did not start")
            time.sleep(0.02)
        log.info("console on %s", self.url)
        return self

    def stop(self) -> None:
        self.live.closed.set()
        self._server.should_exit = True
        if self._thread:
            self._thread.join(5)
