"""IPv4 reassembly's corner cases on the real kernel and in emunet, side by side.

Topology (each case its own pair of namespaces, all cases at once): ``a`` (eth0
10.0.0.1, 02:..:0a) and ``b`` (eth0 10.0.0.2, 02:..:0b) on a veth pair, permanent
neighbours, IPv6 off, ``net.ipv4.ipfrag_time=2`` in ``b``.  ``a`` writes frames with an
AF_PACKET socket on its eth0: the pieces of one UDP datagram 10.0.0.1:40000 →
10.0.0.2:9999 (3000 payload bytes, 3008 IP payload bytes, TTL 64, DF clear), cut, repeated,
overlapped, spoiled or multiplied as each case says, 10 ms apart (1 ms for the long ones).
``b`` has a UDP socket on 9999 (``IP_RECVTOS``).  The same frames go into emunet's model of
the pair (:class:`tests.stack.test_ip_fragment_bad_input.Pair`) at the same times.

Compared, for each case, between the kernel, emunet and the expectation:

* what ``b``'s socket received (length and TOS of each datagram);
* the ``Ip:`` ``Reasm*`` counters of ``/proc/net/snmp`` and ``IpExt: ReasmOverlaps`` of
  ``/proc/net/netstat`` against emunet's ``ns.ipv4.stats``, at 0.6 s (every frame in,
  no queue expired yet) and at 3.8 s (every queue expired);
* ``/proc/net/sockstat``'s ``FRAG: inuse N memory M`` at 0.6 s against emunet's queues
  and memory count;
* the ICMP time exceeded ``a`` received (code, and the ID and offset of the piece quoted);
* for spoiled pieces, ``ip_rcv``'s counters (``InHdrErrors``, ``InCsumErrors``,
  ``InTruncatedPkts``) against the drop reason emunet counted;
* emunet's drop reasons, as the kernel's ``kfree_skb`` tracepoint names them (traced on
  this kernel, ``events/skb/kfree_skb``: ``DUP_FRAG``; ``FRAG_REASM_TIMEOUT`` for every
  piece an expired queue held; ``FRAG_TOO_FAR``; ``NOT_SPECIFIED`` at ``ip_defrag`` for the
  fragment that kills a queue or finds the memory full, the pieces the killed queue held
  being consumed, not dropped; ``IP_INHDR``, ``IP_CSUM``, ``PKT_TOO_SMALL`` at
  ``ip_rcv_core``).  Two differences: an oversized or ECN-invalid datagram leaves no
  trace there (its pieces are consumed) where emunet counts the fragment that completed
  it as ``NOT_SPECIFIED``, so that the loss shows; and fewer than 20 bytes of IPv4 are
  ``IP_INHDR`` to the kernel, ``PKT_TOO_SMALL`` to emunet (:data:`RCV_DIFFERS`).

The cases are ``kernel-facts.md`` §3's table, the ECN rule and ``ip_rcv``'s checks.
"""
import concurrent.futures
import socket
import struct
import time

import attrs
import pytest

from emunet.sim import S
from tests.kernel.harness import Topology, in_netns
from tests.stack.test_ip_fragment_bad_input import A_MAC, B_MAC, BODY, IP_RCV_REASON, Pair, ip_piece, spoiled_frame

A_IP, B_IP = "10.0.0.1", "10.0.0.2"
ID = 0x4242
GAP = 0.01
#: when the counters are read: every frame is in (the longest case sends for 0.25 s) and
#: no queue has expired (ipfrag_time 2 s); then once every queue has
MID, END = 0.6, 3.8
IPFRAG_TIME = 2
REASM = ("ReasmReqds", "ReasmOKs", "ReasmFails", "ReasmTimeout", "ReasmOverlaps")
RCV = ("InHdrErrors", "InCsumErrors", "InTruncatedPkts")
BIG = bytes(65572)


@attrs.frozen
class P:
    """One frame ``a`` writes: the piece ``offset``/``length`` of the datagram (of the
    65572-byte one when ``big``), MF unless it ends the datagram (or as ``mf`` says),
    ``tos``; ``spoil`` names how :func:`spoiled_frame` spoils it; ``at`` its time (s),
    else ``gap`` after the one before."""

    offset: int
    length: int
    ident: int = ID
    mf: bool = None
    tos: int = 0
    big: bool = False
    spoil: str = None
    at: float = None
    gap: float = GAP


@attrs.frozen
class Expect:
    """``received``: ``(length, tos)`` per datagram ``b``'s socket got; ``mid``/``end``:
    the Reasm counters' change at :data:`MID` and :data:`END`; ``frag``: sockstat's FRAG
    ``(inuse, memory)`` at :data:`MID`; ``icmp``: ``(code, quoted ID, quoted offset)`` of
    each time exceeded (``wheel``: the kernel sends as many, quoting pieces of these IDs,
    in an order its timer wheel decides); ``rcv``: ``ip_rcv``'s counters at :data:`END`; ``drops``: emunet's
    drop reasons at :data:`END`."""

    mid: dict
    end: dict
    received: tuple = ()
    frag: tuple = (0, 0)
    icmp: tuple = ()
    rcv: dict = attrs.field(factory=dict)
    drops: dict = attrs.field(factory=dict)
    wheel: tuple = None


def _pieces(*spans, **kw):
    return tuple(P(o, n, **kw) for o, n in spans)


WHOLE = ((0, 1480), (1480, 1480), (2960, 48))
DELIVERED = ((3000, 0),)
OK3 = {"ReasmReqds": 3, "ReasmOKs": 1}
#: one queue holding one 1500-byte piece, or a 1500- and a 68-byte one
Q1500, Q1500_68 = (1, 200 + 2304), (1, 200 + 2304 + 832)

CASES = [
    ("in_order", _pieces(*WHOLE), {}, Expect(OK3, OK3, DELIVERED)),
    ("reverse_order", _pieces(*WHOLE[::-1]), {}, Expect(OK3, OK3, DELIVERED)),
    # a partial overlap kills the datagram (RFC 5722 as Linux applies it to IPv4); the
    # piece after it starts a queue of its own, which expires (no first piece: no ICMP)
    ("partial_overlap", _pieces((0, 1480), (1000, 1480), (2480, 528)), {},
     Expect({"ReasmReqds": 3, "ReasmOverlaps": 1, "ReasmFails": 1},
            {"ReasmReqds": 3, "ReasmOverlaps": 1, "ReasmFails": 2, "ReasmTimeout": 1}, frag=(1, 200 + 1280),
            drops={"NOT_SPECIFIED": 1, "FRAG_REASM_TIMEOUT": 1})),
    ("overlap_then_the_right_pieces", _pieces((0, 1480), (1000, 1480), (1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 4, "ReasmOverlaps": 1, "ReasmFails": 1},
            {"ReasmReqds": 4, "ReasmOverlaps": 1, "ReasmFails": 2, "ReasmTimeout": 1}, frag=Q1500_68,
            drops={"NOT_SPECIFIED": 1, "FRAG_REASM_TIMEOUT": 2})),
    ("overlap_with_the_same_bytes", _pieces((0, 1480), (1472, 16), (1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 4, "ReasmOverlaps": 1, "ReasmFails": 1},
            {"ReasmReqds": 4, "ReasmOverlaps": 1, "ReasmFails": 2, "ReasmTimeout": 1}, frag=Q1500_68,
            drops={"NOT_SPECIFIED": 1, "FRAG_REASM_TIMEOUT": 2})),
    # a piece inside one queued, or inside a run of contiguous queued ones: a duplicate
    ("inside_a_piece", _pieces((0, 1480), (1472, 8), (1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 4, "ReasmOKs": 1}, {"ReasmReqds": 4, "ReasmOKs": 1}, DELIVERED,
            drops={"DUP_FRAG": 1})),
    ("covering_a_run", _pieces((0, 1000), (1000, 480), (0, 1480), (1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 5, "ReasmOKs": 1}, {"ReasmReqds": 5, "ReasmOKs": 1}, DELIVERED,
            drops={"DUP_FRAG": 1})),
    ("exact_duplicate", _pieces((0, 1480), (1480, 1480), (1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 4, "ReasmOKs": 1}, {"ReasmReqds": 4, "ReasmOKs": 1}, DELIVERED,
            drops={"DUP_FRAG": 1})),
    # a copy of the first piece after the datagram completed opens a queue, which expires
    # with time exceeded quoting it
    ("first_piece_again_after", _pieces(*WHOLE, (0, 1480)), {},
     Expect({"ReasmReqds": 4, "ReasmOKs": 1}, {"ReasmReqds": 4, "ReasmOKs": 1, "ReasmTimeout": 1, "ReasmFails": 1},
            DELIVERED, frag=Q1500, icmp=((1, ID, 0),), drops={"FRAG_REASM_TIMEOUT": 1})),
    ("tiny_first_piece", _pieces((0, 8), (8, 1480), (1488, 1480), (2968, 40)), {},
     Expect({"ReasmReqds": 4, "ReasmOKs": 1}, {"ReasmReqds": 4, "ReasmOKs": 1}, DELIVERED)),
    # no payload: the queue is killed (not an overlap)
    ("empty_middle_piece", (P(0, 1480), P(1480, 0, mf=True), P(1480, 1480), P(2960, 48)), {},
     Expect({"ReasmReqds": 4, "ReasmFails": 1}, {"ReasmReqds": 4, "ReasmFails": 2, "ReasmTimeout": 1},
            frag=Q1500_68, drops={"NOT_SPECIFIED": 1, "FRAG_REASM_TIMEOUT": 2})),
    ("empty_last_piece", (P(0, 1480), P(1480, 1480), P(3008, 0, mf=False)), {},
     Expect({"ReasmReqds": 3, "ReasmFails": 1}, {"ReasmReqds": 3, "ReasmFails": 1}, drops={"NOT_SPECIFIED": 1})),
    # longer than 65535 bytes: refused once complete ("Oversized IP packet")
    ("oversized", tuple(P(o, 1480, big=True, gap=0.001) for o in range(0, 65572, 1480)), {},
     Expect({"ReasmReqds": 45, "ReasmFails": 1}, {"ReasmReqds": 45, "ReasmFails": 1}, drops={"NOT_SPECIFIED": 1})),
    ("lone_pieces_past_65535", (P(65472, 100, ident=1, big=True), P(65512, 8, ident=2, mf=True, big=True),
                                P(65528, 8, ident=3, mf=False, big=True)), {},
     Expect({"ReasmReqds": 3}, {"ReasmReqds": 3, "ReasmTimeout": 3, "ReasmFails": 3}, frag=(3, 3 * (200 + 832)),
            drops={"FRAG_REASM_TIMEOUT": 3})),
    ("incomplete_with_the_first_piece", _pieces((0, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 2}, {"ReasmReqds": 2, "ReasmTimeout": 1, "ReasmFails": 1}, frag=Q1500_68,
            icmp=((1, ID, 0),), drops={"FRAG_REASM_TIMEOUT": 2})),
    ("incomplete_without_it", _pieces((1480, 1480), (2960, 48)), {},
     Expect({"ReasmReqds": 2}, {"ReasmReqds": 2, "ReasmTimeout": 1, "ReasmFails": 1}, frag=Q1500_68,
            drops={"FRAG_REASM_TIMEOUT": 2})),
    # ipfrag_high_thresh: the first pieces of 100 datagrams, then a whole one; 8 queues are
    # held, the rest refused until they expire (6 time exceeded: the per-destination
    # burst); a whole datagram after that is delivered.  Which six: emunet expires the
    # queues in the order they were made; the kernel's timer wheel puts timers due within
    # the same 8-jiffy bucket (2 s at HZ 250 is wheel level 1) in one list, newest first,
    # so its six are the newest of each bucket (7..2 when all eight share one)
    ("memory_flood", tuple(P(0, 1480, ident=i, gap=0.001) for i in range(100))
     + _pieces(*WHOLE, ident=1000, gap=0.001) + tuple(P(o, n, ident=1001, at=3.0 + i * GAP)
                                                     for i, (o, n) in enumerate(WHOLE)),
     {"net.ipv4.ipfrag_low_thresh": 10000, "net.ipv4.ipfrag_high_thresh": 20000},
     Expect({"ReasmReqds": 103, "ReasmFails": 95},
            {"ReasmReqds": 106, "ReasmOKs": 1, "ReasmFails": 103, "ReasmTimeout": 8}, DELIVERED,
            frag=(8, 8 * (200 + 2304)), icmp=tuple((1, i, 0) for i in range(6)), wheel=tuple(range(8)),
            drops={"NOT_SPECIFIED": 95, "FRAG_REASM_TIMEOUT": 8, "ICMP_RATELIMIT": 2})),
    # ipfrag_max_dist 64: X's queue starts over when its next piece comes after 70 pieces
    # of other datagrams from the same source
    ("max_dist", (P(0, 1480, ident=7),) + tuple(P(1480, 1480, ident=100 + i, gap=0.001) for i in range(70))
     + _pieces((1480, 1480), (2960, 48), ident=7, gap=0.001), {},
     Expect({"ReasmReqds": 73, "ReasmFails": 1}, {"ReasmReqds": 73, "ReasmFails": 72, "ReasmTimeout": 71},
            frag=(71, 71 * (200 + 2304) + 832), drops={"FRAG_TOO_FAR": 1, "FRAG_REASM_TIMEOUT": 72})),
    # ECN (ip_frag_ecn_table): Not-ECT with ECT pieces fails; CE among ECT sets CE
    ("ecn_not_ect_with_ect", (P(0, 1480), P(1480, 1480, tos=2), P(2960, 48, tos=2)), {},
     Expect({"ReasmReqds": 3, "ReasmFails": 1}, {"ReasmReqds": 3, "ReasmFails": 1}, drops={"NOT_SPECIFIED": 1})),
    ("ecn_ce_among_ect", (P(0, 1480, tos=2), P(1480, 1480, tos=3), P(2960, 48, tos=2)), {},
     Expect(OK3, OK3, ((3000, 3),))),
] + [
    # a spoiled middle piece: dropped by ip_rcv, the datagram expires (time exceeded)
    (f"spoiled_{kind}", (P(0, 1480), P(1480, 1480, spoil=kind), P(2960, 48)), {},
     Expect({"ReasmReqds": 2}, {"ReasmReqds": 2, "ReasmTimeout": 1, "ReasmFails": 1}, frag=Q1500_68,
            icmp=((1, ID, 0),), rcv=rcv, drops={IP_RCV_REASON[kind]: 1, "FRAG_REASM_TIMEOUT": 2}))
    for kind, rcv in (("short", {"InHdrErrors": 1}), ("csum", {"InHdrErrors": 1, "InCsumErrors": 1}),
                      ("ihl", {"InHdrErrors": 1}), ("version", {"InHdrErrors": 1}),
                      ("truncated", {"InTruncatedPkts": 1}), ("tot_len", {"InHdrErrors": 1}))
]

#: the reason ip_rcv_core gives for what each counter counts (a checksum error is also an
#: InHdrErrors)
RCV_REASON = {"InCsumErrors": "IP_CSUM", "InTruncatedPkts": "PKT_TOO_SMALL", "InHdrErrors": "IP_INHDR"}
#: where emunet's ip_rcv names another reason than the kernel's: fewer bytes than an IPv4
#: header is IP_INHDR in ip_rcv_core (pskb_may_pull fails, goto inhdr_error), PKT_TOO_SMALL
#: in emunet's Ipv4View.check (emunet/wire/ipv4.py)
RCV_DIFFERS = {"spoiled_short": "PKT_TOO_SMALL"}


def schedule(frames) -> list:
    """``(time in s, frame bytes)`` of each frame ``a`` writes."""
    out, t = [], 0.0
    for i, p in enumerate(frames):
        t = p.at if p.at is not None else (t + p.gap if i else 0.0)
        if p.spoil:
            frame = spoiled_frame(p.spoil)
        else:
            frame = B_MAC + A_MAC + b"\x08\x00" + ip_piece(BIG if p.big else BODY, p.offset, p.length, p.ident,
                                                           p.mf, p.tos)
        out.append((t, frame))
    return out


@attrs.define
class Seen:
    """What one side did with a case, in :class:`Expect`'s terms."""

    mid: dict
    end: dict
    received: tuple
    frag: tuple
    icmp: tuple
    rcv: dict = None
    drops: dict = None


def _icmp_of(frames) -> tuple:
    """``(code, quoted ID, quoted offset)`` of the time exceeded in ``frames`` (bytes)."""
    out = []
    for data in frames:
        if len(data) >= 14 + 28 + 20 and data[12:14] == b"\x08\x00" and data[23] == 1 and data[34] == 11:
            quoted = data[42:]
            out.append((data[35], struct.unpack_from("!H", quoted, 4)[0],
                        (struct.unpack_from("!H", quoted, 6)[0] & 0x1FFF) * 8))
    return tuple(out)


# -- emunet ----------------------------------------------------------------------------------
def run_emunet(frames, sysctl: dict) -> Seen:
    pair = Pair(ipfrag_time=IPFRAG_TIME, **{k.replace("net.ipv4.", ""): v for k, v in sysctl.items()})
    tos = []
    udp = pair.b.ipv4.protocols[17]

    def udp_rcv(dev, frame, ipv, broadcast):
        tos.append(ipv.tos)   # IP_RECVTOS: the TOS of the datagram delivered
        udp(dev, frame, ipv, broadcast)
    pair.b.ipv4.protocols[17] = udp_rcv
    for t, frame in schedule(frames):
        pair.inject([frame], at=round(t * S), raw=True)
    pair.sim.run(until=MID)
    mid = {k: v for k, v in pair.stats.items() if k in REASM and v}
    frag = (len(pair.defrag.queues), pair.defrag.mem)
    pair.sim.run(until=END)
    end = {k: v for k, v in pair.stats.items() if k in REASM and v}
    icmp = _icmp_of(r.data for r in pair.capture.on("a/eth0") if r.direction == "in")
    return Seen(mid, end, tuple(zip(pair.received, tos)), frag, icmp, drops=dict(pair.b.drop_reasons))


# -- the kernel ------------------------------------------------------------------------------
def _read(ns: str, name: str) -> str:
    with in_netns(ns):
        with open(f"/proc/thread-self/net/{name}") as f:
            return f.read()


def _counters(ns: str) -> dict:
    """Ip: of snmp and IpExt: of netstat, by name."""
    out = {}
    for name, prefix in (("snmp", "Ip:"), ("netstat", "IpExt:")):
        lines = [line.split() for line in _read(ns, name).splitlines() if line.startswith(prefix)]
        out.update({k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])})
    return out


def _frag_sockstat(ns: str) -> tuple:
    for line in _read(ns, "sockstat").splitlines():
        if line.startswith("FRAG:"):
            words = line.split()
            return int(words[2]), int(words[4])
    return 0, 0


class KernelCase:
    """One case's namespaces, receiver and capture."""

    def __init__(self, t: Topology, sysctl: dict):
        self.t = t
        self.a, self.b = a, b = t.netns("a"), t.netns("b")
        t.veth(a, "eth0", b, "eth0", mac_a="02:00:00:00:00:0a", mac_b="02:00:00:00:00:0b")
        for ns, ip, peer, peer_mac in ((a, A_IP, B_IP, "02:00:00:00:00:0b"), (b, B_IP, A_IP, "02:00:00:00:00:0a")):
            t.tx_csum_off(ns, "eth0")
            t.ip(ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            t.ip(ns, "link", "set", "eth0", "up")
            t.ip(ns, "neigh", "add", peer, "lladdr", peer_mac, "dev", "eth0", "nud", "permanent")
        t.sysctl(b, {"net.ipv4.ipfrag_time": IPFRAG_TIME, **sysctl})
        with in_netns(b):
            self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        self.rx.bind(("0.0.0.0", 9999))
        self.rx.setblocking(False)
        with in_netns(a):
            self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind(("eth0", 0))
        self.sniffer = t.sniff(a, "eth0")

    def ready(self) -> bool:
        return all("LOWER_UP" in self.t.ip(ns, "link", "show", "eth0") for ns in (self.a, self.b))

    def received(self) -> tuple:
        out = []
        while True:
            try:
                data, anc, _, _ = self.rx.recvmsg(65535, socket.CMSG_SPACE(4))
            except BlockingIOError:
                return tuple(out)
            tos = next((blob[0] for level, kind, blob in anc if kind == socket.IP_TOS), None)
            out.append((len(data), tos))


def _sleep_until(t0: float, t: float) -> None:
    delay = t0 + t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


class Late(RuntimeError):
    """The machine was too slow to read the counters before the first queue could expire."""


def run_kernel() -> dict:
    """Every case at once, each in its own namespaces: name -> :class:`Seen`."""
    tops = {name: Topology(f"defrag-{i}") for i, (name, _, _, _) in enumerate(CASES)}
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            built = dict(zip(tops, pool.map(lambda c: KernelCase(tops[c[0]], c[2]), CASES)))
        deadline = time.monotonic() + 10
        while not all(k.ready() for k in built.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("veth pairs without carrier after 10 s")
            time.sleep(0.05)
        before = {name: _counters(k.b) for name, k in built.items()}
        t0 = time.monotonic()

        def send(case, early: bool):
            name, frames, _, _ = case
            for t, frame in schedule(frames):
                if (t < MID) == early:
                    _sleep_until(t0, t)
                    built[name].tx.send(frame)

        with concurrent.futures.ThreadPoolExecutor(len(CASES)) as pool:
            # every frame meant to be in by MID is, however loaded the machine, before the
            # counters are read; and they are read well before the first queue can expire
            for f in [pool.submit(send, c, True) for c in CASES]:
                f.result()
            _sleep_until(t0, MID)
            mid = {name: (_counters(k.b), _frag_sockstat(k.b)) for name, k in built.items()}
            late = time.monotonic() - t0
            if late > IPFRAG_TIME - 0.3:
                raise Late(f"the counters meant for {MID} s were read at {late:.2f} s, too near expiry")
            for f in [pool.submit(send, c, False) for c in CASES]:
                f.result()
        _sleep_until(t0, END)
        seen = {}
        for name, k in built.items():
            end = _counters(k.b)

            def delta(now, keys=REASM):
                return {c: now[c] - before[name][c] for c in keys if now[c] != before[name][c]}
            icmp = _icmp_of(d for _, d, direction in k.sniffer.drain() if direction == "in")
            seen[name] = Seen(delta(mid[name][0]), delta(end), k.received(), mid[name][1], icmp, rcv=delta(end, RCV))
            k.rx.close()
            k.tx.close()
        return seen
    finally:
        for t in tops.values():
            t.close()


# -- the tests -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(netns):
    for attempt in range(3):
        try:
            return run_kernel()
        except Late:
            if attempt == 2:
                raise


IDS = [name for name, _, _, _ in CASES]


def _check(seen: Seen, expect: Expect, kernel: bool = False) -> None:
    assert seen.received == expect.received, seen
    assert seen.mid == expect.mid, seen
    assert seen.end == expect.end, seen
    assert seen.frag == expect.frag, seen
    if kernel and expect.wheel is not None:
        assert len(seen.icmp) == len(expect.icmp) and len(set(seen.icmp)) == len(seen.icmp), seen
        assert all(code == 1 and ident in expect.wheel and off == 0 for code, ident, off in seen.icmp), seen
    else:
        assert seen.icmp == expect.icmp, seen


@pytest.mark.parametrize("name,frames,sysctl,expect", CASES, ids=IDS)
def test_kernel(kernel, name, frames, sysctl, expect):
    seen = kernel[name]
    _check(seen, expect, kernel=True)
    assert seen.rcv == expect.rcv, seen


@pytest.mark.parametrize("name,frames,sysctl,expect", CASES, ids=IDS)
def test_emunet(name, frames, sysctl, expect):
    seen = run_emunet(frames, sysctl)
    _check(seen, expect)
    assert seen.drops == expect.drops, seen
    # ip_rcv's reason for a spoiled piece: the kernel's counter names it
    for counter in expect.rcv:
        if counter == "InHdrErrors" and "InCsumErrors" in expect.rcv:
            continue
        reason = RCV_DIFFERS.get(name, RCV_REASON[counter])
        assert seen.drops.get(reason) == 1, (name, reason, seen.drops)
