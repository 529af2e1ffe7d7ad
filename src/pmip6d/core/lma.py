"""Sans-I/O Local Mobility Anchor (RFC 5213 section 5).

Messages, timer ticks and the caller's `now` (wall-clock seconds, as the
Timestamp option needs) go in; actions come out, to be carried out in order.
A PBU first passes the numbered checks of `pbu_checks`; a rejected PBU only
produces a PBA and a log event. An accepted one is classified by the
transition table below, which alone decides what happens to the binding cache.
"""

from __future__ import annotations

import enum
from collections import Counter
from ipaddress import IPv6Address

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
from pmip6d.core.binding_cache import BindingCache, BindingCacheEntry, BindingState
from pmip6d.core.heartbeat import announcement, respond
from pmip6d.core.pbu_checks import PbuContext, first_violation
from pmip6d.core.prefixes import distinct_prefixes
from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessage,
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

# (entry state or None, PBU from the entry's current MAG, lifetime > 0) -> transition.
# Rule numbers are referenced by the tests and docs.
TRANSITIONS: dict[tuple[BindingState | None, bool, bool], Transition] = {
    # L1: first registration creates the entry and its route.
    (None, False, True): Transition.REGISTRATION,
    # L2: de-registration for an MN without an entry: acknowledge, nothing to delete.
    (None, False, False): Transition.DEREGISTRATION_UNKNOWN_MN,
    # L3: same MAG, lifetime > 0: refresh the lifetime.
    (_ACTIVE, True, True): Transition.RE_REGISTRATION,
    # L4: another MAG while active: handoff, the route is replaced in one step.
    (_ACTIVE, False, True): Transition.HANDOFF,
    # L5: the current MAG de-registers: keep the entry MinDelayBeforeBCEDelete.
    (_ACTIVE, True, False): Transition.DEREGISTRATION,
    # L6: a MAG that is no longer current de-registers: acknowledge only (RFC 5213 5.3.5).
    (_ACTIVE, False, False): Transition.DEREGISTRATION_FROM_OLD_MAG,
    # L7/L8: the MN re-attaches (any MAG) while the entry waits for deletion.
    (_DEREGISTERED, False, True): Transition.RE_ATTACH,
    (_DEREGISTERED, True, True): Transition.RE_ATTACH,
    # L9: the same de-registration again (e.g. its PBA was lost): acknowledge only.
    (_DEREGISTERED, True, False): Transition.DEREGISTRATION_REPEATED,
    # L10: as L6, while waiting for deletion.
    (_DEREGISTERED, False, False): Transition.DEREGISTRATION_FROM_OLD_MAG,
}

_ACK_ONLY = {
    Transition.DEREGISTRATION_UNKNOWN_MN,
    Transition.DEREGISTRATION_REPEATED,
    Transition.DEREGISTRATION_FROM_OLD_MAG,
}
# Options a PBA copies from the PBU as they were sent (RFC 5213 5.3.7).
_ECHOED = (HandoffIndicator, AccessTechnologyType, MobileNodeLinkLayerIdentifier, LinkLocalAddress)


class LocalMobilityAnchor:
    def __init__(self, config: NodeConfig, policy: Policy, *, restart_counter: int = 0) -> None:
        if config.lma is None:
            raise ValueError("LocalMobilityAnchor needs a configuration with an 'lma' section")
        self.config = config
        self.policy = policy
        # RFC 5847: changes on every start, so MAGs can tell that our state is gone.
        self.restart_counter = restart_counter
        self.binding_cache = BindingCache()
        self.counters: Counter[str] = Counter()
        self.buffering = config.lma.buffering.enabled

    def set_buffering(self, enabled: bool) -> None:
        """Affects later de-registrations; buffers already started run their course."""
        self.buffering = enabled

    # --- inputs ----------------------------------------------------------

    def start(self, now: float) -> list[LmaAction]:
        """Announce our (new) Restart Counter to every MAG we serve (RFC 5847 3.4): a
        MAG that knew another one re-registers its MNs instead of waiting for a refresh."""
        if self.config.timers.heartbeat_interval <= 0:
            return []
        self.counters["heartbeat_announcements"] += len(self.policy.authorized_mags)
        return [
            SendMessage(mag.address, announcement(number, self.restart_counter))
            for number, mag in enumerate(self.policy.authorized_mags, start=1)
        ]

    def receive(self, src: IPv6Address, message: MobilityMessage, now: float) -> list[LmaAction]:
        if isinstance(message, Heartbeat):
            return self._heartbeat(src, message)
        if not isinstance(message, BindingUpdate):
            self.counters["ignored_messages"] += 1
            kind = type(message).__name__
            return [LogEvent("message_ignored", {"from": str(src), "type": kind}, "warning")]
        self.counters["pbu_received"] += 1
        ctx = PbuContext(
            src=src,
            pbu=message,
            now=now,
            policy=self.policy,
            timers=self.config.timers,
            entry=self.binding_cache.get(_mn_id(message) or ""),
        )
        violation = first_violation(ctx)
        if violation is not None:
            return self._reject(ctx, violation.status, violation.number, violation.reason)
        return self._accept(ctx)

    def on_timer(self, now: float) -> list[LmaAction]:
        actions: list[LmaAction] = []
        for entry in self.binding_cache.due(now):
            self.binding_cache.delete(entry.mn_id)
            fields = {"mn_id": entry.mn_id, "mag": str(entry.proxy_coa)}
            if entry.state is BindingState.ACTIVE:
                self.counters["expired"] += 1
                actions.append(RemoveMnRoute(entry.mn_id, entry.prefixes, entry.proxy_coa))
                actions.append(LogEvent("binding_expired", fields))
                continue
            self.counters["deleted_after_deregistration"] += 1
            if entry.buffering:
                self.counters["buffers_discarded"] += 1
                actions.append(DiscardBuffer(entry.mn_id, entry.prefixes))
            actions.append(
                LogEvent("binding_deleted", {**fields, "buffer_discarded": entry.buffering})
            )
        return actions

    def next_deadline(self) -> float | None:
        return self.binding_cache.next_deadline()

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "role": "lma",
            "address": str(self.config.lma.address),
            "buffering": self.buffering,
            "binding_cache": [entry.as_dict(now) for entry in self.binding_cache],
            "counters": dict(self.counters),
        }

    # --- decisions -------------------------------------------------------

    def _heartbeat(self, src: IPv6Address, message: Heartbeat) -> list[LmaAction]:
        if not self.policy.is_authorized_mag(src):
            self.counters["heartbeat_from_unknown_mag"] += 1
            return [LogEvent("heartbeat_ignored", {"from": str(src)}, "warning")]
        if message.response:
            # We send no requests; a MAG's unsolicited announcement tells us nothing we use.
            self.counters["heartbeat_responses_ignored"] += 1
            return []
        self.counters["heartbeat_requests"] += 1
        return [SendMessage(src, respond(message, self.restart_counter))]

    def _reject(self, ctx: PbuContext, status: Status, rule: int, reason: str) -> list[LmaAction]:
        self.counters["rejected"] += 1
        self.counters[f"rejected.{status.name}"] += 1
        sequence = ctx.pbu.sequence
        if status is Status.SEQUENCE_NUMBER_OUT_OF_WINDOW:
            # RFC 6275 9.5.1: tell the MAG the last accepted number so it can resync.
            sequence = ctx.entry.last_sequence
        pba = self._pba(ctx, status, sequence, 0, ctx.pbu.options_of(HomeNetworkPrefix))
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

    def _accept(self, ctx: PbuContext) -> list[LmaAction]:
        entry = ctx.entry
        from_current = entry is not None and entry.proxy_coa == ctx.src
        transition = TRANSITIONS[
            (entry.state if entry else None, from_current, ctx.pbu.lifetime > 0)
        ]
        self.counters["accepted"] += 1
        self.counters[transition.value] += 1
        fields = {
            "mn_id": ctx.mn_id,
            "mag": str(ctx.src),
            "sequence": ctx.pbu.sequence,
            "transition": transition.value,
        }
        if transition in _ACK_ONLY:
            pba = self._pba(
                ctx, Status.ACCEPTED, ctx.pbu.sequence, 0, ctx.pbu.options_of(HomeNetworkPrefix)
            )
            return [SendMessage(ctx.src, pba), LogEvent("pbu_accepted", fields)]

        if transition is Transition.DEREGISTRATION:
            return self._deregister(ctx, entry, fields)

        granted = min(ctx.pbu.lifetime, self.config.lma.max_binding_lifetime)
        previous = entry
        entry = self._record(ctx, granted, BindingState.ACTIVE)
        hnps = [HomeNetworkPrefix(prefix) for prefix in entry.prefixes]
        # Route and release before the PBA: the MAG set up its access route before
        # it sent the PBU, so the MN's packets need nothing from the PBA, and
        # sending it first would put it on the handover's critical path.
        actions: list[LmaAction] = []
        if transition is not Transition.RE_REGISTRATION:
            actions.append(InstallMnRoute(entry.mn_id, entry.prefixes, entry.proxy_coa))
        if previous is not None and previous.buffering:
            self.counters["buffers_released"] += 1
            actions.append(ReleaseBuffer(entry.mn_id, entry.prefixes, entry.proxy_coa))
        actions.append(
            SendMessage(ctx.src, self._pba(ctx, Status.ACCEPTED, ctx.pbu.sequence, granted, hnps))
        )
        fields.update(lifetime=granted, prefixes=[str(p) for p in entry.prefixes])
        if previous is not None and previous.proxy_coa != entry.proxy_coa:
            fields["previous_mag"] = str(previous.proxy_coa)
        actions.append(LogEvent("pbu_accepted", fields))
        return actions

    def _deregister(
        self, ctx: PbuContext, entry: BindingCacheEntry, fields: dict[str, object]
    ) -> list[LmaAction]:
        buffering = self.buffering
        updated = self._record(ctx, 0, BindingState.DEREGISTERED)
        updated.buffering = buffering
        timers = self.config.timers
        hold = self.config.lma.buffering.hold_time
        wait = hold if buffering and hold is not None else timers.min_delay_before_bce_delete
        updated.expires_at = ctx.now + wait
        hnps = [HomeNetworkPrefix(prefix) for prefix in updated.prefixes]
        actions: list[LmaAction] = []
        if buffering:
            # Before the PBA: every packet the LMA sent to the previous MAG is
            # then ahead of the PBA on the wire, so that MAG holds it and hands
            # it back; and before the route goes, so nothing falls into the gap.
            self.counters["buffering_started"] += 1
            actions.append(StartBuffering(updated.mn_id, updated.prefixes))
        actions.append(
            SendMessage(ctx.src, self._pba(ctx, Status.ACCEPTED, ctx.pbu.sequence, 0, hnps))
        )
        actions.append(RemoveMnRoute(entry.mn_id, entry.prefixes, entry.proxy_coa))
        fields.update(delete_in=wait, buffering=buffering)
        actions.append(LogEvent("pbu_accepted", fields))
        return actions

    def _record(self, ctx: PbuContext, lifetime: int, state: BindingState) -> BindingCacheEntry:
        """Write the accepted PBU into a fresh entry (replacing any previous one)."""
        timestamp = ctx.timestamp
        link_layer = ctx.pbu.option(MobileNodeLinkLayerIdentifier)
        entry = BindingCacheEntry(
            mn_id=ctx.mn_id,
            prefixes=ctx.requested_prefixes or ctx.profile.home_network_prefixes,
            proxy_coa=ctx.src,
            state=state,
            lifetime=lifetime,
            expires_at=ctx.now + lifetime,
            last_sequence=ctx.pbu.sequence,
            last_timestamp=None if timestamp is None else timestamp.value,
            access_technology_type=ctx.pbu.option(AccessTechnologyType).value,
            link_layer_id=None if link_layer is None else link_layer.link_layer_id,
        )
        self.binding_cache.put(entry)
        return entry

    def _pba(
        self,
        ctx: PbuContext,
        status: Status,
        sequence: int,
        lifetime: int,
        prefixes: list[HomeNetworkPrefix],
    ) -> BindingAcknowledgement:
        options: list = []
        mn_id = ctx.pbu.option(MobileNodeIdentifier)
        if mn_id is not None:
            options.append(mn_id)
        echoed = distinct_prefixes(option.prefix for option in prefixes)
        options.extend(HomeNetworkPrefix(prefix) for prefix in echoed)
        options.extend(o for cls in _ECHOED if (o := ctx.pbu.option(cls)) is not None)
        if status in (Status.TIMESTAMP_MISMATCH, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED):
            # RFC 5213 5.5: answer with our own clock so the MAG can see the skew.
            options.append(Timestamp.from_seconds(ctx.now))
        elif ctx.timestamp is not None:
            options.append(ctx.timestamp)
        return BindingAcknowledgement(
            status=status, sequence=sequence, lifetime=lifetime, proxy=True, options=options
        )


def _mn_id(pbu: BindingUpdate) -> str | None:
    option = pbu.option(MobileNodeIdentifier)
    return None if option is None else option.nai
