"""IPv4 header view (RFC 791) with its header checksum."""
import functools
import socket
import struct

from emunet.wire.checksum import internet_checksum, ones_sum
from emunet.wire.errors import Malformed

IPV4_HLEN = 20
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
_IP = struct.Struct("!BBHHHBBH4s4s")
#: the same header with the addresses as integers, as a receiving stack reads it
_IP_INT = struct.Struct("!BBHHHBBHII")
_TTL_PROTO_CHECK = struct.Struct("!BBH")


def ip_to_int(ip) -> int:
    if isinstance(ip, int):
        return ip
    if isinstance(ip, (bytes, bytearray)):
        return int.from_bytes(ip, "big")
    n = _parse_dotted(ip if isinstance(ip, str) else str(ip))
    return n if n is not None else _bad(ip)


@functools.lru_cache(maxsize=16384)
def _parse_dotted(text: str):
    # remembered: a control plane programs the same gateway into every node's table
    return int.from_bytes(socket.inet_aton(text), "big") if _dotted(text) else None


def _dotted(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _bad(ip):
    raise ValueError(f"not an IPv4 address: {ip!r}")


def int_to_ip(n: int) -> str:
    return socket.inet_ntoa(n.to_bytes(4, "big"))


class Ipv4View:
    """The IPv4 header at ``buf[off:]``, its fields read with one ``struct`` call when the
    view is made (every hop reads most of them; ``buf`` is a frame's immutable bytes).
    The addresses are ``saddr`` and ``daddr`` as integers (the kernel's ``iph->saddr``,
    what routing and socket lookups use) and ``src`` and ``dst`` as 4 bytes."""

    __slots__ = ("buf", "off", "ihl", "tos", "total_length", "ident", "frag", "ttl", "proto",
                 "checksum", "saddr", "daddr", "payload_offset", "end")

    def __init__(self, buf, off: int = 14):
        self.buf = buf
        self.off = off
        (vihl, self.tos, self.total_length, self.ident, self.frag, self.ttl, self.proto,
         self.checksum, self.saddr, self.daddr) = _IP_INT.unpack_from(buf, off)
        self.ihl = ihl = (vihl & 0x0F) * 4
        self.payload_offset = off + ihl
        self.end = off + self.total_length

    @classmethod
    def check(cls, buf, off: int = 14, verify: bool = True) -> "Ipv4View":
        """The checks of ``ip_rcv_core``: length, version, IHL, total length, and the header
        checksum unless ``verify`` is false."""
        avail = len(buf) - off
        if avail < IPV4_HLEN:
            raise Malformed("PKT_TOO_SMALL", f"{avail} bytes, an IPv4 header needs 20")
        view = cls(buf, off)
        ihl = view.ihl
        if buf[off] >> 4 != 4 or ihl < IPV4_HLEN:
            raise Malformed("IP_INHDR", f"version {buf[off] >> 4}, header length {ihl}")
        if avail < ihl:
            raise Malformed("PKT_TOO_SMALL", f"{avail} bytes, header length {ihl}")
        total = view.total_length
        if total > avail:
            raise Malformed("PKT_TOO_SMALL", f"total length {total} but {avail} bytes")
        if total < ihl:
            raise Malformed("IP_INHDR", f"total length {total} < header length {ihl}")
        if verify and ones_sum(buf[off:off + ihl]) != 0xFFFF:
            raise Malformed("IP_CSUM", "bad IPv4 header checksum")
        return view

    @property
    def src(self) -> bytes:
        return bytes(self.buf[self.off + 12:self.off + 16])

    @property
    def dst(self) -> bytes:
        return bytes(self.buf[self.off + 16:self.off + 20])

    @property
    def df(self) -> bool:
        return bool(self.frag & IP_DF)

    @property
    def is_fragment(self) -> bool:
        return bool(self.frag & (IP_MF | IP_OFFMASK))

    @property
    def frag_offset(self) -> int:
        """Where the fragment's payload starts in its datagram, in bytes."""
        return (self.frag & IP_OFFMASK) << 3

    def payload(self) -> bytes:
        return bytes(self.buf[self.payload_offset:self.end])

    def packet(self) -> bytes:
        """The IP packet alone, without link-layer padding after total length."""
        return bytes(self.buf[self.off:self.end])

    @staticmethod
    def emit(src: bytes, dst: bytes, proto: int, payload_len: int, ident: int,
             ttl: int = 64, tos: int = 0, df: bool = False) -> bytes:
        """A 20-byte header (no options) with its checksum filled in."""
        frag = IP_DF if df else 0
        total = IPV4_HLEN + payload_len
        csum = internet_checksum(_IP.pack(0x45, tos, total, ident, frag, ttl, proto, 0, src, dst))
        return _IP.pack(0x45, tos, total, ident, frag, ttl, proto, csum, src, dst)


def decrease_ttl(buf: bytearray, off: int) -> None:
    """``ip_decrease_ttl``: TTL minus one and the checksum patched incrementally, as the
    kernel does it: a sum of 0xFFFF is folded to 0 (the kernel's "check >= 0xFFFF"; for an
    old checksum of 0xFEFF, a plain end-around carry would give 0xFFFF, not the 0 that
    Linux and a full recomputation put on the wire)."""
    buf[off + 8] -= 1
    check = struct.unpack_from("!H", buf, off + 10)[0] + 0x0100
    struct.pack_into("!H", buf, off + 10, (check + (check >= 0xFFFF)) & 0xFFFF)


def ttl_decreased(buf: bytes, off: int, end: int) -> bytes:
    """The IP packet ``buf[off:end]`` as ``ip_forward`` passes it on: :func:`decrease_ttl`'s
    TTL and checksum, in a new bytes object made in one pass (a forwarding hop's copy)."""
    check = ((buf[off + 10] << 8) | buf[off + 11]) + 0x0100
    return (buf[off:off + 8]
            + _TTL_PROTO_CHECK.pack(buf[off + 8] - 1, buf[off + 9], (check + (check >= 0xFFFF)) & 0xFFFF)
            + buf[off + 12:end])
