"""The unit that travels between devices: immutable bytes and an identity."""

#: pcap link types (tcpdump.org/linktypes.html)
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # a bare IPv4/IPv6 packet, as captured on a TUN device


class Frame:
    """A frame on a link, byte for byte what a Linux host would put on it.

    ``data`` is the wire truth: what a capture writes and what every device
    decides from.  ``pid`` is the packet's identity for traces: a forwarded
    copy, and the outer frame an encapsulating device builds around it, keep
    the pid of the packet that was born at the application, so one packet can
    be followed through encapsulation.  ``linktype`` says how to read ``data``
    (Ethernet, or a bare IP packet on a layer-3 device such as a TUN).

    ``ip_header_ok`` is True for a frame the IP layer's output built
    (``ip_finish_output2``): an IPv4 packet behind the link-layer header of its
    ``linktype`` whose header the sending stack wrote, or checked and then changed
    incrementally on a forwarding hop.  Its header checksum is right by
    construction, so a receiving ``ip_rcv`` need not add the header up again
    (every other check still runs).  Any other frame, one derived from it (padded,
    tagged, rebuilt) included, is checked in full.

    A frame is a value: a new frame is made for new bytes (:meth:`derive`), and its
    attributes are never reassigned (a frame handed to a link may still be queued,
    captured or traced), and two frames are the same only if they are the same
    object.  Every hop makes one, so it is a plain slotted class: an attrs frozen
    class, or slots guarded by a refusing ``__setattr__``, cost 2.6× and 2× as much
    to create, the largest single item of a hop.
    """

    __slots__ = ("data", "pid", "linktype", "ip_header_ok", "_packet")

    def __init__(self, data: bytes, pid: int = 0, linktype: int = LINKTYPE_ETHERNET,
                 ip_header_ok: bool = False):
        self.data = data
        self.pid = pid
        self.linktype = linktype
        self.ip_header_ok = ip_header_ok

    def __repr__(self) -> str:
        return f"Frame(data={self.data!r}, pid={self.pid!r}, linktype={self.linktype!r})"

    def __reduce__(self):
        return Frame, (self.data, self.pid, self.linktype, self.ip_header_ok)

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
