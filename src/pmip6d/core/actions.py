"""What the state machines ask the outside world to do.

Each action is a small frozen dataclass; the daemon carries them out in list
order, because the order matters (a buffer rule before a de-registration's
PBA and before the route removal; a new route and the buffer's release
before a registration's PBA). Prefix tuples keep the order of the policy store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any, Literal

from pmip6d.wire import BindingAcknowledgement, BindingUpdate, Heartbeat

Prefixes = tuple[IPv6Network, ...]


@dataclass(frozen=True)
class SendMessage:
    """Send a PBU, PBA or Heartbeat to `dst` (encode with src = our address, dst = `dst`)."""

    dst: IPv6Address
    message: BindingUpdate | BindingAcknowledgement | Heartbeat


@dataclass(frozen=True)
class LogEvent:
    """One protocol event worth one log line; the daemon renders text or JSON."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    level: Literal["debug", "info", "warning"] = "info"


# --- LMA -------------------------------------------------------------------


@dataclass(frozen=True)
class InstallMnRoute:
    """Route `prefixes` into the tunnel to `mag_address`, atomically replacing any
    route the MN's prefixes had before (a handoff is one replace, never delete+add)."""

    mn_id: str
    prefixes: Prefixes
    mag_address: IPv6Address


@dataclass(frozen=True)
class RemoveMnRoute:
    """Remove the MN's prefix routes into the tunnel to `mag_address`."""

    mn_id: str
    prefixes: Prefixes
    mag_address: IPv6Address


@dataclass(frozen=True)
class StartBuffering:
    """Hold packets destined to `prefixes` instead of forwarding them."""

    mn_id: str
    prefixes: Prefixes


@dataclass(frozen=True)
class ReleaseBuffer:
    """Forward the held packets (the route to `mag_address` is already in place)."""

    mn_id: str
    prefixes: Prefixes
    mag_address: IPv6Address


@dataclass(frozen=True)
class DiscardBuffer:
    """The MN did not come back in time: drop the held packets and stop holding."""

    mn_id: str
    prefixes: Prefixes


# --- MAG -------------------------------------------------------------------


@dataclass(frozen=True)
class SetupMnForwarding:
    """Tunnel to the LMA and routes for the MN: its prefixes towards the access
    link, traffic from its prefixes into the tunnel."""

    mn_id: str
    prefixes: Prefixes
    lma_address: IPv6Address
    access_interface: str
    mn_link_layer: str


@dataclass(frozen=True)
class TeardownMnForwarding:
    mn_id: str
    prefixes: Prefixes
    lma_address: IPv6Address
    access_interface: str
    mn_link_layer: str


@dataclass(frozen=True)
class SendRouterAdvertisement:
    """Unicast RA to the MN (RFC 5213 6.7) from the shared access link-local and
    link-layer source, advertising its home network prefixes on-link for SLAAC."""

    access_interface: str
    mn_link_layer: str
    source_address: IPv6Address
    source_link_layer: str
    prefixes: Prefixes
    router_lifetime: int
    prefix_valid_lifetime: int
    prefix_preferred_lifetime: int


@dataclass(frozen=True)
class HoldForMn:
    """The MN left this MAG: hold packets for `prefixes` that can no longer be delivered."""

    mn_id: str
    prefixes: Prefixes


@dataclass(frozen=True)
class HandBackHeld:
    """The de-registration is settled: send what was held back to the LMA and stop holding."""

    mn_id: str
    prefixes: Prefixes
    lma_address: IPv6Address


LmaAction = (
    SendMessage
    | LogEvent
    | InstallMnRoute
    | RemoveMnRoute
    | StartBuffering
    | ReleaseBuffer
    | DiscardBuffer
)
MagAction = (
    SendMessage
    | LogEvent
    | SetupMnForwarding
    | TeardownMnForwarding
    | SendRouterAdvertisement
    | HoldForMn
    | HandBackHeld
)
Action = LmaAction | MagAction
