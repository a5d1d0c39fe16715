"""The IPv4 path of a namespace (``net/ipv4/ip_input.c``, ``ip_forward.c``, ``ip_output.c``).

``ip_rcv`` → ``ip_local_deliver`` (ICMP, UDP, TCP, or a protocol a tunnel added) |
``ip_forward`` → ``ip_finish_output2`` → the neighbour layer → ``dev_queue_xmit``;
locally generated packets enter at :meth:`Ipv4.ip_send`.

Every drop is counted on the namespace under a reason named after the kernel's
``skb_drop_reason``; malformed input is dropped, never raised.
"""
import errno

from emunet.wire.errors import Malformed
from emunet.wire.ethernet import BROADCAST_MAC, ETH_P_IP, ZERO_MAC
from emunet.wire.frame import CSUM_IP, CSUM_L4, LINKTYPE_ETHERNET, LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, Ipv4View, int_to_ip,
                              ttl_decreased)

_ETHER_IP = ETH_P_IP.to_bytes(2, "big")


class Ipv4:
    """One namespace's IPv4 input, forwarding and output.

    ``protocols`` is ``inet_protos``: IP protocol number -> handler(dev, frame, ipv) for
    protocols beyond ICMP, UDP and TCP (``inet_add_protocol``; IPIP registers one for
    tunl0)."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.fib = ns.fib
        self.protocols = {}

    # -- input --------------------------------------------------------------
    def ip_rcv(self, dev, frame: Frame, off: int, broadcast: bool) -> None:
        """``ip_rcv`` → ``ip_rcv_finish``: validate, route, deliver or forward.

        A packet that arrives on a real device is routed by ``ip_route_input_slow``,
        which refuses a *martian source*: a multicast, limited broadcast, zero or loopback
        source (``IP_INVALID_SOURCE``), and, wherever a route is found (local, broadcast,
        forwarded), one of this namespace's own addresses unless ``accept_local``
        (``IP_LOCAL_SOURCE``: ``fib_validate_source`` with rp_filter off).  What comes in on
        ``lo`` was routed on the way out and is not looked at again."""
        ns = self.ns
        try:
            # the header checksum of a frame the sending stack's IP output built is right by
            # construction (Frame.csum_level)
            ipv = Ipv4View.check(frame.data, off, verify=not frame.csum_level)
        except Malformed as e:
            ns.count_drop(e.reason, dev, frame, e.detail)
            return
        dst = ipv.daddr
        local_ips = ns.local_ips
        if not dev.loopback:
            src = ipv.saddr
            s8 = src >> 24
            if s8 >= 224 or s8 == 127 or (s8 == 0 and dst != 0xFFFFFFFF):
                ns.count_drop("IP_INVALID_SOURCE", dev, frame, f"martian source {int_to_ip(src)}")
                return
            if src in local_ips and not ns.accept_local(dev):
                r = self.fib.lookup(dst)
                # validated where the kernel validates: local or broadcast delivery, and a
                # unicast route it forwards on (no route or forwarding off fail earlier)
                if dst == 0xFFFFFFFF or (r is not None and (r.type in ("local", "broadcast") or (
                        r.type == "unicast" and ns.forwarding(dev)))):
                    ns.count_drop("IP_LOCAL_SOURCE", dev, frame,
                                  f"martian source {int_to_ip(src)}: our own address, received on "
                                  f"{dev.name} (accept_local=0)")
                    return
        if dst in local_ips or dst == 0xFFFFFFFF:
            self.ip_local_deliver(dev, frame, ipv, dst == 0xFFFFFFFF)
            return
        # the local table, then main (one probe of the FIB's per-destination memory)
        r = self.fib.lookup(dst)
        if r is not None and r.table == "local":
            if r.type == "broadcast" and r.dst.prefixlen == 32:
                self.ip_local_deliver(dev, frame, ipv, True)
                return
            if r.type == "local":
                # RTN_LOCAL covers prefixes too: 127.0.0.0/8 on lo, AnyIP routes
                self.ip_local_deliver(dev, frame, ipv, False)
                return
            r = self.fib.main.lookup(dst)   # a local-table route of another kind: main decides
        if broadcast or dst >> 28 == 0xE:
            ns.count_drop("OTHERHOST", dev, frame, "link-layer broadcast for another host")
            return
        if not ns.forwarding(dev):
            ns.count_drop("IP_INADDRERRORS", dev, frame, f"{int_to_ip(dst)} is not ours and ip_forward=0")
            return
        self.ip_forward(dev, frame, ipv, r)

    def ip_local_deliver(self, dev, frame: Frame, ipv: Ipv4View, broadcast: bool) -> None:
        """``ip_local_deliver`` → ``ip_protocol_deliver_rcu``: the transport protocol's handler."""
        ns = self.ns
        if ipv.is_fragment:
            ns.count_drop("IP_FRAG", dev, frame, "fragment reassembly is not modelled")
            return
        proto = ipv.proto
        if proto == IPPROTO_ICMP:
            ns.icmp.rcv(dev, frame, ipv, broadcast)
        elif proto == IPPROTO_UDP:
            ns.udp.rcv(dev, frame, ipv, broadcast)
        elif proto == IPPROTO_TCP:
            ns.tcp.rcv(dev, frame, ipv, broadcast)
        else:
            handler = self.protocols.get(proto)
            if handler is not None:
                handler(dev, frame, ipv)
                return
            ns.count_drop("UNHANDLED_PROTO", dev, frame, f"IP protocol {proto}")
            if not broadcast:
                ns.icmp.send_error(ipv.packet(), 3, 2, 0, frame.pid)

    # -- forward ------------------------------------------------------------
    def ip_forward(self, dev, frame: Frame, ipv: Ipv4View, r) -> None:
        """``ip_route_input`` then ``ip_forward``: with ``r``, the main table's route for the
        destination (None: no route), check TTL and MTU, then out through the neighbour
        layer.  The route comes first, as in ``ip_rcv_finish``: a packet with TTL 1 to an
        unroutable address earns "net unreachable", not "time exceeded" (the kernel test
        ``test_icmp_errors_of_routers_on_the_host_gw_path`` shows it)."""
        ns = self.ns
        dst = ipv.daddr
        if r is None:
            ns.count_drop("IP_NOROUTE", dev, frame, f"no route to {int_to_ip(dst)}")
            ns.icmp.send_error(ipv.packet(), 3, 0, 0, frame.pid)
            return
        if r.type != "unicast":
            ns.count_drop("IP_NOROUTE", dev, frame, f"{r.type} route {r.dst}")
            if r.type == "unreachable":
                ns.icmp.send_error(ipv.packet(), 3, 1, 0, frame.pid)
            elif r.type == "prohibit":
                ns.icmp.send_error(ipv.packet(), 3, 13, 0, frame.pid)
            return
        if ipv.ttl <= 1:
            ns.count_drop("TTL_EXPIRED", dev, frame, f"TTL {ipv.ttl} at {ns.name}")
            ns.icmp.send_error(ipv.packet(), 11, 0, 0, frame.pid)
            return
        out = r.dev
        length = ipv.total_length   # the packet without link-layer padding
        if length > out.mtu:
            if ipv.df:
                ns.count_drop("PKT_TOO_BIG", dev, frame,
                              f"{length} bytes with DF > MTU {out.mtu} of {out.name}")
                ns.icmp.send_error(ipv.packet(), 3, 4, out.mtu, frame.pid)
                return
            ns.count_drop("PKT_TOO_BIG", dev, frame, "fragmentation is not modelled")
            return
        nh = r.gateway or dst
        note = None   # what the hop decided is written only when someone observes
        if self.sim.observers:
            hop = f"route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
            ns.note(dev, frame, f"forward: {hop}")
            note = f"forwarded: {hop}"
        # the header is right (written or checked, then patched incrementally); whatever the
        # sender vouched for beyond it, the forwarded bytes still carry
        self.ip_finish_output2(out, nh, ttl_decreased(frame.data, ipv.off, ipv.end), frame.pid, note,
                               frame.csum_level or CSUM_IP)

    # -- output -------------------------------------------------------------
    def ip_select_ident(self, dst: bytes) -> int:
        """An IP ID for a packet we send (``ip_select_ident``: the kernel hashes, we draw
        from the seeded RNG)."""
        return self.sim.rng.getrandbits(16)

    def ip_send(self, src, dst: bytes, proto: int, payload: bytes, pid: int, ttl: int = None,
                tos: int = 0, df: bool = False, ident: int = None, note: str = "") -> int:
        """Build and route a locally generated IP packet: what ``ip_queue_xmit`` (TCP),
        ``ip_send_skb`` (UDP, ping, ICMP) and ``ip_build_and_send_pkt`` (a SYN-ACK) do.

        ``src`` None means "the route's preferred source".  Returns 0 or an errno, as
        the sending socket would see it."""
        ns = self.ns
        d = int.from_bytes(dst, "big")
        r = self.fib.lookup(d)
        # the drop names what was being sent: an ICMP error that cannot be routed back still
        # says which packet it was about
        what = f" ({note})" if note else ""
        if r is None:
            ns.count_drop("IP_NOROUTE", None, None, f"no route to {int_to_ip(d)} from {ns.name}{what}", pid)
            return errno.ENETUNREACH
        if r.type in ("blackhole", "unreachable", "prohibit"):
            ns.count_drop("IP_NOROUTE", None, None, f"{r.type} route for {int_to_ip(d)}{what}", pid)
            return {"blackhole": errno.EINVAL, "unreachable": errno.EHOSTUNREACH,
                    "prohibit": errno.EACCES}[r.type]
        if src is None:
            src = self.fib.source_for(d)
        if ident is None:
            ident = self.ip_select_ident(dst)
        ttl = ns.sysctl["net.ipv4.ip_default_ttl"] if ttl is None else ttl
        packet = Ipv4View.emit(src, dst, proto, len(payload), ident, ttl, tos, df) + payload
        observed = bool(self.sim.observers)
        if r.type in ("local", "broadcast") and (r.type == "local" or r.dev.loopback):
            self.ip_finish_output2(ns.lo, d, packet, pid,
                                   f"{note}; route local {int_to_ip(d)} dev lo" if observed else None, CSUM_L4)
            return 0
        out = r.dev
        if len(packet) > out.mtu:
            ns.count_drop("PKT_TOO_BIG", out, None, f"{len(packet)} bytes > MTU {out.mtu} of {out.name}"
                          + ("" if df else "; fragmentation is not modelled"), pid)
            return errno.EMSGSIZE
        nh = r.gateway or d
        # the header is ours and so is the payload's checksum (every caller builds it with
        # the wire module's emitters)
        self.ip_finish_output2(out, nh, packet, pid,
                               f"{note}; route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
                               if observed else None, CSUM_L4)
        return 0

    def ip_finish_output2(self, dev, nexthop: int, packet: bytes, pid: int, note: str,
                          csum_level: int = CSUM_IP) -> None:
        """``ip_finish_output2``: add the link-layer header, resolving the neighbour if needed.
        Every packet that gets here has an IPv4 header this stack wrote or checked; ``csum_level``
        says how many checksums, that header's first, are right by construction."""
        if dev.linktype == LINKTYPE_RAW:
            dev.l3_xmit(nexthop, Frame(packet, pid, LINKTYPE_RAW, csum_level), note)
        elif dev.noarp:
            dst_mac = ZERO_MAC if dev.loopback else BROADCAST_MAC
            self.send_ether(dev, dst_mac, packet, pid, note, csum_level)
        else:
            self.ns.neigh.output(dev, nexthop, packet, pid, note, csum_level)

    def send_ether(self, dev, dst_mac: bytes, packet: bytes, pid: int, note: str,
                   csum_level: int = CSUM_IP) -> None:
        """``dev_hard_header`` for an IPv4 packet to ``dst_mac``, then ``dev_queue_xmit``:
        how a resolved (or NOARP) neighbour sends."""
        dev.dev_queue_xmit(Frame(dst_mac + dev.mac + _ETHER_IP + packet, pid, LINKTYPE_ETHERNET, csum_level), note)


__all__ = ["Ipv4"]
