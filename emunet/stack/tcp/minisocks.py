"""The small sockets of a connection's two ends (``net/ipv4/tcp_minisocks.c``): the
request socket that answers a SYN (``tcp_check_req``: the handshake's last ACK makes
it the child a listener queues for ``accept()``) and the time-wait socket
(``tcp_time_wait``, ``tcp_timewait_state_process``).

Closing: an orphaned socket whose FIN is ACKed becomes a FIN_WAIT_2 time-wait socket at
once (``tcp_fin_timeout`` 60 s), so its final ACK has IP ID 0, as the kernel shows;
TIME_WAIT lasts 60 s (``TCP_TIMEWAIT_LEN``).  A time-wait socket answers with IP ID 0
and the default TTL; a RST kills it (``rfc1337`` 0), a new SYN beyond its sequence
space recycles it for the listener.  Both answer what falls outside their window at most
once per ``tcp_invalid_ratelimit``, as a full socket does (``TCPACKSkippedSynRecv``,
``TCPACKSkippedFinWait2``, ``TCPACKSkippedTimeWait``).

:class:`TcpMinisocks` is a part of :class:`~emunet.stack.tcp.socket.TcpSocket`.
"""
from emunet.sim import S
from emunet.stack.tcp.constants import ESTABLISHED, FIN_WAIT_2, LISTEN, TCP_TIMEWAIT_LEN, TIME_WAIT
from emunet.stack.tcp.options import parse_options
from emunet.stack.tcp.seq import MASK, after, before, in_window, tcp_in_window
from emunet.wire.tcp import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN


class TcpMinisocks:
    """What a request socket and a time-wait socket do with a segment."""

    # -- SYN_RECV (a request socket) ------------------------------------------------
    def check_req(self, dev, frame, ipv, seg) -> None:
        """``tcp_check_req``: the handshake's last ACK makes the child socket."""
        flags = seg.flags
        if flags & TCP_RST:
            if seg.seq == self.rcv_nxt or in_window(seg.seq, self.rcv_nxt, self.rcv_wnd):
                self.ns.note(dev, frame, f"tcp RST for request {self.name}: dropped")
                self.done()
            else:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST out of window")
            return
        if flags & TCP_SYN and flags & TCP_FIN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "SYN and FIN together")
            return
        if flags & TCP_SYN:
            if seg.seq == self.irs and not flags & TCP_ACK:
                # a pure retransmitted SYN: the SYN-ACK again, at most once per
                # tcp_invalid_ratelimit (``tcp_rsk(req)->last_oow_ack_time``)
                if self.tcp_oow_rate_limited(0, flags, "TCPACKSkippedSynRecv"):
                    self.ns.note(dev, frame, f"tcp retransmitted SYN for {self.name}: no SYN-ACK "
                                             f"(one went less than tcp_invalid_ratelimit ago)")
                    return
                self.ns.note(dev, frame, f"tcp retransmitted SYN for {self.name}: SYN-ACK again")
                self._send_synack("SYN-ACK again (the SYN was retransmitted)")
                return
            self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "new SYN for a pending request")
            return
        if not flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "no ACK in SYN_RECV")
            return
        if seg.ack != self.snd_nxt:
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame,
                               f"ACK {seg.ack} is not our ISN + 1")
            self.layer.send_reset(ipv, seg, frame.pid, "bad ACK for a pending request")
            return
        lsock = self.parent
        if lsock is None or lsock.state != LISTEN:
            self.ns.count_drop("NO_SOCKET", dev, frame, "listener gone")
            self.done()
            self.layer.send_reset(ipv, seg, frame.pid, "listener closed")
            return
        if len(lsock.accept_queue) > lsock.backlog:
            self.ns.count_drop("TCP_LISTEN_OVERFLOW", dev, frame, "accept queue full: ACK ignored")
            return
        # tcp_v4_syn_recv_sock: the child takes the request's place
        self._stop_rtx()
        self.retransmits = 0
        self.inet_id = self.sim.rng.getrandbits(16)
        self.state = ESTABLISHED
        self.snd_una = seg.ack
        self.max_window = 0
        self._update_rtt(self.sim.now - self._rtt_time)
        self.layer.passive_opens += 1
        self.ns.note(dev, frame, f"tcp ACK completes the handshake: {self.name} ESTABLISHED, "
                                 f"queued for accept() on {lsock.name}")
        self.layer.inherit_port(self)
        lsock.reqsk_queue_add(self)
        self.rcv_established(dev, frame, ipv, seg, handshake=True)

    # -- TIME_WAIT and the FIN_WAIT_2 time-wait socket ------------------------------------
    def _time_wait(self, state: str, timeout: int) -> None:
        """``tcp_time_wait``: the full socket becomes a time-wait socket."""
        self._set_state(state)
        self.tw = True
        self.last_oow_ack_time = None   # tcptw->tw_last_oow_ack_time starts afresh
        self._stop_rtx()
        if self._delack is not None:
            self._delack.cancel()
            self._delack = None
        self._arm_tw(timeout)

    def _arm_tw(self, timeout: int) -> None:
        """``inet_twsk_reschedule``."""
        if self._tw_timer is not None:
            self._tw_timer.cancel()
        self._tw_timer = self.sim.after(timeout, self._tw_expire)

    def _tw_expire(self) -> None:
        self._tw_timer = None
        self.done()

    def timewait_state_process(self, dev, frame, ipv, seg) -> None:
        """``tcp_timewait_state_process``: what a time-wait socket answers (IP ID 0).

        A segment outside what it still accepts gets an ACK at most once per
        ``tcp_invalid_ratelimit`` (``tcp_timewait_check_oow_rate_limit``: held back ones
        count in ``TCPACKSkippedFinWait2`` / ``TCPACKSkippedTimeWait``); in TIME_WAIT an
        exact bare ACK only restarts the timer and an exact RST kills the socket
        (``rfc1337`` 0), a RST anywhere else is ignored."""
        flags = seg.flags
        plen = seg.end - seg.off - seg.data_offset
        seq = seg.seq
        end_seq = (seq + plen + (1 if flags & TCP_FIN else 0) + (1 if flags & TCP_SYN else 0)) & MASK
        rcv_nxt = self.rcv_nxt
        if self.state == FIN_WAIT_2:
            if not tcp_in_window(seq, end_seq, rcv_nxt, (rcv_nxt + self._receive_window()) & MASK):
                self._tw_oow_ack(dev, frame, seg, plen, "TCPACKSkippedFinWait2")
                return
            if flags & TCP_RST:
                self.ns.note(dev, frame, "tcp RST kills the FIN_WAIT_2 time-wait socket")
                self.done()
                return
            if flags & TCP_SYN and not before(seq, rcv_nxt):
                self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "SYN to a FIN_WAIT_2 socket")
                self.layer.send_reset(ipv, seg, frame.pid, "SYN in FIN_WAIT_2")
                self.done()
                return
            if not flags & TCP_ACK or not after(end_seq, rcv_nxt) or end_seq == seq:
                self.ns.note(dev, frame, "tcp duplicate ACK to a FIN_WAIT_2 time-wait socket: ignored")
                return
            if not flags & TCP_FIN or end_seq != ((rcv_nxt + 1) & MASK):
                self.ns.count_drop("TCP_CLOSE", dev, frame, "data after close(): RST")
                self.layer.send_reset(ipv, seg, frame.pid, "data after close()")
                self.done()
                return
            self.rcv_nxt = end_seq
            if self.ts_ok:
                o = parse_options(seg)
                if "ts" in o:
                    self.ts_recent = o["ts"][0]
            self.state = TIME_WAIT
            self.ns.note(dev, frame, f"tcp FIN in FIN_WAIT_2: {self.name} TIME_WAIT "
                                     f"{TCP_TIMEWAIT_LEN // S} s; the time-wait socket ACKs (IP ID 0)")
            self.send_ack("ACK of FIN from a time-wait socket")
            self._arm_tw(TCP_TIMEWAIT_LEN)
            return
        # TIME_WAIT proper: in the window there can only be a RST or a bare ACK
        if seq == rcv_nxt and (end_seq == seq or flags & TCP_RST):
            if flags & TCP_RST:
                self.ns.note(dev, frame, "tcp RST kills the TIME_WAIT socket (rfc1337 = 0)")
                self.done()
                return
            self.ns.note(dev, frame, f"tcp bare ACK to TIME_WAIT {self.name}: timer restarted")
            self._arm_tw(TCP_TIMEWAIT_LEN)
            return
        if flags & TCP_SYN and not flags & (TCP_RST | TCP_ACK) and after(seq, rcv_nxt):
            lsock = self.layer.lookup_listener(*self.local)
            self.ns.note(dev, frame, "tcp new SYN for a TIME_WAIT 4-tuple: time-wait socket recycled")
            self.done()
            if lsock is not None:
                lsock.rcv_listen(dev, frame, ipv, seg)
            else:
                self.layer.send_reset(ipv, seg, frame.pid, "no listener")
            return
        if flags & TCP_RST:
            self.ns.count_drop("TCP_RESET", dev, frame, "RST out of window to a TIME_WAIT socket")
            return
        if flags & TCP_ACK:
            self._arm_tw(TCP_TIMEWAIT_LEN)
        self._tw_oow_ack(dev, frame, seg, plen, "TCPACKSkippedTimeWait")

    def _tw_oow_ack(self, dev, frame, seg, plen: int, mib: str) -> None:
        """``tcp_timewait_check_oow_rate_limit``: the ACK again, unless one went less
        than ``tcp_invalid_ratelimit`` ago (segments with data are always answered)."""
        flags = seg.flags
        if self.tcp_oow_rate_limited(plen + (1 if flags & TCP_FIN else 0), flags, mib):
            self.ns.note(dev, frame, f"tcp segment to {self.state} {self.name}: no ACK "
                                     f"(one went less than tcp_invalid_ratelimit ago)")
            return
        self.ns.note(dev, frame, f"tcp segment to {self.state} {self.name} outside its window: ACK again")
        self.send_ack(f"ACK from a {self.state} time-wait socket")
