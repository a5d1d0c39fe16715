"""IP-in-IP tunnels (``net/ipv4/ipip.c`` over ``net/ipv4/ip_tunnel.c``), as Calico uses ``tunl0``.

Loading the ``ipip`` module gives every namespace a fallback device ``tunl0``
(``ipip any remote any local any ttl inherit nopmtudisc``): a layer-3 device
with no link-layer header (``link/ipip 0.0.0.0``, flags ``NOARP``; tcpdump
captures it as raw IP) that is not bound to any peer.  Calico's Felix brings it
up with the MTU it computed (host MTU − 20) and gives it the first address of
the node's IPAM block as a /32; BIRD then installs routes such as
``10.20.1.0/24 via 192.168.0.3 dev tunl0 proto bird onlink``.

Transmit (``ipip_tunnel_xmit`` → ``ip_tunnel_xmit``), for the fallback device:

* the outer destination is the **route's next hop** (``rt_nexthop``: the
  ``via`` of the route that sent the packet here, or the inner destination
  when the route has none) — an NBMA tunnel;
* the outer source is whatever the outer route's lookup selects (``local any``);
* TTL: ``ttl inherit`` (0) copies the inner TTL (already decremented when the
  node forwarded the packet); TOS 0 plus the inner ECN bits
  (``ip_tunnel_ecn_encap``); DF: ``nopmtudisc`` leaves the tunnel's own
  ``frag_off`` clear, and ``df |= inner DF`` copies the inner packet's DF;
* IP protocol 4, a fresh IP ID (``__ip_select_ident``); a route for the outer
  destination that leads back into the tunnel is a loop and is dropped;
* an inner packet with DF that would not fit the path to the far end once
  wrapped (its MTU less 20) is refused with fragmentation needed carrying that
  MTU (``tnl_update_pmtu``); without DF, the outer packet is fragmented.

Receive (``ipip_rcv``): an IPv4 packet with protocol 4 delivered to the host
is matched to a tunnel by its addresses; the fallback device takes any, if it
is up.  The outer header is stripped and the inner packet received on
``tunl0`` (``ip_tunnel_rcv`` → ``gro_cells_receive``), which routes it on as
if it had arrived there.  Outer CE marks are not propagated inward (ECN is not
modelled elsewhere either).
"""
from emunet.devices.base import NetDevice
from emunet.devices.tunnel import outer_output, outer_route
from emunet.wire.frame import CSUM_IP, LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import IP_DF, IPPROTO_IPIP, Ipv4View, int_to_ip, ip_to_int

#: the outer IPv4 header an IPIP tunnel adds
IPIP_OVERHEAD = 20


def ipip_encap(inner: bytes, src: bytes, dst: bytes, ident: int, ttl: int = 0, tos: int = 0,
               pmtudisc: bool = False) -> bytes:
    """The outer IPv4 packet ``ip_tunnel_xmit`` builds around ``inner`` (an IPv4 packet).

    ``ttl`` 0 means *inherit*; ``pmtudisc`` is the tunnel's own DF, to which the
    inner packet's DF is added."""
    inner_tos, inner_ttl = inner[1], inner[8]
    df = pmtudisc or bool(int.from_bytes(inner[6:8], "big") & IP_DF)
    ecn = inner_tos & 3
    # INET_ECN_encapsulate: ECT is copied, CE becomes ECT(0)
    out_tos = (tos & ~3) | (2 if ecn == 3 else ecn)
    return Ipv4View.emit(src, dst, IPPROTO_IPIP, len(inner), ident, ttl or inner_ttl, out_tos, df) + inner


def ipip_decap(packet: bytes) -> bytes:
    """The inner packet of an IPIP packet (the outer header checked, its options skipped)."""
    outer = Ipv4View.check(packet, 0)
    if outer.proto != IPPROTO_IPIP:
        raise ValueError(f"IP protocol {outer.proto}, not IPIP (4)")
    return bytes(packet[outer.payload_offset:outer.end])


class Ipip(NetDevice):
    """An IPIP tunnel device; ``Ipip(sim)`` is the fallback ``tunl0``."""

    kind = "ipip"
    linktype = LINKTYPE_RAW
    broadcast = False
    multicast = False
    noarp = True
    pointopoint = False
    header_len = 0
    link_type = "ipip"   # ``ip link``: link/ipip 0.0.0.0 brd 0.0.0.0

    def __init__(self, sim, name: str = "tunl0", mtu: int = 1480, local: str = "0.0.0.0",
                 remote: str = "0.0.0.0", ttl: int = 0, tos: int = 0, pmtudisc: bool = False):
        super().__init__(sim, name, None, mtu)
        self.local = ip_to_int(local)
        self.remote = ip_to_int(remote)
        self.ttl = ttl
        self.tos = tos
        self.pmtudisc = pmtudisc
        self.qdisc = "noqueue"
        self._nexthop = 0
        self.encapsulated = 0
        self.decapsulated = 0

    def details(self) -> str:
        """The type line of ``ip -d link show`` (the fallback device's, on kernel 6.x)."""
        remote = int_to_ip(self.remote) if self.remote else "any"
        local = int_to_ip(self.local) if self.local else "any"
        ttl = f"ttl {self.ttl}" if self.ttl else "ttl inherit"
        return f"ipip any remote {remote} local {local} {ttl} {'pmtudisc' if self.pmtudisc else 'nopmtudisc'}"

    # -- netlink -------------------------------------------------------------------
    def set_up(self) -> "Ipip":
        if self.ns is not None:
            # the module's protocol handler for IPPROTO_IPIP (tunnel4_rcv → ipip_rcv)
            self.ns.ipv4.inet_add_protocol(IPPROTO_IPIP, self.ns_rcv)
        return super().set_up()

    @property
    def carrier(self) -> bool:
        return self.admin_up

    def peer_name(self) -> str:
        return "@NONE"   # ``tunl0@NONE``: a tunnel bound to no lower device

    # -- transmit ------------------------------------------------------------------
    def l3_xmit(self, nexthop: int, frame, note: str = None) -> None:
        """Entered from the neighbour layer with the route's next hop, the NBMA destination."""
        self._nexthop = nexthop
        self.dev_queue_xmit(frame, note)

    def ndo_start_xmit(self, frame) -> None:
        nexthop, self._nexthop = self._nexthop, 0
        inner = frame.data
        if len(inner) < 20 or inner[0] >> 4 != 4:
            self.count_drop("UNHANDLED_PROTO", frame, "not an IPv4 packet", tx=True)
            return
        dst = self.remote or nexthop or int.from_bytes(inner[16:20], "big")
        ns = self.ns
        r = outer_route(self, dst, frame, "tunnel endpoint")
        if r is None:
            return
        if r.type != "local" and inner[6] & 0x40:
            # tnl_update_pmtu: an inner packet with DF (the outer copies it) that does not
            # fit the path to the far end less the outer header is refused, its sender told
            mtu = ns.fib.mtu(dst, r) - IPIP_OVERHEAD
            if len(inner) > mtu:
                self.stats.tx_errors += 1
                self.count_drop("PKT_TOO_BIG", frame, f"{len(inner)} bytes with DF > {mtu} "
                                f"(the path to {int_to_ip(dst)} less IPIP's {IPIP_OVERHEAD})", tx=True)
                ns.icmp.send_error(bytes(inner), 3, 4, mtu, frame.pid)
                return
        src = self.local.to_bytes(4, "big") if self.local else ns.fib.source_for(dst)
        packet = ipip_encap(inner, src, dst.to_bytes(4, "big"), ns.ipv4.ip_select_ident(None), self.ttl, self.tos,
                            self.pmtudisc)
        self.encapsulated += 1
        note = f"ipip encap {int_to_ip(int.from_bytes(src, 'big'))} → {int_to_ip(dst)}" \
            if self.sim.observers else None
        # the outer header is ours, then whatever the inner packet's sender vouched for
        outer_output(self, r, dst, packet, frame, note, CSUM_IP + frame.csum_level)

    # -- receive -------------------------------------------------------------------
    def ns_rcv(self, dev, frame, ipv: Ipv4View, broadcast: bool) -> None:
        """``ipip_rcv``: the namespace delivered a protocol-4 packet to us."""
        if not self.admin_up:
            self.ns.count_drop("NO_SOCKET", dev, frame, f"IPIP packet and {self.name} is down")
            return
        if self.remote and ipv.saddr != self.remote:
            self.ns.count_drop("NO_SOCKET", dev, frame, "IPIP packet from a stranger")
            return
        inner = ipv.payload()
        if len(inner) < 20 or inner[0] >> 4 != 4:
            self.count_drop("UNHANDLED_PROTO", frame, "IPIP payload is not an IPv4 packet")
            return
        self.decapsulated += 1
        if self.sim.observers:
            self.ns.note(dev, frame, f"ipip decap from {int_to_ip(ipv.saddr)} → {self.name}")
        self.receive(Frame(inner, frame.pid, LINKTYPE_RAW, max(0, frame.csum_level - CSUM_IP)))


__all__ = ["Ipip", "IPIP_OVERHEAD", "ipip_encap", "ipip_decap"]
