"""What the state machines ask the outside world to do.

Each action is a small frozen dataclass; the daemon carries them out in list
order, because the order matters (a buffer rule before a de-registration's
PBA and before the route removal; a new route and the buffer's release
before a registration's PBA). Prefix tuples keep the order of the policy store.

An MN attached through two interfaces has two mobility sessions (RFC 5213
5.4). The LMA's actions name theirs in `session` ("<MN-ID>#<number>"), the
MAG's by `access_interface`: what the daemon keys per-session state by
(buffers, holds), where `mn_id` alone would mix the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import Any, Literal

from pmip6d.wire import BindingAcknowledgement, BindingError, BindingUpdate, Heartbeat

Prefixes = tuple[IPv6Network, ...]


@dataclass(frozen=True)
class SendMessage:
    """Send a PBU, PBA, Heartbeat or Binding Error to `dst` (encode with src = our
    address, dst = `dst`)."""

    dst: IPv6Address
    message: BindingUpdate | BindingAcknowledgement | Heartbeat | BindingError


@dataclass(frozen=True)
class SendParameterProblem:
    """ICMPv6 Parameter Problem, code 0 (RFC 4443 3.4), to `dst` about the Mobility
    Header `invoking` it sent to `to` (RFC 6275 9.2). `pointer` counts octets from
    the start of the Mobility Header: the daemon adds the offset of the Mobility
    Header in the invoking packet (40 behind a bare IPv6 header) and quotes the
    invoking packet, IPv6 header rebuilt from `dst` -> `to`, as far as it fits."""

    dst: IPv6Address
    to: IPv6Address
    invoking: bytes
    pointer: int


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
    session: str = ""  # the mobility session (MN identifier#number); see module doc


@dataclass(frozen=True)
class RemoveMnRoute:
    """Remove the MN's prefix routes into the tunnel to `mag_address`."""

    mn_id: str
    prefixes: Prefixes
    mag_address: IPv6Address
    session: str = ""


@dataclass(frozen=True)
class StartBuffering:
    """Hold packets destined to `prefixes` instead of forwarding them."""

    mn_id: str
    prefixes: Prefixes
    session: str = ""


@dataclass(frozen=True)
class ReleaseBuffer:
    """Forward the held packets (the route to `mag_address` is already in place)."""

    mn_id: str
    prefixes: Prefixes
    mag_address: IPv6Address
    session: str = ""


@dataclass(frozen=True)
class DiscardBuffer:
    """The MN did not come back in time: drop the held packets and stop holding."""

    mn_id: str
    prefixes: Prefixes
    session: str = ""


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
    """RA to the MN (RFC 5213 6.7: unicast to the MN) from the shared access
    link-local and link-layer source, advertising its home network prefixes
    on-link for SLAAC. The frame goes to `mn_link_layer`; the IPv6 destination
    is the MN's link-local address once an RS has told it (`destination`),
    ff02::1 before (a PMIPv6 access link is point-to-point, RFC 5213 6.2, so it
    reaches that one MN all the same)."""

    access_interface: str
    mn_link_layer: str
    source_address: IPv6Address
    source_link_layer: str
    prefixes: Prefixes
    router_lifetime: int
    prefix_valid_lifetime: int
    prefix_preferred_lifetime: int
    destination: IPv6Address = IPv6Address("ff02::1")


@dataclass(frozen=True)
class HoldForMn:
    """The MN left this MAG: hold packets for `prefixes` that can no longer be delivered."""

    mn_id: str
    prefixes: Prefixes
    access_interface: str = ""


@dataclass(frozen=True)
class HandBackHeld:
    """Send what was held back to the LMA. `final` (the de-registration is settled):
    and stop holding. Not final: a de-registration went unanswered and is sent
    again; hand back what is held so far and go on holding (see MobileAccessGateway)."""

    mn_id: str
    prefixes: Prefixes
    lma_address: IPv6Address
    access_interface: str = ""
    final: bool = True


LmaAction = (
    SendMessage
    | SendParameterProblem
    | LogEvent
    | InstallMnRoute
    | RemoveMnRoute
    | StartBuffering
    | ReleaseBuffer
    | DiscardBuffer
)
MagAction = (
    SendMessage
    | SendParameterProblem
    | LogEvent
    | SetupMnForwarding
    | TeardownMnForwarding
    | SendRouterAdvertisement
    | HoldForMn
    | HandBackHeld
)
Action = LmaAction | MagAction
