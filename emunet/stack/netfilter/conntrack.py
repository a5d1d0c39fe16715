"""Connection tracking (``net/netfilter/nf_conntrack_core.c``, ``nf_conntrack_proto_*.c``)."""
from emunet.wire.ipv4 import IP_MF, IP_OFFMASK, int_to_ip

#: ``enum ip_conntrack_info``
IP_CT_ESTABLISHED = 0
IP_CT_RELATED = 1
IP_CT_NEW = 2
IP_CT_IS_REPLY = 3
IP_CT_ESTABLISHED_REPLY = IP_CT_ESTABLISHED + IP_CT_IS_REPLY
IP_CT_RELATED_REPLY = IP_CT_RELATED + IP_CT_IS_REPLY
#: the ``ctinfo`` of a packet the raw table's NOTRACK left untracked
IP_CT_UNTRACKED = 7

#: ``enum ip_conntrack_status`` bits
IPS_EXPECTED = 1 << 0
IPS_SEEN_REPLY = 1 << 1
IPS_ASSURED = 1 << 2
IPS_CONFIRMED = 1 << 3
IPS_SRC_NAT = 1 << 4
IPS_DST_NAT = 1 << 5
IPS_SRC_NAT_DONE = 1 << 7
IPS_DST_NAT_DONE = 1 << 8
IPS_UNTRACKED = 1 << 12
IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT

IP_CT_DIR_ORIGINAL = 0
IP_CT_DIR_REPLY = 1

#: ``enum tcp_conntrack``
(TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_ESTABLISHED,
 TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT,
 TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_SYN_SENT2, TCP_CONNTRACK_MAX, TCP_CONNTRACK_IGNORE) = range(12)
TCP_CONNTRACK_NAMES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
                       "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2")
_sNO, _sSS, _sSR, _sES, _sFW, _sCW, _sLA, _sTW, _sCL, _sS2, _sIV, _sIG = range(12)
#: ``tcp_conntracks[dir][index][old_state]`` (kernel 6.x), index: SYN, SYN-ACK, FIN, ACK, RST, none
TCP_CONNTRACKS = (
    ((_sSS, _sSS, _sIG, _sIG, _sIG, _sIG, _sIG, _sSS, _sSS, _sS2),
     (_sIV, _sIV, _sSR, _sIV, _sIV, _sIV, _sIV, _sIV, _sIV, _sSR),
     (_sIV, _sIV, _sFW, _sFW, _sLA, _sLA, _sLA, _sTW, _sCL, _sIV),
     (_sES, _sIV, _sES, _sES, _sCW, _sCW, _sTW, _sTW, _sCL, _sIV),
     (_sIV, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL),
     (_sIV,) * 10),
    ((_sIV, _sS2, _sIV, _sIV, _sIV, _sIV, _sIV, _sSS, _sIV, _sS2),
     (_sIV, _sSR, _sIG, _sIG, _sIG, _sIG, _sIG, _sIG, _sIG, _sSR),
     (_sIV, _sIV, _sFW, _sFW, _sLA, _sLA, _sLA, _sTW, _sCL, _sIV),
     (_sIV, _sIG, _sSR, _sES, _sCW, _sCW, _sTW, _sTW, _sCL, _sIG),
     (_sIV, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL, _sCL),
     (_sIV,) * 10),
)
TCP_SYN_SET, TCP_SYNACK_SET, TCP_FIN_SET, TCP_ACK_SET, TCP_RST_SET, TCP_NONE_SET = range(6)

_S = 1_000_000_000
#: the kernel's default timeouts, in ns (``nf_conntrack_tcp_timeout_*``, ``..._udp_timeout``,
#: ``..._udp_timeout_stream``, ``..._icmp_timeout``, ``..._generic_timeout``)
TCP_TIMEOUTS = (10 * _S, 120 * _S, 60 * _S, 432000 * _S, 120 * _S, 60 * _S, 30 * _S, 120 * _S,
                10 * _S, 120 * _S)
UDP_TIMEOUT = 30 * _S
UDP_TIMEOUT_STREAM = 120 * _S
ICMP_TIMEOUT = 30 * _S
GENERIC_TIMEOUT = 600 * _S

#: ICMP queries and the replies they invert to (``invmap`` of nf_conntrack_proto_icmp.c)
ICMP_INVMAP = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}
#: the ICMP types that can start a connection (``icmp_new``'s ``valid_new``)
ICMP_VALID_NEW = (8, 13, 15, 17)
#: ICMP errors, looked up by the packet they quote (``icmp_error``)
ICMP_ERRORS = (3, 4, 5, 11, 12)
_PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp"}
_TCP_RST, _TCP_SYN, _TCP_FIN, _TCP_ACK = 0x04, 0x02, 0x01, 0x10


def pkt_to_tuple(data, off: int = 0, quoted: bool = False):
    """``nf_ct_get_tuple``: ``(src, dst, proto, a, b)`` for the IP packet at ``data[off:]``:
    TCP/UDP ports as ``a``/``b``; ICMP's identifier as ``a`` and type << 8 | code as ``b``;
    zeros for other protocols (``nf_conntrack_l4proto_generic``).  None when the transport
    header is cut short (only 8 bytes of it are needed, as from an ICMP error's quote), and
    for a non-first fragment, which has no transport header (``ipv4_get_l4proto``:
    "Conntrack defragments packets, we might still see fragments inside ICMP packets")."""
    if ((data[off + 6] << 8) | data[off + 7]) & IP_OFFMASK:
        return None
    ihl = (data[off] & 0x0F) * 4
    proto = data[off + 9]
    src = int.from_bytes(data[off + 12:off + 16], "big")
    dst = int.from_bytes(data[off + 16:off + 20], "big")
    l4 = off + ihl
    if proto in (6, 17):
        if len(data) < l4 + 8:
            return None
        return (src, dst, proto, (data[l4] << 8) | data[l4 + 1], (data[l4 + 2] << 8) | data[l4 + 3])
    if proto == 1:
        if len(data) < l4 + 8:
            return None
        return (src, dst, 1, (data[l4 + 4] << 8) | data[l4 + 5], (data[l4] << 8) | data[l4 + 1])
    return (src, dst, proto, 0, 0)


def invert_tuple(t):
    """``nf_ct_invert_tuple``; None for an ICMP type without a reply."""
    src, dst, proto, a, b = t
    if proto == 1:
        inv = ICMP_INVMAP.get(b >> 8)
        if inv is None:
            return None
        return (dst, src, 1, a, (inv << 8) | (b & 0xFF))
    return (dst, src, proto, b, a)


def tuple_text(t) -> str:
    """A tuple as ``conntrack -L`` prints it."""
    src, dst, proto, a, b = t
    text = f"src={int_to_ip(src)} dst={int_to_ip(dst)}"
    if proto == 1:
        return f"{text} type={b >> 8} code={b & 0xFF} id={a}"
    if proto in (6, 17):
        return f"{text} sport={a} dport={b}"
    return text


class NfConn:
    """One tracked connection (``struct nf_conn``): its tuples in both directions (the reply
    one rewritten by NAT), ``status`` (``IPS_*``), the TCP state, when it expires (virtual
    ns), its mark, and whether it was confirmed (inserted in the table: a connection whose
    first packet was dropped before the last hook is never seen again)."""

    __slots__ = ("tuplehash", "status", "tcp_state", "expires", "mark", "confirmed", "id",
                 "stream_ts")

    def __init__(self, orig, reply, cid: int):
        self.tuplehash = [orig, reply]
        self.status = 0
        self.tcp_state = TCP_CONNTRACK_NONE
        self.expires = 0
        self.mark = 0
        self.confirmed = False
        self.id = cid
        self.stream_ts = 0

    @property
    def proto(self) -> int:
        return self.tuplehash[0][2]

    def text(self, now: int) -> str:
        """The line ``conntrack -L`` prints (conntrack-tools 1.4.7)."""
        proto = self.proto
        left = max(0, (self.expires - now) // _S)
        head = f"{_PROTO_NAMES.get(proto, 'unknown'):<8} {proto} {left} "
        if proto == 6:
            head += TCP_CONNTRACK_NAMES[self.tcp_state] + " "
        orig = tuple_text(self.tuplehash[0])
        if not self.status & IPS_SEEN_REPLY:
            orig += " [UNREPLIED]"
        reply = tuple_text(self.tuplehash[1])
        if self.status & IPS_ASSURED:
            reply += " [ASSURED]"
        return f"{head}{orig} {reply} mark={self.mark} use=1"


class Conntrack:
    """One namespace's connection table (``net->ct``, ``nf_conntrack_in``): a hash of both
    tuples of every confirmed connection.  Entries expire on the virtual clock, looked at
    lazily (on lookup, and when listed)."""

    def __init__(self, sim):
        self.sim = sim
        self.hash = {}
        self.conns = []   # confirmed, in the order they were confirmed
        self._next_id = 1
        self.stat_invalid = 0
        #: fragments that met conntrack and were left untracked (see :meth:`conntrack_in`)
        self.stat_fragment = 0

    def find(self, t):
        """``nf_conntrack_find_get``: ``(ct, dir)`` for a confirmed, live connection with
        tuple ``t`` in either direction, else None."""
        hit = self.hash.get(t)
        if hit is not None and hit[0].expires <= self.sim.now:
            self._kill(hit[0])
            return None
        return hit

    def tuple_taken(self, t, ignored) -> bool:
        """``nf_conntrack_tuple_taken``: another live connection has ``t``."""
        hit = self.find(t)
        return hit is not None and hit[0] is not ignored

    def _kill(self, ct) -> None:
        """``nf_ct_kill``: gone from the table."""
        for t in ct.tuplehash:
            hit = self.hash.get(t)
            if hit is not None and hit[0] is ct:
                del self.hash[t]
        if ct in self.conns:
            self.conns.remove(ct)
        ct.expires = 0

    def confirm(self, ct) -> bool:
        """``__nf_conntrack_confirm``: insert a new connection's tuples at the packet's last
        hook; False if another connection took one of them meanwhile (a clash)."""
        if ct.confirmed:
            return True
        for t in ct.tuplehash:
            if self.find(t) is not None:
                return False
        ct.confirmed = True
        ct.status |= IPS_CONFIRMED
        self.hash[ct.tuplehash[0]] = (ct, IP_CT_DIR_ORIGINAL)
        self.hash[ct.tuplehash[1]] = (ct, IP_CT_DIR_REPLY)
        self.conns.append(ct)
        return True

    def live(self) -> list:
        """The confirmed connections not yet expired (what a garbage collection pass leaves)."""
        now = self.sim.now
        for ct in [c for c in self.conns if c.expires <= now]:
            self._kill(ct)
        return list(self.conns)

    def listing(self) -> str:
        """``conntrack -L``: a line per connection, then the count conntrack-tools prints on
        stderr."""
        now = self.sim.now
        lines = [ct.text(now) for ct in self.live()]
        lines.append(f"conntrack v1.4.7 (conntrack-tools): {len(lines)} flow entries have been shown.")
        return "\n".join(lines) + "\n"

    # -- nf_conntrack_in ------------------------------------------------------------------
    def conntrack_in(self, pkt) -> int:
        """``nf_conntrack_in``: attach the packet's connection to it (``pkt.ct``,
        ``pkt.ctinfo``), making a new, unconfirmed one for the first packet of a flow; update
        the protocol state.  A packet conntrack finds invalid continues with no connection
        (its state is INVALID to ``-m conntrack``).  Returns the verdict (always accept:
        only a rule drops).

        A fragment (MF set or a non-zero offset) never gets a connection: the IPv4 path
        and br_netfilter reassemble the datagram first (``nf_defrag_ipv4``, priority -400,
        registered with conntrack: :meth:`emunet.stack.ipv4.Ipv4.ip_defrag`), so
        conntrack tracks whole datagrams (one entry, FORWARD matching once;
        ``tests/kernel/reference/FINDINGS.md`` §14).  A piece that reaches this function
        all the same is counted in :attr:`stat_fragment` and goes on untracked (``pkt.ct``
        None: INVALID to ``-m conntrack``, no NAT) with a note, rather than under a tuple
        read from one piece (ports 0 for a later piece, a connection the other pieces
        never meet for the first)."""
        if pkt.ct is not None:
            return 1   # already tracked (it came back over lo, or through the bridge hooks)
        data = pkt.data
        frag = ((data[6] << 8) | data[7]) & (IP_MF | IP_OFFMASK)
        if frag:
            self.stat_fragment += 1
            pkt.note(f"conntrack: fragment id {pkt.ident:#06x} offset {(frag & IP_OFFMASK) * 8}"
                     f"{' MF' if frag & IP_MF else ''} left untracked: conntrack tracks "
                     f"reassembled datagrams")
            return 1
        if pkt.proto == 1 and pkt.icmp_type in ICMP_ERRORS:
            return self._icmp_error(pkt)
        t = pkt_to_tuple(data)
        if t is None:
            self.stat_invalid += 1
            return 1
        hit = self.find(t)
        if hit is None:
            ct = self._init_conntrack(pkt, t)
            if ct is None:
                self.stat_invalid += 1
                return 1
            direction = IP_CT_DIR_ORIGINAL
            ctinfo = IP_CT_NEW
        else:
            ct, direction = hit
            if direction == IP_CT_DIR_REPLY:
                ctinfo = IP_CT_ESTABLISHED_REPLY
            elif ct.status & IPS_SEEN_REPLY:
                ctinfo = IP_CT_ESTABLISHED
            else:
                ctinfo = IP_CT_NEW
        ok = self._packet(ct, pkt, direction)
        if ok is None:
            # the connection is over and this packet starts a new one (a SYN after TIME_WAIT)
            self._kill(ct)
            return self.conntrack_in(pkt)
        if not ok:
            self.stat_invalid += 1
            return 1
        if direction == IP_CT_DIR_REPLY:
            ct.status |= IPS_SEEN_REPLY
        pkt.ct = ct
        pkt.ctinfo = ctinfo
        return 1

    def _init_conntrack(self, pkt, t):
        """``init_conntrack``: a new connection, if the protocol lets this packet start one."""
        proto = t[2]
        if proto == 6:
            flags = pkt.tcp_flags or 0
            if flags & _TCP_RST or not flags & (_TCP_SYN | _TCP_ACK) or (flags & _TCP_SYN and flags & _TCP_ACK):
                return None   # tcp_new: only a SYN or (nf_conntrack_tcp_loose) a bare ACK
            if flags & _TCP_FIN and not flags & _TCP_SYN:
                return None
        elif proto == 1 and (t[4] >> 8) not in ICMP_VALID_NEW:
            return None
        reply = invert_tuple(t)
        if reply is None:
            return None
        ct = NfConn(t, reply, self._next_id)
        self._next_id += 1
        return ct

    def _packet(self, ct, pkt, direction: int):
        """The protocol's ``packet`` handler: state and timeout.  True: accepted; False:
        invalid; None: the connection must be killed and the packet tracked anew."""
        now = self.sim.now
        proto = ct.proto
        if proto == 6:
            return self._tcp_packet(ct, pkt, direction, now)
        if proto == 17:
            if ct.status & IPS_SEEN_REPLY or direction == IP_CT_DIR_REPLY:
                if not ct.status & IPS_SEEN_REPLY:
                    ct.stream_ts = now + 2 * _S
                    ct.expires = now + UDP_TIMEOUT
                elif now > ct.stream_ts:
                    # still active after two seconds: a stream, assured
                    ct.expires = now + UDP_TIMEOUT_STREAM
                    ct.status |= IPS_ASSURED
                else:
                    ct.expires = now + UDP_TIMEOUT
            else:
                ct.expires = now + UDP_TIMEOUT
            return True
        if proto == 1:
            ct.expires = now + ICMP_TIMEOUT
            return True
        ct.expires = now + GENERIC_TIMEOUT
        return True

    def _tcp_packet(self, ct, pkt, direction: int, now: int):
        """``tcp_packet``, without window tracking: the state table, the timeouts, ASSURED,
        and a connection killed at once when its only reply is a RST."""
        flags = pkt.tcp_flags or 0
        if flags & _TCP_RST:
            index = TCP_RST_SET
        elif flags & _TCP_SYN:
            index = TCP_SYNACK_SET if flags & _TCP_ACK else TCP_SYN_SET
        elif flags & _TCP_FIN:
            index = TCP_FIN_SET
        elif flags & _TCP_ACK:
            index = TCP_ACK_SET
        else:
            index = TCP_NONE_SET
        old = ct.tcp_state
        new = TCP_CONNTRACKS[direction][index][old]
        if new == _sIV:
            return False
        if new == _sIG:
            return True
        if new == _sSS and old >= _sTW and ct.confirmed:
            return None   # reopened: kill the old connection, track the SYN as new
        if flags & _TCP_RST and not ct.status & IPS_SEEN_REPLY and direction == IP_CT_DIR_REPLY:
            # "if only reply is a RST, we can consider ourselves not to have an established
            # connection": gone at once
            self._kill(ct)
            ct.tcp_state = new
            return True
        ct.tcp_state = new
        ct.expires = now + TCP_TIMEOUTS[new]
        if not ct.status & IPS_ASSURED and old in (_sSR, _sES) and new == _sES:
            ct.status |= IPS_ASSURED
        return True

    def _icmp_error(self, pkt) -> int:
        """``icmp_error`` → ``nf_conntrack_inet_error``: an ICMP error is RELATED to the
        connection of the packet it quotes (looked up by the quote's tuple, inverted)."""
        data = pkt.data
        inner = pkt.ihl + 8
        if len(data) < inner + 20:
            self.stat_invalid += 1
            return 1
        t = pkt_to_tuple(data, inner, quoted=True)
        inv = invert_tuple(t) if t is not None else None
        hit = self.find(inv) if inv is not None else None
        if hit is None:
            self.stat_invalid += 1
            return 1
        ct, direction = hit
        pkt.ct = ct
        pkt.ctinfo = IP_CT_RELATED_REPLY if direction == IP_CT_DIR_REPLY else IP_CT_RELATED
        return 1
