"""IEEE 802.1Q VLAN tag view: the 4 bytes after the source MAC."""
import struct

from emunet.wire.errors import Malformed
from emunet.wire.ethernet import ETH_P_8021Q

DOT1Q_HLEN = 4


class Dot1QView:
    """A view of an 802.1Q tag at ``buf[off:]`` (``off`` = 12 in an Ethernet frame,
    where the TPID 0x8100 stands in place of the EtherType)."""

    __slots__ = ("buf", "off")

    def __init__(self, buf, off: int = 12):
        self.buf = buf
        self.off = off

    @classmethod
    def check(cls, buf, off: int = 12) -> "Dot1QView":
        if len(buf) - off < DOT1Q_HLEN + 2:
            raise Malformed("PKT_TOO_SMALL", "802.1Q tag truncated")
        return cls(buf, off)

    @property
    def tpid(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off)[0]

    @property
    def tci(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 2)[0]

    @property
    def pcp(self) -> int:
        return self.tci >> 13

    @property
    def dei(self) -> int:
        return (self.tci >> 12) & 1

    @property
    def vid(self) -> int:
        return self.tci & 0x0FFF

    @property
    def inner_ethertype(self) -> int:
        return struct.unpack_from("!H", self.buf, self.off + 4)[0]

    @staticmethod
    def emit(vid: int, ethertype: int, pcp: int = 0, dei: int = 0) -> bytes:
        """The tag and inner EtherType (6 bytes) that follow the source MAC."""
        return struct.pack("!HHH", ETH_P_8021Q, (pcp << 13) | (dei << 12) | vid, ethertype)


def push_tag(frame: bytes, vid: int, pcp: int = 0) -> bytes:
    """Insert an 802.1Q tag into an untagged Ethernet frame."""
    return frame[:12] + struct.pack("!HH", ETH_P_8021Q, (pcp << 13) | vid) + frame[12:]


def pop_tag(frame: bytes) -> bytes:
    """Remove the outer 802.1Q tag."""
    return frame[:12] + frame[16:]
