"""Lossless handover: real daemons, real NFQUEUE, a real probe stream (root)."""

import pytest

from pmipv6_lab.plan import mn_nai
from pmipv6_lab.testbed.domain import PYTHON
from pmipv6_lab.testbed.traffic import handover_under_traffic

MN = mn_nai(1)


@pytest.fixture
def buffered(domain_factory):
    domain = domain_factory(buffering=True)
    domain.start_all()
    domain.wait_for(domain.mn_address, "the MN's SLAAC address", timeout=20)
    return domain


def last_buffer(domain) -> dict:
    buffers = domain.ctl("lma", "status")["buffers"]
    return buffers["mns"].get(MN) or buffers["last_closed"][MN]


def held_prefixes(domain, node="lma") -> list[str]:
    rules = domain.exec(node, "ip6tables", "-t", "mangle", "-S", "PMIP6-BUFFER").stdout
    return [line for line in rules.splitlines() if line.startswith("-A PMIP6-BUFFER -d")]


def test_buffered_handover_at_1000pps_with_a_300ms_gap_loses_nothing(buffered, tmp_path):
    # MAG1 hears of the detach before the link goes (an access point's
    # disassociation event), so nothing is left inside the link when it breaks.
    report = handover_under_traffic(buffered, tmp_path / "run", rate=1000, gap=0.3, announced=True)
    assert report.sent >= 3000
    assert (report.lost, report.reordered, report.duplicates) == (0, 0, 0), report.to_text()
    assert report.longest_interruption_ms >= 300  # the gap was really there
    stats = last_buffer(buffered)
    assert stats["peak"] >= 200 and stats["dropped_total"] == 0
    # The in-flight window: packets already on their way to MAG1 came back from it.
    assert stats["handed_back"] >= 1
    buffered.wait_for(lambda: held_prefixes(buffered) == [], "the buffer rule to go", timeout=5)


def test_an_abrupt_link_break_loses_at_most_what_died_in_the_link(buffered, tmp_path):
    # No warning: MAG1 learns of the detach from its carrier. A packet already
    # inside MAG1's access interface at the instant the link breaks is dropped
    # by the kernel there (TX dropped; rarely at this rate). Nothing else may be
    # lost (docs/buffering.md, "The link-break window").
    drops_before = buffered.access_link_drops("mag1")
    report = handover_under_traffic(buffered, tmp_path / "run", rate=1000, gap=0.3)
    assert (report.reordered, report.duplicates) == (0, 0), report.to_text()
    assert report.lost <= buffered.access_link_drops("mag1") - drops_before, report.to_text()
    assert report.lost <= 2, report.to_text()
    stats = last_buffer(buffered)
    assert stats["peak"] >= 200 and stats["dropped_total"] == 0
    assert stats["handed_back"] >= 1


def test_no_buffer_rule_outside_a_handover(buffered):
    assert held_prefixes(buffered) == []
    status = buffered.ctl("lma", "status")
    assert status["buffers"]["mns"] == {}


def test_switched_off_at_run_time_the_same_handover_loses_packets(buffered, tmp_path):
    for node in ("lma", "mag1", "mag2"):
        assert buffered.ctl(node, "buffering", "off") == {"buffering": False}
    report = handover_under_traffic(buffered, tmp_path / "run", rate=1000, gap=0.3)
    assert report.lost >= 250, report.to_text()  # about 300 ms worth of a 1000 pps stream
    assert "mns" in buffered.ctl("lma", "status")["buffers"]
    assert held_prefixes(buffered) == []


def test_switched_on_at_run_time_after_the_mn_attached_a_handover_loses_nothing(
    domain_factory, tmp_path
):
    # Found in the lab: an MN registered while buffering was off had no hold
    # route at its MAG, so switching buffering on before its handover lost the
    # in-flight packets (and handed back none).
    domain = domain_factory(buffering=False)
    domain.start_all()
    domain.wait_for(domain.mn_address, "the MN's SLAAC address", timeout=20)
    for node in ("lma", "mag1", "mag2"):
        assert domain.ctl(node, "buffering", "on") == {"buffering": True}
    report = handover_under_traffic(domain, tmp_path / "run", rate=1000, gap=0.3, announced=True)
    assert (report.lost, report.reordered, report.duplicates) == (0, 0, 0), report.to_text()
    assert last_buffer(domain)["handed_back"] >= 1


def test_a_lost_deregistration_pbu_still_loses_nothing(buffered, tmp_path):
    # MAG1's next Mobility Header message (its de-registration PBU) is dropped
    # once, so the LMA hears of the detachment only by retransmission.
    buffered.exec(
        "mag1", "ip6tables", "-A", "OUTPUT", "-p", "135", "-m", "statistic",
        "--mode", "nth", "--every", "1000000", "--packet", "0", "-j", "DROP",
    )  # fmt: skip
    report = handover_under_traffic(
        buffered, tmp_path / "run", rate=1000, gap=0.3, tail=2.5, announced=True
    )
    assert (report.lost, report.duplicates) == (0, 0), report.to_text()
    assert buffered.ctl("mag1", "status")["counters"]["retransmissions"] >= 1


def test_a_gap_longer_than_the_buffer_drops_what_is_over_the_limit_in_order(
    domain_factory, tmp_path
):
    domain = domain_factory(buffering=True, extra_lma={"buffering": {"max_packets_per_mn": 500}})
    domain.start_all()
    domain.wait_for(domain.mn_address, "the MN's SLAAC address", timeout=20)
    report = handover_under_traffic(domain, tmp_path / "run", rate=2000, gap=0.6, announced=True)
    stats = last_buffer(domain)
    assert stats["peak"] == 500
    assert stats["dropped"]["per_mn_packets"] > 0
    # Every loss is one the buffer counted.
    assert report.lost == stats["dropped_total"], (report.to_text(), stats)
    assert (report.reordered, report.duplicates) == (0, 0)


def test_a_handover_without_traffic_leaves_no_buffer_rule(buffered):
    # Found in the lab: with no packet ever queued, nothing woke the daemon to
    # close the empty buffer, and its rule stayed until the next packet.
    buffered.handover(1, 2, gap=0.3)
    buffered.wait_for(lambda: held_prefixes(buffered) == [], "the idle buffer to close", timeout=3)
    assert MN in buffered.ctl("lma", "status")["buffers"]["last_closed"]


def test_a_detach_is_refused_on_a_link_that_is_not_an_access_link_and_by_the_lma(buffered):
    def detach(node: str, interface: str):
        return buffered.exec(
            node, PYTHON, "-m", "pmip6d.cli.pmip6ctl", "--socket",
            str(buffered.control_socket(node)), "detach", interface, check=False,
        )  # fmt: skip

    refused = detach("mag1", "eth1")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        'pmip6ctl: "detach" needs "interface": one of the access links (eth2)'
    )
    refused = detach("lma", "eth2")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "pmip6ctl: the lma daemon has no command 'detach'"
    assert buffered.ctl("mag1", "status")["counters"].get("detachments", 0) == 0
    cache = buffered.ctl("lma", "status")["binding_cache"]
    assert [(e["mn_id"], e["state"]) for e in cache] == [(MN, "active")]
