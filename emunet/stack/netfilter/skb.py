"""What netfilter sees of a packet at a hook: the kernel's ``struct sk_buff`` as
``nf_hook_state`` and ``xt_action_param`` present it to matches and targets.

An :class:`NfPacket` lives while the packet is in one namespace (PREROUTING to
POSTROUTING, or OUTPUT to POSTROUTING): its ``mark`` and its conntrack entry go with it
from hook to hook, and are gone when it leaves (a veth scrubs them, ``skb_scrub_packet``).
``data`` is the IP packet alone, header first; a NAT that rewrites it replaces ``data``
and reads the header again (:meth:`reparse`).
"""
import struct

from emunet.wire.ipv4 import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IP_OFFMASK

_HDR = struct.Struct("!BBHHHBBHII")
_PORTS = struct.Struct("!HH")


class NfPacket:
    """One packet at the hooks of one namespace.

    Header fields (read when the packet is made, and again after a NAT): ``saddr``,
    ``daddr`` (integers), ``proto``, ``tos``, ``ttl``, ``total_length``, ``ihl``,
    ``frag_off`` (the 13-bit offset; a non-first fragment has no ports), ``ident``.
    Transport fields: ``sport`` and ``dport`` (TCP/UDP; None otherwise or in a non-first
    fragment, or when the header is truncated), ``tcp_flags``, ``icmp_type``/``icmp_code``
    (None when not ICMP).

    Per hook: ``hook`` (``NF_INET_*``), ``indev`` and ``outdev`` (devices or None, as the
    hook has them: no ``outdev`` before routing, no ``indev`` on output), ``physindev`` and
    ``physoutdev`` (the bridge ports, for a bridged packet under ``br_netfilter``),
    ``nexthop`` (after routing: the gateway, or the destination on a connected network).

    Per packet: ``mark`` (``skb->mark``), ``ct`` and ``ctinfo`` (the conntrack entry and
    ``IP_CT_*``, or None when not tracked), ``pid`` (the trace identity), and ``notes``:
    a list the tables append what they did to (a rule that matched, a NAT applied),
    None when nobody observes; ``why``: what decided a drop ("filter FORWARD rule 3: -A
    FORWARD -j DROP", or the chain's policy), set by the table that dropped it.
    """

    __slots__ = ("ns", "data", "pid", "hook", "indev", "outdev", "physindev", "physoutdev",
                 "mark", "ct", "ctinfo", "notes", "why", "nexthop", "reasm",
                 "saddr", "daddr", "proto", "tos", "ttl", "total_length", "ihl", "frag_off",
                 "ident", "sport", "dport", "tcp_flags", "icmp_type", "icmp_code")

    def __init__(self, ns, data: bytes, pid: int = 0, hook: int = 0, indev=None, outdev=None,
                 mark: int = 0, notes: list = None):
        self.ns = ns
        self.data = data
        self.pid = pid
        self.hook = hook
        self.indev = indev
        self.outdev = outdev
        self.physindev = None
        self.physoutdev = None
        self.mark = mark
        self.ct = None
        self.ctinfo = None
        self.notes = notes
        self.why = ""
        self.nexthop = 0
        #: the :class:`~emunet.stack.ip_fragment.Reassembled` this packet was put together
        #: as by ``nf_defrag_ipv4``, None for a packet that came whole
        self.reasm = None
        self.reparse()

    def reparse(self) -> None:
        """Read the header fields from ``data`` (again, after a rewrite)."""
        data = self.data
        (vihl, self.tos, self.total_length, self.ident, frag, self.ttl, self.proto, _,
         self.saddr, self.daddr) = _HDR.unpack_from(data, 0)
        self.ihl = ihl = (vihl & 0x0F) * 4
        self.frag_off = frag & IP_OFFMASK
        self.sport = self.dport = self.tcp_flags = self.icmp_type = self.icmp_code = None
        if self.frag_off:
            return
        proto = self.proto
        if proto in (IPPROTO_TCP, IPPROTO_UDP):
            if len(data) >= ihl + 4:
                self.sport, self.dport = _PORTS.unpack_from(data, ihl)
            if proto == IPPROTO_TCP and len(data) >= ihl + 14:
                self.tcp_flags = data[ihl + 13]
        elif proto == IPPROTO_ICMP and len(data) >= ihl + 2:
            self.icmp_type, self.icmp_code = data[ihl], data[ihl + 1]

    def clone(self) -> "NfPacket":
        """A copy for another copy of the frame (a bridge floods it to several ports):
        the same connection and mark, hooks of its own."""
        c = NfPacket(self.ns, self.data, self.pid, self.hook, self.indev, self.outdev, self.mark,
                     [] if self.notes is not None else None)
        c.ct = self.ct
        c.ctinfo = self.ctinfo
        c.physindev = self.physindev
        c.reasm = self.reasm
        return c

    @property
    def sim(self):
        return self.ns.sim

    @property
    def in_name(self) -> str:
        return self.indev.name if self.indev is not None else ""

    @property
    def out_name(self) -> str:
        return self.outdev.name if self.outdev is not None else ""

    def note(self, text: str) -> None:
        """Say what a table did to the packet (kept only when someone observes)."""
        if self.notes is not None:
            self.notes.append(text)


__all__ = ["NfPacket"]
