"""TCP's answers to segments that do not belong, and their rate limits, on the real
kernel and in emunet, side by side.

Topology: ``a`` (eth0 10.0.0.1, 02:..:0a) and ``b`` (eth0 10.0.0.2, 02:..:0b) on a veth
pair, permanent neighbours (``b`` also has 10.0.0.3 at ``a``'s MAC, for a spoofed
client), IPv6 off, ``tcp_timestamps`` 0 on both (no PAWS: an injected segment needs no
timestamp to be judged on its sequence number alone).  ``b`` listens on port 80; ``a``
opens one connection per case from its own port, and the case's state is made with
``close()``: ``b`` closing first leaves an orphaned FIN_WAIT_2 time-wait socket, ``a``
closing too leaves ``b`` in TIME_WAIT.  Then ``a``'s address goes (``ip addr del``), so
that ``a``'s stack answers nothing ``b`` sends, and ``a`` writes each case's segments on
its eth0 with an AF_PACKET socket, back to back (well inside ``tcp_invalid_ratelimit``'s
500 ms: a burst that took longer than :data:`BURST_LIMIT` is written again), with sequence
numbers relative to what ``b`` expects (``rcv_nxt``, learnt from the capture) and
acknowledgement numbers relative to what ``b`` sent (``snd_nxt``).  The same frames go
into emunet's model of the pair.

Compared, for each case, between the kernel, emunet and the expectation: how many
segments ``b`` sent back for the case's connection, and the change of the ``TcpExt:``
counters of ``/proc/net/netstat`` (what ``nstat -az TcpExtTCPACKSkippedSeq ...`` shows)
against emunet's ``ns.tcp.stats``.  Nothing here depends on time beyond the burst being
shorter than the limit.
"""
import socket
import struct
import time

import attrs
import pytest

from emunet import Namespace, Simulator, veth_pair
from emunet.observe.capture import Capture
from emunet.sim import MS, S, US
from emunet.stack.tcp.seq import MASK, after
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import ip_to_int
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpView
from tests.kernel.compare import ip_checksum
from tests.kernel.harness import Topology, in_netns
from tests.kernel.test_kernel_defrag import _read

A_IP, B_IP, SPOOF_IP = "10.0.0.1", "10.0.0.2", "10.0.0.3"
A_MAC, B_MAC = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
PORT = 80
#: the first client port; case i connects from FIRST_PORT + i
FIRST_PORT = 40000
#: segments in a burst
N = 20
#: a burst must be written within this (s), far inside tcp_invalid_ratelimit
BURST_LIMIT = 0.25
#: how long answers are waited for after a burst (s)
SETTLE = 0.15
SYSCTL = {"net.ipv4.tcp_timestamps": 0}
KEYS = ("TCPACKSkippedSeq", "TCPACKSkippedChallenge", "TCPACKSkippedTimeWait", "TCPACKSkippedFinWait2",
        "TCPACKSkippedSynRecv", "TCPChallengeACK", "TCPSYNChallenge")
FLAGS = {"S": TCP_SYN, "F": TCP_FIN, "R": TCP_RST, "P": TCP_PSH, "A": TCP_ACK}
#: the spoofed client's ISN (the syn_recv case)
SPOOF_ISN = 1000


@attrs.frozen
class Seg:
    """One segment ``a`` writes: ``flags`` as tcpdump prints them, ``seq`` relative to
    ``b``'s ``rcv_nxt``, ``ack`` relative to ``b``'s ``snd_nxt``, ``data`` bytes."""

    flags: str
    seq: int
    ack: int = 0
    data: int = 0


@attrs.frozen
class Case:
    """``state`` of ``b``'s socket (``established``, ``fin_wait_2``, ``time_wait``, or
    ``syn_recv``: a request socket for a SYN from 10.0.0.3); ``segs`` written in a burst;
    ``answers``: segments ``b`` sends back; ``counters``: the ``TcpExt`` change."""

    name: str
    state: str
    segs: tuple
    answers: int
    counters: dict


def burst(*segs, n=N):
    return tuple(segs) * n


CHALLENGED = {"TCPSYNChallenge": N, "TCPChallengeACK": 1, "TCPACKSkippedChallenge": N - 1}
CASES = [
    # RFC 793's duplicate ACK for a segment outside the window: one per 500 ms
    Case("old_ack", "established", burst(Seg("A", -1000)), 1, {"TCPACKSkippedSeq": N - 1}),
    Case("ack_beyond_window", "established", burst(Seg("A", 1 << 20)), 1, {"TCPACKSkippedSeq": N - 1}),
    # data is not part of an ACK loop: every old segment is answered (with a D-SACK)
    Case("old_data", "established", burst(Seg("PA", -1000, data=10)), N, {}),
    # no ACK, RST or SYN: dropped before the sequence is looked at
    Case("fin_without_ack", "established", burst(Seg("F", -1000)), 0, {}),
    # RFC 5961: a SYN or SYN+FIN, in the window or not, and a RST in the window but not
    # exact get a challenge ACK, limited by the same per-socket clock
    Case("syn", "established", burst(Seg("S", 0)), 1, CHALLENGED),
    Case("syn_out_of_window", "established", burst(Seg("S", 1 << 20)), 1, CHALLENGED),
    Case("syn_fin", "established", burst(Seg("SF", 0)), 1, CHALLENGED),
    Case("rst_in_window", "established", burst(Seg("R", 100)), 1,
         {"TCPChallengeACK": 1, "TCPACKSkippedChallenge": N - 1}),
    # one clock for both: the duplicate ACK silences the challenge ACKs after it
    Case("old_ack_then_syn_and_rst", "established", (Seg("A", -1000), Seg("S", 0), Seg("R", 100)), 1,
         {"TCPSYNChallenge": 1, "TCPACKSkippedChallenge": 2}),
    # an ACK for data never sent: a challenge ACK too (RFC 5961 5.2), in ESTABLISHED too
    Case("ack_of_unsent_data", "established", burst(Seg("A", 0, ack=1000)), 1,
         {"TCPChallengeACK": 1, "TCPACKSkippedChallenge": N - 1}),
    # an orphaned FIN_WAIT_2 time-wait socket
    Case("fin_wait_2_old_ack", "fin_wait_2", burst(Seg("A", -1000)), 1, {"TCPACKSkippedFinWait2": N - 1}),
    # TIME_WAIT: outside the window limited; the peer's FIN again carries a FIN, so it is
    # "data" and always answered; an exact bare ACK only restarts the timer
    Case("time_wait_old_ack", "time_wait", burst(Seg("A", -1000)), 1, {"TCPACKSkippedTimeWait": N - 1}),
    Case("time_wait_fin_again", "time_wait", burst(Seg("FA", -1)), N, {}),
    Case("time_wait_exact_ack", "time_wait", burst(Seg("A", 0)), 0, {}),
    # a request socket: the SYN retransmitted gets the SYN-ACK again, once per 500 ms
    Case("syn_recv_syn_again", "syn_recv", burst(Seg("S", -1)), 1, {"TCPACKSkippedSynRecv": N - 1}),
]
IDS = [c.name for c in CASES]


# -- frames ----------------------------------------------------------------------------------
def segment_frame(src_ip: str, sport: int, seq: int, ack: int, flags: str, data: int = 0) -> bytes:
    """The Ethernet frame of a TCP segment ``src_ip:sport`` → ``b:80`` (DF, TTL 64, ID 0,
    window 502, no options)."""
    bits = 0
    for c in flags:
        bits |= FLAGS[c]
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(B_IP)
    seg = TcpView.emit(sport, PORT, seq & MASK, ack & MASK if bits & TCP_ACK else 0, bits, 502, b"",
                       bytes(data), src, dst)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, 6, 0, src, dst))
    struct.pack_into("!H", hdr, 10, ip_checksum(bytes(hdr)))
    return B_MAC + A_MAC + b"\x08\x00" + bytes(hdr) + seg


def next_seqs(frames, aport: int):
    """``(rcv_nxt, snd_nxt)`` of ``b``'s socket for ``a``'s port ``aport``, from what
    crossed ``b``'s eth0 (``(bytes, direction)`` pairs): the ends of the segments each
    side sent, SYN and FIN counted."""
    ends = {"in": None, "out": None}
    for data, direction in frames:
        if len(data) < 54 or data[12:14] != b"\x08\x00" or data[23] != 6:
            continue
        ihl = (data[14] & 15) * 4
        tcp = 14 + ihl
        sport, dport, seq = struct.unpack_from("!HHI", data, tcp)
        if (sport, dport) not in ((aport, PORT), (PORT, aport)):
            continue
        flags = data[tcp + 13]
        plen = struct.unpack_from("!H", data, 16)[0] - ihl - (data[tcp + 12] >> 4) * 4
        end = (seq + plen + bool(flags & TCP_SYN) + bool(flags & TCP_FIN)) & MASK
        way = "in" if sport == aport else "out"
        if ends[way] is None or after(end, ends[way]):
            ends[way] = end
    return ends["in"], ends["out"]


def case_frames(case: Case, port: int, seqs) -> list:
    if case.state == "syn_recv":
        rcv_nxt, snd_nxt = (SPOOF_ISN + 1) & MASK, 0
        src = SPOOF_IP
    else:
        (rcv_nxt, snd_nxt), src = seqs, A_IP
    return [segment_frame(src, port, rcv_nxt + s.seq, snd_nxt + s.ack, s.flags, s.data) for s in case.segs]


def answers(frames, port: int) -> int:
    """Segments ``b`` sent to ``a``'s ``port`` among ``(bytes, direction)`` pairs."""
    return sum(1 for data, direction in frames
               if direction == "out" and len(data) >= 54 and data[23] == 6
               and struct.unpack_from("!HH", data, 14 + (data[14] & 15) * 4) == (PORT, port))


@attrs.define
class Seen:
    answers: int
    counters: dict


def _port(i: int) -> int:
    return FIRST_PORT + i


# -- emunet ----------------------------------------------------------------------------------
def run_emunet() -> dict:
    """Every case on emunet's model of the pair: name -> :class:`Seen`."""
    sim = Simulator(seed=1)
    cap = Capture.attach(sim)
    a, b = Namespace(sim, "a"), Namespace(sim, "b")
    x, y = veth_pair(sim, "eth0", "eth0", mac=A_MAC, peer_mac=B_MAC)
    a.add_device(x)
    b.add_device(y)
    x.set_up()
    y.set_up()
    a.addr_add(x, f"{A_IP}/24")
    b.addr_add(y, f"{B_IP}/24")
    a.neigh.add_permanent(x, ip_to_int(B_IP), B_MAC)
    for ip in (A_IP, SPOOF_IP):
        b.neigh.add_permanent(y, ip_to_int(ip), A_MAC)
    for ns in (a, b):
        for k, v in SYSCTL.items():
            ns.set_sysctl(k, v)
    conns = {}
    lsock = b.tcp.socket()
    lsock.bind(("0.0.0.0", PORT))
    lsock.listen(64)
    lsock.on_accept = lambda c: conns.__setitem__(c.remote[1], c)
    socks = {}
    for i, case in enumerate(CASES):
        if case.state != "syn_recv":
            s = socks[_port(i)] = a.tcp.socket()
            s.bind((A_IP, _port(i)))
            s.connect((B_IP, PORT))
    sim.run(until=0.1)
    for i, case in enumerate(CASES):
        if case.state in ("fin_wait_2", "time_wait"):
            conns[_port(i)].close()
    sim.run(until=0.2)
    for i, case in enumerate(CASES):
        if case.state == "time_wait":
            socks[_port(i)].close()
    sim.run(until=0.3)
    a.addr_del(x, f"{A_IP}/24")
    seen = {}
    for i, case in enumerate(CASES):
        port = _port(i)
        if case.state == "syn_recv":
            x.dev_queue_xmit(Frame(segment_frame(SPOOF_IP, port, SPOOF_ISN, 0, "S"), sim.new_pid()))
            sim.run(until=(sim.now + 10 * MS) / S)
        on_b = [(r.data, r.direction) for r in cap.on("b/eth0")]
        frames = case_frames(case, port, next_seqs(on_b, port))
        before, n = dict(b.tcp.stats), len(on_b)
        for k, f in enumerate(frames):
            sim.after(k * 10 * US, lambda f=f: x.dev_queue_xmit(Frame(f, sim.new_pid())))
        sim.run(until=sim.now / S + SETTLE)
        after_ = b.tcp.stats
        seen[case.name] = Seen(answers([(r.data, r.direction) for r in cap.on("b/eth0")][n:], port),
                               {k: after_[k] - before.get(k, 0) for k in KEYS if after_[k] != before.get(k, 0)})
    return seen


# -- the kernel ------------------------------------------------------------------------------
def tcpext(ns: str) -> dict:
    """``TcpExt:`` of ``/proc/net/netstat`` in ``ns``, by name."""
    lines = [line.split() for line in _read(ns, "netstat").splitlines() if line.startswith("TcpExt:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def _wait_states(t: Topology, ns: str, want: dict, limit: float = 10.0) -> None:
    """Wait until ``ss -tan`` in ``ns`` lists ``want[state]`` sockets in each state."""
    deadline = time.monotonic() + limit
    while True:
        states = [line.split()[0] for line in t.exec(ns, "ss", "-Htan").stdout.splitlines() if line.strip()]
        got = {k: states.count(k) for k in want}
        if got == want:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"sockets in {ns}: {got}, not {want}, after {limit} s")
        time.sleep(0.02)


class Slow(RuntimeError):
    """A burst took longer than :data:`BURST_LIMIT` to write."""


def run_kernel() -> dict:
    """Every case on the kernel, one after the other: name -> :class:`Seen`."""
    with Topology("tcprl") as t:
        a, b = t.netns("a"), t.netns("b")
        t.veth(a, "eth0", b, "eth0", mac_a="02:00:00:00:00:0a", mac_b="02:00:00:00:00:0b")
        for ns, ip in ((a, A_IP), (b, B_IP)):
            t.tx_csum_off(ns, "eth0")
            t.ip(ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            t.ip(ns, "link", "set", "eth0", "up")
            t.sysctl(ns, SYSCTL)
        t.ip(a, "neigh", "add", B_IP, "lladdr", "02:00:00:00:00:0b", "dev", "eth0", "nud", "permanent")
        for ip in (A_IP, SPOOF_IP):
            t.ip(b, "neigh", "add", ip, "lladdr", "02:00:00:00:00:0a", "dev", "eth0", "nud", "permanent")
        deadline = time.monotonic() + 10
        while not all("LOWER_UP" in t.ip(ns, "link", "show", "eth0") for ns in (a, b)):
            if time.monotonic() > deadline:
                raise RuntimeError("veth pair without carrier after 10 s")
            time.sleep(0.05)
        sniffer = t.sniff(b, "eth0")
        with in_netns(b):
            lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with in_netns(a):
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        keep = [lsock, tx]
        try:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind(("0.0.0.0", PORT))
            lsock.listen(64)
            tx.bind(("eth0", 0))
            socks, conns = {}, {}
            for i, case in enumerate(CASES):
                if case.state == "syn_recv":
                    continue
                with in_netns(a):
                    s = socks[_port(i)] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                keep.append(s)
                s.bind((A_IP, _port(i)))
                s.connect((B_IP, PORT))
                c, addr = lsock.accept()
                keep.append(c)
                conns[addr[1]] = c
            for i, case in enumerate(CASES):
                if case.state in ("fin_wait_2", "time_wait"):
                    conns[_port(i)].close()
            # A's ACK of B's FIN is delayed (a FIN puts A in ping-pong mode): wait for it
            _wait_states(t, b, {"FIN-WAIT-2": sum(c.state in ("fin_wait_2", "time_wait") for c in CASES)})
            for i, case in enumerate(CASES):
                if case.state == "time_wait":
                    socks[_port(i)].close()
            _wait_states(t, b, {"FIN-WAIT-2": sum(c.state == "fin_wait_2" for c in CASES),
                                "TIME-WAIT": sum(c.state == "time_wait" for c in CASES)})
            t.ip(a, "addr", "del", f"{A_IP}/24", "dev", "eth0")
            seen = {}
            for i, case in enumerate(CASES):
                port = _port(i)
                if case.state == "syn_recv":
                    tx.send(segment_frame(SPOOF_IP, port, SPOOF_ISN, 0, "S"))
                    time.sleep(0.01)
                on_b = [(d, direction) for _, d, direction in sniffer.drain()]
                frames = case_frames(case, port, next_seqs(on_b, port))
                before, n = tcpext(b), len(on_b)
                t0 = time.monotonic()
                for f in frames:
                    tx.send(f)
                took = time.monotonic() - t0
                if took > BURST_LIMIT:
                    raise Slow(f"{case.name}: {len(frames)} frames took {took:.3f} s to write")
                time.sleep(SETTLE)
                now = tcpext(b)
                seen[case.name] = Seen(answers([(d, direction) for _, d, direction in sniffer.drain()][n:], port),
                                       {k: now[k] - before[k] for k in KEYS if now[k] != before[k]})
            return seen
        finally:
            for s in keep:
                s.close()


# -- the tests -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(netns):
    for attempt in range(3):
        try:
            return run_kernel()
        except Slow:
            if attempt == 2:
                raise


@pytest.fixture(scope="module")
def emunet():
    return run_emunet()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_kernel(kernel, case):
    assert kernel[case.name] == Seen(case.answers, case.counters), kernel[case.name]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_emunet(emunet, case):
    assert emunet[case.name] == Seen(case.answers, case.counters), emunet[case.name]
