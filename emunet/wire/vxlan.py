"""VXLAN (RFC 7348) and the outer IPv4/UDP headers a tunnel endpoint puts around a packet.

A VXLAN header is 8 bytes: a flags byte whose I bit (0x08) says "the VNI is
valid", 3 reserved bytes, the 24-bit VNI and a reserved byte.  Linux's vxlan
driver sends exactly that (``struct vxlanhdr``: ``vx_flags = VXLAN_HF_VNI``,
``vx_vni = vni << 8``) and drops a received header without the I bit
(``SKB_DROP_REASON_VXLAN_INVALID_HDR``).

``TunnelTemplate`` is the hot path of every encapsulating device: the outer
IPv4 + UDP (+ VXLAN) headers of one tunnel (local, remote, ports, VNI) are
packed with one ``struct`` call per packet, the IPv4 header checksum and the
UDP checksum (over the IPv4 pseudo-header, as a vxlan device created without
the checksum attribute does: ``ip -d link`` says ``udpcsum``) computed with the
Internet-checksum helpers.  Nothing here calls Scapy; the tests use Scapy as the
oracle for these bytes.
"""
import struct

from emunet.wire.checksum import ones_sum
from emunet.wire.errors import Malformed
from emunet.wire.ipv4 import IP_DF, IPPROTO_UDP, Ipv4View
from emunet.wire.udp import UdpView

VXLAN_HLEN = 8
#: the I flag ("VNI present") in the first byte
VXLAN_FLAG_I = 0x08
#: the IANA port (RFC 7348) and the port Linux uses when none is given (``dstport 0``);
#: flanneld passes 0, so flannel.1 listens on 8472
IANA_VXLAN_PORT = 4789
LINUX_VXLAN_PORT = 8472
#: what a VTEP adds to an Ethernet frame on the wire: outer Ethernet, IPv4, UDP, VXLAN
#: (flannel's ``encapOverhead = 50``: flannel.1's MTU is eth0's minus 50)
VXLAN_OVERHEAD = 14 + 20 + 8 + VXLAN_HLEN
#: what flannel's UDP backend adds to an IP packet: IPv4 and UDP (``encapOverhead = 28``)
UDP_ENCAP_OVERHEAD = 20 + 8

_VXLAN = struct.Struct("!II")
_IP_UDP = struct.Struct("!BBHHHBBH4s4sHHHH")          # 28 bytes
_IP_UDP_VXLAN = struct.Struct("!BBHHHBBH4s4sHHHHII")  # 36 bytes


class VxlanView:
    """A view of the VXLAN header at ``buf[off:]`` (the UDP payload), read with one
    ``struct`` call when the view is made."""

    __slots__ = ("buf", "off", "flags", "vni")
    HLEN = VXLAN_HLEN

    def __init__(self, buf, off: int = 0):
        self.buf = buf
        self.off = off
        word0, word1 = _VXLAN.unpack_from(buf, off)
        self.flags = word0 >> 24
        self.vni = word1 >> 8

    @classmethod
    def check(cls, buf, off: int = 0) -> "VxlanView":
        """``vxlan_rcv``'s header checks: 8 bytes and the I flag."""
        if len(buf) - off < VXLAN_HLEN:
            raise Malformed("PKT_TOO_SMALL", f"{len(buf) - off} bytes, a VXLAN header needs 8")
        if not buf[off] & VXLAN_FLAG_I:
            raise Malformed("VXLAN_INVALID_HDR", f"flags {buf[off]:#04x} without the I bit")
        return cls(buf, off)

    @property
    def payload_offset(self) -> int:
        return self.off + VXLAN_HLEN

    @staticmethod
    def emit(vni: int) -> bytes:
        if not 0 <= vni < 1 << 24:
            raise ValueError(f"a VNI has 24 bits: {vni}")
        return _VXLAN.pack(VXLAN_FLAG_I << 24, vni << 8)


class TunnelTemplate:
    """The outer IPv4 + UDP (+ VXLAN when ``vni`` is not None) headers of one tunnel.

    ``build(payload, sport, ident, tos)`` returns the outer IP packet with
    both checksums filled in; ``ttl``, ``df``, addresses, destination port and
    VNI are fixed per tunnel.  ``udp_csum=False`` sends a zero UDP checksum
    (``noudpcsum``).
    """

    __slots__ = ("src", "dst", "dport", "vni", "ttl", "frag", "udp_csum", "hlen", "_pseudo",
                 "_ip_fixed", "_udp_fixed")

    def __init__(self, src: bytes, dst: bytes, dport: int, vni: int = None, ttl: int = 64,
                 df: bool = False, udp_csum: bool = True):
        if len(src) != 4 or len(dst) != 4:
            raise ValueError("tunnel addresses are 4-byte IPv4 addresses")
        if vni is not None and not 0 <= vni < 1 << 24:
            raise ValueError(f"a VNI has 24 bits: {vni}")
        self.src = bytes(src)
        self.dst = bytes(dst)
        self.dport = dport
        self.vni = vni
        self.ttl = ttl
        self.frag = IP_DF if df else 0
        self.udp_csum = udp_csum
        self.hlen = 36 if vni is not None else 28
        # the constant part of the UDP pseudo-header sum: addresses and protocol
        self._pseudo = ones_sum(self.src + self.dst + bytes((0, IPPROTO_UDP)))
        # what the tunnel fixes of each checksum, summed once: the IPv4 header but TOS, total
        # length and ID; the pseudo-header, destination port and VXLAN header of the UDP sum
        self._ip_fixed = ones_sum(_IP_UDP.pack(0x45, 0, 0, 0, self.frag, self.ttl, IPPROTO_UDP, 0,
                                               self.src, self.dst, 0, 0, 0, 0)[:20])
        self._udp_fixed = self._pseudo + dport + (0 if vni is None else ones_sum(VxlanView.emit(vni)))

    def build(self, payload: bytes, sport: int, ident: int, tos: int = 0) -> bytes:
        total = self.hlen + len(payload)
        if total > 0xFFFF:
            raise ValueError(f"outer packet of {total} bytes does not fit IPv4's 16-bit length")
        ulen = total - 20
        # one's-complement sums add: the fixed part plus what this packet sets (the header is
        # never all zero, so the sum is never the ambiguous zero)
        ip_csum = ~_fold(self._ip_fixed + tos + total + ident) & 0xFFFF
        udp_csum = 0
        if self.udp_csum:
            # the pseudo-header's and the UDP header's length, the source port, the payload
            udp_csum = ~ones_sum(payload, self._udp_fixed + ulen + ulen + sport) & 0xFFFF
            udp_csum = udp_csum or 0xFFFF  # a computed zero goes out as 0xFFFF
        if self.vni is not None:
            hdr = _IP_UDP_VXLAN.pack(0x45, tos, total, ident, self.frag, self.ttl, IPPROTO_UDP,
                                     ip_csum, self.src, self.dst, sport, self.dport, ulen, udp_csum,
                                     VXLAN_FLAG_I << 24, self.vni << 8)
        else:
            hdr = _IP_UDP.pack(0x45, tos, total, ident, self.frag, self.ttl, IPPROTO_UDP, ip_csum,
                               self.src, self.dst, sport, self.dport, ulen, udp_csum)
        return hdr + payload


def _fold(s: int) -> int:
    """End-around carry until ``s`` fits 16 bits."""
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def parse_tunnel(packet: bytes, vxlan: bool = True):
    """Split an outer IP packet into ``(ip_header, udp_header, vxlan_header_or_None, payload)``
    after the checks a receiver makes (lengths, header checksum, UDP checksum, VXLAN flags)."""
    ipv = Ipv4View.check(packet, 0)
    if ipv.proto != IPPROTO_UDP:
        raise Malformed("UNHANDLED_PROTO", f"IP protocol {ipv.proto}, not UDP")
    udp = UdpView.check(packet, ipv.payload_offset, ipv.end, ipv.src, ipv.dst)
    off = udp.payload_offset
    vx = None
    if vxlan:
        vx = VxlanView.check(packet[:udp.end], off)
        off = vx.payload_offset
    return ipv, udp, vx, bytes(packet[off:udp.end])


__all__ = ["VxlanView", "TunnelTemplate", "parse_tunnel", "VXLAN_HLEN", "VXLAN_FLAG_I",
           "IANA_VXLAN_PORT", "LINUX_VXLAN_PORT", "VXLAN_OVERHEAD", "UDP_ENCAP_OVERHEAD"]
