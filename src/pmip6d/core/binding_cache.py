"""The LMA's binding cache: one entry per mobile node, keyed by its MN identifier.

This LMA keeps one mobility session per MN (the MN-ID names it), so RFC 5213's
multi-session lookup by (MN-ID, ATT, link-layer ID, HNP) collapses to the MN-ID.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network


class BindingState(enum.Enum):
    ACTIVE = "active"
    # De-registered by its MAG; kept MinDelayBeforeBCEDelete so a new MAG can
    # take it over (RFC 5213 5.3.5), holding packets if buffering is on.
    DEREGISTERED = "deregistered"


@dataclass
class BindingCacheEntry:
    mn_id: str
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

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "mn_id": self.mn_id,
            "prefixes": [str(p) for p in self.prefixes],
            "proxy_coa": str(self.proxy_coa),
            "state": self.state.value,
            "lifetime": self.lifetime,
            "remaining": max(0.0, round(self.expires_at - now, 3)),
            "last_sequence": self.last_sequence,
            "last_timestamp": None if self.last_timestamp is None else self.last_timestamp / 65536,
            "buffering": self.buffering,
        }


class BindingCache:
    def __init__(self) -> None:
        self._entries: dict[str, BindingCacheEntry] = {}

    def get(self, mn_id: str) -> BindingCacheEntry | None:
        return self._entries.get(mn_id)

    def put(self, entry: BindingCacheEntry) -> None:
        self._entries[entry.mn_id] = entry

    def delete(self, mn_id: str) -> BindingCacheEntry:
        return self._entries.pop(mn_id)

    def due(self, now: float) -> list[BindingCacheEntry]:
        return [e for e in self._entries.values() if e.expires_at <= now]

    def next_deadline(self) -> float | None:
        return min((e.expires_at for e in self._entries.values()), default=None)

    def __iter__(self) -> Iterator[BindingCacheEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, mn_id: object) -> bool:
        return mn_id in self._entries
