"""TCP (``net/ipv4/tcp*.c``): small, callback-driven, and byte-for-byte Linux on the wire.

What it models (the kernel's own captures in ``tests/kernel/reference/`` are the ground
truth ``tests/stack/test_tcp.py`` holds it to):

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
* **Rate limits.**  A segment outside the window gets a duplicate ACK; a SYN or SYN+FIN
  on a synchronised connection, a RST in the window but not exact and an ACK of data
  never sent a challenge ACK (RFC 5961); a time-wait socket ACKs what falls outside its
  window, a request socket repeats its SYN-ACK for a retransmitted SYN.  Each socket
  sends such an answer at most once per ``tcp_invalid_ratelimit`` (500 ms, counted in
  jiffies at HZ 250; segments carrying data or a FIN are always answered), the namespace
  at most ``tcp_challenge_ack_limit`` challenge ACKs a second (``INT_MAX``: off, the 6.x
  default); what is held back is counted in ``Tcp.stats`` under the ``TcpExt:`` names
  (``TCPACKSkippedSeq``, ``TCPACKSkippedChallenge``, ``TCPACKSkippedTimeWait``,
  ``TCPACKSkippedFinWait2``, ``TCPACKSkippedSynRecv``; ``TCPChallengeACK``,
  ``TCPSYNChallenge``), as ``tests/kernel/test_kernel_tcp_ratelimit.py`` checks against
  the kernel.

Left out: SACK-based loss recovery (SACK blocks are sent, and read only as duplicate
ACKs), CUBIC (Reno growth instead), PAWS, zero-window probes, urgent data, keepalive,
TCP Fast Open, ECN, MD5, syncookies, path-MTU discovery, receive-buffer autotuning.

The package follows the kernel's files: :mod:`.seq` sequence arithmetic, :mod:`.options`
the options, :mod:`.socket` the socket and its calls (``tcp.c``), :mod:`.input` what a
socket does with a segment (``tcp_input.c``), :mod:`.minisocks` request and time-wait
sockets (``tcp_minisocks.c``), :mod:`.output` what it sends (``tcp_output.c``),
:mod:`.timer` its timers (``tcp_timer.c``), and :mod:`.ipv4` the layer object with the
port tables and the demultiplexer (``tcp_ipv4.c``).
"""
from emunet.stack.tcp.constants import (APP_WAKEUP_NS, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED,
                                        FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, LISTEN, SYN_RECV,
                                        SYN_SENT, TCP_TIMEWAIT_LEN, TIME_WAIT)
from emunet.stack.tcp.ipv4 import Tcp
from emunet.stack.tcp.options import parse_options, syn_options
from emunet.stack.tcp.socket import TcpSocket

__all__ = ["Tcp", "TcpSocket", "parse_options", "syn_options", "CLOSED", "LISTEN", "SYN_SENT",
           "SYN_RECV", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
           "LAST_ACK", "TIME_WAIT", "TCP_TIMEWAIT_LEN", "APP_WAKEUP_NS"]
