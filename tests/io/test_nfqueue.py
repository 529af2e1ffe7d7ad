"""Holding an MN's packets at the LMA across a handover and releasing them to the new MAG."""

import asyncio
import io
import select
import socket
import time
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.config import BufferingConfig, ProtocolConstants
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.lma_buffering import LmaBuffering
from pmip6d.io.nfqueue import BUFFER_CHAIN, BufferRules, PacketQueue
from tests.io.pmip_path import (
    LMA_ADDRESS,
    MN_ADDRESS,
    MN_PREFIX,
    build_pmip_path,
    capture,
    entered,
    in_ns,
    mag_address,
    tshark_fields,
    tunnel_driver,
)

PREFIX = IPv6Network(MN_PREFIX)
QUEUE = 7
PORT = 5555
DATAGRAMS = 10


async def wire_path(ns: dict) -> None:
    lma = await tunnel_driver(ns["lma"])
    await lma.enable_decapsulation(IPv6Address(LMA_ADDRESS))
    await lma.route_prefix_to_peer(PREFIX, IPv6Address(mag_address(1)))
    for number in (1, 2):
        mag = await tunnel_driver(ns[f"mag{number}"])
        await mag.enable_decapsulation(IPv6Address(mag_address(number)))
        await mag.route_source_prefix_to_peer(PREFIX, IPv6Address(LMA_ADDRESS))
        in_ns(ns[f"mag{number}"], "ip", "-6", "route", "add", MN_PREFIX, "dev", "acc")


async def hand_over_to_mag2(ns: dict) -> None:
    lma = await tunnel_driver(ns["lma"])
    await lma.enable_decapsulation(IPv6Address(LMA_ADDRESS))  # idempotent; bpf needs it first
    await lma.route_prefix_to_peer(PREFIX, IPv6Address(mag_address(2)))


def pump(queue: PacketQueue, until: Callable, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not until() and (left := deadline - time.monotonic()) > 0:
        if select.select([queue], [], [], left)[0]:
            queue.process()


def receive_all(sock: socket.socket, seconds: float) -> list[int]:
    sequence_numbers = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        sequence_numbers.append(int(sock.recv(64)))
    return sequence_numbers


def queue_at_lma(ns: dict, on_packet) -> tuple[BufferRules, PacketQueue]:
    with entered(ns["lma"]):
        rules = BufferRules()
        rules.install()
        return rules, PacketQueue(QUEUE, on_packet)


def hold_datagrams(ns: dict, rules: BufferRules, queue: PacketQueue, sender, held: list) -> None:
    """Queue the MN's prefix at the LMA and send DATAGRAMS numbered 0.. into it."""
    with entered(ns["lma"]):
        rules.hold_prefix(PREFIX, QUEUE)
    for number in range(DATAGRAMS):
        sender.sendto(str(number).encode(), (MN_ADDRESS, PORT))
    pump(queue, lambda: len(held) == DATAGRAMS, 3)
    assert len(held) == DATAGRAMS


def mn_receiver_and_cn_sender(ns: dict) -> tuple[socket.socket, socket.socket]:
    with entered(ns["mn"]):
        receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        receiver.bind(("::", PORT))
    with entered(ns["cn"]):
        sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    return receiver, sender


@pytest.fixture
def path(namespaces):
    ns = build_pmip_path(namespaces, mag_count=2)
    asyncio.run(wire_path(ns))
    # The MN detaches by dropping its own port, as a radio would lose carrier.
    in_ns(ns["mn"], "ip", "link", "set", "mn2", "down")  # MN attached to MAG1 only
    yield ns
    with entered(ns["lma"]):
        BufferRules().cleanup()


def test_packets_held_during_handover_reach_the_mn_through_the_new_mag(namespaces, path, tmp_path):
    ns = path
    held = []

    def hold(packet):
        packet.retain()
        held.append(packet)

    rules, queue = queue_at_lma(ns, hold)
    receiver, sender = mn_receiver_and_cn_sender(ns)

    with queue, receiver, sender:
        hold_datagrams(ns, rules, queue, sender, held)
        assert receive_all(receiver, 0.3) == []

        in_ns(ns["mn"], "ip", "link", "set", "mn1", "down")
        in_ns(ns["mn"], "ip", "link", "set", "mn2", "up")
        asyncio.run(hand_over_to_mag2(ns))
        with entered(ns["lma"]):
            rules.release_prefix(PREFIX)
        pcap = str(tmp_path / "lma-mag2.pcap")
        with capture(namespaces, ns["lma"], "mag2", pcap, "ip6 proto 41"):
            for packet in held:
                packet.accept()
            arrived = receive_all(receiver, 2)
            sender.sendto(b"99", (MN_ADDRESS, PORT))  # after release: not queued
            arrived += receive_all(receiver, 2)

    assert arrived == [*range(DATAGRAMS), 99]
    tunnelled = tshark_fields(pcap, "udp", "ipv6.dst")
    assert len(tunnelled) == DATAGRAMS + 1
    assert all(dst == f"{mag_address(2)},{MN_ADDRESS}" for (dst,) in tunnelled)


def test_a_batch_verdict_releases_exactly_the_packets_up_to_its_id_in_order(path):
    ns = path
    held = []
    rules, queue = queue_at_lma(ns, held.append)  # no verdict in the callback: held
    receiver, sender = mn_receiver_and_cn_sender(ns)

    with queue, receiver, sender:
        hold_datagrams(ns, rules, queue, sender, held)
        assert [p.id for p in held] == sorted(p.id for p in held)

        queue.accept_through(held[5].id)
        first = receive_all(receiver, 0.5)
        queue.accept_through(held[-1].id)
        rest = receive_all(receiver, 1)

    assert first == list(range(6))
    assert rest == list(range(6, DATAGRAMS))


def test_the_lma_buffer_releases_one_mn_without_letting_another_mns_packets_go(path):
    """Two MNs held on one queue, interleaved: releasing the second one's packets
    must not batch-accept the first one's (older) packets, which stay held."""
    ns = path
    halves = list(PREFIX.subnets(new_prefix=65))
    second_address = str(halves[1].network_address + 5)
    in_ns(ns["mn"], "ip", "-6", "address", "add", f"{second_address}/65", "dev", "br0", "nodad")
    config = BufferingConfig(expect_hand_back=False, queue_num=QUEUE)
    buffering = LmaBuffering(config, ProtocolConstants(), EventLog("lma", stream=io.StringIO()))
    receiver, sender = mn_receiver_and_cn_sender(ns)

    with receiver, sender, entered(ns["lma"]):
        buffering.start().result()
        try:
            now = time.time()
            buffering.start_buffering("first", (halves[0],), now).result()
            buffering.start_buffering("second", (halves[1],), now).result()
            for number in range(5):
                sender.sendto(str(number).encode(), (MN_ADDRESS, PORT))
                sender.sendto(str(100 + number).encode(), (second_address, PORT))
            deadline = time.monotonic() + 3
            while buffering.pool.usage.packets < 10 and time.monotonic() < deadline:
                if select.select([buffering.fileno()], [], [], 0.2)[0]:
                    buffering.readable()
            assert buffering.pool.usage.packets == 10

            buffering.release("second", time.time())
            second_only = receive_all(receiver, 0.5)
            buffering.release("first", time.time())
            first_after = receive_all(receiver, 1)
        finally:
            buffering.shutdown().result()

    assert second_only == [100, 101, 102, 103, 104]
    assert first_after == [0, 1, 2, 3, 4]
    # Five single verdicts for the second MN, one batch for the first.
    assert buffering.counters["verdict_messages"] == 6


def test_cleanup_removes_our_chain_and_keeps_other_rules(path):
    lma = path["lma"]
    in_ns(
        lma,
        "ip6tables",
        "-t",
        "mangle",
        "-A",
        "PREROUTING",
        "-d",
        "2001:db8:200::/64",
        "-j",
        "ACCEPT",
    )
    with entered(lma):
        rules = BufferRules()
        rules.install()
        rules.install()  # idempotent
        rules.hold_prefix(PREFIX, QUEUE)
        rules.hold_prefix(PREFIX, QUEUE)
    listing = in_ns(lma, "ip6tables", "-t", "mangle", "-S").stdout
    assert listing.count(f"-A PREROUTING -j {BUFFER_CHAIN}") == 1
    assert listing.count("--queue-num 7") == 1
    with entered(lma):
        rules.cleanup()
    listing = in_ns(lma, "ip6tables", "-t", "mangle", "-S").stdout
    assert BUFFER_CHAIN not in listing
    assert "-A PREROUTING -d 2001:db8:200::/64 -j ACCEPT" in listing


def test_with_no_listener_the_bypass_lets_traffic_through(path):
    ns = path
    with entered(ns["lma"]):
        rules = BufferRules()
        rules.install()
        rules.hold_prefix(PREFIX, QUEUE)
    assert in_ns(ns["cn"], "ping", "-c", "1", "-W", "2", MN_ADDRESS, check=False).returncode == 0
