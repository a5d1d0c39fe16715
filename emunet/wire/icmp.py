"""ICMP header view (RFC 792)."""
import struct

from emunet.wire.checksum import internet_checksum, ones_sum
from emunet.wire.errors import Malformed

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
# codes of ICMP_DEST_UNREACH
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4
_ICMP = struct.Struct("!BBHHH")
_ICMP_EMIT = struct.Struct("!BBHI")


class IcmpView:
    """A view of an ICMP message from ``off`` to ``end`` (the IP payload), its header read
    with one ``struct`` call when the view is made (``ident`` and ``seq`` are bytes 4-8,
    an echo's identifier and sequence number)."""

    __slots__ = ("buf", "off", "end", "type", "code", "checksum", "ident", "seq")

    def __init__(self, buf, off: int, end: int = None):
        self.buf = buf
        self.off = off
        self.end = len(buf) if end is None else end
        self.type, self.code, self.checksum, self.ident, self.seq = _ICMP.unpack_from(buf, off)

    @classmethod
    def check(cls, buf, off: int, end: int = None, verify: bool = True) -> "IcmpView":
        """The length, and the checksum unless ``verify`` is false."""
        end = len(buf) if end is None else end
        if end - off < 8:
            raise Malformed("PKT_TOO_SMALL", f"ICMP message of {end - off} bytes")
        if verify and ones_sum(buf[off:end]) != 0xFFFF:
            raise Malformed("ICMP_CSUM", "bad ICMP checksum")
        return cls(buf, off, end)

    @property
    def rest(self) -> int:
        """Bytes 4..8 as one number (next-hop MTU lives in the low 16 bits)."""
        return struct.unpack_from("!I", self.buf, self.off + 4)[0]

    @property
    def data(self) -> bytes:
        return bytes(self.buf[self.off + 8:self.end])

    @staticmethod
    def emit(type_: int, code: int, rest: int, data: bytes) -> bytes:
        # the header's words summed as integers, then the data: one pass, one copy
        csum = internet_checksum(data, (type_ << 8 | code) + (rest >> 16) + (rest & 0xFFFF))
        return _ICMP_EMIT.pack(type_, code, csum, rest) + data

    @staticmethod
    def emit_echo(type_: int, ident: int, seq: int, data: bytes) -> bytes:
        return IcmpView.emit(type_, 0, (ident << 16) | seq, data)
