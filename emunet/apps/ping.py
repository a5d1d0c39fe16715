"""``ping`` as iputils prints it, over a ping socket in the model's stack."""
import errno
import math
import os
import struct

from emunet.apps.base import Process
from emunet.sim import MS, S, US
from emunet.stack.ipv4 import IP_PMTUDISC_DO, IP_PMTUDISC_DONT, IP_PMTUDISC_WANT
from emunet.wire.icmp import ICMP_ECHO, IcmpView
from emunet.wire.ipv4 import IPPROTO_ICMP, int_to_ip, ip_to_int

#: the send time at the start of an echo's data, as iputils writes it (little-endian here)
_TIMEVAL = struct.Struct("<qq")

UNREACH_TEXT = {
    (3, 0): "Destination Net Unreachable",
    (3, 1): "Destination Host Unreachable",
    (3, 2): "Destination Protocol Unreachable",
    (3, 3): "Destination Port Unreachable",
    (3, 4): "Frag needed and DF set",
    (3, 13): "Packet filtered",
    (11, 0): "Time to live exceeded",
}


def _ms(us: int) -> str:
    """iputils' way of printing a time in microseconds as milliseconds."""
    if us >= 100_000:
        return f"{us // 1000}"
    if us >= 10_000:
        return f"{us // 1000}.{(us % 1000) // 100:01d}"
    if us >= 1_000:
        return f"{us // 1000}.{(us % 1000) // 10:02d}"
    return f"{us // 1000}.{us % 1000:03d}"


#: ``ping -M``'s hints (``IP_MTU_DISCOVER``)
PMTUDISC = {"do": IP_PMTUDISC_DO, "dont": IP_PMTUDISC_DONT, "want": IP_PMTUDISC_WANT}


class Ping(Process):
    """``ping -c COUNT -i INTERVAL -s SIZE -W LINGER [-M do|dont|want] DST``.

    Each echo request carries 56 data bytes by default: the send time as a
    ``struct timeval`` (16 bytes, little-endian, from the virtual clock) and
    then the bytes 0x10, 0x11, ... as iputils fills them.  TTL 64.  The RTT is
    measured on the virtual clock from the timestamp in the reply, as iputils
    measures it.

    DF follows ``-M`` (``pmtudisc``): without it the socket's default, *want*: DF set
    when the request fits the path MTU, and the request fragmented, DF clear, when it
    does not; *dont*: never DF; *do*: always DF, and a request longer than the path MTU
    this host knows is refused before it leaves ("ping: local error: message too long,
    mtu=1450", counted as an error).
    """

    name = "ping"

    def __init__(self, dst: str, count: int = 1, interval: float = 1.0, size: int = 56,
                 linger: float = 10.0, ttl: int = None, tos: int = 0, pmtudisc: str = "want"):
        super().__init__()
        self.dst = dst
        self.dst_int = ip_to_int(dst)
        self._dst_text = int_to_ip(self.dst_int)   # how a reply from dst names its source
        self.count = count
        self.interval_ns = round(interval * S)
        self.size = size
        self.linger_ns = round(linger * S)
        self.ttl = ttl
        self.tos = tos
        if pmtudisc not in PMTUDISC:
            raise ValueError(f'ping: invalid -M argument: {pmtudisc!r} (do, dont or want)')
        self.pmtudisc = pmtudisc
        self.ident = 0
        self.transmitted = 0
        self.received = 0
        self.errors = 0
        self.rtts_us = []
        self.replied = set()
        #: the most echoes outstanding when one was answered (iputils' ``pipesize``)
        self.pipe = 0
        self.pids = []
        self._start_ns = 0
        self._last_send_ns = 0
        self._deadline = None
        self._fill = None
        self._fill_tail = b""

    def start(self) -> None:
        self.ident = self.sim.rng.getrandbits(16)
        while self.ident in self.ns.icmp.sockets:
            self.ident = self.sim.rng.getrandbits(16)
        self.ns.icmp.sockets[self.ident] = self
        self.print(f"PING {self.dst} ({self.dst}) {self.size}({self.size + 28}) bytes of data.")
        self._start_ns = self.sim.now
        self._send()

    def _payload(self) -> bytes:
        fill = self._fill
        if fill is None or len(fill) != self.size:
            fill = self._fill = bytes(i & 0xFF for i in range(self.size))   # the same every time
            self._fill_tail = fill[16:]
        if self.size < 16:
            return fill
        wall_us = self.sim.wall_ns // 1000
        return _TIMEVAL.pack(wall_us // 1_000_000, wall_us % 1_000_000) + self._fill_tail

    def _send(self) -> None:
        if not self.running:
            return
        self.transmitted += 1
        seq = self.transmitted
        msg = IcmpView.emit_echo(ICMP_ECHO, self.ident, seq, self._payload())
        pid = self.sim.new_pid()
        self.pids.append(pid)
        self._last_send_ns = self.sim.now
        err = self.ns.ipv4.ip_send(None, self.dst_int.to_bytes(4, "big"), IPPROTO_ICMP, msg, pid,
                                   ttl=self.ttl, tos=self.tos, pmtudisc=PMTUDISC[self.pmtudisc],
                                   note=f"ping: echo request id {self.ident} seq {seq}"
                                   if self.sim.observers else None)
        if err == errno.EMSGSIZE:
            # ip_local_error: read back from the error queue (receive_error_msg)
            self.errors += 1
            self.replied.add(seq)
            self.eprint(f"ping: local error: message too long, mtu={self.ns.ipv4.emsgsize_mtu}")
        elif err:
            self.eprint(f"ping: connect: {os.strerror(err)}")
            self.exit(2)
            return
        if self.transmitted < self.count:
            self.sim.after(self.interval_ns, self._send)
        else:
            self._deadline = self.sim.after(self.linger_ns, self._finish)
            self._maybe_done()

    def on_echo_reply(self, frame, ipv, icmp) -> None:
        if not self.running:
            return
        rtt_us = 0
        if icmp.end - icmp.off - 8 >= 16:
            # the struct timeval the request carried, read in place
            sec, usec = _TIMEVAL.unpack_from(icmp.buf, icmp.off + 8)
            rtt_us = self.sim.wall_ns // 1000 - (sec * 1_000_000 + usec)
        seq = icmp.seq
        diff = self.transmitted - seq     # iputils' acknowledge(), inline: once per reply
        if self.pipe <= diff < 0x8000:
            self.pipe = diff + 1
        dup = seq in self.replied
        self.replied.add(seq)
        if not dup:
            self.received += 1
            self.rtts_us.append(rtt_us)
        src = self._dst_text if ipv.saddr == self.dst_int else int_to_ip(ipv.saddr)
        self.print(f"{icmp.end - icmp.off} bytes from {src}: icmp_seq={seq} ttl={ipv.ttl} "
                   f"time={_ms(rtt_us)} ms{' (DUP!)' if dup else ''}")
        self._maybe_done()

    def on_icmp_error(self, origin: str, type_: int, code: int, quoted: bytes, info: int = 0) -> None:
        if not self.running:
            return
        ihl = (quoted[0] & 0x0F) * 4
        seq = struct.unpack_from("!H", quoted, ihl + 6)[0]
        self._acknowledge(seq)
        self.errors += 1
        self.replied.add(seq)
        text = UNREACH_TEXT.get((type_, code), f"Dest Unreachable, Bad Code: {code}")
        if (type_, code) == (3, 4):
            text += f" (mtu = {info})"
        self.print(f"From {origin} icmp_seq={seq} {text}")
        self._maybe_done()

    def _acknowledge(self, seq: int) -> None:
        """iputils' ``acknowledge``: how many echoes were out when ``seq`` was answered."""
        diff = self.transmitted - seq
        if 0 <= diff < 0x8000:
            self.pipe = max(self.pipe, diff + 1)

    def _maybe_done(self) -> None:
        if self.transmitted >= self.count and len(self.replied) >= self.count:
            if self._deadline is not None:
                self._deadline.cancel()
            self._finish()

    def _finish(self) -> None:
        if not self.running:
            return
        del self.ns.icmp.sockets[self.ident]
        elapsed_ms = (self._last_send_ns - self._start_ns) // MS
        loss = 0 if not self.transmitted else round(100 * (self.transmitted - self.received) / self.transmitted)
        self.print("")
        self.print(f"--- {self.dst} ping statistics ---")
        errors = f", +{self.errors} errors" if self.errors else ""
        self.print(f"{self.transmitted} packets transmitted, {self.received} received{errors}, "
                   f"{loss}% packet loss, time {elapsed_ms}ms")
        # one last line, empty when there is nothing to say: the RTTs, the pipe
        tail = []
        if self.rtts_us:
            n = len(self.rtts_us)
            avg = sum(self.rtts_us) / n
            mdev = math.sqrt(max(0.0, sum(r * r for r in self.rtts_us) / n - avg * avg))
            tail.append(f"rtt min/avg/max/mdev = {_ms3(min(self.rtts_us))}/{_ms3(int(avg))}/"
                        f"{_ms3(max(self.rtts_us))}/{_ms3(int(mdev))} ms")
        if self.pipe > 1:
            tail.append(f"pipe {self.pipe}")
        self.print(", ".join(tail))
        self.exit(0 if self.received else 1)


def _ms3(us: int) -> str:
    return f"{us // 1000}.{us % 1000:03d}"


__all__ = ["Ping", "US"]
