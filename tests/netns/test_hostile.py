"""Hostile PBUs on the wire against a real LMA daemon (RFC 5213 5.3.1 checks).

Only the LMA daemon runs; the PBUs come from fake MAGs (pmipv6_lab/testbed/fake_mag.py:
a raw Mobility Header socket in a MAG namespace, bound to that MAG's address).
mn1 is registered from MAG1 first. Each case sends one crafted PBU and checks
the PBA status, that `pmip6ctl status` shows the binding cache as it was, and
that exactly `rejected.<STATUS>` (and `rejected`) went up by one.

MAG2 is built but left out of the policy's authorized MAGs: the unknown MAG.
The timestamp window is widened to 5 s (`protocol.timestamp_validity_window`) so
a loaded test host cannot turn a 157 case into a 156; the 135 case runs
against a second LMA with `use_timestamps: false`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pmipv6_lab.plan import LMA_ADDRESS, home_prefix, mn_mac, mn_nai, proxy_coa
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.fake_mag import FakeMag

MN1 = mn_nai(1)
MN1_LINK_LAYER = mn_mac(1).replace(":", "")


def valid(**changes) -> dict:
    spec = {
        "mn_id": MN1,
        "prefixes": [str(home_prefix(1))],
        "lifetime": 300,
        "link_layer": MN1_LINK_LAYER,
    }
    spec.update(changes)
    return spec


@dataclass
class Lab:
    domain: NamespaceDomain
    mags: dict[str, FakeMag]
    sequence: int = 1  # the next sequence number for mn1 from MAG1

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def status(self) -> dict:
        return self.domain.ctl("lma", "status")


def start_lab(tmp_path_factory, name: str, **options) -> tuple[Lab, Callable[[], None]]:
    domain = NamespaceDomain(tmp_path_factory.mktemp(name), mags=2, buffering=False, **options)
    mags: dict[str, FakeMag] = {}

    def teardown() -> None:
        for mag in mags.values():
            mag.close()
        domain.destroy()

    try:
        domain.build()
        domain.write_configs()
        domain.start("lma")
        for index in (1, 2):
            mags[f"mag{index}"] = FakeMag(domain, f"mag{index}", proxy_coa(index), LMA_ADDRESS)
        lab = Lab(domain, mags)
        pba = mags["mag1"].send(**valid(sequence=1))
        assert pba is not None and pba["status_name"] == "ACCEPTED", pba
        (entry,) = lab.status()["binding_cache"]
        assert entry["mn_id"] == MN1 and entry["proxy_coa"] == str(proxy_coa(1))
    except BaseException:
        teardown()
        raise
    return lab, teardown


@pytest.fixture(scope="module")
def timestamps(tmp_path_factory):
    lab, teardown = start_lab(
        tmp_path_factory,
        "hostile-ts",
        authorized_mags=[1],
        extra_protocol={"timestamp_validity_window": 5.0},
    )
    yield lab
    teardown()


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    lab, teardown = start_lab(
        tmp_path_factory,
        "hostile-seq",
        authorized_mags=[1],
        extra_protocol={"use_timestamps": False},
    )
    yield lab
    teardown()


@dataclass
class Case:
    status: int
    name: str
    # The hostile PBU, given the lab and the PBA of the accepted PBU sent just before
    # (a refresh from MAG1), if the case needs one.
    spec: Callable[[Lab, dict | None], dict]
    sender: str = "mag1"
    mode: str = "timestamps"
    accepted_first: bool = False
    expect: dict = field(default_factory=dict)


CASES = [
    Case(
        154,
        "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
        lambda lab, _: valid(sequence=lab.next_sequence()),
        sender="mag2",
    ),
    Case(
        153,
        "NOT_LMA_FOR_THIS_MOBILE_NODE",
        lambda lab, _: valid(mn_id="stranger@pmipv6.lab", sequence=lab.next_sequence()),
    ),
    Case(
        155,
        "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
        lambda lab, _: valid(prefixes=["2001:db8:1:99::/64"], sequence=lab.next_sequence()),
    ),
    Case(
        157,
        "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
        # The very timestamp the LMA accepted a moment ago: not later than it.
        lambda lab, accepted: valid(
            sequence=lab.next_sequence(), timestamp_raw=accepted["timestamp_raw"]
        ),
        accepted_first=True,
    ),
    Case(
        135,
        "SEQUENCE_NUMBER_OUT_OF_WINDOW",
        # The number the LMA accepted a moment ago again: not newer (mod 2^16).
        lambda lab, accepted: valid(sequence=accepted["sequence"], timestamp=None),
        mode="sequence",
        accepted_first=True,
        # RFC 6275 9.5.1: the PBA carries the last accepted sequence number.
        expect={"sequence": "accepted"},
    ),
    Case(
        158,
        "MISSING_HOME_NETWORK_PREFIX_OPTION",
        lambda lab, _: valid(prefixes=[], sequence=lab.next_sequence()),
    ),
    Case(
        160,
        "MISSING_MN_IDENTIFIER_OPTION",
        lambda lab, _: valid(mn_id=None, sequence=lab.next_sequence()),
    ),
    Case(
        161,
        "MISSING_HANDOFF_INDICATOR_OPTION",
        lambda lab, _: valid(handoff=None, sequence=lab.next_sequence()),
    ),
    Case(
        162,
        "MISSING_ACCESS_TECH_TYPE_OPTION",
        lambda lab, _: valid(att=None, sequence=lab.next_sequence()),
    ),
]


def cache_view(status: dict) -> list[dict]:
    """The binding cache without the countdown that changes on its own."""
    return sorted(
        ({k: v for k, v in e.items() if k != "remaining"} for e in status["binding_cache"]),
        key=lambda e: e["mn_id"],
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{c.status}-{c.name}" for c in CASES])
def test_hostile_pbu_is_rejected_counted_and_changes_nothing(case: Case, request):
    lab: Lab = request.getfixturevalue(case.mode)
    accepted = None
    if case.accepted_first:
        seq = lab.next_sequence()
        timestamp = "now" if case.mode == "timestamps" else None
        pba = lab.mags["mag1"].send(**valid(sequence=seq, timestamp=timestamp))
        assert pba is not None and pba["status_name"] == "ACCEPTED", pba
        accepted = {"sequence": seq, "timestamp_raw": pba["timestamp_raw"]}
        if case.mode == "timestamps":
            assert accepted["timestamp_raw"] is not None  # the LMA echoes the accepted one

    before = lab.status()
    spec = case.spec(lab, accepted)
    pba = lab.mags[case.sender].send(**spec)
    after = lab.status()

    assert pba is not None, "no PBA came back"
    assert (pba["status"], pba["status_name"]) == (case.status, case.name), pba
    assert pba["lifetime"] == 0
    if case.expect.get("sequence") == "accepted":
        assert pba["sequence"] == accepted["sequence"]
    else:
        assert pba["sequence"] == spec["sequence"]
    assert cache_view(after) == cache_view(before)
    counters_before, counters_after = before["counters"], after["counters"]
    key = f"rejected.{case.name}"
    assert counters_after.get(key, 0) == counters_before.get(key, 0) + 1
    assert counters_after["rejected"] == counters_before.get("rejected", 0) + 1
    assert counters_after.get("accepted") == counters_before.get("accepted")
    changed = {
        k
        for k in set(counters_before) | set(counters_after)
        if counters_before.get(k) != counters_after.get(k)
    }
    assert changed == {key, "rejected", "pbu_received"}, changed


def test_the_binding_still_works_after_the_hostile_pbus(timestamps):
    """After every hostile case the legitimate MAG can still refresh mn1's binding."""
    time.sleep(0.01)  # a timestamp strictly later than any sent before
    pba = timestamps.mags["mag1"].send(**valid(sequence=timestamps.next_sequence()))
    assert pba is not None and pba["status_name"] == "ACCEPTED", pba
    (entry,) = timestamps.status()["binding_cache"]
    assert entry["proxy_coa"] == str(proxy_coa(1)) and entry["state"] == "active"
