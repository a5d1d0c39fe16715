"""Ethernet II header view (IEEE 802.3 with an EtherType)."""
import struct

from emunet.wire.errors import Malformed

ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\0" * 6
#: the EtherTypes as they stand in a frame, to compare ``data[12:14]`` with
ETHERTYPE_IP = ETH_P_IP.to_bytes(2, "big")
ETHERTYPE_ARP = ETH_P_ARP.to_bytes(2, "big")
TPID_8021Q = ETH_P_8021Q.to_bytes(2, "big")
TPID_8021AD = ETH_P_8021AD.to_bytes(2, "big")
#: the tag protocol identifiers ``eth_type_vlan`` recognises
VLAN_TPIDS = (TPID_8021Q, TPID_8021AD)

_ETH = struct.Struct("!6s6sH")


def mac_to_bytes(mac) -> bytes:
    """``"02:42:ac:11:00:07"`` (or bytes already) to 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(mac)}: {mac!r}")
        return bytes(mac)
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def mac_to_str(mac: bytes) -> str:
    return bytes(mac).hex(":")


def eth_random_addr(rng) -> bytes:
    """``eth_random_addr``: random bytes, multicast bit clear, locally administered bit set
    (drawn from ``rng``, the simulator's seeded source)."""
    b = bytearray(rng.getrandbits(8) for _ in range(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return bytes(b)


def is_multicast_mac(mac: bytes) -> bool:
    """True for group addresses (the I/G bit), broadcast included."""
    return bool(mac[0] & 1)


class EthernetView:
    """A view of the Ethernet header at ``buf[off:]``."""

    __slots__ = ("buf", "off")
    HLEN = ETH_HLEN

    def __init__(self, buf, off: int = 0):
        self.buf = buf
        self.off = off

    @classmethod
    def check(cls, buf, off: int = 0) -> "EthernetView":
        if len(buf) - off < ETH_HLEN:
            raise Malformed("PKT_TOO_SMALL", f"{len(buf) - off} bytes, an Ethernet header needs 14")
        return cls(buf, off)

    @property
    def dst(self) -> bytes:
        return bytes(self.buf[self.off:self.off + 6])

    @property
    def src(self) -> bytes:
        return bytes(self.buf[self.off + 6:self.off + 12])

    @property
    def ethertype(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 12)[0]

    @property
    def payload_offset(self) -> int:
        return self.off + ETH_HLEN

    @staticmethod
    def emit(dst: bytes, src: bytes, ethertype: int) -> bytes:
        return _ETH.pack(dst, src, ethertype)
