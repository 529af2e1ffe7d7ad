"""A PMIPv6 domain in memory: one LMA, MAGs, and a network that carries every
signaling message through the real wire codec (with checksums). (The domain
in network namespaces, with real daemons, is pmipv6_lab.testbed's
NamespaceDomain.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address

from pmip6d.core import (
    Action,
    DiscardBuffer,
    InstallMnRoute,
    LocalMobilityAnchor,
    MobileAccessGateway,
    ReleaseBuffer,
    RemoveMnRoute,
    SendMessage,
    StartBuffering,
)
from pmip6d.wire import decode, encode
from tests.core.core_builders import LMAA, POLICY, lma_config, mag_config


@dataclass
class InMemoryDomain:
    lma: LocalMobilityAnchor
    mags: dict[IPv6Address, MobileAccessGateway]
    # The LMA's kernel as its actions leave it: mn_id -> MAG its prefixes route to,
    # and the same per mobility session (an MN on two interfaces has two).
    routes: dict[str, IPv6Address] = field(default_factory=dict)
    session_routes: dict[str, IPv6Address] = field(default_factory=dict)
    buffering: set[str] = field(default_factory=set)
    session_buffering: set[str] = field(default_factory=set)
    log: list[Action] = field(default_factory=list)
    drop_next: int = 0  # how many of the next messages the network loses

    @classmethod
    def build(cls, mag_addresses, *, buffering=False, **timers) -> InMemoryDomain:
        lma = LocalMobilityAnchor(lma_config(buffering=buffering, **timers), POLICY)
        mags = {
            address: MobileAccessGateway(mag_config(address, hold=buffering, **timers), POLICY)
            for address in mag_addresses
        }
        return cls(lma, mags)

    def deliver(self, origin: IPv6Address, actions: list[Action], now: float) -> None:
        """Carry out `actions` from `origin`, delivering messages until none are left."""
        pending = [(origin, a) for a in actions]
        while pending:
            origin, action = pending.pop(0)
            self.log.append(action)
            if origin == LMAA:
                self._apply_lma_action(action)
            if not isinstance(action, SendMessage):
                continue
            if self.drop_next:
                self.drop_next -= 1
                continue
            wire = encode(action.message, src=origin, dst=action.dst)
            message = decode(wire, src=origin, dst=action.dst)
            if action.dst == LMAA:
                replies = self.lma.receive(origin, message, now)
            else:
                replies = self.mags[action.dst].receive(origin, message, now)
            pending += [(action.dst, a) for a in replies]

    def tick(self, now: float) -> None:
        self.deliver(LMAA, self.lma.on_timer(now), now)
        for address, mag in self.mags.items():
            self.deliver(address, mag.on_timer(now), now)

    def next_deadline(self) -> float | None:
        deadlines = [self.lma.next_deadline(), *(m.next_deadline() for m in self.mags.values())]
        return min((d for d in deadlines if d is not None), default=None)

    def run_until(self, end: float) -> None:
        while (deadline := self.next_deadline()) is not None and deadline <= end:
            self.tick(deadline)

    def _apply_lma_action(self, action: Action) -> None:
        if isinstance(action, InstallMnRoute):
            self.routes[action.mn_id] = action.mag_address
            self.session_routes[action.session] = action.mag_address
        elif isinstance(action, RemoveMnRoute):
            # A removal must name the tunnel the route really uses.
            assert self.session_routes.pop(action.session) == action.mag_address
            if self.routes.get(action.mn_id) == action.mag_address:
                del self.routes[action.mn_id]
        elif isinstance(action, StartBuffering):
            assert action.session not in self.session_buffering
            self.session_buffering.add(action.session)
            self.buffering.add(action.mn_id)
        elif isinstance(action, ReleaseBuffer):
            # Release only once the route to the new MAG is in place.
            assert self.session_routes[action.session] == action.mag_address
            self._stop_buffering(action)
        elif isinstance(action, DiscardBuffer):
            self._stop_buffering(action)

    def _stop_buffering(self, action: ReleaseBuffer | DiscardBuffer) -> None:
        self.session_buffering.remove(action.session)
        if not any(s.startswith(f"{action.mn_id}#") for s in self.session_buffering):
            self.buffering.discard(action.mn_id)
