"""RS snooping learns which access link an MN solicited on, and its MAC."""

import json
import select

import pytest

from pmip6d.io.router_solicitation import RouterSolicitationSnooper
from tests.io.pmip_path import entered, in_ns

MN_MAC = "02:00:5e:00:53:55"


@pytest.fixture
def access(namespaces):
    mag = namespaces.add("mag", router=True)
    mn = namespaces.add("mn")
    namespaces.link(mag, "acc", mn, "mn0")
    namespaces.link(mag, "acc2", mn, "mn1")
    in_ns(mn, "ip", "link", "set", "mn0", "address", MN_MAC)
    return mag, mn


def next_solicitation(snooper: RouterSolicitationSnooper, seconds: float = 3.0):
    if select.select([snooper], [], [], seconds)[0]:
        return snooper.receive()
    return None


def test_a_linux_mn_soliciting_after_link_up_is_seen_with_its_mac(access):
    mag, mn = access
    in_ns(mn, "sysctl", "-qw", "net.ipv6.conf.mn0.accept_ra=1")
    with entered(mag):
        snooper = RouterSolicitationSnooper(["acc"])
    with snooper:
        # The MN kernel solicits within rtr_solicit_delay (1 s) of link up.
        in_ns(mn, "ip", "link", "set", "mn0", "down")
        in_ns(mn, "ip", "link", "set", "mn0", "up")
        seen = next_solicitation(snooper, 5.0)
        info = json.loads(in_ns(mn, "ip", "-j", "-6", "addr", "show", "dev", "mn0").stdout)
    assert seen is not None
    assert seen.ifname == "acc"
    assert seen.link_layer_address == bytes.fromhex(MN_MAC.replace(":", ""))
    assert str(seen.source) == info[0]["addr_info"][0]["local"]


def test_rdisc6_solicitation_has_no_sllao_and_unwatched_links_are_ignored(access):
    mag, mn = access
    with entered(mag):
        snooper = RouterSolicitationSnooper(["acc2"])
    with snooper:
        in_ns(mn, "rdisc6", "-1", "-r", "1", "-w", "200", "mn0", check=False)  # unwatched
        in_ns(mn, "rdisc6", "-1", "-r", "1", "-w", "200", "mn1", check=False)
        seen = next_solicitation(snooper)
        assert seen is not None and seen.ifname == "acc2"
        # rdisc6 sends a bare RS; the daemon must cope without the MAC.
        assert seen.link_layer_address is None
        assert snooper.receive() is None
