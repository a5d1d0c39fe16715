"""The unit that travels between devices: immutable bytes and an identity."""
from functools import cached_property

import attrs

#: pcap link types (tcpdump.org/linktypes.html)
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # a bare IPv4/IPv6 packet, as captured on a TUN device


@attrs.frozen(eq=False)
class Frame:
    """A frame on a link, byte for byte what a Linux host would put on it.

    ``data`` is the wire truth: what a capture writes and what every device
    decides from.  ``pid`` is the packet's identity for traces: a forwarded
    copy, and the outer frame an encapsulating device builds around it, keep
    the pid of the packet that was born at the application, so one packet can
    be followed through encapsulation.  ``linktype`` says how to read ``data``
    (Ethernet, or a bare IP packet on a layer-3 device such as a TUN).
    """

    data: bytes
    pid: int = 0
    linktype: int = LINKTYPE_ETHERNET

    def __len__(self) -> int:
        return len(self.data)

    def derive(self, data: bytes, linktype: int = None) -> "Frame":
        """A new frame carrying the same packet identity."""
        return Frame(data, self.pid, self.linktype if linktype is None else linktype)

    @cached_property
    def packet(self):
        """The Scapy dissection of ``data`` (built once, on demand)."""
        if self.linktype == LINKTYPE_RAW:
            from scapy.layers.inet import IP
            return IP(self.data)
        from scapy.layers.l2 import Ether
        return Ether(self.data)

    def summary(self) -> str:
        return self.packet.summary()
