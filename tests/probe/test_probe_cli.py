"""pmip6-probe as a user runs it: subprocesses, files, exit codes."""

import json
import socket
import subprocess
import sys

import pytest

from pmip6d.probe.logs import read_receive_log, read_send_log

PROBE = [sys.executable, "-m", "pmip6d.cli.probe"]
TIMEOUT_S = 60


def run_probe(*args, **kwargs):
    return subprocess.run(
        [*PROBE, *args], capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs
    )


def free_udp_port(host="::1"):
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_receiver(out, port, *extra):
    process = subprocess.Popen(
        [*PROBE, "recv", "--bind", "::1", "--port", str(port), "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The receiver is ready once its port is taken.
    for _ in range(200):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                probe.bind(("::1", port))
        except OSError:
            return process
        if process.poll() is not None:
            break
        subprocess.run(["sleep", "0.02"], check=True)
    process.kill()
    raise AssertionError(f"receiver did not bind: {process.communicate()}")


def test_send_recv_report_end_to_end(tmp_path):
    sent_path, received_path = tmp_path / "sent.csv", tmp_path / "received.csv"
    timeline_path = tmp_path / "timeline.csv"
    port = free_udp_port()
    receiver = start_receiver(received_path, port, "--idle-timeout", "0.5", "--duration", "30")
    send = run_probe(
        "send", "--dst", "::1", "--port", str(port), "--rate", "2000", "--duration", "0.25",
        "--run-id", "77", "--log", str(sent_path),
    )  # fmt: skip
    recv_out, recv_err = receiver.communicate(timeout=TIMEOUT_S)

    assert send.returncode == 0, send.stderr
    assert receiver.returncode == 0, recv_err
    send_summary = json.loads(send.stdout)
    assert send_summary["run_id"] == 77
    assert send_summary["attempted"] == 500
    assert json.loads(recv_out)["run_id"] == 77
    assert read_send_log(sent_path).run_id == 77
    assert read_receive_log(received_path).run_id == 77

    report = run_probe(
        "report", "--sent", str(sent_path), "--received", str(received_path),
        "--json", "--timeline", str(timeline_path),
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    result = json.loads(report.stdout)
    assert result["sent"] == 500
    assert result["received"] + result["lost"] == 500
    assert result["run_id"] == 77
    timeline = timeline_path.read_text().splitlines()
    assert timeline[0] == "seq,send_ms,recv_ms,latency_ms,status"
    assert len(timeline) == 1 + 500

    text = run_probe("report", "--sent", str(sent_path), "--received", str(received_path))
    assert text.returncode == 0
    assert "sent        500" in text.stdout


def test_receiver_writes_its_log_when_terminated(tmp_path):
    out = tmp_path / "received.csv"
    receiver = start_receiver(out, free_udp_port())
    receiver.terminate()
    stdout, stderr = receiver.communicate(timeout=TIMEOUT_S)
    assert receiver.returncode == 0, stderr
    assert json.loads(stdout)["stop_reason"] == "stopped"
    assert len(read_receive_log(out)) == 0


def _valid_logs(tmp_path):
    sent = tmp_path / "sent.csv"
    sent.write_text('#pmip6-probe send {"format": 1, "run_id": 1}\nseq,send_ns,error\n0,5,\n')
    received = tmp_path / "received.csv"
    received.write_text('#pmip6-probe recv {"format": 1, "run_id": 2}\nseq,send_ns,recv_ns\n')
    return sent, received


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "required"),
        (["fly"], "invalid choice"),
        (["send", "--port", "9", "--rate", "10", "--duration", "1"], "--dst"),
        (["send", "--dst", "::1", "--port", "0", "--rate", "1", "--duration", "1"], "port"),
        (["send", "--dst", "::1", "--port", "9", "--rate", "0", "--duration", "1"], "rate"),
        (["send", "--dst", "::1", "--port", "9", "--rate", "x", "--duration", "1"], "rate"),
        (["send", "--dst", "::1", "--port", "9", "--rate", "nan", "--duration", "1"], "rate"),
        (["send", "--dst", "::1", "--port", "9", "--rate", "9", "--duration", "-1"], "duration"),
        (["send", "--dst", "host", "--port", "9", "--rate", "9", "--duration", "1"], "address"),
        (["send", "--dst", "::1", "--port", "9", "--rate", "9", "--duration", "1",
          "--size", "4"], "size"),
        (
            ["send", "--dst", "::1", "--port", "9", "--rate", "9", "--duration", "1",
             "--log", "/nonexistent/dir/sent.csv"],
            "cannot write",
        ),
        (["recv", "--bind", "::1", "--port", "9"], "--out"),
        (["recv", "--bind", "::1", "--port", "9", "--out", "x", "--idle-timeout", "0"], "idle"),
        (["report", "--sent", "/nonexistent", "--received", "/nonexistent"], "cannot read"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_error_and_exit_2(args, message):
    result = run_probe(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pmip6-probe: error: ")
    assert message in lines[0]


def test_report_of_mismatched_runs_is_a_one_line_error(tmp_path):
    sent, received = _valid_logs(tmp_path)
    result = run_probe("report", "--sent", str(sent), "--received", str(received))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pmip6-probe: error: receive log is for run 2, send log for run 1"
    )


def test_report_of_a_malformed_log_is_a_one_line_error(tmp_path):
    sent, received = _valid_logs(tmp_path)
    received.write_text("garbage\n")
    result = run_probe("report", "--sent", str(sent), "--received", str(received))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "not a pmip6-probe recv log" in result.stderr


def test_recv_on_a_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as taken:
        taken.bind(("::1", 0))
        port = taken.getsockname()[1]
        result = run_probe(
            "recv", "--bind", "::1", "--port", str(port), "--out", str(tmp_path / "r.csv")
        )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "cannot bind" in result.stderr


@pytest.mark.root
def test_send_without_a_usable_route_records_errors_and_finishes(tmp_path):
    # In a fresh network namespace loopback is down, so every send to ::1 fails,
    # as sends do while a mobile node's link is gone.
    log = tmp_path / "sent.csv"
    result = subprocess.run(
        ["unshare", "--net", *PROBE, "send", "--dst", "::1", "--port", "9",
         "--rate", "1000", "--duration", "0.02", "--log", str(log)],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["attempted"], summary["send_errors"], summary["sent"]) == (20, 20, 0)
    sent = read_send_log(log)
    assert list(sent.seqs) == list(range(20))
    assert all(err != 0 for err in sent.errors)
