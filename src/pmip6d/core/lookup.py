"""Which mobility session a Proxy Binding Update is for: RFC 5213 5.4.1, as one table.

A PBU names its session in one of three ways, one per subsection:

- 5.4.1.1: it asks for home network prefixes by value. A prefix is assigned
  to one session only, so the prefixes find it.
- 5.4.1.2: it asks for the all-zero prefix (``::/0``, "assign me one") and
  carries the MN's link-layer identifier: the MN identifier, the access
  technology type and that identifier find the session of that interface.
- 5.4.1.3: all-zero prefix, no link-layer identifier: only the MN identifier
  is left, so the Handoff Indicator decides between a new session and a
  handoff of an existing one.

`classify` reduces the request and the binding cache to a (`Form`, `Found`,
HI) key; `LOOKUP` maps every such key to a `Decision`. The table is the whole
policy: tests cover every row. Handoff Indicator values other than 1..5 are
read as 4, "handoff state unknown" (RFC 5213 8.4 reserves them).

Where the RFC leaves the combination open, the row says what we chose and why.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from pmip6d.core.binding_cache import BindingCache, BindingCacheEntry, BindingState, MnKey
from pmip6d.wire import Handoff


class Form(enum.Enum):
    BY_VALUE = "5.4.1.1"  # non-zero prefixes requested
    ALL_ZERO_WITH_LINK_LAYER = "5.4.1.2"
    ALL_ZERO = "5.4.1.3"  # all-zero prefix, no MN link-layer identifier


class Found(enum.Enum):
    NONE = "none"  # the MN has no session this request could mean
    MATCH = "match"  # the prefixes / link-layer identifier name one session
    # 5.4.1.1: the prefixes name a session that is active at another MAG.
    MATCH_ACTIVE_ELSEWHERE = "match_active_elsewhere"
    PARTIAL = "partial"  # 5.4.1.1: prefixes held, but not exactly one session's set
    # 5.4.1.3: no link-layer identifier, but the MN has a session at this very MAG
    # over the same access technology.
    SAME_MAG = "same_mag"
    # 5.4.1.2/3: the MN has other sessions, all still active ...
    OTHERS_ACTIVE = "others_active"
    # ... or at least one of them de-registered (its interface has left).
    OTHERS_DEREGISTERED = "others_deregistered"


class Decision(enum.Enum):
    NEW = "new_session"  # create a mobility session with prefixes of its own
    SAME = "same_session"  # the session found: re-registration, handoff, re-attach
    TAKE_OVER = "take_over"  # a handoff of another session of the MN (the candidate)
    # HI 4 with another session still active: wait MaxDelayBeforeNewBCEAssign for
    # its de-registration (then TAKE_OVER) before creating a new session.
    WAIT = "wait"
    REJECT = "reject"  # 159 BCE_PBU_PREFIX_SET_DO_NOT_MATCH


HANDOFF_VALUES = (1, 2, 3, 4, 5)
_ALL = HANDOFF_VALUES
N, S, T, W, R = Decision.NEW, Decision.SAME, Decision.TAKE_OVER, Decision.WAIT, Decision.REJECT


def _rows(form: Form, found: Found, decisions: dict[int, Decision]):
    return {(form, found, hi): decisions[hi] for hi in HANDOFF_VALUES}


def _all(decision: Decision) -> dict[int, Decision]:
    return dict.fromkeys(_ALL, decision)


# HI:            1  2  3  4  5
_OTHERS_ACTIVE = dict(zip(_ALL, (N, T, T, W, T), strict=True))
_OTHERS_DEREGISTERED = dict(zip(_ALL, (N, T, T, T, T), strict=True))

LOOKUP: dict[tuple[Form, Found, int], Decision] = {
    # --- 5.4.1.1: by value. The prefixes are the key. ---------------------------
    # No session holds them: a new session (check 11 already made sure they are
    # the MN's).
    **_rows(Form.BY_VALUE, Found.NONE, _all(N)),
    # Exactly one session's set: that session, whatever the HI ...
    **_rows(Form.BY_VALUE, Found.MATCH, _all(S)),
    # ... except HI 1, "attachment over a new interface", for prefixes that a
    # session uses right now at another MAG: a new interface cannot take over
    # the prefixes of an interface still attached elsewhere (moving them would
    # cut that interface off), so the request is refused with 159. (Our choice:
    # 5.4.1.1 keys by prefix alone and does not name this case.)
    **_rows(Form.BY_VALUE, Found.MATCH_ACTIVE_ELSEWHERE, {**_all(S), 1: R}),
    # Some of the prefixes are held but they are not one session's set: 159
    # (5.4.1.1, and 5.3.1's "BCE_PBU_PREFIX_SET_DO_NOT_MATCH").
    **_rows(Form.BY_VALUE, Found.PARTIAL, _all(R)),
    # --- 5.4.1.2: all-zero prefix with the MN's link-layer identifier. ------------
    **_rows(Form.ALL_ZERO_WITH_LINK_LAYER, Found.NONE, _all(N)),
    # Same MN, access technology and link-layer identifier: the same interface,
    # so the same session (a handoff or a re-registration) whatever the HI says.
    **_rows(Form.ALL_ZERO_WITH_LINK_LAYER, Found.MATCH, _all(S)),
    # Another interface of the MN: the HI decides. 1: new interface, new session.
    # 2 (between interfaces), 3 (same interface, other MAG, though the identifier
    # differs), 5 (not changed): a handoff of the other session. 4 (unknown):
    # wait for the other session's de-registration, unless one has already come.
    **_rows(Form.ALL_ZERO_WITH_LINK_LAYER, Found.OTHERS_ACTIVE, _OTHERS_ACTIVE),
    **_rows(Form.ALL_ZERO_WITH_LINK_LAYER, Found.OTHERS_DEREGISTERED, _OTHERS_DEREGISTERED),
    # --- 5.4.1.3: all-zero prefix, MN identifier alone. -------------------------
    **_rows(Form.ALL_ZERO, Found.NONE, _all(N)),
    # A session at this MAG over this technology: a re-registration, unless the
    # MAG says this is a new interface.
    **_rows(Form.ALL_ZERO, Found.SAME_MAG, {**_all(S), 1: N}),
    **_rows(Form.ALL_ZERO, Found.OTHERS_ACTIVE, _OTHERS_ACTIVE),
    **_rows(Form.ALL_ZERO, Found.OTHERS_DEREGISTERED, _OTHERS_DEREGISTERED),
}


@dataclass(frozen=True)
class Request:
    """What of a PBU the lookup reads."""

    src: IPv6Address
    mn_key: MnKey
    prefixes: tuple[IPv6Network, ...]  # non-zero prefixes asked for by value
    access_technology_type: int
    link_layer_id: bytes | None
    handoff: int

    @property
    def form(self) -> Form:
        if self.prefixes:
            return Form.BY_VALUE
        if self.link_layer_id is not None:
            return Form.ALL_ZERO_WITH_LINK_LAYER
        return Form.ALL_ZERO

    @property
    def handoff_value(self) -> int:
        """The HI as the table reads it: reserved values count as 4 (unknown)."""
        return self.handoff if self.handoff in HANDOFF_VALUES else int(Handoff.UNKNOWN)


@dataclass(frozen=True)
class Lookup:
    form: Form
    found: Found
    handoff: int
    decision: Decision
    # The session meant: found (SAME) or to be taken over (TAKE_OVER). For WAIT,
    # the sessions whose de-registration the request waits for.
    entry: BindingCacheEntry | None = None
    waiting_for: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[Form, Found, int]:
        return self.form, self.found, self.handoff


def classify(request: Request, cache: BindingCache) -> tuple[Found, BindingCacheEntry | None]:
    """The `Found` column for `request`, and the session it points at (if one)."""
    form = request.form
    if form is Form.BY_VALUE:
        holders = {id(e): e for p in request.prefixes if (e := cache.holding(p)) is not None}
        if not holders:
            return Found.NONE, None
        (entry, *others) = holders.values()
        if others or set(entry.prefixes) != set(request.prefixes) or entry.mn_key != request.mn_key:
            return Found.PARTIAL, None
        if entry.state is BindingState.ACTIVE and entry.proxy_coa != request.src:
            return Found.MATCH_ACTIVE_ELSEWHERE, entry
        return Found.MATCH, entry
    sessions = cache.sessions_of(request.mn_key)
    if form is Form.ALL_ZERO_WITH_LINK_LAYER:
        for entry in sessions:
            if (entry.access_technology_type, entry.link_layer_id) == (
                request.access_technology_type,
                request.link_layer_id,
            ):
                return Found.MATCH, entry
    else:
        for entry in sessions:
            if (entry.proxy_coa, entry.access_technology_type) == (
                request.src,
                request.access_technology_type,
            ):
                return Found.SAME_MAG, entry
    if not sessions:
        return Found.NONE, None
    if any(e.state is BindingState.DEREGISTERED for e in sessions):
        return Found.OTHERS_DEREGISTERED, _candidate(sessions)
    return Found.OTHERS_ACTIVE, _candidate(sessions)


def look_up(request: Request, cache: BindingCache) -> Lookup:
    found, entry = classify(request, cache)
    key = (request.form, found, request.handoff_value)
    decision = LOOKUP[key]
    if decision is Decision.TAKE_OVER and entry is None:
        # Several sessions and no telling which one moved: give the interface a
        # session of its own rather than guess (and take another one's prefixes).
        decision = Decision.NEW
    waiting_for: tuple[int, ...] = ()
    if decision is Decision.WAIT:
        waiting_for = tuple(e.session for e in cache.sessions_of(request.mn_key))
    if decision not in (Decision.SAME, Decision.TAKE_OVER):
        entry = None
    return Lookup(*key, decision, entry, waiting_for)


def find_for_deregistration(request: Request, cache: BindingCache) -> Lookup:
    """The session a de-registration (lifetime 0) is for, found as 5.4.1 finds one;
    the Handoff Indicator plays no part. Decision SAME with the entry, NEW when none
    is found (nothing to de-register), REJECT for a prefix set that is no one's."""
    found, entry = classify(request, cache)
    decision = {
        Found.MATCH: Decision.SAME,
        Found.MATCH_ACTIVE_ELSEWHERE: Decision.SAME,
        Found.SAME_MAG: Decision.SAME,
        Found.PARTIAL: Decision.REJECT,
    }.get(found, Decision.NEW)
    if request.form is Form.ALL_ZERO and found in (Found.OTHERS_ACTIVE, Found.OTHERS_DEREGISTERED):
        # Without prefixes or a link-layer identifier, the MN's only session is
        # the one meant. (With an identifier that matches none, no session is:
        # the interface it names has none to end.)
        sessions = cache.sessions_of(request.mn_key)
        decision = Decision.SAME if len(sessions) == 1 else Decision.NEW
        entry = sessions[0] if decision is Decision.SAME else None
    if decision is not Decision.SAME:
        entry = None
    return Lookup(request.form, found, request.handoff_value, decision, entry)


def _candidate(sessions: Iterable[BindingCacheEntry]) -> BindingCacheEntry | None:
    """The one session a handoff can mean: the only de-registered one, else the only one."""
    sessions = list(sessions)
    left = [e for e in sessions if e.state is BindingState.DEREGISTERED]
    if len(left) == 1:
        return left[0]
    return sessions[0] if len(sessions) == 1 else None
