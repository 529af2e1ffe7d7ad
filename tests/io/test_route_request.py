"""The hand-encoded route requests store what pyroute2's requests store (root).

Two namespaces with the same link: one gets each route from
`RouteRequests`, the other the same route from `AsyncIPRoute.route`; the
kernel's own description of both (`ip -d -j route`) must be identical.
"""

import asyncio
import errno
import json
from ipaddress import IPv6Address, IPv6Network

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from pmip6d.io import bpf_tunnel, seg6_compat
from pmip6d.io.ownership import AF_INET6, ROUTE_PROTOCOL
from pmip6d.io.route_request import BpfEncap, Route, RouteRequests, Seg6Encap
from tests.io.pmip_path import entered, in_ns, route_socket

PREFIX = IPv6Network("2001:db8:1:1::/64")
PEERS = [IPv6Address("2001:db8:ffff::11"), IPv6Address("2001:db8:ffff::12")]


@pytest.fixture
def twins(namespaces):
    """Two namespaces, each with a veth `up0` toward a third."""
    other = namespaces.add("peer")
    pair = [namespaces.add("hand"), namespaces.add("pyroute2")]
    for ns in pair:
        namespaces.link(ns, "up0", other, f"to-{pair.index(ns)}")
    return pair


def routes(ns: str, table: int) -> list[dict]:
    out = in_ns(
        ns, "ip", "-6", "-d", "-j", "route", "show", "table", str(table), "proto", "157"
    ).stdout
    return sorted(json.loads(out or "[]"), key=lambda r: r["dst"])


class Encapsulations:
    """Per peer, the same encapsulation as our Route attribute and as pyroute2's
    `encap` argument: seg6 encap.red, or a bpf xmit program (one per peer, as
    the bpf driver loads them)."""

    def __init__(self, kind: str | None):
        self.kind = kind
        self.programs: dict[IPv6Address, bpf_tunnel.LoadedProgram] = {}

    def ours(self, peer: IPv6Address):
        if self.kind == "seg6":
            return Seg6Encap(seg6_compat.SEG6_IPTUN_MODE_ENCAP_RED, (peer,))
        if self.kind == "bpf":
            program = self.program(peer)
            return BpfEncap(program.fd, program.name, bpf_tunnel.OUTER_HEADER_LENGTH)
        return None

    def pyroute2(self, peer: IPv6Address) -> dict:
        if self.kind == "seg6":
            return {"encap": {"type": "seg6", "mode": seg6_compat.ENCAP_RED, "segs": [str(peer)]}}
        if self.kind == "bpf":
            program = self.program(peer)
            xmit = {"fd": program.fd, "name": program.name, "headroom": 40}
            return {"encap": {"type": "bpf", "xmit": xmit}}
        return {}

    def program(self, peer: IPv6Address) -> bpf_tunnel.LoadedProgram:
        if peer not in self.programs:
            self.programs[peer] = bpf_tunnel.load_encapsulation(PEERS[0], peer)
        return self.programs[peer]

    def close(self) -> None:
        for program in self.programs.values():
            program.close()


def install_both(twins, table: int, priority: int | None, encapsulations: Encapsulations) -> None:
    hand_ns, pyroute2_ns = twins
    with entered(hand_ns):
        requests = RouteRequests()
    oif = int(in_ns(hand_ns, "cat", "/sys/class/net/up0/ifindex").stdout)
    oif_pyroute2 = int(in_ns(pyroute2_ns, "cat", "/sys/class/net/up0/ifindex").stdout)

    async def by_pyroute2(peer: IPv6Address) -> None:
        ipr = await route_socket(pyroute2_ns)
        extra = {"priority": priority} if priority is not None else {}
        extra.update(encapsulations.pyroute2(peer))
        await ipr.route(
            "replace", family=AF_INET6, dst=str(PREFIX.network_address),
            dst_len=PREFIX.prefixlen, table=table, proto=ROUTE_PROTOCOL, oif=oif_pyroute2,
            **extra,
        )  # fmt: skip
        ipr.close()

    try:
        for peer in PEERS:  # the second replaces the first, as a handover does
            requests.replace(Route(PREFIX, table, oif, priority, encapsulations.ours(peer)))
            asyncio.run(by_pyroute2(peer))
    finally:
        requests.close()


@pytest.mark.parametrize(
    ("table", "priority", "kind"),
    [
        (254, 1024, None),
        (254, None, "seg6"),
        (1001, None, "seg6"),
        (254, None, "bpf"),
        (1001, None, "bpf"),
    ],
    ids=[
        "mag-access-route",
        "lma-prefix-route-seg6",
        "peer-table-route-seg6",
        "lma-prefix-route-bpf",
        "peer-table-route-bpf",
    ],
)
def test_the_kernel_stores_the_same_route_as_from_pyroute2(twins, table, priority, kind):
    encapsulations = Encapsulations(kind)
    try:
        install_both(twins, table, priority, encapsulations)
    except NetlinkError as error:
        if kind == "seg6" and error.code == errno.EOPNOTSUPP:
            pytest.skip("this kernel has no seg6 lwtunnel")
        raise
    finally:
        encapsulations.close()
    hand, by_pyroute2 = (routes(ns, table) for ns in twins)
    assert len(hand) == 1, hand  # replaced, not added beside
    assert hand == by_pyroute2
    if kind == "bpf":
        # The headroom does not show here; test_bpf_tunnel sees it in the path MTU.
        assert hand[0]["encap"] == "bpf" and hand[0]["xmit"] == "pmip6_encap", hand
    if kind == "seg6":
        assert hand[0]["encap"] == "seg6" and hand[0]["mode"] == "encap.red", hand
        assert hand[0]["segs"] == [str(PEERS[-1])], hand


def test_a_refused_route_raises_the_kernel_error(twins):
    with entered(twins[0]):
        requests = RouteRequests()
    try:
        with pytest.raises(NetlinkError) as refused:
            requests.replace(Route(PREFIX, 254, oif=999_999))
    finally:
        requests.close()
    assert refused.value.code == errno.ENODEV
