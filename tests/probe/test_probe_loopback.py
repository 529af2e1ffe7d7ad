"""Real sender and receiver on loopback (::1, 127.0.0.1), in-process."""

import socket
import threading

import pytest

from pmip6d.probe.analysis import analyse
from pmip6d.probe.packet import MAX_SIZE, decode, encode
from pmip6d.probe.receiver import Receiver
from pmip6d.probe.sender import Sender

# Only a safety net so a broken test ends; the runs themselves last well under it.
JOIN_TIMEOUT_S = 30


class ReceiverThread:
    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.log = None
        receiver.open()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.log = self.receiver.run()

    def join(self):
        self._thread.join(JOIN_TIMEOUT_S)
        assert not self._thread.is_alive(), "receiver did not stop"
        return self.log


class DroppingRelay:
    """Forwards probe datagrams to ``port`` except the sequence numbers in ``drop``."""

    def __init__(self, host: str, port: int, drop: range):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.target = (host, port)
        self.drop = drop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as out:
            while not self._stop.is_set():
                try:
                    data = self.sock.recv(MAX_SIZE)
                except TimeoutError:
                    continue
                if decode(data).seq not in self.drop:
                    out.sendto(data, self.target)

    def close(self):
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT_S)
        self.sock.close()


@pytest.mark.parametrize("host", ["::1", "127.0.0.1"])
def test_stream_on_loopback_is_accounted_for(host):
    receiving = ReceiverThread(Receiver(host, 0, idle_timeout=0.5, duration=20))
    sent = Sender(host, receiving.receiver.port, rate=2000, duration=0.5, size=100).run()
    received = receiving.join()

    report = analyse(sent, received)
    assert len(sent) == 1000
    assert report.sent == 1000
    assert report.not_sent == 0
    assert report.received + report.lost == report.sent
    assert report.unexpected == 0
    assert report.duplicates == 0
    assert sorted(set(received.seqs)) == [s for s in range(1000) if s in set(received.seqs)]
    assert received.summary["stop_reason"] == "idle"
    assert received.run_id == sent.run_id
    # Sender and receiver share the clock: a datagram cannot arrive before it was sent.
    assert all(r >= s for _, s, r in received.rows())


def test_dropped_range_is_reported_as_one_loss_range():
    receiving = ReceiverThread(Receiver("::1", 0, idle_timeout=0.5, duration=20))
    relay = DroppingRelay("::1", receiving.receiver.port, drop=range(100, 400))
    try:
        sent = Sender("::1", relay.port, rate=2000, count=600, duration=1).run()
        received = receiving.join()
    finally:
        relay.close()

    report = analyse(sent, received)
    assert report.sent == 600
    assert report.lost_ranges == [[100, 399]]
    assert report.received == 300
    # Where the longest interruption falls is checked on synthetic runs in
    # test_probe_analysis: here it depends on how the relay thread is scheduled.


def test_receiver_ignores_other_runs_and_garbage():
    receiving = ReceiverThread(Receiver("::1", 0, idle_timeout=0.3, duration=20, run_id=11))
    target = ("::1", receiving.receiver.port)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.sendto(encode(run_id=99, seq=0, send_ns=1), target)
        sock.sendto(b"not a probe datagram", target)
        sock.sendto(encode(run_id=11, seq=5, send_ns=2), target)
    received = receiving.join()

    assert list(received.seqs) == [5]
    assert received.summary["foreign"] == 1
    assert received.summary["malformed"] == 1
    assert received.summary["kernel_drops"] in (0, None)


def test_receiver_locks_onto_the_first_run_it_sees():
    receiving = ReceiverThread(Receiver("::1", 0, idle_timeout=0.3, duration=20))
    target = ("::1", receiving.receiver.port)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.sendto(encode(run_id=3, seq=0, send_ns=1), target)
        sock.sendto(encode(run_id=4, seq=1, send_ns=1), target)
    received = receiving.join()
    assert received.run_id == 3
    assert list(received.seqs) == [0]


def test_receiver_stops_on_request_without_traffic():
    receiving = ReceiverThread(Receiver("::1", 0, idle_timeout=0.1))
    receiving.receiver.stop()
    received = receiving.join()
    assert len(received) == 0
    assert received.run_id is None
    assert received.summary["stop_reason"] == "stopped"


def test_sender_sends_exactly_count_when_count_is_below_the_duration():
    receiving = ReceiverThread(Receiver("::1", 0, idle_timeout=0.3, duration=20))
    sent = Sender("::1", receiving.receiver.port, rate=5000, duration=10, count=50).run()
    receiving.join()
    assert list(sent.seqs) == list(range(50))
    assert sent.summary["attempted"] == 50
    assert sent.summary["stopped_early"] is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 0, "duration": 1}, "rate"),
        ({"rate": 10}, "duration, a count"),
        ({"rate": 10, "duration": -1}, "duration"),
        ({"rate": 10, "count": 0}, "count"),
        ({"rate": 1, "duration": 0.5}, "less than one datagram"),
        ({"rate": 10, "count": 1, "run_id": 2**32}, "run id"),
        ({"rate": 10, "count": 1, "size": 8}, "size"),
    ],
)
def test_sender_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sender("::1", 9, **kwargs)


def test_sender_rejects_a_name_instead_of_an_address():
    with pytest.raises(ValueError):
        Sender("localhost", 9, rate=10, count=1)
