"""The bpf tunnel driver's two programs, in the kernel (root).

The decapsulation program is run on crafted frames with BPF_PROG_TEST_RUN,
so every branch (ours / not ours / too short / IPv4 inside) is checked on
exact bytes. The encapsulation program cannot be test-run (its helper needs a
route), so it is checked on the wire between namespaces: IPv4 and IPv6 inside,
and the path MTU the route's headroom gives.
"""

import asyncio
import ctypes
import struct
from ipaddress import IPv6Address, IPv6Network
from socket import AF_INET

import pytest
from pyroute2 import IPRoute

from pmip6d.io import bpf_tunnel
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

LOCAL = IPv6Address("2001:db8:ffff::11")
OTHER = IPv6Address("2001:db8:ffff::12")
PEER = IPv6Address("2001:db8:ffff::1")
BPF_PROG_TEST_RUN = 10


def run_program(program: bpf_tunnel.LoadedProgram, frame: bytes) -> tuple[int, bytes]:
    """BPF_PROG_TEST_RUN: the program's return code and the frame it left. (The
    kernel refuses to test-run a frame shorter than its IPv6 header, so the
    program's own length check is covered by the netns tests only.)"""
    data_in = ctypes.create_string_buffer(frame, len(frame))
    data_out = ctypes.create_string_buffer(len(frame) + 256)
    attr = bytearray(
        struct.pack(
            "=IIIIQQII",
            program.fd,
            0,
            len(frame),
            len(data_out),
            ctypes.addressof(data_in),
            ctypes.addressof(data_out),
            1,
            0,
        ).ljust(128, b"\0")
    )
    buffer = ctypes.create_string_buffer(bytes(attr), len(attr))
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = bpf_tunnel._bpf_syscall()
    if libc.syscall(syscall, BPF_PROG_TEST_RUN, buffer, len(attr)) != 0:
        raise OSError(ctypes.get_errno(), "BPF_PROG_TEST_RUN failed")
    _, retval, _, size_out = struct.unpack_from("=IIII", buffer.raw)
    return retval, data_out.raw[:size_out]


def ipv6(src: IPv6Address, dst: IPv6Address, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + src.packed
        + dst.packed
        + payload
    )


def ipv4(payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, 17, 0,
                         bytes([192, 0, 2, 10]), bytes([198, 51, 100, 10]))  # fmt: skip
    return header + payload


def ethernet(ethertype: int, packet: bytes) -> bytes:
    return bytes.fromhex("020000000002020000000001") + struct.pack("!H", ethertype) + packet


INNER_IPV6 = ipv6(IPv6Address("2001:db8:c::10"), IPv6Address("2001:db8:1:1::10"), 59, b"x" * 24)
INNER_IPV4 = ipv4(b"y" * 16)


@pytest.fixture
def decapsulation():
    program = bpf_tunnel.load_decapsulation(LOCAL)
    yield program
    program.close()


def test_ipv6_in_ipv6_for_our_endpoint_loses_its_outer_header(decapsulation):
    frame = ethernet(0x86DD, ipv6(PEER, LOCAL, 41, INNER_IPV6))
    verdict, out = run_program(decapsulation, frame)
    assert verdict == bpf_tunnel.TC_ACT_OK
    assert out == frame[:14] + INNER_IPV6


def test_ipv4_in_ipv6_for_our_endpoint_loses_its_outer_header(decapsulation):
    frame = ethernet(0x86DD, ipv6(PEER, LOCAL, 4, INNER_IPV4))
    verdict, out = run_program(decapsulation, frame)
    assert verdict == bpf_tunnel.TC_ACT_OK
    assert out[14:] == INNER_IPV4


@pytest.mark.parametrize(
    "frame",
    [
        ethernet(0x86DD, ipv6(PEER, OTHER, 41, INNER_IPV6)),  # another endpoint's tunnel
        ethernet(0x86DD, ipv6(PEER, LOCAL, 58, b"\x80\0\0\0" * 4)),  # ICMPv6 for us
        ethernet(0x0800, INNER_IPV4),  # not IPv6 at all
    ],
    ids=["other-endpoint", "not-a-tunnel", "ipv4-frame"],
)
def test_anything_else_passes_untouched(decapsulation, frame):
    assert run_program(decapsulation, frame) == (bpf_tunnel.TC_ACT_OK, frame)


def test_a_program_the_verifier_refuses_says_why():
    endless = bytes.fromhex("0500ffff00000000")  # ja -1: a loop the verifier rejects
    with pytest.raises(bpf_tunnel.BpfError, match="pmip6_encap"):
        bpf_tunnel.load(bpf_tunnel.BPF_PROG_TYPE_LWT_XMIT, endless, "pmip6_encap")


@pytest.fixture
def bpf_path(namespaces):
    """cn - lma = mag1 - mn with bpf tunnels; IPv4 addresses beside the IPv6 ones."""
    ns = build_pmip_path(namespaces)
    prefix = IPv6Network(MN_PREFIX)

    async def wire() -> None:
        lma = await tunnel_driver(ns["lma"], "bpf")
        await lma.enable_decapsulation(IPv6Address(LMA_ADDRESS))
        await lma.route_prefix_to_peer(prefix, IPv6Address(mag_address(1)))
        mag = await tunnel_driver(ns["mag1"], "bpf")
        await mag.enable_decapsulation(IPv6Address(mag_address(1)))
        await mag.route_source_prefix_to_peer(prefix, IPv6Address(LMA_ADDRESS))

    asyncio.run(wire())
    in_ns(ns["mag1"], "ip", "-6", "route", "add", MN_PREFIX, "dev", "acc")
    return ns


def test_an_inner_packet_too_big_for_the_tunnel_gets_packet_too_big(bpf_path):
    ns = bpf_path
    fits = in_ns(ns["cn"], "ping", "-c", "1", "-W", "2", "-s", "1412", MN_ADDRESS, check=False)
    too_big = in_ns(
        ns["cn"], "ping", "-c", "1", "-W", "2", "-s", "1413", "-M", "do", MN_ADDRESS, check=False
    )
    assert fits.returncode == 0, fits.stdout
    # 1413 + 8 + 40 = 1461 bytes inside, 1501 outside: the LMA answers Packet Too Big
    # with the tunnel's MTU, 1500 - 40.
    assert too_big.returncode != 0 and "mtu=1460" in too_big.stdout + too_big.stderr


def add_ipv4_tunnel_route(ns: str, ifname: str, local: str, peer: str, **route) -> None:
    program = bpf_tunnel.load_encapsulation(IPv6Address(local), IPv6Address(peer))
    with entered(ns):
        ipr = IPRoute()
    try:
        xmit = {"fd": program.fd, "name": program.name, "headroom": 40}
        oif = ipr.link_lookup(ifname=ifname)[0]
        ipr.route("add", family=AF_INET, oif=oif, encap={"type": "bpf", "xmit": xmit}, **route)
    finally:
        ipr.close()
        program.close()  # the route holds the program now


def test_ipv4_crosses_the_tunnel_as_ipv4_in_ipv6(bpf_path, namespaces, tmp_path):
    """The encapsulation program writes next header 4 for an IPv4 packet (RFC 2473
    carries any protocol). IPv4 routes are set up by hand here: the daemon routes
    only IPv6 prefixes so far."""
    ns = bpf_path
    for node, command in [
        ("cn", "ip addr add 198.51.100.10/24 dev cn0"),
        ("cn", "ip route add default via 198.51.100.1"),
        ("lma", "ip addr add 198.51.100.1/24 dev cn"),
        ("lma", "sysctl -qw net.ipv4.ip_forward=1"),
        ("mag1", "sysctl -qw net.ipv4.ip_forward=1"),
        ("mag1", "ip addr add 192.0.2.1/24 dev acc"),
        ("mn", "ip addr add 192.0.2.10/24 dev br0"),
        ("mn", "ip route add default via 192.0.2.1"),
        ("mag1", "ip rule add from 192.0.2.10 lookup 1060 pref 1010"),
    ]:
        in_ns(ns[node], *command.split())
    add_ipv4_tunnel_route(ns["lma"], "mag1", LMA_ADDRESS, mag_address(1), dst="192.0.2.10/32")
    add_ipv4_tunnel_route(ns["mag1"], "lma", mag_address(1), LMA_ADDRESS, table=1060)
    pcap = str(tmp_path / "lma-mag.pcap")

    with capture(namespaces, ns["lma"], "mag1", pcap, "ip6"):
        ping = in_ns(ns["cn"], "ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.10", check=False)

    assert ping.returncode == 0, ping.stdout
    outer = tshark_fields(pcap, "icmp", "ipv6.src", "ipv6.dst", "ipv6.nxt", "ip.src", "ip.dst")
    downlink = [
        f
        for f in outer
        if f[:5] == [LMA_ADDRESS, mag_address(1), "4", "198.51.100.10", "192.0.2.10"]
    ]
    uplink = [
        f
        for f in outer
        if f[:5] == [mag_address(1), LMA_ADDRESS, "4", "192.0.2.10", "198.51.100.10"]
    ]
    assert len(downlink) == 3 and len(uplink) == 3, outer
