"""IPv4 fragments: cutting a packet to fit an MTU, and putting fragments back together.

Cutting is ``ip_do_fragment`` (``net/ipv4/ip_output.c``):

* **The slow path** (:func:`ip_fragment`): while more than ``mtu - ihl`` bytes are left,
  a piece carries ``(mtu - ihl) & ~7`` of them; what is left then, up to ``mtu - ihl``
  bytes, is the last piece (``ip_frag_next`` rounds to 8 only a piece that is not the
  last: at MTU 1503 a 2963-byte payload leaves as 1480 + 1483, not 1480 + 1480 + 3;
  ``__ip_append_data`` cuts a local datagram the same way).  Each gets the original
  header with its own total length, offset and checksum, MF on all but the last (and on
  the last too when the packet was itself a non-final fragment), the ID and TTL kept, DF
  clear unless the packet was reassembled from pieces that all had DF
  (``IPSKB_FRAG_PMTU``).  The piece at offset 0 keeps every option; the later ones have
  options whose copy bit is clear overwritten with NOOPs, so the header keeps its length
  (``ip_options_fragment``, run only when the packet cut starts at offset 0).
* **The fast path** (:func:`ip_fraglist`): a datagram this host reassembled still holds its
  pieces; when each fits, they leave as they came, in offset order, under the first
  piece's header with DF clear (``ip_fraglist_init``/``ip_fraglist_prepare``).

Reassembly is ``ip_defrag`` (``net/ipv4/ip_fragment.c`` over ``inet_fragment.c``):
:class:`IpDefrag`, one per namespace (``net->ipv4.fqdir``), keeps a queue per (user,
source, destination, ID, protocol).  Each fragment, in ``ip_frag_queue``'s order:

* a queue already complete: the fragment is a duplicate (``DUP_FRAG``);
* more than ``ipfrag_max_dist`` fragments from the same source since this queue last grew:
  the queue starts over (``ip_frag_too_far``, ``FRAG_TOO_FAR``);
* a final fragment (MF clear) that ends before data already queued, or a second final one
  with another end; a non-final one reaching past a known end; a fragment left with no
  payload once a non-final one is cut to a multiple of 8: the whole queue is discarded
  (``ReasmFails``);
* the fragment lies inside a run of contiguous fragments already queued: a duplicate,
  dropped, the queue kept; it overlaps anything else: the whole datagram is discarded
  (``ReasmOverlaps``, RFC 5722 as Linux applies it to IPv4 since 4.19);
* once the first and last pieces are in and no byte is missing, the datagram is rebuilt
  (``ip_frag_reasm``) from the first piece's header: total length, offset 0, DF only if
  the largest piece had DF, CE added to the TOS when a piece had it (RFC 3168 5.3,
  ``ip_frag_ecn_table``), a fresh checksum.  It fails (``ReasmFails``) when Not-ECT
  pieces were mixed with ECT or CE ones, or when it is longer than 65535 bytes
  ("Oversized IP packet"): the kernel frees its pieces as consumed, emunet counts the
  fragment that completed it as the drop (``NOT_SPECIFIED``), with the reason.

What a discarded queue held goes the same way: ``inet_frag_destroy`` frees the pieces
as consumed (only an expiry names ``FRAG_REASM_TIMEOUT`` for them), so only the
fragment that caused the discard is counted, ``NOT_SPECIFIED``, its detail saying how
many queued pieces went with it.

A queue lives ``ipfrag_time`` (30 s) from its first fragment; then ``ip_expire`` drops it
(``FRAG_REASM_TIMEOUT``, ``ReasmTimeout``) and, for local delivery, answers the first
fragment, if it came, with ICMP time exceeded code 1.  While the fragments held exceed
``ipfrag_high_thresh`` (4 MiB) bytes of ``truesize``, no fragment is queued
(``inet_frag_find`` refuses; ``ReasmFails``): a queue costs ``sizeof(struct ipq)``
(200 bytes) and each piece its ``skb->truesize`` (2304 for a full 1514-byte frame,
:func:`skb_truesize`), as ``/proc/net/sockstat``'s ``FRAG: memory`` shows them.
"""
import struct

import attrs

from emunet.wire.checksum import internet_checksum
from emunet.wire.ipv4 import IP_DF, IP_MF, IP_OFFMASK

#: ``ip_defrag``'s users: the queues of each are kept apart
IP_DEFRAG_LOCAL_DELIVER = 0
IP_DEFRAG_CONNTRACK_IN = 1
IP_DEFRAG_CONNTRACK_OUT = 2
IP_DEFRAG_CONNTRACK_BRIDGE_IN = 3

#: the defaults of ``net.ipv4.ipfrag_*``
IPFRAG_SYSCTLS = {"net.ipv4.ipfrag_high_thresh": 4 * 1024 * 1024,
                  "net.ipv4.ipfrag_low_thresh": 3 * 1024 * 1024,
                  "net.ipv4.ipfrag_time": 30,
                  "net.ipv4.ipfrag_max_dist": 64}

_FRAG = struct.Struct("!H")


def _dotted(addr: int) -> str:
    return ".".join(str(b) for b in addr.to_bytes(4, "big"))
_IPOPT_END, _IPOPT_NOOP, _IPOPT_COPY = 0, 1, 0x80


def _set_header(head: bytearray, total: int, frag: int) -> bytes:
    """``head`` with its total length, fragment field and checksum rewritten."""
    struct.pack_into("!H", head, 2, total)
    _FRAG.pack_into(head, 6, frag)
    struct.pack_into("!H", head, 10, 0)
    struct.pack_into("!H", head, 10, internet_checksum(bytes(head)))
    return bytes(head)


def ip_options_fragment(head: bytearray) -> None:
    """``ip_options_fragment``: the options of every piece after the first: each option
    whose copy bit is clear becomes NOOPs, in place, so the header keeps its length."""
    i, end = 20, (head[0] & 0x0F) * 4
    while i < end:
        kind = head[i]
        if kind == _IPOPT_END:
            return
        if kind == _IPOPT_NOOP:
            i += 1
            continue
        if i + 1 >= end:
            return
        optlen = head[i + 1]
        if optlen < 2 or optlen > end - i:
            return
        if not kind & _IPOPT_COPY:
            head[i:i + optlen] = bytes([_IPOPT_NOOP]) * optlen
        i += optlen


def ip_fragment(packet: bytes, mtu: int, keep_df: bool = False) -> list:
    """``ip_do_fragment``'s slow path: ``packet`` (one IPv4 packet, no link-layer header)
    cut into pieces of at most ``mtu`` bytes (``ip_frag_init``/``ip_frag_next``).
    ``keep_df``: the packet was reassembled from pieces that all had DF
    (``IPSKB_FRAG_PMTU``), so the pieces keep it."""
    ihl = (packet[0] & 0x0F) * 4
    total = _FRAG.unpack_from(packet, 2)[0]
    frag = _FRAG.unpack_from(packet, 6)[0]
    payload = packet[ihl:total]
    offset = (frag & IP_OFFMASK) << 3
    not_last = frag & IP_MF
    room = mtu - ihl                    # state->mtu: the data space of a piece
    size = room & ~7
    pos, left = 0, len(payload)
    if size <= 0 and left > room:
        raise ValueError(f"an MTU of {mtu} leaves no room after a {ihl}-byte header")
    head = bytearray(packet[:ihl])
    pieces = []
    while left > 0:
        n = left if left <= room else size   # only a piece that is not the last is cut to 8
        left -= n
        flags = (IP_DF if keep_df else 0) | (IP_MF if left > 0 or not_last else 0)
        pieces.append(_set_header(head, ihl + n, flags | ((offset + pos) >> 3)) + payload[pos:pos + n])
        if offset + pos == 0:
            # ip_frag_ipcb's first_frag: the piece just cut is the datagram's first
            ip_options_fragment(head)
        pos += n
    return pieces


def ip_fraglist(first_header: bytes, pieces: list) -> list:
    """``ip_do_fragment``'s fast path: a reassembled datagram sent as the ``pieces``
    (``(offset, payload)`` in offset order) it came in, each under ``first_header`` (the
    header of the piece at offset 0) with its own length, offset and checksum; MF on all
    but the last, DF clear."""
    ihl = len(first_header)
    head = bytearray(first_header)
    out = []
    for i, (offset, data) in enumerate(pieces):
        more = IP_MF if i + 1 < len(pieces) else 0
        out.append(_set_header(head, ihl + len(data), more | (offset >> 3)) + data)
        if i == 0:
            ip_options_fragment(head)
    return out


def fraglist_fits(ihl: int, pieces: list, mtu: int) -> bool:
    """Whether the fast path may send ``pieces`` as they are: every one fits ``mtu`` and
    all but the last carry a multiple of 8 bytes (``ip_do_fragment``'s checks)."""
    last = len(pieces) - 1
    return all(ihl + len(d) <= mtu and (i == last or not len(d) & 7) for i, (_, d) in enumerate(pieces))


def ip_do_fragment(packet: bytes, mtu: int, reasm=None, keep_df: bool = False, cloned: bool = False) -> list:
    """``ip_do_fragment``: the fast path for a datagram reassembled here (``reasm``) whose
    pieces each fit ``mtu`` and whose skb is not a clone (``cloned``), else the slow path
    (``keep_df``: ``IPSKB_FRAG_PMTU``)."""
    if reasm is not None and not cloned and fraglist_fits(len(reasm.first_header), reasm.pieces, mtu):
        return ip_fraglist(packet[:len(reasm.first_header)], reasm.pieces)
    return ip_fragment(packet, mtu, keep_df)


_KMALLOC = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
#: ``SKB_SMALL_HEAD_CACHE_SIZE``: a head this small comes from its own slab, not kmalloc
_SKB_SMALL_HEAD = 576


def skb_truesize(length: int) -> int:
    """What a received frame of ``length`` bytes costs in ``skb->truesize``: its data
    buffer (16 bytes of headroom, the frame, cache-aligned, and ``struct
    skb_shared_info``, 320 bytes: the 576-byte small-head slab when that fits, else a
    kmalloc size) plus ``struct sk_buff`` (256 once aligned).  Measured on this kernel
    for frames a veth delivers, whether a stack or an AF_PACKET socket built them: 832
    bytes up to a 234-byte frame, 1280 up to 682, 2304 up to 1514."""
    need = ((length + 16 + 63) & ~63) + 320
    if need <= _SKB_SMALL_HEAD:
        return _SKB_SMALL_HEAD + 256
    for size in _KMALLOC:
        if size >= need:
            return size + 256
    return need + 256


#: ``sizeof(struct ipq)``, what a queue itself adds to the memory count
IPQ_SIZE = 200

#: ``IPFRAG_ECN_NOT_ECT`` and ``IPFRAG_ECN_CE``: ``1 << (tos & 3)`` of a piece
_ECN_NOT_ECT, _ECN_CE = 1, 8


def ip_frag_ecn(ecn: int):
    """``ip_frag_ecn_table[ecn]``, ``ecn`` the OR of ``1 << (tos & 3)`` over the pieces:
    what the rebuilt header's TOS is ORed with (CE when a piece had CE and the others
    ECT), or None for an invalid mix (Not-ECT with ECT or CE: the datagram is dropped)."""
    if ecn & _ECN_NOT_ECT and ecn != _ECN_NOT_ECT:
        return None
    return 3 if ecn & _ECN_CE and ecn != _ECN_CE else 0


@attrs.define(eq=False)
class Ipq:
    """One datagram being reassembled (``struct ipq``): its runs of contiguous fragments,
    ``[start, end, [(offset, payload, pid), ...]]`` in offset order."""

    key: tuple
    saddr: int
    created: int
    runs: list = attrs.Factory(list)
    len: int = 0            # q.len: the datagram's payload length as far as known
    meat: int = 0           # bytes received
    first_in: bool = False
    last_in: bool = False
    complete: bool = False
    max_size: int = 0       # the largest piece, header included (frag_max_size)
    max_df_size: int = 0    # the largest piece that had DF
    first_header: bytes = None
    first_frame: object = None     # (dev, frame) of the piece at offset 0, for ICMP
    truesize: int = 0
    ecn: int = 0            # the pieces' ECN codepoints, one bit each (qp->ecn)
    rid: int = 0
    timer: object = None
    pids: list = attrs.Factory(list)

    @property
    def tail_end(self) -> int:
        return self.runs[-1][1] if self.runs else 0

    def insert(self, offset: int, end: int, data: bytes, pid: int) -> str:
        """``inet_frag_queue_insert``: "" when queued, else ``"dup"`` or ``"overlap"``."""
        runs = self.runs
        if not runs:
            runs.append([offset, end, [(offset, data, pid)]])
            return ""
        last = runs[-1]
        if last[1] < end:
            # the common case: the piece goes at the end
            if offset < last[1]:
                return "overlap"
            if offset == last[1]:
                last[1] = end
                last[2].append((offset, data, pid))
            else:
                runs.append([offset, end, [(offset, data, pid)]])
            return ""
        for i, run in enumerate(runs):
            if end <= run[0]:
                runs.insert(i, [offset, end, [(offset, data, pid)]])
                return ""
            if offset >= run[1]:
                continue
            return "dup" if offset >= run[0] and end <= run[1] else "overlap"
        raise AssertionError("a piece ending before the last run's end lies before a run")

    def pieces(self) -> list:
        """The queued pieces in offset order, ``(offset, payload)``."""
        return [(o, d) for run in self.runs for o, d, _ in run[2]]

    def held(self) -> int:
        return sum(len(run[2]) for run in self.runs)


@attrs.define
class Reassembled:
    """What ``ip_frag_reasm`` hands on: the whole datagram, its largest piece
    (``IPCB(skb)->frag_max_size``), whether every piece of that size had DF
    (``IPSKB_FRAG_PMTU``), and the pieces for the fast path."""

    packet: bytes
    frag_max_size: int
    frag_pmtu: bool
    first_header: bytes
    pieces: list
    pid: int


class IpDefrag:
    """A namespace's reassembly queues (``fqdir``) and the counters ``/proc/net/snmp``'s
    ``Ip:`` line shows for them (on :attr:`stats`, which the namespace's IPv4 layer
    shares).

    :meth:`defrag` is ``ip_defrag``: it takes one fragment (an IPv4 packet, from its header
    on) and returns a :class:`Reassembled` when that fragment completed a datagram, else
    None (the fragment was queued, or dropped and counted: ``on_drop(reason, detail)``).
    ``on_drop(reason, detail, count)`` counts dropped fragments; ``on_expire(queue)`` runs
    when a queue times out."""

    def __init__(self, ns, stats, on_drop, on_expire):
        self.ns = ns
        self.sim = ns.sim
        self.stats = stats
        self.on_drop = on_drop
        self.on_expire = on_expire
        self.queues = {}
        self.mem = 0
        self._peer_rid = {}

    def sysctl(self, key: str) -> int:
        return self.ns.sysctl.get(key, IPFRAG_SYSCTLS[key])

    def _kill(self, q: Ipq) -> None:
        """``inet_frag_kill``: the queue goes, its memory with it."""
        if self.queues.get(q.key) is q:
            del self.queues[q.key]
        if q.timer is not None:
            q.timer.cancel()
            q.timer = None
        self.mem -= q.truesize + IPQ_SIZE
        q.complete = True

    def _discard(self, q: Ipq, detail: str) -> None:
        """``discard_qp``: the fragment that came is dropped (``NOT_SPECIFIED``:
        ``ip_frag_queue`` names no reason) and the queue killed with every piece in it
        (``inet_frag_destroy`` frees them as consumed, no drop reason), ``ReasmFails``."""
        held = q.held()
        self._kill(q)
        self.stats["ReasmFails"] += 1
        self.on_drop("NOT_SPECIFIED", f"{detail}: the datagram is discarded"
                                      f"{f' with the {held} fragment(s) queued' if held else ''}", 1)

    def _find(self, key: tuple, saddr: int):
        """``ip_find`` → ``inet_frag_find``: the queue for ``key``, created if need be;
        None while the memory held is over ``ipfrag_high_thresh``."""
        high = self.sysctl("net.ipv4.ipfrag_high_thresh")
        if not high or self.mem > high:
            return None
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = Ipq(key, saddr, self.sim.now)
            self.mem += IPQ_SIZE
            q.rid = self._peer_rid.get(saddr, 0)
            q.timer = self.sim.after(self.sysctl("net.ipv4.ipfrag_time") * 1_000_000_000,
                                     lambda: self._expire(q))
        return q

    def _expire(self, q: Ipq) -> None:
        """``ip_expire``: the queue timed out."""
        q.timer = None
        if q.complete:
            return
        held = q.held()
        self._kill(q)
        self.stats["ReasmFails"] += 1
        self.stats["ReasmTimeout"] += 1
        self.on_drop("FRAG_REASM_TIMEOUT",
                     f"datagram ID {q.key[3]} not complete after {self.sysctl('net.ipv4.ipfrag_time')} s "
                     f"({held} fragment(s), {q.meat} of {q.len if q.last_in else '?'} bytes)", held)
        self.on_expire(q)

    def defrag(self, packet: bytes, user: int, pid: int, where=None):
        """``ip_defrag``: queue the fragment ``packet``; a :class:`Reassembled` if it
        completed its datagram.  ``where`` is kept with the first piece, for the ICMP
        error a timeout sends."""
        self.stats["ReasmReqds"] += 1
        saddr = int.from_bytes(packet[12:16], "big")
        daddr = int.from_bytes(packet[16:20], "big")
        ident = _FRAG.unpack_from(packet, 4)[0]
        key = (user, saddr, daddr, ident, packet[9])
        q = self._find(key, saddr)
        if q is None:
            self.stats["ReasmFails"] += 1
            self.on_drop("NOT_SPECIFIED", f"fragment memory over ipfrag_high_thresh "
                                          f"({self.mem} > {self.sysctl('net.ipv4.ipfrag_high_thresh')} bytes)", 1)
            return None
        return self._queue(q, packet, pid, where)

    def _too_far(self, q: Ipq) -> bool:
        """``ip_frag_too_far``: count the fragment against its source; True when more than
        ``ipfrag_max_dist`` came from it since this queue last took one."""
        max_dist = self.sysctl("net.ipv4.ipfrag_max_dist")
        if not max_dist:
            return False   # no inet_peer is kept for the queue
        rid = self._peer_rid[q.saddr] = self._peer_rid.get(q.saddr, 0) + 1
        start, q.rid = q.rid, rid
        if q.runs and rid - start > max_dist:
            self.stats["ReasmFails"] += 1
            return True
        return False

    def _queue(self, q: Ipq, packet: bytes, pid: int, where):
        """``ip_frag_queue``, the bullets of the module's docstring in order."""
        if q.complete:
            self.on_drop("DUP_FRAG", "the datagram is complete already", 1)
            return None
        if self._too_far(q):
            # ip_frag_reinit: the pieces go, the timer starts over; max_size and
            # max_df_size are not reset
            held = q.held()
            self.mem -= q.truesize
            q.runs, q.len, q.meat, q.truesize, q.ecn, q.pids = [], 0, 0, 0, 0, []
            q.first_in = q.last_in = False
            q.first_header = q.first_frame = None
            if q.timer is not None:
                q.timer.cancel()
            q.timer = self.sim.after(self.sysctl("net.ipv4.ipfrag_time") * 1_000_000_000,
                                     lambda: self._expire(q))
            if held:
                self.on_drop("FRAG_TOO_FAR", f"more than {self.sysctl('net.ipv4.ipfrag_max_dist')} fragments "
                                             f"from the source since: the queue starts over", held)
        ihl = (packet[0] & 0x0F) * 4
        total = _FRAG.unpack_from(packet, 2)[0]
        frag = _FRAG.unpack_from(packet, 6)[0]
        offset = (frag & IP_OFFMASK) << 3
        end = offset + total - ihl
        if not frag & IP_MF:
            if end < q.len or (q.last_in and end != q.len):
                self._discard(q, f"final fragment ends at {end}, the datagram at {q.len}")
                return None
            q.last_in = True
            q.len = end
        else:
            end &= ~7
            if end > q.len:
                if q.last_in:
                    self._discard(q, f"fragment ends at {end}, past the datagram's end {q.len}")
                    return None
                q.len = end
        if end == offset:
            self._discard(q, f"fragment at offset {offset} with no payload")
            return None
        data = packet[ihl:ihl + end - offset]
        found = q.insert(offset, end, data, pid)
        if found == "dup":
            self.on_drop("DUP_FRAG", f"bytes {offset}-{end} are queued already", 1)
            return None
        if found == "overlap":
            self.stats["ReasmOverlaps"] += 1
            self._discard(q, f"bytes {offset}-{end} overlap queued ones")
            return None
        q.meat += len(data)
        q.ecn |= 1 << (packet[1] & 3)
        size = skb_truesize(total + 14)
        q.truesize += size
        self.mem += size
        q.pids.append(pid)
        if offset == 0:
            q.first_in = True
            q.first_header = packet[:ihl]
            q.first_frame = (where, packet)
        fragsize = len(data) + ihl
        q.max_size = max(q.max_size, fragsize)
        if frag & IP_DF:
            q.max_df_size = max(q.max_df_size, fragsize)
        if q.first_in and q.last_in and q.meat == q.len:
            return self._reasm(q)
        return None

    def _reasm(self, q: Ipq):
        """``ip_frag_reasm``; a failure frees the pieces as consumed (the kernel names
        no drop reason): emunet counts the fragment that completed the datagram."""
        ihl = len(q.first_header)
        self._kill(q)
        ecn = ip_frag_ecn(q.ecn)
        if ecn is None:
            self.stats["ReasmFails"] += 1
            self.on_drop("NOT_SPECIFIED", f"datagram ID {q.key[3]}: Not-ECT fragments mixed with ECT or CE ones "
                                          f"(RFC 3168 5.3): {q.held()} fragment(s) discarded", 1)
            return None
        if ihl + q.len > 65535:
            self.stats["ReasmFails"] += 1
            self.on_drop("NOT_SPECIFIED", f"Oversized IP packet from {_dotted(q.saddr)}: {ihl + q.len} bytes "
                                          f"reassembled, {q.held()} fragment(s) discarded", 1)
            return None
        pieces = q.pieces()
        pmtu = q.max_df_size == q.max_size
        head = bytearray(q.first_header)
        head[1] |= ecn
        packet = _set_header(head, ihl + q.len, IP_DF if pmtu else 0) + b"".join(d for _, d in pieces)
        self.stats["ReasmOKs"] += 1
        return Reassembled(packet, q.max_size, pmtu, q.first_header, pieces, q.runs[0][2][0][2])


__all__ = ["ip_do_fragment", "ip_fragment", "ip_fraglist", "fraglist_fits", "ip_options_fragment", "IpDefrag", "Ipq",
           "Reassembled", "skb_truesize", "IPFRAG_SYSCTLS", "IP_DEFRAG_LOCAL_DELIVER", "IP_DEFRAG_CONNTRACK_IN",
           "IP_DEFRAG_CONNTRACK_OUT", "IP_DEFRAG_CONNTRACK_BRIDGE_IN"]
