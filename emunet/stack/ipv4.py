"""The IPv4 path of a namespace (``net/ipv4/ip_input.c``, ``ip_forward.c``, ``ip_output.c``).

``ip_rcv`` → ``ip_local_deliver`` (ICMP, UDP, TCP, or a protocol a tunnel added) |
``ip_forward`` → ``ip_finish_output2`` → the neighbour layer → ``dev_queue_xmit``;
locally generated packets enter at :meth:`Ipv4.ip_send`.

Netfilter's hooks sit where the kernel's ``NF_HOOK`` calls are: PREROUTING in ``ip_rcv``
before routing, INPUT in ``ip_local_deliver``, FORWARD after the TTL is decreased and
POSTROUTING after it, OUTPUT and POSTROUTING for what this namespace sends (a DNAT in
OUTPUT routes the packet again).  While no table is loaded they cost one test each
(:attr:`~emunet.stack.netfilter.core.Netfilter.active`).

Fragments (:mod:`emunet.stack.ip_fragment`): a fragment for this host is reassembled
before ``ip_local_deliver`` goes on (``ip_defrag``), and, while conntrack is loaded, any
fragment before PREROUTING (``nf_defrag_ipv4``); what is sent or forwarded goes through
``ip_finish_output``, which fragments a packet longer than the MTU or refuses it (DF) with
fragmentation needed.  A packet this host sends uses the path MTU it learned for the
destination; a forwarded one, the device's.

Every drop is counted on the namespace under a reason named after the kernel's
``skb_drop_reason``; malformed input is dropped, never raised.
"""
import errno
from collections import Counter

from emunet.stack.ip_fragment import IP_DEFRAG_CONNTRACK_IN, IP_DEFRAG_LOCAL_DELIVER, IpDefrag, ip_do_fragment
from emunet.stack.netfilter.hooks import (NF_ACCEPT, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
                                          NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING)
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import BROADCAST_MAC, ZERO_MAC
from emunet.wire.frame import CSUM_IP, CSUM_L4, LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import Ipv4View, int_to_ip, ttl_decreased


#: the routes a locally generated packet cannot take, and the errno its socket sees
_UNROUTABLE = {"blackhole": errno.EINVAL, "unreachable": errno.EHOSTUNREACH, "prohibit": errno.EACCES}

#: ``IP_MTU_DISCOVER``'s values: never DF; DF when the packet fits the path MTU (the
#: default, ``ip_no_pmtu_disc`` 0); always DF, refusing with EMSGSIZE what does not fit;
#: always DF, held to the device's MTU and never to a learned path MTU
IP_PMTUDISC_DONT, IP_PMTUDISC_WANT, IP_PMTUDISC_DO, IP_PMTUDISC_PROBE = 0, 1, 2, 3


class Ipv4:
    """One namespace's IPv4 input, forwarding and output.

    ``protocols`` is ``inet_protos``: IP protocol number -> handler(dev, frame, ipv,
    broadcast), filled by :meth:`inet_add_protocol` (ICMP, UDP and TCP as the namespace
    starts; IPIP when tunl0 comes up)."""

    def __init__(self, ns):
        self.ns = ns
        self.sim = ns.sim
        self.fib = ns.fib
        self.neigh = ns.neigh
        #: the namespace's addresses and sysctls (its dicts, which it keeps current)
        self.local_ips = ns.local_ips
        self.sysctl = ns.sysctl
        self.nf = ns.netfilter
        self.protocols = {}
        #: the ``Ip:`` counters of ``/proc/net/snmp`` this layer keeps (fragments)
        self.stats = Counter()
        self.defrag = IpDefrag(ns, self.stats, self._defrag_drop, self._defrag_expired)
        self._defrag_at = (None, None)
        self._defrag_dropped = False
        #: where the last local send stopped: the MTU a DO socket was refused at
        self.emsgsize_mtu = 0

    def forwarding(self, dev) -> bool:
        """``IN_DEV_FORWARD``: ``net.ipv4.conf.<dev>.forwarding``, which follows
        ``ip_forward`` unless set on the device."""
        fwd = dev.conf.get("forwarding")
        return bool(self.sysctl["net.ipv4.ip_forward"] if fwd is None else fwd)

    def accept_local(self, dev) -> bool:
        """``IN_DEV_ACCEPT_LOCAL``: the device's ``accept_local`` or ``conf.all``'s."""
        return bool(dev.conf.get("accept_local") or self.sysctl.get("net.ipv4.conf.all.accept_local"))

    def inet_add_protocol(self, proto: int, handler) -> None:
        """``inet_add_protocol``: packets of IP protocol ``proto`` delivered here go to
        ``handler(dev, frame, ipv, broadcast)``; a protocol already taken stays with its
        first handler."""
        self.protocols.setdefault(proto, handler)

    # -- input --------------------------------------------------------------
    def ip_rcv(self, dev, frame: Frame, off: int, broadcast: bool) -> None:
        """``ip_rcv`` → ``ip_rcv_finish``: validate, route, deliver or forward.

        A packet that arrives on a real device is routed by ``ip_route_input_slow``,
        which refuses a *martian source*: a multicast, limited broadcast, zero or loopback
        source (``IP_INVALID_SOURCE``), and, wherever a route is found (local, broadcast,
        forwarded), one of this namespace's own addresses unless ``accept_local``
        (``IP_LOCAL_SOURCE``: ``fib_validate_source`` with rp_filter off).  What comes in on
        ``lo`` was routed on the way out and is not looked at again."""
        try:
            # the header checksum of a frame the sending stack's IP output built is right by
            # construction (Frame.csum_level)
            ipv = Ipv4View.check(frame.data, off, verify=not frame.csum_level)
        except Malformed as e:
            self.ns.count_drop(e.reason, dev, frame, e.detail)
            return
        pkt = reasm = None
        if self.nf.active:
            # NF_INET_PRE_ROUTING, unless a bridge's br_netfilter ran it on this frame already
            pkt = self.nf.bridged.pop(frame, None) if self.nf.bridged else None
            if pkt is None:
                if ipv.is_fragment and self.nf.tracking:
                    # nf_defrag_ipv4, ahead of every table (priority -400)
                    got = self.ip_defrag(dev, frame, ipv, IP_DEFRAG_CONNTRACK_IN)
                    if got is None:
                        return
                    frame, ipv, reasm = got
                    off = 0
                pkt = self.nf.packet(frame.data[off:ipv.end], frame.pid)
                pkt.reasm = reasm
                before = pkt.data
                if not self.nf_hook(NF_INET_PRE_ROUTING, pkt, dev, None, dev, frame):
                    return
                if pkt.data is not before:
                    frame, ipv = self.nf_rewritten(frame, off, pkt)
            else:
                reasm = pkt.reasm
        dst = ipv.daddr
        if not dev.loopback:
            src = ipv.saddr
            s8 = src >> 24
            if s8 >= 224 or s8 == 127 or (s8 == 0 and dst != 0xFFFFFFFF):
                self.ns.count_drop("IP_INVALID_SOURCE", dev, frame, f"martian source {int_to_ip(src)}")
                return
            if src in self.local_ips and not self.accept_local(dev):
                r = self.fib.lookup(dst)
                # validated where the kernel validates: local or broadcast delivery, and a
                # unicast route it forwards on (no route or forwarding off fail earlier)
                if dst == 0xFFFFFFFF or (r is not None and (r.type in ("local", "broadcast") or (
                        r.type == "unicast" and self.forwarding(dev)))):
                    self.ns.count_drop("IP_LOCAL_SOURCE", dev, frame,
                                       f"martian source {int_to_ip(src)}: our own address, received "
                                       f"on {dev.name} (accept_local=0)")
                    return
        if dst in self.local_ips or dst == 0xFFFFFFFF:
            self.ip_local_deliver(dev, frame, ipv, dst == 0xFFFFFFFF, pkt)
            return
        # the local table, then main (one probe of the FIB's per-destination memory)
        r = self.fib.lookup(dst)
        if r is not None and r.table == "local":
            if r.type == "broadcast" and r.dst.prefixlen == 32:
                self.ip_local_deliver(dev, frame, ipv, True, pkt)
                return
            if r.type == "local":
                # RTN_LOCAL covers prefixes too: 127.0.0.0/8 on lo, AnyIP routes
                self.ip_local_deliver(dev, frame, ipv, False, pkt)
                return
            r = self.fib.main.lookup(dst)   # a local-table route of another kind: main decides
        if broadcast or dst >> 28 == 0xE:
            self.ns.count_drop("OTHERHOST", dev, frame, "link-layer broadcast for another host")
            return
        if not self.forwarding(dev):
            self.ns.count_drop("IP_INADDRERRORS", dev, frame,
                               f"{int_to_ip(dst)} is not ours and ip_forward=0")
            return
        self.ip_forward(dev, frame, ipv, r, pkt, reasm)

    # -- netfilter ----------------------------------------------------------
    def nf_hook(self, hook: int, pkt, indev, outdev, dev, frame) -> bool:
        """``NF_HOOK``: run netfilter's ``hook`` on ``pkt``; False if it did not accept the
        packet (a drop is counted as ``NETFILTER_DROP``, naming the table, chain and rule).
        ``dev`` and ``frame`` say where to report the drop and the notes."""
        verdict = self.nf.nf_hook(hook, pkt, indev, outdev)
        if pkt.notes:
            for text in pkt.notes:
                self.ns.note(dev, frame, f"netfilter: {text}")
            pkt.notes.clear()
        if verdict == NF_ACCEPT:
            return True
        if verdict == 0:
            self.ns.count_drop("NETFILTER_DROP", dev, frame, pkt.why or "netfilter", pkt.pid)
        return False

    @staticmethod
    def nf_rewritten(frame: Frame, off: int, pkt):
        """The frame and header view after netfilter rewrote the packet (NAT): its
        checksums were updated incrementally, so a receiver checks them again."""
        frame = frame.derive(frame.data[:off] + pkt.data)
        return frame, Ipv4View(frame.data, off)

    def ip_local_deliver(self, dev, frame: Frame, ipv: Ipv4View, broadcast: bool, pkt=None) -> None:
        """``ip_local_deliver`` → ``ip_protocol_deliver_rcu``: NF_INET_LOCAL_IN, then the
        handler ``inet_protos`` has for the packet's protocol, or protocol unreachable."""
        if ipv.is_fragment:
            got = self.ip_defrag(dev, frame, ipv, IP_DEFRAG_LOCAL_DELIVER)
            if got is None:
                return
            frame, ipv, _ = got
            pkt = None
        if self.nf.active:
            if pkt is None:
                pkt = self.nf.packet(frame.data[ipv.off:ipv.end], frame.pid)
            before = pkt.data
            if not self.nf_hook(NF_INET_LOCAL_IN, pkt, dev, None, dev, frame):
                return
            if pkt.data is not before:
                frame, ipv = self.nf_rewritten(frame, ipv.off, pkt)
        try:
            handler = self.protocols[ipv.proto]
        except KeyError:
            self.ns.count_drop("UNHANDLED_PROTO", dev, frame, f"IP protocol {ipv.proto}")
            if not broadcast:
                self.ns.icmp.send_error(ipv.packet(), 3, 2, 0, frame.pid)
            return
        handler(dev, frame, ipv, broadcast)

    # -- fragments ----------------------------------------------------------
    def ip_defrag(self, dev, frame: Frame, ipv: Ipv4View, user: int):
        """``ip_defrag`` for the fragment ``ipv`` in ``frame``: ``(frame, view, Reassembled)``
        for the datagram it completed (a bare IP packet, its header checksum written here),
        or None: queued, or dropped and counted."""
        self._defrag_at = (dev, frame)
        self._defrag_dropped = False
        got = self.defrag.defrag(bytes(frame.data[ipv.off:ipv.end]), user, frame.pid, dev)
        self._defrag_at = (None, None)
        if got is None:
            if self.sim.observers and not self._defrag_dropped:
                self.ns.note(dev, frame, f"fragment ID {ipv.ident:#06x} at {ipv.frag_offset} queued for "
                                         f"reassembly")
            return None
        f = Frame(got.packet, got.pid, LINKTYPE_RAW, CSUM_IP)
        if self.sim.observers:
            self.ns.note(dev, frame, f"reassembled: {len(got.packet)} bytes from {len(got.pieces)} fragments "
                                     f"(ID {ipv.ident:#06x})")
        return f, Ipv4View(f.data, 0), got

    def _defrag_drop(self, reason: str, detail: str, count: int) -> None:
        dev, frame = self._defrag_at
        self._defrag_dropped = True
        for _ in range(count):
            self.ns.count_drop(reason, dev, frame, detail, None if frame is not None else 0)

    def _defrag_expired(self, q) -> None:
        """``ip_expire``'s ICMP: time exceeded, fragment reassembly time exceeded, quoting the
        first fragment, sent by an end host (a conntrack queue only for a local destination)."""
        if not q.first_in:
            return
        dev, first = q.first_frame
        if q.key[0] != IP_DEFRAG_LOCAL_DELIVER:
            r = self.fib.lookup(q.key[2])
            if r is None or r.type != "local":
                return
        self.ns.icmp.send_error(first, 11, 1, 0, q.pids[0] if q.pids else 0)

    def ip_finish_output(self, dev, nexthop: int, packet: bytes, pid: int, note, csum_level: int,
                         mtu: int, reasm=None, ignore_df: bool = False) -> bool:
        """``ip_finish_output`` → ``ip_fragment``: a packet longer than ``mtu``, or one this
        host reassembled (``reasm``, cut back to its largest piece), is fragmented; one with
        DF that may not be (``ignore_df`` clear, or a piece larger than ``mtu``) is dropped
        (``FragFails``) and its sender told with fragmentation needed.  False if it was."""
        if reasm is None and len(packet) <= mtu:
            self.ip_finish_output2(dev, nexthop, packet, pid, note, csum_level)
            return True
        df = packet[6] & 0x40
        if df and (not ignore_df or (reasm is not None and reasm.frag_max_size > mtu)):
            self.stats["FragFails"] += 1
            self.ns.count_drop("PKT_TOO_BIG", dev, Frame(packet, pid, LINKTYPE_RAW),
                               f"{len(packet)} bytes with DF > MTU {mtu} of {dev.name}")
            self.ns.icmp.send_error(packet, 3, 4, mtu, pid)
            return False
        if reasm is not None:
            mtu = min(mtu, reasm.frag_max_size)
        pieces = ip_do_fragment(packet, mtu, reasm, reasm is not None and reasm.frag_pmtu)
        self.stats["FragOKs"] += 1
        self.stats["FragCreates"] += len(pieces)
        for i, piece in enumerate(pieces):
            self.ip_finish_output2(dev, nexthop, piece, pid,
                                   None if note is None else f"{note}; fragment {i + 1}/{len(pieces)} (MTU {mtu})",
                                   CSUM_IP)
        return True

    # -- forward ------------------------------------------------------------
    def ip_forward(self, dev, frame: Frame, ipv: Ipv4View, r, pkt=None, reasm=None) -> None:
        """``ip_route_input`` then ``ip_forward``: with ``r``, the main table's route for the
        destination (None: no route), check TTL and MTU, then out through the neighbour
        layer.  The route comes first, as in ``ip_rcv_finish``: a packet with TTL 1 to an
        unroutable address earns "net unreachable", not "time exceeded" (the kernel test
        ``test_icmp_errors_of_routers_on_the_host_gw_path`` shows it).  ``reasm``: conntrack
        reassembled the packet in PREROUTING; it leaves in pieces again."""
        dst = ipv.daddr
        if r is None:
            self.ns.count_drop("IP_NOROUTE", dev, frame, f"no route to {int_to_ip(dst)}")
            self.ns.icmp.ip_error(ipv.packet(), 0, frame.pid)
            return
        if r.type != "unicast":
            self.ns.count_drop("IP_NOROUTE", dev, frame, f"{r.type} route {r.dst}")
            if r.type == "unreachable":
                self.ns.icmp.ip_error(ipv.packet(), 1, frame.pid)
            elif r.type == "prohibit":
                self.ns.icmp.ip_error(ipv.packet(), 13, frame.pid)
            return
        if ipv.ttl <= 1:
            self.ns.count_drop("TTL_EXPIRED", dev, frame, f"TTL {ipv.ttl} at {self.ns.name}")
            self.ns.icmp.send_error(ipv.packet(), 11, 0, 0, frame.pid)
            return
        out = r.dev
        mtu = out.mtu   # ip_dst_mtu_maybe_forward: the device's, not a learned path MTU
        # ip_exceeds_mtu: too long with DF, unless conntrack reassembled it (ignore_df) from
        # pieces that each fit
        if ipv.total_length > mtu and ipv.df and (reasm is None or reasm.frag_max_size > mtu):
            self.stats["FragFails"] += 1
            self.ns.count_drop("PKT_TOO_BIG", dev, frame,
                               f"{ipv.total_length} bytes with DF > MTU {mtu} of {out.name}")
            self.ns.icmp.send_error(ipv.packet(), 3, 4, mtu, frame.pid)
            return
        nh = r.gateway or dst
        note = None   # what the hop decided is written only when someone observes
        if self.sim.observers:
            hop = f"route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
            self.ns.note(dev, frame, f"forward: {hop}")
            note = f"forwarded: {hop}"
        packet = ttl_decreased(frame.data, ipv.off, ipv.end)
        if self.nf.active:
            # NF_INET_FORWARD sees the TTL already decreased, then ip_output's POSTROUTING
            if pkt is None:
                pkt = self.nf.packet(packet, frame.pid)
            else:
                pkt.data = packet
                pkt.reparse()
            pkt.nexthop = nh
            if not self.nf_hook(NF_INET_FORWARD, pkt, dev, out, dev, frame) or \
                    not self.nf_hook(NF_INET_POST_ROUTING, pkt, None, out, dev, frame):
                return
            packet = pkt.data
        # the header is right (written or checked, then patched incrementally); whatever the
        # sender vouched for beyond it, the forwarded bytes still carry
        if reasm is None and len(packet) <= mtu:
            self.ip_finish_output2(out, nh, packet, frame.pid, note, frame.csum_level or CSUM_IP)
            return
        self.ip_finish_output(out, nh, packet, frame.pid, note, frame.csum_level or CSUM_IP, mtu, reasm,
                              reasm is not None)

    # -- output -------------------------------------------------------------
    def ip_select_ident(self, dst: bytes) -> int:
        """An IP ID for a packet we send (``ip_select_ident``: the kernel hashes, we draw
        from the seeded RNG)."""
        return self.sim.rng.getrandbits(16)

    def ip_send(self, src, dst: bytes, proto: int, payload: bytes, pid: int, ttl: int = None,
                tos: int = 0, df: bool = False, ident: int = None, note: str = "",
                pmtudisc: int = None) -> int:
        """Build and route a locally generated IP packet: what ``ip_queue_xmit`` (TCP),
        ``ip_send_skb`` (UDP, ping, ICMP) and ``ip_build_and_send_pkt`` (a SYN-ACK) do.

        ``src`` None means "the route's preferred source".  Returns 0 or an errno, as
        the sending socket would see it.

        ``df`` is DF as ``ip_queue_xmit`` sets it (TCP): a packet with DF longer than the
        path MTU is not sent, and this namespace tells itself with fragmentation needed.
        ``pmtudisc`` (``IP_PMTUDISC_*``) is what ``ip_append_data`` does for a datagram
        socket instead: with DO, a packet longer than the path MTU is refused with
        EMSGSIZE (:attr:`emsgsize_mtu` says the MTU, as ``ip_local_error`` does); with
        PROBE, the same against the device's MTU, whatever path MTU was learned; with
        WANT, DF is set when it fits, and it is fragmented, DF clear, when it does not;
        with DONT, never DF."""
        d = int.from_bytes(dst, "big")
        r = self.fib.lookup(d)
        if r is None or r.type in _UNROUTABLE:
            return self._no_route(d, r, pid, note)
        if src is None:
            src = self.fib.source_for(d)
        ttl = self.sysctl["net.ipv4.ip_default_ttl"] if ttl is None else ttl
        local = r.type in ("local", "broadcast") and (r.type == "local" or r.dev.loopback)
        out = self.ns.lo if local else r.dev
        # dst_mtu: the device's, unless a path MTU was learned (a dict test while none is);
        # a PROBE socket ignores what was learned (ip_sk_use_pmtu)
        mtu = self.fib.mtu(d, r) if self.fib.exceptions and not local and pmtudisc != IP_PMTUDISC_PROBE \
            else out.mtu
        if pmtudisc is not None:
            if len(payload) + 20 > mtu:
                if pmtudisc >= IP_PMTUDISC_DO:
                    # ip_append_data refuses it before a packet exists (ip_local_error); counted
                    # here all the same, so that a trace can say why nothing left
                    self.emsgsize_mtu = mtu
                    self.ns.count_drop("PKT_TOO_BIG", out, None, f"{len(payload) + 20} bytes > MTU {mtu} of "
                                       f"{out.name}, DF demanded (IP_PMTUDISC_DO): EMSGSIZE", pid)
                    return errno.EMSGSIZE
                df = False
            else:
                df = pmtudisc != IP_PMTUDISC_DONT
            if ident is None and df and pmtudisc >= IP_PMTUDISC_DO:
                # ip_select_ident_segs: DF without ignore_df (a DO or PROBE socket's) from
                # an unconnected socket is sent with ID 0
                ident = 0
        if ident is None:
            ident = self.ip_select_ident(dst)
        packet = Ipv4View.emit(src, dst, proto, len(payload), ident, ttl, tos, df) + payload
        observed = bool(self.sim.observers)
        hooked = ""
        if self.nf.active:
            pkt = self.nf.packet(packet, pid)
            verdict = self.nf.nf_hook(NF_INET_LOCAL_OUT, pkt, None, out)
            if verdict == NF_ACCEPT and pkt.daddr != d:
                # a DNAT in OUTPUT: ip_route_me_harder routes the packet again
                d = pkt.daddr
                r = self.fib.lookup(d)
                if r is None or r.type in _UNROUTABLE:
                    return self._no_route(d, r, pid, note)
                local = r.type in ("local", "broadcast") and (r.type == "local" or r.dev.loopback)
                out = self.ns.lo if local else r.dev
                mtu = out.mtu if local else self.fib.mtu(d, r)
            if verdict == NF_ACCEPT:
                pkt.nexthop = d if local else (r.gateway or d)
                verdict = self.nf.nf_hook(NF_INET_POST_ROUTING, pkt, None, out)
            route = f"route local {int_to_ip(d)} dev lo" if local else \
                f"route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
            hooked = self._nf_out_notes(pkt, verdict, f"{note}; {route}", out)
            if verdict != NF_ACCEPT:
                return errno.EPERM
            packet = pkt.data
        if local:
            self.ip_finish_output2(self.ns.lo, d, packet, pid,
                                   f"{note}; route local {int_to_ip(d)} dev lo{hooked}" if observed else None,
                                   CSUM_L4)
            return 0
        nh = r.gateway or d
        # the header is ours and so is the payload's checksum (every caller builds it with
        # the wire module's emitters); one that does not fit goes through ip_fragment
        said = f"{note}; route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}{hooked}" \
            if observed else None
        if len(packet) <= mtu:
            self.ip_finish_output2(out, nh, packet, pid, said, CSUM_L4)
        else:
            self.ip_finish_output(out, nh, packet, pid, said, CSUM_L4, mtu)
        return 0

    def _nf_out_notes(self, pkt, verdict: int, said: str, out) -> str:
        """What OUTPUT and POSTROUTING did to a packet this namespace sends, said after what
        the packet's own note says (what was sent, its route: the kernel routes before
        OUTPUT): ``"; netfilter: ..."`` parts for the note that goes with the frame, or,
        when a hook did not accept the packet, that note on its own followed by the drop,
        counted as ``NETFILTER_DROP``."""
        text = "".join(f"; netfilter: {n}" for n in pkt.notes) if pkt.notes else ""
        if verdict == NF_ACCEPT:
            return text
        if pkt.notes is not None:
            self.ns.note(out, Frame(pkt.data, pkt.pid, LINKTYPE_RAW), f"{said}{text}".lstrip("; "))
        if verdict == 0:
            self.ns.count_drop("NETFILTER_DROP", out, None, pkt.why or "netfilter", pkt.pid)
        return text

    def ip_local_out(self, out, nexthop: int, packet: bytes, pid: int, note: str, csum_level: int,
                     mtu: int) -> bool:
        """``ip_local_out`` for a packet a device built and routed itself (a tunnel's outer
        packet): NF_INET_LOCAL_OUT and NF_INET_POST_ROUTING, then out of ``out`` to
        ``nexthop``, fragmented to ``mtu`` if it must be.  False if netfilter did not let it
        through."""
        if self.nf.active:
            pkt = self.nf.packet(packet, pid)
            pkt.nexthop = nexthop
            verdict = self.nf.nf_hook(NF_INET_LOCAL_OUT, pkt, None, out)
            if verdict == NF_ACCEPT:
                verdict = self.nf.nf_hook(NF_INET_POST_ROUTING, pkt, None, out)
            hooked = self._nf_out_notes(pkt, verdict, note or "", out)
            if verdict != NF_ACCEPT:
                return False
            packet = pkt.data
            if note is not None:
                note += hooked
        return self.ip_finish_output(out, nexthop, packet, pid, note, csum_level, mtu)

    def _no_route(self, d: int, r, pid: int, note: str) -> int:
        """A locally generated packet with no route (``r`` None) or an unreachable kind of
        route: dropped and counted, and the errno the sending socket sees."""
        # the drop names what was being sent: an ICMP error that cannot be routed back still
        # says which packet it was about
        what = f" ({note})" if note else ""
        if r is None:
            self.ns.count_drop("IP_NOROUTE", None, None,
                               f"no route to {int_to_ip(d)} from {self.ns.name}{what}", pid)
            return errno.ENETUNREACH
        self.ns.count_drop("IP_NOROUTE", None, None, f"{r.type} route for {int_to_ip(d)}{what}", pid)
        return _UNROUTABLE[r.type]

    def ip_finish_output2(self, dev, nexthop: int, packet: bytes, pid: int, note: str,
                          csum_level: int = CSUM_IP) -> None:
        """``ip_finish_output2``: add the link-layer header, resolving the neighbour if needed.
        Every packet that gets here has an IPv4 header this stack wrote or checked; ``csum_level``
        says how many checksums, that header's first, are right by construction."""
        if dev.linktype == LINKTYPE_RAW:
            dev.l3_xmit(nexthop, Frame(packet, pid, LINKTYPE_RAW, csum_level), note)
        elif dev.noarp:
            dst_mac = ZERO_MAC if dev.loopback else BROADCAST_MAC
            self.neigh.hh_output(dev, dst_mac, packet, pid, note, csum_level)
        else:
            self.neigh.output(dev, nexthop, packet, pid, note, csum_level)


__all__ = ["Ipv4"]
