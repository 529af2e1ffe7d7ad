"""Cleanup removes what pmip6d owns and nothing else."""

import asyncio
from ipaddress import IPv6Address, IPv6Network

import pytest

from pmip6d.io import ownership
from tests.io.pmip_path import in_ns, route_socket, tunnel_driver


def rules(ns: str) -> str:
    return in_ns(ns, "ip", "-6", "rule", "show").stdout


def routes(ns: str) -> str:
    return in_ns(ns, "ip", "-6", "route", "show", "table", "all").stdout


@pytest.fixture
def node(namespaces):
    # veth pairs stand in for plain interfaces: this kernel has no dummy driver.
    ns = namespaces.add("node", router=True)
    in_ns(ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "eth1peer")
    in_ns(ns, "ip", "link", "set", "eth1", "up")
    in_ns(ns, "ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", "eth1", "nodad")
    return ns


def leave_state_of_a_crashed_run(ns: str) -> None:
    async def crashed_run():
        driver = await tunnel_driver(ns)
        await driver.enable_decapsulation(IPv6Address("2001:db8:1::1"))
        await driver.route_prefix_to_peer(
            IPv6Network("2001:db8:100::/64"), IPv6Address("2001:db8:1::2")
        )
        await driver.route_source_prefix_to_peer(
            IPv6Network("2001:db8:101::/64"), IPv6Address("2001:db8:1::2")
        )
        driver.ipr.close()  # no cleanup: the process "dies" here

    asyncio.run(crashed_run())
    in_ns(ns, "ip", "link", "add", "pmip6-left", "type", "veth", "peer", "leftpeer")


def decapsulation_filters(ns: str) -> str:
    return in_ns(ns, "tc", "filter", "show", "dev", "eth1", "ingress").stdout


def add_foreign_state(ns: str) -> None:
    in_ns(ns, "ip", "-6", "route", "add", "2001:db8:200::/64", "dev", "eth1", "proto", "static")
    in_ns(ns, "ip", "-6", "route", "add", "2001:db8:201::/64", "dev", "eth1", "table", "200")
    in_ns(
        ns, "ip", "-6", "rule", "add", "pref", "500", "from", "2001:db8:200::/64", "lookup", "200"
    )
    in_ns(ns, "ip", "-6", "rule", "add", "pref", "1500", "to", "2001:db8:201::/64", "lookup", "200")
    in_ns(ns, "ip", "link", "add", "foreign0", "type", "veth", "peer", "foreign1")


async def cleanup(ns: str) -> None:
    ipr = await route_socket(ns)
    await ownership.cleanup_leftovers(ipr)
    ipr.close()


def test_leftovers_of_a_crashed_run_are_removed_and_nothing_else(node):
    leave_state_of_a_crashed_run(node)
    add_foreign_state(node)
    assert "proto 157" in routes(node)
    # The seg6 driver leaves a decapsulation rule, the bpf driver a tc filter.
    assert "lookup 1050" in rules(node) or "pmip6_decap" in decapsulation_filters(node)

    asyncio.run(cleanup(node))

    assert "proto 157" not in routes(node)
    assert "pmip6_decap" not in decapsulation_filters(node)
    after = rules(node)
    assert after.splitlines()[0] == "0:\tfrom all lookup local"
    assert "1000:" not in after and "1001:" not in after and "1010:" not in after
    assert "500:\tfrom 2001:db8:200::/64 lookup 200" in after
    assert "1500:\tfrom all to 2001:db8:201::/64 lookup 200" in after
    assert "2001:db8:200::/64 dev eth1 proto static" in routes(node)
    assert "2001:db8:201::/64 dev eth1 table 200" in routes(node)
    links = in_ns(node, "ip", "-o", "link", "show").stdout
    assert "pmip6-left" not in links and "foreign0" in links and "eth1" in links


def test_cleanup_on_a_clean_node_changes_nothing(node):
    add_foreign_state(node)
    before = (rules(node), routes(node))
    asyncio.run(cleanup(node))
    assert (rules(node), routes(node)) == before
