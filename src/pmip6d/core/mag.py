"""Sans-I/O Mobile Access Gateway (RFC 5213 section 6).

Link events, PBAs, timer ticks and `now` (wall-clock seconds: the Timestamp
option carries it) go in; PBUs, forwarding changes, Router Advertisements and
log events come out. Every change of a binding update list entry's state is a
step of the table in `binding_update_list` (`entry.enter(event)`).

Retransmission follows RFC 6275 11.8: the first timeout is
InitialBindackTimeoutFirstReg (registration) or INITIAL_BINDACK_TIMEOUT
(refresh, de-registration), doubled on each retransmission and capped at
MAX_BINDACK_TIMEOUT; after `max_pbu_retransmissions` the MAG gives up. Every
(re)transmission is a new PBU with the next sequence number and a fresh
timestamp, so the LMA's freshness checks accept it.

One entry per MN and access interface: an MN the policy store knows by
several link-layer addresses (several interfaces) can be attached through
two of them at once, each with a mobility session and prefixes of its own
(RFC 5213 5.4). Such an MN's prefixes are the LMA's to assign, so its PBUs
ask for ::/0 and its forwarding is set up on acceptance; a single-interface
MN's prefixes are known from the policy store, asked for by value, and its
forwarding set up before the PBU leaves (see `mn_attached`).
"""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv6Address, IPv6Network

from pmip6d.config import NodeConfig, Policy, link_layer_bytes, normalize_link_layer
from pmip6d.core.actions import (
    HandBackHeld,
    HoldForMn,
    LogEvent,
    MagAction,
    SendMessage,
    SendRouterAdvertisement,
    SetupMnForwarding,
    TeardownMnForwarding,
)
from pmip6d.core.binding_update_list import (
    GONE,
    BindingUpdateList,
    BindingUpdateListEntry,
    BulEvent,
    BulState,
)
from pmip6d.core.heartbeat import HeartbeatOutcome, PeerHeartbeat, announcement, respond
from pmip6d.core.prefixes import distinct_prefixes
from pmip6d.core.profiles import identifier_option, is_multihomed
from pmip6d.core.receive import RateLimiter, answer_undecodable
from pmip6d.core.sequence import next_sequence
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
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessage,
    ProtocolError,
    Status,
    Timestamp,
)

ALL_ZERO_PREFIX = IPv6Network("::/0")
ALL_NODES = IPv6Address("ff02::1")


class MobileAccessGateway:
    def __init__(self, config: NodeConfig, policy: Policy, *, restart_counter: int = 0) -> None:
        if config.mag is None:
            raise ValueError("MobileAccessGateway needs a configuration with a 'mag' section")
        self.config = config
        self.mag = config.mag
        self.protocol = config.protocol
        self.policy = policy
        self.binding_update_list = BindingUpdateList()
        self.counters: Counter[str] = Counter()
        self.hold_packets_on_detach = config.mag.hold_packets_on_detach
        # Last sequence number sent per MN, kept across attachments so a returning
        # MN's PBUs stay "newer" for the LMA.
        self._last_sequence: dict[str, int] = {}
        self.restart_counter = restart_counter
        self.heartbeat = PeerHeartbeat(
            self.mag.lma_address,
            self.protocol.heartbeat_interval,
            self.protocol.missing_heartbeats_allowed,
        )
        self.heartbeats_refused = False
        self.error_limiter = RateLimiter()

    def set_buffering(self, enabled: bool) -> None:
        """Handover buffering on or off, the role-neutral switch (`pmip6ctl buffering`):
        at a MAG, whether later detachments hold undeliverable packets for hand-back."""
        self.hold_packets_on_detach = enabled

    # --- link events -----------------------------------------------------

    def mn_attached(
        self, access_interface: str, link_layer_address: str, now: float
    ) -> list[MagAction]:
        link_layer = normalize_link_layer(link_layer_address)
        fields = {"interface": access_interface, "link_layer": link_layer}
        if access_interface not in self.mag.access_interfaces:
            self.counters["attach_ignored"] += 1
            return [LogEvent("attach_ignored_not_access_interface", fields, "warning")]
        profile = self.policy.profile_for_link_layer(link_layer)
        if profile is None:
            self.counters["unknown_mn"] += 1
            return [LogEvent("mn_unknown", fields, "warning")]
        mn_option = identifier_option(profile)
        mn_id = mn_option.text

        actions: list[MagAction] = []
        existing = self.binding_update_list.get(mn_id, access_interface)
        if existing is not None and existing.mn_link_layer == link_layer:
            if existing.state in (BulState.REGISTERED, BulState.REFRESHING):
                return [self._router_advertisement(existing, now)]
            if existing.state is BulState.REGISTERING:
                return []
        for entry in self.binding_update_list.of_mn(mn_id):
            if entry.state in (BulState.DEREGISTERING, BulState.FAILED):
                if access_interface == entry.access_interface or entry.mn_link_layer == link_layer:
                    # Left, or failed, and now back: start over (M12, M13).
                    actions += self._forget(entry, BulEvent.ATTACH)
            elif entry.mn_link_layer == link_layer and entry.access_interface != access_interface:
                # The same interface of the MN, now on another access link here (M14).
                actions += self._forget(entry, BulEvent.MOVED)
        occupant = self.binding_update_list.on_interface(access_interface)
        if occupant is not None:
            actions += self.mn_detached(access_interface, now)

        multihomed = is_multihomed(profile)
        entry = BindingUpdateListEntry(
            mn_id=mn_id,
            access_interface=access_interface,
            mn_link_layer=link_layer,
            prefixes=() if multihomed else profile.home_network_prefixes,
            state=BulState.REGISTERING,  # M1
            sequence=self._last_sequence.get(mn_id, 0),
            mn_key=mn_option.key,
            all_zero_request=multihomed,
        )
        self.binding_update_list.put(entry)
        self.counters["attachments"] += 1
        actions.append(LogEvent("mn_attached", {**fields, "mn_id": mn_id}))
        if entry.prefixes:
            # Routes first, PBU second: the LMA releases what it buffered for the
            # MN the moment it accepts, and those packets must find the access
            # route here. Before acceptance nothing is tunnelled to this MAG for
            # the MN, so the early routes change nothing else; a rejection or a
            # give-up takes them down again (RFC 5213 6.9.1.2 sets forwarding up
            # on acceptance: this is the one place we go ahead of it, see
            # docs/conformance.md).
            entry.forwarding = True
            actions.append(self._forwarding(SetupMnForwarding, entry))
        actions += self._start_transaction(
            entry,
            now,
            lifetime=self.mag.requested_lifetime,
            handoff=Handoff.UNKNOWN,
            first_timeout=self.protocol.initial_bindack_timeout_first_reg,
        )
        return actions

    def mn_on(self, access_interface: str) -> str | None:
        """The MN attached on `access_interface`, if one is (and has not left)."""
        entry = self.binding_update_list.on_interface(access_interface)
        return entry.mn_id if entry is not None else None

    def mn_detached(
        self, access_interface: str, now: float, trigger: str = "carrier"
    ) -> list[MagAction]:
        """The MN on `access_interface` has left: hold what it cannot get, de-register.

        `trigger` says how the MAG learnt it, for the log: "carrier" (the link
        dropped) or "announced" (the access network said so while the link was
        still up, as an access point reports a disassociation). An MN already
        reported gone is not reported twice: the link dropping after an
        announced detach changes nothing.
        """
        entry = self.binding_update_list.on_interface(access_interface)
        if entry is None:
            return [LogEvent("detach_ignored_no_mn", {"interface": access_interface}, "debug")]
        self.counters["detachments"] += 1
        log = LogEvent(
            "mn_detached",
            {"interface": access_interface, "mn_id": entry.mn_id, "trigger": trigger},
        )
        if entry.state is BulState.FAILED:
            entry.enter(BulEvent.DETACH)  # M13
            self.binding_update_list.delete(entry)
            return [log]
        actions: list[MagAction] = [log]
        if self.hold_packets_on_detach:
            entry.holding = True
            actions.append(HoldForMn(entry.mn_id, entry.prefixes, entry.access_interface))
        if entry.forwarding:
            entry.forwarding = False
            actions.append(self._forwarding(TeardownMnForwarding, entry))
        entry.enter(BulEvent.DETACH)  # M5
        entry.refresh_at = entry.expires_at = entry.next_ra_at = None
        entry.settle_by = now + self.protocol.min_delay_before_bce_delete
        actions += self._start_transaction(
            entry,
            now,
            lifetime=0,
            handoff=Handoff.UNKNOWN,
            first_timeout=self.protocol.initial_bindack_timeout,
        )
        return actions

    def router_solicited(
        self,
        access_interface: str,
        link_layer_address: str,
        now: float,
        source: IPv6Address | None = None,
    ) -> list[MagAction]:
        """An RS from an MN: answer at once if its binding is up, else treat it as an
        attach. `source` is the RS's source address: a link-local one is where the
        MN's RAs go from now on (RFC 5213 6.7 unicasts them)."""
        link_layer = normalize_link_layer(link_layer_address)
        entry = self.binding_update_list.on_interface(access_interface)
        if entry is not None and entry.mn_link_layer == link_layer and source is not None:
            if IPv6Address(source).is_link_local:
                entry.mn_link_local = IPv6Address(source)
        if entry is not None and entry.mn_link_layer == link_layer and entry.forwarding:
            return [self._router_advertisement(entry, now)]
        actions = self.mn_attached(access_interface, link_layer, now)
        fresh = self.binding_update_list.on_interface(access_interface)
        if fresh is not None and source is not None and IPv6Address(source).is_link_local:
            fresh.mn_link_local = IPv6Address(source)
        return actions

    # --- signaling -------------------------------------------------------

    def start(self, now: float) -> list[MagAction]:
        """Ask the LMA for a heartbeat (its answer tells us its Restart Counter) and
        announce ours (RFC 5847 3.4): an LMA that had sessions through us learns
        at once that we lost them."""
        if self.protocol.heartbeat_interval <= 0:
            return []
        return [
            SendMessage(self.mag.lma_address, self.heartbeat.request(now)),
            SendMessage(self.mag.lma_address, announcement(1, self.restart_counter)),
        ]

    def receive(self, src: IPv6Address, message: MobilityMessage, now: float) -> list[MagAction]:
        if isinstance(message, Heartbeat) and src == self.mag.lma_address:
            return self._heartbeat(message, now)
        if isinstance(message, BindingError) and src == self.mag.lma_address:
            return self._binding_error(message)
        ignored = self._why_ignored(src, message)
        if ignored is not None:
            self.counters["ignored_messages"] += 1
            return [LogEvent("message_ignored", {"from": str(src), "reason": ignored}, "warning")]
        pba: BindingAcknowledgement = message
        entry = self._entry_for(pba)
        status = pba.status
        if entry is None:
            self.counters["stale_pba"] += 1
            fields = {
                "mn_id": pba.option(MobileNodeIdentifier).text,
                "sequence": pba.sequence,
                "status": _status_name(status),
            }
            return [LogEvent("pba_stale", fields, "debug")]
        if status == Status.ACCEPTED:
            return self._accepted(entry, pba, now)
        if status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW and not entry.resynced:
            return self._resync(entry, pba, now)
        return self._rejected(entry, pba, now)

    def undecodable(
        self, src: IPv6Address, dst: IPv6Address, data: bytes, error: ProtocolError, now: float
    ) -> list[MagAction]:
        """A Mobility Header that failed to decode: RFC 6275 9.2's answer, if any."""
        self.counters[f"undecodable.{error.reaction.value}"] += 1
        return answer_undecodable(error, src, dst, data, now, self.error_limiter)

    def on_timer(self, now: float) -> list[MagAction]:
        actions: list[MagAction] = []
        if self.heartbeat.due(now):
            actions.append(SendMessage(self.mag.lma_address, self.heartbeat.request(now)))
            if self.heartbeat.newly_unreachable():
                self.counters["lma_unreachable"] += 1
                fields = {"lma": str(self.mag.lma_address), "missed": self.heartbeat.missed}
                actions.append(LogEvent("lma_unreachable", fields, "warning"))
        for entry in self.binding_update_list:
            if entry.retransmit_at is not None and entry.retransmit_at <= now:
                actions += self._retransmit_or_give_up(entry, now)
            if entry.expires_at is not None and entry.expires_at <= now:
                actions += self._binding_expired(entry)
            if entry.refresh_at is not None and entry.refresh_at <= now:
                self.counters["refreshes"] += 1
                actions += self._refresh(entry, now, BulEvent.REFRESH_DUE)
            if entry.next_ra_at is not None and entry.next_ra_at <= now:
                actions.append(self._router_advertisement(entry, now))
            if entry.retry_at is not None and entry.retry_at <= now:
                actions += self._retry_registration(entry, now)
        return actions

    def next_deadline(self) -> float | None:
        deadlines = (self.binding_update_list.next_deadline(), self.heartbeat.next_request_at)
        present = [deadline for deadline in deadlines if deadline is not None]
        return min(present) if present else None

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "role": "mag",
            "proxy_coa": str(self.mag.proxy_coa),
            "lma_address": str(self.mag.lma_address),
            "buffering": self.hold_packets_on_detach,
            "binding_update_list": [e.as_dict(now) for e in self.binding_update_list],
            "heartbeat": {**self.heartbeat.snapshot(), "refused": self.heartbeats_refused},
            "counters": dict(self.counters),
        }

    # --- heartbeats (core/heartbeat.py) ----------------------------------

    def _heartbeat(self, message: Heartbeat, now: float) -> list[MagAction]:
        if not message.response:
            self.counters["heartbeat_requests_answered"] += 1
            return [SendMessage(self.mag.lma_address, respond(message, self.restart_counter))]
        result = self.heartbeat.on_response(message)
        actions: list[MagAction] = []
        if result.recovered:
            actions.append(LogEvent("lma_reachable", {"lma": str(self.mag.lma_address)}))
        if result.outcome is not HeartbeatOutcome.RESTARTED:
            return actions
        # The LMA lost its binding cache: register again everything it forwarded
        # for us, now rather than at the next refresh.
        self.counters["lma_restarts"] += 1
        registered = [
            entry
            for entry in self.binding_update_list
            if entry.state in (BulState.REGISTERED, BulState.REFRESHING)
        ]
        fields = {
            "lma": str(self.mag.lma_address),
            "restart_counter": result.counter,
            "previous": result.previous_counter,
            "reregistering": [entry.mn_id for entry in registered],
        }
        actions.append(LogEvent("lma_restarted", fields, "warning"))
        for entry in registered:
            self.counters["reregistrations_after_lma_restart"] += 1
            actions += self._refresh(entry, now, BulEvent.LMA_RESTARTED)
        return actions

    def _binding_error(self, message: BindingError) -> list[MagAction]:
        fields = {"lma": str(self.mag.lma_address), "status": int(message.status)}
        if message.status != BindingErrorStatus.UNRECOGNIZED_MH_TYPE:
            self.counters["binding_errors_ignored"] += 1
            return [LogEvent("binding_error_ignored", fields, "warning")]
        if self.heartbeats_refused:
            return []
        # RFC 5847 3: an LMA that does not know the Heartbeat message gets no more.
        self.heartbeats_refused = True
        self.heartbeat.next_request_at = None
        self.heartbeat.outstanding = None
        self.counters["heartbeats_refused"] += 1
        return [LogEvent("heartbeats_stopped", fields, "warning")]

    # --- PBA outcomes ----------------------------------------------------

    def _entry_for(self, pba: BindingAcknowledgement) -> BindingUpdateListEntry | None:
        """The entry awaiting `pba`: the MN's, matched by sequence number (by the
        link-layer identifier when a 135 carries the LMA's number instead), or,
        for a PBA answering a PBU without usable MN-ID (160, a zero-length MN-ID),
        whichever entry sent that sequence number."""
        option = pba.option(MobileNodeIdentifier)
        waiting = [e for e in self.binding_update_list if e.state.awaits_pba]
        if option.identifier:
            waiting = [e for e in waiting if e.mn_key == option.key]
        if pba.status == Status.SEQUENCE_NUMBER_OUT_OF_WINDOW and option.identifier:
            link_layer = pba.option(MobileNodeLinkLayerIdentifier)
            if link_layer is not None:
                waiting = [
                    e
                    for e in waiting
                    if link_layer_bytes(e.mn_link_layer) == link_layer.link_layer_id
                ]
            return waiting[0] if len(waiting) == 1 else None
        return next((e for e in waiting if e.sequence == pba.sequence), None)

    def _accepted(
        self, entry: BindingUpdateListEntry, pba: BindingAcknowledgement, now: float
    ) -> list[MagAction]:
        self.counters["accepted"] += 1
        entry.retransmit_at = None
        fields = {"mn_id": entry.mn_id, "sequence": pba.sequence, "lifetime": pba.lifetime}
        if entry.state is BulState.DEREGISTERING:
            entry.enter(BulEvent.ACCEPTED)  # M11
            self.binding_update_list.delete(entry)
            return [LogEvent("deregistered", fields), *self._hand_back(entry)]
        assigned = distinct_prefixes(
            o.prefix for o in pba.options_of(HomeNetworkPrefix) if o.prefix.prefixlen != 0
        )
        if pba.lifetime == 0 or not (assigned or entry.prefixes):
            # An accepted registration must grant time and name the prefixes;
            # without them there is no binding to forward for.
            return self._fail(entry, BulEvent.REJECTED, LogEvent("pba_unusable", fields, "warning"))
        actions: list[MagAction] = []
        if entry.forwarding and assigned and assigned != entry.prefixes:
            # The LMA assigned other prefixes than the routes were set up for.
            entry.forwarding = False
            actions.append(self._forwarding(TeardownMnForwarding, entry))
        entry.prefixes = assigned or entry.prefixes
        entry.lifetime = pba.lifetime
        entry.expires_at = now + pba.lifetime
        entry.refresh_at = now + pba.lifetime * self.mag.refresh_fraction
        first = entry.state is BulState.REGISTERING
        entry.enter(BulEvent.ACCEPTED)  # M2 / M8
        fields["prefixes"] = [str(p) for p in entry.prefixes]
        actions.insert(0, LogEvent("registered" if first else "refreshed", fields))
        if not entry.forwarding:
            entry.forwarding = True
            actions.append(self._forwarding(SetupMnForwarding, entry))
        if first:
            actions.append(self._router_advertisement(entry, now))
        return actions

    def _resync(
        self, entry: BindingUpdateListEntry, pba: BindingAcknowledgement, now: float
    ) -> list[MagAction]:
        # RFC 6275 9.5.1: the PBA carries the LMA's last accepted sequence number.
        self.counters["sequence_resyncs"] += 1
        entry.sequence = pba.sequence
        entry.resynced = True
        fields = {"mn_id": entry.mn_id, "lma_sequence": pba.sequence}
        log = LogEvent("pba_rejected", {**fields, "status": _status_name(pba.status)}, "warning")
        return [log, self._transmit(entry, now)]

    def _rejected(
        self, entry: BindingUpdateListEntry, pba: BindingAcknowledgement, now: float
    ) -> list[MagAction]:
        name = _status_name(pba.status)
        self.counters["rejected"] += 1
        self.counters[f"rejected.{name}"] += 1
        fields: dict[str, object] = {
            "mn_id": entry.mn_id,
            "sequence": pba.sequence,
            "status": name,
            "code": int(pba.status),
            "state": entry.state.value,
        }
        timestamp = pba.option(Timestamp)
        if pba.status in (Status.TIMESTAMP_MISMATCH, Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED):
            if timestamp is not None:
                fields["lma_clock_ahead_by"] = round(timestamp.seconds - now, 3)
        log = LogEvent("pba_rejected", fields, "warning")
        if entry.state is BulState.DEREGISTERING:
            entry.enter(BulEvent.REJECTED)  # M11
            self.binding_update_list.delete(entry)
            return [log, *self._hand_back(entry)]
        return self._fail(entry, BulEvent.REJECTED, log)

    # --- timers ----------------------------------------------------------

    def _retransmit_or_give_up(self, entry: BindingUpdateListEntry, now: float) -> list[MagAction]:
        if entry.state is BulState.DEREGISTERING and (
            entry.retransmissions >= self.protocol.max_pbu_retransmissions or now >= entry.settle_by
        ):
            return self._deregistration_unanswered(entry)
        if entry.retransmissions >= self.protocol.max_pbu_retransmissions:
            self.counters["give_ups"] += 1
            fields = {
                "mn_id": entry.mn_id,
                "state": entry.state.value,
                "transmissions": entry.retransmissions + 1,
            }
            log = LogEvent("pbu_give_up", fields, "warning")
            actions = self._fail(entry, BulEvent.GIVE_UP, log)
            # The MN is still attached and an MN does not solicit again on its
            # own: without another try it would stay unserved. RFC 6275 11.8
            # lets a node go on at the slow rate; here a fresh registration
            # follows every max_bindack_timeout until one is answered or the MN
            # leaves.
            entry.retry_at = now + self.protocol.max_bindack_timeout
            return actions
        entry.retransmissions += 1
        entry.bindack_timeout = min(entry.bindack_timeout * 2, self.protocol.max_bindack_timeout)
        self.counters["retransmissions"] += 1
        return [*self._early_hand_back(entry), self._transmit(entry, now)]

    def _early_hand_back(self, entry: BindingUpdateListEntry) -> list[MagAction]:
        """A de-registration still unanswered after its timeout: hand back what is
        held so far, and go on holding. The PBA may only be late or lost; but the
        LMA also MUST ignore a de-registration from a MAG that is no longer the
        session's proxy-CoA (RFC 5213 5.3.5), which is what it sees when the
        MN's new MAG registered before our first de-registration arrived (it was
        lost): then no PBA will come until MinDelayBeforeBCEDelete, and what we
        hold belongs at the LMA now, which routes it to the MN's new MAG. Handed
        back while the LMA buffers, the packets join its buffer as usual."""
        if entry.state is not BulState.DEREGISTERING or not entry.holding:
            return []
        self.counters["early_hand_backs"] += 1
        return [
            HandBackHeld(
                entry.mn_id,
                entry.prefixes,
                self.mag.lma_address,
                entry.access_interface,
                final=False,
            )
        ]

    def _deregistration_unanswered(self, entry: BindingUpdateListEntry) -> list[MagAction]:
        """A de-registration no PBA answered, within MinDelayBeforeBCEDelete or the
        retransmissions allowed, is settled all the same (M11). Not a failure: an
        LMA MUST ignore a de-registration from a MAG that is no longer the
        session's proxy-CoA (RFC 5213 5.3.5), which is what happens when the
        MN's new MAG registered first; and once MinDelayBeforeBCEDelete has
        passed, the LMA has dropped or handed on the session whatever we send,
        and what we hold for the MN is only getting older."""
        self.counters["deregistrations_unanswered"] += 1
        fields = {
            "mn_id": entry.mn_id,
            "interface": entry.access_interface,
            "transmissions": entry.retransmissions + 1,
        }
        entry.enter(BulEvent.GIVE_UP)  # M11
        self.binding_update_list.delete(entry)
        return [LogEvent("deregistration_unanswered", fields), *self._hand_back(entry)]

    def _retry_registration(self, entry: BindingUpdateListEntry, now: float) -> list[MagAction]:
        """Register a still-attached MN afresh after its registration was given up."""
        self.counters["registration_retries"] += 1
        log = LogEvent("registration_retry", {"mn_id": entry.mn_id})
        actions = self._forget(entry, BulEvent.RETRY_DUE)  # M13
        return [log, *actions, *self.mn_attached(entry.access_interface, entry.mn_link_layer, now)]

    def _binding_expired(self, entry: BindingUpdateListEntry) -> list[MagAction]:
        # The refresh went unanswered for the rest of the lifetime: the LMA has
        # dropped the binding, so stop forwarding but keep trying to register.
        self.counters["expired"] += 1
        entry.expires_at = entry.refresh_at = entry.next_ra_at = None
        entry.enter(BulEvent.EXPIRED)  # M9
        actions: list[MagAction] = [LogEvent("binding_expired", {"mn_id": entry.mn_id}, "warning")]
        if entry.forwarding:
            entry.forwarding = False
            actions.append(self._forwarding(TeardownMnForwarding, entry))
        return actions

    # --- helpers ---------------------------------------------------------

    def _refresh(
        self, entry: BindingUpdateListEntry, now: float, event: BulEvent
    ) -> list[MagAction]:
        """A new PBU for a registered MN, the lifetime asked for again."""
        entry.enter(event)  # M6 / M7 / M10
        entry.refresh_at = None
        return self._start_transaction(
            entry,
            now,
            lifetime=self.mag.requested_lifetime,
            handoff=Handoff.NOT_CHANGED,
            first_timeout=self.protocol.initial_bindack_timeout,
        )

    def _start_transaction(
        self,
        entry: BindingUpdateListEntry,
        now: float,
        *,
        lifetime: int,
        handoff: Handoff,
        first_timeout: float,
    ) -> list[MagAction]:
        entry.requested_lifetime = lifetime
        entry.handoff_indicator = handoff
        entry.bindack_timeout = first_timeout
        entry.retransmissions = 0
        entry.resynced = False
        return [self._transmit(entry, now)]

    def _transmit(self, entry: BindingUpdateListEntry, now: float) -> SendMessage:
        entry.sequence = next_sequence(entry.sequence)
        self._last_sequence[entry.mn_id] = entry.sequence
        entry.retransmit_at = now + entry.bindack_timeout
        if entry.state is BulState.DEREGISTERING and entry.settle_by is not None:
            entry.retransmit_at = min(entry.retransmit_at, max(now, entry.settle_by))
        self.counters["pbu_sent"] += 1
        subtype, identifier = entry.mn_key
        options: list = [MobileNodeIdentifier(identifier, subtype)]
        # A registration of an MN whose prefixes the LMA assigns asks for ::/0
        # until it knows them; once assigned they are asked for by value.
        prefixes = entry.prefixes or (ALL_ZERO_PREFIX,)
        options += [HomeNetworkPrefix(prefix) for prefix in prefixes]
        options += [
            HandoffIndicator(entry.handoff_indicator),
            AccessTechnologyType(self.mag.access_technology_type),
            MobileNodeLinkLayerIdentifier(link_layer_bytes(entry.mn_link_layer)),
        ]
        if self.protocol.use_timestamps:
            options.append(Timestamp.from_seconds(now))
        pbu = BindingUpdate(
            sequence=entry.sequence,
            lifetime=entry.requested_lifetime,
            ack=True,
            home=True,
            proxy=True,
            options=options,
        )
        return SendMessage(self.mag.lma_address, pbu)

    def _fail(
        self, entry: BindingUpdateListEntry, event: BulEvent, log: LogEvent
    ) -> list[MagAction]:
        entry.enter(event)  # M3 / M4
        entry.retransmit_at = entry.refresh_at = entry.expires_at = entry.next_ra_at = None
        actions: list[MagAction] = [log]
        if entry.forwarding:
            entry.forwarding = False
            actions.append(self._forwarding(TeardownMnForwarding, entry))
        if entry.all_zero_request:
            entry.prefixes = ()
        return actions

    def _forget(self, entry: BindingUpdateListEntry, event: BulEvent) -> list[MagAction]:
        """Drop an entry that is over (M12 / M13): its forwarding and what it held."""
        if entry.enter(event) is not GONE:
            raise AssertionError(f"{event.value} does not end a {entry.state.value} entry")
        self.binding_update_list.delete(entry)
        actions: list[MagAction] = []
        if entry.forwarding:
            entry.forwarding = False
            actions.append(self._forwarding(TeardownMnForwarding, entry))
        return actions + self._hand_back(entry)

    def _hand_back(self, entry: BindingUpdateListEntry) -> list[MagAction]:
        if not entry.holding:
            return []
        entry.holding = False
        self.counters["hand_backs"] += 1
        return [
            HandBackHeld(entry.mn_id, entry.prefixes, self.mag.lma_address, entry.access_interface)
        ]

    def _forwarding(self, action: type, entry: BindingUpdateListEntry) -> MagAction:
        return action(
            mn_id=entry.mn_id,
            prefixes=entry.prefixes,
            lma_address=self.mag.lma_address,
            access_interface=entry.access_interface,
            mn_link_layer=entry.mn_link_layer,
        )

    def _router_advertisement(
        self, entry: BindingUpdateListEntry, now: float
    ) -> SendRouterAdvertisement:
        entry.next_ra_at = now + self.mag.ra_interval
        self.counters["router_advertisements"] += 1
        # Prefixes must not outlive the binding that makes them routable, but
        # advertising the binding's *remaining* time made the MN's address die
        # whenever a refresh came late (an LMA restart): this MAG keeps the
        # binding up and the RAs coming while the MN is here, so one granted
        # lifetime past the last RA is the honest bound.
        valid = min(self.mag.prefix_valid_lifetime, entry.lifetime or 0)
        return SendRouterAdvertisement(
            access_interface=entry.access_interface,
            mn_link_layer=entry.mn_link_layer,
            source_address=self.mag.access_link_local,
            source_link_layer=normalize_link_layer(self.mag.access_link_layer),
            prefixes=entry.prefixes,
            router_lifetime=self.mag.router_lifetime,
            prefix_valid_lifetime=valid,
            prefix_preferred_lifetime=min(self.mag.prefix_preferred_lifetime, valid),
            destination=entry.mn_link_local or ALL_NODES,
        )

    def _why_ignored(self, src: IPv6Address, message: MobilityMessage) -> str | None:
        if not isinstance(message, BindingAcknowledgement):
            return f"unexpected {type(message).__name__}"
        if src != self.mag.lma_address:
            return "not from the configured LMA"
        if not message.proxy:
            return "Binding Acknowledgement without the proxy (P) flag"
        if message.option(MobileNodeIdentifier) is None:
            return "PBA without a Mobile Node Identifier option"
        return None


def _status_name(status: int) -> str:
    return status.name if isinstance(status, Status) else f"UNKNOWN_{int(status)}"
