"""The small sockets of a connection's two ends (``net/ipv4/tcp_minisocks.c``): the
request socket that answers a SYN (``tcp_check_req``: the handshake's last ACK makes
it the child a listener queues for ``accept()``) and the time-wait socket
(``tcp_time_wait``, ``tcp_timewait_state_process``).

Closing: an orphaned socket whose FIN is ACKed becomes a FIN_WAIT_2 time-wait socket at
once (``tcp_fin_timeout`` 60 s), so its final ACK has IP ID 0, as the kernel shows;
TIME_WAIT lasts 60 s (``TCP_TIMEWAIT_LEN``).  A time-wait socket answers with IP ID 0
and the default TTL; a RST kills it (``rfc1337`` 0), a new SYN beyond its sequence
space recycles it for the listener.

:class:`TcpMinisocks` is a part of :class:`~emunet.stack.tcp.socket.TcpSocket`.
"""
from emunet.sim import S
from emunet.stack.tcp.constants import ESTABLISHED, FIN_WAIT_2, LISTEN, TCP_TIMEWAIT_LEN, TIME_WAIT
from emunet.stack.tcp.options import parse_options
from emunet.stack.tcp.seq import MASK, after, before, in_window
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
        if flags & TCP_SYN:
            if seg.seq == self.irs:
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
        """``tcp_timewait_state_process``: what a time-wait socket answers (IP ID 0)."""
        flags = seg.flags
        plen = seg.end - seg.off - seg.data_offset
        end_seq = (seg.seq + plen + (1 if flags & TCP_FIN else 0)) & MASK
        if self.state == FIN_WAIT_2:
            if flags & TCP_RST:
                self.ns.note(dev, frame, "tcp RST kills the FIN_WAIT_2 time-wait socket")
                self.done()
                return
            if flags & TCP_SYN and not before(seg.seq, self.rcv_nxt):
                self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "SYN to a FIN_WAIT_2 socket")
                self.layer.send_reset(ipv, seg, frame.pid, "SYN in FIN_WAIT_2")
                self.done()
                return
            if not flags & TCP_ACK or not after(end_seq, self.rcv_nxt) or end_seq == seg.seq:
                self.ns.note(dev, frame, "tcp duplicate ACK to a FIN_WAIT_2 time-wait socket: ignored")
                return
            if not flags & TCP_FIN or end_seq != ((self.rcv_nxt + 1) & MASK):
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
        # TIME_WAIT proper
        if flags & TCP_RST:
            self.ns.note(dev, frame, "tcp RST kills the TIME_WAIT socket (rfc1337 = 0)")
            self.done()
            return
        if flags & TCP_SYN and not flags & TCP_ACK and after(seg.seq, self.rcv_nxt):
            lsock = self.layer.lookup_listener(*self.local)
            self.ns.note(dev, frame, "tcp new SYN for a TIME_WAIT 4-tuple: time-wait socket recycled")
            self.done()
            if lsock is not None:
                lsock.rcv_listen(dev, frame, ipv, seg)
            else:
                self.layer.send_reset(ipv, seg, frame.pid, "no listener")
            return
        self.ns.note(dev, frame, f"tcp segment to TIME_WAIT {self.name}: ACK again, timer restarted")
        self.send_ack("ACK from a TIME_WAIT socket")
        self._arm_tw(TCP_TIMEWAIT_LEN)

