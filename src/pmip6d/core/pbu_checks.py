"""The LMA's acceptance checks for a Proxy Binding Update, as one numbered table.

RFC 5213 section 5.3.1 lists the checks an LMA applies before touching its
binding cache; each row here is one of them with the status it answers with.
Rows run in order and the first one violated decides the PBA status, so a
rejected PBU is fully decided before the binding cache is looked at for change.
A row whose status is None discards the message without an answer.

`entry` is the mobility session the PBU is for, as `core.lookup` found it
(RFC 5213 5.4.1) without changing anything: the timestamp and sequence checks
compare against that session. Whether requested prefixes form one session's
set (159) is the lookup's to say, not a check's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv6Address, IPv6Network

from pmip6d.config import MnProfile, Policy, ProtocolConstants
from pmip6d.core.binding_cache import BindingCacheEntry, MnKey
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
    """Everything a check may look at; nothing in it is changed by checking (what is
    derived from the PBU is worked out once: `cached_property`)."""

    src: IPv6Address
    pbu: BindingUpdate
    now: float
    policy: Policy
    protocol: ProtocolConstants
    entry: BindingCacheEntry | None
    # The policy's profiles by (MN-ID subtype, identifier): RFC 8371 identifiers
    # find their profile the same way an NAI does (`core.profiles`).
    profiles: Mapping[MnKey, MnProfile] | None = None

    @cached_property
    def mn_option(self) -> MobileNodeIdentifier | None:
        """The MN-ID option, if one with a non-empty identifier is present."""
        option = self.pbu.option(MobileNodeIdentifier)
        return option if option is not None and option.identifier else None

    @cached_property
    def mn_id(self) -> str | None:
        option = self.mn_option
        return None if option is None else option.text

    @cached_property
    def mn_key(self) -> MnKey | None:
        option = self.mn_option
        return None if option is None else option.key

    @cached_property
    def profile(self) -> MnProfile | None:
        key = self.mn_key
        if key is None:
            return None
        if self.profiles is not None:
            return self.profiles.get(key)
        nai = self.mn_option.nai
        return None if nai is None else self.policy.profile(nai)

    @cached_property
    def requested_prefixes(self) -> tuple[IPv6Network, ...]:
        """The HNPs asked for by value; the all-zero ::/0 request ("assign one") is left out."""
        return tuple(
            o.prefix for o in self.pbu.options_of(HomeNetworkPrefix) if o.prefix.prefixlen != 0
        )

    @cached_property
    def timestamp(self) -> Timestamp | None:
        return self.pbu.option(Timestamp)


def _timestamp_out_of_window(ctx: PbuContext) -> bool:
    if not ctx.protocol.use_timestamps:
        return False
    if ctx.timestamp is None:
        return True
    return abs(ctx.timestamp.seconds - ctx.now) > ctx.protocol.timestamp_validity_window


def _timestamp_not_newer(ctx: PbuContext) -> bool:
    if not ctx.protocol.use_timestamps or ctx.entry is None or ctx.entry.last_timestamp is None:
        return False
    return ctx.timestamp.value <= ctx.entry.last_timestamp


def _sequence_not_newer(ctx: PbuContext) -> bool:
    # With timestamps the LMA ignores sequence ordering (RFC 5213 5.5).
    if ctx.protocol.use_timestamps or ctx.entry is None:
        return False
    return not is_newer(ctx.pbu.sequence, ctx.entry.last_sequence)


def _prefix_not_authorized(ctx: PbuContext) -> bool:
    return not set(ctx.requested_prefixes) <= set(ctx.profile.home_network_prefixes)


@dataclass(frozen=True)
class Check:
    number: int
    status: Status | None  # None: discard without an answer
    reason: str
    violated: Callable[[PbuContext], bool]


CHECKS: tuple[Check, ...] = (
    # A Binding Update without the P flag is a Mobile IPv6 registration, and this
    # LMA is no home agent. (152 PROXY_REG_NOT_ENABLED means "proxy registration
    # not enabled for the mobile node", a policy answer to a PBU: every profile
    # here enables it.) A home registration (H set) gets what RFC 6275 10.3.1
    # answers from a node not configured as a home agent: 131 ...
    Check(
        1,
        Status.HOME_REGISTRATION_NOT_SUPPORTED,
        "Binding Update without the proxy (P) flag: a home registration, and this is no home agent",
        lambda c: not c.pbu.proxy and c.pbu.home,
    ),
    # ... a correspondent registration (H clear) lacks the Binding Authorization
    # Data RFC 6275 9.5.1 requires of one, and is discarded.
    Check(
        2,
        None,
        "Binding Update with neither the proxy (P) nor the home (H) flag",
        lambda c: not c.pbu.proxy and not c.pbu.home,
    ),
    # RFC 5213 5.3.1; a zero-length identifier names no one either.
    Check(
        3,
        Status.MISSING_MN_IDENTIFIER_OPTION,
        "no Mobile Node Identifier option",
        lambda c: c.mn_id is None,
    ),
    Check(
        4,
        Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG,
        "sender is not an authorized MAG in the policy store",
        lambda c: not c.policy.is_authorized_mag(c.src),
    ),
    Check(
        5,
        Status.NOT_LMA_FOR_THIS_MOBILE_NODE,
        "mobile node has no profile in the policy store",
        lambda c: c.profile is None,
    ),
    Check(
        6,
        Status.TIMESTAMP_MISMATCH,
        "Timestamp option missing or outside TimestampValidityWindow",
        _timestamp_out_of_window,
    ),
    Check(
        7,
        Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED,
        "Timestamp not later than the last accepted one",
        _timestamp_not_newer,
    ),
    Check(
        8,
        Status.SEQUENCE_NUMBER_OUT_OF_WINDOW,
        "sequence number not greater than the last accepted one (mod 2^16)",
        _sequence_not_newer,
    ),
    Check(
        9,
        Status.MISSING_HOME_NETWORK_PREFIX_OPTION,
        "no Home Network Prefix option",
        lambda c: c.pbu.option(HomeNetworkPrefix) is None,
    ),
    Check(
        10,
        Status.MISSING_HANDOFF_INDICATOR_OPTION,
        "no Handoff Indicator option",
        lambda c: c.pbu.option(HandoffIndicator) is None,
    ),
    Check(
        11,
        Status.MISSING_ACCESS_TECH_TYPE_OPTION,
        "no Access Technology Type option",
        lambda c: c.pbu.option(AccessTechnologyType) is None,
    ),
    Check(
        12,
        Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX,
        "a requested prefix is not in the mobile node's profile",
        _prefix_not_authorized,
    ),
)


def first_violation(ctx: PbuContext) -> Check | None:
    return next((check for check in CHECKS if check.violated(ctx)), None)
