"""Sans-I/O Local Mobility Anchor (RFC 5213 section 5).

Messages, timer ticks and the caller's `now` (wall-clock seconds, as the
Timestamp option needs) go in; actions come out, to be carried out in order.
A PBU is first looked up (`core.lookup`, RFC 5213 5.4.1: which mobility
session it is for, without changing anything), then passes the numbered
checks of `pbu_checks`; a rejected PBU only produces a PBA and a log event.
An accepted one is classified by the transition table below, which alone
decides what happens to that session's binding cache entry.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Network

from pmip6d.config import NodeConfig, Policy
from pmip6d.core.actions import (
    DiscardBuffer,
    InstallMnRoute,
    LmaAction,
    LogEvent,
    ReleaseBuffer,
    RemoveMnRoute,
    SendMessage,
    StartBuffering,
)
from pmip6d.core.binding_cache import BindingCache, BindingCacheEntry, BindingState, MnKey
from pmip6d.core.heartbeat import HeartbeatOutcome, PeerHeartbeat, announcement, respond
from pmip6d.core.lookup import (
    Decision,
    Lookup,
    Request,
    find_for_deregistration,
    look_up,
)
from pmip6d.core.pbu_checks import PbuContext, first_violation
from pmip6d.core.prefixes import distinct_prefixes
from pmip6d.core.profiles import index_profiles, is_multihomed
from pmip6d.core.receive import RateLimiter, answer_undecodable
from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingError,
    BindingErrorStatus,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessage,
    ProtocolError,
    Status,
    Timestamp,
)


class Transition(enum.Enum):
    REGISTRATION = "registration"
    RE_REGISTRATION = "re_registration"
    HANDOFF = "handoff"
    DEREGISTRATION = "de_registration"
    RE_ATTACH = "re_attach"
    DEREGISTRATION_UNKNOWN_MN = "de_registration_unknown_mn"
    DEREGISTRATION_REPEATED = "de_registration_repeated"
    DEREGISTRATION_FROM_OLD_MAG = "de_registration_from_old_mag"


_ACTIVE, _DEREGISTERED = BindingState.ACTIVE, BindingState.DEREGISTERED

# (session state or None, PBU from the session's current MAG, lifetime > 0) -> transition.
# The session is the one `core.lookup` found. Rule numbers are referenced by the
# tests and docs/conformance.md.
TRANSITIONS: dict[tuple[BindingState | None, bool, bool], Transition] = {
    # L1: no session: a new one, with its entry and its route.
    (None, False, True): Transition.REGISTRATION,
    # L2: de-registration of no session: acknowledge, nothing to delete.
    (None, False, False): Transition.DEREGISTRATION_UNKNOWN_MN,
    # L3: same MAG, lifetime > 0: refresh the lifetime.
    (_ACTIVE, True, True): Transition.RE_REGISTRATION,
    # L4: another MAG while active: handoff, the route is replaced in one step.
    (_ACTIVE, False, True): Transition.HANDOFF,
    # L5: the current MAG de-registers: keep the entry MinDelayBeforeBCEDelete.
    (_ACTIVE, True, False): Transition.DEREGISTRATION,
    # L6: a MAG that is not the session's proxy-CoA de-registers: RFC 5213 5.3.5
    # says the LMA MUST ignore the request: no state change, no PBA.
    (_ACTIVE, False, False): Transition.DEREGISTRATION_FROM_OLD_MAG,
    # L7/L8: the MN re-attaches (any MAG) while the entry waits for deletion.
    (_DEREGISTERED, False, True): Transition.RE_ATTACH,
    (_DEREGISTERED, True, True): Transition.RE_ATTACH,
    # L9: the same de-registration again (e.g. its PBA was lost): acknowledge only.
    (_DEREGISTERED, True, False): Transition.DEREGISTRATION_REPEATED,
    # L10: as L6, while waiting for deletion.
    (_DEREGISTERED, False, False): Transition.DEREGISTRATION_FROM_OLD_MAG,
}

_ACK_ONLY = {Transition.DEREGISTRATION_UNKNOWN_MN, Transition.DEREGISTRATION_REPEATED}
# Options a PBA copies from the PBU as they were sent (RFC 5213 5.3.6); the
# Link-local Address option is answered separately (an all-zero one is a request).
_ECHOED = (HandoffIndicator, AccessTechnologyType, MobileNodeLinkLayerIdentifier)
_ALL_ZERO = IPv6Address("::")
_LINK_LOCAL_PREFIX = int(IPv6Address("fe80::"))


@dataclass
class PendingRegistration:
    """A PBU with HI 4 for an MN with another live session: RFC 5213 5.4.1 lets the
    LMA wait MaxDelayBeforeNewBCEAssign for that session's de-registration (then
    this is its handoff) before it creates a new session."""

    ctx: PbuContext
    lookup: Lookup
    deadline: float


class LocalMobilityAnchor:
    def __init__(self, config: NodeConfig, policy: Policy, *, restart_counter: int = 0) -> None:
        if config.lma is None:
            raise ValueError("LocalMobilityAnchor needs a configuration with an 'lma' section")
        self.config = config
        self.policy = policy
        self.profiles = index_profiles(policy.mobile_nodes)
        # RFC 5847: changes on every start, so MAGs can tell that our state is gone.
        self.restart_counter = restart_counter
        self.binding_cache = BindingCache()
        self.counters: Counter[str] = Counter()
        self.buffering = config.lma.buffering.enabled
        self.pending: dict[tuple[MnKey, IPv6Address], PendingRegistration] = {}
        # RFC 5847 3: heartbeats to every MAG we have bindings with, except those
        # that answered one with a Binding Error (status 2: they do not know them).
        self.peers: dict[IPv6Address, PeerHeartbeat] = {}
        self.heartbeats_refused: set[IPv6Address] = set()
        self.error_limiter = RateLimiter()

    def set_buffering(self, enabled: bool) -> None:
        """Affects later de-registrations; buffers already started run their course."""
        self.buffering = enabled

    # --- inputs ----------------------------------------------------------

    def start(self, now: float) -> list[LmaAction]:
        """Announce our (new) Restart Counter to every MAG we serve (RFC 5847 3.4): a
        MAG that knew another one re-registers its MNs instead of waiting for a refresh."""
        if self.config.protocol.heartbeat_interval <= 0:
            return []
        self.counters["heartbeat_announcements"] += len(self.policy.authorized_mags)
        return [
            SendMessage(mag.address, announcement(number, self.restart_counter))
            for number, mag in enumerate(self.policy.authorized_mags, start=1)
        ]

    def receive(self, src: IPv6Address, message: MobilityMessage, now: float) -> list[LmaAction]:
        if isinstance(message, Heartbeat):
            actions = self._heartbeat(src, message, now)
        elif isinstance(message, BindingError):
            actions = self._binding_error(src, message)
        elif isinstance(message, BindingUpdate):
            actions = self._binding_update(src, message, now)
        else:
            self.counters["ignored_messages"] += 1
            kind = type(message).__name__
            actions = [LogEvent("message_ignored", {"from": str(src), "type": kind}, "warning")]
        self._follow_bindings(now)
        return actions

    def undecodable(
        self, src: IPv6Address, dst: IPv6Address, data: bytes, error: ProtocolError, now: float
    ) -> list[LmaAction]:
        """A Mobility Header that failed to decode: RFC 6275 9.2's answer, if any."""
        self.counters[f"undecodable.{error.reaction.value}"] += 1
        return answer_undecodable(error, src, dst, data, now, self.error_limiter)

    def on_timer(self, now: float) -> list[LmaAction]:
        actions: list[LmaAction] = []
        for key, pending in list(self.pending.items()):
            if pending.deadline <= now:
                # No de-registration came: the other session stays, this one is new.
                del self.pending[key]
                self.counters["waits_ended_new_session"] += 1
                actions += self._register(pending.ctx, replace(pending.lookup, entry=None), now)
        for entry in self.binding_cache.due(now):
            self.binding_cache.delete(entry)
            fields = {"mn_id": entry.mn_id, "session": entry.session, "mag": str(entry.proxy_coa)}
            if entry.state is BindingState.ACTIVE:
                self.counters["expired"] += 1
                actions.append(self._route(RemoveMnRoute, entry))
                actions.append(LogEvent("binding_expired", fields))
                continue
            self.counters["deleted_after_deregistration"] += 1
            if entry.buffering:
                self.counters["buffers_discarded"] += 1
                actions.append(DiscardBuffer(entry.mn_id, entry.prefixes, entry.session_id))
            actions.append(
                LogEvent("binding_deleted", {**fields, "buffer_discarded": entry.buffering})
            )
        self._follow_bindings(now)
        for peer, heartbeat in self.peers.items():
            if heartbeat.due(now):
                actions.append(SendMessage(peer, heartbeat.request(now)))
                if heartbeat.newly_unreachable():
                    self.counters["mag_unreachable"] += 1
                    fields = {"mag": str(peer), "missed": heartbeat.missed}
                    actions.append(LogEvent("mag_unreachable", fields, "warning"))
        return actions

    def next_deadline(self) -> float | None:
        deadlines = [
            self.binding_cache.next_deadline(),
            *(pending.deadline for pending in self.pending.values()),
            *(heartbeat.next_request_at for heartbeat in self.peers.values()),
        ]
        return min((d for d in deadlines if d is not None), default=None)

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "role": "lma",
            "address": str(self.config.lma.address),
            "buffering": self.buffering,
            "binding_cache": [entry.as_dict(now) for entry in self.binding_cache],
            "waiting": [
                {"mn_id": p.ctx.mn_id, "mag": str(p.ctx.src), "in": round(p.deadline - now, 3)}
                for p in self.pending.values()
            ],
            "heartbeats": [heartbeat.snapshot() for heartbeat in self.peers.values()],
            "counters": dict(self.counters),
        }

    # --- heartbeats (RFC 5847) ---------------------------------------------

    def _heartbeat(self, src: IPv6Address, message: Heartbeat, now: float) -> list[LmaAction]:
        if not self.policy.is_authorized_mag(src):
            self.counters["heartbeat_from_unknown_mag"] += 1
            return [LogEvent("heartbeat_ignored", {"from": str(src)}, "warning")]
        if not message.response:
            self.counters["heartbeat_requests"] += 1
            return [SendMessage(src, respond(message, self.restart_counter))]
        peer = self.peers.get(src)
        if peer is None:
            # No binding with that MAG: nothing of ours depends on its state.
            self.counters["heartbeat_responses_ignored"] += 1
            return []
        result = peer.on_response(message)
        actions: list[LmaAction] = []
        if result.recovered:
            actions.append(LogEvent("mag_reachable", {"mag": str(src)}))
        if result.outcome is HeartbeatOutcome.RESTARTED:
            actions += self._mag_restarted(src, result.previous_counter, result.counter, now)
        return actions

    def _mag_restarted(
        self, mag: IPv6Address, previous: int | None, counter: int | None, now: float
    ) -> list[LmaAction]:
        """A MAG whose Restart Counter changed has lost its binding update list: it
        will neither refresh nor de-register the sessions it had here, and it no
        longer forwards for their MNs. Their routes would black-hole the MNs'
        traffic until their lifetimes ran out; they go now (RFC 5847 3: the peer's
        state is lost). A MN still there is registered anew when the MAG sees it."""
        self.counters["mag_restarts"] += 1
        lost = [
            e for e in self.binding_cache if e.proxy_coa == mag and e.state is BindingState.ACTIVE
        ]
        fields = {
            "mag": str(mag),
            "restart_counter": counter,
            "previous": previous,
            "sessions_removed": [e.session_id for e in lost],
        }
        actions: list[LmaAction] = [LogEvent("mag_restarted", fields, "warning")]
        for entry in lost:
            self.binding_cache.delete(entry)
            self.counters["removed_after_mag_restart"] += 1
            actions.append(self._route(RemoveMnRoute, entry))
        return actions

    def _binding_error(self, src: IPv6Address, message: BindingError) -> list[LmaAction]:
        fields = {"from": str(src), "status": int(message.status)}
        if not self.policy.is_authorized_mag(src):
            # Only our MAGs' word counts (and no stranger grows our state).
            self.counters["binding_error_from_unknown_node"] += 1
            return [LogEvent("binding_error_ignored", fields, "warning")]
        if message.status != BindingErrorStatus.UNRECOGNIZED_MH_TYPE:
            self.counters["binding_errors_ignored"] += 1
            return [LogEvent("binding_error_ignored", fields, "warning")]
        # RFC 5847 3: a peer answering with "unrecognized MH type" does not speak
        # heartbeats (PBU and PBA it must know): stop sending it any.
        if src not in self.peers and src in self.heartbeats_refused:
            return []
        self.counters["heartbeats_refused"] += 1
        self.heartbeats_refused.add(src)
        self.peers.pop(src, None)
        return [LogEvent("heartbeats_stopped", fields, "warning")]

    def _follow_bindings(self, now: float) -> None:
        """Heartbeat peers are the MAGs that sessions point to, no more, no fewer."""
        interval = self.config.protocol.heartbeat_interval
        if interval <= 0:
            return
        wanted = self.binding_cache.active_mags() - self.heartbeats_refused
        for peer in set(self.peers) - wanted:
            del self.peers[peer]
        for peer in wanted - set(self.peers):
            heartbeat = PeerHeartbeat(
                peer, interval, self.config.protocol.missing_heartbeats_allowed
            )
            heartbeat.next_request_at = now + interval
            self.peers[peer] = heartbeat

    # --- Proxy Binding Updates ---------------------------------------------

    def _binding_update(self, src: IPv6Address, pbu: BindingUpdate, now: float) -> list[LmaAction]:
        self.counters["pbu_received"] += 1
        ctx = PbuContext(
            src=src,
            pbu=pbu,
            now=now,
            policy=self.policy,
            protocol=self.config.protocol,
            entry=None,
            profiles=self.profiles,
        )
        lookup = None
        if ctx.mn_key is not None:
            request = _request(ctx)
            found = look_up if pbu.lifetime > 0 else find_for_deregistration
            lookup = found(request, self.binding_cache)
            if lookup.decision in (Decision.SAME, Decision.TAKE_OVER):
                ctx = replace(ctx, entry=lookup.entry)
        violation = first_violation(ctx)
        if violation is not None and violation.status is None:
            self.counters["discarded"] += 1
            fields = {"from": str(src), "check": violation.number, "reason": violation.reason}
            return [LogEvent("pbu_discarded", fields, "warning")]
        if violation is not None:
            return self._reject(ctx, violation.status, violation.number, violation.reason)
        assert lookup is not None
        if lookup.decision is Decision.REJECT:
            reason = "the requested prefixes are not the set of one mobility session"
            return self._reject(ctx, Status.BCE_PBU_PREFIX_SET_DO_NOT_MATCH, "5.4.1", reason)
        if pbu.lifetime == 0:
            return self._deregistration(ctx, lookup, now)
        if lookup.decision is Decision.WAIT:
            return self._wait(ctx, lookup, now)
        return self._register(ctx, lookup, now)

    def _reject(
        self, ctx: PbuContext, status: Status, rule: int | str, reason: str
    ) -> list[LmaAction]:
        self.counters["rejected"] += 1
        self.counters[f"rejected.{status.name}"] += 1
        sequence = ctx.pbu.sequence
        if status is Status.SEQUENCE_NUMBER_OUT_OF_WINDOW:
            # RFC 6275 9.5.1: tell the MAG the last accepted number so it can resync.
            sequence = ctx.entry.last_sequence
        prefixes = [o.prefix for o in ctx.pbu.options_of(HomeNetworkPrefix)]
        pba = self._pba(ctx, status, sequence, 0, prefixes, _echoed_link_local(ctx.pbu))
        fields = {
            "mn_id": ctx.mn_id,
            "mag": str(ctx.src),
            "sequence": ctx.pbu.sequence,
            "status": status.name,
            "code": int(status),
            "check": rule,
            "reason": reason,
        }
        return [SendMessage(ctx.src, pba), LogEvent("pbu_rejected", fields, "warning")]

    def _accepted(self, ctx: PbuContext, transition: Transition, lookup: Lookup) -> dict:
        self.counters["accepted"] += 1
        self.counters[transition.value] += 1
        return {
            "mn_id": ctx.mn_id,
            "mag": str(ctx.src),
            "sequence": ctx.pbu.sequence,
            "transition": transition.value,
            "lookup": f"{lookup.form.value}/{lookup.found.value}/HI{lookup.handoff}",
        }

    def _deregistration(self, ctx: PbuContext, lookup: Lookup, now: float) -> list[LmaAction]:
        entry = ctx.entry
        withdrawn = self._withdraw_waiting(ctx)
        from_current = entry is not None and entry.proxy_coa == ctx.src
        transition = TRANSITIONS[(entry.state if entry else None, from_current, False)]
        if transition is Transition.DEREGISTRATION_FROM_OLD_MAG:
            # RFC 5213 5.3.5: "MUST ignore the request" -- nothing changes and no
            # PBA goes back; the MAG's retransmissions meet the same silence.
            self.counters["deregistration_ignored"] += 1
            fields = {
                "mn_id": ctx.mn_id,
                "mag": str(ctx.src),
                "current_mag": str(entry.proxy_coa),
                "sequence": ctx.pbu.sequence,
            }
            return [LogEvent("deregistration_ignored", fields)]
        fields = self._accepted(ctx, transition, lookup)
        if withdrawn:
            fields["withdrew_waiting_registration"] = True
        if transition in _ACK_ONLY:
            prefixes = (
                entry.prefixes
                if entry
                else [o.prefix for o in ctx.pbu.options_of(HomeNetworkPrefix)]
            )
            link_local = entry.link_local if entry else _echoed_link_local(ctx.pbu)
            pba = self._pba(ctx, Status.ACCEPTED, ctx.pbu.sequence, 0, prefixes, link_local)
            return [SendMessage(ctx.src, pba), LogEvent("pbu_accepted", fields)]
        actions = self._deregister(ctx, entry, fields)
        return actions + self._end_wait_for(self.binding_cache.session(entry.session), now)

    def _withdraw_waiting(self, ctx: PbuContext) -> bool:
        """A MAG de-registering an MN whose registration from that MAG still waits
        (HI 4) withdraws it: the MN left before the LMA decided."""
        pending = self.pending.get((ctx.mn_key, ctx.src))
        if pending is None:
            return False
        link_layer = ctx.pbu.option(MobileNodeLinkLayerIdentifier)
        if link_layer != pending.ctx.pbu.option(MobileNodeLinkLayerIdentifier):
            return False
        del self.pending[(ctx.mn_key, ctx.src)]
        self.counters["waits_withdrawn"] += 1
        return True

    def _deregister(
        self, ctx: PbuContext, entry: BindingCacheEntry, fields: dict[str, object]
    ) -> list[LmaAction]:
        buffering = self.buffering
        updated = self._record(ctx, entry, entry.prefixes, 0, BindingState.DEREGISTERED)
        updated.buffering = buffering
        protocol = self.config.protocol
        hold = self.config.lma.buffering.hold_time
        wait = hold if buffering and hold is not None else protocol.min_delay_before_bce_delete
        updated.expires_at = ctx.now + wait
        actions: list[LmaAction] = []
        if buffering:
            # Before the PBA: every packet the LMA sent to the previous MAG is
            # then ahead of the PBA on the wire, so that MAG holds it and hands
            # it back; and before the route goes, so nothing falls into the gap.
            self.counters["buffering_started"] += 1
            actions.append(StartBuffering(updated.mn_id, updated.prefixes, updated.session_id))
        pba = self._pba(
            ctx, Status.ACCEPTED, ctx.pbu.sequence, 0, updated.prefixes, updated.link_local
        )
        actions.append(SendMessage(ctx.src, pba))
        actions.append(self._route(RemoveMnRoute, entry))
        fields.update(delete_in=wait, buffering=buffering)
        actions.append(LogEvent("pbu_accepted", fields))
        return actions

    def _wait(self, ctx: PbuContext, lookup: Lookup, now: float) -> list[LmaAction]:
        key = (ctx.mn_key, ctx.src)
        pending = self.pending.get(key)
        # A retransmission while waiting replaces the PBU waited on, not the deadline.
        deadline = now + self.config.protocol.max_delay_before_new_bce_assign
        if pending is not None:
            deadline = pending.deadline
        self.pending[key] = PendingRegistration(ctx, lookup, deadline)
        self.counters["waits_for_deregistration"] += 1
        fields = {
            "mn_id": ctx.mn_id,
            "mag": str(ctx.src),
            "sequence": ctx.pbu.sequence,
            "sessions": list(lookup.waiting_for),
            "until": deadline,
        }
        return [LogEvent("pbu_waiting", fields)]

    def _end_wait_for(self, entry: BindingCacheEntry, now: float) -> list[LmaAction]:
        """The session `entry` was just de-registered: a PBU waiting for that is its
        handoff, settled now instead of at the end of the wait."""
        for key, pending in list(self.pending.items()):
            if key[0] == entry.mn_key and entry.session in pending.lookup.waiting_for:
                del self.pending[key]
                self.counters["waits_ended_handoff"] += 1
                lookup = replace(pending.lookup, decision=Decision.TAKE_OVER, entry=entry)
                ctx = replace(pending.ctx, entry=entry)
                return self._register(ctx, lookup, now)
        return []

    def _register(self, ctx: PbuContext, lookup: Lookup, now: float) -> list[LmaAction]:
        previous = lookup.entry
        from_current = previous is not None and previous.proxy_coa == ctx.src
        transition = TRANSITIONS[(previous.state if previous else None, from_current, True)]
        if previous is None:
            prefixes = self._new_prefixes(ctx)
            if not prefixes:
                reason = "every prefix of the MN's profile is in use by its other sessions"
                return self._reject(ctx, Status.INSUFFICIENT_RESOURCES, "5.3.2", reason)
        else:
            # The session keeps its prefixes, whatever the PBU asked for by ::/0
            # (RFC 5213 5.3.2: the PBA carries the prefixes the session has).
            prefixes = previous.prefixes
        fields = self._accepted(ctx, transition, lookup)
        granted = min(ctx.pbu.lifetime, self.config.lma.max_binding_lifetime)
        entry = self._record(ctx, previous, prefixes, granted, BindingState.ACTIVE)
        # Route and release before the PBA: the MAG set up its access route before
        # it sent the PBU, so the MN's packets need nothing from the PBA, and
        # sending it first would put it on the handover's critical path.
        actions: list[LmaAction] = []
        if transition is not Transition.RE_REGISTRATION:
            actions.append(self._route(InstallMnRoute, entry))
        if previous is not None and previous.buffering:
            self.counters["buffers_released"] += 1
            actions.append(
                ReleaseBuffer(entry.mn_id, entry.prefixes, entry.proxy_coa, entry.session_id)
            )
        pba = self._pba(
            ctx, Status.ACCEPTED, ctx.pbu.sequence, granted, entry.prefixes, entry.link_local
        )
        actions.append(SendMessage(ctx.src, pba))
        fields.update(
            session=entry.session, lifetime=granted, prefixes=[str(p) for p in entry.prefixes]
        )
        if previous is not None and previous.proxy_coa != entry.proxy_coa:
            fields["previous_mag"] = str(previous.proxy_coa)
        actions.append(LogEvent("pbu_accepted", fields))
        return actions

    def _new_prefixes(self, ctx: PbuContext) -> tuple[IPv6Network, ...]:
        """A new session's prefixes: those asked for by value (check 12 made sure
        they are the MN's, the lookup that no session holds them); for ::/0, the
        profile's prefixes no other session of the MN holds, one per session for
        an MN with several interfaces so that each interface can have its own."""
        if ctx.requested_prefixes:
            return ctx.requested_prefixes
        free = tuple(
            p for p in ctx.profile.home_network_prefixes if self.binding_cache.holding(p) is None
        )
        return free[:1] if is_multihomed(ctx.profile) else free

    def _record(
        self,
        ctx: PbuContext,
        previous: BindingCacheEntry | None,
        prefixes: tuple[IPv6Network, ...],
        lifetime: int,
        state: BindingState,
    ) -> BindingCacheEntry:
        """Write the accepted PBU into the session's entry (a fresh one for a new session)."""
        timestamp = ctx.timestamp
        link_layer = ctx.pbu.option(MobileNodeLinkLayerIdentifier)
        last_timestamp = None if timestamp is None else timestamp.value
        if previous is not None and previous.last_timestamp is not None:
            # A PBU that waited (HI 4) may be older than the de-registration it waited for.
            last_timestamp = max(last_timestamp or 0, previous.last_timestamp)
        entry = BindingCacheEntry(
            mn_id=ctx.mn_id,
            prefixes=prefixes,
            proxy_coa=ctx.src,
            state=state,
            lifetime=lifetime,
            expires_at=ctx.now + lifetime,
            last_sequence=ctx.pbu.sequence,
            last_timestamp=last_timestamp,
            access_technology_type=ctx.pbu.option(AccessTechnologyType).value,
            link_layer_id=None if link_layer is None else link_layer.link_layer_id,
            mn_key=ctx.mn_key,
            session=previous.session if previous is not None else self.binding_cache.new_session(),
            link_local=previous.link_local if previous is not None else None,
        )
        entry.link_local = self._link_local(ctx.pbu, entry)
        self.binding_cache.put(entry)
        return entry

    def _link_local(self, pbu: BindingUpdate, entry: BindingCacheEntry) -> IPv6Address | None:
        """RFC 5213 6.9.1.1 / 5.3.2: a MAG sends the link-local address it uses on the
        access link, or the all-zero address to ask for the one the session used
        before, which the LMA then returns (and makes up, for a session that has
        none yet). Without the option the session keeps what it had."""
        option = pbu.option(LinkLocalAddress)
        if option is None:
            return entry.link_local
        if option.address != _ALL_ZERO:
            return option.address
        if entry.link_local is not None:
            return entry.link_local
        seed = b"%d:%d:" % (entry.mn_key[0], entry.session) + entry.mn_key[1]
        digest = hashlib.sha256(seed).digest()
        interface_id = int.from_bytes(digest[:8], "big") & ~(0x02 << 56)  # u/l bit: local
        return IPv6Address(_LINK_LOCAL_PREFIX | interface_id)

    def _route(self, action: type, entry: BindingCacheEntry) -> LmaAction:
        return action(entry.mn_id, entry.prefixes, entry.proxy_coa, entry.session_id)

    def _pba(
        self,
        ctx: PbuContext,
        status: Status,
        sequence: int,
        lifetime: int,
        prefixes,
        link_local: IPv6Address | None,
    ) -> BindingAcknowledgement:
        # RFC 5213 5.3.6: the MN-ID as received; for a PBU without one (status 160),
        # the option with a zero-length identifier.
        mn_id = ctx.pbu.option(MobileNodeIdentifier) or MobileNodeIdentifier(b"")
        options: list = [mn_id]
        options.extend(HomeNetworkPrefix(prefix) for prefix in distinct_prefixes(prefixes))
        options.extend(o for cls in _ECHOED if (o := ctx.pbu.option(cls)) is not None)
        if link_local is not None and ctx.pbu.option(LinkLocalAddress) is not None:
            options.append(LinkLocalAddress(link_local))
        if status in (Status.TIMESTAMP_MISMATCH, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED):
            # RFC 5213 5.5: answer with our own clock so the MAG can see the skew.
            options.append(Timestamp.from_seconds(ctx.now))
        elif ctx.timestamp is not None:
            options.append(ctx.timestamp)
        return BindingAcknowledgement(
            status=status, sequence=sequence, lifetime=lifetime, proxy=True, options=options
        )


def _request(ctx: PbuContext) -> Request:
    att = ctx.pbu.option(AccessTechnologyType)
    link_layer = ctx.pbu.option(MobileNodeLinkLayerIdentifier)
    handoff = ctx.pbu.option(HandoffIndicator)
    return Request(
        src=ctx.src,
        mn_key=ctx.mn_key,
        prefixes=ctx.requested_prefixes,
        access_technology_type=0 if att is None else att.value,
        link_layer_id=None if link_layer is None else link_layer.link_layer_id,
        handoff=int(Handoff.UNKNOWN) if handoff is None else handoff.value,
    )


def _echoed_link_local(pbu: BindingUpdate) -> IPv6Address | None:
    option = pbu.option(LinkLocalAddress)
    return None if option is None else option.address
