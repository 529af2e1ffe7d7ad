"""The asyncio reactor: feeds inputs into a state machine, carries out its actions.

The role-specific part (LMA or MAG) is a `Service`: it owns the state machine
and the adapters, and says which file descriptors to watch. The reactor owns
what both roles share: the event loop, the protocol timer, signals and the
control socket.

Clock: the core takes `now` as wall-clock seconds (the Timestamp option of
RFC 5213 carries wall-clock time), so deadlines are wall-clock too and are
turned into loop delays here.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from pmip6d import control
from pmip6d.daemon.eventlog import EventLog


class Service(Protocol):
    role: str
    deadline_changed: Callable[[], None]

    async def start(self, now: float) -> None: ...
    def readers(self) -> Iterable[tuple[int, Callable[[], None]]]: ...
    def on_timer(self, now: float) -> None: ...
    def next_deadline(self) -> float | None: ...
    def status(self, now: float) -> dict[str, Any]: ...
    def command(
        self, request: dict[str, Any], now: float
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]: ...
    async def shutdown(self) -> None: ...


class Reactor:
    def __init__(self, service: Service, control_socket: Path, log: EventLog) -> None:
        self.service = service
        self.control_socket = control_socket
        self.log = log
        self._timer: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(signum, self._request_stop, signum)
        self.service.deadline_changed = self.reschedule
        await self.service.start(time.time())
        try:
            for fd, callback in self.service.readers():
                self._loop.add_reader(fd, self._guarded(callback))
            server = await control.serve(self.control_socket, self._on_control)
            self.log.emit(
                "daemon_started", role=self.service.role, control=str(self.control_socket)
            )
            self.reschedule()
            async with server:
                await self._stopping.wait()
        finally:
            for fd, _ in self.service.readers():
                self._loop.remove_reader(fd)
            if self._timer is not None:
                self._timer.cancel()
            await self.service.shutdown()
            if self.control_socket.exists():
                self.control_socket.unlink()
            self.log.emit("daemon_stopped", role=self.service.role)

    def _request_stop(self, signum: int) -> None:
        self.log.emit("signal", signal=signal.Signals(signum).name)
        assert self._stopping is not None
        self._stopping.set()

    def _guarded(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Every input may move a deadline, so reschedule after each one."""

        def run() -> None:
            callback()
            self.reschedule()

        return run

    def reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.service.next_deadline()
        if deadline is not None and self._loop is not None:
            delay = max(0.0, deadline - time.time())
            self._timer = self._loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.service.on_timer(time.time())
        self.reschedule()

    def _on_control(self, request: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        now = time.time()
        if request["command"] == "status":
            return self.service.status(now)
        result = self.service.command(request, now)
        self.reschedule()
        return result
