"""MN profiles by what names an MN on the wire: (MN-ID subtype, identifier octets).

RFC 8371 lets an MN be named by an IMSI, an EUI-64 and the like, not only by
an NAI, so the core finds profiles by the pair. The policy store names MNs by
NAI today; a profile that carries `mn_id_key` (a (subtype, octets) pair) is
found by that instead, which is all a policy store needs to offer for the
other subtypes.
"""

from __future__ import annotations

from collections.abc import Iterable

from pmip6d.config import MnProfile
from pmip6d.core.binding_cache import MnKey
from pmip6d.wire import MnIdSubtype, MobileNodeIdentifier


def profile_key(profile: MnProfile) -> MnKey:
    key = getattr(profile, "mn_id_key", None)
    if key is not None:
        return int(key[0]), bytes(key[1])
    return int(MnIdSubtype.NAI), profile.mn_id.encode("utf-8")


def index_profiles(profiles: Iterable[MnProfile]) -> dict[MnKey, MnProfile]:
    return {profile_key(profile): profile for profile in profiles}


def identifier_option(profile: MnProfile) -> MobileNodeIdentifier:
    """The MN-ID option a MAG sends for the MN of `profile`."""
    subtype, identifier = profile_key(profile)
    return MobileNodeIdentifier(identifier, subtype)


def is_multihomed(profile: MnProfile) -> bool:
    """An MN the policy knows by more than one link-layer address has more than one
    interface, each of which gets a mobility session of its own (RFC 5213 5.4)."""
    return len(profile.link_layer_addresses) > 1
