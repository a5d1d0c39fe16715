"""A small pcapng writer (the IETF pcapng draft: SHB, IDB, EPB).

Written here rather than through Scapy's writer because we need what it does
not give: an interface block per ``namespace/iface`` with its own link type
and nanosecond resolution (``if_tsresol`` 9), no unnamed interface #0,
direction flags and several comments per packet, at a few microseconds a
packet.  Scapy's ``rdpcap`` and tshark read the result (the tests check both).
"""
import struct

BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
SHB_USERAPPL = 4
EPB_FLAGS = 2
DIRECTION_FLAGS = {"in": 1, "out": 2}


def _option(code: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


class PcapngWriter:
    """Write a pcapng file block by block; interfaces are declared on first use."""

    def __init__(self, fileobj, application: str = "emunet"):
        self.f = fileobj
        self.ifaces = {}
        opts = _option(SHB_USERAPPL, application.encode()) + _option(OPT_ENDOFOPT, b"")
        self.f.write(_block(BT_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts))

    def interface(self, name: str, linktype: int, description: str = None) -> int:
        idx = self.ifaces.get(name)
        if idx is None:
            idx = len(self.ifaces)
            self.ifaces[name] = idx
            opts = _option(IF_NAME, name.encode()) + _option(IF_TSRESOL, b"\x09")
            if description:
                opts += _option(IF_DESCRIPTION, description.encode())
            opts += _option(OPT_ENDOFOPT, b"")
            self.f.write(_block(BT_IDB, struct.pack("<HHI", linktype, 0, 262144) + opts))
        return idx

    def packet(self, iface: int, ts_ns: int, data: bytes, direction: str = None,
               comments=()) -> None:
        pad = (-len(data)) % 4
        body = struct.pack("<IIIII", iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), len(data))
        body += data + b"\0" * pad
        opts = b""
        flag = DIRECTION_FLAGS.get(direction)
        if flag:
            opts += _option(EPB_FLAGS, struct.pack("<I", flag))
        for c in comments:
            opts += _option(OPT_COMMENT, c.encode())
        if opts:
            opts += _option(OPT_ENDOFOPT, b"")
        self.f.write(_block(BT_EPB, body + opts))


def write_classic_pcap(path, linktype: int, packets) -> None:
    """A classic libpcap file with nanosecond timestamps: ``packets`` = [(ts_ns, bytes)]."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype))
        for ts, data in packets:
            f.write(struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000, len(data), len(data)))
            f.write(data)
