"""The LMA buffer's bookkeeping between the engine and the kernel, without root.

The kernel side is `QueueModel`: it keeps the packets awaiting a verdict the way
NFQUEUE does (by id, in arrival order) and applies a batch verdict as the
kernel does, to every waiting packet up to the id; so a batch that would let
another MN's held packet go shows up as that packet delivered too early.
(tests/io/test_nfqueue.py runs the same path on a real queue, as root.)
"""

from __future__ import annotations

import io
import json
import struct
from concurrent.futures import Future
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.config import BufferingConfig, ProtocolConstants
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.lma_buffering import LmaBuffering, all_done

MN1_PREFIX = IPv6Network("2001:db8:1:1::/64")
MN2_PREFIX = IPv6Network("2001:db8:1:2::/64")
T0 = 1_700_000_000.0


def ipv6_packet(destination: IPv6Network, payload_length: int = 60, tag: int = 0) -> bytes:
    """An IPv6 header (+ payload) to an address of `destination`; `tag` tells packets apart."""
    header = struct.pack("!IHBB", 6 << 28, payload_length, 17, 64)
    source = IPv6Address("2001:db8:c::10").packed
    address = (destination.network_address + 0x10).packed
    return header + source + address + tag.to_bytes(payload_length, "big")


def done() -> Future:
    future: Future = Future()
    future.set_result(None)
    return future


class QueuedPacket:
    def __init__(self, packet_id: int, payload: bytes) -> None:
        self.id = packet_id
        self._payload = payload

    def get_payload(self) -> bytes:
        return self._payload


class QueueModel:
    """The kernel as the buffer sees it: rules, a queue with ids, verdicts."""

    def __init__(self) -> None:
        self.on_packet = None
        self.rules: list[IPv6Network] = []
        self.rule_changes: list[tuple[str, IPv6Network]] = []
        self.waiting: dict[int, QueuedPacket] = {}
        self.delivered: list[int] = []
        self.dropped: list[int] = []
        self.injected: list[bytes] = []
        self.messages = 0
        self.closed = False
        self._next_id = 0

    # what the kernel does on its own
    def arrive(self, payload: bytes) -> int:
        self._next_id += 1
        packet = QueuedPacket(self._next_id, payload)
        self.waiting[packet.id] = packet
        self.on_packet(packet)
        return packet.id

    # BufferKernel
    def start(self, on_packet) -> Future:
        self.on_packet = on_packet
        return done()

    def fileno(self) -> int:
        return -1

    def process(self) -> None:
        pass

    def hold_prefix(self, prefix: IPv6Network) -> Future:
        self.rules.append(prefix)
        self.rule_changes.append(("hold", prefix))
        return done()

    def release_prefix(self, prefix: IPv6Network) -> Future:
        self.rules.remove(prefix)
        self.rule_changes.append(("release", prefix))
        return done()

    def accept(self, packet: QueuedPacket) -> None:
        self.messages += 1
        self.delivered.append(self.waiting.pop(packet.id).id)

    def accept_through(self, packet: QueuedPacket) -> None:
        self.messages += 1
        for packet_id in sorted(i for i in self.waiting if i <= packet.id):
            self.delivered.append(self.waiting.pop(packet_id).id)

    def drop(self, packet: QueuedPacket) -> None:
        self.dropped.append(self.waiting.pop(packet.id).id)

    def inject(self, data: bytes) -> None:
        self.injected.append(data)

    def close(self) -> Future:
        self.closed = True
        return done()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(**settings):
    kernel, clock, log = QueueModel(), Clock(), io.StringIO()
    settings = {
        "expect_hand_back": False,
        "release_burst": 4,
        "min_release_rate": 1000.0,
        **settings,
    }
    buffering = LmaBuffering(
        BufferingConfig(**settings),
        ProtocolConstants(),
        EventLog("lma", "json", log),
        kernel=kernel,
        clock=clock,
    )
    assert buffering.start().done()
    return buffering, kernel, clock


@pytest.fixture
def lma():
    return make()


def events(buffering) -> list[dict]:
    return [json.loads(line) for line in buffering.log.stream.getvalue().splitlines()]


def test_held_packets_go_in_order_and_a_backlog_costs_few_verdict_messages(lma):
    buffering, kernel, clock = lma
    assert buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now).done()
    assert kernel.rules == [MN1_PREFIX]
    ids = [kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)) for n in range(10)]
    assert kernel.delivered == [] and len(kernel.waiting) == 10

    clock.now += 0.5
    buffering.release("mn1", clock.now)
    assert kernel.delivered == ids[:4]  # the first burst
    assert kernel.messages == 1  # ... in one batch verdict
    while kernel.waiting:
        clock.now = buffering.next_deadline()
        buffering.on_timer(clock.now)
    assert kernel.delivered == ids
    assert kernel.messages < len(ids)


def test_releasing_one_mn_never_lets_another_mns_older_packets_go(lma):
    buffering, kernel, clock = lma
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    buffering.start_buffering("mn2", (MN2_PREFIX,), clock.now)
    first, second = [], []
    for n in range(3):
        first.append(kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)))
        second.append(kernel.arrive(ipv6_packet(MN2_PREFIX, tag=n)))

    buffering.release("mn2", clock.now)
    assert kernel.delivered == second  # one by one: mn1's packets sit between them
    assert sorted(kernel.waiting) == first
    buffering.release("mn1", clock.now)
    assert kernel.delivered == second + first
    assert buffering.counters["verdict_messages"] == 4  # three single, one batch


def test_handed_back_packets_go_first_and_through_the_injector(lma):
    buffering, kernel, clock = lma
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    held = [kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)) for n in range(2)]
    handed_back = (ipv6_packet(MN1_PREFIX, tag=100), ipv6_packet(MN1_PREFIX, tag=101))
    buffering.hand_back("mn1", handed_back, True, clock.now)
    assert kernel.injected == [] and kernel.delivered == []  # still held, at the head

    buffering.release("mn1", clock.now)
    assert kernel.injected == list(handed_back)
    assert kernel.delivered == held


def test_a_hand_back_without_a_buffer_is_sent_on_at_once(lma):
    buffering, kernel, clock = lma
    packet = ipv6_packet(MN1_PREFIX)
    buffering.hand_back("mn1", (packet,), True, clock.now)
    assert kernel.injected == [packet]
    assert buffering.counters["handed_back_forwarded_at_once"] == 1


def test_over_the_limit_a_packet_is_dropped_and_counted():
    buffering, kernel, clock = make(max_packets_per_mn=2)
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    ids = [kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)) for n in range(3)]
    assert kernel.dropped == ids[2:]
    assert buffering.counters["dropped.per_mn_packets"] == 1


def test_once_drained_and_quiet_the_rule_goes_and_the_figures_stay(lma):
    buffering, kernel, clock = lma
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    kernel.arrive(ipv6_packet(MN1_PREFIX))
    buffering.release("mn1", clock.now)
    while (deadline := buffering.next_deadline()) is not None:
        clock.now = deadline
        buffering.on_timer(clock.now)
    assert kernel.rule_changes == [("hold", MN1_PREFIX), ("release", MN1_PREFIX)]
    assert buffering.pool.get("mn1") is None
    assert buffering.last_closed["mn1"]["released"] == 1
    closed = [e for e in events(buffering) if e["event"] == "buffer_closed"]
    assert closed and closed[0]["mn_id"] == "mn1" and closed[0]["peak"] == 1
    # A packet the rule queued before it went finds no buffer: it goes at once.
    late = kernel.arrive(ipv6_packet(MN1_PREFIX))
    assert kernel.delivered[-1] == late


def test_a_discarded_buffer_drops_what_it_held_and_removes_its_rule(lma):
    buffering, kernel, clock = lma
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    ids = [kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)) for n in range(3)]
    buffering.discard("mn1", clock.now)
    assert kernel.dropped == ids and kernel.rules == []
    assert [e["event"] for e in events(buffering)][-1] == "buffer_discarded"


def test_shutdown_fails_open(lma):
    buffering, kernel, clock = lma
    buffering.start_buffering("mn1", (MN1_PREFIX,), clock.now)
    ids = [kernel.arrive(ipv6_packet(MN1_PREFIX, tag=n)) for n in range(3)]
    assert buffering.shutdown().done()
    assert kernel.delivered == ids and kernel.closed


def test_all_done_waits_for_every_change_and_reports_the_first_failure():
    pending: list[Future] = [Future(), Future()]
    combined = all_done(pending)
    pending[1].set_result(None)
    assert not combined.done()
    pending[0].set_exception(RuntimeError("ip6tables: no chain"))
    assert isinstance(combined.exception(), RuntimeError)
    assert all_done([]).done()
