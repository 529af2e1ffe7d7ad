"""RFC 5213 end to end with real daemons in network namespaces."""

import signal
import subprocess
import time

from pmipv6_lab.plan import home_prefix, proxy_coa


def binding(domain, mn="mn1@pmipv6.lab"):
    entries = domain.ctl("lma", "status")["binding_cache"]
    return next((e for e in entries if e["mn_id"] == mn), None)


def ping(domain, node, address, count=3):
    return domain.exec(
        node, "ping", "-c", str(count), "-i", "0.2", "-W", "1", str(address), check=False
    )


def test_attach_gives_the_mn_its_home_prefix_and_the_cn_reaches_it(domain):
    address = domain.mn_address()
    assert address in home_prefix(1)
    entry = binding(domain)
    assert entry["state"] == "active"
    assert entry["proxy_coa"] == str(proxy_coa(1))
    assert entry["prefixes"] == [str(home_prefix(1))]
    assert ping(domain, "cn", address).returncode == 0
    bul = domain.ctl("mag1", "status")["binding_update_list"]
    assert [e["mn_id"] for e in bul] == ["mn1@pmipv6.lab"]


def test_handover_keeps_the_address_and_moves_the_binding(domain):
    before = domain.mn_address()
    domain.handover(1, 2, gap=0.3)
    domain.wait_for(
        lambda: (binding(domain) or {}).get("proxy_coa") == str(proxy_coa(2)),
        "the binding to move to MAG2",
    )
    assert domain.mn_address() == before
    assert ping(domain, "cn", before).returncode == 0
    assert domain.ctl("mag1", "status")["binding_update_list"] == []
    counters = domain.ctl("lma", "status")["counters"]
    assert counters["accepted"] >= 2


def test_deregistration_without_reattach_deletes_the_binding_after_the_delay(domain_factory):
    d = domain_factory(buffering=False, extra_protocol={"min_delay_before_bce_delete": 1.0})
    d.start_all()
    d.wait_for(d.mn_address, "MN address", timeout=20)
    d.detach(1)
    d.wait_for(lambda: (binding(d) or {}).get("state") not in (None, "active"), "de-registration")
    d.wait_for(lambda: binding(d) is None, "BCE deletion after MinDelayBeforeBCEDelete", timeout=5)


def test_binding_expires_when_the_mag_stops_refreshing(domain_factory):
    d = domain_factory(buffering=False, extra_mag={"requested_lifetime": 4})
    d.start_all()
    d.wait_for(d.mn_address, "MN address", timeout=20)
    assert binding(d)["lifetime"] == 4
    d.stop("mag1", signal.SIGKILL)
    d.wait_for(lambda: binding(d) is None, "lifetime expiry", timeout=10)
    assert d.ctl("lma", "status")["counters"].get("expired") == 1


def test_refresh_keeps_a_short_binding_alive(domain_factory):
    d = domain_factory(buffering=False, extra_mag={"requested_lifetime": 4})
    d.start_all()
    d.wait_for(d.mn_address, "MN address", timeout=20)
    time.sleep(6)
    entry = binding(d)
    assert entry is not None and entry["state"] == "active" and entry["last_sequence"] >= 2


def test_unauthorized_mag_is_rejected_and_the_cache_unchanged(domain_factory):
    d = domain_factory(buffering=False, authorized_mags=[2])
    d.start_all()
    d.wait_for(
        lambda: d.ctl("lma", "status")["counters"].get("rejected.MAG_NOT_AUTHORIZED_FOR_PROXY_REG"),
        "a 154 reject",
        timeout=20,
    )
    assert binding(d) is None
    events = [e["event"] for e in d.log_events("mag1")]
    assert any("reject" in name for name in events), events


def test_restart_removes_leftovers_and_the_mag_registers_again(domain):
    domain.stop("mag1", signal.SIGKILL)
    # A crashed MAG leaves its rules behind ...
    rules = domain.ip("mag1", "-6", "rule").stdout
    assert "1010" in rules or "1000" in rules
    domain.start("mag1")
    # The restarted MAG learns the MN from its next Router Solicitation.
    domain.solicit()
    domain.wait_for(
        lambda: (
            [e["state"] for e in domain.ctl("mag1", "status")["binding_update_list"]]
            == ["registered"]
        ),
        "re-registration after restart",
        timeout=20,
    )
    # ... and the restarted one owns exactly one set again.
    rules = domain.ip("mag1", "-6", "rule").stdout.splitlines()
    assert sum("lookup 1050" in r for r in rules) <= 1
    assert ping(domain, "cn", domain.mn_address()).returncode == 0


def test_clean_shutdown_leaves_nothing_behind(domain):
    for node in ("mag1", "mag2", "lma"):
        assert domain.stop(node) == 0
        rules = domain.ip(node, "-6", "rule").stdout
        routes = domain.ip(node, "-6", "route", "show", "table", "all", "proto", "157").stdout
        assert routes.strip() == "", routes
        assert all(f"{p}:" not in rules for p in range(1000, 1100)), rules
        assert "0:\tfrom all lookup local" in rules


def test_signaling_on_the_wire_is_rfc5213_as_tshark_reads_it(domain_factory, tmp_path):
    d = domain_factory(buffering=False)
    capture = tmp_path / "core.pcap"
    tcpdump = d.popen(
        "lma",
        "tcpdump",
        "-Z",
        "root",
        "-c",
        "8",
        "-i",
        "eth2",
        "-w",
        str(capture),
        "-U",
        "ip6 proto 135",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    try:
        d.start_all()
        d.wait_for(d.mn_address, "MN address", timeout=20)
        d.detach(1)
        d.wait_for(
            lambda: any(e["event"] == "deregistered" for e in d.log_events("mag1")),
            "the de-registration PBA",
        )
        # tcpdump exits by itself after the eight messages (-c 8).
        tcpdump.wait(10)
    finally:
        if tcpdump.poll() is None:
            tcpdump.terminate()
            tcpdump.wait(5)
    fields = [
        "mip6.mhtype",
        "mip6.bu.p_flag",
        "mip6.bu.a_flag",
        "mip6.ba.status",
        "mip6.mnid.identifier",
        "mip6.nemo.mnp.mnp",
        "mip6.nemo.mnp.pfl",
        "mip6.hi",
        "mip6.att",
        "mip6.timestamp_tmp",
        "mip6.bu.lifetime",
        "mip6.ba.lifetime",
    ]
    command = ["tshark", "-r", str(capture), "-Y", "mipv6", "-T", "fields", "-E", "separator=|"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    every = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    # Four heartbeats (RFC 5847): the LMA's and MAG1's start-up announcements of
    # their Restart Counters, MAG1's request at its start and the LMA's response.
    assert [r["mip6.mhtype"] for r in every].count("13") == 4, every
    rows = [r for r in every if r["mip6.mhtype"] != "13"]
    # Registration PBU, its PBA, de-registration PBU, its PBA: in that order.
    assert [r["mip6.mhtype"] for r in rows] == ["5", "6", "5", "6"], rows
    for row in rows:
        assert row["mip6.mnid.identifier"] == "mn1@pmipv6.lab"
        assert f"{row['mip6.nemo.mnp.mnp']}/{row['mip6.nemo.mnp.pfl']}" == str(home_prefix(1))
        assert row["mip6.hi"] and row["mip6.att"] == "3" and row["mip6.timestamp_tmp"]
    pbu, pba, dereg, dereg_pba = rows
    assert pbu["mip6.bu.p_flag"] == pbu["mip6.bu.a_flag"] == "1"
    assert int(pbu["mip6.bu.lifetime"]) * 4 == 300  # 4-second units on the wire
    assert pba["mip6.ba.status"] == "0" and int(pba["mip6.ba.lifetime"]) * 4 == 300
    assert dereg["mip6.bu.lifetime"] == "0" and dereg_pba["mip6.ba.status"] == "0"
