"""ARP for IPv4 over Ethernet (RFC 826), the 28-byte body after the Ethernet header."""
import struct

from emunet.wire.errors import Malformed

ARP_LEN = 28
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
_ARP = struct.Struct("!HHBBH6s4s6s4s")


class ArpView:
    __slots__ = ("buf", "off")

    def __init__(self, buf, off: int = 14):
        self.buf = buf
        self.off = off

    @classmethod
    def check(cls, buf, off: int = 14) -> "ArpView":
        """Accept only Ethernet/IPv4 ARP, as ``arp_rcv`` does for an Ethernet device."""
        if len(buf) - off < ARP_LEN:
            raise Malformed("PKT_TOO_SMALL", f"ARP body of {len(buf) - off} bytes, needs 28")
        hrd, pro, hln, pln, op = struct.unpack_from("!HHBBH", buf, off)
        if hrd != ARPHRD_ETHER or pro != 0x0800 or hln != 6 or pln != 4:
            raise Malformed("INVALID_PROTO", f"ARP hrd={hrd} pro={pro:#x} hln={hln} pln={pln}")
        if op not in (ARPOP_REQUEST, ARPOP_REPLY):
            raise Malformed("INVALID_PROTO", f"ARP opcode {op}")
        return cls(buf, off)

    def _f(self):
        return _ARP.unpack_from(self.buf, self.off)

    @property
    def op(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 6)[0]

    @property
    def sha(self) -> bytes:
        return bytes(self.buf[self.off + 8:self.off + 14])

    @property
    def spa(self) -> bytes:
        return bytes(self.buf[self.off + 14:self.off + 18])

    @property
    def tha(self) -> bytes:
        return bytes(self.buf[self.off + 18:self.off + 24])

    @property
    def tpa(self) -> bytes:
        return bytes(self.buf[self.off + 24:self.off + 28])

    @staticmethod
    def emit(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> bytes:
        return _ARP.pack(ARPHRD_ETHER, 0x0800, 6, 4, op, sha, spa, tha, tpa)
