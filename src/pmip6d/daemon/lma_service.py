"""The LMA service: binding cache in the core, tunnel routes toward the MAGs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from ipaddress import IPv6Address
from typing import Any, get_args

from pmip6d.config import NodeConfig, Policy
from pmip6d.core.actions import (
    DiscardBuffer,
    InstallMnRoute,
    LmaAction,
    ReleaseBuffer,
    RemoveMnRoute,
    StartBuffering,
)
from pmip6d.core.lma import LocalMobilityAnchor
from pmip6d.daemon.dispatch import carries_out
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.lma_buffering import LmaBuffering
from pmip6d.daemon.service import ServiceBase, restart_counter_at
from pmip6d.io.hand_back_socket import HandBackSocket
from pmip6d.wire.handback import HandBackError, unpack_hand_back


class LmaService(ServiceBase):
    role = "lma"
    actions = get_args(LmaAction)

    def __init__(self, config: NodeConfig, policy: Policy, log: EventLog) -> None:
        super().__init__(config, policy, log)
        assert config.lma is not None
        self.machine = LocalMobilityAnchor(
            config, policy, restart_counter=restart_counter_at(time.time())
        )
        self.local_address = config.lma.address
        self.buffers = LmaBuffering(config.lma.buffering, config.protocol, log)
        self.hand_backs: HandBackSocket | None = None

    def anchor_peer(self) -> IPv6Address:
        mags = self.policy.authorized_mags
        if not mags:
            raise RuntimeError("the policy authorizes no MAG, so the LMA has no peer")
        return mags[0].address

    @carries_out(InstallMnRoute)
    async def _install_route(self, action: InstallMnRoute) -> None:
        assert self.tunnels is not None
        for prefix in action.prefixes:
            await self.tunnels.route_prefix_to_peer(prefix, action.mag_address)

    @carries_out(RemoveMnRoute)
    async def _remove_route(self, action: RemoveMnRoute) -> None:
        assert self.tunnels is not None
        for prefix in action.prefixes:
            await self.tunnels.remove_prefix_route(prefix)

    async def start(self, now: float) -> None:
        await super().start(now)
        assert self.config.lma is not None and self.tunnels is not None
        prepared = [
            str(mag.address)
            for mag in self.policy.authorized_mags
            if await self.tunnels.prepare_peer(mag.address)
        ]
        self.log.emit("peers_prepared", peers=prepared)
        await asyncio.wrap_future(self.buffers.start())
        self.hand_backs = HandBackSocket(self.local_address, self.config.hand_back_port)

    async def shutdown(self) -> None:
        await asyncio.wrap_future(self.buffers.shutdown())
        if self.hand_backs is not None:
            self.hand_backs.close()
        await super().shutdown()

    def readers(self) -> Iterable[tuple[int, Callable[[], None]]]:
        assert self.hand_backs is not None
        return [
            *super().readers(),
            (self.buffers.fileno(), self.buffers.readable),
            (self.hand_backs.fileno(), self._on_hand_back),
        ]

    def on_timer(self, now: float) -> None:
        super().on_timer(now)
        self.buffers.on_timer(now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (super().next_deadline(), self.buffers.next_deadline()) if d]
        return min(deadlines) if deadlines else None

    def status(self, now: float) -> dict[str, Any]:
        status = super().status(now)
        status["buffers"] = self.buffers.stats(now)
        return status

    @carries_out(StartBuffering)
    async def _start_buffering(self, action: StartBuffering) -> None:
        # The PBA that follows must find the rule in place; the loop goes on
        # meanwhile (the rule is changed on a thread of its own, io/nfqueue.py).
        rules = self.buffers.start_buffering(action.mn_id, action.prefixes, time.time())
        await asyncio.wrap_future(rules)

    @carries_out(ReleaseBuffer)
    def _release_buffer(self, action: ReleaseBuffer) -> None:
        self.buffers.release(action.mn_id, time.time())

    @carries_out(DiscardBuffer)
    def _discard_buffer(self, action: DiscardBuffer) -> None:
        self.buffers.discard(action.mn_id, time.time())

    def _on_hand_back(self) -> None:
        assert self.hand_backs is not None
        while (datagram := self.hand_backs.receive()) is not None:
            if not self.policy.is_authorized_mag(datagram.source):
                self.io_counters["hand_back_unauthorized"] += 1
                self.log.emit("hand_back_refused", "warning", src=datagram.source)
                continue
            try:
                message = unpack_hand_back(datagram.payload)
            except HandBackError as exc:
                self.io_counters["hand_back_malformed"] += 1
                self.log.emit("hand_back_malformed", "warning", src=datagram.source, error=str(exc))
                continue
            self.log.emit(
                "hand_back_received",
                mn_id=message.mn_id,
                src=datagram.source,
                packets=len(message.packets),
                last=message.last,
            )
            self.buffers.hand_back(message.mn_id, message.packets, message.last, time.time())
