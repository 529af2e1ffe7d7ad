"""The LMA's handover buffer: the pure engine (core/buffer.py) driven by NFQUEUE.

Kernel packets stay in the kernel while held (NFQUEUE, no verdict yet) and
are released with an accept verdict, which routes them with the routing table
of that moment: into the tunnel to the new MAG. A run of released packets that
are the oldest still awaiting a verdict goes out with one batch verdict, so a
backlog costs one message, not one syscall per packet. Packets handed back by
the previous MAG arrive as bytes and are released through the packet injector.
Both kinds share one handle space, so the engine orders them together.
"""

from __future__ import annotations

import struct
import time
from collections import Counter, OrderedDict
from ipaddress import IPv6Network
from typing import Any

from netfilterqueue import Packet

from pmip6d.config import BufferingConfig, ProtocolConstants
from pmip6d.core.buffer import BufferPool, VerdictAction
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.prefix_owners import PrefixOwners
from pmip6d.io.nfqueue import BufferRules, PacketQueue
from pmip6d.io.packet_injector import PacketInjector

IPV6_HEADER = 40


def packet_size(header: bytes) -> int:
    """Whole IPv6 packet length from its first octets (only those cross to user space)."""
    return IPV6_HEADER + struct.unpack_from("!H", header, 4)[0]


class LmaBuffering:
    def __init__(self, config: BufferingConfig, timers: ProtocolConstants, log: EventLog):
        self.config = config
        self.log = log
        # The configuration is the engine's limits and pacing, field for field.
        self.pool = BufferPool(config.with_hold_time(timers), config)
        self.rules = BufferRules()
        self.queue: PacketQueue | None = None
        self.injector: PacketInjector | None = None
        self.counters: Counter[str] = Counter()
        self._owner = PrefixOwners()
        # Packets awaiting a verdict, oldest (lowest kernel id) first: handles are
        # given in callback order, which is the queue's id order. OrderedDict,
        # because finding the oldest after popping from the front is O(1) there.
        self._in_kernel: OrderedDict[int, Packet] = OrderedDict()
        self._handed_back: dict[int, bytes] = {}
        # The figures of each MN's last closed buffer, for pmip6ctl and benchmarks.
        self.last_closed: dict[str, dict[str, Any]] = {}
        self._next_handle = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        self.rules.cleanup()
        self.rules.install()
        self.queue = PacketQueue(
            self.config.queue_num, self._on_packet, max_held=self.config.max_packets_total
        )
        self.injector = PacketInjector()

    def fileno(self) -> int:
        assert self.queue is not None
        return self.queue.fileno()

    def readable(self) -> None:
        assert self.queue is not None
        self.queue.process()

    def shutdown(self) -> None:
        # Fail open: whatever is still held goes on its way.
        for buffer in list(self.pool):
            self._forward(buffer.discard(0.0))
        self._forward([*self._handed_back, *self._in_kernel])
        self.rules.cleanup()
        if self.queue is not None:
            self.queue.close()
        if self.injector is not None:
            self.injector.close()

    # -- what the core asks for ---------------------------------------------------

    def start_buffering(self, mn_id: str, prefixes: tuple[IPv6Network, ...], now: float) -> None:
        self.pool.open(mn_id, now, expect_hand_back=self.config.expect_hand_back)
        for prefix in prefixes:
            self._owner.add(prefix, mn_id)
            self.rules.hold_prefix(prefix, self.config.queue_num)
        self.log.emit("buffering_started", mn_id=mn_id, prefixes=list(prefixes))

    def release(self, mn_id: str, now: float) -> None:
        buffer = self.pool.get(mn_id)
        if buffer is None:
            return
        released = buffer.start_release(now)
        self._forward(released)
        self.log.emit(
            "buffer_release_started",
            mn_id=mn_id,
            held=buffer.depth + len(released),
            first_burst=len(released),
            awaiting_hand_back=buffer.awaiting_hand_back,
        )

    def discard(self, mn_id: str, now: float) -> None:
        buffer = self.pool.get(mn_id)
        if buffer is None:
            return
        dropped = buffer.discard(now)
        self._drop(dropped)
        self._close(mn_id, now)
        self.log.emit("buffer_discarded", "warning", mn_id=mn_id, dropped=len(dropped))

    def hand_back(self, mn_id: str, packets: tuple[bytes, ...], last: bool, now: float) -> None:
        buffer = self.pool.get(mn_id)
        self.counters["handed_back_packets"] += len(packets)
        if buffer is None:
            # No buffer (buffering off here, or already closed): late is better than lost.
            self.counters["handed_back_forwarded_at_once"] += len(packets)
            for packet in packets:
                self._inject(packet)
            return
        entries = []
        for packet in packets:
            handle = self._new_handle(packet)
            entries.append((handle, len(packet)))
        dropped = buffer.prepend_handed_back(entries, now, complete=last)
        self._drop([handle for handle, _reason in dropped])
        self._forward(buffer.due(now))

    # -- packets from the kernel ----------------------------------------------------

    def _on_packet(self, packet: Packet) -> None:
        payload = packet.get_payload()
        mn_id = self._owner.of(payload[24:40])
        buffer = self.pool.get(mn_id) if mn_id is not None else None
        if buffer is None:
            # Queued just before its rule went away: nothing is held ahead of it.
            packet.accept()
            return
        handle = self._new_handle(packet)
        verdict = buffer.hold(handle, packet_size(payload), _now())
        if verdict.action is VerdictAction.RELEASE:
            self._forward([handle])
        elif verdict.action is VerdictAction.DROP:
            self.counters[f"dropped.{verdict.reason}"] += 1
            self._drop([handle])

    # -- timers ---------------------------------------------------------------------

    def on_timer(self, now: float) -> None:
        for buffer in list(self.pool):
            self._drop(buffer.expire(now))
            self._forward(buffer.due(now))
            if buffer.should_remove_rule(now):
                self._close(buffer.mn_id, now)

    def next_deadline(self) -> float | None:
        return self.pool.next_deadline()

    def _close(self, mn_id: str, now: float) -> None:
        buffer = self.pool.get(mn_id)
        for prefix in self._owner.remove_mn(mn_id):
            self.rules.release_prefix(prefix)
        if buffer is not None:
            if buffer.state.value == "passthrough":
                buffer.close(now)
            final = buffer.stats(now)
            self.last_closed[mn_id] = final
            self.log.emit("buffer_closed", mn_id=mn_id, **_summary(final))
            self.pool.forget(mn_id)

    # -- carrying out verdicts ---------------------------------------------------------

    def _new_handle(self, item: Packet | bytes) -> int:
        self._next_handle += 1
        if isinstance(item, bytes):
            self._handed_back[self._next_handle] = item
        else:
            self._in_kernel[self._next_handle] = item
        return self._next_handle

    def _forward(self, handles: list[int]) -> None:
        """Forward in the given order. Consecutive handles that are each the oldest
        packet still in the kernel form a prefix of the queue: one batch verdict."""
        batch_newest: Packet | None = None
        batch_size = 0
        for handle in handles:
            packet = self._in_kernel.get(handle)
            if packet is None:
                self._accept_batch(batch_newest, batch_size)
                batch_newest, batch_size = None, 0
                self._inject(self._handed_back.pop(handle))
                continue
            oldest = next(iter(self._in_kernel))
            del self._in_kernel[handle]
            if handle == oldest:
                batch_newest, batch_size = packet, batch_size + 1
            else:
                self._accept_batch(batch_newest, batch_size)
                batch_newest, batch_size = None, 0
                self._accept_batch(packet, 1)
        self._accept_batch(batch_newest, batch_size)

    def _accept_batch(self, newest: Packet | None, size: int) -> None:
        if newest is None:
            return
        if size == 1:
            newest.accept()
        else:
            assert self.queue is not None
            self.queue.accept_through(newest.id)
        self.counters["verdict_messages"] += 1

    def _drop(self, handles: list[int]) -> None:
        for handle in handles:
            if self._handed_back.pop(handle, None) is None:
                self._in_kernel.pop(handle).drop()

    def _inject(self, packet: bytes) -> None:
        assert self.injector is not None
        try:
            self.injector.send(packet)
        except (OSError, ValueError) as exc:
            self.counters["inject_failed"] += 1
            self.log.emit("inject_failed", "warning", error=str(exc))

    def stats(self, now: float) -> dict[str, Any]:
        stats = self.pool.stats(now)
        stats["last_closed"] = self.last_closed
        stats["counters"] = dict(self.counters)
        stats["rules"] = [str(p) for p in self._owner.prefixes()]
        return stats


def _summary(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("peak", "held_total", "handed_back", "released", "dropped_total", "age")
    return {key: stats[key] for key in keys}


def _now() -> float:
    return time.time()
