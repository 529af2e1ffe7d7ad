"""Golden vectors against Wireshark's Mobile IPv6 dissector: an independent reading
of the same octets. Each valid vector goes into a pcap behind an IPv6 header,
tshark decodes it (PDML), and every field it shows must match our decoding."""

from __future__ import annotations

import calendar
import json
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from pmip6d.wire import (
    OPTION_CLASSES,
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingError,
    BindingUpdate,
    HandoffIndicator,
    Heartbeat,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    MobilityMessage,
    MobilityMessageAuthentication,
    Option,
    Pad1,
    PadN,
    RestartCounter,
    Timestamp,
    decode,
)

VALID = sorted((Path(__file__).parents[1] / "vectors" / "valid").glob("*.json"))
LINKTYPE_IPV6 = 229
MH_NEXT_HEADER = 135

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def ipv6_packet(src: str, dst: str, mobility_header: bytes) -> bytes:
    first_word = 6 << 28
    return (
        struct.pack("!IHBB", first_word, len(mobility_header), MH_NEXT_HEADER, 64)
        + IPv6Address(src).packed
        + IPv6Address(dst).packed
        + mobility_header
    )


def write_pcap(path: Path, packets: list[bytes]) -> None:
    with path.open("wb") as pcap:
        pcap.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IPV6))
        for packet in packets:
            pcap.write(struct.pack("<IIII", 0, 0, len(packet), len(packet)) + packet)


def rfc1071_checksum(src: str, dst: str, data: bytes) -> int:
    """Word-by-word one's-complement sum, written independently of the codec's helper."""
    pseudo = IPv6Address(src).packed + IPv6Address(dst).packed
    pseudo += struct.pack("!IxxxB", len(data), MH_NEXT_HEADER)
    total = 0
    for (word,) in struct.iter_unpack("!H", pseudo + data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.fixture(scope="module")
def dissections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ET.Element]:
    """Vector name -> tshark's <proto name="mipv6"> element, from one tshark run."""
    pcap = tmp_path_factory.mktemp("tshark") / "vectors.pcap"
    vectors = [load(path) for path in VALID]
    write_pcap(pcap, [ipv6_packet(v["src"], v["dst"], bytes.fromhex(v["hex"])) for v in vectors])
    pdml = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "pdml"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    packets = ET.fromstring(pdml).findall("packet")
    assert len(packets) == len(VALID)
    result = {}
    for path, vector, packet in zip(VALID, vectors, packets, strict=True):
        problems = [
            f.get("showname")
            for f in packet.iter("field")
            if f.get("name") in ("_ws.malformed", "_ws.expert")
        ]
        # Where Wireshark lags the RFCs (it wants an MN-ID of 2 octets or more,
        # RFC 5213 5.3.6 sends 1; it knows no RFC 8371 subtype), the vector
        # names the one warning expected, and that warning must appear.
        allowed = vector.get("tshark_warnings", [])
        unexpected = [p for p in problems if not any(a in p for a in allowed)]
        assert not unexpected, f"{path.stem}: tshark reports {unexpected}"
        missing = [a for a in allowed if not any(a in p for p in problems)]
        assert not missing, f"{path.stem}: tshark no longer warns {missing}"
        result[path.stem] = packet.find(".//proto[@name='mipv6']")
    return result


def shown(element: ET.Element, name: str) -> str:
    found = element.find(f".//field[@name='{name}']")
    assert found is not None, f"tshark shows no {name}"
    return found.get("show")


def tshark_timestamp(element: ET.Element) -> tuple[int, int]:
    """(seconds since 1970, nanoseconds) from tshark's date rendering of the option."""
    text = shown(element, "mip6.timestamp_tmp")
    match = re.fullmatch(r"(\w{3}) +(\d+), (\d{4}) (\d\d:\d\d:\d\d)\.(\d{9}) UTC", text)
    assert match, text
    month, day, year, clock, nanoseconds = match.groups()
    parsed = time.strptime(f"{month} {day} {year} {clock}", "%b %d %Y %H:%M:%S")
    return calendar.timegm(parsed), int(nanoseconds)


def check_timestamp(element: ET.Element, option: Timestamp) -> None:
    raw = element.find(".//field[@name='mip6.timestamp_tmp']").get("value")
    assert int(raw, 16) == option.value
    seconds, nanoseconds = tshark_timestamp(element)
    assert seconds == option.value >> 16
    assert abs(nanoseconds - (option.value & 0xFFFF) * 1e9 / 65536) <= 1


def check_mn_identifier(element: ET.Element, option: MobileNodeIdentifier) -> bool:
    if int(shown(element, "mip6.mnid.subtype")) != option.subtype:
        return False
    identifier = element.find(".//field[@name='mip6.mnid.identifier']")
    if not option.identifier:
        return identifier is None  # a zero-length identifier: nothing to show
    if option.nai is not None:
        return identifier.get("show") == option.nai
    return bytes.fromhex(identifier.get("value")) == option.identifier


def check_authentication(element: ET.Element, option: MobilityMessageAuthentication) -> bool:
    data = bytes.fromhex(shown(element, "mip6.auth.auth_data").replace(":", ""))
    # Wireshark 4.0 shows Length - 7 octets of the authenticator (it subtracts
    # the type and length octets twice): 10 of our 12. What it shows must be ours.
    return (
        int(shown(element, "mip6.auth.subtype")) == option.subtype
        and int(shown(element, "mip6.auth.mobility_spi")) == option.spi
        and len(data) >= 10
        and option.authenticator.startswith(data)
    )


# Our option class -> (tshark's option field, check of its sub-fields)
OPTION_CHECKS: dict[type[Option], tuple[str, Callable[[ET.Element, Option], None]]] = {
    MobileNodeIdentifier: ("mip6.options.mnid", check_mn_identifier),
    MobilityMessageAuthentication: ("mip6.options.auth", check_authentication),
    HomeNetworkPrefix: (
        "mip6.options.hnp",
        lambda e, o: (
            int(shown(e, "mip6.nemo.mnp.pfl")) == o.prefix.prefixlen
            and IPv6Address(shown(e, "mip6.nemo.mnp.mnp")) == o.prefix.network_address
        ),
    ),
    HandoffIndicator: ("mip6.options.hi", lambda e, o: int(shown(e, "mip6.hi")) == o.value),
    AccessTechnologyType: (
        "mip6.options.att",
        lambda e, o: int(shown(e, "mip6.att")) == o.value,
    ),
    MobileNodeLinkLayerIdentifier: (
        "mip6.options.mnlli",
        lambda e, o: bytes.fromhex(shown(e, "mip6.mnlli.lli").replace(":", "")) == o.link_layer_id,
    ),
    LinkLocalAddress: (
        "mip6.options.lla",
        lambda e, o: IPv6Address(shown(e, "mip6.lila_lla")) == o.address,
    ),
    Timestamp: ("mip6.options.ts", lambda e, o: check_timestamp(e, o) is None),
    RestartCounter: ("mip6.options.rc", lambda e, o: int(shown(e, "mip6.rc")) == o.value),
}

# Our flag attribute -> tshark's field, per message class
FLAG_FIELDS = {
    BindingUpdate: {
        "ack": "mip6.bu.a_flag",
        "home": "mip6.bu.h_flag",
        "link_local": "mip6.bu.l_flag",
        "key_mgmt": "mip6.bu.k_flag",
        "mobile_router": "mip6.bu.m_flag",
        "router": "mip6.nemo.bu.r_flag",
        "proxy": "mip6.bu.p_flag",
    },
    BindingAcknowledgement: {
        "key_mgmt": "mip6.ba.k_flag",
        "router": "mip6.nemo.ba.r_flag",
        "proxy": "mip6.ba.p_flag",
    },
    Heartbeat: {"unsolicited": "mip6.hb.u_flag", "response": "mip6.hb.r_flag"},
    BindingError: {},
}
FIXED_FIELD_PREFIX = {
    BindingUpdate: "mip6.bu",
    BindingAcknowledgement: "mip6.ba",
    BindingError: "mip6.be",
    Heartbeat: "mip6.hb",
}


def test_vectors_cover_every_option_type() -> None:
    padding = {Pad1, PadN}
    seen = {type(o) for path in VALID for o in decode(bytes.fromhex(load(path)["hex"])).options}
    assert seen == set(OPTION_CLASSES.values()) - padding == set(OPTION_CHECKS)


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_header_and_fixed_fields_match_tshark(path: Path, dissections) -> None:
    vector = load(path)
    data = bytes.fromhex(vector["hex"])
    msg: MobilityMessage = decode(data, vector["src"], vector["dst"])
    mip6 = dissections[path.stem]
    assert rfc1071_checksum(vector["src"], vector["dst"], data) == 0xFFFF
    assert int(shown(mip6, "mip6.mhtype")) == msg.MH_TYPE
    assert int(shown(mip6, "mip6.hlen")) == len(data) // 8 - 1
    assert int(shown(mip6, "mip6.csum"), 16) == msg.checksum
    prefix = FIXED_FIELD_PREFIX[type(msg)]
    if isinstance(msg, BindingError):
        assert int(shown(mip6, "mip6.be.status")) == msg.status
        assert IPv6Address(shown(mip6, "mip6.be.haddr")) == msg.home_address
        return
    assert int(shown(mip6, f"{prefix}.seqnr")) == msg.sequence
    if not isinstance(msg, Heartbeat):
        assert int(shown(mip6, f"{prefix}.lifetime")) * 4 == msg.lifetime
    if isinstance(msg, BindingAcknowledgement):
        assert int(shown(mip6, "mip6.ba.status")) == msg.status
    for attribute, field_name in FLAG_FIELDS[type(msg)].items():
        assert shown(mip6, field_name) == str(int(getattr(msg, attribute))), attribute


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_every_option_matches_tshark(path: Path, dissections) -> None:
    vector = load(path)
    msg = decode(bytes.fromhex(vector["hex"]))
    tshark_options = [
        f
        for f in dissections[path.stem].iter("field")
        if f.get("name", "").startswith("mip6.options.")
        and f.get("name") not in ("mip6.options.padn", "mip6.options.pad1")
    ]
    assert [f.get("name") for f in tshark_options] == [
        OPTION_CHECKS[type(o)][0] for o in msg.options
    ]
    for element, option in zip(tshark_options, msg.options, strict=True):
        assert OPTION_CHECKS[type(option)][1](element, option), option
