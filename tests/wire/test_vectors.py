"""Golden vectors through the programming API: valid ones re-encode byte for byte,
malformed ones raise ProtocolError with the recorded status and reason."""

import json
from pathlib import Path

import pytest

from pmip6d.wire import ProtocolError, Status, decode, encode

VECTORS = Path(__file__).parents[1] / "vectors"
VALID = sorted((VECTORS / "valid").glob("*.json"))
MALFORMED = sorted((VECTORS / "malformed").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_vector_sets_are_present() -> None:
    assert len(VALID) >= 18 and len(MALFORMED) >= 21


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_vector_reencodes_byte_for_byte(path: Path) -> None:
    vector = load(path)
    data = bytes.fromhex(vector["hex"])
    msg = decode(data, vector["src"], vector["dst"])
    assert encode(msg, vector["src"], vector["dst"]) == data
    # Without addresses the checksum read is written back unchanged.
    assert encode(decode(data)) == data


@pytest.mark.parametrize("path", MALFORMED, ids=[p.stem for p in MALFORMED])
def test_malformed_vector_raises_protocol_error(path: Path) -> None:
    vector = load(path)
    with pytest.raises(ProtocolError) as raised:
        decode(bytes.fromhex(vector["hex"]), vector.get("src"), vector.get("dst"))
    assert raised.value.status == Status(vector["status"])
    assert raised.value.status.name == vector["status_name"]
    assert vector["error"] in raised.value.reason
    # RFC 6275 9.2: what the receiver does besides discarding.
    assert raised.value.reaction == vector["reaction"]
    assert raised.value.pointer == vector.get("pointer")
