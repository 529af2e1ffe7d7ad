"""Fuzz the Mobility Header codec and the LMA and MAG state machines.

    python bench/fuzz.py [--count N] [--seed S] [--json]

(bench/fuzz.py is the command; this module is the fuzzer, importable by tests.)

Each input is a valid PBU, PBA, RFC 5847 Heartbeat or RFC 6275 Binding Error
encoding (fresh per input: random MN, named by NAI or another RFC 8371
identifier now and then, options, sequence, timestamp near the fuzzer's clock;
PBAs answer the MAG's outstanding PBUs; heartbeats are requests, responses and
unsolicited responses with a Restart Counter), a quarter of them carrying the
RFC 4285 authentication option, put through 0..3 mutations: bit flips,
truncation, header or option length corruption, option insertion, removal or
duplication, MH type or fixed field changes, interesting octets, or random
bytes. About one input in ten is
left intact so the state machines reach registered, handed-off and
de-registered states.

Every input is first checked for its authenticator (`wire.auth.verify`, as a
receiver does before decoding; counted by outcome), then decoded (a
`ProtocolError` is a rejection, counted by status, and handed to each state
machine's `undecodable`, whose RFC 6275 9.2 answers must encode).
What decodes goes into two LMAs (timestamp mode with buffering, sequence-number
mode without) and one MAG, all sharing a clock that advances 10 ms per input,
with their timers run when due and MN attach/detach events on the MAG every
few dozen inputs; one MN is multihomed (two link-layer addresses, two
prefixes), so second sessions and the HI=4 wait are exercised. Counted: the
PBA status each LMA answers with (or `heartbeat_response`), what the MAG does
with each message, and these failures:

- crash: any exception other than `ProtocolError` from decode, or any
  exception from the state machines (receive, timers, link events); the first
  is printed with the input that caused it;
- unsendable message: a message a state machine emits that `encode()`
  refuses (the daemon would log `action_failed.SendMessage` and send nothing);
- invariant violation: an LMA that rejects a PBU but changes its binding
  cache, or a decoded message that decodes differently after encode.

`reencode_too_large` (informational) counts decoded messages whose options came
without alignment padding and no longer fit in 2048 octets once encoded again.

Exit status 1 if there was any crash, unsendable message or invariant
violation. Deterministic for a given --seed. Progress goes to stderr; one
JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from pmip6d.config import (
    BufferingConfig,
    LmaConfig,
    MagConfig,
    MnProfile,
    NodeConfig,
    Policy,
    ProtocolConstants,
    parse_policy,
)
from pmip6d.core.actions import LogEvent, SendMessage, SendParameterProblem
from pmip6d.core.lma import LocalMobilityAnchor
from pmip6d.core.mag import MobileAccessGateway
from pmip6d.wire import (
    OPTION_CLASSES,
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingError,
    BindingUpdate,
    Handoff,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    ProtocolError,
    RestartCounter,
    Status,
    Timestamp,
    decode,
    encode,
)
from pmip6d.wire.auth import authenticate, verify
from pmipv6_lab import cli
from pmipv6_lab.plan import DomainPlan, home_prefix, mn_mac, mn_nai

PROG = "bench/fuzz.py"
T0 = 1_700_000_000.0
TICK = 0.01  # s of fuzzer clock per input
MNS = 4
# The domain: the plan's two MAGs and four MNs; mn9 and mn5's MAC are not in it.
PLAN = DomainPlan(mags=2, mns=MNS, mn_nodes=False)
POLICY = parse_policy(PLAN.policy())
LMAA = PLAN.lma_address
MAG1, MAG2 = (mag.proxy_coa for mag in PLAN.mag_list)
ROGUE = IPv6Address("2001:db8:ffff::99")  # a MAG the policy does not know
MULTIHOMED = 2  # mn2 has two interfaces
AUTH_KEY = bytes(range(16))
AUTH_SPI = 4096
INTERFACES = ("eth2", "eth3")
OPTIONS_START = 12  # 6-octet MH header + 6 octets of PBU/PBA fixed fields


def mn_profile(n: int) -> MnProfile:
    if n == MULTIHOMED:
        second = f"02:00:00:00:02:{n:02x}"
        prefixes = (home_prefix(n), home_prefix(0x100 + n))
        return MnProfile(mn_nai(n), (mn_mac(n), second), prefixes)
    return MnProfile(mn_nai(n), (mn_mac(n),), (home_prefix(n),))


# The plan's policy, with mn2 given a second interface (and a second prefix).
POLICY = Policy(
    mobile_nodes=tuple(mn_profile(n) for n in range(1, MNS + 1)),
    authorized_mags=parse_policy(PLAN.policy()).authorized_mags,
)


def lma_config(use_timestamps: bool, buffering: bool) -> NodeConfig:
    return NodeConfig(
        role="lma",
        policy_file=Path("policy.yaml"),
        protocol=ProtocolConstants(use_timestamps=use_timestamps),
        lma=LmaConfig(address=LMAA, buffering=BufferingConfig(enabled=buffering)),
    )


def mag_config() -> NodeConfig:
    return NodeConfig(
        role="mag",
        policy_file=Path("policy.yaml"),
        mag=MagConfig(proxy_coa=MAG1, lma_address=LMAA, access_interfaces=INTERFACES),
    )


# --- valid inputs ------------------------------------------------------------


def random_pbu(rng: random.Random, now: float) -> BindingUpdate:
    n = rng.choice([*range(1, MNS + 1), 9])  # mn9 has no profile
    options: list = []
    if rng.random() < 0.95:
        options.append(random_mn_identifier(rng, n))
    zero = rng.random() < 0.15
    if rng.random() < 0.95 and not zero:
        prefix = home_prefix(n) if rng.random() < 0.85 else home_prefix(rng.randrange(1, 200))
        options.append(HomeNetworkPrefix(prefix))
    if zero or rng.random() < 0.05:
        options.append(HomeNetworkPrefix(IPv6Network("::/0")))
    if rng.random() < 0.95:
        handoff = rng.choice([*Handoff, *Handoff, 0, rng.randrange(256)])
        options.append(HandoffIndicator(handoff))
    if rng.random() < 0.95:
        options.append(AccessTechnologyType(rng.choice([1, 3, 4, 200])))
    if rng.random() < 0.8:
        mac = rng.choice([mn_mac(n), f"02:00:00:00:02:{n:02x}"])
        options.append(MobileNodeLinkLayerIdentifier(bytes.fromhex(mac.replace(":", ""))))
    if rng.random() < 0.2:
        options.append(LinkLocalAddress(IPv6Address(rng.choice(["fe80::1", "::"]))))
    if rng.random() < 0.9:
        skew = rng.choice([0.0, 0.0, rng.uniform(-0.5, 0.5), rng.uniform(-1e6, 1e6)])
        options.append(Timestamp.from_seconds(now + skew))
    rng.shuffle(options)
    return BindingUpdate(
        sequence=rng.randrange(0x10000),
        lifetime=rng.choice([0, 0, 4, 300, 300, 3600, 0xFFFF * 4]),
        ack=rng.random() < 0.95,
        home=rng.random() < 0.95,
        proxy=rng.random() < 0.95,
        options=options,
    )


def random_mn_identifier(rng: random.Random, n: int) -> MobileNodeIdentifier:
    """Mostly the MN's NAI; now and then another RFC 8371 subtype, or a zero-length one."""
    roll = rng.random()
    if roll < 0.9:
        return MobileNodeIdentifier(mn_nai(n))
    if roll < 0.95:
        return MobileNodeIdentifier(b"")
    return MobileNodeIdentifier(rng.randbytes(rng.randrange(1, 17)), rng.randrange(256))


def random_binding_error(rng: random.Random) -> BindingError:
    return BindingError(status=rng.choice([1, 2, 2, rng.randrange(256)]))


def random_pba(
    rng: random.Random, now: float, outstanding: list[BindingUpdate]
) -> BindingAcknowledgement:
    if outstanding and rng.random() < 0.8:
        pbu = rng.choice(outstanding)
        sequence = pbu.sequence if rng.random() < 0.9 else rng.randrange(0x10000)
        options = list(pbu.options)
    else:
        n = rng.choice([*range(1, MNS + 1), 9])
        sequence = rng.randrange(0x10000)
        options = [MobileNodeIdentifier(mn_nai(n)), HomeNetworkPrefix(home_prefix(n))]
    if rng.random() < 0.3:
        options = [o for o in options if not isinstance(o, Timestamp)]
        options.append(Timestamp.from_seconds(now + rng.uniform(-1, 1)))
    if rng.random() < 0.1:
        options.append(HomeNetworkPrefix(IPv6Network("::/0")))
    status = rng.choice([Status.ACCEPTED] * 10 + list(Status) + [rng.randrange(256)])
    return BindingAcknowledgement(
        status=status,
        sequence=sequence,
        lifetime=rng.choice([0, 4, 300, 3600]),
        proxy=rng.random() < 0.95,
        key_mgmt=rng.random() < 0.05,
        router=rng.random() < 0.05,
        options=options,
    )


def random_heartbeat(rng: random.Random) -> Heartbeat:
    """A request, a response or an unsolicited response (a restarted peer's
    announcement); responses mostly carry a Restart Counter."""
    response = rng.random() < 0.6
    options = []
    if response and rng.random() < 0.9:
        options.append(RestartCounter(rng.choice([1, 2, rng.randrange(1 << 32)])))
    return Heartbeat(
        sequence=rng.randrange(1 << 32),
        response=response,
        unsolicited=response and rng.random() < 0.3,
        options=options,
    )


# --- mutations ---------------------------------------------------------------


def tlv_spans(data: bytearray) -> list[tuple[int, int]]:
    """(start, end) of each option TLV after the fixed fields, as far as they parse."""
    spans, offset = [], OPTIONS_START
    while offset < len(data):
        if data[offset] == 0:  # Pad1
            spans.append((offset, offset + 1))
            offset += 1
            continue
        if offset + 2 > len(data):
            break
        end = offset + 2 + data[offset + 1]
        if end > len(data):
            break
        spans.append((offset, end))
        offset = end
    return spans


def reframe(data: bytearray) -> bytearray:
    """Pad to a multiple of 8 with a PadN and fix the header length, as a sender would."""
    gap = (-len(data)) % 8
    if gap == 1:
        data += b"\x00"
    elif gap:
        data += bytes((1, gap - 2)) + bytes(gap - 2)
    if 8 <= len(data) <= 2048:
        data[1] = len(data) // 8 - 1
    return data


def m_bitflip(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def m_truncate(rng: random.Random, data: bytearray) -> bytearray:
    cut = rng.randrange(len(data) + 1) if data else 0
    if rng.random() < 0.5 and cut >= 8:
        return reframe(data[: cut - cut % 8])  # keeps the framing valid, cuts an option
    return data[:cut]


def m_header_length(rng: random.Random, data: bytearray) -> bytearray:
    if len(data) > 1:
        data[1] = rng.randrange(256)
    return data


def m_option_length(rng: random.Random, data: bytearray) -> bytearray:
    spans = [s for s in tlv_spans(data) if s[1] - s[0] >= 2]
    if spans:
        start, _ = rng.choice(spans)
        data[start + 1] = rng.choice(
            [0, 1, 2, 3, 7, 8, 15, 16, 17, 18, 19, 255, rng.randrange(256)]
        )
    return data


def random_option(rng: random.Random) -> bytes:
    kind = rng.choice([*OPTION_CLASSES, rng.randrange(256)])
    if kind == 0:
        return b"\x00"
    lengths = {8: rng.randrange(1, 40), 9: 17, 22: 18, 23: 2, 24: 2, 25: 8, 26: 16, 27: 8}
    length = lengths.get(kind, rng.randrange(0, 24)) if rng.random() < 0.8 else rng.randrange(256)
    body = bytearray(rng.randbytes(length))
    if kind == 8 and body and rng.random() < 0.7:
        body[0] = rng.choice([1, 1, 1, 2, 3, 8, 200])  # NAI, then RFC 8371 subtypes
        body[1:] = (rng.choice(["mn1@pmipv6.lab", "x", "\u00e9@b", ""])).encode()[: length - 1]
    if kind == 22 and len(body) > 1 and rng.random() < 0.7:
        body[1] = rng.choice([0, 48, 64, 128, 129, 255])
    return bytes((kind, len(body))) + bytes(body)


def m_insert_option(rng: random.Random, data: bytearray) -> bytearray:
    spans = tlv_spans(data)
    points = [OPTIONS_START, *(end for _, end in spans)] if len(data) >= OPTIONS_START else []
    if not points:
        return data
    at = rng.choice(points)
    return reframe(data[:at] + random_option(rng) + data[at:])


def m_remove_option(rng: random.Random, data: bytearray) -> bytearray:
    spans = tlv_spans(data)
    if not spans:
        return data
    start, end = rng.choice(spans)
    return reframe(data[:start] + data[end:])


def m_duplicate_option(rng: random.Random, data: bytearray) -> bytearray:
    spans = [s for s in tlv_spans(data) if s[1] - s[0] > 1]
    if not spans:
        return data
    start, end = rng.choice(spans)
    most = max(1, (2040 - len(data)) // (end - start))  # up to the 2048-octet MH limit
    copies = rng.choice([1, 1, 2, most])
    return reframe(data[:end] + data[start:end] * copies + data[end:])


def m_fixed_fields(rng: random.Random, data: bytearray) -> bytearray:
    if len(data) < OPTIONS_START:
        return data
    where = rng.choice([0, 2, 3, 6, 7, 8, 9, 10, 11])
    if where == 2:
        data[2] = rng.choice([5, 6, 7, 13, rng.randrange(256)])
    else:
        data[where] = rng.randrange(256)
    return data


def m_interesting(rng: random.Random, data: bytearray) -> bytearray:
    if data:
        data[rng.randrange(len(data))] = rng.choice([0, 1, 0x7F, 0x80, 0xFE, 0xFF])
    return data


def m_random(rng: random.Random, data: bytearray) -> bytearray:
    if rng.random() < 0.5:
        return bytearray(rng.randbytes(rng.randrange(0, 64)))
    units = rng.randrange(1, 12)
    data = bytearray(rng.randbytes(units * 8))
    data[1] = units - 1
    data[2] = rng.choice([5, 6])
    return data


MUTATIONS: dict[str, Callable[[random.Random, bytearray], bytearray]] = {
    "bitflip": m_bitflip,
    "truncate": m_truncate,
    "header_length": m_header_length,
    "option_length": m_option_length,
    "insert_option": m_insert_option,
    "remove_option": m_remove_option,
    "duplicate_option": m_duplicate_option,
    "fixed_fields": m_fixed_fields,
    "interesting_octet": m_interesting,
    "random_bytes": m_random,
}


# --- the run -----------------------------------------------------------------


class Crash(Exception):
    def __init__(self, stage: str, data: bytes, exc: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.data, self.exc = stage, data, exc


def status_name(status: int) -> str:
    return status.name if isinstance(status, Status) else f"UNKNOWN_{int(status)}"


def cache_copy(lma: LocalMobilityAnchor) -> dict:
    return {e.session: dataclasses.replace(e) for e in lma.binding_cache}


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = T0
        self.lmas = {
            "lma_timestamps": LocalMobilityAnchor(lma_config(True, True), POLICY),
            "lma_sequence": LocalMobilityAnchor(lma_config(False, False), POLICY),
        }
        self.mag = MobileAccessGateway(mag_config(), POLICY)
        self.outstanding: dict[str, BindingUpdate] = {}  # the MAG's last PBU per MN
        self.stats: dict[str, Counter] = {
            "mutations": Counter(),
            "decode_rejected": Counter(),
            "decode_reasons": Counter(),
            "mag": Counter(),
            "auth": Counter(),
            "undecodable_answers": Counter(),
            "unsendable": Counter(),
            **{name: Counter() for name in self.lmas},
        }
        self.decoded = 0
        self.intact = 0
        self.crashes = 0
        self.first_crash: dict | None = None
        self.invariants = 0
        self.first_invariant: dict | None = None
        self.unsendable = 0
        self.first_unsendable: dict | None = None
        self.reencode_too_large = 0

    # inputs

    def make_input(self) -> bytes:
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:
            message = random_pbu(rng, self.now)
        elif kind < 0.87:
            message = random_pba(rng, self.now, list(self.outstanding.values()))
        elif kind < 0.97:
            message = random_heartbeat(rng)
        else:
            message = random_binding_error(rng)
        try:
            data = bytearray(encode(message))
        except ValueError:  # built on an oversized PBU the MAG could not send either
            data = bytearray(encode(random_pbu(rng, self.now)))
        if rng.random() < 0.25 and len(data) <= 2048 - 24:
            data = bytearray(
                authenticate(bytes(data), AUTH_KEY, AUTH_SPI, MAG1, LMAA, sender_is_mag=True)
            )
        if rng.random() < 0.1:
            self.intact += 1
            return bytes(data)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            name = rng.choice(list(MUTATIONS))
            self.stats["mutations"][name] += 1
            data = MUTATIONS[name](rng, data)
        return bytes(data)

    def step(self) -> None:
        self.now += TICK
        if self.rng.random() < 0.03:
            self.link_event()
        data = self.make_input()
        try:
            self.feed(data)
        except Crash as crash:
            self.record_crash(crash.stage, crash.data, crash.exc)
        self.run_timers()

    def link_event(self) -> None:
        rng = self.rng
        interface = rng.choice(INTERFACES)
        try:
            if rng.random() < 0.6:
                n = rng.randint(1, MNS + 1)  # MNS + 1 is not in the policy
                mac = mn_mac(n) if rng.random() < 0.8 else f"02:00:00:00:02:{n:02x}"
                actions = self.mag.mn_attached(interface, mac, self.now)
            else:
                actions = self.mag.mn_detached(interface, self.now)
        except Exception as exc:  # noqa: BLE001 - a crash in the MAG is what we look for
            self.record_crash("mag_link_event", b"", exc)
            return
        self.mag_actions(actions, b"")

    def run_timers(self) -> None:
        for name, lma in self.lmas.items():
            deadline = lma.next_deadline()
            if deadline is not None and deadline <= self.now:
                try:
                    actions = lma.on_timer(self.now)
                except Exception as exc:  # noqa: BLE001
                    self.record_crash(f"{name}.on_timer", b"", exc)
                    continue
                self.stats[name].update(
                    f"timer.{a.name}" for a in actions if isinstance(a, LogEvent)
                )
        deadline = self.mag.next_deadline()
        if deadline is not None and deadline <= self.now:
            try:
                actions = self.mag.on_timer(self.now)
            except Exception as exc:  # noqa: BLE001
                self.record_crash("mag.on_timer", b"", exc)
                return
            self.mag_actions(actions, b"")

    def record_crash(self, stage: str, data: bytes, exc: BaseException) -> None:
        self.crashes += 1
        if self.first_crash is None:
            self.first_crash = {
                "stage": stage,
                **shown_input(data),
                "error": repr(exc),
                "traceback": "".join(traceback.format_exception(exc))[-2000:],
            }

    def violation(self, kind: str, data: bytes, detail: str) -> None:
        self.invariants += 1
        if self.first_invariant is None:
            self.first_invariant = {"kind": kind, **shown_input(data), "detail": detail}

    # decode and feed

    def feed(self, data: bytes) -> None:
        rng = self.rng
        try:
            failure = verify(data, AUTH_KEY, AUTH_SPI, MAG1, LMAA, sender_is_mag=True)
        except Exception as exc:  # noqa: BLE001
            raise Crash("auth.verify", data, exc) from exc
        self.stats["auth"]["verified" if failure is None else failure.value] += 1
        try:
            if rng.random() < 0.05:
                src, dst = rng.choice([MAG1, LMAA]), rng.choice([LMAA, MAG1])
                message = decode(data, src, dst)
            else:
                message = decode(data)
        except ProtocolError as exc:
            self.stats["decode_rejected"][exc.status.name] += 1
            self.stats["decode_reasons"][reason_kind(exc.reason)] += 1
            self.answer_undecodable(data, exc)
            return
        except Exception as exc:  # noqa: BLE001
            raise Crash("decode", data, exc) from exc
        self.decoded += 1
        self.check_roundtrip(message, data)

        for name, lma in self.lmas.items():
            src = rng.choice([MAG1, MAG1, MAG2, ROGUE])
            before = cache_copy(lma)
            try:
                actions = lma.receive(src, message, self.now)
            except Exception as exc:  # noqa: BLE001
                raise Crash(f"{name}.receive", data, exc) from exc
            sent = [a.message for a in actions if isinstance(a, SendMessage)]
            if not sent:
                self.stats[name]["ignored"] += 1
            for reply in sent:
                self.encode_reply(f"{name}.reply", reply, LMAA, src, data)
                if isinstance(reply, Heartbeat):
                    self.stats[name]["heartbeat_response"] += 1
                    continue
                pba = reply
                self.stats[name][status_name(pba.status)] += 1
                if pba.status != Status.ACCEPTED and cache_copy(lma) != before:
                    self.violation(
                        "rejected PBU changed the binding cache",
                        data,
                        f"{name} answered {status_name(pba.status)}",
                    )

        src = LMAA if rng.random() < 0.9 else MAG2
        try:
            actions = self.mag.receive(src, message, self.now)
        except Exception as exc:  # noqa: BLE001
            raise Crash("mag.receive", data, exc) from exc
        self.mag_actions(actions, data)

    def answer_undecodable(self, data: bytes, error: ProtocolError) -> None:
        machines = [*self.lmas.items(), ("mag", self.mag)]
        for name, machine in machines:
            try:
                actions = machine.undecodable(MAG2, LMAA, data, error, self.now)
            except Exception as exc:  # noqa: BLE001
                raise Crash(f"{name}.undecodable", data, exc) from exc
            for action in actions:
                if isinstance(action, SendMessage):
                    self.stats["undecodable_answers"]["binding_error"] += 1
                    self.encode_reply(f"{name}.undecodable", action.message, LMAA, MAG2, data)
                elif isinstance(action, SendParameterProblem):
                    self.stats["undecodable_answers"]["parameter_problem"] += 1

    def mag_actions(self, actions: list, data: bytes) -> None:
        for action in actions:
            if isinstance(action, LogEvent):
                self.stats["mag"][action.name] += 1
            elif isinstance(action, SendMessage):
                if isinstance(action.message, BindingUpdate):
                    name = action.message.option(MobileNodeIdentifier).text
                    self.outstanding[name] = action.message
                else:
                    self.stats["mag"][f"sent_{type(action.message).__name__}"] += 1
                self.encode_reply("mag.send", action.message, MAG1, LMAA, data)

    def encode_reply(self, stage: str, message, src, dst, data: bytes) -> None:
        """The daemon encodes every message a state machine sends; one that encode()
        refuses becomes `action_failed.SendMessage` there and is never sent."""
        try:
            encode(message, src, dst)
        except Exception as exc:  # noqa: BLE001
            self.unsendable += 1
            self.stats["unsendable"][f"{stage}: {type(exc).__name__}"] += 1
            if self.first_unsendable is None:
                self.first_unsendable = {
                    "stage": stage,
                    **shown_input(data),
                    "error": repr(exc),
                    "message": repr(message)[:400],
                }

    def check_roundtrip(self, message, data: bytes) -> None:
        try:
            again = decode(encode(message))
        except ValueError:
            # Options decoded without their alignment padding (receivers do not
            # insist on it) take more room when encoded again; past 2048 octets
            # encode() refuses. Harmless unless the message is echoed: see
            # unsendable_messages for where that matters.
            self.reencode_too_large += 1
            return
        if dataclasses.replace(again, checksum=0) != dataclasses.replace(message, checksum=0):
            self.violation("encode(decode(x)) decodes differently", data, repr(message)[:300])

    def result(self) -> dict:
        lma_stats = {}
        for name in self.lmas:
            counts = self.stats[name]
            timers = {k: v for k, v in counts.items() if k.startswith("timer.")}
            answered = Counter({k: v for k, v in counts.items() if not k.startswith("timer.")})
            ignored = answered.pop("ignored", 0)
            lma_stats[name] = {
                "answered": dict(answered.most_common()),
                "answered_total": sum(answered.values()),
                "ignored": ignored,
                "timer_events": dict(sorted(timers.items())),
                "binding_cache_size": len(self.lmas[name].binding_cache),
                "counters": dict(sorted(self.lmas[name].counters.items())),
            }
        return {
            "decoded": self.decoded,
            "intact_inputs": self.intact,
            "decode_rejected": dict(self.stats["decode_rejected"].most_common()),
            "decode_rejected_total": sum(self.stats["decode_rejected"].values()),
            "decode_reasons": dict(self.stats["decode_reasons"].most_common(12)),
            **lma_stats,
            "mag": dict(self.stats["mag"].most_common()),
            "auth": dict(self.stats["auth"].most_common()),
            "undecodable_answers": dict(self.stats["undecodable_answers"].most_common()),
            "mutations": dict(self.stats["mutations"].most_common()),
            "crashes": self.crashes,
            "first_crash": self.first_crash,
            "unsendable_messages": self.unsendable,
            "unsendable_kinds": dict(self.stats["unsendable"].most_common()),
            "first_unsendable_message": self.first_unsendable,
            "invariant_violations": self.invariants,
            "first_invariant_violation": self.first_invariant,
            "reencode_too_large": self.reencode_too_large,
        }


def shown_input(data: bytes) -> dict:
    text = data.hex()
    return {
        "input_length": len(data),
        "input_hex": text if len(text) <= 600 else text[:600] + "...",
    }


def reason_kind(reason: str) -> str:
    """The reason with numbers and quoted values blanked, so like reasons count together."""
    words = []
    for word in reason.split():
        stripped = word.strip(",.()")
        if any(c.isdigit() for c in stripped) or stripped.startswith("0x"):
            words.append("N")
        elif "::" in stripped or "->" == stripped:
            words.append("ADDR" if "::" in stripped else stripped)
        else:
            words.append(word)
    return " ".join(words)


def run(count: int, seed: int, progress: Callable[[str], None] | None = None) -> dict:
    fuzzer = Fuzzer(seed)
    started = time.perf_counter()
    for i in range(1, count + 1):
        fuzzer.step()
        if progress and i % 20_000 == 0:
            progress(f"{i} inputs, {fuzzer.crashes} crashes")
    elapsed = time.perf_counter() - started
    return {
        "count": count,
        "seed": seed,
        "seconds": round(elapsed, 2),
        "inputs_per_s": round(count / elapsed) if elapsed else None,
        **fuzzer.result(),
    }


# --- command line ------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument(
        "--count",
        type=cli.number(int, 1, 10_000_000, "count", echo_value=True),
        default=100_000,
        help="inputs (100000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv, root_for=None)
    if args is None:
        return 2
    result = run(args.count, args.seed, cli.progress)
    if result["first_crash"]:
        print(f"first crash: {result['first_crash']['error']}", file=sys.stderr)
        print(result["first_crash"]["traceback"], file=sys.stderr)
    if result["first_unsendable_message"]:
        print(f"first unsendable message: {result['first_unsendable_message']}", file=sys.stderr)
    if result["first_invariant_violation"]:
        print(f"first invariant violation: {result['first_invariant_violation']}", file=sys.stderr)
    print(json.dumps(result))
    failed = result["crashes"] + result["unsendable_messages"] + result["invariant_violations"]
    return 1 if failed else 0
