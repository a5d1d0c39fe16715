"""Fragments that never make a datagram, or should not: what reassembly refuses, how much
it holds, and what it counts.

Driven through a real two-namespace topology (a veth pair: ``a`` 10.0.0.1 sends frames it
wrote itself on its ``eth0``, ``b`` 10.0.0.2 receives, a UDP socket on 9999) and through
:class:`~emunet.stack.ip_fragment.IpDefrag` directly.  The kernel's outcomes are
``/work/helpers/kernel-facts.md`` §3 and ``tests/kernel/test_kernel_defrag.py``:

* a flood of datagrams that never complete: queues are made while the memory held is at
  most ``ipfrag_high_thresh``; past it every fragment is refused (``NOT_SPECIFIED``,
  ``ReasmFails``), even those of a datagram that would complete, until expiry frees the
  queues (``FRAG_REASM_TIMEOUT`` for each piece held, ``ReasmTimeout``);
* ICMP time exceeded code 1 only for a queue whose first piece came;
* a tiny first fragment is fine; a datagram longer than 65535 bytes fails only once
  complete ("Oversized IP packet"), a lone piece past 65535 waits for its timeout;
* a fragment with no payload kills its queue; ``ipfrag_max_dist`` restarts a queue;
* garbage (a short or lying header, a bad checksum) is dropped by ``ip_rcv`` before
  reassembly ever sees it; nothing raises.
"""
import random
import struct
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP, IPerror
from scapy.layers.l2 import Ether

from emunet import Namespace, Simulator, veth_pair
from emunet.observe.capture import Capture
from emunet.sim import MS, S
from emunet.stack.ip_fragment import IPQ_SIZE, skb_truesize
from emunet.wire.checksum import internet_checksum
from emunet.wire.frame import Frame
from emunet.wire.ipv4 import ip_to_int
from tests.stack.test_ip_fragment import stub_defrag

A_IP, B_IP = "10.0.0.1", "10.0.0.2"
A_MAC, B_MAC = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
#: one UDP datagram 10.0.0.1:40000 -> 10.0.0.2:9999, 3000 payload bytes: 3008 IP payload bytes
BODY = bytes(IP(src=A_IP, dst=B_IP, proto=17) / UDP(sport=40000, dport=9999) / (bytes(range(256)) * 12)[:3000])[20:]


def ip_piece(body: bytes, offset: int, length: int, ident: int = 0x4242, mf: bool = None, tos: int = 0) -> bytes:
    """The IP packet carrying ``body[offset:offset + length]`` at ``offset`` (MF unless it
    ends the body), TTL 64, DF clear, its header checksum right."""
    data = body[offset:offset + length]
    if mf is None:
        mf = offset + length < len(body)
    head = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(data), ident, (0x2000 if mf else 0) | offset >> 3,
                                 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    struct.pack_into("!H", head, 10, internet_checksum(bytes(head)))
    return bytes(head) + data


class Pair:
    """``a`` and ``b`` on a veth pair, permanent neighbours, ``b`` listening on UDP 9999;
    ``sysctl`` in ``b`` (``ipfrag_time`` and the like, without ``net.ipv4.``)."""

    def __init__(self, **sysctl):
        self.sim = sim = Simulator(seed=1)
        self.capture = Capture.attach(sim)
        self.a, self.b = a, b = Namespace(sim, "a"), Namespace(sim, "b")
        x, y = veth_pair(sim, "eth0", "eth0", mac=A_MAC, peer_mac=B_MAC)
        a.add_device(x)
        b.add_device(y)
        x.set_up()
        y.set_up()
        a.addr_add(x, f"{A_IP}/24")
        b.addr_add(y, f"{B_IP}/24")
        a.neigh.add_permanent(x, ip_to_int(B_IP), B_MAC)
        b.neigh.add_permanent(y, ip_to_int(A_IP), A_MAC)
        for key, value in sysctl.items():
            b.set_sysctl(f"net.ipv4.{key}", value)
        self.received = []
        sock = b.udp.socket()
        sock.bind(("0.0.0.0", 9999))
        sock.on_recv = lambda data, _addr: self.received.append(len(data))
        self.defrag = b.ipv4.defrag
        self.stats = b.ipv4.stats

    def inject(self, packets, at: int = 0, gap: int = MS, raw: bool = False) -> None:
        """``a`` writes each IP packet (or, ``raw``, each whole frame) on its eth0, ``gap``
        apart from ``at`` (ns), as an AF_PACKET socket would."""
        eth0 = self.a.dev("eth0")
        for i, p in enumerate(packets):
            frame = p if raw else B_MAC + A_MAC + b"\x08\x00" + p
            self.sim.after(at + i * gap - self.sim.now, lambda f=frame: eth0.dev_queue_xmit(Frame(f, self.sim.new_pid())))

    def icmp_to_a(self) -> list:
        """``(time, Scapy packet, the quoted bytes)`` of each ICMP message ``a`` received."""
        return [(r.time_ns, Ether(r.data), r.data[14 + 28:]) for r in self.capture.on("a/eth0")
                if r.direction == "in" and ICMP in Ether(r.data)]


def test_a_flood_stays_under_the_memory_threshold_and_every_refusal_is_counted():
    """kernel-facts §3 "memory": ``ipfrag_high_thresh`` 20000; the first pieces of 100
    datagrams, 1 ms apart.  Eight queues of 2504 bytes (a 200-byte ipq and a 2304-byte
    1514-byte frame) are held, 20032 bytes, as /proc/net/sockstat shows on the kernel; the
    other 92 pieces are refused, and so is every piece of a whole datagram sent next.
    Expiry frees everything; six time exceeded leave (the first six of eight: the
    per-destination limit's burst), and a datagram sent then is delivered."""
    pair = Pair(ipfrag_low_thresh=10000, ipfrag_high_thresh=20000, ipfrag_time=2)
    peaks = []
    pair.inject([ip_piece(BODY, 0, 1480, ident=i) for i in range(100)])
    for i in range(100):
        pair.sim.after(i * MS + 500 * 1000, lambda: peaks.append(pair.defrag.mem))
    pair.inject([ip_piece(BODY, o, n, ident=1000) for o, n in ((0, 1480), (1480, 1480), (2960, 48))], at=200 * MS)
    pair.sim.run(until=1.0)
    assert len(pair.defrag.queues) == 8 and pair.defrag.mem == 20032 == 8 * (IPQ_SIZE + skb_truesize(1514))
    assert max(peaks) <= 20000 + IPQ_SIZE + skb_truesize(1514)
    assert pair.stats == Counter(ReasmReqds=103, ReasmFails=95)
    assert pair.b.drop_reasons == Counter(NOT_SPECIFIED=95) and pair.received == []
    pair.sim.run(until=3.0)
    assert pair.defrag.queues == {} and pair.defrag.mem == 0
    assert pair.stats["ReasmTimeout"] == 8 and pair.stats["ReasmFails"] == 95 + 8
    assert pair.b.drop_reasons["FRAG_REASM_TIMEOUT"] == 8
    icmp = pair.icmp_to_a()
    assert [(p[ICMP].type, p[ICMP].code) for _, p, _ in icmp] == [(11, 1)] * 6
    assert [p[IPerror].id for _, p, _ in icmp] == list(range(6))
    pair.inject([ip_piece(BODY, o, n, ident=1001) for o, n in ((0, 1480), (1480, 1480), (2960, 48))], at=3 * S)
    pair.sim.run(until=4.0)
    assert pair.received == [3000] and pair.stats["ReasmOKs"] == 1


@settings(max_examples=60, deadline=None)
@given(high=st.integers(0, 60000), sizes=st.lists(st.integers(8, 1480), min_size=1, max_size=80),
       ids=st.lists(st.integers(0, 15), min_size=80, max_size=80), seed=st.integers(0, 2 ** 16))
def test_any_flood_is_bounded_counted_and_freed(high, sizes, ids, seed):
    """Pieces of up to 16 datagrams that never complete (MF on every one, 8 bytes or
    more, in slots 1600 bytes apart: none empty, none overlapping), against any
    ``ipfrag_high_thresh``: the memory
    never goes past the threshold by more than one queue and one piece; each piece is
    queued or refused and counted; at expiry every held piece is counted and the memory
    is 0 again."""
    defrag, drops, expired = stub_defrag(ipfrag_high_thresh=high, ipfrag_time=30)
    rng = random.Random(seed)
    slots = {i: list(range(40)) for i in range(16)}
    for slot in slots.values():
        rng.shuffle(slot)
    largest = 0
    for n, ident in zip(sizes, ids):
        if not slots[ident]:
            continue
        offset = 1600 * slots[ident].pop()
        packet = ip_piece(b"\0" * (offset + n), offset, n, ident=ident, mf=True)
        largest = max(largest, skb_truesize(len(packet) + 14))
        defrag.defrag(packet, 0, 0, None)
        assert defrag.mem <= max(high, 0) + IPQ_SIZE + largest
    held = sum(q.held() for q in defrag.queues.values())
    sent = defrag.stats["ReasmReqds"]
    assert held + drops["NOT_SPECIFIED"] == sent and defrag.stats["ReasmFails"] == drops["NOT_SPECIFIED"]
    if high == 0:
        assert held == 0   # inet_frag_find: no queue at all while the threshold is 0
    queues = len(defrag.queues)
    defrag.sim.run()
    assert defrag.mem == 0 and defrag.queues == {} and len(expired) == queues
    assert drops["FRAG_REASM_TIMEOUT"] == held and defrag.stats["ReasmTimeout"] == queues


def test_time_exceeded_only_when_the_first_piece_came():
    """``ip_expire`` after ``ipfrag_time``: every held piece ``FRAG_REASM_TIMEOUT``,
    ``ReasmTimeout`` and ``ReasmFails``; time exceeded code 1 to the source, from the
    datagram's destination, TOS 0xc0, quoting the first piece (its header and 528 bytes:
    548, the error cut at 576) — only when that piece came."""
    pair = Pair(ipfrag_time=1)
    pair.inject([ip_piece(BODY, 0, 1480, ident=1), ip_piece(BODY, 2960, 48, ident=1)], gap=10 * MS)
    pair.inject([ip_piece(BODY, 1480, 1480, ident=2), ip_piece(BODY, 2960, 48, ident=2)], at=500 * MS)
    pair.sim.run(until=5.0)
    assert pair.stats == Counter(ReasmReqds=4, ReasmTimeout=2, ReasmFails=2)
    assert pair.b.drop_reasons == Counter(FRAG_REASM_TIMEOUT=4)
    (when, err, quoted), = pair.icmp_to_a()
    assert when == 1 * S + 2 * pair.a.dev("eth0").delay_ns   # 1 s after the first piece came
    assert (err[IP].src, err[IP].dst, err[IP].tos, err[IP].len, err[IP].flags) == (B_IP, A_IP, 0xC0, 576, 0)
    assert (err[ICMP].type, err[ICMP].code, err[ICMP].unused) == (11, 1, 0)
    assert len(quoted) == 548 and quoted == ip_piece(BODY, 0, 1480, ident=1)[:548]


def test_a_duplicate_first_piece_after_the_datagram_makes_a_queue_that_expires():
    pair = Pair(ipfrag_time=1)
    pieces = [ip_piece(BODY, o, n) for o, n in ((0, 1480), (1480, 1480), (2960, 48))]
    pair.inject(pieces + [pieces[0]], gap=10 * MS)
    pair.sim.run(until=3.0)
    assert pair.received == [3000]
    assert pair.stats == Counter(ReasmReqds=4, ReasmOKs=1, ReasmTimeout=1, ReasmFails=1)
    (_, err, quoted), = pair.icmp_to_a()
    assert err[ICMP].type == 11 and quoted == pieces[0][:548]


def test_a_tiny_first_fragment_is_reassembled():
    """No minimum size for an IPv4 first fragment: 8 bytes (the UDP header alone)."""
    pair = Pair()
    pair.inject([ip_piece(BODY, o, n) for o, n in ((0, 8), (8, 1480), (1488, 1480), (2968, 40))])
    pair.sim.run(until=1.0)
    assert pair.received == [3000] and pair.stats == Counter(ReasmReqds=4, ReasmOKs=1)
    assert not pair.b.drop_reasons


def test_a_datagram_longer_than_65535_bytes_fails_once_complete():
    """45 pieces of a 65572-byte payload: queued as they come; the last completes a
    datagram of 65592 bytes, which ``ip_frag_reasm`` refuses ("Oversized IP packet",
    ``ReasmFails``): nothing delivered, nothing left to time out."""
    big = bytes(65572)
    pair = Pair(ipfrag_time=1)
    pair.inject([ip_piece(big, o, 1480) for o in range(0, 65572, 1480)], gap=MS // 10)
    pair.sim.run(until=3.0)
    assert pair.stats == Counter(ReasmReqds=45, ReasmFails=1)
    assert pair.b.drop_reasons == Counter(NOT_SPECIFIED=1) and pair.received == []
    assert pair.defrag.mem == 0 and pair.icmp_to_a() == []


def test_lone_pieces_past_65535_wait_for_their_timeout():
    """A piece ending past 65535 is queued like any other (the kernel checks the length
    only when the datagram is complete) and expires: no first piece, no ICMP."""
    pair = Pair(ipfrag_time=1)
    far = bytes(65572)
    pair.inject([ip_piece(far, 65472, 100, ident=1), ip_piece(far, 65512, 8, ident=2, mf=True),
                 ip_piece(far, 65528, 8, ident=3, mf=False)])
    pair.sim.run(until=0.5)
    assert len(pair.defrag.queues) == 3 and pair.stats == Counter(ReasmReqds=3)
    pair.sim.run(until=3.0)
    assert pair.stats == Counter(ReasmReqds=3, ReasmTimeout=3, ReasmFails=3)
    assert pair.b.drop_reasons == Counter(FRAG_REASM_TIMEOUT=3) and pair.icmp_to_a() == []


def test_a_fragment_without_payload_kills_its_queue():
    """``end == offset``: ``discard_qp``, the whole queue, ``ReasmFails`` but no
    ``ReasmOverlaps``.  The pieces after a middle one start a queue that expires."""
    pair = Pair(ipfrag_time=1)
    pair.inject([ip_piece(BODY, 0, 1480, ident=1), ip_piece(BODY, 1480, 0, ident=1, mf=True),
                 ip_piece(BODY, 1480, 1480, ident=1), ip_piece(BODY, 2960, 48, ident=1)])
    pair.inject([ip_piece(BODY, 0, 1480, ident=2), ip_piece(BODY, 1480, 1480, ident=2),
                 ip_piece(BODY, 3008, 0, ident=2, mf=False)], at=100 * MS)
    pair.sim.run(until=3.0)
    assert pair.received == []
    assert pair.stats == Counter(ReasmReqds=7, ReasmFails=3, ReasmTimeout=1)
    assert pair.b.drop_reasons == Counter(NOT_SPECIFIED=2, FRAG_REASM_TIMEOUT=2)
    assert pair.icmp_to_a() == []


def test_a_queue_left_behind_by_ipfrag_max_dist_starts_over():
    """kernel-facts §3: X's first piece, then 70 pieces of other datagrams from the same
    source, then X's other two: more than ``ipfrag_max_dist`` (64) fragments from that
    source since X's queue last grew, so it is reinitialised (``ReasmFails``, its piece
    ``FRAG_TOO_FAR``) and X never completes."""
    pair = Pair(ipfrag_time=1)
    others = [ip_piece(BODY, 1480, 1480, ident=100 + i) for i in range(70)]
    pair.inject([ip_piece(BODY, 0, 1480, ident=7)] + others +
                [ip_piece(BODY, 1480, 1480, ident=7), ip_piece(BODY, 2960, 48, ident=7)], gap=MS // 10)
    pair.sim.run(until=0.5)
    assert pair.stats == Counter(ReasmReqds=73, ReasmFails=1)
    assert pair.b.drop_reasons == Counter(FRAG_TOO_FAR=1)
    pair.sim.run(until=3.0)
    assert pair.received == [] and pair.stats["ReasmTimeout"] == 71 and pair.icmp_to_a() == []


def spoiled_frame(kind: str) -> bytes:
    """A middle piece spoiled: the whole frame ``a`` writes."""
    good = ip_piece(BODY, 1480, 1480)
    eth = B_MAC + A_MAC + b"\x08\x00"
    if kind == "short":          # 10 bytes of IPv4 header
        return eth + good[:10]
    if kind == "csum":
        return eth + good[:10] + bytes([good[10] ^ 0xFF]) + good[11:]
    if kind == "ihl":            # IHL 4, checksum right for what it covers
        return eth + bytes([0x44]) + good[1:]
    if kind == "version":
        return eth + bytes([0x65]) + good[1:]
    if kind == "truncated":      # total length 1500, 1000 bytes there
        return eth + good[:1000]
    if kind == "tot_len":        # total length 16 < the header's 20
        bad = bytearray(good)
        struct.pack_into("!H", bad, 2, 16)
        struct.pack_into("!H", bad, 10, 0)
        struct.pack_into("!H", bad, 10, internet_checksum(bytes(bad[:20])))
        return eth + bytes(bad)
    raise ValueError(kind)


#: what ``ip_rcv`` names each spoiled piece; the kernel's ``ip_rcv_core`` differs for two
#: (``tests/kernel/test_kernel_defrag.py``): fewer than 20 bytes, or fewer than the IHL
#: says, are ``IP_INHDR`` there (``pskb_may_pull`` fails → ``inhdr_error``), and it checks
#: the header checksum before the total length
IP_RCV_REASON = {"short": "PKT_TOO_SMALL", "csum": "IP_CSUM", "ihl": "IP_INHDR", "version": "IP_INHDR",
                 "truncated": "PKT_TOO_SMALL", "tot_len": "IP_INHDR"}


def test_garbage_is_dropped_by_ip_rcv_before_reassembly():
    """A spoiled middle piece never reaches ``ip_defrag`` (``ReasmReqds`` counts only the
    two good pieces); it is dropped with ``ip_rcv``'s reason; the datagram times out,
    answered with time exceeded, its first piece having come."""
    for kind, reason in IP_RCV_REASON.items():
        pair = Pair(ipfrag_time=1)
        pair.inject([B_MAC + A_MAC + b"\x08\x00" + ip_piece(BODY, 0, 1480), spoiled_frame(kind),
                     B_MAC + A_MAC + b"\x08\x00" + ip_piece(BODY, 2960, 48)], raw=True)
        pair.sim.run(until=3.0)
        assert pair.stats == Counter(ReasmReqds=2, ReasmTimeout=1, ReasmFails=1), kind
        assert pair.b.drop_reasons == Counter({reason: 1, "FRAG_REASM_TIMEOUT": 2}), kind
        assert len(pair.icmp_to_a()) == 1 and pair.received == []


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2 ** 32), flips=st.lists(st.tuples(st.integers(0, 1519), st.integers(1, 255)),
                                                      max_size=6),
       cut=st.integers(14, 1520), extra=st.binary(max_size=40))
def test_mangled_fragments_never_raise(seed, flips, cut, extra):
    """Pieces of the datagram with random bytes flipped, cut short or padded: nothing
    raises, nothing but the datagram itself is delivered, and once the queues expire the
    memory is 0."""
    rng = random.Random(seed)
    pair = Pair(ipfrag_time=1)
    frames = []
    for o, n in ((0, 1480), (1480, 1480), (2960, 48), (rng.randrange(0, 2960, 8), rng.randrange(0, 1480))):
        frame = bytearray(B_MAC + A_MAC + b"\x08\x00" + ip_piece(BODY, o, n))
        for at, x in flips:
            if 14 <= at < len(frame) and rng.random() < 0.5:
                frame[at] ^= x
        frames.append(bytes(frame[:cut] if rng.random() < 0.3 else frame) + (extra if rng.random() < 0.3 else b""))
    pair.inject(frames, raw=True)
    pair.sim.run(until=5.0)
    assert pair.defrag.mem == 0 and pair.defrag.queues == {}
    # what reached the socket passed UDP's length and checksum: the datagram itself
    assert set(pair.received) <= {3000}
    assert pair.stats["ReasmReqds"] <= 4 and pair.stats["ReasmOKs"] <= 1
