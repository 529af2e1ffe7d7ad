"""The MAG's binding update list: one entry per mobility session, that is per MN and
access interface (RFC 5213 6.1; an MN on two interfaces has two), and the one
table that says how an entry's state may change.

`TRANSITIONS` maps (state, event) to the next state; `GONE` removes the entry
and `None` as a state is "no entry". The MAG changes a state only through
`BindingUpdateListEntry.enter`, which refuses any step not in the table;
`IGNORED` lists the (state, event) pairs that change nothing, each with the
reason, and the tests check that the two together cover every pair.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network


class BulState(enum.Enum):
    REGISTERING = "registering"  # PBU out, no binding yet
    REGISTERED = "registered"
    REFRESHING = "refreshing"  # binding up, refresh PBU out
    DEREGISTERING = "deregistering"  # MN gone, de-registration PBU out
    FAILED = "failed"  # rejected (waits for the MN to re-attach) or given up (retried later)

    @property
    def awaits_pba(self) -> bool:
        return self in (BulState.REGISTERING, BulState.REFRESHING, BulState.DEREGISTERING)


class BulEvent(enum.Enum):
    ATTACH = "attach"  # the MN is (again) on the interface: link up, RS
    ACCEPTED = "accepted"  # PBA status 0 for the outstanding PBU
    REJECTED = "rejected"  # PBA with a rejecting status (after a 135 resync, if any)
    GIVE_UP = "give_up"  # the last retransmission went unanswered (or, de-registering, time is up)
    REFRESH_DUE = "refresh_due"  # refresh_fraction of the lifetime has passed
    EXPIRED = "expired"  # the lifetime ran out with the refresh unanswered
    DETACH = "detach"  # the MN left the interface
    LMA_RESTARTED = "lma_restarted"  # RFC 5847: the LMA's Restart Counter changed
    RETRY_DUE = "retry_due"  # a given-up registration is tried afresh
    # The MN's interface (its link-layer address) appeared on another access
    # interface of this MAG: the entry here is over.
    MOVED = "moved"


class _Gone(enum.Enum):
    GONE = "gone"


GONE = _Gone.GONE
_S, _E = BulState, BulEvent
Target = BulState | _Gone

# Rule numbers are referenced by the tests and docs/conformance.md.
TRANSITIONS: dict[tuple[BulState | None, BulEvent], Target] = {
    # M1: an MN appears: PBU out (forwarding set up first, for the handover's sake).
    (None, _E.ATTACH): _S.REGISTERING,
    # M2: accepted: forwarding up, RA out, refresh scheduled.
    (_S.REGISTERING, _E.ACCEPTED): _S.REGISTERED,
    # M3/M4: rejected or given up: early forwarding undone (RFC 5213 6.9.1.2 sets
    # it up on acceptance only); a given-up one is retried later.
    (_S.REGISTERING, _E.REJECTED): _S.FAILED,
    (_S.REGISTERING, _E.GIVE_UP): _S.FAILED,
    # M5: the MN leaves before the answer: de-register.
    (_S.REGISTERING, _E.DETACH): _S.DEREGISTERING,
    # M6/M7: refresh at refresh_fraction, or at once when the LMA restarted.
    (_S.REGISTERED, _E.REFRESH_DUE): _S.REFRESHING,
    (_S.REGISTERED, _E.LMA_RESTARTED): _S.REFRESHING,
    (_S.REGISTERED, _E.DETACH): _S.DEREGISTERING,
    # M8: refresh accepted.
    (_S.REFRESHING, _E.ACCEPTED): _S.REGISTERED,
    (_S.REFRESHING, _E.REJECTED): _S.FAILED,
    (_S.REFRESHING, _E.GIVE_UP): _S.FAILED,
    # M9: the lifetime ran out unanswered: forwarding down, keep trying to register.
    (_S.REFRESHING, _E.EXPIRED): _S.REGISTERING,
    (_S.REFRESHING, _E.DETACH): _S.DEREGISTERING,
    # M10: the LMA restarted while a refresh was out: a new refresh, from the start.
    (_S.REFRESHING, _E.LMA_RESTARTED): _S.REFRESHING,
    # M11: a de-registration settles in any way: hand back what was held, forget.
    (_S.DEREGISTERING, _E.ACCEPTED): GONE,
    (_S.DEREGISTERING, _E.REJECTED): GONE,
    (_S.DEREGISTERING, _E.GIVE_UP): GONE,
    # M12: the MN is back before its de-registration settled: forget, register anew.
    (_S.DEREGISTERING, _E.ATTACH): GONE,
    # M13: a failed entry ends when the MN leaves, comes back, or is retried.
    (_S.FAILED, _E.DETACH): GONE,
    (_S.FAILED, _E.ATTACH): GONE,
    (_S.FAILED, _E.RETRY_DUE): GONE,
    # M14: the MN's interface moved to another access link of this MAG: forget this
    # entry (no de-registration: the registration from the new link, by the same
    # proxy-CoA, carries the session on).
    (_S.REGISTERING, _E.MOVED): GONE,
    (_S.REGISTERED, _E.MOVED): GONE,
    (_S.REFRESHING, _E.MOVED): GONE,
}

_NO_ENTRY = "no entry for the MN on that interface"
_NO_PBU_OUT = "no PBU outstanding: a PBA for it is stale"
_NO_TIMER = "no such timer runs in this state"
IGNORED: dict[tuple[BulState | None, BulEvent], str] = {
    **{(None, e): _NO_ENTRY for e in BulEvent if e is not _E.ATTACH},
    (_S.DEREGISTERING, _E.MOVED): "ended by the attach itself (M12)",
    (_S.FAILED, _E.MOVED): "ended by the attach itself (M13)",
    (_S.REGISTERING, _E.ATTACH): "a registration is already out",
    (_S.REGISTERING, _E.LMA_RESTARTED): "the outstanding PBU meets the new LMA anyway",
    (_S.REGISTERING, _E.REFRESH_DUE): _NO_TIMER,
    (_S.REGISTERING, _E.EXPIRED): _NO_TIMER,
    (_S.REGISTERING, _E.RETRY_DUE): _NO_TIMER,
    (_S.REGISTERED, _E.ATTACH): "already registered: answered with an RA",
    (_S.REGISTERED, _E.ACCEPTED): _NO_PBU_OUT,
    (_S.REGISTERED, _E.REJECTED): _NO_PBU_OUT,
    (_S.REGISTERED, _E.GIVE_UP): _NO_PBU_OUT,
    (_S.REGISTERED, _E.EXPIRED): "the refresh is due before the lifetime ends",
    (_S.REGISTERED, _E.RETRY_DUE): _NO_TIMER,
    (_S.REFRESHING, _E.ATTACH): "already registered: answered with an RA",
    (_S.REFRESHING, _E.REFRESH_DUE): _NO_TIMER,
    (_S.REFRESHING, _E.RETRY_DUE): _NO_TIMER,
    (_S.DEREGISTERING, _E.DETACH): "already gone: reported once",
    (_S.DEREGISTERING, _E.LMA_RESTARTED): "nothing left to re-register",
    (_S.DEREGISTERING, _E.REFRESH_DUE): _NO_TIMER,
    (_S.DEREGISTERING, _E.EXPIRED): _NO_TIMER,
    (_S.DEREGISTERING, _E.RETRY_DUE): _NO_TIMER,
    (_S.FAILED, _E.ACCEPTED): _NO_PBU_OUT,
    (_S.FAILED, _E.REJECTED): _NO_PBU_OUT,
    (_S.FAILED, _E.GIVE_UP): _NO_PBU_OUT,
    (_S.FAILED, _E.LMA_RESTARTED): "nothing registered to re-register",
    (_S.FAILED, _E.REFRESH_DUE): _NO_TIMER,
    (_S.FAILED, _E.EXPIRED): _NO_TIMER,
}


class IllegalTransition(RuntimeError):
    """A state change the table does not allow: a bug in the MAG, never input."""


@dataclass
class BindingUpdateListEntry:
    mn_id: str  # printable MN identifier
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
    # A de-registration is not retransmitted past this (detach + MinDelayBeforeBCEDelete).
    settle_by: float | None = None
    forwarding: bool = False
    holding: bool = False
    mn_key: tuple[int, bytes] | None = None  # (MN-ID subtype, identifier); None: NAI mn_id
    # The MN's link-local address, once an RS came from it: where RAs go (RFC 5213 6.7).
    mn_link_local: IPv6Address | None = None
    # The prefixes are asked for as ::/0 (the LMA assigns them) rather than by value.
    all_zero_request: bool = False

    def __post_init__(self) -> None:
        if self.mn_key is None:
            self.mn_key = (1, self.mn_id.encode("utf-8"))

    def enter(self, event: BulEvent) -> Target:
        """Take the step of `TRANSITIONS` for `event`; the caller removes a GONE entry."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition(f"{self.state.value} has no step for {event.value}")
        if isinstance(target, BulState):
            self.state = target
        return target

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
    """Entries keyed by (MN, access interface)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], BindingUpdateListEntry] = {}

    def get(self, mn_id: str, access_interface: str | None = None) -> BindingUpdateListEntry | None:
        """The MN's entry on `access_interface`, or its first entry when none is named."""
        if access_interface is not None:
            return self._entries.get((mn_id, access_interface))
        return next((e for e in self._entries.values() if e.mn_id == mn_id), None)

    def of_mn(self, mn_id: str) -> list[BindingUpdateListEntry]:
        return [e for e in self._entries.values() if e.mn_id == mn_id]

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
        self._entries[(entry.mn_id, entry.access_interface)] = entry

    def delete(self, entry: BindingUpdateListEntry) -> None:
        del self._entries[(entry.mn_id, entry.access_interface)]

    def next_deadline(self) -> float | None:
        return min((t for e in self._entries.values() for t in e.deadlines()), default=None)

    def __iter__(self) -> Iterator[BindingUpdateListEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
