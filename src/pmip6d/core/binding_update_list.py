"""The MAG's binding update list: one entry per attached mobile node."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Network


class BulState(enum.Enum):
    REGISTERING = "registering"  # PBU out, no binding yet
    REGISTERED = "registered"
    REFRESHING = "refreshing"  # binding up, refresh PBU out
    DEREGISTERING = "deregistering"  # MN gone, de-registration PBU out
    FAILED = "failed"  # rejected (waits for the MN to re-attach) or given up (retried later)

    @property
    def awaits_pba(self) -> bool:
        return self in (BulState.REGISTERING, BulState.REFRESHING, BulState.DEREGISTERING)


@dataclass
class BindingUpdateListEntry:
    mn_id: str
    access_interface: str
    mn_link_layer: str
    prefixes: tuple[IPv6Network, ...]
    state: BulState
    sequence: int  # of the last PBU sent
    requested_lifetime: int = 0  # of the outstanding PBU
    handoff_indicator: int = 0  # of the outstanding PBU
    lifetime: int = 0  # granted by the LMA
    expires_at: float | None = None
    refresh_at: float | None = None
    retransmit_at: float | None = None
    bindack_timeout: float = 0.0
    retransmissions: int = 0
    resynced: bool = False  # a 135 resync was already spent on the outstanding PBU
    next_ra_at: float | None = None
    retry_at: float | None = None  # a fresh registration after a give-up
    forwarding: bool = False
    holding: bool = False

    def deadlines(self) -> list[float]:
        times = (
            self.expires_at,
            self.refresh_at,
            self.retransmit_at,
            self.next_ra_at,
            self.retry_at,
        )
        return [t for t in times if t is not None]

    def as_dict(self, now: float) -> dict[str, object]:
        def remaining(at: float | None) -> float | None:
            return None if at is None else max(0.0, round(at - now, 3))

        return {
            "mn_id": self.mn_id,
            "access_interface": self.access_interface,
            "mn_link_layer": self.mn_link_layer,
            "prefixes": [str(p) for p in self.prefixes],
            "state": self.state.value,
            "sequence": self.sequence,
            "lifetime": self.lifetime,
            "remaining": remaining(self.expires_at),
            "refresh_in": remaining(self.refresh_at),
            "retransmissions": self.retransmissions,
            "retry_in": remaining(self.retry_at),
            "forwarding": self.forwarding,
            "holding": self.holding,
        }


class BindingUpdateList:
    def __init__(self) -> None:
        self._entries: dict[str, BindingUpdateListEntry] = {}

    def get(self, mn_id: str) -> BindingUpdateListEntry | None:
        return self._entries.get(mn_id)

    def on_interface(self, access_interface: str) -> BindingUpdateListEntry | None:
        """The MN attached to `access_interface`; one that has left (de-registering) is not."""
        return next(
            (
                e
                for e in self._entries.values()
                if e.access_interface == access_interface and e.state is not BulState.DEREGISTERING
            ),
            None,
        )

    def put(self, entry: BindingUpdateListEntry) -> None:
        self._entries[entry.mn_id] = entry

    def delete(self, mn_id: str) -> None:
        del self._entries[mn_id]

    def next_deadline(self) -> float | None:
        return min((t for e in self._entries.values() for t in e.deadlines()), default=None)

    def __iter__(self) -> Iterator[BindingUpdateListEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
