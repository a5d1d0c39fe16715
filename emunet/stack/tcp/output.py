"""What a TCP socket sends (``net/ipv4/tcp_output.c``): ``tcp_transmit_skb`` and the
options and window it puts on each segment, ``tcp_write_xmit`` (MSS segmentation,
PSH, Nagle with Minshall's rule, the congestion window, the FIN on the last data
segment), the SYN and SYN-ACK, ``tcp_send_ack`` and the delayed ACK, and the set-up of
a connection (``tcp_connect_init``, ``tcp_select_initial_window``).

:class:`TcpOutput` is a part of :class:`~emunet.stack.tcp.socket.TcpSocket`: its
methods run on the socket and use the state ``TcpSocket.__init__`` sets.
"""
from emunet.sim import MS
from emunet.stack.tcp.constants import (CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK,
                                        SYN_SENT, TCP_ATO_MIN, TCP_DELACK_MIN, TCP_MAX_WSCALE,
                                        TCP_MSS_DEFAULT, TCP_TIMEOUT_INIT, TCPOLEN_TSTAMP_ALIGNED)
from emunet.stack.tcp.options import sack_option, syn_options, timestamp_option
from emunet.stack.tcp.seq import MASK, after, align, before, dist, ilog2
from emunet.wire.ipv4 import IPPROTO_TCP, int_to_ip
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpView


def flags_text(flags: int) -> str:
    """The flags as tcpdump prints them (``S``, ``F``, ``R``, ``P``, ``.``)."""
    names = [(TCP_SYN, "S"), (TCP_FIN, "F"), (TCP_RST, "R"), (TCP_PSH, "P"), (TCP_ACK, ".")]
    return "".join(c for f, c in names if flags & f) or "none"


class TcpOutput:
    """The sending half of a TCP socket."""

    # -- the route and the segment size ----------------------------------------------
    def _route_caps(self, dst: int) -> None:
        """``sk_setup_caps``: the path MTU is the route's (``dst_mtu``: a path MTU learned
        for ``dst``, else the device's), and the MSS to advertise ``ipv4_default_advmss``
        (that MTU less 40, at most 65535 - 40)."""
        r = self.ns.fib.lookup(dst)
        if r is None:
            mtu = 1500
        elif r.type == "local":
            mtu = self.ns.lo.mtu
        else:
            mtu = self.ns.fib.mtu(dst, r)
        self.pmtu = mtu
        self.advmss = min(mtu, 65535) - 40

    def mtu_reduced(self) -> None:
        """``tcp_v4_mtu_reduced``: a fragmentation needed lowered the path MTU to the peer
        below what the socket uses: the MSS follows (``tcp_sync_mss``) and what was sent
        and not yet acknowledged goes again at once, every byte up to ``snd_nxt`` and no
        more, in segments of the new size (``tcp_simple_retransmit`` marks lost what is
        longer than the new MSS and ``tcp_xmit_retransmit_queue`` resends it without
        waiting for the retransmission timer).  The kernel re-cuts each queued skb (a
        7240-byte write goes again as 5 x 1398 + 250); here the range is cut afresh."""
        r = self.ns.fib.lookup(self.remote[0])
        if r is None or r.type != "unicast":
            return
        mtu = self.ns.fib.mtu(self.remote[0], r)
        if mtu >= self.pmtu:
            return
        old = self.mss_now
        self.pmtu = mtu
        mss = self.mss_now
        self.layer.note_sock(self, f"path MTU {mtu}: MSS {old} → {mss}, resend what is unacknowledged")
        end = self.snd_nxt
        if self.fin_queued and after(end, self.write_seq):
            end = self.write_seq     # the FIN's sequence number is not a byte to cut
        seq = self.snd_una
        self._rtt_seq = None         # Karn: no RTT sample from what is sent again
        while before(seq, end):
            size = min(mss, dist(end, seq))
            off = dist(seq, self._buf_seq)
            last = dist(end, seq) == size
            flags = TCP_ACK | (TCP_PSH if last else 0)
            if last and end == self.write_seq and self.fin_queued and after(self.snd_nxt, self.write_seq):
                flags |= TCP_FIN
            self.retrans_segs += 1
            self._transmit_skb(flags, seq, bytes(self._sndbuf[off:off + size]), "retransmit at the new MSS")
            seq = (seq + size) & MASK

    @property
    def mss_now(self) -> int:
        """``tcp_current_mss``: what fits a segment, less the timestamp option, bounded
        by half the largest window the peer offered (``tcp_bound_to_half_wnd``)."""
        mss = min(self.peer_mss, self.pmtu - 40)
        if self.ts_ok:
            mss -= TCPOLEN_TSTAMP_ALIGNED
        if self.max_window > TCP_MSS_DEFAULT:
            cutoff = self.max_window >> 1
            if cutoff and mss > cutoff:
                mss = max(cutoff, 68 - 20 - (TCPOLEN_TSTAMP_ALIGNED if self.ts_ok else 0))
        return max(mss, 8)

    def _rcv_advmss(self) -> int:
        return self.advmss - (TCPOLEN_TSTAMP_ALIGNED if self.ts_ok else 0)

    def _select_initial_window(self, mss: int) -> None:
        """``tcp_select_initial_window``: half of ``tcp_rmem[1]`` (``tcp_adv_win_scale``
        1) rounded down to a multiple of the MSS; the scale from the largest buffer."""
        rmem = self.layer.sysctl_ints("net.ipv4.tcp_rmem", 3)
        space = rmem[1] // 2
        if space > mss:
            space = (space // mss) * mss
        self.rcv_wnd = min(space, 0xFFFF)
        if self.wscale_ok:
            big = max(space, rmem[2], int(self.sysctl("net.core.rmem_max")))
            self.rcv_wscale = max(0, min(ilog2(big) - 15, TCP_MAX_WSCALE))
        else:
            self.rcv_wscale = 0
        self.rcv_ssthresh = self.rcv_wnd

    def _connect(self, dst: int, dport: int) -> None:
        """``tcp_connect_init`` and ``tcp_connect``: the options to offer, ISN, timestamp
        offset and ``inet_id`` from ``sim.rng``, the initial window, then the SYN."""
        self._route_caps(dst)
        rng = self.sim.rng
        self.ts_ok = bool(self.sysctl("net.ipv4.tcp_timestamps"))
        self.sack_ok = bool(self.sysctl("net.ipv4.tcp_sack"))
        self.wscale_ok = bool(self.sysctl("net.ipv4.tcp_window_scaling"))
        self.iss = rng.getrandbits(32)
        self.ts_off = rng.getrandbits(32) if self.ts_ok else 0
        self.inet_id = rng.getrandbits(16)
        self._select_initial_window(self.advmss)  # ts_recent_stamp is 0: no TS deduction
        self.snd_una = self.iss
        self.snd_nxt = self.snd_max = (self.iss + 1) & MASK
        self.write_seq = self._buf_seq = (self.iss + 1) & MASK
        self.snd_sml = self.write_seq
        self.state = SYN_SENT
        self.rto = TCP_TIMEOUT_INIT
        self._rtt_seq, self._rtt_time = self.snd_nxt, self.sim.now
        self.layer.hash(self)
        self.layer.active_opens += 1
        self._send_syn(f"connect() to {int_to_ip(dst)}:{dport}")
        self._arm_rtx()

    # -- options and window ----------------------------------------------------------
    def _tsval(self) -> int:
        return (self.sim.now // MS + self.ts_off) & MASK

    def _options(self, flags: int) -> bytes:
        """``tcp_established_options``: the timestamp, and SACK blocks on an ACK."""
        opts = b""
        if self.ts_ok:
            opts = timestamp_option(self._tsval(), self.ts_recent)
        if self.sack_ok and flags & TCP_ACK and not flags & TCP_RST:
            blocks = self._sack_blocks(3 if self.ts_ok else 4)
            if blocks:
                opts += sack_option(blocks)
        return opts

    def _sack_blocks(self, most: int) -> list:
        """``tcp_sack_blocks``: a D-SACK first, then the out-of-order runs."""
        blocks = []
        if self._dsack is not None:
            blocks.append(self._dsack)
        if self._ofo:
            runs = []
            for seq in sorted(self._ofo, key=lambda s: dist(s, self.rcv_nxt)):
                data, fin = self._ofo[seq]
                end = (seq + len(data) + (1 if fin else 0)) & MASK
                if runs and not after(seq, runs[-1][1]):
                    if after(end, runs[-1][1]):
                        runs[-1][1] = end
                else:
                    runs.append([seq, end])
            # the most recently changed block first; approximated by the highest
            blocks += [tuple(r) for r in reversed(runs)]
        return blocks[:most]

    def _receive_window(self) -> int:
        """``tcp_receive_window``: what is left of the window last offered."""
        left = self.rcv_wnd - dist(self.rcv_nxt, self.rcv_wup)
        return left if left > 0 else 0

    def _select_window(self) -> int:
        """``tcp_select_window``: the window to advertise, never shrinking the offered
        right edge, rounded up to the scale unit; records it as ``rcv_wnd``/``rcv_wup``.

        The free space the kernel computes from its receive buffer is estimated: after a
        full-sized segment grew ``rcv_ssthresh`` the new value is offered; otherwise half
        of it, so that the right edge stays put while small segments arrive (what the
        kernel showed) and the window reopens once less than half of it is left."""
        cur = self._receive_window()
        new = self.rcv_ssthresh if self._grew else self.rcv_ssthresh // 2
        self._grew = False
        if new < cur:
            new = cur
        ws = self.rcv_wscale
        new = min(new, 0xFFFF << ws)
        if ws:
            new = min(align(new, 1 << ws), 0xFFFF << ws)
        self.rcv_wnd = new
        self.rcv_wup = self.rcv_nxt
        return new >> ws

    def _ip_ident(self) -> int:
        """``ip_select_ident_segs``: one ID per packet; 0 from a time-wait socket."""
        if self.tw:
            return 0
        ident = self.inet_id
        self.inet_id = (self.inet_id + 1) & 0xFFFF
        return ident

    # -- segments ----------------------------------------------------------------------
    def _transmit_skb(self, flags: int, seq: int, payload: bytes, note: str, pid: int = None,
                      options: bytes = None, window: int = None, ident: int = None) -> int:
        """``tcp_transmit_skb``: one segment, handed to ``ip_send``."""
        if flags & TCP_ACK:
            ack = self.rcv_nxt
            if window is None:
                window = self._select_window()
        else:
            ack = 0
        if window is None:
            window = 0
        if options is None:
            options = self._options(flags)
        src = self.local[0].to_bytes(4, "big")
        dst = self.remote[0].to_bytes(4, "big")
        seg = TcpView.emit(self.local[1], self.remote[1], seq, ack, flags, window, options,
                           payload, src, dst)
        if ident is None:
            ident = self._ip_ident()
        pid = self.sim.new_pid() if pid is None else pid
        self.segs_out += 1
        # a time-wait socket speaks through the namespace's control socket: default TTL
        ttl = None if self.tw else self.ip_ttl
        if flags & TCP_ACK:
            self._event_ack_sent()
        text = (f"tcp {self.name} [{flags_text(flags)}] seq {dist(seq, self.iss)}"
                f"{' ack ' + str(dist(ack, self.irs)) if flags & TCP_ACK else ''} "
                f"len {len(payload)} win {window}: {note} ({self.state})")
        return self.ns.ipv4.ip_send(src, dst, IPPROTO_TCP, seg, pid, ttl=ttl, tos=self.ip_tos, df=True,
                                    ident=ident, note=text)

    def _event_ack_sent(self) -> None:
        """``tcp_event_ack_sent``: any segment with ACK answers what was pending."""
        if self.quick:
            self.quick -= 1
            if not self.quick:
                self.ato = TCP_ATO_MIN
        self._ack_pending = False
        self._dsack = None
        if self._delack is not None:
            self._delack.cancel()
            self._delack = None

    def send_ack(self, note: str = "ACK") -> None:
        """``tcp_send_ack``."""
        self._transmit_skb(TCP_ACK, self.snd_nxt, b"", note)

    def _send_delayed_ack(self) -> None:
        """``tcp_send_delayed_ack``: the ACK waits ``ato`` (at least 40 ms)."""
        self._ack_pending = True
        if self._delack is None:
            ato = max(self.ato, TCP_DELACK_MIN)
            self._delack = self.sim.after(ato, self._delack_timer)

    def _send_syn(self, note: str) -> None:
        wscale = self.rcv_wscale if self.wscale_ok else None
        ts = (self._tsval(), 0) if self.ts_ok else None
        opts = syn_options(self.advmss, self.sack_ok, ts, wscale)
        self._transmit_skb(TCP_SYN, self.iss, b"", note, options=opts,
                           window=min(self.rcv_wnd, 0xFFFF))

    def _send_synack(self, note: str, pid: int = None) -> None:
        """``tcp_make_synack``: a request socket has no ``inet_id``, so IP ID 0."""
        wscale = self.rcv_wscale if self.wscale_ok else None
        ts = (self._tsval(), self.ts_recent) if self.ts_ok else None
        opts = syn_options(self.advmss, self.sack_ok, ts, wscale)
        self._transmit_skb(TCP_SYN | TCP_ACK, self.iss, b"", note, pid=pid, options=opts,
                           window=min(self.rcv_wnd, 0xFFFF), ident=0)

    def _send_fin(self) -> None:
        """``tcp_send_fin``: the FIN goes on the last data segment if that is unsent."""
        self.fin_queued = True
        self._write_xmit()

    def _write_xmit(self) -> None:
        """``tcp_write_xmit``: send new segments while the peer's window, the congestion
        window and Nagle allow."""
        if self.state not in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, LAST_ACK, CLOSING):
            return
        sent = False
        while True:
            unsent = dist(self.write_seq, self.snd_nxt) if not before(self.write_seq, self.snd_nxt) else 0
            fin_now = self.fin_queued and not after(self.snd_nxt, self.write_seq)
            if not unsent and not fin_now:
                break
            mss = self.mss_now
            size = min(unsent, mss)
            if size:
                wnd_end = (self.snd_una + self.snd_wnd) & MASK
                room = dist(wnd_end, self.snd_nxt) if not before(wnd_end, self.snd_nxt) else 0
                cwnd_room = self.cwnd * mss - dist(self.snd_nxt, self.snd_una)
                size = min(size, room, max(cwnd_room, 0))
                if size <= 0:
                    break
                fin = fin_now and size == unsent
                if size < mss and size == unsent and not fin and not self.nodelay \
                        and not before(self.snd_nxt, self.snd_max) \
                        and after(self.snd_sml, self.snd_una):
                    break  # Nagle (Minshall): a small segment is still unACKed
            else:
                fin = True
            seq = self.snd_nxt
            off = dist(seq, self._buf_seq)
            payload = bytes(self._sndbuf[off:off + size])
            end = (seq + size) & MASK
            flags = TCP_ACK
            if any(not before(p, (seq + 1) & MASK) and not after(p, end) for p in self._push) and size:
                flags |= TCP_PSH
            if fin:
                flags |= TCP_FIN
            if size < mss:
                self.snd_sml = end
            self._event_data_sent()
            note = "FIN" if fin and not size else ("data" + (" + FIN" if fin else ""))
            if before(seq, self.snd_max):
                note = "retransmit " + note
            self._transmit_skb(flags, seq, payload, note)
            self.bytes_sent += size
            self.snd_nxt = (end + (1 if fin else 0)) & MASK
            if after(self.snd_nxt, self.snd_max):
                if self._rtt_seq is None:
                    self._rtt_seq, self._rtt_time = self.snd_nxt, self.sim.now
                self.snd_max = self.snd_nxt
            sent = True
            if fin:
                break
        if sent and self._rtx_timer is None:
            self._arm_rtx()

    def _event_data_sent(self) -> None:
        """``tcp_event_data_sent``: answering within ``ato`` of a request means ping-pong."""
        now = self.sim.now
        if self.ato and self.lsndtime < self.lrcvtime and now - self.lrcvtime < self.ato:
            self.pingpong += 1
        self.lsndtime = now

    def _retransmit_head(self) -> None:
        """``tcp_retransmit_skb`` of the oldest unACKed segment (fast retransmit)."""
        seq = self.snd_una
        size = min(self.mss_now, dist(self.write_seq, seq)) if not before(self.write_seq, seq) else 0
        off = dist(seq, self._buf_seq)
        payload = bytes(self._sndbuf[off:off + size])
        flags = TCP_ACK | (TCP_PSH if size else 0)
        end = (seq + size) & MASK
        if self.fin_queued and end == self.write_seq and after(self.snd_max, self.write_seq):
            flags |= TCP_FIN
        self.retrans_segs += 1
        self._rtt_seq = None
        self._transmit_skb(flags, seq, payload, "fast retransmit")
