"""What the LMA and MAG services share: signaling socket, action queue, status.

Inputs (messages, link events, timers) go into the state machine at once;
the actions that come out are carried out one at a time, in order, by one
task, because netlink calls are awaited and the order is part of the
protocol (a PBA after the route it announces, a buffer rule before the PBA).
Log events are written at once, as they come out.

Each role's service names the action types it takes (`actions`) and marks
the method that carries out each one (`@carries_out`); the table is built and
checked when the class is defined (daemon/dispatch.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv6Address
from typing import Any, ClassVar

from pyroute2 import AsyncIPRoute

from pmip6d.config import NodeConfig, Policy
from pmip6d.control import ControlError
from pmip6d.core.actions import LogEvent, SendMessage, SendParameterProblem
from pmip6d.daemon.dispatch import Handler, action_table, carries_out
from pmip6d.daemon.eventlog import EventLog
from pmip6d.io import ownership
from pmip6d.io.icmpv6 import ErrorSender
from pmip6d.io.mh_socket import MobilityHeaderSocket
from pmip6d.io.route_request import RouteRequests
from pmip6d.io.tunnels import TunnelDriver, select_driver
from pmip6d.wire import ProtocolError, decode, encode
from pmip6d.wire.parameter_problem import parameter_problem


def restart_counter_at(now: float) -> int:
    """This start's RFC 5847 Restart Counter: the start time in milliseconds, mod
    2^32. Peers only compare it with the last one they saw, so it needs to differ
    from one start to the next, which a clock does without state on disk."""
    return int(now * 1000) & 0xFFFFFFFF


class ServiceBase:
    role = "?"
    # The action types this role's state machine produces (and any the service
    # queues for itself); set by each role, checked against its methods.
    actions: ClassVar[tuple[type, ...]] = ()
    handlers: ClassVar[Mapping[type, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = action_table(cls, cls.actions)

    def __init__(self, config: NodeConfig, policy: Policy, log: EventLog) -> None:
        self.config = config
        self.policy = policy
        self.log = log
        self.machine: Any = None
        self.local_address: IPv6Address = IPv6Address("::")
        self.io_counters: Counter[str] = Counter()
        self.ipr: AsyncIPRoute | None = None
        self.routes: RouteRequests | None = None
        self.tunnels: TunnelDriver | None = None
        self.mh: MobilityHeaderSocket | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self.icmpv6 = ErrorSender()
        # Set by the reactor: carrying out an action (a buffer release, say)
        # can move the next deadline, and no input may follow to notice it.
        self.deadline_changed: Callable[[], None] = lambda: None

    # -- lifecycle ------------------------------------------------------------

    async def start(self, now: float) -> None:
        self.ipr = AsyncIPRoute()
        await self.ipr.setup_endpoint()
        self.routes = RouteRequests()
        await ownership.remove_owned_state(self.ipr)
        self.tunnels = await select_driver(self.config.tunnel_driver, self.ipr, self.routes)
        self.log.emit("tunnel_driver", driver=self.tunnels.name)
        await self.tunnels.enable_decapsulation(self.local_address, await self._anchor())
        self.mh = MobilityHeaderSocket(self.local_address)
        self._worker = asyncio.create_task(self._carry_out())
        # Heartbeats: the MAG asks for the LMA's Restart Counter, the LMA announces its own.
        self.submit(self.machine.start(now))

    async def _anchor(self) -> str | None:
        """The interface that anchors decapsulation when our address sits on loopback
        (the kernel refuses a seg6local route on lo): the one toward our peers."""
        ipr = self.ipr
        assert ipr is not None
        async for addr in await ipr.get_addr(family=ownership.AF_INET6):
            if IPv6Address(addr.get("address")) == self.local_address:
                links = [link async for link in await ipr.get_links(addr["index"])]
                if links and links[0].get("ifname") != "lo":
                    return None
        peer = self.anchor_peer()
        routes = await ipr.route("get", family=ownership.AF_INET6, dst=str(peer))
        links = [link async for link in await ipr.get_links(routes[0].get("oif"))]
        return links[0].get("ifname")

    def anchor_peer(self) -> IPv6Address:
        raise NotImplementedError

    async def shutdown(self) -> None:
        if self._worker is not None:
            await self._drain()
            self._worker.cancel()
        if self.mh is not None:
            self.mh.close()
        self.icmpv6.close()
        if self.ipr is not None:
            await ownership.remove_owned_state(self.ipr)
            self.ipr.close()
        if self.routes is not None:
            self.routes.close()

    async def _actions_done(self, timeout: float = 2.0) -> bool:
        """Wait until every queued action was carried out; False after `timeout`."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def _drain(self) -> None:
        if not await self._actions_done():
            self.log.emit("shutdown_actions_abandoned", "warning", pending=self._queue.qsize())

    def readers(self) -> Iterable[tuple[int, Callable[[], None]]]:
        assert self.mh is not None
        return [(self.mh.fileno(), self._on_signaling)]

    # -- inputs -----------------------------------------------------------------

    def _on_signaling(self) -> None:
        assert self.mh is not None
        while (datagram := self.mh.receive()) is not None:
            try:
                message = decode(datagram.payload, datagram.source, datagram.destination)
            except ProtocolError as exc:
                # RFC 6275 9.2: the core says whether to answer (and logs it).
                self.io_counters[f"malformed.{exc.status.name}"] += 1
                source, destination = datagram.source, datagram.destination
                self.submit(
                    self.machine.undecodable(
                        source, destination, datagram.payload, exc, time.time()
                    )
                )
                continue
            self.submit(self.machine.receive(datagram.source, message, time.time()))

    def on_timer(self, now: float) -> None:
        self.submit(self.machine.on_timer(now))

    def next_deadline(self) -> float | None:
        return self.machine.next_deadline()

    def submit(self, actions: Iterable[Any]) -> None:
        for action in actions:
            if isinstance(action, LogEvent):
                self._log_event(action)
            else:
                self._queue.put_nowait(action)

    # -- carrying out actions -----------------------------------------------------

    async def _carry_out(self) -> None:
        while True:
            action = await self._queue.get()
            try:
                await self.carry_out(action)
            finally:
                self._queue.task_done()
                self.deadline_changed()

    async def carry_out(self, action: Any) -> None:
        """Carry out one action with the method the class's table names for it."""
        try:
            result = self.handlers[type(action)](self, action)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:  # noqa: BLE001 - one failed action must not stop the daemon
            self.io_counters[f"action_failed.{type(action).__name__}"] += 1
            self.log.emit("action_failed", "warning", action=type(action).__name__, error=repr(exc))

    @carries_out(LogEvent)
    def _log_event(self, action: LogEvent) -> None:
        self.log.emit(action.name, action.level, **action.fields)

    @carries_out(SendMessage)
    def _send(self, action: SendMessage) -> None:
        assert self.mh is not None
        self.mh.send(action.dst, encode(action.message, self.local_address, action.dst))

    @carries_out(SendParameterProblem)
    def _send_parameter_problem(self, action: SendParameterProblem) -> None:
        message = parameter_problem(action.dst, action.to, action.invoking, action.pointer)
        self.icmpv6.send(str(action.dst), message)

    # -- control --------------------------------------------------------------

    def status(self, now: float) -> dict[str, Any]:
        snapshot = self.machine.snapshot(now)
        snapshot["node"] = self.config.node_name
        snapshot["tunnel_driver"] = self.tunnels.name if self.tunnels else None
        snapshot["counters"] = {**snapshot.get("counters", {}), **self.io_counters}
        return snapshot

    def command(self, request: dict[str, Any], now: float) -> dict[str, Any]:
        if request["command"] == "buffering":
            enabled = request.get("enabled")
            if not isinstance(enabled, bool):
                raise ControlError('"buffering" needs "enabled": true or false')
            self.machine.set_buffering(enabled)
            self.log.emit("buffering_switched", enabled=enabled)
            return {"buffering": enabled}
        raise ControlError(f"the {self.role} daemon has no command {request['command']!r}")
