"""ICMP as the kernel answers it (``net/ipv4/icmp.c``).

* Echo requests are answered with the request's identifier, sequence and
  data, TOS copied, TTL 64, DF clear and a fresh IP ID (``icmp_reply``).
* Errors (destination unreachable, time exceeded, fragmentation needed) quote
  the offending datagram up to 576 bytes in all, go out with TOS 0xc0
  (``IPTOS_PREC_INTERNETCONTROL``), never answer another error, a broadcast,
  or a non-first fragment, and are rate-limited per destination with a token
  bucket (``inet_peer_xrlim_allow``: 1 s per token, burst 6), as
  ``icmp_ratemask`` asks for unreachables and time exceeded; fragmentation needed
  never is (``icmpv4_mask_allow``: path-MTU discovery must not stall).
"""
import struct

from emunet.sim import S
from emunet.stack.ipv4 import IP_PMTUDISC_DONT
from emunet.wire.errors import Malformed
from emunet.wire.frame import CSUM_L4
from emunet.wire.icmp import (ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TIME_EXCEEDED,
                              IcmpView)
from emunet.wire.ipv4 import IPPROTO_ICMP, IP_OFFMASK, Ipv4View, int_to_ip

ICMP_ERROR_TYPES = (3, 4, 5, 11, 12)
# 576 (the minimum reassembly size) minus the new IP and ICMP headers
MAX_QUOTE = 576 - 20 - 8
#: icmp_ratemask 6168: dest unreachable, source quench, time exceeded, parameter problem
RATELIMITED = (3, 4, 11, 12)
RATE_TOKEN_NS = 1 * S  # icmp_ratelimit = 1000 ms
RATE_BURST = 6         # XRLIM_BURST_FACTOR
IP_RT_ERROR_BURST = 5 * S   # ip_rt_error_burst (ip_rt_error_cost is 1 s, as above)


class Icmp:
    """The ICMP layer of one namespace."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.sockets = {}  # echo identifier -> ping socket
        self._peers = {}   # destination -> [tokens, last refill time]
        self.echo_ignore_broadcasts = True
        self.in_msgs = 0
        self.out_msgs = 0
        ns.ipv4.inet_add_protocol(IPPROTO_ICMP, self.rcv)

    def rcv(self, dev, frame, ipv: Ipv4View, broadcast: bool) -> None:
        """``icmp_rcv``."""
        buf = frame.data
        try:
            # the checksum of a message the sending stack built is right (Frame.csum_level)
            icmp = IcmpView.check(buf, ipv.payload_offset, ipv.end, verify=frame.csum_level < CSUM_L4)
        except Malformed as e:
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        self.in_msgs += 1
        t = icmp.type
        if t == ICMP_ECHO:
            if broadcast and self.echo_ignore_broadcasts:
                self.ns.count_drop("INVALID_PROTO", dev, frame, "echo to broadcast ignored")
                return
            self._echo_reply(frame, ipv, icmp)
            return
        if t == ICMP_ECHOREPLY:
            sock = self.sockets.get(icmp.ident)
            if sock is None:
                self.ns.count_drop("NO_SOCKET", dev, frame, f"no ping socket with id {icmp.ident}")
                return
            if self.sim.observers:
                self.ns.note(dev, frame, f"echo reply → ping socket id {icmp.ident}")
            sock.on_echo_reply(frame, ipv, icmp)
            return
        if t in ICMP_ERROR_TYPES:
            self._error_rcv(dev, frame, ipv, icmp)
            return
        self.ns.note(dev, frame, f"ICMP type {t} ignored")

    def _echo_reply(self, frame, ipv, icmp) -> None:
        data = bytes(frame.data[icmp.off + 8:icmp.end])
        msg = IcmpView.emit_echo(ICMP_ECHOREPLY, icmp.ident, icmp.seq, data)
        note = None
        if self.sim.observers:
            self.ns.note(None, frame, f"ICMP echo request id {icmp.ident} seq {icmp.seq} → echo reply")
            note = f"icmp echo reply to {int_to_ip(ipv.saddr)}"
        # icmp_reply: the ICMP socket's IP_PMTUDISC_DONT: DF clear, fragmented if need be
        self.ns.ipv4.ip_send(ipv.dst, ipv.src, IPPROTO_ICMP, msg, self.sim.new_pid(), tos=ipv.tos,
                             pmtudisc=IP_PMTUDISC_DONT, note=note)

    def _error_rcv(self, dev, frame, ipv, icmp) -> None:
        """Hand an ICMP error to the socket whose packet it quotes (``icmp_unreach``)."""
        quoted = icmp.data
        if len(quoted) < 28:
            self.ns.count_drop("PKT_TOO_SMALL", dev, frame, "ICMP error quotes fewer than 28 bytes")
            return
        qproto = quoted[9]
        qihl = (quoted[0] & 0x0F) * 4
        origin = int_to_ip(ipv.saddr)
        # icmp_unreach's info: the next-hop MTU of a fragmentation needed (its low 16 bits)
        info = 0
        if icmp.type == 3 and icmp.code == 4:
            info = icmp.seq
            qdst = int.from_bytes(quoted[16:20], "big")
            # the sending socket's err handler lowers the path MTU (ipv4_sk_update_pmtu)
            if self.ns.is_local_address(int.from_bytes(quoted[12:16], "big")) and \
                    self.ns.fib.update_pmtu(qdst, info):
                self.ns.note(dev, frame, f"path MTU to {int_to_ip(qdst)} is now "
                                         f"{self.ns.fib.exceptions[qdst].mtu}, for 600 s")
        if qproto == IPPROTO_ICMP and len(quoted) >= qihl + 8:
            ident = struct.unpack_from("!H", quoted, qihl + 4)[0]
            sock = self.sockets.get(ident)
            if sock is not None:
                self.ns.note(dev, frame, f"ICMP error type {icmp.type} code {icmp.code} → ping socket id {ident}")
                sock.on_icmp_error(origin, icmp.type, icmp.code, quoted, info)
                return
        elif qproto in (6, 17) and len(quoted) >= qihl + 4:
            sport, dport = struct.unpack_from("!HH", quoted, qihl)
            layer = self.ns.udp if qproto == 17 else self.ns.tcp
            # the error's own TTL goes along (IP_RECVTTL: tracepath counts the hops back)
            if layer.err(quoted[12:16], sport, quoted[16:20], dport, origin, icmp.type, icmp.code, info,
                         ipv.ttl):
                self.ns.note(dev, frame, f"ICMP error type {icmp.type} code {icmp.code} → socket :{sport}")
                return
        self.ns.note(dev, frame, f"ICMP error type {icmp.type} code {icmp.code}: no socket to tell")

    # -- errors we send -----------------------------------------------------
    def _take(self, dst: bytes, burst: int) -> bool:
        """One token (1 s) from ``dst``'s bucket (``inet_peer``'s ``rate_tokens``), holding
        at most ``burst``; a peer met for the first time has waited long enough to be full
        (``rate_last`` = now − 60 s)."""
        now = self.sim.now
        tokens, last = self._peers.get(dst, (0, now - 60 * S))
        tokens = min(burst, tokens + now - last)
        if tokens < RATE_TOKEN_NS:
            self._peers[dst] = (tokens, now)
            return False
        self._peers[dst] = (tokens - RATE_TOKEN_NS, now)
        return True

    def _allow(self, dst: bytes) -> bool:
        """``icmpv4_xrlim_allow`` → ``inet_peer_xrlim_allow``: burst 6 s."""
        return self._take(dst, RATE_BURST * RATE_TOKEN_NS)

    def ip_error(self, packet: bytes, code: int, pid: int) -> bool:
        """``ip_error``: a packet the forward path could not route is answered with
        destination unreachable ``code``, after a token of its own from the same per-peer
        bucket (``ip_rt_error_cost`` 1 s, ``ip_rt_error_burst`` 5 s) and before
        ``icmp_send`` takes another: a peer gets two such errors in a burst."""
        src = packet[12:16]
        if not self._take(src, IP_RT_ERROR_BURST):
            self.ns.count_drop("ICMP_RATELIMIT", None, None,
                               f"ip_error: unreachable to {int_to_ip(int.from_bytes(src, 'big'))}")
            return False
        return self.send_error(packet, 3, code, 0, pid)

    def send_error(self, packet: bytes, type_: int, code: int, rest: int, pid: int) -> bool:
        """``icmp_send``: answer the IP ``packet`` with an error; False if the rules forbid it.

        The error is a new packet (a new pid); ``pid`` is the one it answers, named in its note."""
        if len(packet) < 20:
            return False
        src = packet[12:16]
        dst_int = int.from_bytes(packet[16:20], "big")
        frag = struct.unpack_from("!H", packet, 6)[0]
        if frag & IP_OFFMASK:
            return False  # only the first fragment is answered
        if self.ns.fib.is_broadcast_or_multicast(dst_int) or src[0] >= 224 or src == b"\0\0\0\0":
            return False
        if packet[9] == IPPROTO_ICMP:
            ihl = (packet[0] & 0x0F) * 4
            if len(packet) > ihl and packet[ihl] not in (ICMP_ECHO, ICMP_ECHOREPLY, 13, 14, 15, 16, 17, 18):
                return False  # never an error about an error
        # icmpv4_mask_allow: fragmentation needed is never limited ("Don't limit PMTU discovery")
        if type_ in RATELIMITED and (type_, code) != (3, 4) \
                and not self.ns.is_local_address(int.from_bytes(src, "big")) and not self._allow(src):
            self.ns.count_drop("ICMP_RATELIMIT", None, None, f"ICMP to {int_to_ip(int.from_bytes(src, 'big'))}")
            return False
        # source: the address the error was sent to when that is ours, else the route's
        if self.ns.is_local_address(dst_int):
            saddr = packet[16:20]
        else:
            saddr = None
        total = struct.unpack_from("!H", packet, 2)[0]
        quote = packet[:min(total, len(packet), MAX_QUOTE)]
        msg = IcmpView.emit(type_, code, rest, quote)
        self.out_msgs += 1
        names = {(3, 0): "net unreachable", (3, 1): "host unreachable", (3, 3): "port unreachable",
                 (3, 4): "fragmentation needed", (11, 0): "TTL exceeded in transit",
                 (3, 2): "protocol unreachable"}
        what = names.get((type_, code), f"type {type_} code {code}")
        return self.ns.ipv4.ip_send(saddr, src, IPPROTO_ICMP, msg, self.sim.new_pid(), tos=0xC0,
                                    pmtudisc=IP_PMTUDISC_DONT,
                                    note=f"icmp {what} to {int_to_ip(int.from_bytes(src, 'big'))} "
                                    f"(about packet #{pid})") == 0


__all__ = ["Icmp", "ICMP_DEST_UNREACH", "ICMP_TIME_EXCEEDED"]
