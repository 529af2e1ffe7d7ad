"""Typed node configuration and the shared policy store, loaded strictly from YAML.

Every setting lives in one dataclass with its documented default
(docs/configuration.md). Loading is strict: an unknown key, a missing required
key or a value of the wrong shape raises `ConfigError` with a one-line message
naming the file, the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any, Literal, Self

import yaml

from pmip6d.wire.handback import DEFAULT_PORT as HAND_BACK_PORT


class ConfigError(Exception):
    """Unusable configuration; the message is one line naming file, key and expectation."""


@dataclass(frozen=True)
class ProtocolConstants:
    """RFC 5213 / RFC 6275 protocol constants, every one overridable (seconds unless noted)."""

    min_delay_before_bce_delete: float = 10.0
    # RFC 5213 5.4.1: how long the LMA holds a PBU with Handoff Indicator 4 for
    # an MN that has another live session, waiting for that session's
    # de-registration (then it is its handoff) before opening a new session.
    max_delay_before_new_bce_assign: float = 1.5
    timestamp_validity_window: float = 0.3
    initial_bindack_timeout_first_reg: float = 1.5
    initial_bindack_timeout: float = 1.0
    max_bindack_timeout: float = 32.0
    max_pbu_retransmissions: int = 7
    use_timestamps: bool = True
    # RFC 5847 HEARTBEAT_INTERVAL and MISSING_HEARTBEATS_ALLOWED; 0 turns heartbeats off.
    heartbeat_interval: float = 60.0
    missing_heartbeats_allowed: int = 3


class SettingError(ValueError):
    """A setting out of its range; `key` names it within its section."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class BufferLimits:
    """What one node may hold for handed-over MNs; a packet over a limit is dropped
    on arrival (tail drop keeps the order of what is held and spares the oldest
    packets, which the MN needs first). The buffer engine (core/buffer.py) reads
    these fields by these names.

    The LMA's defaults fit the documented range, 10,000 packets/s across a 2 s link
    gap: about 23,000 packets are held when the release starts (the gap, plus the
    signalling and the link settling around it), so 50,000 leaves room to spare.
    The packets wait in the kernel queue, so the byte limits bound kernel memory.
    """

    max_packets_per_mn: int = 50_000
    max_bytes_per_mn: int = 64 * 1024 * 1024
    max_packets_total: int = 200_000
    max_bytes_total: int = 256 * 1024 * 1024
    # How long a packet may stay held; None means MinDelayBeforeBCEDelete, as long
    # as the de-registered binding the MN may come back to.
    hold_time: float | None = None

    def __post_init__(self) -> None:
        self._check_limits()

    def _check_limits(self) -> None:
        for name in ("max_packets_per_mn", "max_bytes_per_mn", "max_packets_total"):
            if getattr(self, name) < 1:
                raise SettingError(name, "expected 1 or more")
        if self.max_bytes_total < 1:
            raise SettingError("max_bytes_total", "expected 1 or more")
        if self.hold_time is not None and self.hold_time <= 0:
            raise SettingError("hold_time", "expected a number greater than 0, or null")

    def with_hold_time(self, timers: ProtocolConstants) -> Self:
        """These limits with `hold_time` resolved (None: MinDelayBeforeBCEDelete)."""
        if self.hold_time is not None:
            return self
        return dataclasses.replace(self, hold_time=timers.min_delay_before_bce_delete)


@dataclass(frozen=True)
class ReleasePacing:
    """How the LMA releases a backlog once the new registration is accepted.

    Release rate = max(min_release_rate, release_rate_factor x measured arrival
    rate), capped by max_release_rate (null: no cap); a token bucket of
    release_burst tokens, full at the start, so the first release_burst packets
    leave at once.

    release_rate_factor 2.0 (the seed paper used 1.2): with arrivals at r and
    release at f*r the backlog of a gap G drains in G / (f - 1): 10 s for a 2 s
    gap at 1.2, 2 s at 2.0. No packet waits longer than about G either way, but
    the longer drain keeps later packets delayed (up to G / f each), the queue
    deep (so the per-MN limits bite on new arrivals) and the flow in user space
    for longer. 2.0 still stays below a burst: the new path sees at most twice
    the rate it carried before.

    max_release_rate 100,000 (about 1.2 Gbit/s of 1500-byte packets) is a sanity
    cap: arrivals read from the kernel queue a few nanoseconds apart would
    otherwise measure as an absurd rate.

    rate_window: time constant of the arrival-rate average; long enough to smooth
    a bursty sender, short enough to follow a rate change within a gap.
    idle_close: after the backlog is gone the buffer stays in pass-through until
    no packet has come for this long; only then is its kernel rule removed, so
    that no later packet can overtake one still in the queue (docs/buffering.md).
    hand_back_wait: how long a release waits for an expected hand-back from the
    previous MAG.
    """

    release_rate_factor: float = 2.0
    min_release_rate: float = 100.0
    max_release_rate: float | None = 100_000.0
    release_burst: int = 32
    rate_window: float = 0.5
    idle_close: float = 0.1
    hand_back_wait: float = 0.05

    def __post_init__(self) -> None:
        self._check_pacing()

    def _check_pacing(self) -> None:
        for name in ("release_rate_factor", "idle_close", "hand_back_wait"):
            if getattr(self, name) < 0:
                raise SettingError(name, "expected a non-negative number")
        if self.min_release_rate <= 0:
            raise SettingError("min_release_rate", "expected a number greater than 0")
        if self.release_burst < 1:
            raise SettingError("release_burst", "expected 1 or more")
        if self.rate_window <= 0:
            raise SettingError("rate_window", "expected a number greater than 0")
        if self.max_release_rate is not None and self.max_release_rate < self.min_release_rate:
            raise SettingError("max_release_rate", "expected at least min_release_rate, or null")


@dataclass(frozen=True)
class BufferingConfig(BufferLimits, ReleasePacing):
    """The LMA's handover buffer (docs/buffering.md): its switch, limits and pacing
    (the fields of BufferLimits and ReleasePacing, by the same names), the
    previous MAG's hand-back, and the NFQUEUE it uses."""

    enabled: bool = True
    # Whether the previous MAG hands back what it held (it waits hand_back_wait).
    expect_hand_back: bool = True
    queue_num: int = 7

    def __post_init__(self) -> None:
        self._check_limits()
        self._check_pacing()


@dataclass(frozen=True)
class HoldLimits(BufferLimits):
    """The previous MAG's hold of the in-flight window (docs/buffering.md): what
    still reaches it for an MN that left, a few milliseconds of traffic."""

    max_packets_per_mn: int = 10_000
    max_bytes_per_mn: int = 15_000_000
    max_packets_total: int = 40_000
    max_bytes_total: int = 60_000_000


@dataclass(frozen=True)
class LmaConfig:
    address: IPv6Address
    max_binding_lifetime: int = 3600
    buffering: BufferingConfig = field(default_factory=BufferingConfig)


@dataclass(frozen=True)
class MagConfig:
    proxy_coa: IPv6Address
    lma_address: IPv6Address
    access_interfaces: tuple[str, ...]
    access_link_local: IPv6Address = IPv6Address("fe80::1")
    access_link_layer: str = "02:00:5e:00:53:01"
    requested_lifetime: int = 300
    refresh_fraction: float = 0.8
    ra_interval: float = 3.0
    router_lifetime: int = 1800
    prefix_valid_lifetime: int = 86400
    prefix_preferred_lifetime: int = 14400
    access_technology_type: int = 3
    hold_packets_on_detach: bool = True
    hold_limits: HoldLimits = field(default_factory=HoldLimits)
    hold_queue_num: int = 8


DEFAULT_CONTROL_SOCKET = Path("/run/pmip6d/pmip6d.sock")


@dataclass(frozen=True)
class NodeConfig:
    role: Literal["lma", "mag"]
    policy_file: Path
    node_name: str = "pmip6d"
    log_format: Literal["text", "json"] = "text"
    control_socket: Path = DEFAULT_CONTROL_SOCKET
    tunnel_driver: Literal["auto", "seg6", "ip6tnl", "bpf"] = "auto"
    # Where the LMA receives hand-backs (at its address) and the MAGs send them.
    hand_back_port: int = HAND_BACK_PORT
    protocol: ProtocolConstants = field(default_factory=ProtocolConstants)
    lma: LmaConfig | None = None
    mag: MagConfig | None = None


@dataclass(frozen=True)
class MnProfile:
    mn_id: str
    link_layer_addresses: tuple[str, ...]
    home_network_prefixes: tuple[IPv6Network, ...]


@dataclass(frozen=True)
class AuthorizedMag:
    name: str
    address: IPv6Address


@dataclass(frozen=True)
class Policy:
    mobile_nodes: tuple[MnProfile, ...] = ()
    authorized_mags: tuple[AuthorizedMag, ...] = ()

    def profile(self, mn_id: str) -> MnProfile | None:
        return next((p for p in self.mobile_nodes if p.mn_id == mn_id), None)

    def profile_for_link_layer(self, link_layer_address: str) -> MnProfile | None:
        wanted = normalize_link_layer(link_layer_address)
        return next((p for p in self.mobile_nodes if wanted in p.link_layer_addresses), None)

    def is_authorized_mag(self, address: IPv6Address) -> bool:
        return any(mag.address == address for mag in self.authorized_mags)


_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def normalize_link_layer(text: str) -> str:
    """Lower-case colon form, so policy and link monitor spellings compare equal."""
    return text.strip().lower().replace("-", ":")


def link_layer_bytes(text: str) -> bytes:
    return bytes.fromhex(normalize_link_layer(text).replace(":", ""))


def load_node_config(path: str | Path) -> NodeConfig:
    path = Path(path)
    config = _build(NodeConfig, _read_mapping(path), str(path), "")
    _check_node(config, str(path))
    if not config.policy_file.is_absolute():
        config = dataclasses.replace(config, policy_file=path.parent / config.policy_file)
    return config


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    policy = _build(Policy, _read_mapping(path), str(path), "")
    _check_policy(policy, str(path))
    return _normalized(policy)


def parse_node_config(data: Any, source: str = "<config>") -> NodeConfig:
    """Build a NodeConfig from already-parsed YAML; `source` names it in errors."""
    config = _build(NodeConfig, data, source, "")
    _check_node(config, source)
    return config


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    policy = _build(Policy, data, source, "")
    _check_policy(policy, source)
    return _normalized(policy)


def _read_mapping(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from None


def _fail(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key or '<top level>'}: {message}")


@functools.cache
def _shape(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """A dataclass's field types and fields, worked out once per class (a policy
    of many MNs builds many of the same)."""
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, data: Any, source: str, key: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(source, key, f"expected a mapping, got {_shown(data)}")
    hints, fields = _shape(cls)
    for name in data:
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise _fail(source, _join(key, str(name)), f"unknown key (known keys: {known})")
    values = {}
    for name, spec in fields.items():
        child = _join(key, name)
        if name in data:
            values[name] = _convert(hints[name], data[name], source, child)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise _fail(source, child, "required key is missing")
    try:
        return cls(**values)
    except SettingError as exc:
        raise _fail(source, _join(key, exc.key), exc.message) from None


def _convert(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, source, key)
    if origin is Literal:
        if value not in args:
            choices = " or ".join(repr(a) for a in args)
            raise _fail(source, key, f"expected {choices}, got {_shown(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(source, key, f"expected a list, got {_shown(value)}")
        return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, key)
    return _scalar(hint, value, source, key)


def _scalar(hint: Any, value: Any, source: str, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(source, key, f"expected true or false, got {_shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise _fail(source, key, f"expected a non-negative integer, got {_shown(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise _fail(source, key, f"expected a non-negative number, got {_shown(value)}")
    if hint is str:
        if isinstance(value, str) and value.strip():
            return value
        raise _fail(source, key, f"expected a non-empty string, got {_shown(value)}")
    if hint is Path:
        if isinstance(value, str) and value.strip():
            return Path(value)
        raise _fail(source, key, f"expected a file path, got {_shown(value)}")
    if hint is IPv6Address:
        try:
            return IPv6Address(str(value))
        except ValueError:
            raise _fail(source, key, f"expected an IPv6 address, got {_shown(value)}") from None
    if hint is IPv6Network:
        try:
            return IPv6Network(str(value))
        except ValueError:
            expected = "an IPv6 prefix like 2001:db8:1:1::/64 (host bits zero)"
            raise _fail(source, key, f"expected {expected}, got {_shown(value)}") from None
    raise TypeError(f"config type {hint!r} has no converter")  # a bug in this module


def _check_node(config: NodeConfig, source: str) -> None:
    if config.role == "lma" and config.lma is None:
        raise _fail(source, "lma", "required key is missing (role is 'lma')")
    if config.role == "mag" and config.mag is None:
        raise _fail(source, "mag", "required key is missing (role is 'mag')")
    other = "mag" if config.role == "lma" else "lma"
    if getattr(config, other) is not None:
        raise _fail(source, other, f"not allowed when role is {config.role!r}")
    if config.mag is not None:
        mag = config.mag
        if not mag.access_interfaces:
            raise _fail(source, "mag.access_interfaces", "expected at least one interface")
        if not _MAC.match(normalize_link_layer(mag.access_link_layer)):
            raise _fail(source, "mag.access_link_layer", _mac_expectation(mag.access_link_layer))
        if not 0 < mag.refresh_fraction < 1:
            raise _fail(source, "mag.refresh_fraction", "expected a number between 0 and 1")
        if not _is_wire_lifetime(mag.requested_lifetime):
            raise _fail(source, "mag.requested_lifetime", _LIFETIME_EXPECTATION)
        if mag.ra_interval <= 0:
            raise _fail(source, "mag.ra_interval", "expected a number greater than 0")
    if config.lma is not None and not _is_wire_lifetime(config.lma.max_binding_lifetime):
        raise _fail(source, "lma.max_binding_lifetime", _LIFETIME_EXPECTATION)
    protocol = config.protocol
    if protocol.initial_bindack_timeout_first_reg <= 0 or protocol.initial_bindack_timeout <= 0:
        raise _fail(source, "protocol", "expected bind-ack timeouts greater than 0")
    if protocol.missing_heartbeats_allowed < 1:
        raise _fail(source, "protocol.missing_heartbeats_allowed", "expected 1 or more")


def _check_policy(policy: Policy, source: str) -> None:
    seen_ids: set[str] = set()
    seen_macs: dict[str, str] = {}
    seen_prefixes: dict[IPv6Network, str] = {}
    for i, mn in enumerate(policy.mobile_nodes):
        key = f"mobile_nodes[{i}]"
        if mn.mn_id in seen_ids:
            raise _fail(source, f"{key}.mn_id", f"duplicate mobile node {mn.mn_id!r}")
        seen_ids.add(mn.mn_id)
        if not mn.home_network_prefixes:
            raise _fail(source, f"{key}.home_network_prefixes", "expected at least one prefix")
        for j, mac in enumerate(mn.link_layer_addresses):
            mac_key = f"{key}.link_layer_addresses[{j}]"
            if not _MAC.match(normalize_link_layer(mac)):
                raise _fail(source, mac_key, _mac_expectation(mac))
            owner = seen_macs.setdefault(normalize_link_layer(mac), mn.mn_id)
            if owner != mn.mn_id:
                raise _fail(source, mac_key, f"{mac} already belongs to {owner!r}")
        for j, prefix in enumerate(mn.home_network_prefixes):
            prefix_key = f"{key}.home_network_prefixes[{j}]"
            if prefix.prefixlen == 0:
                raise _fail(source, prefix_key, "::/0 is reserved (it means 'assign me one')")
            owner = seen_prefixes.setdefault(prefix, mn.mn_id)
            if owner != mn.mn_id:
                raise _fail(source, prefix_key, f"{prefix} already belongs to {owner!r}")


def _normalized(policy: Policy) -> Policy:
    profiles = tuple(
        dataclasses.replace(
            mn, link_layer_addresses=tuple(normalize_link_layer(m) for m in mn.link_layer_addresses)
        )
        for mn in policy.mobile_nodes
    )
    return dataclasses.replace(policy, mobile_nodes=profiles)


_LIFETIME_EXPECTATION = "expected a multiple of 4 in 4..262140 seconds (the wire unit is 4 s)"


def _is_wire_lifetime(seconds: int) -> bool:
    return 4 <= seconds <= 262140 and seconds % 4 == 0


def _mac_expectation(value: str) -> str:
    return f"expected a 48-bit MAC like 02:00:00:00:01:01, got {_shown(value)}"


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)
