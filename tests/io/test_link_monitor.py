"""The link monitor sees the access link's carrier follow the peer end."""

import select
import time

import pytest

from pmip6d.io.link_monitor import LinkChange, LinkMonitor
from tests.io.pmip_path import entered, in_ns


@pytest.fixture
def access_link(namespaces):
    mag = namespaces.add("mag", router=True)
    mn = namespaces.add("mn")
    namespaces.link(mag, "acc", mn, "mn0")
    namespaces.link(mag, "other", mn, "mn9")
    return mag, mn


def first_changes(monitor: LinkMonitor, seconds: float) -> list[LinkChange]:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if select.select([monitor], [], [], left)[0] and (seen := monitor.changes()):
            return seen
    return []


def test_initial_state_reports_watched_interfaces_only(access_link):
    mag, mn = access_link
    in_ns(mn, "ip", "link", "set", "mn0", "down")
    with entered(mag), LinkMonitor(["acc", "missing0"]) as monitor:
        assert monitor.initial_state() == {"acc": False, "missing0": False}
    in_ns(mn, "ip", "link", "set", "mn0", "up")
    with entered(mag), LinkMonitor(["acc"]) as monitor:
        assert monitor.initial_state() == {"acc": True}


def test_carrier_down_and_up_of_the_peer_are_reported_once_each(access_link):
    mag, mn = access_link
    with entered(mag):
        monitor = LinkMonitor(["acc"])
    with monitor:
        assert monitor.initial_state() == {"acc": True}
        # The kernel reports carrier changes through linkwatch, which may
        # delay and coalesce them (up to a second), so each step is awaited.
        in_ns(mn, "ip", "link", "set", "mn9", "down")  # not watched
        in_ns(mn, "ip", "link", "set", "mn0", "down")
        assert first_changes(monitor, 3.0) == [LinkChange("acc", False)]
        in_ns(mn, "ip", "link", "set", "mn0", "mtu", "1400")  # an event, not a transition
        in_ns(mn, "ip", "link", "set", "mn0", "up")
        assert first_changes(monitor, 3.0) == [LinkChange("acc", True)]
        time.sleep(0.2)
        assert monitor.changes() == []


def test_admin_down_on_our_side_is_carrier_down(access_link):
    mag, _ = access_link
    with entered(mag):
        monitor = LinkMonitor(["acc"])
    with monitor:
        monitor.initial_state()
        in_ns(mag, "ip", "link", "set", "acc", "down")
        assert first_changes(monitor, 3.0) == [LinkChange("acc", False)]
