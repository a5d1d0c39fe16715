"""UDP header view (RFC 768) and its pseudo-header checksum."""
import struct

from emunet.wire.checksum import ones_sum, pseudo_header_sum
from emunet.wire.errors import Malformed
from emunet.wire.ipv4 import IPPROTO_UDP

UDP_HLEN = 8
_UDP = struct.Struct("!HHHH")


class UdpView:
    """The UDP datagram at ``buf[off:end]``, its header read with one ``struct`` call when
    the view is made."""

    __slots__ = ("buf", "off", "end", "sport", "dport", "length", "checksum")

    def __init__(self, buf, off: int, end: int = None):
        self.buf = buf
        self.off = off
        self.end = len(buf) if end is None else end
        self.sport, self.dport, self.length, self.checksum = _UDP.unpack_from(buf, off)

    @classmethod
    def check(cls, buf, off: int, end: int = None, src=None, dst=None,
              verify: bool = True) -> "UdpView":
        """Length checks, and the checksum unless ``verify`` is false, over the pseudo-header
        of ``src`` and ``dst`` (4 bytes or integers; a zero checksum means "not computed", as
        RFC 768 allows over IPv4)."""
        end = len(buf) if end is None else end
        if end - off < UDP_HLEN:
            raise Malformed("PKT_TOO_SMALL", f"UDP datagram of {end - off} bytes")
        view = cls(buf, off, end)
        length = view.length
        if length < UDP_HLEN or length > end - off:
            raise Malformed("PKT_TOO_SMALL", f"UDP length {length}, {end - off} bytes present")
        view.end = off + length
        if verify and view.checksum != 0:
            if src is None or dst is None:
                raise ValueError("a UDP checksum covers the pseudo-header: give src and dst, "
                                 "or verify=False")
            if ones_sum(buf[off:off + length], pseudo_header_sum(src, dst, IPPROTO_UDP, length)) != 0xFFFF:
                raise Malformed("UDP_CSUM", "bad UDP checksum")
        return view

    @property
    def payload_offset(self) -> int:
        return self.off + UDP_HLEN

    def payload(self) -> bytes:
        return bytes(self.buf[self.off + UDP_HLEN:self.end])

    @staticmethod
    def emit(sport: int, dport: int, payload: bytes, src: bytes = None, dst: bytes = None) -> bytes:
        """Header and payload; the checksum is computed when ``src``/``dst`` are given,
        and a computed zero is sent as 0xFFFF (RFC 768)."""
        length = UDP_HLEN + len(payload)
        csum = 0
        if src is not None:
            hdr = _UDP.pack(sport, dport, length, 0)
            csum = ~ones_sum(hdr + payload, pseudo_header_sum(src, dst, IPPROTO_UDP, length)) & 0xFFFF
            csum = csum or 0xFFFF
        return _UDP.pack(sport, dport, length, csum) + payload
