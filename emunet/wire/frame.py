"""The unit that travels between devices: immutable bytes and an identity."""

#: pcap link types (tcpdump.org/linktypes.html)
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # a bare IPv4/IPv6 packet, as captured on a TUN device

#: ``Frame.csum_level``: how many of the packet's checksums, from the outermost in, the
#: sender wrote (or checked) itself: none; the IPv4 header's; the header's and the
#: UDP/TCP/ICMP (or, for IPIP, inner IPv4) header's that follows it.  A tunnel packet
#: adds its own to the inner packet's (VXLAN: outer IPv4 and UDP, then the inner ones).
CSUM_NONE = 0
CSUM_IP = 1
CSUM_L4 = 2


class Frame:
    """A frame on a link, byte for byte what a Linux host would put on it.

    ``data`` is the wire truth: what a capture writes and what every device
    decides from.  ``pid`` is the packet's identity for traces: a forwarded
    copy, and the outer frame an encapsulating device builds around it, keep
    the pid of the packet that was born at the application, so one packet can
    be followed through encapsulation.  ``linktype`` says how to read ``data``
    (Ethernet, or a bare IP packet on a layer-3 device such as a TUN).

    ``csum_level`` is what the kernel keeps in ``skb->ip_summed``/``csum_level``: a level,
    how many of the packet's checksums, outermost first, are right by construction,
    because the sending stack wrote them (``ip_send`` and the tunnel templates) or
    checked them and changed them incrementally (a forwarding hop's TTL).  A
    receiving stack does not add those up again (every other check still runs): a
    frame anyone else made, one derived from it (padded, tagged, rebuilt) included,
    has ``CSUM_NONE`` and is checked in full, so every drop for a bad checksum
    happens as before.

    A frame is a value: a new frame is made for new bytes (:meth:`derive`), and its
    attributes are never reassigned (a frame handed to a link may still be queued,
    captured or traced), and two frames are the same only if they are the same
    object.  Every hop makes one, so it is a plain slotted class (creating one is the
    largest single item of a hop's cost).
    """

    __slots__ = ("data", "pid", "linktype", "csum_level", "_packet")

    def __init__(self, data: bytes, pid: int = 0, linktype: int = LINKTYPE_ETHERNET,
                 csum_level: int = CSUM_NONE):
        self.data = data
        self.pid = pid
        self.linktype = linktype
        self.csum_level = csum_level

    def __repr__(self) -> str:
        return f"Frame(data={self.data!r}, pid={self.pid!r}, linktype={self.linktype!r})"

    def __reduce__(self):
        return Frame, (self.data, self.pid, self.linktype, self.csum_level)

    def __len__(self) -> int:
        return len(self.data)

    def derive(self, data: bytes, linktype: int = None) -> "Frame":
        """A new frame carrying the same packet identity."""
        return Frame(data, self.pid, self.linktype if linktype is None else linktype)

    @property
    def packet(self):
        """The Scapy dissection of ``data`` (built once, on demand)."""
        try:
            return self._packet
        except AttributeError:
            pass
        if self.linktype == LINKTYPE_RAW:
            from scapy.layers.inet import IP
            pkt = IP(self.data)
        else:
            from scapy.layers.l2 import Ether
            pkt = Ether(self.data)
        self._packet = pkt
        return pkt

    def summary(self) -> str:
        return self.packet.summary()
