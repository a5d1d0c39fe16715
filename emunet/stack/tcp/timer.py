"""A TCP socket's timers (``net/ipv4/tcp_timer.c``): the retransmission timer
(``tcp_retransmit_timer``, ``tcp_write_timeout``) and the delayed-ACK timer
(``tcp_delack_timer_handler``), on the simulator's virtual clock.

RTO 1 s before any RTT sample, doubling per timeout up to 120 s; SYN retries
``tcp_syn_retries`` (with ``tcp_syn_linear_timeouts`` first ones 1 s apart), SYN-ACK
retries ``tcp_synack_retries``, data ``tcp_retries2`` (or ``tcp_orphan_retries`` for an
orphan), converted to a time as ``tcp_model_timeout`` does.

:class:`TcpTimers` is a part of :class:`~emunet.stack.tcp.socket.TcpSocket`.
"""
import errno

from emunet.sim import S
from emunet.stack.tcp.constants import (CLOSED, LISTEN, SYN_RECV, SYN_SENT, TCP_ATO_MIN,
                                        TCP_RTO_MAX, TCP_RTO_MIN, TCP_TIMEOUT_INIT, TIME_WAIT)
from emunet.stack.tcp.seq import before, dist, ilog2


class TcpTimers:
    """The retransmission and delayed-ACK timers of a TCP socket."""

    def _arm_rtx(self, delay: int = None) -> None:
        """``inet_csk_reset_xmit_timer(ICSK_TIME_RETRANS)``: ``rto`` from now."""
        if self._rtx_timer is not None:
            self._rtx_timer.cancel()
        self._rtx_timer = self.sim.after(self.rto if delay is None else delay, self._retransmit_timer)

    def _stop_rtx(self) -> None:
        if self._rtx_timer is not None:
            self._rtx_timer.cancel()
            self._rtx_timer = None

    def _retry_limit(self):
        sc = self.sysctl
        if self.state == SYN_SENT:
            return sc("net.ipv4.tcp_syn_retries") + sc("net.ipv4.tcp_syn_linear_timeouts")
        if self.state == SYN_RECV:
            return sc("net.ipv4.tcp_synack_retries")
        if self.orphan:
            r = sc("net.ipv4.tcp_orphan_retries")
            return r or 8
        return sc("net.ipv4.tcp_retries2")

    def _write_timeout(self) -> bool:
        """``tcp_write_timeout``: SYNs by count; data by ``tcp_model_timeout``'s time."""
        limit = self._retry_limit()
        if self.state in (SYN_SENT, SYN_RECV):
            return self.retransmits >= limit
        if not self.retransmits:
            return False
        thresh = ilog2(TCP_RTO_MAX // TCP_RTO_MIN)
        if limit <= thresh:
            timeout = ((2 << limit) - 1) * TCP_RTO_MIN
        else:
            timeout = ((2 << thresh) - 1) * TCP_RTO_MIN + (limit - thresh) * TCP_RTO_MAX
        return self.sim.now - self.retrans_stamp >= timeout

    def _retransmit_timer(self) -> None:
        """``tcp_retransmit_timer``."""
        self._rtx_timer = None
        if self.state in (CLOSED, TIME_WAIT, LISTEN) or self.tw:
            return
        if self.state == SYN_RECV:
            if self.retransmits >= self._retry_limit():
                self.layer.note_sock(self, f"SYN-ACK not answered after {self.retransmits} "
                                           f"retransmissions: request dropped")
                self.done(note="SYN_RECV timeout")
                return
            self.retransmits += 1
            self.retrans_segs += 1
            self._send_synack(f"retransmit SYN-ACK #{self.retransmits}")
            self.rto = min(TCP_TIMEOUT_INIT << self.retransmits, TCP_RTO_MAX)
            self._arm_rtx()
            return
        if not before(self.snd_una, self.snd_max):
            return  # nothing outstanding
        if self._write_timeout():
            self.layer.note_sock(self, f"no answer after {self.retransmits} retransmissions: ETIMEDOUT")
            self.fail(errno.ETIMEDOUT)
            return
        if not self.retransmits:
            self.retrans_stamp = self.sim.now
        self.retransmits += 1
        self.total_rto += 1
        self.retrans_segs += 1
        self._rtt_seq = None  # Karn: no RTT sample from a retransmitted segment
        if self.state == SYN_SENT:
            self._send_syn(f"retransmit SYN #{self.retransmits} (RTO {self.rto / S:g} s)")
            linear = self.sysctl("net.ipv4.tcp_syn_linear_timeouts")
            if self.total_rto > linear:
                self.rto = min(self.rto << 1, TCP_RTO_MAX)
            self._arm_rtx()
            return
        # loss: back to one segment, resend from the oldest unACKed byte (go-back-N)
        flight = dist(self.snd_max, self.snd_una) // max(self.mss_now, 1)
        self.ssthresh = max(flight // 2, 2)
        self.cwnd = 1
        self.dupacks = 0
        self.snd_nxt = self.snd_una  # the FIN, if any, goes again after the data
        self._write_xmit()
        self.rto = min(self.rto << 1, TCP_RTO_MAX)
        self._arm_rtx()

    def _delack_timer(self) -> None:
        """``tcp_delack_timer_handler``."""
        self._delack = None
        if not self._ack_pending or self.state in (CLOSED, LISTEN):
            return
        if self._in_pingpong():
            self.pingpong = 0
            self.ato = TCP_ATO_MIN
        else:
            self.ato = min(max(self.ato, TCP_ATO_MIN) << 1, self.rto)
        self.send_ack("delayed ACK")
