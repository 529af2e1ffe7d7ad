import errno
import json

import pytest

from pmip6d.probe.analysis import RunMismatch, analyse, percentile, to_ranges
from pmip6d.probe.logs import ReceiveLog, SendLog

MS = 1_000_000
RUN = 42


def sent_log(count, interval_ns=MS, errors=None):
    errors = errors or {}
    return SendLog.from_rows(RUN, [(s, s * interval_ns, errors.get(s, 0)) for s in range(count)])


def arrivals(seqs, latency_ns=MS // 2, interval_ns=MS, extra_delay=None):
    """Arrival rows for ``seqs`` in the given order; recv time = send time + latency (+ extra)."""
    extra_delay = extra_delay or {}
    rows = [
        (s, s * interval_ns, s * interval_ns + latency_ns + extra_delay.get(s, 0)) for s in seqs
    ]
    return ReceiveLog.from_rows(RUN, rows)


def test_everything_arrives_in_order():
    report = analyse(sent_log(100), arrivals(range(100)))
    assert (report.sent, report.received, report.lost) == (100, 100, 0)
    assert report.lost_ranges == []
    assert (report.duplicates, report.reordered, report.unexpected) == (0, 0, 0)
    assert report.longest_interruption_ms == 1.0
    assert report.latency_p50_ms == report.latency_max_ms == 0.5


def test_lost_ranges_are_inclusive_and_counted():
    kept = [s for s in range(1000) if not (100 <= s <= 199 or s in (500, 998, 999))]
    report = analyse(sent_log(1000), arrivals(kept))
    assert report.lost == 100 + 1 + 2
    assert report.lost_ranges == [[100, 199], [500, 500], [998, 999]]
    assert report.received + report.lost == report.sent
    assert report.loss_ratio == pytest.approx(103 / 1000)


def test_handover_gap_shows_as_longest_interruption_between_its_neighbours():
    # Arrivals stop after seq 299 and the stream resumes with seq 600, 300 ms later.
    kept = list(range(300)) + list(range(600, 700))
    report = analyse(sent_log(700), arrivals(kept))
    assert report.longest_interruption_ms == pytest.approx(301.0)
    assert (report.interruption_after_seq, report.interruption_resumed_seq) == (299, 600)
    assert report.lost_ranges == [[300, 599]]


def test_buffered_packets_arrive_late_but_in_order_without_loss():
    # seq 300..599 are held 300 ms by the LMA and then released back to back.
    held = {s: 300 * MS - (s - 300) * MS for s in range(300, 600)}
    report = analyse(sent_log(700), arrivals(range(700), extra_delay=held))
    assert report.lost == 0
    assert report.reordered == 0
    assert report.latency_max_ms == pytest.approx(300.5)
    assert report.latency_p50_ms == pytest.approx(0.5)


def test_nothing_received():
    report = analyse(sent_log(10), ReceiveLog(run_id=None))
    assert (report.sent, report.received, report.lost) == (10, 0, 10)
    assert report.lost_ranges == [[0, 9]]
    assert report.longest_interruption_ms is None
    assert report.latency_p50_ms is None
    assert json.loads(report.to_json())["lost"] == 10


def test_everything_duplicated():
    report = analyse(sent_log(50), arrivals([s for s in range(50) for _ in (0, 1)]))
    assert report.received == 50
    assert report.duplicates == 50
    assert report.reordered == 0
    assert report.lost == 0


def test_reordered_counts_first_arrivals_below_the_highest_seen():
    report = analyse(sent_log(6), arrivals([0, 3, 1, 2, 5, 4, 4]))
    assert report.reordered == 3
    assert report.duplicates == 1
    assert report.lost == 0


def test_failed_sends_are_not_sent_rather_than_lost():
    failures = {s: errno.ENETUNREACH for s in range(10, 20)} | {30: errno.ENOBUFS}
    kept = [s for s in range(40) if s not in failures]
    report = analyse(sent_log(40, errors=failures), arrivals(kept))
    assert report.sent == 29
    assert report.lost == 0
    assert report.not_sent == 11
    assert report.not_sent_ranges == [[10, 19], [30, 30]]
    assert report.not_sent_errors == {"ENETUNREACH": 10, "ENOBUFS": 1}


def test_arrivals_the_send_log_does_not_list_are_unexpected():
    report = analyse(sent_log(5), arrivals([0, 1, 2, 3, 4, 7]))
    assert report.unexpected == 1
    assert report.received == 5


def test_large_64_bit_sequence_numbers():
    base = 2**63
    sent = SendLog.from_rows(RUN, [(base + i, i * MS) for i in range(5)])
    received = ReceiveLog.from_rows(RUN, [(base + i, i * MS, i * MS + 1) for i in (0, 1, 4)])
    assert analyse(sent, received).lost_ranges == [[base + 2, base + 3]]


def test_receive_log_of_another_run_is_refused():
    with pytest.raises(RunMismatch, match="run 7"):
        analyse(sent_log(3), ReceiveLog.from_rows(7, [(0, 0, 1)]))


def test_empty_send_log():
    report = analyse(SendLog(run_id=RUN), ReceiveLog(run_id=None))
    assert (report.sent, report.lost, report.first_send_ns) == (0, 0, None)
    assert report.loss_ratio == 0.0


def test_text_report_lists_loss_ranges():
    text = analyse(sent_log(10), arrivals([0, 1, 5, 6, 7, 8, 9])).to_text()
    assert "lost        3 (30.000%) 2-4" in text


def test_to_ranges():
    assert to_ranges([]) == []
    assert to_ranges([7, 1, 2, 3, 3]) == [[1, 3], [7, 7]]


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([5], 0.99) == 5
