"""The LMA's handover buffer: the pure engine (core/buffer.py) driven by NFQUEUE.

Kernel packets stay in the kernel while held (NFQUEUE, no verdict yet) and
are released with an accept verdict, which routes them with the routing table
of that moment: into the tunnel to the new MAG. A run of released packets that
are the oldest still awaiting a verdict goes out with one batch verdict, so a
backlog costs one message, not one syscall per packet. Packets handed back by
the previous MAG arrive as bytes and are released through the packet injector.
Both kinds share one handle space, so the engine orders them together.

`LmaBuffering` is the bookkeeping between the engine and the kernel: which
handle is which packet, which MN a packet is for, which verdicts can go as
one. The kernel side (`BufferKernel`: rules, queue, verdicts, injection) is
passed in: `io.nfqueue.NfqueueBufferKernel` in the daemon, a recording
stand-in in the unit tests (tests/daemon), so this part runs without root.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from ipaddress import IPv6Network
from typing import Any, Protocol

from pmip6d.config import BufferingConfig, ProtocolConstants
from pmip6d.core.buffer import BufferPool, VerdictAction
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.prefix_owners import PrefixOwners

IPV6_HEADER = 40


def packet_size(header: bytes) -> int:
    """Whole IPv6 packet length from its first octets (only those cross to user space)."""
    return IPV6_HEADER + struct.unpack_from("!H", header, 4)[0]


class QueuedPacket(Protocol):
    """A packet waiting in the kernel queue for its verdict."""

    id: int

    def get_payload(self) -> bytes: ...


class BufferKernel(Protocol):
    """What the buffer asks of the kernel. The rule changes return a Future that
    is done once the rule is in place (or gone); verdicts and injection act at once."""

    def start(self, on_packet: Callable[[Any], None]) -> Future: ...
    def fileno(self) -> int: ...
    def process(self) -> None: ...
    def hold_prefix(self, prefix: IPv6Network) -> Future: ...
    def release_prefix(self, prefix: IPv6Network) -> Future: ...
    def accept(self, packet: Any) -> None: ...
    def accept_through(self, packet: Any) -> None: ...
    def drop(self, packet: Any) -> None: ...
    def inject(self, data: bytes) -> None: ...
    def close(self) -> Future: ...


def all_done(futures: list[Future]) -> Future:
    """A Future done when every one of `futures` is, failed with the first failure."""
    combined: Future = Future()
    remaining = len(futures)
    # Callbacks run on the worker, or here for a future already done.
    lock = threading.Lock()

    def one_done(future: Future) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            if combined.done():
                return
            if future.exception() is not None:
                combined.set_exception(future.exception())
            elif remaining == 0:
                combined.set_result(None)

    if not futures:
        combined.set_result(None)
    for future in futures:
        future.add_done_callback(one_done)
    return combined


def nfqueue_kernel(config: BufferingConfig) -> BufferKernel:
    from pmip6d.io.nfqueue import NfqueueBufferKernel

    # The kernel queue is as long as the buffer may get, so the engine's limits
    # are the ones that bite and every drop is counted.
    return NfqueueBufferKernel(config.queue_num, max_held=config.max_packets_total)


class LmaBuffering:
    def __init__(
        self,
        config: BufferingConfig,
        timers: ProtocolConstants,
        log: EventLog,
        kernel: BufferKernel | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.log = log
        # Arrival times of queued packets (the engine measures rates from them).
        self.clock = clock
        # The configuration is the engine's limits and pacing, field for field.
        self.pool = BufferPool(config.with_hold_time(timers), config)
        self.kernel = kernel if kernel is not None else nfqueue_kernel(config)
        self.counters: Counter[str] = Counter()
        self._owner = PrefixOwners()
        # Packets awaiting a verdict, oldest (lowest kernel id) first: handles are
        # given in callback order, which is the queue's id order. OrderedDict,
        # because finding the oldest after popping from the front is O(1) there.
        self._in_kernel: OrderedDict[int, QueuedPacket] = OrderedDict()
        self._handed_back: dict[int, bytes] = {}
        # The figures of each MN's last closed buffer, for pmip6ctl and benchmarks.
        self.last_closed: dict[str, dict[str, Any]] = {}
        self._next_handle = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> Future:
        """Bind the queue; the Future is done once the chain is in place."""
        return self.kernel.start(self._on_packet)

    def fileno(self) -> int:
        return self.kernel.fileno()

    def readable(self) -> None:
        self.kernel.process()

    def shutdown(self) -> Future:
        """Fail open: whatever is still held goes on its way, then the rules go."""
        for buffer in list(self.pool):
            self._forward(buffer.discard(0.0))
        self._forward([*self._handed_back, *self._in_kernel])
        return self.kernel.close()

    # -- what the core asks for ---------------------------------------------------

    def start_buffering(self, mn_id: str, prefixes: tuple[IPv6Network, ...], now: float) -> Future:
        """Hold the MN's packets; the Future is done once its rules are in place
        (the LMA answers the de-registration only then)."""
        self.pool.open(mn_id, now, expect_hand_back=self.config.expect_hand_back)
        changes = []
        for prefix in prefixes:
            self._owner.add(prefix, mn_id)
            changes.append(self.kernel.hold_prefix(prefix))
        self.log.emit("buffering_started", mn_id=mn_id, prefixes=list(prefixes))
        return all_done(changes)

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

    def _on_packet(self, packet: QueuedPacket) -> None:
        payload = packet.get_payload()
        mn_id = self._owner.of(payload[24:40])
        buffer = self.pool.get(mn_id) if mn_id is not None else None
        if buffer is None:
            # Queued just before its rule went away: nothing is held ahead of it.
            self.kernel.accept(packet)
            return
        handle = self._new_handle(packet)
        verdict = buffer.hold(handle, packet_size(payload), self.clock())
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
            # Not waited for: until the rule is gone, what it still queues finds
            # no buffer and is accepted at once (_on_packet).
            self.kernel.release_prefix(prefix)
        if buffer is not None:
            if buffer.state.value == "passthrough":
                buffer.close(now)
            final = buffer.stats(now)
            self.last_closed[mn_id] = final
            self.log.emit("buffer_closed", mn_id=mn_id, **_summary(final))
            self.pool.forget(mn_id)

    # -- carrying out verdicts ---------------------------------------------------------

    def _new_handle(self, item: QueuedPacket | bytes) -> int:
        self._next_handle += 1
        if isinstance(item, bytes):
            self._handed_back[self._next_handle] = item
        else:
            self._in_kernel[self._next_handle] = item
        return self._next_handle

    def _forward(self, handles: list[int]) -> None:
        """Forward in the given order. Consecutive handles that are each the oldest
        packet still in the kernel form a prefix of the queue: one batch verdict."""
        batch_newest: QueuedPacket | None = None
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

    def _accept_batch(self, newest: QueuedPacket | None, size: int) -> None:
        if newest is None:
            return
        if size == 1:
            self.kernel.accept(newest)
        else:
            self.kernel.accept_through(newest)
        self.counters["verdict_messages"] += 1

    def _drop(self, handles: list[int]) -> None:
        for handle in handles:
            if self._handed_back.pop(handle, None) is None:
                self.kernel.drop(self._in_kernel.pop(handle))

    def _inject(self, packet: bytes) -> None:
        try:
            self.kernel.inject(packet)
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
