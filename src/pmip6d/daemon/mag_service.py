"""The MAG service: attachment detection, tunnel to the LMA, Router Advertisements."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any, get_args

from pmip6d.config import NodeConfig, Policy
from pmip6d.control import ControlError
from pmip6d.core.actions import (
    HandBackHeld,
    HoldForMn,
    MagAction,
    SendRouterAdvertisement,
    SetupMnForwarding,
    TeardownMnForwarding,
)
from pmip6d.core.mag import MobileAccessGateway
from pmip6d.daemon.dispatch import carries_out
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.mag_holding import MagHolding
from pmip6d.daemon.service import ServiceBase, restart_counter_at
from pmip6d.io.access_link import AccessLinks
from pmip6d.io.hold_route import HoldRoutes
from pmip6d.io.link_monitor import LinkMonitor
from pmip6d.io.router_advertisement import RouterAdvertisementSender
from pmip6d.io.router_solicitation import RouterSolicitationSnooper
from pmip6d.wire.ndisc import build_router_advertisement, mac_text


@dataclass(frozen=True)
class CompleteSetup:
    """The part of SetupMnForwarding carried out after the PBU is sent (queued by
    the service itself, not by the core)."""

    setup: SetupMnForwarding


class MagService(ServiceBase):
    role = "mag"
    actions = (*get_args(MagAction), CompleteSetup)

    def __init__(self, config: NodeConfig, policy: Policy, log: EventLog) -> None:
        super().__init__(config, policy, log)
        assert config.mag is not None
        self.mag = config.mag
        self.machine = MobileAccessGateway(
            config, policy, restart_counter=restart_counter_at(time.time())
        )
        self.local_address = config.mag.proxy_coa
        self.access: AccessLinks | None = None
        self.links: LinkMonitor | None = None
        self.solicitations: RouterSolicitationSnooper | None = None
        self.advertiser: RouterAdvertisementSender | None = None
        self.holding: MagHolding | None = None

    def anchor_peer(self) -> IPv6Address:
        return self.mag.lma_address

    async def start(self, now: float) -> None:
        await super().start(now)
        assert self.ipr is not None and self.tunnels is not None
        prepared = await self.tunnels.prepare_peer(self.mag.lma_address, source_table=True)
        self.log.emit("peers_prepared", peers=[str(self.mag.lma_address)] if prepared else [])
        assert self.routes is not None
        self.access = AccessLinks(self.ipr, self.routes)
        self.holding = MagHolding(
            self.mag,
            self.config.protocol,
            self.config.hand_back_port,
            self.log,
            HoldRoutes(self.ipr),
        )
        await self.holding.start()
        for ifname in self.mag.access_interfaces:
            await self.access.present_shared_identity(
                ifname, self.mag.access_link_layer, self.mag.access_link_local
            )
        self.links = LinkMonitor(self.mag.access_interfaces)
        self.solicitations = RouterSolicitationSnooper(self.mag.access_interfaces)
        self.advertiser = RouterAdvertisementSender(self.mag.access_link_local)
        carrier = self.links.initial_state()
        self.log.emit("access_links", carrier=carrier)

    async def shutdown(self) -> None:
        if self.holding is not None:
            await asyncio.wrap_future(self.holding.shutdown())
        for resource in (self.links, self.solicitations, self.advertiser):
            if resource is not None:
                resource.close()
        if self.access is not None:
            for ifname in self.mag.access_interfaces:
                try:
                    await self.access.withdraw_shared_identity(ifname, self.mag.access_link_local)
                except LookupError:
                    pass
        await super().shutdown()

    def readers(self) -> Iterable[tuple[int, Callable[[], None]]]:
        assert self.links is not None and self.solicitations is not None
        assert self.holding is not None
        return [
            *super().readers(),
            (self.links.fileno(), self._on_link_change),
            (self.solicitations.fileno(), self._on_router_solicitation),
            (self.holding.fileno(), self.holding.readable),
        ]

    def on_timer(self, now: float) -> None:
        super().on_timer(now)
        assert self.holding is not None
        self.holding.on_timer(now)

    def next_deadline(self) -> float | None:
        holding = self.holding.next_deadline() if self.holding is not None else None
        deadlines = [d for d in (super().next_deadline(), holding) if d]
        return min(deadlines) if deadlines else None

    def status(self, now: float) -> dict[str, Any]:
        status = super().status(now)
        status["holds"] = self.holding.stats(now) if self.holding is not None else None
        return status

    def command(self, request: dict[str, Any], now: float) -> dict[str, Any] | Awaitable[dict]:
        if request["command"] == "detach":
            return self._announced_detach(request.get("interface"), now)
        return super().command(request, now)

    def _announced_detach(self, ifname: Any, now: float) -> Awaitable[dict]:
        """The access network reports that the MN on `ifname` has left, before its
        link is gone (an access point's disassociation event, say).

        The reply waits until the access route is gone: from then on the hold
        route takes the MN's packets, so whatever drops the link afterwards loses
        nothing. A link that just breaks cannot offer that: frames already past
        routing die in the link (docs/buffering.md, "The link-break window").
        """
        if ifname not in self.mag.access_interfaces:
            known = ", ".join(self.mag.access_interfaces)
            raise ControlError(f'"detach" needs "interface": one of the access links ({known})')
        mn_id = self.machine.mn_on(ifname)
        if mn_id is None:
            raise ControlError(f"no MN is attached on {ifname}")
        self.submit(self.machine.mn_detached(ifname, now, trigger="announced"))
        return self._once_carried_out({"detached": mn_id, "interface": ifname})

    async def _once_carried_out(self, result: dict[str, Any]) -> dict[str, Any]:
        if not await self._actions_done():
            raise ControlError("the MAG is still carrying out the detach after 2 s")
        return result

    def _on_link_change(self) -> None:
        assert self.links is not None
        for change in self.links.changes():
            self.log.emit("carrier", interface=change.ifname, up=change.carrier_up)
            if not change.carrier_up:
                self.submit(self.machine.mn_detached(change.ifname, time.time()))

    def _on_router_solicitation(self) -> None:
        assert self.solicitations is not None
        while (rs := self.solicitations.receive()) is not None:
            if rs.link_layer_address is None:
                # An RS sent before the MN had an address carries no link-layer
                # option; the MN repeats it once its link-local address is up.
                self.log.emit("rs_without_link_layer", "debug", interface=rs.ifname)
                continue
            link_layer = mac_text(rs.link_layer_address)
            self.submit(
                self.machine.router_solicited(rs.ifname, link_layer, time.time(), rs.source)
            )

    @carries_out(SetupMnForwarding)
    async def _setup(self, action: SetupMnForwarding) -> None:
        assert self.tunnels is not None and self.access is not None
        for prefix in action.prefixes:
            await self.access.route_prefix_to_access(prefix, action.access_interface)
        # Only the access route must precede the PBU (what the LMA releases on
        # acceptance has to find it); the uplink rule and the hold route go in
        # right after the PBU leaves, while the LMA is busy with it, which
        # takes them off the handover's critical path.
        self._queue.put_nowait(CompleteSetup(action))

    @carries_out(CompleteSetup)
    async def _complete_setup(self, deferred: CompleteSetup) -> None:
        assert self.tunnels is not None and self.holding is not None
        action = deferred.setup
        for prefix in action.prefixes:
            await self.tunnels.route_source_prefix_to_peer(prefix, action.lma_address)
        # Armed whether buffering is on or not: switched on at run time before
        # this MN leaves, buffering finds the route in place. With it off, what
        # the route catches is discarded at the teardown, as lost as without it.
        await self.holding.mn_routes_up(action.mn_id, action.prefixes)

    @carries_out(TeardownMnForwarding)
    async def _teardown(self, action: TeardownMnForwarding) -> None:
        assert self.tunnels is not None and self.access is not None
        # The access route first: after an announced detach, its removal is the
        # instant the MN stops getting packets from here (the log says when).
        for prefix in action.prefixes:
            await self.access.remove_access_route(prefix)
        self.log.emit("access_route_removed", mn_id=action.mn_id, interface=action.access_interface)
        for prefix in action.prefixes:
            await self.tunnels.remove_source_prefix_route(prefix)
        assert self.holding is not None
        await self.holding.mn_routes_down(action.mn_id)

    @carries_out(SendRouterAdvertisement)
    def _advertise(self, action: SendRouterAdvertisement) -> None:
        assert self.advertiser is not None
        message = build_router_advertisement(
            action.prefixes,
            action.source_link_layer,
            router_lifetime=action.router_lifetime,
            valid_lifetime=action.prefix_valid_lifetime,
            preferred_lifetime=action.prefix_preferred_lifetime,
        )
        # RFC 5213 6.7: unicast to the MN once its link-local address is known.
        destination = None if action.destination.is_multicast else action.destination
        self.advertiser.send(action.access_interface, message, destination)

    @carries_out(HoldForMn)
    def _hold(self, action: HoldForMn) -> None:
        assert self.holding is not None
        self.holding.hold(action.mn_id)

    @carries_out(HandBackHeld)
    async def _hand_back(self, action: HandBackHeld) -> None:
        assert self.holding is not None
        await self.holding.hand_back(action.mn_id, action.lma_address, final=action.final)
