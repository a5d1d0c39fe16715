"""The TCP socket (``struct tcp_sock``, ``net/ipv4/tcp.c``): its state, the calls a
program makes (bind, listen, connect, send, recv, accept, close), the wake-ups that run
the program's callbacks, and the ends of a connection (``tcp_done``).

Sockets are callback-driven, as the rest of the model: ``on_accept(conn)``,
``on_connected()``, ``on_data(bytes)``, ``on_close()`` (end of stream: the peer's FIN,
or an error in ``sock.error``) and ``on_error(errno)``.  Callbacks run in a separate
event a few microseconds after the segment that caused them (a process wake-up), so
that the kernel's own ACK goes out first, as on a real host.

A request socket (SYN_RECV) and a time-wait socket are :class:`TcpSocket` objects too:
the request becomes the accepted child when the handshake completes, and ``tw`` marks
a socket that has become an ``inet_timewait_sock`` (it sends with IP ID 0).  What a
socket does with a segment is in :mod:`.input` and :mod:`.minisocks`, what it sends in
:mod:`.output`, its timers in :mod:`.timer`; :class:`TcpSocket` combines them.
"""
import errno
import os

from emunet.stack.tcp.constants import (APP_WAKEUP_NS, CLOSE_WAIT, CLOSED, ESTABLISHED,
                                        FIN_WAIT_1, LAST_ACK, LISTEN, SYN_RECV, SYN_SENT,
                                        SYNCHRONISED, TCP_INIT_CWND, TCP_MSS_DEFAULT,
                                        TCP_TIMEOUT_INIT)
from emunet.stack.tcp.input import TcpInput
from emunet.stack.tcp.minisocks import TcpMinisocks
from emunet.stack.tcp.output import TcpOutput
from emunet.stack.tcp.seq import MASK
from emunet.stack.tcp.timer import TcpTimers
from emunet.wire.ipv4 import int_to_ip, ip_to_int
from emunet.wire.tcp import TCP_ACK, TCP_RST

ERRNO_NAMES = {errno.ECONNREFUSED: "ECONNREFUSED", errno.ECONNRESET: "ECONNRESET",
               errno.ETIMEDOUT: "ETIMEDOUT", errno.EHOSTUNREACH: "EHOSTUNREACH",
               errno.ENETUNREACH: "ENETUNREACH", errno.EPIPE: "EPIPE"}


def oserror(code: int) -> OSError:
    """The ``OSError`` a system call fails with."""
    return OSError(code, os.strerror(code))


class TcpSocket(TcpInput, TcpMinisocks, TcpOutput, TcpTimers):
    """One TCP socket (``struct tcp_sock``), driven by callbacks instead of blocking calls;
    ``layer`` is the namespace's :class:`~emunet.stack.tcp.ipv4.Tcp`."""

    def __init__(self, layer):
        self.layer = layer
        self.ns = layer.ns
        self.sim = layer.sim
        self.state = CLOSED
        self.local = None   # (ip_int, port)
        self.remote = None  # (ip_int, port)
        self.reuseaddr = False
        self.nodelay = False
        #: ``IP_TTL`` (None: ``ip_default_ttl``) and ``IP_TOS`` socket options; a listener's
        #: values go on its SYN-ACKs and are inherited by the connections it accepts
        self.ip_ttl = None
        self.ip_tos = 0
        #: (device, frame) of the segment whose data was last queued for the process, so
        #: that a program can comment on the frame that carried what it read
        self.rx_frame = None
        self.error = 0
        self.soft_error = 0
        # callbacks
        self.on_accept = None
        self.on_connected = None
        self.on_data = None
        self.on_close = None
        self.on_error = None
        # listening
        self.backlog = 0
        self.accept_queue = []
        self.parent = None
        # lifecycle
        self.orphan = False      # close() was called: the process no longer listens
        self.tw = False          # a time-wait socket (inet_timewait_sock): IP ID 0
        self.bound = False
        self.hashed = False
        # options negotiated
        self.ts_ok = False
        self.sack_ok = False
        self.wscale_ok = False
        self.snd_wscale = 0
        self.rcv_wscale = 0
        self.ts_off = 0
        self.ts_recent = 0
        self.inet_id = 0
        self.peer_mss = TCP_MSS_DEFAULT
        self.advmss = 1460
        self.pmtu = 1500
        # send side
        self.iss = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_max = 0
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_window = 0
        self.write_seq = 0
        self._sndbuf = bytearray()
        self._buf_seq = 0
        self._push = set()
        self.fin_queued = False
        self.snd_sml = 0
        self.cwnd = TCP_INIT_CWND
        #: ``snd_cwnd_cnt``: ACKed segments towards the next congestion-avoidance step
        self.cwnd_cnt = 0
        self.ssthresh = 0x7FFFFFFF
        self.dupacks = 0
        # retransmission
        self.srtt = 0
        self.rttvar = 0
        self.rto = TCP_TIMEOUT_INIT
        self.retransmits = 0
        self.total_rto = 0
        self.retrans_stamp = 0
        self._rtx_timer = None
        self._rtt_seq = None
        self._rtt_time = 0
        # receive side
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_wnd = 0
        self.rcv_wup = 0
        self.rcv_ssthresh = 0
        self._grew = False
        self.rcv_mss = TCP_MSS_DEFAULT
        self._ofo = {}   # seq -> (bytes, fin)
        self._dsack = None
        # ACK machinery (inet_connection_sock.icsk_ack)
        self.quick = 0
        self.ato = 0
        self.pingpong = 0
        self.lrcvtime = 0
        self.lsndtime = 0
        self._delack = None
        self._ack_pending = False
        #: jiffies of the last answer to an out-of-window segment (``last_oow_ack_time``;
        #: None: none yet, the kernel's 0)
        self.last_oow_ack_time = None
        # delivery to the process
        self._rxq = bytearray()
        self._eof = False
        self._wakeup = None
        self._connected_pending = False
        self._closed_reported = False
        self._tw_timer = None
        # statistics
        self.bytes_sent = 0
        self.bytes_received = 0
        self.segs_out = 0
        self.segs_in = 0
        self.retrans_segs = 0

    def __repr__(self):
        return f"<TcpSocket {self.name} {self.state}>"

    @property
    def name(self) -> str:
        loc = f"{int_to_ip(self.local[0])}:{self.local[1]}" if self.local else "*:*"
        if self.remote is None:
            return loc
        return f"{loc}->{int_to_ip(self.remote[0])}:{self.remote[1]}"

    @property
    def port(self) -> int:
        return self.local[1] if self.local else 0

    @property
    def laddr(self):
        return (int_to_ip(self.local[0]), self.local[1]) if self.local else None

    @property
    def raddr(self):
        return (int_to_ip(self.remote[0]), self.remote[1]) if self.remote else None

    @property
    def sysctl(self):
        return self.layer.sysctl

    # -- the socket API ------------------------------------------------------
    def bind(self, addr) -> None:
        """``bind()``; ``OSError(EADDRINUSE)`` as Linux raises it for a taken port."""
        ip, port = addr
        self.layer.bind(self, ip_to_int(ip or "0.0.0.0"), int(port))

    def listen(self, backlog: int = 128) -> None:
        """``listen()`` (``inet_csk_listen_start``)."""
        if self.state not in (CLOSED, LISTEN):
            raise oserror(errno.EINVAL)
        if not self.bound:
            self.layer.autobind(self, 0)
        self.layer.check_listen(self)
        self.backlog = min(int(backlog), 4096)  # net.core.somaxconn
        if self.state != LISTEN:
            self.state = LISTEN
            self.layer.hash_listener(self)

    def connect(self, addr) -> None:
        """``connect()`` without blocking: sends the SYN; ``on_connected`` or
        ``on_close`` (with ``error`` set) follow.  Raises for what fails at once
        (no route: ``ENETUNREACH``; a socket already connected: ``EISCONN``)."""
        if self.state == LISTEN:
            raise oserror(errno.EINVAL)
        if self.state != CLOSED or self.remote is not None:
            raise oserror(errno.EISCONN if self.state in SYNCHRONISED else errno.EALREADY)
        ip, port = addr
        dst = ip_to_int(ip)
        src = self.ns.fib.source_for(dst)
        if src is None:
            raise oserror(errno.ENETUNREACH)
        port = int(port)
        self.layer.hash_connect(self, int.from_bytes(src, "big"), dst, port)
        self._connect(dst, port)

    def send(self, data: bytes) -> int:
        """``send()``: queue ``data`` and transmit what the windows allow."""
        if self.error:
            raise oserror(self.error)
        if self.state not in (ESTABLISHED, CLOSE_WAIT) or self.fin_queued:
            raise oserror(errno.EPIPE if self.state != CLOSED or self.fin_queued
                          else errno.ENOTCONN)
        data = bytes(data)
        if not data:
            return 0
        self._sndbuf += data
        self.write_seq = (self.write_seq + len(data)) & MASK
        self._push.add(self.write_seq)
        self._write_xmit()
        return len(data)

    sendall = send

    def recv(self) -> bytes:
        """Take whatever has arrived and not been handed to ``on_data``."""
        data = bytes(self._rxq)
        self._rxq.clear()
        return data

    def accept(self):
        """Take one established connection from the accept queue (or None)."""
        return self.accept_queue.pop(0) if self.accept_queue else None

    def close(self) -> None:
        """``close()``: FIN after the queued data (or nothing, in LISTEN and SYN_SENT)."""
        if self.orphan:
            return
        self.orphan = True
        self.on_data = self.on_close = self.on_accept = self.on_connected = None
        st = self.state
        if st == LISTEN:
            self._listen_stop()
        elif st in (CLOSED, SYN_SENT):
            self.done(note="closed")
        elif st in (ESTABLISHED, SYN_RECV):
            self._set_state(FIN_WAIT_1)
            self._send_fin()
        elif st == CLOSE_WAIT:
            self._set_state(LAST_ACK)
            self._send_fin()

    def abort(self) -> None:
        """``close()`` with ``SO_LINGER`` 0: RST at once (``tcp_send_active_reset``)."""
        if self.state in SYNCHRONISED or self.state == SYN_RECV:
            self._transmit_skb(TCP_RST | TCP_ACK, self.snd_nxt, b"", note="abort: RST")
        self.orphan = True
        self.done(note="aborted")

    def _set_state(self, state: str) -> None:
        """``tcp_set_state``."""
        self.state = state

    # -- the listener's queue ------------------------------------------------------
    def reqsk_queue_add(self, child: "TcpSocket") -> None:
        """``inet_csk_reqsk_queue_add`` and ``sk_data_ready``: queue a child whose
        handshake completed, and wake the process that listens."""
        self.accept_queue.append(child)
        self.sim.after(APP_WAKEUP_NS, self._run_accept)

    def _run_accept(self) -> None:
        while self.accept_queue and self.on_accept is not None and self.state == LISTEN:
            child = self.accept_queue.pop(0)
            self.on_accept(child)
            child.wake()  # hand over what arrived before accept()

    def _listen_stop(self) -> None:
        """``inet_csk_listen_stop``: pending requests and unaccepted children go too."""
        for child in list(self.accept_queue):
            child.abort()
        self.accept_queue.clear()
        for s in list(self.layer.conns.values()):
            if s.parent is self and s.state == SYN_RECV:
                s.done()
        self.done()

    # -- process wake-ups ----------------------------------------------------------
    def wake(self) -> None:
        """``sk_data_ready``/``sk_state_change``: run the process's callbacks soon."""
        if self._wakeup is None:
            self._wakeup = self.sim.after(APP_WAKEUP_NS, self._run_wakeup)

    def _run_wakeup(self) -> None:
        self._wakeup = None
        if self._connected_pending:
            self._connected_pending = False
            if self.on_connected is not None and not self.orphan:
                self.on_connected()
        if self._rxq and self.on_data is not None and not self.orphan:
            data = bytes(self._rxq)
            self._rxq.clear()
            self.on_data(data)
        if (self._eof or self.error) and not self._rxq and not self._closed_reported:
            self._closed_reported = True
            if self.error and self.on_error is not None and not self.orphan:
                self.on_error(self.error)
            if self.on_close is not None and not self.orphan:
                self.on_close()

    # -- endings -------------------------------------------------------------------
    def fail(self, err: int) -> None:
        """The connection is gone with ``err`` (``tcp_done`` after an error)."""
        self.error = err
        self.done(note=ERRNO_NAMES.get(err, str(err)))
        self.wake()

    def done(self, note: str = "") -> None:
        """``tcp_done``: CLOSED, out of the tables, timers stopped."""
        self._set_state(CLOSED)
        self._stop_rtx()
        for t in (self._delack, self._tw_timer):
            if t is not None:
                t.cancel()
        self._delack = self._tw_timer = None
        self.layer.unhash(self)
