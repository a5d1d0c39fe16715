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

    A frame is a value: its attributes cannot be reassigned, and two frames are
    the same only if they are the same object.  Every hop makes one, so it is a
    plain slotted class (an attrs frozen class costs 2.6× as much to create).
    """

    __slots__ = ("data", "pid", "linktype", "_packet")
    #: True for an :class:`IpOutputFrame`, whose IPv4 header the sending stack wrote
    ip_header_ok = False

    def __init__(self, data: bytes, pid: int = 0, linktype: int = LINKTYPE_ETHERNET):
        # the slots' own setters: ``__setattr__`` refuses every assignment
        _set_data(self, data)
        _set_pid(self, pid)
        _set_linktype(self, linktype)

    def __setattr__(self, name, value):
        raise AttributeError(f"a Frame is immutable: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"a Frame is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Frame(data={self.data!r}, pid={self.pid!r}, linktype={self.linktype!r})"

    def __reduce__(self):
        return Frame, (self.data, self.pid, self.linktype)

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
        _set_packet(self, pkt)
        return pkt

    def summary(self) -> str:
        return self.packet.summary()


class IpOutputFrame(Frame):
    """A frame the IP layer's output built (``ip_finish_output2``): an IPv4 packet behind
    the link-layer header of its ``linktype``, whose header the sending stack wrote (or
    checked, then changed incrementally, on a forwarding hop).  Its header checksum is
    right by construction, so a receiving stack's ``ip_rcv`` need not add the header up
    again; every other check (version, lengths, addresses) still runs.  A frame derived
    from it (padded, tagged, rebuilt) is a plain :class:`Frame`, checked in full."""

    __slots__ = ()
    ip_header_ok = True


_set_data = Frame.data.__set__
_set_pid = Frame.pid.__set__
_set_linktype = Frame.linktype.__set__
_set_packet = Frame._packet.__set__
