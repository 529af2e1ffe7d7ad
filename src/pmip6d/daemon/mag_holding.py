"""The previous MAG's side of the in-flight window: hold, then hand back.

Packets the LMA tunnelled here after the MN left, but before the LMA learnt
of it, would be lost on the dead access link. The hold route
(io/hold_route.py) steers them to an NFQUEUE the instant the carrier drops;
they are kept as bytes, counted by the pure engine's limits, and sent to the
LMA as hand-back messages when the de-registration is settled, so the LMA
puts them at the head of the MN's buffer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import Future
from ipaddress import IPv6Address, IPv6Network
from typing import Any

from netfilterqueue import Packet

from pmip6d.config import MagConfig, ProtocolConstants
from pmip6d.core.buffer import BufferPool, VerdictAction
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.prefix_owners import PrefixOwners
from pmip6d.io.hand_back_socket import HandBackSocket
from pmip6d.io.hold_route import HOLD_DEVICE, HoldRoutes, linkdown_routes_ignored
from pmip6d.io.nfqueue import COPY_WHOLE, HOLD_CHAIN, BufferRules, PacketQueue, RuleWorker
from pmip6d.wire.handback import pack_hand_back


class MagHolding:
    def __init__(
        self,
        config: MagConfig,
        timers: ProtocolConstants,
        hand_back_port: int,
        log: EventLog,
        routes: HoldRoutes,
    ):
        self.config = config
        self.hand_back_port = hand_back_port
        self.log = log
        self.routes = routes
        self.pool = BufferPool(config.hold_limits.with_hold_time(timers))
        self.rules = BufferRules(chain=HOLD_CHAIN, hook="FORWARD")
        self.rule_worker = RuleWorker()
        self.queue: PacketQueue | None = None
        self.socket: HandBackSocket | None = None
        self.counters: Counter[str] = Counter()
        self._owner = PrefixOwners()
        self._holding: set[str] = set()
        self._held: dict[int, bytes] = {}
        self._next_handle = 0

    async def start(self) -> None:
        await self.routes.create_device()
        await asyncio.wrap_future(self.rule_worker.submit(self._fresh_rules))
        self.queue = PacketQueue(
            self.config.hold_queue_num,
            self._on_packet,
            max_held=self.config.hold_limits.max_packets_total,
            copy_range=COPY_WHOLE,
        )
        self.socket = HandBackSocket(self.config.proxy_coa)
        for ifname in self.config.access_interfaces:
            if not linkdown_routes_ignored(ifname):
                self.log.emit(
                    "hold_ineffective",
                    "warning",
                    interface=ifname,
                    fix=f"sysctl net.ipv6.conf.{ifname}.ignore_routes_with_linkdown=1",
                )

    def _fresh_rules(self) -> None:
        self.rules.cleanup()  # a crashed predecessor's leftovers
        self.rules.install()
        self.rules.hold_output_device(HOLD_DEVICE, self.config.hold_queue_num)

    def fileno(self) -> int:
        assert self.queue is not None
        return self.queue.fileno()

    def readable(self) -> None:
        assert self.queue is not None
        self.queue.process()

    def shutdown(self) -> Future:
        """Unbind and close; the Future is done once the rules are gone."""
        if self.queue is not None:
            self.queue.close()
        if self.socket is not None:
            self.socket.close()
        done = self.rule_worker.submit(self.rules.cleanup)
        self.rule_worker.close(wait=False)
        return done

    # -- what the core asks for ------------------------------------------------------

    async def mn_routes_up(self, mn_id: str, prefixes: tuple[IPv6Network, ...]) -> None:
        """The MN is attached here: arm the hold route behind its access route."""
        for prefix in prefixes:
            self._owner.add(prefix, mn_id)
            await self.routes.add(prefix)

    async def mn_routes_down(self, mn_id: str) -> None:
        """The MN's routes are gone; unless a hold is on for it, so is the hold route."""
        if mn_id in self._holding:
            return
        await self._disarm(mn_id)
        buffer = self.pool.get(mn_id)
        if buffer is not None:
            # Packets caught before the core decided not to hold (holding is off).
            self._discard(buffer.take_all(time.time()))
            self.pool.forget(mn_id)

    def hold(self, mn_id: str) -> None:
        self._holding.add(mn_id)
        if self.pool.get(mn_id) is None:
            self.pool.open(mn_id, time.time())

    async def hand_back(self, mn_id: str, lma: IPv6Address, final: bool = True) -> None:
        """Send what is held for `mn_id` to the LMA; `final`: and stop holding."""
        now = time.time()
        if final:
            self._holding.discard(mn_id)
        buffer = self.pool.get(mn_id)
        handles = buffer.take_all(now) if buffer is not None else []
        packets = [self._held.pop(handle) for handle in handles]
        assert self.socket is not None
        for datagram in pack_hand_back(mn_id, packets):
            try:
                self.socket.send(lma, self.hand_back_port, datagram)
            except OSError as exc:
                self.counters["hand_back_send_failed"] += 1
                self.log.emit("hand_back_send_failed", "warning", mn_id=mn_id, error=str(exc))
        self.counters["handed_back_packets"] += len(packets)
        dropped = buffer.stats(now)["dropped_total"] if buffer is not None else 0
        self.log.emit(
            "hand_back_sent", mn_id=mn_id, packets=len(packets), dropped=dropped, final=final
        )
        # The emptied buffer is closed; an early hand-back leaves the hold route in
        # place, and what it catches next opens a new buffer.
        self.pool.forget(mn_id)
        if final:
            await self._disarm(mn_id)

    async def _disarm(self, mn_id: str) -> None:
        for prefix in self._owner.remove_mn(mn_id):
            await self.routes.remove(prefix)

    # -- packets routed to the hold device -----------------------------------------------

    def _on_packet(self, packet: Packet) -> None:
        payload = packet.get_payload()
        # The bytes are all we need: the kernel copy can go at once.
        packet.drop()
        mn_id = self._owner.of(payload[24:40])
        if mn_id is None:
            self.counters["hold_unowned"] += 1
            return
        buffer = self.pool.get(mn_id) or self.pool.open(mn_id, time.time())
        self._next_handle += 1
        self._held[self._next_handle] = payload
        verdict = buffer.hold(self._next_handle, len(payload), time.time())
        if verdict.action is not VerdictAction.HOLD:
            self._held.pop(self._next_handle)
            self.counters[f"hold_dropped.{verdict.reason}"] += 1

    def _discard(self, handles: list[int]) -> None:
        for handle in handles:
            self._held.pop(handle, None)
        self.counters["hold_discarded"] += len(handles)

    def on_timer(self, now: float) -> None:
        for buffer in list(self.pool):
            self._discard(buffer.expire(now))

    def next_deadline(self) -> float | None:
        return self.pool.next_deadline()

    def stats(self, now: float) -> dict[str, Any]:
        stats = self.pool.stats(now)
        stats["counters"] = dict(self.counters)
        return stats
