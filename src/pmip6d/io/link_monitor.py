"""Carrier up/down of the MAG's access interfaces, from rtnetlink link events.

A plain non-blocking netlink socket subscribed to RTMGRP_LINK, parsed with
pyroute2's message classes: no pyroute2 event loop involved, so the fd can be
handed to ``loop.add_reader`` directly. "Carrier up" means the interface is
administratively up and has its lower layer up (IFF_UP and IFF_LOWER_UP): on
a veth this follows the peer end, on hardware the cable or radio.
"""

import itertools
import socket
import struct
from collections.abc import Iterable
from typing import NamedTuple

from pyroute2.netlink.rtnl.marshal import MarshalRtnl

NETLINK_ROUTE = 0
RTMGRP_LINK = 0x1
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
_sequence = itertools.count(1)


class LinkChange(NamedTuple):
    ifname: str
    carrier_up: bool


def _carrier(message) -> bool:
    if message["header"]["type"] == RTM_DELLINK:
        return False
    return message["flags"] & (IFF_UP | IFF_LOWER_UP) == (IFF_UP | IFF_LOWER_UP)


def _dump_links(sock: socket.socket) -> list:
    """All links as RTM_NEWLINK messages, from a blocking dump on ``sock``."""
    sequence = next(_sequence)
    request = struct.pack("=IHHII", 32, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0)
    request += struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    sock.sendto(request, (0, 0))
    marshal = MarshalRtnl()
    links = []
    while True:
        for message in marshal.parse(sock.recv(1 << 16)):
            if message["header"]["type"] == NLMSG_DONE:
                return links
            if message["header"]["type"] == RTM_NEWLINK:
                links.append(message)


class LinkMonitor:
    """Reports carrier transitions of the watched interfaces, and only transitions."""

    def __init__(self, ifnames: Iterable[str]):
        self.watched = set(ifnames)
        self._known: dict[str, bool] = {}
        self._marshal = MarshalRtnl()
        self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._socket.bind((0, RTMGRP_LINK))
        self._socket.setblocking(False)
        # Queries get their own socket, opened now so that it lives in the
        # same network namespace as the event socket.
        self._query_socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)

    def fileno(self) -> int:
        return self._socket.fileno()

    def initial_state(self) -> dict[str, bool]:
        """Carrier of every watched interface now (absent interfaces count as down).

        Subscribe first, then dump: a change racing the dump is seen as an event.
        """
        self._known = dict.fromkeys(self.watched, False)
        for message in _dump_links(self._query_socket):
            ifname = message.get("ifname")
            if ifname in self.watched:
                self._known[ifname] = _carrier(message)
        return dict(self._known)

    def changes(self) -> list[LinkChange]:
        """Drain pending link events; return the transitions, oldest first."""
        transitions = []
        while True:
            try:
                data = self._socket.recv(1 << 16)
            except BlockingIOError:
                return transitions
            for message in self._marshal.parse(data):
                ifname = message.get("ifname")
                if ifname not in self.watched:
                    continue
                carrier_up = _carrier(message)
                if self._known.get(ifname) != carrier_up:
                    self._known[ifname] = carrier_up
                    transitions.append(LinkChange(ifname, carrier_up))

    def close(self) -> None:
        self._socket.close()
        self._query_socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
