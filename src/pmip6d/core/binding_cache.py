"""The LMA's binding cache: one entry per mobility session (RFC 5213 5.1).

An MN attached through two interfaces at once has two mobility sessions, each
with its own home network prefixes; so an entry is keyed by a session number
the LMA gives it, and found by what RFC 5213 5.4.1 looks sessions up by: a
home network prefix, or the MN identifier with the access technology type
and the MN's link-layer identifier (`core.lookup`).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

MnKey = tuple[int, bytes]  # (MN-ID subtype, identifier octets): what names an MN


class BindingState(enum.Enum):
    ACTIVE = "active"
    # De-registered by its MAG; kept MinDelayBeforeBCEDelete so a new MAG can
    # take it over (RFC 5213 5.3.5), holding packets if buffering is on.
    DEREGISTERED = "deregistered"


@dataclass
class BindingCacheEntry:
    mn_id: str  # printable MN identifier (`MobileNodeIdentifier.text`)
    prefixes: tuple[IPv6Network, ...]
    proxy_coa: IPv6Address
    state: BindingState
    lifetime: int
    expires_at: float
    last_sequence: int
    last_timestamp: int | None  # raw 48.16 value of the last accepted Timestamp option
    access_technology_type: int
    link_layer_id: bytes | None
    buffering: bool = False
    mn_key: MnKey | None = None  # None: the NAI `mn_id`, subtype 1
    session: int = 0
    # The link-local address the MAG uses on the MN's access link (RFC 5213 6.8),
    # as a MAG told us or as we generated when one asked (5.3.2 / 6.9.1.1).
    link_local: IPv6Address | None = None

    def __post_init__(self) -> None:
        if self.mn_key is None:
            self.mn_key = (1, self.mn_id.encode("utf-8"))

    @property
    def session_id(self) -> str:
        """The session's name in actions and logs: the MN identifier and its number."""
        return f"{self.mn_id}#{self.session}"

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "mn_id": self.mn_id,
            "session": self.session,
            "prefixes": [str(p) for p in self.prefixes],
            "proxy_coa": str(self.proxy_coa),
            "state": self.state.value,
            "lifetime": self.lifetime,
            "remaining": max(0.0, round(self.expires_at - now, 3)),
            "last_sequence": self.last_sequence,
            "last_timestamp": None if self.last_timestamp is None else self.last_timestamp / 65536,
            "access_technology_type": self.access_technology_type,
            "link_layer_id": None if self.link_layer_id is None else self.link_layer_id.hex(),
            "buffering": self.buffering,
        }


class BindingCache:
    def __init__(self) -> None:
        self._entries: dict[int, BindingCacheEntry] = {}
        # Indexes kept by put/delete, so no lookup walks the whole cache.
        self._by_prefix: dict[IPv6Network, BindingCacheEntry] = {}
        self._by_mn: dict[MnKey, dict[int, BindingCacheEntry]] = {}
        self._active_at: Counter[IPv6Address] = Counter()
        self._next_session = 1

    def new_session(self) -> int:
        number, self._next_session = self._next_session, self._next_session + 1
        return number

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        """The first session of the MN whose NAI is `mn_id` (its only one, usually)."""
        return next(iter(self._by_mn.get((1, mn_id.encode("utf-8")), {}).values()), None)

    def session(self, number: int) -> BindingCacheEntry | None:
        return self._entries.get(number)

    def sessions_of(self, mn_key: MnKey) -> list[BindingCacheEntry]:
        return list(self._by_mn.get(mn_key, {}).values())

    def active_mags(self) -> set[IPv6Address]:
        """The proxy-CoAs of the active sessions: the MAGs the LMA has bindings with."""
        return set(self._active_at)

    def holding(self, prefix: IPv6Network) -> BindingCacheEntry | None:
        """The session a home network prefix is assigned to."""
        return self._by_prefix.get(prefix)

    def put(self, entry: BindingCacheEntry) -> None:
        """Add or replace the entry of `entry.session`."""
        if entry.session == 0:
            entry.session = self.new_session()
        old = self._entries.get(entry.session)
        if old is not None:
            self._unindex(old)
        self._entries[entry.session] = entry
        for prefix in entry.prefixes:
            self._by_prefix[prefix] = entry
        self._by_mn.setdefault(entry.mn_key, {})[entry.session] = entry
        if entry.state is BindingState.ACTIVE:
            self._active_at[entry.proxy_coa] += 1

    def delete(self, entry: BindingCacheEntry) -> BindingCacheEntry:
        removed = self._entries.pop(entry.session)
        self._unindex(removed)
        return removed

    def due(self, now: float) -> list[BindingCacheEntry]:
        return [e for e in self._entries.values() if e.expires_at <= now]

    def next_deadline(self) -> float | None:
        return min((e.expires_at for e in self._entries.values()), default=None)

    def _unindex(self, entry: BindingCacheEntry) -> None:
        for prefix in entry.prefixes:
            if self._by_prefix.get(prefix) is entry:
                del self._by_prefix[prefix]
        sessions = self._by_mn.get(entry.mn_key, {})
        sessions.pop(entry.session, None)
        if not sessions:
            self._by_mn.pop(entry.mn_key, None)
        if entry.state is BindingState.ACTIVE:
            self._active_at[entry.proxy_coa] -= 1
            if self._active_at[entry.proxy_coa] <= 0:
                del self._active_at[entry.proxy_coa]

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, mn_id: object) -> bool:
        return isinstance(mn_id, str) and self.get(mn_id) is not None
