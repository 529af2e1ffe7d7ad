"""Shared builders for the core tests: the default lab's policy, configs and PBUs."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from pmip6d.config import (
    AuthorizedMag,
    BufferingConfig,
    LmaConfig,
    MagConfig,
    MnProfile,
    NodeConfig,
    Policy,
    ProtocolConstants,
)
from pmip6d.core.actions import LogEvent
from pmip6d.wire import (
    AccessTechnologyType,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    Timestamp,
)

LMAA = IPv6Address("2001:db8:ffff::1")
MAG1 = IPv6Address("2001:db8:ffff::11")
MAG2 = IPv6Address("2001:db8:ffff::12")
ROGUE_MAG = IPv6Address("2001:db8:ffff::99")
MN1 = "mn1@pmipv6.lab"
MN1_MAC = "02:00:00:00:01:01"
MN1_HNP = IPv6Network("2001:db8:1:1::/64")
MN2 = "mn2@pmipv6.lab"
MN2_MAC = "02:00:00:00:02:01"
MN2_HNP = IPv6Network("2001:db8:1:2::/64")
T0 = 1_700_000_000.0  # wall-clock seconds, as the daemon passes time.time()
MN1_SESSION = f"{MN1}#1"  # the LMA's name for mn1's first mobility session

POLICY = Policy(
    mobile_nodes=(
        MnProfile(MN1, (MN1_MAC,), (MN1_HNP,)),
        MnProfile(MN2, (MN2_MAC,), (MN2_HNP,)),
    ),
    authorized_mags=(AuthorizedMag("mag1", MAG1), AuthorizedMag("mag2", MAG2)),
)

# mn1's second interface and second prefix (RFC 5213 5.4 multihoming).
MN1_MAC_B = "02:00:00:00:01:02"
MN1_HNP_B = IPv6Network("2001:db8:1:11::/64")


def policy_with_mn1(link_layer_addresses: tuple[str, ...], prefixes) -> Policy:
    mn1 = replace(
        POLICY.mobile_nodes[0],
        link_layer_addresses=link_layer_addresses,
        home_network_prefixes=tuple(prefixes),
    )
    return replace(POLICY, mobile_nodes=(mn1, POLICY.mobile_nodes[1]))


# mn1 with one interface and two prefixes, and with two interfaces (one prefix each).
TWO_PREFIXES = policy_with_mn1((MN1_MAC,), (MN1_HNP, MN1_HNP_B))
MULTIHOMED = policy_with_mn1((MN1_MAC, MN1_MAC_B), (MN1_HNP, MN1_HNP_B))


def lma_config(*, buffering: bool = False, **timers: object) -> NodeConfig:
    return NodeConfig(
        role="lma",
        policy_file=Path("policy.yaml"),
        protocol=replace(ProtocolConstants(), **timers),
        lma=LmaConfig(address=LMAA, buffering=BufferingConfig(enabled=buffering)),
    )


def mag_config(
    proxy_coa: IPv6Address = MAG1, *, hold: bool = False, **timers: object
) -> NodeConfig:
    return NodeConfig(
        role="mag",
        policy_file=Path("policy.yaml"),
        protocol=replace(ProtocolConstants(), **timers),
        mag=MagConfig(
            proxy_coa=proxy_coa,
            lma_address=LMAA,
            access_interfaces=("eth2", "eth3"),
            hold_packets_on_detach=hold,
        ),
    )


def pbu(
    *,
    sequence: int = 1,
    lifetime: int = 300,
    mn_id: str | None = MN1,
    prefixes: tuple[IPv6Network, ...] | None = (MN1_HNP,),
    handoff: int | None = Handoff.UNKNOWN,
    att: int | None = 3,
    timestamp: float | None = T0,
    link_layer: bytes | None = bytes.fromhex("020000000101"),
    proxy: bool = True,
) -> BindingUpdate:
    """A PBU as a MAG sends it; pass None to leave an option out."""
    options: list = []
    if mn_id is not None:
        options.append(MobileNodeIdentifier(mn_id))
    options += [HomeNetworkPrefix(p) for p in prefixes or ()]
    if handoff is not None:
        options.append(HandoffIndicator(handoff))
    if att is not None:
        options.append(AccessTechnologyType(att))
    if link_layer is not None:
        options.append(MobileNodeLinkLayerIdentifier(link_layer))
    if timestamp is not None:
        options.append(Timestamp.from_seconds(timestamp))
    return BindingUpdate(
        sequence=sequence, lifetime=lifetime, ack=True, home=True, proxy=proxy, options=options
    )


def of_type(actions: list, cls: type) -> list:
    return [a for a in actions if isinstance(a, cls)]


def only(actions: list, cls: type):
    (found,) = of_type(actions, cls)
    return found


def without_logs(actions: list) -> list:
    return [a for a in actions if not isinstance(a, LogEvent)]
