"""The LMA's acceptance checks for a Proxy Binding Update, as one numbered table.

RFC 5213 section 5.3.1 lists the checks an LMA applies before touching its
binding cache; each row here is one of them with the status it answers with.
Rows run in order and the first one violated decides the PBA status, so a
rejected PBU is fully decided before the binding cache is looked at for change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from pmip6d.config import MnProfile, Policy, ProtocolConstants
from pmip6d.core.binding_cache import BindingCacheEntry
from pmip6d.core.sequence import is_newer
from pmip6d.wire import (
    AccessTechnologyType,
    BindingUpdate,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Status,
    Timestamp,
)


@dataclass(frozen=True)
class PbuContext:
    """Everything a check may look at; nothing in it is changed by checking."""

    src: IPv6Address
    pbu: BindingUpdate
    now: float
    policy: Policy
    timers: ProtocolConstants
    entry: BindingCacheEntry | None

    @property
    def mn_id(self) -> str | None:
        option = self.pbu.option(MobileNodeIdentifier)
        return None if option is None else option.nai

    @property
    def profile(self) -> MnProfile | None:
        mn_id = self.mn_id
        return None if mn_id is None else self.policy.profile(mn_id)

    @property
    def requested_prefixes(self) -> tuple[IPv6Network, ...]:
        """The HNPs asked for by value; the all-zero ::/0 request ("assign one") is left out."""
        return tuple(
            o.prefix for o in self.pbu.options_of(HomeNetworkPrefix) if o.prefix.prefixlen != 0
        )

    @property
    def timestamp(self) -> Timestamp | None:
        return self.pbu.option(Timestamp)


def _timestamp_out_of_window(ctx: PbuContext) -> bool:
    if not ctx.timers.use_timestamps:
        return False
    if ctx.timestamp is None:
        return True
    return abs(ctx.timestamp.seconds - ctx.now) > ctx.timers.timestamp_validity_window


def _timestamp_not_newer(ctx: PbuContext) -> bool:
    if not ctx.timers.use_timestamps or ctx.entry is None or ctx.entry.last_timestamp is None:
        return False
    return ctx.timestamp.value <= ctx.entry.last_timestamp


def _sequence_not_newer(ctx: PbuContext) -> bool:
    # With timestamps the LMA ignores sequence ordering (RFC 5213 5.5).
    if ctx.timers.use_timestamps or ctx.entry is None:
        return False
    return not is_newer(ctx.pbu.sequence, ctx.entry.last_sequence)


def _prefix_not_authorized(ctx: PbuContext) -> bool:
    return not set(ctx.requested_prefixes) <= set(ctx.profile.home_network_prefixes)


def _prefix_set_differs_from_entry(ctx: PbuContext) -> bool:
    requested = set(ctx.requested_prefixes)
    return ctx.entry is not None and bool(requested) and requested != set(ctx.entry.prefixes)


@dataclass(frozen=True)
class Check:
    number: int
    status: Status
    reason: str
    violated: Callable[[PbuContext], bool]


CHECKS: tuple[Check, ...] = (
    Check(
        1,
        Status.MISSING_MN_IDENTIFIER_OPTION,
        "no Mobile Node Identifier option",
        lambda c: c.mn_id is None,
    ),
    Check(
        2,
        Status.PROXY_REG_NOT_ENABLED,
        "Binding Update without the proxy (P) flag; this LMA serves only proxy registrations",
        lambda c: not c.pbu.proxy,
    ),
    Check(
        3,
        Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
        "sender is not an authorized MAG in the policy store",
        lambda c: not c.policy.is_authorized_mag(c.src),
    ),
    Check(
        4,
        Status.NOT_LMA_FOR_THIS_MOBILE_NODE,
        "mobile node has no profile in the policy store",
        lambda c: c.profile is None,
    ),
    Check(
        5,
        Status.TIMESTAMP_MISMATCH,
        "Timestamp option missing or outside TimestampValidityWindow",
        _timestamp_out_of_window,
    ),
    Check(
        6,
        Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        "Timestamp not later than the last accepted one",
        _timestamp_not_newer,
    ),
    Check(
        7,
        Status.SEQUENCE_NUMBER_OUT_OF_WINDOW,
        "sequence number not greater than the last accepted one (mod 2^16)",
        _sequence_not_newer,
    ),
    Check(
        8,
        Status.MISSING_HOME_NETWORK_PREFIX_OPTION,
        "no Home Network Prefix option",
        lambda c: c.pbu.option(HomeNetworkPrefix) is None,
    ),
    Check(
        9,
        Status.MISSING_HANDOFF_INDICATOR_OPTION,
        "no Handoff Indicator option",
        lambda c: c.pbu.option(HandoffIndicator) is None,
    ),
    Check(
        10,
        Status.MISSING_ACCESS_TECH_TYPE_OPTION,
        "no Access Technology Type option",
        lambda c: c.pbu.option(AccessTechnologyType) is None,
    ),
    Check(
        11,
        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        "a requested prefix is not in the mobile node's profile",
        _prefix_not_authorized,
    ),
    Check(
        12,
        Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH,
        "requested prefixes differ from the binding cache entry's",
        _prefix_set_differs_from_entry,
    ),
)


def first_violation(ctx: PbuContext) -> Check | None:
    return next((check for check in CHECKS if check.violated(ctx)), None)
