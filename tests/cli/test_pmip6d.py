"""`pmip6d decode` / `pmip6d encode`: golden vectors as JSON, byte-exact round trip,
and one-line errors with exit status 2 for every kind of bad input."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pmip6d.cli.pmip6d import main

VECTORS = Path(__file__).parents[1] / "vectors"
VALID = sorted((VECTORS / "valid").glob("*.json"))
MALFORMED = sorted((VECTORS / "malformed").glob("*.json"))
PBU = json.loads((VECTORS / "valid" / "pbu_initial.json").read_text())


def run(monkeypatch, capsys, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def addresses(vector: dict) -> list[str]:
    return ["--src", vector["src"], "--dst", vector["dst"]] if "src" in vector else []


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_decode_prints_the_expected_json(path: Path, monkeypatch, capsys) -> None:
    vector = json.loads(path.read_text())
    status, out, err = run(monkeypatch, capsys, ["decode", vector["hex"], *addresses(vector)])
    assert (status, err) == (0, "")
    assert json.loads(out) == vector["decoded"]


@pytest.mark.parametrize("with_addresses", [False, True])
@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_encode_reproduces_the_input(path: Path, with_addresses: bool, monkeypatch, capsys):
    vector = json.loads(path.read_text())
    extra = addresses(vector) if with_addresses else []
    _, decoded, _ = run(monkeypatch, capsys, ["decode", vector["hex"]])
    status, out, err = run(monkeypatch, capsys, ["encode", *extra], stdin=decoded)
    assert (status, err) == (0, "")
    assert out.strip() == vector["hex"]


def test_decode_reads_stdin_and_tolerates_spacing(monkeypatch, capsys) -> None:
    spaced = " ".join(PBU["hex"][i : i + 4] for i in range(0, len(PBU["hex"]), 4))
    status, out, _ = run(monkeypatch, capsys, ["decode"], stdin=spaced + "\n")
    assert status == 0 and json.loads(out) == PBU["decoded"]


def test_encode_accepts_timestamp_seconds_alone(monkeypatch, capsys) -> None:
    form = json.loads(json.dumps(PBU["decoded"]))
    stamp = next(o for o in form["options"] if o["type"] == "Timestamp")
    del stamp["value"]
    status, out, _ = run(monkeypatch, capsys, ["encode"], stdin=json.dumps(form))
    assert status == 0 and out.strip() == PBU["hex"]


def test_encode_computes_the_checksum_from_addresses(monkeypatch, capsys) -> None:
    form = dict(PBU["decoded"], checksum=0)
    status, out, _ = run(monkeypatch, capsys, ["encode", *addresses(PBU)], stdin=json.dumps(form))
    assert status == 0 and out.strip() == PBU["hex"]


def assert_one_line_error(status: int, out: str, err: str, fragment: str) -> None:
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("pmip6d: error: ")
    assert fragment in err


@pytest.mark.parametrize("path", MALFORMED, ids=[p.stem for p in MALFORMED])
def test_malformed_vector_is_a_one_line_error(path: Path, monkeypatch, capsys) -> None:
    vector = json.loads(path.read_text())
    # The empty vector can only travel on stdin.
    given_hex = [vector["hex"]] if vector["hex"] else []
    argv = ["decode", *given_hex, *addresses(vector)]
    assert_one_line_error(*run(monkeypatch, capsys, argv), vector["error"])


def edited(**changes) -> str:
    form = json.loads(json.dumps(PBU["decoded"]))
    for key, value in changes.items():
        form[key] = value
    return json.dumps(form)


def edited_option(index: int, **changes) -> str:
    form = json.loads(json.dumps(PBU["decoded"]))
    form["options"][index].update(changes)
    return json.dumps(form)


BAD_JSON = {
    "not_json": ("{", "not JSON"),
    "not_an_object": ("[1, 2]", "message needs"),
    "unknown_message": (edited(message="HomeTestInit"), "message needs"),
    "lifetime_not_multiple_of_4": (edited(lifetime=10), "lifetime 10 s"),
    "lifetime_too_long": (edited(lifetime=262144), "lifetime 262144 s"),
    "sequence_too_big": (edited(sequence=65536), "sequence 65536"),
    "sequence_is_text": (edited(sequence="1"), "expected int"),
    "flag_is_number": (edited(flags={"ack": 1}), "expected bool"),
    "unknown_flag": (edited(flags={"fast": True}), "flags must be"),
    "unknown_key": (edited(colour="blue"), "unknown keys ['colour']"),
    "mh_type_disagrees": (edited(mh_type=6), "mh_type 6 disagrees"),
    "options_not_list": (edited(options={}), "options must be a list"),
    "unknown_option": (edited_option(0, type="Pad7"), "option needs a type"),
    "bad_prefix": (edited_option(1, prefix="2001:db8::1/64"), "host bits set"),
    "prefix_not_text": (edited_option(1, prefix=64), "expected str"),
    "bad_link_layer_hex": (edited_option(4, link_layer_id="zz"), "hex octets"),
    "handoff_too_big": (edited_option(2, value=300), "does not fit in one octet"),
    "code_disagrees": (edited_option(2, code=24), "code 24 disagrees"),
    "seconds_disagree": (edited_option(6, seconds=1.0), "seconds 1.0 disagrees"),
    "seconds_not_number": (
        json.dumps(
            dict(PBU["decoded"], options=[{"type": "Timestamp", "seconds": "soon"}]),
        ),
        "expected a number",
    ),
    "checksum_too_big": (edited(checksum=70000), "checksum 70000"),
}


@pytest.mark.parametrize("case", BAD_JSON, ids=list(BAD_JSON))
def test_bad_json_is_a_one_line_error(case: str, monkeypatch, capsys) -> None:
    stdin, fragment = BAD_JSON[case]
    assert_one_line_error(*run(monkeypatch, capsys, ["encode"], stdin=stdin), fragment)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["decode", "3b0g"], "not hex octets"),
        (["decode", "abc"], "not hex octets"),
        (["decode", PBU["hex"], "--src", "2001:db8::2"], "both --src and --dst"),
        (["decode", PBU["hex"], "--src", "nonsense", "--dst", "::1"], "invalid IPv6Address"),
        (["decode", PBU["hex"], "--src", "2001:db8::7", "--dst", PBU["dst"]], "checksum"),
        (["frobnicate"], "invalid choice"),
        ([], "give a command"),
    ],
)
def test_bad_arguments_are_a_one_line_error(argv, fragment, monkeypatch, capsys) -> None:
    assert_one_line_error(*run(monkeypatch, capsys, argv), fragment)


def test_console_entry_point_reports_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pmip6d.cli.pmip6d", "decode", "3b00050000000001"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "pmip6d: error: BindingUpdate of 8 octets is truncated (status 128 REASON_UNSPECIFIED)\n"
    )
