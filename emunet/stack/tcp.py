"""TCP (``net/ipv4/tcp*.c``): small, callback-driven, and byte-for-byte Linux on the wire.

What it models, and where each rule was checked against a real kernel (two network
namespaces joined by a veth and a bridge, ``curl`` against ``nginx`` and a Python
server, ``tcpdump``; see ``tests/kernel/reference/`` and ``tests/test_tcp.py``):

* **Handshake.**  The SYN carries ``MSS, SACK_PERM, TS, NOP, WS`` laid out as
  ``02 04 mss | 04 02 08 0a tsval tsecr | 01 03 03 ws`` (``tcp_options_write``), window
  64240 on a 1500-byte link: ``tcp_select_initial_window`` rounds the 65536-byte
  initial space (``tcp_rmem[1]`` / 2) down to a multiple of the MSS (44 x 1460).  The
  SYN-ACK has the same layout, window 65160 (45 x 1448: the listener subtracts the
  12 timestamp bytes first) and IP ID 0 (a request socket has no ``inet_id``).  On
  ``lo`` the MSS is 65495 and the windows 65495 / 65483.  The window-scale shift is
  ``ilog2(max(tcp_rmem[2], rmem_max)) - 15``: 7 with the long-standing default
  ``tcp_rmem = 4096 131072 6291456`` (the default here), 10 with the 32 MiB
  ``tcp_rmem[2]`` of recent kernels (what the reference capture on 6.18 shows).
* **IP header.**  DF set, TTL 64, TOS 0, unless the socket set ``IP_TTL``/``IP_TOS``
  (``ip_ttl``/``ip_tos``; BIRD's BGP sockets: TOS 0xC0, TTL 1 or 64, a listener 255): a
  listener's values go on its SYN-ACKs and are inherited by what it accepts, a time-wait
  socket answers with the default TTL, and a RST for no socket reflects the offending
  segment's TOS (``tcp_v4_send_reset``), as the kernel showed.  A connected socket numbers its packets from a
  random ``inet_id``, one per packet (``ip_select_ident_segs``).  Packets sent for no
  full socket carry ID 0: the SYN-ACK, a RST to a closed port
  (``tcp_v4_send_reset``: no options, window 0), and anything a TIME_WAIT socket says.
* **Sequence space.**  ISN, timestamp offset, ``inet_id`` and the ephemeral port
  (even, in ``ip_local_port_range`` 32768-60999, as ``__inet_hash_connect`` prefers for
  ``connect()``) come from ``sim.rng``.  TSval = virtual milliseconds + the offset.
* **ACKs.**  The first 16 data segments are ACKed at once (``icsk_ack.quick``), so a
  request is ACKed before the server answers; more than one full segment unACKed is
  ACKed at once; otherwise a delayed ACK after 40 ms (``TCP_DELACK_MIN``).  A FIN
  puts the receiver in ``pingpong`` mode (its ACK waits, so that the application's
  own FIN can carry it), and so does answering within ``ato`` of a request.
  Out-of-order data is queued and answered by a duplicate ACK with SACK blocks.
* **The advertised window** never shrinks (``tcp_select_window``) and is rounded up
  to the scale unit; it grows when a full-sized segment arrives
  (``tcp_grow_window``: ``rcv_ssthresh`` += 2 x MSS) and otherwise keeps its right
  edge, which is what the kernel does after small segments (502 → 501 → 497 for
  curl reading nginx's 238 + 615 bytes, 509 for nginx after a 74-byte request).
* **Sending.**  MSS segmentation (1448 with timestamps), PSH on the segment that ends
  a ``send()``, Nagle with Minshall's rule, an initial window of 10 segments and
  slow start, the FIN on the last data segment if it is still unsent.
* **Retransmission** on the virtual clock: RTO 1 s before any RTT sample, then
  ``srtt + max(4 rttvar, 200 ms)``, doubling per timeout up to 120 s; SYN retries
  ``tcp_syn_retries`` (6: SYNs at 0, 1, 3, 7, 15, 31, 63 s, ``ETIMEDOUT`` at 127 s;
  ``tcp_syn_linear_timeouts`` makes the first ones 1 s apart as 6.x does), SYN-ACK
  retries ``tcp_synack_retries`` (5), data ``tcp_retries2`` (15), fast retransmit
  after three duplicate ACKs.
* **Closing.**  ``close()`` sends a FIN after the queued data; FIN_WAIT_1/2, CLOSING,
  CLOSE_WAIT, LAST_ACK, TIME_WAIT (60 s, ``TCP_TIMEWAIT_LEN``).  An orphaned socket
  whose FIN is ACKed becomes a FIN_WAIT_2 time-wait socket at once (``tcp_fin_timeout``
  60 s), so its final ACK has IP ID 0 -- the kernel shows exactly that.
* **Resets.**  A segment for no socket gets ``RST`` (seq = its ACK) or ``RST|ACK``
  (seq 0, ack = its end); RST in SYN_SENT → ``ECONNREFUSED``; an exact RST in a
  synchronised state → ``ECONNRESET``, an in-window one → challenge ACK (RFC 5961);
  new data after ``close()`` → RST.  ICMP errors abort a connection in SYN_SENT and
  are soft errors afterwards.

Left out: SACK-based loss recovery (SACK blocks are sent, and read only as duplicate
ACKs), CUBIC (Reno growth instead), PAWS, zero-window probes, urgent data, keepalive,
TCP Fast Open, ECN, MD5, syncookies, path-MTU discovery, receive-buffer autotuning.

Sockets are callback-driven, as the rest of the model: ``on_accept(conn)``,
``on_connected()``, ``on_data(bytes)``, ``on_close()`` (end of stream: the peer's FIN,
or an error in ``sock.error``) and ``on_error(errno)``.  Callbacks run in a separate
event a few microseconds after the segment that caused them (a process wake-up), so
that the kernel's own ACK goes out first, as on a real host.
"""
import errno as _errno
import os
import struct

from emunet.sim import MS, S, US
from emunet.wire.errors import Malformed
from emunet.wire.frame import CSUM_L4
from emunet.wire.ipv4 import IPPROTO_TCP, int_to_ip, ip_to_int
from emunet.wire.tcp import (TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCPOPT_EOL, TCPOPT_MSS,
                             TCPOPT_NOP, TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP, TCPOPT_WINDOW,
                             TcpView)

TCPOPT_SACK = 5

# -- states (``include/net/tcp_states.h``) ---------------------------------------
CLOSED = "CLOSED"
LISTEN = "LISTEN"
SYN_SENT = "SYN_SENT"
SYN_RECV = "SYN_RECV"
ESTABLISHED = "ESTABLISHED"
FIN_WAIT_1 = "FIN_WAIT_1"
FIN_WAIT_2 = "FIN_WAIT_2"
CLOSE_WAIT = "CLOSE_WAIT"
CLOSING = "CLOSING"
LAST_ACK = "LAST_ACK"
TIME_WAIT = "TIME_WAIT"
SYNCHRONISED = (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK)

# -- constants (``include/net/tcp.h``) --------------------------------------------
TCP_TIMEOUT_INIT = 1 * S
TCP_RTO_MIN = 200 * MS
TCP_RTO_MAX = 120 * S
TCP_TIMEWAIT_LEN = 60 * S
TCP_DELACK_MIN = 40 * MS
TCP_ATO_MIN = 40 * MS
TCP_INIT_CWND = 10
TCP_MAX_QUICKACKS = 16
TCP_MSS_DEFAULT = 536
TCP_MAX_WSCALE = 14
TCPOLEN_TSTAMP_ALIGNED = 12
#: the time between a segment reaching a socket and its process running (a wake-up)
APP_WAKEUP_NS = 10 * US
#: what a received skb costs beyond its payload (headers, ``skb_shared_info``, slack):
#: ``tcp_grow_window`` widens the window only for segments at least this large, which
#: is what the kernel showed (1448-byte segments grow it, 615-byte ones do not)
SKB_OVERHEAD = 704

MASK = 0xFFFFFFFF

DEFAULT_SYSCTLS = {
    "net.ipv4.tcp_rmem": (4096, 131072, 6291456),
    "net.core.rmem_max": 212992,
    "net.ipv4.tcp_timestamps": 1,
    "net.ipv4.tcp_sack": 1,
    "net.ipv4.tcp_window_scaling": 1,
    "net.ipv4.tcp_syn_retries": 6,
    "net.ipv4.tcp_synack_retries": 5,
    "net.ipv4.tcp_syn_linear_timeouts": 0,
    "net.ipv4.tcp_retries2": 15,
    "net.ipv4.tcp_orphan_retries": 0,
    "net.ipv4.tcp_fin_timeout": 60,
    "net.ipv4.tcp_pingpong_thresh": 1,
    "net.ipv4.ip_local_port_range": (32768, 60999),
}

ERRNO_NAMES = {_errno.ECONNREFUSED: "ECONNREFUSED", _errno.ECONNRESET: "ECONNRESET",
               _errno.ETIMEDOUT: "ETIMEDOUT", _errno.EHOSTUNREACH: "EHOSTUNREACH",
               _errno.ENETUNREACH: "ENETUNREACH", _errno.EPIPE: "EPIPE"}


def _before(a: int, b: int) -> bool:
    """``before(a, b)``: a comes before b in sequence space."""
    return ((a - b) & MASK) >= 0x80000000


def _after(a: int, b: int) -> bool:
    return _before(b, a)


def _dist(a: int, b: int) -> int:
    """``a - b`` in sequence space (a at or after b)."""
    return (a - b) & MASK


def _ilog2(n: int) -> int:
    return n.bit_length() - 1


def _align(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def _tuple(v, n):
    if isinstance(v, str):
        v = tuple(int(x) for x in v.split())
    return tuple(v)[:n]


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _flags_text(flags: int) -> str:
    names = [(TCP_SYN, "S"), (TCP_FIN, "F"), (TCP_RST, "R"), (TCP_PSH, "P"), (TCP_ACK, ".")]
    return "".join(c for f, c in names if flags & f) or "none"


def parse_options(seg: TcpView) -> dict:
    """``tcp_parse_options``: lenient, as the kernel is (a malformed option ends the
    parse; it does not drop the segment)."""
    out = {}
    buf, i, end = seg.buf, seg.off + 20, seg.off + seg.data_offset
    syn = bool(seg.flags & TCP_SYN)
    while i < end:
        kind = buf[i]
        if kind == TCPOPT_EOL:
            break
        if kind == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        size = buf[i + 1]
        if size < 2 or i + size > end:
            break  # "don't parse partial options"
        body = bytes(buf[i + 2:i + size])
        if kind == TCPOPT_MSS and size == 4 and syn:
            out["mss"] = struct.unpack("!H", body)[0]
        elif kind == TCPOPT_WINDOW and size == 3 and syn:
            out["wscale"] = min(body[0], TCP_MAX_WSCALE)
        elif kind == TCPOPT_SACK_PERM and size == 2 and syn:
            out["sack_perm"] = True
        elif kind == TCPOPT_TIMESTAMP and size == 10:
            out["ts"] = struct.unpack("!II", body)
        elif kind == TCPOPT_SACK and size >= 10 and (size - 2) % 8 == 0:
            out["sack"] = [struct.unpack_from("!II", body, j) for j in range(0, size - 2, 8)]
        i += size
    return out


def syn_options(mss: int, sack: bool, ts, wscale) -> bytes:
    """The options of a SYN or SYN-ACK in ``tcp_options_write`` order."""
    b = struct.pack("!BBH", TCPOPT_MSS, 4, mss)
    if ts is not None:
        b += bytes((TCPOPT_SACK_PERM, 2, TCPOPT_TIMESTAMP, 10)) if sack else \
            bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10))
        b += struct.pack("!II", ts[0] & MASK, ts[1] & MASK)
    if sack and ts is None:
        b += bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, 2))
    if wscale is not None:
        b += bytes((TCPOPT_NOP, TCPOPT_WINDOW, 3, wscale))
    return b


class TcpSocket:
    """One TCP socket (``struct tcp_sock``), driven by callbacks instead of blocking calls."""

    def __init__(self, layer: "Tcp"):
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

    # -- the socket API ------------------------------------------------------
    def bind(self, addr) -> None:
        """``bind()``; ``OSError(EADDRINUSE)`` as Linux raises it for a taken port."""
        ip, port = addr
        self.layer.bind(self, ip_to_int(ip or "0.0.0.0"), int(port))

    def listen(self, backlog: int = 128) -> None:
        if self.state not in (CLOSED, LISTEN):
            raise _oserror(_errno.EINVAL)
        if not self.bound:
            self.layer.autobind(self, 0)
        self.layer.check_listen(self)
        self.backlog = min(int(backlog), 4096)  # net.core.somaxconn
        if self.state != LISTEN:
            self.state = LISTEN
            self.layer.listeners[self.local] = self

    def connect(self, addr) -> None:
        """``connect()`` without blocking: sends the SYN; ``on_connected`` or
        ``on_close`` (with ``error`` set) follow.  Raises for what fails at once
        (no route: ``ENETUNREACH``; a socket already connected: ``EISCONN``)."""
        if self.state == LISTEN:
            raise _oserror(_errno.EINVAL)
        if self.state != CLOSED or self.remote is not None:
            raise _oserror(_errno.EISCONN if self.state in SYNCHRONISED else _errno.EALREADY)
        ip, port = addr
        dst = ip_to_int(ip)
        src = self.ns.fib.source_for(dst)
        if src is None:
            raise _oserror(_errno.ENETUNREACH)
        self.layer.connect(self, int.from_bytes(src, "big"), dst, int(port))

    def send(self, data: bytes) -> int:
        """``send()``: queue ``data`` and transmit what the windows allow."""
        if self.error:
            raise _oserror(self.error)
        if self.state not in (ESTABLISHED, CLOSE_WAIT) or self.fin_queued:
            raise _oserror(_errno.EPIPE if self.state != CLOSED or self.fin_queued
                           else _errno.ENOTCONN)
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
            self.layer.stop_listening(self)
        elif st in (CLOSED, SYN_SENT):
            self._done(note="closed")
        elif st in (ESTABLISHED, SYN_RECV):
            self._set_state(FIN_WAIT_1)
            self._send_fin()
        elif st == CLOSE_WAIT:
            self._set_state(LAST_ACK)
            self._send_fin()

    def abort(self) -> None:
        """``close()`` with ``SO_LINGER`` 0: RST at once (``tcp_send_active_reset``)."""
        if self.state in SYNCHRONISED or self.state == SYN_RECV:
            self._transmit(TCP_RST | TCP_ACK, self.snd_nxt, b"", note="abort: RST")
        self.orphan = True
        self._done(note="aborted")

    # -- helpers -------------------------------------------------------------
    @property
    def sysctl(self):
        return self.layer.sysctl

    def _set_state(self, state: str) -> None:
        self.state = state

    def _tsval(self) -> int:
        return (self.sim.now // MS + self.ts_off) & MASK

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

    # -- output ----------------------------------------------------------------
    def _options(self, flags: int) -> bytes:
        opts = b""
        if self.ts_ok:
            opts = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10)) + \
                struct.pack("!II", self._tsval(), self.ts_recent)
        if self.sack_ok and flags & TCP_ACK and not flags & TCP_RST:
            blocks = self._sack_blocks(3 if self.ts_ok else 4)
            if blocks:
                opts += bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 2 + 8 * len(blocks)))
                opts += b"".join(struct.pack("!II", a, b) for a, b in blocks)
        return opts

    def _sack_blocks(self, most: int) -> list:
        blocks = []
        if self._dsack is not None:
            blocks.append(self._dsack)
        if self._ofo:
            runs = []
            for seq in sorted(self._ofo, key=lambda s: _dist(s, self.rcv_nxt)):
                data, fin = self._ofo[seq]
                end = (seq + len(data) + (1 if fin else 0)) & MASK
                if runs and not _after(seq, runs[-1][1]):
                    if _after(end, runs[-1][1]):
                        runs[-1][1] = end
                else:
                    runs.append([seq, end])
            # the most recently changed block first; approximated by the highest
            blocks += [tuple(r) for r in reversed(runs)]
        return blocks[:most]

    def _receive_window(self) -> int:
        """``tcp_receive_window``: what is left of the window last offered."""
        left = self.rcv_wnd - _dist(self.rcv_nxt, self.rcv_wup)
        return left if left > 0 else 0

    def _window_field(self) -> int:
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
            new = min(_align(new, 1 << ws), 0xFFFF << ws)
        self.rcv_wnd = new
        self.rcv_wup = self.rcv_nxt
        return new >> ws

    def _ip_ident(self) -> int:
        if self.tw:
            return 0
        ident = self.inet_id
        self.inet_id = (self.inet_id + 1) & 0xFFFF
        return ident

    def _transmit(self, flags: int, seq: int, payload: bytes, note: str, pid: int = None,
                  options: bytes = None, window: int = None, ident: int = None) -> int:
        """``tcp_transmit_skb``: one segment, handed to ``ip_send``."""
        if flags & TCP_ACK:
            ack = self.rcv_nxt
            if window is None:
                window = self._window_field()
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
            self._ack_sent()
        text = (f"tcp {self.name} [{_flags_text(flags)}] seq {_dist(seq, self.iss)}"
                f"{' ack ' + str(_dist(ack, self.irs)) if flags & TCP_ACK else ''} "
                f"len {len(payload)} win {window}: {note} ({self.state})")
        return self.ns.ipv4.ip_send(src, dst, IPPROTO_TCP, seg, pid, ttl=ttl, tos=self.ip_tos, df=True,
                               ident=ident, note=text)

    def _ack_sent(self) -> None:
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
        self._transmit(TCP_ACK, self.snd_nxt, b"", note)

    def _send_syn(self, note: str) -> None:
        wscale = self.rcv_wscale if self.wscale_ok else None
        ts = (self._tsval(), 0) if self.ts_ok else None
        opts = syn_options(self.advmss, self.sack_ok, ts, wscale)
        self._transmit(TCP_SYN, self.iss, b"", note, options=opts,
                       window=min(self.rcv_wnd, 0xFFFF))

    def _send_synack(self, note: str, pid: int = None) -> None:
        wscale = self.rcv_wscale if self.wscale_ok else None
        ts = (self._tsval(), self.ts_recent) if self.ts_ok else None
        opts = syn_options(self.advmss, self.sack_ok, ts, wscale)
        self._transmit(TCP_SYN | TCP_ACK, self.iss, b"", note, pid=pid, options=opts,
                       window=min(self.rcv_wnd, 0xFFFF), ident=0)

    def _send_fin(self) -> None:
        self.fin_queued = True
        self._write_xmit()

    def _write_xmit(self) -> None:
        """``tcp_write_xmit``: send new segments while the peer's window, the congestion
        window and Nagle allow."""
        if self.state not in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, LAST_ACK, CLOSING):
            return
        sent = False
        while True:
            unsent = _dist(self.write_seq, self.snd_nxt) if not _before(self.write_seq, self.snd_nxt) else 0
            fin_now = self.fin_queued and not _after(self.snd_nxt, self.write_seq)
            if not unsent and not fin_now:
                break
            mss = self.mss_now
            size = min(unsent, mss)
            if size:
                wnd_end = (self.snd_una + self.snd_wnd) & MASK
                room = _dist(wnd_end, self.snd_nxt) if not _before(wnd_end, self.snd_nxt) else 0
                cwnd_room = self.cwnd * mss - _dist(self.snd_nxt, self.snd_una)
                size = min(size, room, max(cwnd_room, 0))
                if size <= 0:
                    break
                fin = fin_now and size == unsent
                if size < mss and size == unsent and not fin and not self.nodelay \
                        and not _before(self.snd_nxt, self.snd_max) \
                        and _after(self.snd_sml, self.snd_una):
                    break  # Nagle (Minshall): a small segment is still unACKed
            else:
                fin = True
            seq = self.snd_nxt
            off = _dist(seq, self._buf_seq)
            payload = bytes(self._sndbuf[off:off + size])
            end = (seq + size) & MASK
            flags = TCP_ACK
            if any(not _before(p, (seq + 1) & MASK) and not _after(p, end) for p in self._push) and size:
                flags |= TCP_PSH
            if fin:
                flags |= TCP_FIN
            if size < mss:
                self.snd_sml = end
            self._event_data_sent()
            note = "FIN" if fin and not size else ("data" + (" + FIN" if fin else ""))
            if _before(seq, self.snd_max):
                note = "retransmit " + note
            self._transmit(flags, seq, payload, note)
            self.bytes_sent += size
            self.snd_nxt = (end + (1 if fin else 0)) & MASK
            if _after(self.snd_nxt, self.snd_max):
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

    # -- timers ----------------------------------------------------------------
    def _arm_rtx(self, delay: int = None) -> None:
        if self._rtx_timer is not None:
            self._rtx_timer.cancel()
        self._rtx_timer = self.sim.after(self.rto if delay is None else delay, self._rtx_fire)

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

    def _timed_out(self) -> bool:
        """``tcp_write_timeout``: SYNs by count; data by ``tcp_model_timeout``'s time."""
        limit = self._retry_limit()
        if self.state in (SYN_SENT, SYN_RECV):
            return self.retransmits >= limit
        if not self.retransmits:
            return False
        thresh = _ilog2(TCP_RTO_MAX // TCP_RTO_MIN)
        if limit <= thresh:
            timeout = ((2 << limit) - 1) * TCP_RTO_MIN
        else:
            timeout = ((2 << thresh) - 1) * TCP_RTO_MIN + (limit - thresh) * TCP_RTO_MAX
        return self.sim.now - self.retrans_stamp >= timeout

    def _rtx_fire(self) -> None:
        """``tcp_retransmit_timer``."""
        self._rtx_timer = None
        if self.state in (CLOSED, TIME_WAIT, LISTEN) or self.tw:
            return
        if self.state == SYN_RECV:
            if self.retransmits >= self._retry_limit():
                self.layer.note_sock(self, f"SYN-ACK not answered after {self.retransmits} "
                                           f"retransmissions: request dropped")
                self._done(note="SYN_RECV timeout")
                return
            self.retransmits += 1
            self.retrans_segs += 1
            self._send_synack(f"retransmit SYN-ACK #{self.retransmits}")
            self.rto = min(TCP_TIMEOUT_INIT << self.retransmits, TCP_RTO_MAX)
            self._arm_rtx()
            return
        if not _before(self.snd_una, self.snd_max):
            return  # nothing outstanding
        if self._timed_out():
            self.layer.note_sock(self, f"no answer after {self.retransmits} retransmissions: ETIMEDOUT")
            self._fail(_errno.ETIMEDOUT)
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
        flight = _dist(self.snd_max, self.snd_una) // max(self.mss_now, 1)
        self.ssthresh = max(flight // 2, 2)
        self.cwnd = 1
        self.dupacks = 0
        self.snd_nxt = self.snd_una  # the FIN, if any, goes again after the data
        self._write_xmit()
        self.rto = min(self.rto << 1, TCP_RTO_MAX)
        self._arm_rtx()

    def _schedule_delack(self) -> None:
        self._ack_pending = True
        if self._delack is None:
            ato = max(self.ato, TCP_DELACK_MIN)
            self._delack = self.sim.after(ato, self._delack_fire)

    def _delack_fire(self) -> None:
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

    def _in_pingpong(self) -> bool:
        return self.pingpong >= self.sysctl("net.ipv4.tcp_pingpong_thresh")

    def _in_quickack(self) -> bool:
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

    # -- process wake-ups ----------------------------------------------------------
    def _wake(self) -> None:
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
    def _fail(self, err: int) -> None:
        """The connection is gone with ``err`` (``tcp_done`` after an error)."""
        self.error = err
        self._done(note=ERRNO_NAMES.get(err, str(err)))
        self._wake()

    def _done(self, note: str = "") -> None:
        """``tcp_done``: CLOSED, out of the tables, timers stopped."""
        self._set_state(CLOSED)
        self._stop_rtx()
        for t in (self._delack, self._tw_timer):
            if t is not None:
                t.cancel()
        self._delack = self._tw_timer = None
        self.layer.unhash(self)

    def _enter_timewait(self, state: str, timeout: int) -> None:
        """``tcp_time_wait``: the full socket becomes a time-wait socket."""
        self._set_state(state)
        self.tw = True
        self._stop_rtx()
        if self._delack is not None:
            self._delack.cancel()
            self._delack = None
        self._arm_tw(timeout)

    def _arm_tw(self, timeout: int) -> None:
        if self._tw_timer is not None:
            self._tw_timer.cancel()
        self._tw_timer = self.sim.after(timeout, self._tw_expire)

    def _tw_expire(self) -> None:
        self._tw_timer = None
        self._done()


class Tcp:
    """The TCP layer of one namespace: socket tables, ``tcp_v4_rcv`` and resets."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        for k, v in DEFAULT_SYSCTLS.items():
            ns.sysctl.setdefault(k, v)
        self.conns = {}      # (lip, lport, rip, rport) -> socket (incl. SYN_RECV and time-wait)
        self.listeners = {}  # (ip, port) -> listening socket
        self.ports = {}      # port -> [sockets bound to it]
        self.in_segs = 0
        self.out_rsts = 0
        self.active_opens = 0
        self.passive_opens = 0
        self.attempt_fails = 0
        self.estab_resets = 0
        #: (time_ns, socket, text) for decisions no frame carries (timeouts)
        self.log = []

    def sysctl(self, key: str):
        return self.ns.sysctl.get(key, DEFAULT_SYSCTLS.get(key))

    def socket(self) -> TcpSocket:
        return TcpSocket(self)

    def sockets(self) -> list:
        """Every socket of the namespace (listeners first), as ``ss -tan`` lists them."""
        out = list(self.listeners.values())
        out += [s for s in self.conns.values() if s not in out]
        return out

    def note_sock(self, sock, text: str) -> None:
        """A socket event with no frame to hang a comment on (timer decisions)."""
        self.log.append((self.sim.now, sock.name, text))

    # -- binding ----------------------------------------------------------------
    def _conflict(self, sock, ip: int, port: int):
        for other in self.ports.get(port, []):
            if other is sock:
                continue
            if other.local[0] and ip and other.local[0] != ip:
                continue
            if sock.reuseaddr and other.reuseaddr and other.state != LISTEN:
                continue
            return other
        return None

    def bind(self, sock: TcpSocket, ip: int, port: int) -> None:
        if sock.bound:
            raise _oserror(_errno.EINVAL)
        if ip and not self.ns.is_local_address(ip):
            raise _oserror(_errno.EADDRNOTAVAIL)
        if port == 0:
            self.autobind(sock, ip)
            return
        if self._conflict(sock, ip, port) is not None:
            raise _oserror(_errno.EADDRINUSE)
        self._hash_port(sock, ip, port)

    def check_listen(self, sock: TcpSocket) -> None:
        """``inet_csk_listen_start`` re-checks the port: two listeners never share one."""
        other = self._conflict(sock, sock.local[0], sock.local[1])
        if other is not None and other.state == LISTEN:
            raise _oserror(_errno.EADDRINUSE)

    def _hash_port(self, sock, ip, port) -> None:
        sock.local = (ip, port)
        sock.bound = True
        self.ports.setdefault(port, []).append(sock)

    def autobind(self, sock: TcpSocket, ip: int = 0) -> None:
        """``inet_csk_get_port`` with port 0: an odd port (even ones are for connect)."""
        self._hash_port(sock, ip, self._pick_port(parity=1))

    def _pick_port(self, parity: int) -> int:
        """A free port of ``ip_local_port_range`` from a random start, preferring the
        given parity (``__inet_hash_connect`` uses even ports for ``connect()``)."""
        lo, hi = _tuple(self.sysctl("net.ipv4.ip_local_port_range"), 2)
        span = hi - lo + 1
        start = self.sim.rng.randrange(span)
        for p in (parity, 1 - parity):
            for i in range(span):
                port = lo + (start + i) % span
                if (port & 1) == p and port not in self.ports:
                    return port
        raise _oserror(_errno.EADDRNOTAVAIL)

    def hash(self, sock: TcpSocket) -> None:
        key = sock.local + sock.remote
        self.conns[key] = sock
        sock.hashed = True

    def unhash(self, sock: TcpSocket) -> None:
        if sock.local is not None and sock.remote is not None:
            key = sock.local + sock.remote
            if self.conns.get(key) is sock:
                del self.conns[key]
        if sock.bound and sock.local is not None:
            lst = self.ports.get(sock.local[1], [])
            if sock in lst:
                lst.remove(sock)
            if not lst:
                self.ports.pop(sock.local[1], None)
        sock.bound = False
        sock.hashed = False
        if self.listeners.get(sock.local) is sock:
            del self.listeners[sock.local]

    def stop_listening(self, sock: TcpSocket) -> None:
        """``inet_csk_listen_stop``: pending requests and unaccepted children go too."""
        for child in list(sock.accept_queue):
            child.abort()
        sock.accept_queue.clear()
        for s in list(self.conns.values()):
            if s.parent is sock and s.state == SYN_RECV:
                s._done()
        sock._done()

    # -- connect ----------------------------------------------------------------
    def _init_rcv(self, sock: TcpSocket, dev, mss_for_window: int) -> None:
        """``tcp_select_initial_window``."""
        full = _tuple(self.sysctl("net.ipv4.tcp_rmem"), 3)[1] // 2  # tcp_adv_win_scale = 1
        space = full
        if space > mss_for_window:
            space = (space // mss_for_window) * mss_for_window
        sock.rcv_wnd = min(space, 0xFFFF)
        if sock.wscale_ok:
            big = max(space, _tuple(self.sysctl("net.ipv4.tcp_rmem"), 3)[2],
                      int(self.sysctl("net.core.rmem_max")))
            sock.rcv_wscale = max(0, min(_ilog2(big) - 15, TCP_MAX_WSCALE))
        else:
            sock.rcv_wscale = 0
        sock.rcv_ssthresh = sock.rcv_wnd

    def _route_dev(self, dst: int):
        r = self.ns.fib.lookup(dst)
        if r is None:
            return None
        if r.type == "local":
            return self.ns.lo
        return r.dev

    def _advmss(self, dev) -> int:
        """``ipv4_default_advmss``: the route's MTU less 40, at most 65535 - 40."""
        mtu = dev.mtu if dev is not None else 1500
        return min(mtu, 65535) - 40

    def connect(self, sock: TcpSocket, src: int, dst: int, dport: int) -> None:
        if not sock.bound:
            port = self._pick_port(parity=0)
            for _ in range(64):
                if (src, port, dst, dport) not in self.conns:
                    break
                port = self._pick_port(parity=0)
            self._hash_port(sock, 0, port)
        lip = sock.local[0] or src
        sock.local = (lip, sock.local[1])
        sock.remote = (dst, dport)
        if sock.local + sock.remote in self.conns:
            raise _oserror(_errno.EADDRNOTAVAIL)
        dev = self._route_dev(dst)
        sock.pmtu = dev.mtu if dev is not None else 1500
        sock.advmss = self._advmss(dev)
        rng = self.sim.rng
        sock.ts_ok = bool(self.sysctl("net.ipv4.tcp_timestamps"))
        sock.sack_ok = bool(self.sysctl("net.ipv4.tcp_sack"))
        sock.wscale_ok = bool(self.sysctl("net.ipv4.tcp_window_scaling"))
        sock.iss = rng.getrandbits(32)
        sock.ts_off = rng.getrandbits(32) if sock.ts_ok else 0
        sock.inet_id = rng.getrandbits(16)
        self._init_rcv(sock, dev, sock.advmss)  # ts_recent_stamp is 0: no TS deduction
        sock.snd_una = sock.iss
        sock.snd_nxt = sock.snd_max = (sock.iss + 1) & MASK
        sock.write_seq = sock._buf_seq = (sock.iss + 1) & MASK
        sock.snd_sml = sock.write_seq  # tcp_connect_init
        sock.state = SYN_SENT
        sock.rto = TCP_TIMEOUT_INIT
        sock._rtt_seq, sock._rtt_time = sock.snd_nxt, self.sim.now
        self.hash(sock)
        self.active_opens += 1
        sock._send_syn(f"connect() to {int_to_ip(dst)}:{dport}")
        sock._arm_rtx()

    # -- receive ------------------------------------------------------------------
    def rcv(self, dev, frame, ipv, broadcast: bool) -> None:
        """``tcp_v4_rcv``: checksum, socket lookup, state machine; never raises on input."""
        try:
            # the checksum of a segment the sending stack built is right (Frame.csum_level)
            if frame.csum_level < CSUM_L4:
                seg = TcpView.check(frame.data, ipv.payload_offset, ipv.end, ipv.saddr, ipv.daddr)
            else:
                seg = TcpView.check(frame.data, ipv.payload_offset, ipv.end)
        except Malformed as e:
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        if broadcast:
            self.ns.count_drop("OTHERHOST", dev, frame, "TCP to a broadcast address")
            return
        self.in_segs += 1
        flags = seg.flags
        if flags & TCP_SYN and flags & TCP_FIN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "SYN and FIN together")
            return
        src = ipv.saddr
        dst = ipv.daddr
        sport, dport = seg.sport, seg.dport
        sock = self.conns.get((dst, dport, src, sport))
        if sock is not None:
            sock.segs_in += 1
            if sock.tw:
                self._timewait_rcv(sock, dev, frame, ipv, seg)
            elif sock.state == SYN_RECV:
                self._synrecv_rcv(sock, dev, frame, ipv, seg)
            elif sock.state == SYN_SENT:
                self._synsent_rcv(sock, dev, frame, ipv, seg)
            else:
                self._established_rcv(sock, dev, frame, ipv, seg)
            return
        lsock = self.listeners.get((dst, dport)) or self.listeners.get((0, dport))
        if lsock is not None:
            self._listen_rcv(lsock, dev, frame, ipv, seg)
            return
        self.ns.count_drop("NO_SOCKET", dev, frame, f"no socket on TCP port {dport}")
        self.send_reset(ipv, seg, frame.pid, f"closed port {dport}")

    def send_reset(self, ipv, seg, pid, why: str = "") -> None:
        """``tcp_v4_send_reset``: no socket speaks, so IP ID 0, no options, window 0."""
        flags = seg.flags
        if flags & TCP_RST:
            return
        plen = seg.end - seg.off - seg.data_offset
        if flags & TCP_ACK:
            seq, ack, rflags = seg.ack, 0, TCP_RST
        else:
            seq = 0
            ack = seg.seq + plen + (1 if flags & TCP_SYN else 0) + (1 if flags & TCP_FIN else 0)
            rflags = TCP_RST | TCP_ACK
        out = TcpView.emit(seg.dport, seg.sport, seq, ack, rflags, 0, b"", b"", ipv.dst, ipv.src)
        self.out_rsts += 1
        # ``tcp_v4_send_reset`` reflects the offending segment's TOS (``arg.tos``)
        self.ns.ipv4.ip_send(ipv.dst, ipv.src, IPPROTO_TCP, out, pid, tos=ipv.tos, df=True, ident=0,
                        note=f"tcp RST{'|ACK' if rflags & TCP_ACK else ''} to "
                             f"{int_to_ip(ipv.saddr)}:{seg.sport}"
                             f"{': ' + why if why else ''}")

    def _note(self, dev, frame, text: str) -> None:
        self.ns.note(dev, frame, text)

    # LISTEN
    def _listen_rcv(self, lsock, dev, frame, ipv, seg) -> None:
        """``tcp_rcv_state_process`` for TCP_LISTEN → ``tcp_conn_request``."""
        flags = seg.flags
        if flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "ACK to a listening socket")
            self.send_reset(ipv, seg, frame.pid, "ACK for no connection")
            return
        if flags & TCP_RST:
            self.ns.count_drop("TCP_RESET", dev, frame, "RST to a listening socket")
            return
        if not flags & TCP_SYN:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "no SYN to a listening socket")
            return
        if len(lsock.accept_queue) > lsock.backlog:
            self.ns.count_drop("TCP_LISTEN_OVERFLOW", dev, frame,
                               f"accept queue of {lsock.name} full ({lsock.backlog})")
            return
        opts = parse_options(seg)
        src = ipv.saddr
        dst = ipv.daddr
        req = TcpSocket(self)
        req.parent = lsock
        req.reuseaddr = lsock.reuseaddr
        req.ip_ttl, req.ip_tos = lsock.ip_ttl, lsock.ip_tos
        req.local = (dst, seg.dport)
        req.remote = (src, seg.sport)
        dev_out = self._route_dev(src)
        req.pmtu = dev_out.mtu if dev_out is not None else 1500
        req.advmss = self._advmss(dev_out)
        req.peer_mss = opts.get("mss", TCP_MSS_DEFAULT)
        req.ts_ok = "ts" in opts and bool(self.sysctl("net.ipv4.tcp_timestamps"))
        req.sack_ok = opts.get("sack_perm", False) and bool(self.sysctl("net.ipv4.tcp_sack"))
        req.wscale_ok = "wscale" in opts and bool(self.sysctl("net.ipv4.tcp_window_scaling"))
        req.snd_wscale = opts.get("wscale", 0) if req.wscale_ok else 0
        rng = self.sim.rng
        req.iss = rng.getrandbits(32)
        req.ts_off = rng.getrandbits(32) if req.ts_ok else 0
        req.ts_recent = opts["ts"][0] if req.ts_ok else 0
        req.irs = seg.seq
        req.rcv_nxt = (seg.seq + 1) & MASK
        req.rcv_wup = req.rcv_nxt
        req.snd_una = req.iss
        req.snd_nxt = req.snd_max = (req.iss + 1) & MASK
        req.write_seq = req._buf_seq = req.snd_nxt
        req.snd_sml = req.snd_nxt  # tcp_create_openreq_child
        req.snd_wnd = seg.window  # a SYN's window is never scaled
        req.snd_wl1 = seg.seq
        req.max_window = req.snd_wnd
        self._init_rcv(req, dev_out, req.advmss - (TCPOLEN_TSTAMP_ALIGNED if req.ts_ok else 0))
        req.state = SYN_RECV
        req.rto = TCP_TIMEOUT_INIT
        req._rtt_time = self.sim.now
        self.hash(req)
        self._note(dev, frame, f"tcp SYN to listener {lsock.name}: request {req.name} "
                               f"SYN_RECV (peer MSS {req.peer_mss}"
                               f"{', SACK' if req.sack_ok else ''}{', TS' if req.ts_ok else ''}"
                               f"{', WS ' + str(req.snd_wscale) if req.wscale_ok else ''})")
        req._send_synack("SYN-ACK (request socket: IP ID 0)")
        req._arm_rtx()

    # SYN_RECV (a request socket)
    def _synrecv_rcv(self, req, dev, frame, ipv, seg) -> None:
        """``tcp_check_req``: the handshake's last ACK makes the child socket."""
        flags = seg.flags
        if flags & TCP_RST:
            if seg.seq == req.rcv_nxt or _in_window(seg.seq, req.rcv_nxt, req.rcv_wnd):
                self._note(dev, frame, f"tcp RST for request {req.name}: dropped")
                req._done()
            else:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST out of window")
            return
        if flags & TCP_SYN:
            if seg.seq == req.irs:
                self._note(dev, frame, f"tcp retransmitted SYN for {req.name}: SYN-ACK again")
                req._send_synack("SYN-ACK again (the SYN was retransmitted)")
                return
            self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "new SYN for a pending request")
            return
        if not flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "no ACK in SYN_RECV")
            return
        if seg.ack != req.snd_nxt:
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame,
                               f"ACK {seg.ack} is not our ISN + 1")
            self.send_reset(ipv, seg, frame.pid, "bad ACK for a pending request")
            return
        lsock = req.parent
        if lsock is None or lsock.state != LISTEN:
            self.ns.count_drop("NO_SOCKET", dev, frame, "listener gone")
            req._done()
            self.send_reset(ipv, seg, frame.pid, "listener closed")
            return
        if len(lsock.accept_queue) > lsock.backlog:
            self.ns.count_drop("TCP_LISTEN_OVERFLOW", dev, frame, "accept queue full: ACK ignored")
            return
        # tcp_v4_syn_recv_sock: the child takes the request's place
        child = req
        child._stop_rtx()
        child.retransmits = 0
        child.inet_id = self.sim.rng.getrandbits(16)
        child.state = ESTABLISHED
        child.snd_una = seg.ack
        child.max_window = 0
        child._update_rtt(self.sim.now - child._rtt_time)
        self.passive_opens += 1
        self._note(dev, frame, f"tcp ACK completes the handshake: {child.name} ESTABLISHED, "
                               f"queued for accept() on {lsock.name}")
        # the child shares the listener's port (same bind bucket)
        child.bound = True
        self.ports.setdefault(child.local[1], []).append(child)
        lsock.accept_queue.append(child)
        self._wake_listener(lsock)
        self._established_rcv(child, dev, frame, ipv, seg, handshake=True)

    def _wake_listener(self, lsock) -> None:
        def run():
            while lsock.accept_queue and lsock.on_accept is not None and lsock.state == LISTEN:
                child = lsock.accept_queue.pop(0)
                lsock.on_accept(child)
                child._wake()  # hand over what arrived before accept()
        self.sim.after(APP_WAKEUP_NS, run)

    # SYN_SENT
    def _synsent_rcv(self, sock, dev, frame, ipv, seg) -> None:
        """``tcp_rcv_synsent_state_process``."""
        flags = seg.flags
        if flags & TCP_ACK and seg.ack != sock.snd_nxt:
            if flags & TCP_RST:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST with an unacceptable ACK")
                return
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame, "SYN-ACK acknowledges the wrong ISN")
            self.send_reset(ipv, seg, frame.pid, "SYN-ACK for another ISN")
            return
        if flags & TCP_RST:
            if flags & TCP_ACK:
                self._note(dev, frame, f"tcp RST in SYN_SENT: {sock.name} connection refused")
                self.attempt_fails += 1
                sock._fail(_errno.ECONNREFUSED)
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
        sock.irs = seg.seq
        sock.rcv_nxt = (seg.seq + 1) & MASK
        sock.rcv_wup = sock.rcv_nxt
        sock.peer_mss = opts.get("mss", TCP_MSS_DEFAULT)
        sock.ts_ok = sock.ts_ok and "ts" in opts
        if sock.ts_ok:
            sock.ts_recent = opts["ts"][0]
        sock.sack_ok = sock.sack_ok and opts.get("sack_perm", False)
        if sock.wscale_ok and "wscale" in opts:
            sock.snd_wscale = opts["wscale"]
        else:
            sock.wscale_ok = False
            sock.snd_wscale = 0
            sock.rcv_wscale = 0
        sock.snd_una = seg.ack
        sock.snd_wnd = seg.window
        sock.max_window = sock.snd_wnd
        sock.snd_wl1 = seg.seq
        sock.snd_wl2 = seg.ack
        sock._stop_rtx()
        if sock._rtt_seq is not None:
            sock._update_rtt(self.sim.now - sock._rtt_time)
        sock._rtt_seq = None
        sock.retransmits = 0
        sock.state = ESTABLISHED
        sock.lrcvtime = self.sim.now
        self._note(dev, frame, f"tcp SYN-ACK: {sock.name} ESTABLISHED (peer MSS {sock.peer_mss}"
                               f"{', SACK' if sock.sack_ok else ''}{', TS' if sock.ts_ok else ''}"
                               f"{', WS ' + str(sock.snd_wscale) if sock.wscale_ok else ''}); "
                               f"ACK at once, then wake the process")
        sock.send_ack("ACK completing the handshake")
        sock._connected_pending = True
        sock._wake()

    # TIME_WAIT and the FIN_WAIT_2 time-wait socket
    def _timewait_rcv(self, tw, dev, frame, ipv, seg) -> None:
        """``tcp_timewait_state_process``: what a time-wait socket answers (IP ID 0)."""
        flags = seg.flags
        plen = seg.end - seg.off - seg.data_offset
        end_seq = (seg.seq + plen + (1 if flags & TCP_FIN else 0)) & MASK
        if tw.state == FIN_WAIT_2:
            if flags & TCP_RST:
                self._note(dev, frame, "tcp RST kills the FIN_WAIT_2 time-wait socket")
                tw._done()
                return
            if flags & TCP_SYN and not _before(seg.seq, tw.rcv_nxt):
                self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "SYN to a FIN_WAIT_2 socket")
                self.send_reset(ipv, seg, frame.pid, "SYN in FIN_WAIT_2")
                tw._done()
                return
            if not flags & TCP_ACK or not _after(end_seq, tw.rcv_nxt) or end_seq == seg.seq:
                self._note(dev, frame, "tcp duplicate ACK to a FIN_WAIT_2 time-wait socket: ignored")
                return
            if not flags & TCP_FIN or end_seq != ((tw.rcv_nxt + 1) & MASK):
                self.ns.count_drop("TCP_CLOSE", dev, frame, "data after close(): RST")
                self.send_reset(ipv, seg, frame.pid, "data after close()")
                tw._done()
                return
            tw.rcv_nxt = end_seq
            if tw.ts_ok:
                o = parse_options(seg)
                if "ts" in o:
                    tw.ts_recent = o["ts"][0]
            tw.state = TIME_WAIT
            self._note(dev, frame, f"tcp FIN in FIN_WAIT_2: {tw.name} TIME_WAIT "
                                   f"{TCP_TIMEWAIT_LEN // S} s; the time-wait socket ACKs (IP ID 0)")
            tw.send_ack("ACK of FIN from a time-wait socket")
            tw._arm_tw(TCP_TIMEWAIT_LEN)
            return
        # TIME_WAIT proper
        if flags & TCP_RST:
            self._note(dev, frame, "tcp RST kills the TIME_WAIT socket (rfc1337 = 0)")
            tw._done()
            return
        if flags & TCP_SYN and not flags & TCP_ACK and _after(seg.seq, tw.rcv_nxt):
            lsock = self.listeners.get(tw.local) or self.listeners.get((0, tw.local[1]))
            self._note(dev, frame, "tcp new SYN for a TIME_WAIT 4-tuple: time-wait socket recycled")
            tw._done()
            if lsock is not None:
                self._listen_rcv(lsock, dev, frame, ipv, seg)
            else:
                self.send_reset(ipv, seg, frame.pid, "no listener")
            return
        self._note(dev, frame, f"tcp segment to TIME_WAIT {tw.name}: ACK again, timer restarted")
        tw.send_ack("ACK from a TIME_WAIT socket")
        tw._arm_tw(TCP_TIMEWAIT_LEN)

    # the synchronised states
    def _established_rcv(self, sock, dev, frame, ipv, seg, handshake: bool = False) -> None:
        """``tcp_rcv_established`` / ``tcp_rcv_state_process`` for the synchronised states."""
        flags = seg.flags
        opts = parse_options(seg) if seg.data_offset > 20 else {}
        doff = seg.off + seg.data_offset
        plen = seg.end - doff
        seq = seg.seq
        st = sock.state
        # 1. sequence acceptability (RFC 9293 3.10.7.4, ``tcp_sequence``)
        rwnd = sock._receive_window()
        acceptable = _acceptable(seq, plen + (1 if flags & TCP_FIN else 0), sock.rcv_nxt, rwnd)
        if not acceptable:
            if flags & TCP_RST:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST out of window")
                return
            end = (seq + plen) & MASK
            if plen and not _after(end, sock.rcv_nxt) and sock.sack_ok:
                sock._dsack = (seq, end)
            self.ns.count_drop("TCP_OLD_DATA" if _before(seq, sock.rcv_nxt) else "TCP_INVALID_SEQUENCE",
                               dev, frame, f"seq {_dist(seq, sock.irs)} outside the window: duplicate ACK")
            sock._enter_quickack()
            sock.send_ack("duplicate ACK (segment outside the window)")
            return
        # 2. RST
        if flags & TCP_RST:
            if seq == sock.rcv_nxt:
                self._note(dev, frame, f"tcp RST: {sock.name} reset by peer")
                if st in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT):
                    self.estab_resets += 1
                    sock._fail(_errno.ECONNRESET if st != CLOSE_WAIT else _errno.EPIPE)
                else:
                    sock._done()
            else:
                self.ns.count_drop("TCP_RESET", dev, frame, "RST in window but not exact: challenge ACK")
                sock.send_ack("challenge ACK (RFC 5961)")
            return
        # 3. SYN in a synchronised state
        if flags & TCP_SYN:
            self.ns.count_drop("TCP_INVALID_SYN", dev, frame, "SYN on an established connection: challenge ACK")
            sock.send_ack("challenge ACK for SYN (RFC 5961)")
            return
        # 4. ACK
        if not flags & TCP_ACK:
            self.ns.count_drop("TCP_FLAGS", dev, frame, "segment without ACK")
            return
        if sock.ts_ok and "ts" in opts and not _after(seq, sock.rcv_wup):
            sock.ts_recent = opts["ts"][0]
        ack = seg.ack
        if _after(ack, sock.snd_max):
            self.ns.count_drop("TCP_ACK_UNSENT_DATA", dev, frame, "ACK for data never sent")
            sock.send_ack("ACK (their ACK is for data we never sent)")
            return
        win = seg.window << sock.snd_wscale
        texts = []
        if _after(ack, sock.snd_una):
            acked = _dist(ack, sock.snd_una)
            data_acked = acked
            if sock.fin_queued and _after(ack, sock.write_seq):
                data_acked -= 1
            # trim the send buffer
            limit = sock.write_seq if _after(ack, sock.write_seq) else ack
            free = _dist(limit, sock._buf_seq) if _after(limit, sock._buf_seq) else 0
            if free:
                del sock._sndbuf[:free]
                sock._buf_seq = (sock._buf_seq + free) & MASK
            sock._push = {p for p in sock._push if _after(p, sock._buf_seq)}
            sock.snd_una = ack
            if _before(sock.snd_nxt, ack):
                sock.snd_nxt = ack
            sock.dupacks = 0
            if sock._rtt_seq is not None and not _before(ack, sock._rtt_seq):
                sock._update_rtt(self.sim.now - sock._rtt_time)
                sock._rtt_seq = None
            sock.retransmits = 0
            sock.total_rto = 0
            if not handshake:
                segs = max(1, -(-max(data_acked, 1) // sock.mss_now))
                if sock.cwnd < sock.ssthresh:
                    sock.cwnd += segs
                else:
                    sock._cwnd_cnt = getattr(sock, "_cwnd_cnt", 0) + segs
                    if sock._cwnd_cnt >= sock.cwnd:
                        sock._cwnd_cnt = 0
                        sock.cwnd += 1
            if _before(sock.snd_una, sock.snd_max):
                sock._arm_rtx()
            else:
                sock._stop_rtx()
            if not handshake:
                texts.append(f"ACKs {acked} byte{'s' if acked != 1 else ''}")
        elif ack == sock.snd_una and not plen and not flags & TCP_FIN and win == sock.snd_wnd \
                and _before(sock.snd_una, sock.snd_max):
            sock.dupacks += 1
            texts.append(f"duplicate ACK #{sock.dupacks}")
            if sock.dupacks == 3:
                flight = _dist(sock.snd_max, sock.snd_una) // max(sock.mss_now, 1)
                sock.ssthresh = max(flight // 2, 2)
                sock.cwnd = sock.ssthresh
                texts.append("fast retransmit")
                self._retransmit_head(sock)
        # window update (``tcp_ack_update_window``)
        if _before(sock.snd_wl1, seq) or (sock.snd_wl1 == seq and not _before(ack, sock.snd_wl2)) \
                or handshake:
            sock.snd_wnd = win
            sock.snd_wl1, sock.snd_wl2 = seq, ack
            sock.max_window = max(sock.max_window, win)
        # state changes driven by the ACK of our FIN
        fin_acked = sock.fin_queued and _after(ack, sock.write_seq) and _after(sock.snd_max, sock.write_seq)
        if fin_acked and sock.state == FIN_WAIT_1:
            sock.state = FIN_WAIT_2
            sock._stop_rtx()
            if sock.orphan and not flags & TCP_FIN and not plen:
                tmo = int(sock.sysctl("net.ipv4.tcp_fin_timeout")) * S
                texts.append(f"our FIN ACKed: FIN_WAIT_2 (orphaned: a time-wait socket for "
                             f"{tmo // S} s)")
                self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
                sock._enter_timewait(FIN_WAIT_2, min(tmo, TCP_TIMEWAIT_LEN))
                return
            texts.append("our FIN ACKed: FIN_WAIT_2")
        elif fin_acked and sock.state == CLOSING:
            texts.append("our FIN ACKed: TIME_WAIT")
            self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
            sock._enter_timewait(TIME_WAIT, TCP_TIMEWAIT_LEN)
            return
        elif fin_acked and sock.state == LAST_ACK:
            texts.append("our FIN ACKed: CLOSED")
            self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
            sock._done()
            return
        # 5. data and FIN
        fin = bool(flags & TCP_FIN)
        if plen or fin:
            if sock.orphan and plen and _after((seq + plen) & MASK, sock.rcv_nxt):
                self.ns.count_drop("TCP_CLOSE", dev, frame, "data after close(): RST")
                self.send_reset(ipv, seg, frame.pid, "data after close()")
                sock._done()
                return
            payload = bytes(frame.data[doff:seg.end])
            self._data_queue(sock, dev, frame, seq, payload, fin, texts)
        else:
            if texts:
                self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
        # 6. send what the ACK allows, then ACK what arrived
        sock._write_xmit()
        if sock._ack_pending and sock.state not in (CLOSED,) and not sock.tw:
            self._ack_snd_check(sock)

    def _retransmit_head(self, sock) -> None:
        seq = sock.snd_una
        size = min(sock.mss_now, _dist(sock.write_seq, seq)) if not _before(sock.write_seq, seq) else 0
        off = _dist(seq, sock._buf_seq)
        payload = bytes(sock._sndbuf[off:off + size])
        flags = TCP_ACK | (TCP_PSH if size else 0)
        end = (seq + size) & MASK
        if sock.fin_queued and end == sock.write_seq and _after(sock.snd_max, sock.write_seq):
            flags |= TCP_FIN
        sock.retrans_segs += 1
        sock._rtt_seq = None
        sock._transmit(flags, seq, payload, "fast retransmit")

    def _data_queue(self, sock, dev, frame, seq, payload, fin, texts) -> None:
        """``tcp_data_queue``: in order → the receive queue; ahead → the out-of-order queue."""
        now = self.sim.now
        # trim what we already have
        if _before(seq, sock.rcv_nxt):
            cut = _dist(sock.rcv_nxt, seq)
            if cut > len(payload):
                if fin:
                    payload, seq = b"", sock.rcv_nxt
                else:
                    return
            else:
                payload = payload[cut:]
                seq = sock.rcv_nxt
        # receiving data: ato / quick-ACK bookkeeping (``tcp_event_data_recv``)
        if payload:
            if not sock.ato:
                sock._incr_quickack()
                sock.ato = TCP_ATO_MIN
            elif now - sock.lrcvtime > sock.rto:
                sock._incr_quickack()
            sock.lrcvtime = now
            ln = len(payload)
            if ln >= sock.rcv_mss:
                sock.rcv_mss = min(ln, sock._rcv_advmss())
        if seq != sock.rcv_nxt:
            # out of order: keep it and tell the sender at once
            sock._ofo[seq] = (payload, fin)
            texts.append(f"out of order ({_dist(seq, sock.rcv_nxt)} bytes ahead): queued, "
                         f"duplicate ACK with SACK")
            self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
            sock._enter_quickack()
            sock.send_ack("duplicate ACK (out-of-order data)")
            return
        if payload:
            sock.rx_frame = (dev, frame)
        got_fin = self._accept_in_order(sock, payload, fin)
        while sock._ofo and sock.rcv_nxt in sock._ofo and not got_fin:
            data, f = sock._ofo.pop(sock.rcv_nxt)
            got_fin = self._accept_in_order(sock, data, f)
        # drop out-of-order blocks now covered
        for s in [s for s in sock._ofo if not _after((s + len(sock._ofo[s][0])) & MASK, sock.rcv_nxt)]:
            del sock._ofo[s]
        if payload:
            texts.append(f"{len(payload)} bytes in order → receive queue")
            if len(payload) >= SKB_OVERHEAD:
                self._grow_window(sock, len(payload))
        if got_fin:
            texts.append(self._fin(sock))
        self._note(dev, frame, f"tcp {sock.name}: " + "; ".join(texts))
        sock._ack_pending = True
        sock._wake()

    def _accept_in_order(self, sock, payload: bytes, fin: bool) -> bool:
        if payload:
            sock._rxq += payload
            sock.bytes_received += len(payload)
            sock.rcv_nxt = (sock.rcv_nxt + len(payload)) & MASK
        if fin:
            sock.rcv_nxt = (sock.rcv_nxt + 1) & MASK
            return True
        return False

    def _grow_window(self, sock, length: int) -> None:
        """``tcp_grow_window``: a full-sized segment earns 2 x MSS more window."""
        clamp = min(_tuple(self.sysctl("net.ipv4.tcp_rmem"), 3)[2] // 2, 0xFFFF << sock.rcv_wscale)
        room = clamp - sock.rcv_ssthresh
        if room <= 0:
            return
        incr = max(2 * sock._rcv_advmss(), 2 * length)
        sock.rcv_ssthresh += min(room, incr)
        sock._grew = True

    def _fin(self, sock) -> str:
        """``tcp_fin``: the peer has finished sending."""
        sock._eof = True
        st = sock.state
        if st == ESTABLISHED:
            sock.state = CLOSE_WAIT
            sock.pingpong = max(sock.pingpong, sock.sysctl("net.ipv4.tcp_pingpong_thresh"))
            return "FIN: CLOSE_WAIT (ACK delayed: ping-pong mode; the process is told EOF)"
        if st == FIN_WAIT_1:
            sock.state = CLOSING
            sock.send_ack("ACK of FIN (simultaneous close)")
            return "FIN: CLOSING"
        if st == FIN_WAIT_2:
            sock.send_ack("ACK of FIN")
            sock._enter_timewait(TIME_WAIT, TCP_TIMEWAIT_LEN)
            return f"FIN: ACK, TIME_WAIT {TCP_TIMEWAIT_LEN // S} s"
        return f"FIN again in {st}"

    def _ack_snd_check(self, sock) -> None:
        """``__tcp_ack_snd_check``: now, or on the delayed-ACK timer."""
        unacked = _dist(sock.rcv_nxt, sock.rcv_wup)
        if unacked > sock.rcv_mss or sock._in_quickack() or sock._ofo:
            why = "quick ACK" if sock._in_quickack() else (
                "more than one full segment" if unacked > sock.rcv_mss else "out-of-order data")
            sock.send_ack(f"ACK ({why})")
        else:
            sock._schedule_delack()

    # -- ICMP -----------------------------------------------------------------------
    def err(self, src, sport, dst, dport, origin, type_, code) -> bool:
        """``tcp_v4_err``: an ICMP error about a segment we sent from ``sport``."""
        key = (int.from_bytes(src, "big"), sport, int.from_bytes(dst, "big"), dport)
        sock = self.conns.get(key)
        if sock is None or sock.tw:
            return False
        if type_ == 3 and code == 4:
            return True  # fragmentation needed: path-MTU discovery is not modelled
        conv = {0: _errno.ENETUNREACH, 1: _errno.EHOSTUNREACH, 2: _errno.ENOPROTOOPT,
                3: _errno.ECONNREFUSED, 5: _errno.EOPNOTSUPP, 6: _errno.ENETUNREACH,
                7: _errno.EHOSTDOWN, 9: _errno.ENETUNREACH, 10: _errno.EHOSTUNREACH,
                11: _errno.ENETUNREACH, 12: _errno.EHOSTUNREACH, 13: _errno.EHOSTUNREACH}
        err = conv.get(code, _errno.EHOSTUNREACH) if type_ == 3 else _errno.EHOSTUNREACH
        if sock.state in (SYN_SENT, SYN_RECV):
            if sock.state == SYN_SENT:
                self.attempt_fails += 1
                sock._fail(err)
            else:
                sock._done()
        else:
            sock.soft_error = err
        return True


def _in_window(seq: int, start: int, size: int) -> bool:
    return not _before(seq, start) and _before(seq, (start + max(size, 1)) & MASK)


def _acceptable(seq: int, seglen: int, rcv_nxt: int, rwnd: int) -> bool:
    """RFC 9293's four cases, with Linux's leniency for data that ends in the window."""
    if seglen == 0:
        if rwnd == 0:
            return seq == rcv_nxt
        return _in_window(seq, rcv_nxt, rwnd) or seq == rcv_nxt
    if rwnd == 0:
        return False
    end = (seq + seglen - 1) & MASK
    return _in_window(seq, rcv_nxt, rwnd) or _in_window(end, rcv_nxt, rwnd) or \
        (_before(seq, rcv_nxt) and _after(end, rcv_nxt))


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


TcpSocket._update_rtt = _update_rtt

__all__ = ["Tcp", "TcpSocket", "parse_options", "syn_options", "CLOSED", "LISTEN", "SYN_SENT",
           "SYN_RECV", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
           "LAST_ACK", "TIME_WAIT", "TCP_TIMEWAIT_LEN"]
