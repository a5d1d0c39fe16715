"""TCP header view (RFC 9293), options and the pseudo-header checksum."""
import struct

from emunet.wire.checksum import ones_sum, pseudo_header_sum
from emunet.wire.errors import Malformed
from emunet.wire.ipv4 import IPPROTO_TCP

TCP_HLEN = 20
TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_URG = 0x20
TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WINDOW = 3
TCPOPT_SACK_PERM = 4
TCPOPT_SACK = 5
TCPOPT_TIMESTAMP = 8
_TCP = struct.Struct("!HHIIBBHHH")


class TcpView:
    __slots__ = ("buf", "off", "end")

    def __init__(self, buf, off: int, end: int = None):
        self.buf = buf
        self.off = off
        self.end = len(buf) if end is None else end

    @classmethod
    def check(cls, buf, off: int, end: int = None, src: bytes = None, dst: bytes = None,
              verify: bool = True) -> "TcpView":
        """Length and data offset, and the checksum unless ``verify`` is false, over the
        pseudo-header of ``src`` and ``dst`` (4 bytes or integers)."""
        end = len(buf) if end is None else end
        if end - off < TCP_HLEN:
            raise Malformed("PKT_TOO_SMALL", f"TCP segment of {end - off} bytes")
        doff = (buf[off + 12] >> 4) * 4
        if doff < TCP_HLEN or doff > end - off:
            raise Malformed("TCP_OFFSET", f"data offset {doff} in a {end - off}-byte segment")
        if verify:
            if src is None or dst is None:
                raise ValueError("a TCP checksum covers the pseudo-header: give src and dst, "
                                 "or verify=False")
            if ones_sum(buf[off:end], pseudo_header_sum(src, dst, IPPROTO_TCP, end - off)) != 0xFFFF:
                raise Malformed("TCP_CSUM", "bad TCP checksum")
        return cls(buf, off, end)

    @property
    def sport(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off)[0]

    @property
    def dport(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 2)[0]

    @property
    def seq(self) -> int:
        return struct.unpack_from("!I", self.buf, self.off + 4)[0]

    @property
    def ack(self) -> int:
        return struct.unpack_from("!I", self.buf, self.off + 8)[0]

    @property
    def data_offset(self) -> int:
        return (self.buf[self.off + 12] >> 4) * 4

    @property
    def flags(self) -> int:
        return self.buf[self.off + 13]

    @property
    def window(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 14)[0]

    @property
    def checksum(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 16)[0]

    @property
    def urgent(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 18)[0]

    def options(self) -> list:
        """``[(kind, value_bytes), ...]`` in order; NOPs included as ``(1, b"")``."""
        out, i, end = [], self.off + TCP_HLEN, self.off + self.data_offset
        while i < end:
            kind = self.buf[i]
            if kind == TCPOPT_EOL:
                break
            if kind == TCPOPT_NOP:
                out.append((kind, b""))
                i += 1
                continue
            if i + 1 >= end or self.buf[i + 1] < 2 or i + self.buf[i + 1] > end:
                raise Malformed("TCP_OFLOW", f"TCP option {kind} overruns the header")
            length = self.buf[i + 1]
            out.append((kind, bytes(self.buf[i + 2:i + length])))
            i += length
        return out

    def payload(self) -> bytes:
        return bytes(self.buf[self.off + self.data_offset:self.end])

    @staticmethod
    def emit(sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
             options: bytes, payload: bytes, src: bytes, dst: bytes, urgent: int = 0) -> bytes:
        if len(options) % 4:
            raise ValueError("TCP options must be padded to a multiple of 4 bytes")
        doff = (TCP_HLEN + len(options)) // 4
        seg = bytearray(_TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                  doff << 4, flags, window, 0, urgent) + options + payload)
        csum = ~ones_sum(seg, pseudo_header_sum(src, dst, IPPROTO_TCP, len(seg))) & 0xFFFF
        struct.pack_into("!H", seg, 16, csum)
        return bytes(seg)
