"""IPv4 fragmentation and reassembly (:mod:`emunet.stack.ip_fragment`) as properties.

* Cutting then reassembling gives the packet back byte for byte, for any size, MTU,
  options and arrival order.
* The pieces are Scapy's ``fragment()`` pieces where Scapy cuts as Linux does (sizes,
  offsets, MF, the ID, fresh checksums), with the two places it does not said and
  checked: Scapy copies every option to every piece and keeps DF, where Linux NOOPs
  the options whose copy bit is clear after the first piece (``ip_options_fragment``)
  and clears DF.  Scapy dissects each piece with a correct header checksum, and its
  ``defragment()`` of our pieces gives our packet.
* The fast path (``ip_fraglist``) sends a reassembled datagram as the pieces it came in.
* Overlapping and duplicate fragments never raise and follow ``inet_frag_queue_insert``'s
  rule, checked against :class:`RefQueue`, a brute-force model of that rule written over
  byte sets: fragments that join the last run of contiguous fragments only at its end, a
  fragment inside one run a duplicate (dropped, the queue kept), any other overlap the
  end of the datagram (``ReasmOverlaps``, ``ReasmFails``).
* The memory count (``truesize`` of each piece plus ``sizeof(struct ipq)``) follows every
  queue and returns to 0 once each is complete, killed or expired.
"""
import random
import struct
from collections import Counter
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, defragment, fragment

from emunet.sim import S, Simulator
from emunet.stack.ip_fragment import (IPQ_SIZE, IpDefrag, fraglist_fits, ip_fraglist, ip_fragment,
                                      ip_options_fragment, skb_truesize)
from emunet.wire.checksum import internet_checksum

SRC, DST = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
IP_DF, IP_MF = 0x4000, 0x2000

#: options as (bytes, copied): record route, timestamp and NOOP are not copied to later
#: pieces; router alert, stream ID, security and loose source route are
OPTIONS = [(bytes([7, 7, 4, 0, 0, 0, 0]), False), (bytes([68, 8, 5, 0, 0, 0, 0, 0]), False),
           (bytes([1]), False), (bytes([148, 4, 0, 0]), True), (bytes([136, 4, 0, 7]), True),
           (bytes([130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]), True), (bytes([131, 7, 4, 10, 0, 0, 9]), True)]


def datagram(payload: bytes, proto: int = 17, options: bytes = b"", tos: int = 0, ident: int = 0x1234,
             ttl: int = 64, frag: int = 0) -> bytes:
    """An IPv4 packet, header checksum filled in; ``options`` padded with END to 4 bytes."""
    options += b"\0" * (-len(options) % 4)
    ihl = 20 + len(options)
    head = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, tos, ihl + len(payload), ident, frag,
                                 ttl, proto, 0, SRC, DST) + options)
    struct.pack_into("!H", head, 10, internet_checksum(bytes(head)))
    return bytes(head) + payload


def piece_fields(piece: bytes):
    """``(ihl, total length, offset in bytes, MF, DF)``."""
    total, frag = struct.unpack_from("!H", piece, 2)[0], struct.unpack_from("!H", piece, 6)[0]
    return (piece[0] & 15) * 4, total, (frag & 0x1FFF) * 8, bool(frag & IP_MF), bool(frag & IP_DF)


def stub_defrag(**sysctl):
    """An :class:`IpDefrag` on what it reads of a namespace (``sim``, ``sysctl``), with
    the drops it counts and the queues it expires."""
    ns = SimpleNamespace(sim=Simulator(seed=1), sysctl={f"net.ipv4.{k}": v for k, v in sysctl.items()})
    drops, expired = Counter(), []
    defrag = IpDefrag(ns, Counter(), lambda reason, _detail, n: drops.update({reason: n}), expired.append)
    return defrag, drops, expired


def check_memory(defrag: IpDefrag) -> None:
    """The memory count is what the queues hold: each queue and each piece's truesize."""
    assert defrag.mem == IPQ_SIZE * len(defrag.queues) + sum(q.truesize for q in defrag.queues.values())


@st.composite
def packets(draw, max_payload: int = 9000, with_options: bool = True, mtu: int = None,
            protos=(1, 6, 17, 47, 253)):
    """``(packet, options, copied flags)``: a datagram of random size, protocol, TOS, ID
    and TTL, DF clear, with options or not.  Given ``mtu``, half the sizes end a few bytes
    either side of where the last piece takes up to ``mtu - ihl`` bytes."""
    chosen = draw(st.lists(st.sampled_from(OPTIONS), max_size=4)) if with_options else []
    options = b"".join(o for o, _ in chosen)
    if len(options) > 40:
        chosen, options = chosen[:1], chosen[0][0]
    size = draw(st.integers(1, max_payload))
    room = mtu - 20 - len(options) - (-len(options) % 4) if mtu else 0
    if room >= 8 and draw(st.booleans()):
        full = draw(st.integers(1, max(1, max_payload // room - 1)))
        size = full * (room & ~7) + room - draw(st.integers(-8, 8))
    payload = random.Random(draw(st.integers(0, 2 ** 32))).randbytes(size)
    packet = datagram(payload, proto=draw(st.sampled_from(protos)), options=options,
                      tos=draw(st.integers(0, 255)), ident=draw(st.integers(0, 0xFFFF)),
                      ttl=draw(st.integers(1, 255)))
    return packet, chosen


def later_options(packet: bytes) -> bytes:
    """What Linux puts in the options of every piece after the first."""
    head = bytearray(packet[:(packet[0] & 15) * 4])
    ip_options_fragment(head)
    return bytes(head[20:])


# -- cutting and putting back -------------------------------------------------------------
@settings(max_examples=120, deadline=None)
@given(mtu=st.integers(68, 9000), data=st.data())
def test_fragment_then_reassemble_gives_back_the_packet(mtu, data):
    packet, chosen = data.draw(packets(mtu=mtu))
    ihl = (packet[0] & 15) * 4
    if len(packet) <= mtu:
        mtu = max(68, len(packet) - data.draw(st.integers(1, len(packet) - ihl)))
        if len(packet) <= mtu or (mtu - ihl) & ~7 == 0:
            return
    pieces = ip_fragment(packet, mtu)
    room = mtu - ihl
    assert len(pieces) > 1
    pos = 0
    for i, piece in enumerate(pieces):
        p_ihl, total, offset, mf, df = piece_fields(piece)
        assert (p_ihl, total, offset, df) == (ihl, len(piece), pos, False)
        assert mf == (i < len(pieces) - 1)
        assert internet_checksum(piece[:ihl]) == 0
        # the ID, TOS, TTL, protocol and addresses are the packet's
        assert piece[1] == packet[1] and piece[4:6] == packet[4:6] and piece[8:10] == packet[8:10]
        assert piece[12:20] == packet[12:20]
        # all but the last carry (mtu - ihl) & ~7 bytes, the last what is left, up to mtu - ihl
        n = total - ihl
        assert n == (room & ~7) if i < len(pieces) - 1 else 0 < n <= room
        assert piece[ihl:] == packet[ihl + pos:ihl + pos + n]
        # options: all on the first piece; later ones NOOP what is not copied, same length
        assert piece[20:ihl] == (packet[20:ihl] if i == 0 else later_options(packet))
        pos += n
    assert pos == len(packet) - ihl
    # the last piece is what was left once no more than mtu - ihl bytes were
    assert piece_fields(pieces[-1])[1] - ihl + (room & ~7) > room
    for opt, copied in chosen:
        at = packet.index(opt, 20)
        assert pieces[-1][at:at + len(opt)] == (opt if copied else b"\x01" * len(opt))
    # reassembled in any order: the packet itself (DF clear, the first piece's header)
    order = data.draw(st.permutations(range(len(pieces))))
    defrag, drops, _ = stub_defrag()
    done = [defrag.defrag(pieces[i], 0, i, None) for i in order]
    assert all(d is None for d in done[:-1]) and done[-1] is not None
    assert done[-1].packet == packet
    assert done[-1].frag_max_size == max(len(p) for p in pieces) and not done[-1].frag_pmtu
    assert defrag.stats == Counter(ReasmReqds=len(pieces), ReasmOKs=1)
    assert not drops and defrag.queues == {} and defrag.mem == 0


@settings(max_examples=60, deadline=None)
@given(mtu=st.integers(68, 4000), df=st.booleans(), data=st.data())
def test_pieces_are_scapys_fragment_where_scapy_cuts_as_linux(mtu, df, data):
    """Scapy's ``fragment(pkt, fragsize=mtu - ihl)`` cuts as ``ip_frag_next`` does: the
    same sizes, offsets, MF and ID.  It differs in two things, which are checked too:
    every Scapy piece keeps all the options and DF."""
    packet, _ = data.draw(packets(max_payload=min(6000, 12 * (mtu - 60)), mtu=mtu))
    ihl = (packet[0] & 15) * 4
    if len(packet) <= mtu or mtu - ihl < 8:
        return
    if df:
        packet = datagram(packet[ihl:], packet[9], packet[20:ihl], packet[1],
                          struct.unpack_from("!H", packet, 4)[0], packet[8], frag=IP_DF)
    ours = ip_fragment(packet, mtu)
    scapys = [bytes(p) for p in fragment(IP(packet), fragsize=mtu - ihl)]
    assert len(scapys) == len(ours)
    for i, (mine, theirs) in enumerate(zip(ours, scapys)):
        fixed = bytearray(theirs)
        if i:
            fixed[20:ihl] = later_options(packet)   # Linux: ip_options_fragment
        fixed[6] &= ~(IP_DF >> 8)                   # Linux: DF cleared (no IPSKB_FRAG_PMTU)
        struct.pack_into("!H", fixed, 10, 0)
        struct.pack_into("!H", fixed, 10, internet_checksum(bytes(fixed[:ihl])))
        assert mine == bytes(fixed), i
        # Scapy dissects the piece: a right header checksum, its length, offset and MF
        dissected = IP(mine)
        assert dissected.len == len(mine) and dissected.ihl * 4 == ihl
        assert dissected.frag * 8 == piece_fields(mine)[2]
        assert bool(dissected.flags.MF) == (i < len(ours) - 1) and not dissected.flags.DF
        del dissected.chksum
        assert bytes(IP(bytes(dissected))) == mine


@settings(max_examples=60, deadline=None)
@given(mtu=st.integers(68, 4000), data=st.data())
def test_scapys_defragment_of_our_pieces_is_our_packet(mtu, data):
    """(A protocol Scapy leaves raw: its ``defragment()`` rebuilds the payload as the first
    piece's transport layer, which trims random bytes to a UDP or TCP length field.)"""
    packet, _ = data.draw(packets(max_payload=min(6000, 12 * (mtu - 60)), protos=(253,)))
    ihl = (packet[0] & 15) * 4
    if len(packet) <= mtu or mtu - ihl < 8:
        return
    pieces = [IP(p) for p in ip_fragment(packet, mtu)]
    # Scapy puts a datagram together when its last piece comes: give it the others first
    order = data.draw(st.permutations(range(len(pieces) - 1))) + [len(pieces) - 1]
    whole = defragment([pieces[i] for i in order])
    assert len(whole) == 1 and bytes(whole[0]) == packet


def test_options_of_later_pieces():
    """Record route and timestamp (copy bit clear) become NOOPs from the second piece on;
    router alert and loose source route (copy bit set) stay; the header keeps 44 bytes."""
    rr, ts, ra, lsrr = OPTIONS[0][0], OPTIONS[1][0], OPTIONS[3][0], OPTIONS[6][0]
    packet = datagram(bytes(3000), options=rr + ra + ts + lsrr)
    first, second, third = ip_fragment(packet, 1500)
    assert (first[0] & 15) * 4 == (second[0] & 15) * 4 == 20 + 28
    assert first[20:48] == packet[20:48]
    assert second[20:48] == third[20:48] == b"\x01" * 7 + ra + b"\x01" * 8 + lsrr + b"\0" * 2
    # each piece but the last carries (1500 - 48) & ~7 = 1448 bytes
    assert [piece_fields(p)[1:4] for p in (first, second, third)] == [
        (1496, 0, True), (1496, 1448, True), (48 + 3000 - 2896, 2896, False)]


def test_a_later_fragment_cut_again_keeps_its_options():
    """``ip_frag_ipcb`` NOOPs the options only when the packet being cut starts at offset
    0: cutting a later fragment (a router on a smaller MTU) leaves them as they came."""
    rr = OPTIONS[0][0]
    later = datagram(bytes(1480), options=rr, frag=IP_MF | (1480 // 8))
    pieces = ip_fragment(later, 1000)
    assert [piece_fields(p)[2:4] for p in pieces] == [(1480, True), (1480 + 968, True)]
    assert all(p[20:28] == later[20:28] for p in pieces)


def test_the_last_piece_takes_up_to_the_mtu():
    """``ip_frag_next`` cuts to 8 only a piece that is not the last: at MTU 1503 a
    2963-byte payload leaves as 1480 + 1483 (the kernel does so, forwarded or local)."""
    pieces = ip_fragment(datagram(bytes(2963)), 1503)
    assert [len(p) for p in pieces] == [1500, 1503]
    assert [len(p) for p in ip_fragment(datagram(bytes(2964)), 1503)] == [1500, 1500, 24]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(9, 6000))
def test_the_fast_path_sends_the_pieces_as_they_came(data, size):
    """A reassembled datagram goes out as the pieces it came in (``ip_fraglist``): same
    boundaries, same bytes, DF clear, when every piece fits and all but the last carry a
    multiple of 8 bytes (:func:`fraglist_fits`)."""
    payload = random.Random(size).randbytes(size)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, (size - 1) // 8), max_size=8))))
    bounds = [0] + [c * 8 for c in cuts] + [size]
    sent = []
    for i in range(len(bounds) - 1):
        more = IP_MF if i < len(bounds) - 2 else 0
        sent.append(datagram(payload[bounds[i]:bounds[i + 1]], frag=more | (bounds[i] // 8)))
    if len(sent) == 1:
        return
    defrag, _, _ = stub_defrag()
    got = None
    for i in data.draw(st.permutations(range(len(sent)))):
        got = defrag.defrag(sent[i], 0, i, None) or got
    assert got.packet == datagram(payload)
    largest = max(len(p) for p in sent)
    assert got.frag_max_size == largest
    assert fraglist_fits(20, got.pieces, largest)
    assert ip_fraglist(got.first_header, got.pieces) == sent
    # a smaller MTU than the largest piece takes the slow path
    assert not fraglist_fits(20, got.pieces, largest - 1)


# -- the kernel's rule for duplicates and overlaps ---------------------------------------
class RefQueue:
    """``ip_frag_queue`` + ``inet_frag_queue_insert`` by brute force: each run of
    contiguous fragments is the set of bytes it covers; the tail run is the one holding
    the highest byte.  A fragment outside every run joins the tail run when it starts
    where that ends, else makes a run of its own (runs never grow but at the tail); one
    inside a single run is a duplicate; any other overlap kills the datagram."""

    def __init__(self):
        self.runs = []          # [set of byte positions, [(offset, data), ...]]
        self.len = 0
        self.meat = 0
        self.first_in = self.last_in = False

    def tail_end(self) -> int:
        return max(max(r[0]) for r in self.runs) + 1 if self.runs else 0

    def held(self) -> int:
        return sum(len(r[1]) for r in self.runs)

    def add(self, offset: int, data: bytes, mf: bool):
        """``"queued"``, ``"dup"``, ``"overlap"``, ``"discard"`` or the payload."""
        end = offset + len(data)
        if not mf:
            if end < self.len or (self.last_in and end != self.len):
                return "discard"
            self.last_in, self.len = True, end
        else:
            end -= end % 8
            if end > self.len:
                if self.last_in:
                    return "discard"
                self.len = end
        if end == offset:
            return "discard"
        data = data[:end - offset]
        span = set(range(offset, end))
        hit = [r for r in self.runs if r[0] & span]
        if hit:
            return "dup" if len(hit) == 1 and span <= hit[0][0] else "overlap"
        tail = max(self.runs, key=lambda r: max(r[0])) if self.runs else None
        if tail is not None and offset == self.tail_end():
            tail[0] |= span
            tail[1].append((offset, data))
        else:
            self.runs.append([span, [(offset, data)]])
        self.meat += len(data)
        self.first_in |= offset == 0
        if self.first_in and self.last_in and self.meat == self.len:
            return b"".join(d for _, d in sorted(p for r in self.runs for p in r[1]))
        return "queued"


@st.composite
def fragment_sets(draw):
    """Fragments of one datagram (one ID) of ``8 * k`` bytes: random offsets (multiples
    of 8), lengths (often multiples of 8, sometimes not, sometimes 0), MF mostly set and
    clear at the end, each with bytes of its own; some sent twice."""
    k = draw(st.integers(2, 12))
    frags = []
    for _ in range(draw(st.integers(1, 14))):
        if frags and draw(st.integers(0, 5)) == 0:
            frags.append(draw(st.sampled_from(frags)))
            continue
        offset = 8 * draw(st.integers(0, k))
        length = draw(st.one_of(st.integers(0, 8 * k + 8).map(lambda n: n - n % 8),
                                st.integers(0, 8 * k + 8)))
        mf = draw(st.booleans()) if offset + length == 8 * k else draw(st.integers(0, 6)) > 0
        data = random.Random(draw(st.integers(0, 2 ** 16))).randbytes(length)
        frags.append((offset, data, mf))
    return frags


@settings(max_examples=300, deadline=None)
@given(frags=fragment_sets())
def test_duplicates_and_overlaps_follow_the_kernel_rule(frags):
    defrag, drops, expired = stub_defrag()
    ref, want_stats, truesize = RefQueue(), Counter(), 0
    for i, (offset, data, mf) in enumerate(frags):
        stats_before, drops_before = Counter(defrag.stats), Counter(drops)
        packet = datagram(data, frag=(IP_MF if mf else 0) | offset // 8)
        got = defrag.defrag(packet, 0, i, None)
        check_memory(defrag)
        if got is not None:
            outcome = got.packet[20:]
        elif drops["DUP_FRAG"] > drops_before["DUP_FRAG"]:
            outcome = "dup"
        elif defrag.stats["ReasmOverlaps"] > stats_before["ReasmOverlaps"]:
            outcome = "overlap"
        elif defrag.stats["ReasmFails"] > stats_before["ReasmFails"]:
            outcome = "discard"
        else:
            outcome = "queued"
        want = ref.add(offset, data, mf)
        assert outcome == want, (i, frags[:i + 1])
        # a queue costs its struct and each piece it took, the frame's truesize
        truesize += skb_truesize(len(packet) + 14) if want == "queued" else 0
        if want == "queued" or want == "dup":
            assert defrag.mem == IPQ_SIZE + truesize
        want_stats["ReasmReqds"] += 1
        if isinstance(want, bytes):
            want_stats["ReasmOKs"] += 1
        if want in ("overlap", "discard"):
            want_stats["ReasmFails"] += 1
            want_stats["ReasmOverlaps"] += want == "overlap"
        if want in ("overlap", "discard") or isinstance(want, bytes):
            ref, truesize = RefQueue(), 0     # the queue is gone: the next fragment starts another
            assert defrag.mem == 0
    held = ref.held() if ref.runs or ref.last_in or ref.len else None
    assert defrag.stats == +want_stats
    # what is left expires after ipfrag_time, every piece counted, the memory back to 0
    defrag.sim.run()
    assert defrag.queues == {} and defrag.mem == 0
    if held is None and not expired:
        return
    assert len(expired) == 1 and expired[0].first_in == ref.first_in
    assert defrag.stats["ReasmTimeout"] == 1
    assert defrag.stats["ReasmFails"] == want_stats["ReasmFails"] + 1
    assert drops["FRAG_REASM_TIMEOUT"] == held


def test_a_duplicate_inside_a_run_is_dropped_and_the_datagram_completes():
    """The kernel's cases (kernel-facts §3): a piece inside a queued one, one covering a
    run of contiguous queued ones, an exact duplicate: each ``DUP_FRAG``, the datagram
    delivered all the same; a partial overlap, even with the same bytes, kills it."""
    payload = bytes(range(256)) * 12
    body = payload[:3008]

    def send(pieces):
        defrag, drops, _ = stub_defrag()
        got = [defrag.defrag(datagram(body[o:o + n], frag=(IP_MF if o + n < 3008 else 0) | o // 8), 0, 0, None)
               for o, n in pieces]
        return got, defrag, drops

    for pieces in ([(0, 1480), (1472, 8), (1480, 1480), (2960, 48)],
                   [(0, 1000), (1000, 480), (0, 1480), (1480, 1480), (2960, 48)],
                   [(0, 1480), (1480, 1480), (1480, 1480), (2960, 48)]):
        got, defrag, drops = send(pieces)
        assert got[-1].packet[20:] == body and drops == Counter(DUP_FRAG=1)
        assert defrag.stats == Counter(ReasmReqds=len(pieces), ReasmOKs=1)
    got, defrag, drops = send([(0, 1480), (1472, 16), (1480, 1480), (2960, 48)])
    assert got == [None] * 4 and defrag.stats["ReasmOverlaps"] == 1 and defrag.stats["ReasmFails"] == 1
    # the overlapping piece is the drop; the queued piece went with its queue, consumed
    assert drops == Counter(NOT_SPECIFIED=1)
    assert len(defrag.queues) == 1 and defrag.queues[next(iter(defrag.queues))].held() == 2


# -- ECN (RFC 3168 5.3) -------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(tos=st.lists(st.integers(0, 3), min_size=2, max_size=5), dscp=st.integers(0, 63))
def test_ecn_of_the_pieces(tos, dscp):
    """``ip_frag_ecn_table``: Not-ECT mixed with ECT or CE fails the datagram; CE among
    ECT pieces sets CE on the rebuilt header; otherwise the first piece's TOS stays."""
    body = bytes(range(256)) * 4
    n = len(tos)
    size = 8 * (len(body) // 8 // n)
    defrag, drops, _ = stub_defrag()
    got = None
    for i, ecn in enumerate(tos):
        data = body[i * size:(i + 1) * size] if i < n - 1 else body[i * size:]
        got = defrag.defrag(datagram(data, tos=dscp << 2 | ecn, frag=(IP_MF if i < n - 1 else 0) | i * size // 8),
                            0, i, None)
    kinds = set(tos)
    if 0 in kinds and kinds != {0}:
        assert got is None and defrag.stats["ReasmFails"] == 1 and drops == Counter(NOT_SPECIFIED=1)
    else:
        want = tos[0] | (3 if 3 in kinds and kinds != {3} else 0)
        assert got.packet[1] == dscp << 2 | want and internet_checksum(got.packet[:20]) == 0
    assert defrag.mem == 0


# -- memory -------------------------------------------------------------------------------
def test_truesize_as_this_kernel_counts_it():
    """``/proc/net/sockstat``'s ``FRAG: memory`` on kernel 6.18 for frames a veth
    delivers: 832 up to a 234-byte frame, 1280 up to 682, 2304 up to 1514; a queue 200."""
    assert [skb_truesize(n) for n in (42, 234, 242, 682, 690, 1514)] == [832, 832, 1280, 1280, 2304, 2304]
    assert IPQ_SIZE == 200


@settings(max_examples=60, deadline=None)
@given(frags=fragment_sets(), ids=st.lists(st.integers(0, 3), min_size=14, max_size=14),
       when=st.lists(st.integers(0, 40), min_size=14, max_size=14))
def test_memory_returns_to_zero(frags, ids, when):
    """Fragments of four datagrams, spread over 40 s (queues expire after 30): at every
    step the count is what the queues hold, and 0 once all are done."""
    defrag, _, _ = stub_defrag()
    sim = defrag.sim
    for i, (offset, data, mf) in enumerate(frags):
        packet = datagram(data, ident=ids[i], frag=(IP_MF if mf else 0) | offset // 8)

        def arrive(p=packet, i=i):
            defrag.defrag(p, 0, i, None)
            check_memory(defrag)
        sim.after(when[i] * S, arrive)
    sim.run()
    assert defrag.queues == {} and defrag.mem == 0
