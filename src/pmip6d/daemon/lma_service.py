"""The LMA service: binding cache in the core, tunnel routes toward the MAGs."""

from __future__ import annotations

from ipaddress import IPv6Address

from pmip6d.config import NodeConfig, Policy
from pmip6d.core.actions import (
    DiscardBuffer,
    InstallMnRoute,
    ReleaseBuffer,
    RemoveMnRoute,
    StartBuffering,
)
from pmip6d.core.lma import LocalMobilityAnchor
from pmip6d.daemon.eventlog import EventLog
from pmip6d.daemon.service import ServiceBase


class LmaService(ServiceBase):
    role = "lma"

    def __init__(self, config: NodeConfig, policy: Policy, log: EventLog) -> None:
        super().__init__(config, policy, log)
        assert config.lma is not None
        self.machine = LocalMobilityAnchor(config, policy)
        self.local_address = config.lma.address
        self._handlers.update(
            {
                InstallMnRoute: self._install_route,
                RemoveMnRoute: self._remove_route,
                StartBuffering: self._start_buffering,
                ReleaseBuffer: self._release_buffer,
                DiscardBuffer: self._discard_buffer,
            }
        )

    def anchor_peer(self) -> IPv6Address:
        mags = self.policy.authorized_mags
        if not mags:
            raise RuntimeError("the policy authorizes no MAG, so the LMA has no peer")
        return mags[0].address

    async def _install_route(self, action: InstallMnRoute) -> None:
        assert self.tunnels is not None
        for prefix in action.prefixes:
            await self.tunnels.route_prefix_to_peer(prefix, action.mag_address)

    async def _remove_route(self, action: RemoveMnRoute) -> None:
        assert self.tunnels is not None
        for prefix in action.prefixes:
            await self.tunnels.remove_prefix_route(prefix)

    # Buffering is carried out by the handover buffer (see docs/buffering.md);
    # until it is wired in, the LMA behaves as standard PMIPv6 here.
    def _start_buffering(self, action: StartBuffering) -> None:
        self.log.emit("buffering-unavailable", "warning", mn_id=action.mn_id)

    def _release_buffer(self, action: ReleaseBuffer) -> None:
        pass

    def _discard_buffer(self, action: DiscardBuffer) -> None:
        pass
