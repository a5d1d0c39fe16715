"""What a TCP socket does with a segment (``net/ipv4/tcp_input.c``).

The layer's demultiplexer (``tcp_v4_rcv`` in :mod:`.ipv4`) hands a segment to the socket
it belongs to; these are that socket's methods:

* a listener: ``rcv_listen`` (``tcp_rcv_state_process`` for LISTEN) and, on the new
  request socket, ``openreq`` (``tcp_conn_request``);
* SYN_SENT: ``rcv_synsent_state_process``;
* the synchronised states: ``rcv_established`` (``tcp_rcv_established`` /
  ``tcp_rcv_state_process``): sequence check, RST, SYN, ``tcp_ack`` (RTT, congestion
  window, duplicate ACKs and fast retransmit, window update), the state changes the
  ACK of our FIN makes, ``tcp_data_queue`` (in order, out of order with SACK, the
  receive window's growth), ``tcp_fin`` and ``__tcp_ack_snd_check``;
* the answers to what does not belong and their rate limits: a duplicate ACK for a
  segment outside the window (``tcp_send_dupack``), a challenge ACK for a RST in the
  window but not exact, a SYN or SYN+FIN on a synchronised connection (RFC 5961 3.2,
  4.2) and an ACK for data never sent (RFC 5961 5.2) (``tcp_send_challenge_ack``).  A
  socket answers such segments at most once per ``tcp_invalid_ratelimit`` (500 ms,
  ``tcp_oow_rate_limited``; segments with data are always answered), the namespace
  sends at most ``tcp_challenge_ack_limit`` challenge ACKs a second (off by default
  since 6.0), and what is held back is counted in ``TcpExt:`` (``TCPACKSkippedSeq``,
  ``TCPACKSkippedChallenge``; the time-wait and request sockets' in :mod:`.minisocks`).

:class:`TcpInput` is a part of :class:`~emunet.stack.tcp.socket.TcpSocket`.
"""
import errno

from emunet.sim import S
from emunet.stack.tcp.constants import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1,
                                        FIN_WAIT_2, JIFFY_NS, LAST_ACK, SKB_OVERHEAD, SYN_RECV,
                                        TCP_ATO_MIN, TCP_MAX_QUICKACKS, TCP_MSS_DEFAULT,
                                        TCP_RTO_MAX, TCP_RTO_MIN, TCP_TIMEOUT_INIT,
                                        TCP_TIMEWAIT_LEN, TCPOLEN_TSTAMP_ALIGNED, TIME_WAIT,
                                        msecs_to_jiffies)
from emunet.stack.tcp.options import parse_options
from emunet.stack.tcp.seq import MASK, acceptable, after, before, dist
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN


class TcpInput:
    """The receiving half of a TCP socket."""

    # -- LISTEN --------------------------------------------------------------------
    def rcv_listen(self, dev, frame, ipv, seg) -> None:
        """``tcp_rcv_state_process`` for TCP_LISTEN → ``tcp_conn_request``."""
        flags = seg.flags
        if flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "ACK to a listening socket")
            self.layer.send_reset(ipv, seg, frame.pid, "ACK for no connection")
            return
        if flags & TCP_RST:
            self.ns.count_drop("TCP_RESET", dev, frame, "RST to a listening socket")
            return
        if not flags & TCP_SYN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "no SYN to a listening socket")
            return
        if flags & TCP_FIN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "SYN and FIN together")
            return
        if len(self.accept_queue) > self.backlog:
            self.ns.count_drop("TCP_LISTEN_OVERFLOW", dev, frame,
                               f"accept queue of {self.name} full ({self.backlog})")
            return
        self.layer.socket().openreq(self, dev, frame, ipv, seg)

    def openreq(self, listener, dev, frame, ipv, seg) -> None:
        """``tcp_conn_request`` on a new request socket: ``tcp_openreq_init`` (the
        options the SYN offered and the sysctls allow, ISN and timestamp offset from
        ``sim.rng``), the listener's IP options, the initial window, the SYN-ACK."""
        opts = parse_options(seg)
        src = ipv.saddr
        dst = ipv.daddr
        self.parent = listener
        self.reuseaddr = listener.reuseaddr
        self.ip_ttl, self.ip_tos = listener.ip_ttl, listener.ip_tos
        self.local = (dst, seg.dport)
        self.remote = (src, seg.sport)
        self._route_caps(src)
        self.peer_mss = opts.get("mss", TCP_MSS_DEFAULT)
        self.ts_ok = "ts" in opts and bool(self.sysctl("net.ipv4.tcp_timestamps"))
        self.sack_ok = opts.get("sack_perm", False) and bool(self.sysctl("net.ipv4.tcp_sack"))
        self.wscale_ok = "wscale" in opts and bool(self.sysctl("net.ipv4.tcp_window_scaling"))
        self.snd_wscale = opts.get("wscale", 0) if self.wscale_ok else 0
        rng = self.sim.rng
        self.iss = rng.getrandbits(32)
        self.ts_off = rng.getrandbits(32) if self.ts_ok else 0
        self.ts_recent = opts["ts"][0] if self.ts_ok else 0
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & MASK
        self.rcv_wup = self.rcv_nxt
        self.snd_una = self.iss
        self.snd_nxt = self.snd_max = (self.iss + 1) & MASK
        self.write_seq = self._buf_seq = self.snd_nxt
        self.snd_sml = self.snd_nxt  # tcp_create_openreq_child
        self.snd_wnd = seg.window  # a SYN's window is never scaled
        self.snd_wl1 = seg.seq
        self.max_window = self.snd_wnd
        self._select_initial_window(self.advmss - (TCPOLEN_TSTAMP_ALIGNED if self.ts_ok else 0))
        self.state = SYN_RECV
        self.rto = TCP_TIMEOUT_INIT
        self._rtt_time = self.sim.now
        self.layer.hash(self)
        self.ns.note(dev, frame, f"tcp SYN to listener {listener.name}: request {self.name} "
                                 f"SYN_RECV (peer MSS {self.peer_mss}"
                                 f"{', SACK' if self.sack_ok else ''}{', TS' if self.ts_ok else ''}"
                                 f"{', WS ' + str(self.snd_wscale) if self.wscale_ok else ''})")
        self._send_synack("SYN-ACK (request socket: IP ID 0)")
        self._arm_rtx()

    # -- SYN_SENT ------------------------------------------------------------------
    def rcv_synsent_state_process(self, dev, frame, ipv, seg) -> None:
        """``tcp_rcv_synsent_state_process``."""
        flags = seg.flags
        if flags & TCP_SYN and flags & TCP_FIN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "SYN and FIN together")
            return
        if flags & TCP_ACK and seg.ack != self.snd_nxt:
            if flags & TCP_RST:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST with an unacceptable ACK")
                return
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame, "SYN-ACK acknowledges the wrong ISN")
            self.layer.send_reset(ipv, seg, frame.pid, "SYN-ACK for another ISN")
            return
        if flags & TCP_RST:
            if flags & TCP_ACK:
                self.ns.note(dev, frame, f"tcp RST in SYN_SENT: {self.name} connection refused")
                self.layer.attempt_fails += 1
                self.fail(errno.ECONNREFUSED)
            else:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST without ACK in SYN_SENT")
            return
        if not flags & TCP_SYN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "no SYN in answer to our SYN")
            return
        if not flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "simultaneous open is not modelled")
            return
        opts = parse_options(seg)
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & MASK
        self.rcv_wup = self.rcv_nxt
        self.peer_mss = opts.get("mss", TCP_MSS_DEFAULT)
        self.ts_ok = self.ts_ok and "ts" in opts
        if self.ts_ok:
            self.ts_recent = opts["ts"][0]
        self.sack_ok = self.sack_ok and opts.get("sack_perm", False)
        if self.wscale_ok and "wscale" in opts:
            self.snd_wscale = opts["wscale"]
        else:
            self.wscale_ok = False
            self.snd_wscale = 0
            self.rcv_wscale = 0
        self.snd_una = seg.ack
        self.snd_wnd = seg.window
        self.max_window = self.snd_wnd
        self.snd_wl1 = seg.seq
        self.snd_wl2 = seg.ack
        self._stop_rtx()
        if self._rtt_seq is not None:
            self._update_rtt(self.sim.now - self._rtt_time)
        self._rtt_seq = None
        self.retransmits = 0
        self.state = ESTABLISHED
        self.lrcvtime = self.sim.now
        self.ns.note(dev, frame, f"tcp SYN-ACK: {self.name} ESTABLISHED (peer MSS {self.peer_mss}"
                                 f"{', SACK' if self.sack_ok else ''}{', TS' if self.ts_ok else ''}"
                                 f"{', WS ' + str(self.snd_wscale) if self.wscale_ok else ''}); "
                                 f"ACK at once, then wake the process")
        self.send_ack("ACK completing the handshake")
        self._connected_pending = True
        self.wake()

    # -- the synchronised states -----------------------------------------------------
    def rcv_established(self, dev, frame, ipv, seg, handshake: bool = False) -> None:
        """``tcp_rcv_established`` / ``tcp_rcv_state_process`` for the synchronised states."""
        flags = seg.flags
        opts = parse_options(seg) if seg.data_offset > 20 else {}
        doff = seg.off + seg.data_offset
        plen = seg.end - doff
        seq = seg.seq
        st = self.state
        fin = 1 if flags & TCP_FIN else 0
        # a segment with none of ACK, RST and SYN is dropped before anything is checked
        if not flags & (TCP_ACK | TCP_RST | TCP_SYN):
            self.ns.count_drop("TCP_FLAGS", dev, frame, "segment without ACK")
            return
        # 1. sequence acceptability (RFC 9293 3.10.7.4, ``tcp_sequence``)
        rwnd = self._receive_window()
        if not acceptable(seq, plen + fin, self.rcv_nxt, rwnd):
            if flags & TCP_RST:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST out of window")
                return
            if flags & TCP_SYN:
                self._syn_challenge(dev, frame, "out of window")
                return
            self.ns.count_drop("TCP_OLD_DATA" if before(seq, self.rcv_nxt) else "TCP_INVALID_SEQUENCE",
                               dev, frame, f"seq {dist(seq, self.irs)} outside the window: duplicate ACK")
            if self.tcp_oow_rate_limited(plen + fin, flags, "TCPACKSkippedSeq"):
                self.ns.note(dev, frame, f"tcp {self.name}: no duplicate ACK: one went less than "
                                         f"tcp_invalid_ratelimit ago")
                return
            self._send_dupack(seq, (seq + plen + fin) & MASK)
            return
        # 2. RST
        if flags & TCP_RST:
            if seq == self.rcv_nxt:
                self.ns.note(dev, frame, f"tcp RST: {self.name} reset by peer")
                if st in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
                    self.layer.estab_resets += 1
                    self.fail(errno.ECONNRESET if st != CLOSE_WAIT else errno.EPIPE)
                else:
                    self.done()
            else:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST in window but not exact: challenge ACK")
                self.tcp_send_challenge_ack("challenge ACK (RFC 5961 3.2: RST in window)", dev, frame)
            return
        # 3. SYN in a synchronised state (SYN+FIN too): RFC 5961 4.2
        if flags & TCP_SYN:
            self._syn_challenge(dev, frame, "in window")
            return
        if self.ts_ok and "ts" in opts and not after(seq, self.rcv_wup):
            self.ts_recent = opts["ts"][0]
        ack = seg.ack
        if after(ack, self.snd_max):
            # ``tcp_ack`` drops it with a challenge ACK (RFC 5961 5.2; what 6.18 did on the
            # wire, in ESTABLISHED too, limited like any other: ``TCPACKSkippedChallenge``)
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame, "ACK for data never sent: challenge ACK")
            self.tcp_send_challenge_ack("challenge ACK (their ACK is for data we never sent)", dev, frame)
            return
        texts = self._ack(seq, ack, seg.window << self.snd_wscale, plen, flags, handshake)
        # state changes driven by the ACK of our FIN
        fin_acked = self.fin_queued and after(ack, self.write_seq) and after(self.snd_max, self.write_seq)
        if fin_acked and self.state == FIN_WAIT_1:
            self.state = FIN_WAIT_2
            self._stop_rtx()
            if self.orphan and not flags & TCP_FIN and not plen:
                tmo = int(self.sysctl("net.ipv4.tcp_fin_timeout")) * S
                texts.append(f"our FIN ACKed: FIN_WAIT_2 (orphaned: a time-wait socket for "
                             f"{tmo // S} s)")
                self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
                self._time_wait(FIN_WAIT_2, min(tmo, TCP_TIMEWAIT_LEN))
                return
            texts.append("our FIN ACKed: FIN_WAIT_2")
        elif fin_acked and self.state == CLOSING:
            texts.append("our FIN ACKed: TIME_WAIT")
            self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
            self._time_wait(TIME_WAIT, TCP_TIMEWAIT_LEN)
            return
        elif fin_acked and self.state == LAST_ACK:
            texts.append("our FIN ACKed: CLOSED")
            self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
            self.done()
            return
        # 5. data and FIN
        fin = bool(fin)
        if plen or fin:
            if self.orphan and plen and after((seq + plen) & MASK, self.rcv_nxt):
                self.ns.count_drop("TCP_CLOSE", dev, frame, "data after close(): RST")
                self.layer.send_reset(ipv, seg, frame.pid, "data after close()")
                self.done()
                return
            payload = bytes(frame.data[doff:seg.end])
            self._data_queue(dev, frame, seq, payload, fin, texts)
        else:
            if texts:
                self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
        # 6. send what the ACK allows, then ACK what arrived
        self._write_xmit()
        if self._ack_pending and self.state not in (CLOSED,) and not self.tw:
            self._ack_snd_check()

    def _ack(self, seq: int, ack: int, win: int, plen: int, flags: int, handshake: bool) -> list:
        """``tcp_ack``: free what is ACKed, sample the RTT, grow the congestion window
        (slow start, then Reno), count duplicate ACKs (three: fast retransmit), and take
        the window (``tcp_ack_update_window``).  Returns what it did, for the note."""
        texts = []
        if after(ack, self.snd_una):
            acked = dist(ack, self.snd_una)
            data_acked = acked
            if self.fin_queued and after(ack, self.write_seq):
                data_acked -= 1
            # trim the send buffer
            limit = self.write_seq if after(ack, self.write_seq) else ack
            free = dist(limit, self._buf_seq) if after(limit, self._buf_seq) else 0
            if free:
                del self._sndbuf[:free]
                self._buf_seq = (self._buf_seq + free) & MASK
            self._push = {p for p in self._push if after(p, self._buf_seq)}
            self.snd_una = ack
            if before(self.snd_nxt, ack):
                self.snd_nxt = ack
            self.dupacks = 0
            if self._rtt_seq is not None and not before(ack, self._rtt_seq):
                self._update_rtt(self.sim.now - self._rtt_time)
                self._rtt_seq = None
            self.retransmits = 0
            self.total_rto = 0
            if not handshake:
                segs = max(1, -(-max(data_acked, 1) // self.mss_now))
                if self.cwnd < self.ssthresh:
                    self.cwnd += segs
                else:
                    self.cwnd_cnt += segs
                    if self.cwnd_cnt >= self.cwnd:
                        self.cwnd_cnt = 0
                        self.cwnd += 1
            if before(self.snd_una, self.snd_max):
                self._arm_rtx()
            else:
                self._stop_rtx()
            if not handshake:
                texts.append(f"ACKs {acked} byte{'s' if acked != 1 else ''}")
        elif ack == self.snd_una and not plen and not flags & TCP_FIN and win == self.snd_wnd \
                and before(self.snd_una, self.snd_max):
            self.dupacks += 1
            texts.append(f"duplicate ACK #{self.dupacks}")
            if self.dupacks == 3:
                flight = dist(self.snd_max, self.snd_una) // max(self.mss_now, 1)
                self.ssthresh = max(flight // 2, 2)
                self.cwnd = self.ssthresh
                texts.append("fast retransmit")
                self._retransmit_head()
        # window update (``tcp_ack_update_window``)
        if before(self.snd_wl1, seq) or (self.snd_wl1 == seq and not before(ack, self.snd_wl2)) \
                or handshake:
            self.snd_wnd = win
            self.snd_wl1, self.snd_wl2 = seq, ack
            self.max_window = max(self.max_window, win)
        return texts

    def _update_rtt(self, m: int) -> None:
        """``tcp_rtt_estimator`` + ``__tcp_set_rto``: srtt + max(4 rttvar, 200 ms)."""
        m = max(m, 1)
        if not self.srtt:
            self.srtt = m
            self.rttvar = m // 2
        else:
            delta = m - self.srtt
            self.srtt += delta // 8
            self.rttvar += (abs(delta) - self.rttvar) // 4
        self.rto = min(max(self.srtt + max(4 * self.rttvar, TCP_RTO_MIN), TCP_RTO_MIN), TCP_RTO_MAX)

    # -- answers to segments that do not belong: their rate limits ----------------------
    def tcp_oow_rate_limited(self, seglen: int, flags: int, mib: str) -> bool:
        """``tcp_oow_rate_limited``: True when this socket must not answer an
        out-of-window segment now.  A segment with data (and no SYN) is never limited:
        it is not part of an ACK loop.  ``seglen`` counts the data and a FIN."""
        if seglen and not flags & TCP_SYN:
            return False
        return self._oow_rate_limited(mib)

    def _oow_rate_limited(self, mib: str) -> bool:
        """``__tcp_oow_rate_limited``: one answer per ``tcp_invalid_ratelimit`` (500 ms)
        per socket, counted in jiffies (``last_oow_ack_time``); what is held back is
        counted in ``TcpExt: mib``."""
        now = self.sim.now // JIFFY_NS
        last = self.last_oow_ack_time
        if last is not None and 0 <= now - last < msecs_to_jiffies(self.sysctl("net.ipv4.tcp_invalid_ratelimit")):
            self.layer.stats[mib] += 1
            return True
        self.last_oow_ack_time = now
        return False

    def tcp_send_challenge_ack(self, note: str, dev=None, frame=None) -> None:
        """``tcp_send_challenge_ack`` (RFC 5961 section 7): the socket's own limit first
        (shared with the duplicate ACKs: ``TCPACKSkippedChallenge``), then the
        namespace's ``tcp_challenge_ack_limit``; ``TCPChallengeACK`` counts what goes."""
        if self._oow_rate_limited("TCPACKSkippedChallenge") or not self.layer.challenge_ack_allowed():
            self.ns.note(dev, frame, f"tcp {self.name}: challenge ACK held back (rate limit)")
            return
        self.layer.stats["TCPChallengeACK"] += 1
        self.send_ack(note)

    def _syn_challenge(self, dev, frame, where: str) -> None:
        """``tcp_validate_incoming``'s ``syn_challenge``: a SYN (SYN+FIN too) on a
        synchronised connection, in the window or not, gets a challenge ACK."""
        self.layer.stats["TCPSYNChallenge"] += 1
        self.ns.count_drop("TCP_INVALID_SYN", dev, frame, f"SYN {where} on a synchronised connection: "
                                                          f"challenge ACK")
        self.tcp_send_challenge_ack("challenge ACK for SYN (RFC 5961 4.2)", dev, frame)

    def _send_dupack(self, seq: int, end_seq: int) -> None:
        """``tcp_send_dupack``: old data (a retransmission we already had) earns quick
        ACKs and a D-SACK of what repeated; then the ACK."""
        if end_seq != seq and before(seq, self.rcv_nxt):
            self._enter_quickack()
            if self.sack_ok:
                self._dsack = (seq, end_seq if not after(end_seq, self.rcv_nxt) else self.rcv_nxt)
        self.send_ack("duplicate ACK (segment outside the window)")

    # -- data ------------------------------------------------------------------------
    def _data_queue(self, dev, frame, seq: int, payload: bytes, fin: bool, texts: list) -> None:
        """``tcp_data_queue``: in order → the receive queue; ahead → the out-of-order queue."""
        now = self.sim.now
        # trim what we already have
        if before(seq, self.rcv_nxt):
            cut = dist(self.rcv_nxt, seq)
            if cut > len(payload):
                if fin:
                    payload, seq = b"", self.rcv_nxt
                else:
                    return
            else:
                payload = payload[cut:]
                seq = self.rcv_nxt
        # receiving data: ato / quick-ACK bookkeeping (``tcp_event_data_recv``)
        if payload:
            if not self.ato:
                self._incr_quickack()
                self.ato = TCP_ATO_MIN
            elif now - self.lrcvtime > self.rto:
                self._incr_quickack()
            self.lrcvtime = now
            ln = len(payload)
            if ln >= self.rcv_mss:
                self.rcv_mss = min(ln, self._rcv_advmss())
        if seq != self.rcv_nxt:
            # out of order: keep it and tell the sender at once
            self._ofo[seq] = (payload, fin)
            texts.append(f"out of order ({dist(seq, self.rcv_nxt)} bytes ahead): queued, "
                         f"duplicate ACK with SACK")
            self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
            self._enter_quickack()
            self.send_ack("duplicate ACK (out-of-order data)")
            return
        if payload:
            self.rx_frame = (dev, frame)
        got_fin = self._queue_rcv(payload, fin)
        while self._ofo and self.rcv_nxt in self._ofo and not got_fin:
            data, f = self._ofo.pop(self.rcv_nxt)
            got_fin = self._queue_rcv(data, f)
        # drop out-of-order blocks now covered
        for s in [s for s in self._ofo if not after((s + len(self._ofo[s][0])) & MASK, self.rcv_nxt)]:
            del self._ofo[s]
        if payload:
            texts.append(f"{len(payload)} bytes in order → receive queue")
            if len(payload) >= SKB_OVERHEAD:
                self._grow_window(len(payload))
        if got_fin:
            texts.append(self._fin())
        self.ns.note(dev, frame, f"tcp {self.name}: " + "; ".join(texts))
        self._ack_pending = True
        self.wake()

    def _queue_rcv(self, payload: bytes, fin: bool) -> bool:
        """``tcp_queue_rcv``: in-order data to the receive queue; True at the FIN."""
        if payload:
            self._rxq += payload
            self.bytes_received += len(payload)
            self.rcv_nxt = (self.rcv_nxt + len(payload)) & MASK
        if fin:
            self.rcv_nxt = (self.rcv_nxt + 1) & MASK
            return True
        return False

    def _grow_window(self, length: int) -> None:
        """``tcp_grow_window``: a full-sized segment earns 2 x MSS more window."""
        clamp = min(self.layer.sysctl_ints("net.ipv4.tcp_rmem", 3)[2] // 2, 0xFFFF << self.rcv_wscale)
        room = clamp - self.rcv_ssthresh
        if room <= 0:
            return
        incr = max(2 * self._rcv_advmss(), 2 * length)
        self.rcv_ssthresh += min(room, incr)
        self._grew = True

    def _fin(self) -> str:
        """``tcp_fin``: the peer has finished sending."""
        self._eof = True
        st = self.state
        if st == ESTABLISHED:
            self.state = CLOSE_WAIT
            self.pingpong = max(self.pingpong, self.sysctl("net.ipv4.tcp_pingpong_thresh"))
            return "FIN: CLOSE_WAIT (ACK delayed: ping-pong mode; the process is told EOF)"
        if st == FIN_WAIT_1:
            self.state = CLOSING
            self.send_ack("ACK of FIN (simultaneous close)")
            return "FIN: CLOSING"
        if st == FIN_WAIT_2:
            self.send_ack("ACK of FIN")
            self._time_wait(TIME_WAIT, TCP_TIMEWAIT_LEN)
            return f"FIN: ACK, TIME_WAIT {TCP_TIMEWAIT_LEN // S} s"
        return f"FIN again in {st}"

    # -- when to ACK -------------------------------------------------------------------
    def _ack_snd_check(self) -> None:
        """``__tcp_ack_snd_check``: now, or on the delayed-ACK timer."""
        unacked = dist(self.rcv_nxt, self.rcv_wup)
        if unacked > self.rcv_mss or self._in_quickack() or self._ofo:
            why = "quick ACK" if self._in_quickack() else (
                "more than one full segment" if unacked > self.rcv_mss else "out-of-order data")
            self.send_ack(f"ACK ({why})")
        else:
            self._send_delayed_ack()

    def _in_pingpong(self) -> bool:
        """``inet_csk_in_pingpong_mode``."""
        return self.pingpong >= self.sysctl("net.ipv4.tcp_pingpong_thresh")

    def _in_quickack(self) -> bool:
        """``tcp_in_quickack_mode``."""
        return bool(self.quick) and not self._in_pingpong()

    def _incr_quickack(self) -> None:
        """``tcp_incr_quickack``."""
        quick = min(self.rcv_wnd // (2 * max(self.rcv_mss, 1)) or 2, TCP_MAX_QUICKACKS)
        self.quick = max(self.quick, quick)

    def _enter_quickack(self) -> None:
        """``tcp_enter_quickack_mode``."""
        self._incr_quickack()
        self.pingpong = 0
        self.ato = TCP_ATO_MIN
