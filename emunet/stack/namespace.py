"""A network namespace: one Linux network stack.

Holds devices, addresses, the ``local`` and ``main`` routing tables, the
neighbour table, ICMP, UDP and TCP, sysctls and processes, and runs the IPv4
pipeline with the kernel's names:

``netif_receive`` → ``arp_rcv`` | ``ip_rcv`` → ``ip_local_deliver`` |
``ip_forward`` → ``ip_output`` → ``neigh.output`` → ``dev.xmit``.

Every drop is counted under a reason named after the kernel's
``skb_drop_reason``; malformed input is dropped, never raised.
"""
import errno
import ipaddress
from collections import Counter

import attrs

from emunet.devices.base import NetDevice
from emunet.devices.loopback import Loopback
from emunet.stack.icmp import Icmp
from emunet.stack.neigh import NeighTable
from emunet.stack.route import Route, RoutingTable, parse_prefix
from emunet.stack.tcp import Tcp
from emunet.stack.udp import Udp
from emunet.wire.arp import ARPOP_REPLY, ARPOP_REQUEST, ArpView
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import (BROADCAST_MAC, ETH_P_ARP, ETH_P_IP, EthernetView,
                                  mac_to_str)
from emunet.wire.frame import CSUM_IP, CSUM_L4, LINKTYPE_ETHERNET, LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, Ipv4View,
                              int_to_ip, ip_to_int, ttl_decreased)

_ETHER_IP = ETH_P_IP.to_bytes(2, "big")


@attrs.define(eq=False)
class IfAddr:
    """One address of ``ip addr`` (``struct in_ifaddr``)."""

    dev: NetDevice
    ip: ipaddress.IPv4Address
    prefixlen: int
    broadcast: ipaddress.IPv4Address = None
    scope: str = "global"
    peer: ipaddress.IPv4Address = None
    label: str = None

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.ip}/{self.prefixlen}", strict=False)

    @property
    def netmask(self) -> ipaddress.IPv4Address:
        return self.network.netmask


class Namespace:
    """One network stack (``struct net``), with ``lo`` created as the kernel does."""

    def __init__(self, sim, name: str):
        if not name or "/" in name or " " in name:
            raise ValueError(f"invalid namespace name {name!r}")
        self.sim = sim
        self.name = name
        self.devices = {}
        self._next_ifindex = 1
        self.addrs = []
        # what route_lookup and source_for decided, per destination, until a table, an
        # address or a device's state changes (the kernel caches a dst on the socket)
        self._fib = {}
        self._sources = {}
        self.local_table = RoutingTable("local", on_change=self._forget_routes)
        self.main_table = RoutingTable("main", on_change=self._forget_routes)
        self.tables = {"local": self.local_table, "main": self.main_table}
        self.sysctl = {"net.ipv4.ip_forward": 0, "net.ipv4.ip_default_ttl": 64,
                       "net.ipv4.conf.all.arp_accept": 0}
        self.neigh = NeighTable(self)
        self.icmp = Icmp(self)
        self.udp = Udp(self)
        self.tcp = Tcp(self)
        self.processes = []
        #: command-line tools a control plane installed here, for ``emunet show`` (``birdc``,
        #: ``docker``): name -> (run(args) -> what it prints, its usage line)
        self.commands = {}
        #: extra IP protocol handlers (``inet_add_protocol``), e.g. IPIP for tunl0
        self.protocols = {}
        self.drop_reasons = Counter()
        self.hostname = name
        #: the namespace of the machine this one runs on (a container's host), for pictures
        self.parent = None
        self._local_ips = {}
        self._ident = {}
        sim.register(self)
        self.lo = self.add_device(Loopback(sim))
        self.lo.set_up()
        self.addr_add("lo", "127.0.0.1/8", scope="host")

    def __repr__(self):
        return f"<Namespace {self.name}>"

    # -- devices ------------------------------------------------------------
    def add_device(self, dev: NetDevice, ifindex: int = None) -> NetDevice:
        """Put ``dev`` in this namespace (``ip link add`` / ``ip link set DEV netns NS``)."""
        if dev.name in self.devices:
            raise ValueError(f"RTNETLINK answers: File exists (a device named {dev.name!r} "
                             f"is already in namespace {self.name!r})")
        if dev.ns is not None:
            dev.ns.remove_device(dev)
        wanted = ifindex or dev.ifindex
        used = {d.ifindex for d in self.devices.values()}
        if not wanted or wanted in used:
            wanted = self._next_ifindex
            while wanted in used:
                wanted += 1
        dev.ifindex = wanted
        self._next_ifindex = max(self._next_ifindex, wanted + 1)
        dev.ns = self
        self.devices[dev.name] = dev
        return dev

    def remove_device(self, dev: NetDevice) -> None:
        for a in [a for a in self.addrs if a.dev is dev]:
            self.addr_del(dev.name, f"{a.ip}/{a.prefixlen}")
        for t in self.tables.values():
            t.delete_dev(dev)
        self.neigh.flush_dev(dev)
        del self.devices[dev.name]
        dev.ns = None

    def dev(self, name) -> NetDevice:
        if isinstance(name, NetDevice):
            return name
        try:
            return self.devices[name]
        except KeyError:
            raise KeyError(f"Cannot find device \"{name}\" in namespace {self.name!r} "
                           f"(devices: {', '.join(self.devices)})") from None

    def alloc_ifindex(self) -> int:
        i = self._next_ifindex
        self._next_ifindex += 1
        return i

    def routes_changed(self) -> None:
        """Routes, addresses or a device's state changed: every cached decision goes."""
        for t in self.tables.values():
            t.invalidate()
        self._forget_routes()

    def _forget_routes(self) -> None:
        self._fib.clear()
        self._sources.clear()

    # -- addresses ----------------------------------------------------------
    def addr_add(self, dev, cidr: str, scope: str = "global", broadcast: bool = True,
                 noprefixroute: bool = False, peer: str = None) -> IfAddr:
        """``ip addr add CIDR dev DEV`` with the routes the kernel adds for it."""
        dev = self.dev(dev)
        iface = ipaddress.IPv4Interface(cidr)
        ip, net = iface.ip, iface.network
        key = int(ip)
        if key in self._local_ips:
            other = self._local_ips[key]
            raise ValueError(f"RTNETLINK answers: File exists (address {ip} is already on "
                             f"{other.dev.name} in namespace {self.name!r})")
        for a in self.addrs:
            # the same subnet on two devices is a misconfiguration; nested ones are normal
            # (flannel0 carries 100.96.1.0/16 while docker0 has 100.96.1.1/24)
            if a.dev is not dev and a.network == net and net.prefixlen < 32 and not dev.loopback:
                raise ValueError(f"subnet {net} of {ip} on {dev.name} overlaps {a.network} "
                                 f"on {a.dev.name} in namespace {self.name!r}")
        bcast = net.broadcast_address if (broadcast and net.prefixlen < 31) else None
        a = IfAddr(dev, ip, net.prefixlen, bcast, scope, ipaddress.IPv4Address(peer) if peer else None)
        self.addrs.append(a)
        self._local_ips[key] = a
        # the local table: the address itself, and the broadcast address
        self.local_table.add(Route(ipaddress.IPv4Network(f"{ip}/32"), dev=dev, src=str(ip),
                                   scope="host", type="local", proto="kernel"), replace=True)
        if bcast is not None:
            self.local_table.add(Route(ipaddress.IPv4Network(f"{bcast}/32"), dev=dev, src=str(ip),
                                       scope="link", type="broadcast", proto="kernel"), replace=True)
        if dev.loopback:
            self.local_table.add(Route(net, dev=dev, src=str(ip), scope="host", type="local",
                                       proto="kernel"), replace=True)
        elif not noprefixroute and net.prefixlen < 32:
            self.main_table.add(Route(net, dev=dev, src=str(ip), scope="link", proto="kernel"),
                                replace=True)
        self.routes_changed()
        return a

    def addr_del(self, dev, cidr: str) -> None:
        dev = self.dev(dev)
        iface = ipaddress.IPv4Interface(cidr)
        for a in self.addrs:
            if a.dev is dev and a.ip == iface.ip:
                self.addrs.remove(a)
                del self._local_ips[int(a.ip)]
                for t in self.tables.values():
                    for r in [r for r in t if r.dev is dev and r.src == str(a.ip) and r.proto == "kernel"]:
                        t.delete(r.dst, dev=dev, metric=r.metric)
                self.routes_changed()
                return
        raise LookupError(f"RTNETLINK answers: Cannot assign requested address ({cidr} not on {dev.name})")

    def addresses(self, dev=None) -> list:
        dev = self.dev(dev) if dev is not None else None
        return [a for a in self.addrs if dev is None or a.dev is dev]

    def is_local_address(self, ip: int) -> bool:
        return ip in self._local_ips

    def is_broadcast_or_multicast(self, ip: int) -> bool:
        if ip == 0xFFFFFFFF or (ip >> 28) == 0xE:
            return True
        r = self.local_table.lookup(ip)
        return r is not None and r.type == "broadcast" and r.dst.prefixlen == 32

    def select_source(self, dev: NetDevice, dst: int) -> bytes:
        """``inet_select_addr``: the primary address of ``dev`` in ``dst``'s subnet, else any."""
        best = None
        for a in self.addrs:
            if a.dev is dev and a.scope != "host":
                if (int(a.ip) ^ dst) >> (32 - a.prefixlen) == 0 if a.prefixlen else True:
                    return a.ip.packed
                best = best or a.ip.packed
        if best is None:
            for a in self.addrs:
                if a.scope == "global":
                    return a.ip.packed
        return best or b"\0\0\0\0"

    # -- routes -------------------------------------------------------------
    def route_add(self, dst, dev=None, via: str = None, src: str = None, metric: int = 0,
                  scope: str = None, type: str = "unicast", proto: str = "boot",
                  onlink: bool = False, table: str = "main", replace: bool = False) -> Route:
        """``ip route add``, with the kernel's checks: the device must exist and a gateway
        must be reachable on it (unless ``onlink``)."""
        net = parse_prefix(dst)
        d = self.dev(dev) if dev is not None else None
        if via is not None:
            gw = ip_to_int(via)
            if not onlink:
                gw_route = self.main_table.lookup(gw)
                if gw_route is None or gw_route.via is not None or gw_route.type != "unicast" or \
                        (d is not None and gw_route.dev is not d):
                    raise ValueError(f"Error: Nexthop has invalid gateway. (route {dst} via {via}"
                                     f"{' dev ' + d.name if d else ''} in namespace {self.name!r}: "
                                     f"{via} is not on a directly connected network)")
                if d is None:
                    d = gw_route.dev
        elif d is None and type == "unicast":
            raise ValueError(f"route {dst}: a unicast route needs a device or a gateway")
        if scope is None:
            scope = "link" if (via is None and type == "unicast") else "universe"
            if type in ("blackhole", "unreachable", "prohibit"):
                scope = "universe"
        table_obj = self.tables.get(table)
        if table_obj is None:
            table_obj = self.tables[table] = RoutingTable(table)
        r = table_obj.add(Route(net, d, via, src, metric, scope, type, proto, onlink), replace=replace)
        self.routes_changed()
        return r

    def route_del(self, dst, dev=None, table: str = "main", metric: int = None) -> None:
        """``ip route del DST [dev DEV] [metric N] [table T]``: the first route that matches."""
        self.tables[table].delete(parse_prefix(dst), dev=self.dev(dev) if dev else None, metric=metric)
        self.routes_changed()

    def route_lookup(self, dst: int):
        """The FIB lookup: the local table, then main (``fib_lookup`` with the default rules),
        remembered per destination until the routes change."""
        try:
            return self._fib[dst]
        except KeyError:
            pass
        r = self.local_table.lookup(dst)
        if r is None:
            r = self.main_table.lookup(dst)
        self._fib[dst] = r
        return r

    def source_for(self, dst: int):
        """The source address a socket sending to ``dst`` gets (``ip route get`` ... ``src``),
        remembered per destination until the routes or addresses change."""
        try:
            return self._sources[dst]
        except KeyError:
            pass
        src = self._sources[dst] = self._select_source_for(dst)
        return src

    def _select_source_for(self, dst: int):
        r = self.route_lookup(dst)
        if r is None or r.type in ("blackhole", "unreachable", "prohibit"):
            return None
        if r.type == "local":
            return dst.to_bytes(4, "big")
        if r.src:
            return ip_to_int(r.src).to_bytes(4, "big")
        nh = r.gateway or dst
        return self.select_source(r.dev, nh)

    def route_get(self, dst: str) -> str:
        """What ``ip route get DST`` prints."""
        d = ip_to_int(dst)
        dst = int_to_ip(d)
        if d == 0:
            return "local 0.0.0.0 dev lo src 127.0.0.1 uid 0 \n    cache <local> "
        r = self.route_lookup(d)
        if r is None or r.type in ("blackhole", "unreachable", "prohibit"):
            kind = {"blackhole": "Invalid argument", "unreachable": "No route to host",
                    "prohibit": "Permission denied"}.get(r.type if r else "", "Network is unreachable")
            return f"RTNETLINK answers: {kind}"
        # kernel 6.18 + iproute2 6.1 print no "table local" here, and a local route's
        # preferred source is the source (127.1.2.3 → src 127.0.0.1)
        if r.type == "local":
            return f"local {dst} dev lo src {r.src or dst} uid 0 \n    cache <local> "
        src = int_to_ip(int.from_bytes(self.source_for(d), "big"))
        if r.type == "broadcast" or d == 0xFFFFFFFF:
            return f"broadcast {dst} dev {r.dev.name} src {src} uid 0 \n    cache <local,brd> "
        if d >> 28 == 0xE:
            cache = "<local,mc>" if d == 0xE0000001 else "<mc>"  # 224.0.0.1: joined by all
            return f"multicast {dst} dev {r.dev.name} src {src} rt_offload_failed uid 0 \n    cache {cache} "
        via = f" via {r.via}" if r.via else ""
        return f"{dst}{via} dev {r.dev.name} src {src} uid 0 \n    cache "

    # -- sysctls and helpers -------------------------------------------------
    @property
    def ip_forward(self) -> bool:
        return bool(self.sysctl["net.ipv4.ip_forward"])

    def set_sysctl(self, key: str, value) -> None:
        """``sysctl -w KEY=VALUE``.  Per-device keys (``net.ipv4.conf.<dev>.*``,
        ``net.ipv4.neigh.<dev>.proxy_delay``) land on the device; the device name is
        everything between the prefix and the last dot (``flannel.1`` has one)."""
        for prefix in ("net.ipv4.conf.", "net.ipv4.neigh."):
            if key.startswith(prefix):
                devname, knob = key[len(prefix):].rsplit(".", 1)
                break
        else:
            devname = knob = None
        if key.startswith("net.ipv4.neigh.") and knob == "proxy_delay":
            # USER_HZ ticks (1/100 s), as proc_dointvec_userhz_jiffies reads it
            if devname == "default":
                self.neigh.params.proxy_delay_ns = int(value) * 10_000_000
            else:
                self.dev(devname).conf["proxy_delay_ms"] = int(value) * 10
            return
        if key.startswith("net.ipv4.conf.") and devname not in ("all", "default"):
            self.dev(devname).conf[knob] = int(value)
            return
        self.sysctl[key] = int(value)

    def count_drop(self, reason: str, dev, frame, detail: str = "", pid: int = None) -> None:
        """A drop in the stack (not on a device queue): counted per namespace.  ``pid``
        names the packet when there is no frame yet (a local send that found no route)."""
        self.drop_reasons[reason] += 1
        if self.sim.observers:
            if frame is None and pid is not None:
                frame = Frame(b"", pid, LINKTYPE_RAW)
            self.sim.drop(dev if dev is not None else self, frame, reason, detail)

    def note(self, dev, frame, text: str) -> None:
        if self.sim.observers and frame is not None:
            self.sim.note(dev, frame, text)

    def next_ident(self, dst: bytes) -> int:
        """An IP ID for a packet we send (``ip_select_ident``: the kernel hashes, we draw
        from the seeded RNG)."""
        return self.sim.rng.getrandbits(16)

    # -- receive ------------------------------------------------------------
    def netif_receive(self, dev: NetDevice, frame: Frame) -> None:
        """``__netif_receive_skb`` for a device with no rx_handler: classify and dispatch."""
        data = frame.data
        if frame.linktype == LINKTYPE_RAW:
            self.ip_rcv(dev, frame, 0, False)
            return
        if len(data) < 14:
            self.count_drop("PKT_TOO_SMALL", dev, frame, f"{len(data)}-byte frame")
            return
        dst = data[0:6]
        broadcast = False
        if dst != dev.mac:
            if dst[0] & 1:
                broadcast = True
            elif not dev.promisc and not dev.loopback:
                self.count_drop("OTHERHOST", dev, frame, f"to {mac_to_str(dst)}, not {dev.name}'s MAC")
                return
        etype = data[12:14]
        if etype == _ETHER_IP:
            self.ip_rcv(dev, frame, 14, broadcast)
        elif etype == b"\x08\x06":
            if dev.noarp:
                self.count_drop("ARP_NOARP", dev, frame, f"{dev.name} does no ARP")
                return
            self.arp_rcv(dev, frame)
        elif etype == b"\x81\x00" or etype == b"\x88\xa8":
            self.vlan_rcv(dev, frame)
        else:
            self.count_drop("UNHANDLED_PROTO", dev, frame, f"ethertype {int.from_bytes(etype, 'big'):#06x}")

    def vlan_rcv(self, dev: NetDevice, frame: Frame) -> None:
        """A tagged frame no VLAN device took: ``__netif_receive_skb_core``'s
        ``check_vlan_id`` (seen on kernel 6.18, which drops these the same way whether
        or not 8021q is built in, for want of a device with the VID):

        * VID 0 is an 802.1p priority tag: the frame is received as untagged (a second
          tag behind it is looked at again, as for QinQ);
        * any other VID marks the frame ``PACKET_OTHERHOST``: ``ip_rcv`` drops IP with
          ``OTHERHOST`` (the device's ``rx_otherhost_dropped``), ``arp_rcv`` consumes ARP
          without a drop reason ("do not tweak dropwatch on an ARP we will ignore"), and
          any other protocol has no handler (``UNHANDLED_PROTO``, ``rx_dropped``).
        """
        data = frame.data
        if len(data) < 20:
            # NetDevice.receive frees these before the taps; a frame that reaches the stack
            # another way (a bridge passing it up) meets the same check here
            self.count_drop("PKT_TOO_SMALL", dev, frame, f"{len(data)}-byte tagged frame (skb_vlan_untag)")
            return
        vid = ((data[14] & 0x0F) << 8) | data[15]
        inner = data[16:18]
        if vid == 0:
            self.note(dev, frame, "802.1p priority tag (VID 0): received as untagged")
            untagged = frame.derive(data[:12] + data[16:])
            vlans = dev.vlan_info
            if vlans is not None and vlans.receive(dev, untagged):
                return
            self.netif_receive(dev, untagged)
            return
        what = f"802.1Q VID {vid}: no VLAN device for it on {dev.name} (PACKET_OTHERHOST)"
        if inner == _ETHER_IP:
            self.count_drop("OTHERHOST", dev, frame, what)
        elif inner == b"\x08\x06":
            self.note(dev, frame, f"{what}: arp_rcv consumes it, no drop reason")
        else:
            self.count_drop("UNHANDLED_PROTO", dev, frame,
                            f"{what}, ethertype {int.from_bytes(inner, 'big'):#06x}")

    def arp_rcv(self, dev: NetDevice, frame: Frame) -> None:
        """``arp_rcv`` → ``arp_process``."""
        try:
            arp = ArpView.check(frame.data, 14)
        except Malformed as e:
            self.count_drop(e.reason, dev, frame, e.detail)
            return
        sip = int.from_bytes(arp.spa, "big")
        tip = int.from_bytes(arp.tpa, "big")
        op = arp.op
        sha = arp.sha
        if sip >> 28 == 0xE or tip >> 28 == 0xE or tip == 0x7F000001:
            self.count_drop("ARP_INVALID", dev, frame, "multicast or loopback address in ARP")
            return
        if op == ARPOP_REQUEST and sip == 0:
            # a duplicate address probe (RFC 5227): answer if it is ours, learn nothing
            if self._local_on(tip, dev):
                self._arp_reply(dev, frame, sha, 0, arp.tpa, "DAD probe for our address → reply")
            return
        if op == ARPOP_REQUEST and self._local_on(tip, dev):
            n = self.neigh.update(dev, sip, sha, "STALE", create=True)
            self._arp_reply(dev, frame, sha, sip, arp.tpa,
                            f"who-has {int_to_ip(tip)} (ours) → reply; neigh {int_to_ip(sip)} {n.state}")
            return
        if op == ARPOP_REQUEST and not self.is_local_address(tip) and self._proxy_arp(dev, frame, arp, sip, tip):
            return
        # a reply, or a request not for us: refresh an entry we have; never create one
        # (arp_accept=0, so a gratuitous ARP for an unknown address is ignored)
        is_reply_to_us = op == ARPOP_REPLY and frame.data[0:6] == dev.mac
        n = self.neigh.update(dev, sip, sha, "REACHABLE" if is_reply_to_us else "STALE",
                              create=bool(self.sysctl.get("net.ipv4.conf.all.arp_accept")))
        if not self.sim.observers:
            return
        if n is None:
            self.note(dev, frame, f"ARP from {int_to_ip(sip)}: no entry, ignored (arp_accept=0)")
        else:
            self.note(dev, frame, f"ARP {'reply' if op == ARPOP_REPLY else 'request'}: "
                                  f"neigh {int_to_ip(sip)} lladdr {mac_to_str(sha)} {n.state}")

    def forwarding(self, dev) -> bool:
        """``IN_DEV_FORWARD``: ``net.ipv4.conf.<dev>.forwarding``, which follows
        ``ip_forward`` unless set on the device."""
        fwd = dev.conf.get("forwarding")
        return bool(self.sysctl["net.ipv4.ip_forward"] if fwd is None else fwd)

    def _accept_local(self, dev) -> bool:
        """``IN_DEV_ACCEPT_LOCAL``: the device's ``accept_local`` or ``conf.all``'s."""
        return bool(dev.conf.get("accept_local") or self.sysctl.get("net.ipv4.conf.all.accept_local"))

    def _proxy_arp(self, dev, frame, arp, sip: int, tip: int) -> bool:
        """The proxy branch of ``arp_process``; True when the request was taken.

        The kernel answers for ``tip`` when the receiving device forwards
        (``IN_DEV_FORWARD``), has ``proxy_arp`` (or ``conf.all`` has it), and the route to
        ``tip`` is unicast and leaves through *another* device (``arp_fwd_proxy``).  It
        answers at once when the request was addressed to its own MAC (``PACKET_HOST``)
        or ``proxy_delay`` is 0; otherwise ``pneigh_enqueue`` holds the request for a
        random time below ``proxy_delay`` (0.8 s by default) and answers then."""
        if not (dev.conf.get("proxy_arp") or self.sysctl.get("net.ipv4.conf.all.proxy_arp")):
            return False
        if not self.forwarding(dev):
            return False
        r = self.route_lookup(tip)
        if r is None or r.type != "unicast" or r.dev is dev:
            return False
        sha = arp.sha
        self.neigh.update(dev, sip, sha, "STALE", create=True)
        delay = dev.conf.get("proxy_delay_ms")
        delay_ns = self.neigh.params.proxy_delay_ns if delay is None else delay * 1_000_000
        note = f"who-has {int_to_ip(tip)}: proxy ARP ({int_to_ip(tip)} via {r.dev.name}) → reply"
        if frame.data[0:6] == dev.mac or not delay_ns:
            self._arp_reply(dev, frame, sha, sip, arp.tpa, note)
        else:
            wait = self.sim.rng.randrange(delay_ns)
            self.note(dev, frame, f"who-has {int_to_ip(tip)}: proxy ARP, held {wait / 1e6:.1f} ms "
                                  f"(random below proxy_delay {delay_ns / 1e6:.0f} ms)")
            self.sim.after(wait, self._arp_reply, dev, frame, sha, sip, bytes(arp.tpa), note)
        return True

    def _local_on(self, ip: int, dev) -> bool:
        # arp_ignore=0: answer for any address of this namespace, on any interface
        return ip in self._local_ips and not self._local_ips[ip].dev.loopback

    def _arp_reply(self, dev, frame, tha: bytes, tip: int, spa: bytes, note: str) -> None:
        self.note(dev, frame, note)
        self.arp_send(dev, ARPOP_REPLY, dst_mac=tha, sha=dev.mac, spa=spa, tha=tha,
                      tpa=tip.to_bytes(4, "big"), note="arp reply")

    def arp_send(self, dev, op: int, dst_mac: bytes, sha: bytes, spa: bytes, tha: bytes,
                 tpa: bytes, note: str, pid: int = None) -> None:
        """``arp_send``: a 42-byte frame (no padding: veth and bridges do not pad)."""
        data = EthernetView.emit(dst_mac, dev.mac, ETH_P_ARP) + ArpView.emit(op, sha, spa, tha, tpa)
        dev.xmit(Frame(data, self.sim.new_pid() if pid is None else pid), note)

    def ip_rcv(self, dev: NetDevice, frame: Frame, off: int, broadcast: bool) -> None:
        """``ip_rcv`` → ``ip_rcv_finish``: validate, route, deliver or forward.

        A packet that arrives on a real device is routed by ``ip_route_input_slow``,
        which refuses a *martian source*: a multicast, limited broadcast, zero or loopback
        source (``IP_INVALID_SOURCE``), and, wherever a route is found (local, broadcast,
        forwarded), one of this namespace's own addresses unless ``accept_local``
        (``IP_LOCAL_SOURCE``: ``fib_validate_source`` with rp_filter off).  What comes in on
        ``lo`` was routed on the way out and is not looked at again."""
        try:
            # the header checksum of a frame the sending stack's IP output built is right by
            # construction (Frame.csum_ok)
            ipv = Ipv4View.check(frame.data, off, verify_checksum=not frame.csum_ok)
        except Malformed as e:
            self.count_drop(e.reason, dev, frame, e.detail)
            return
        dst = ipv.daddr
        if not dev.loopback:
            src = ipv.saddr
            s8 = src >> 24
            if s8 >= 224 or s8 == 127 or (s8 == 0 and dst != 0xFFFFFFFF):
                self.count_drop("IP_INVALID_SOURCE", dev, frame, f"martian source {int_to_ip(src)}")
                return
            if src in self._local_ips and not self._accept_local(dev):
                r = self.route_lookup(dst)
                # validated where the kernel validates: local or broadcast delivery, and a
                # unicast route it forwards on (no route or forwarding off fail earlier)
                if dst == 0xFFFFFFFF or (r is not None and (r.type in ("local", "broadcast") or (
                        r.type == "unicast" and self.forwarding(dev)))):
                    self.count_drop("IP_LOCAL_SOURCE", dev, frame,
                                    f"martian source {int_to_ip(src)}: our own address, received on "
                                    f"{dev.name} (accept_local=0)")
                    return
        if dst in self._local_ips or dst == 0xFFFFFFFF:
            self.ip_local_deliver(dev, frame, ipv, dst == 0xFFFFFFFF)
            return
        # the local table, then main (one probe of the namespace's per-destination cache)
        r = self.route_lookup(dst)
        if r is not None and r.table == "local":
            if r.type == "broadcast" and r.dst.prefixlen == 32:
                self.ip_local_deliver(dev, frame, ipv, True)
                return
            if r.type == "local":
                # RTN_LOCAL covers prefixes too: 127.0.0.0/8 on lo, AnyIP routes
                self.ip_local_deliver(dev, frame, ipv, False)
                return
            r = self.main_table.lookup(dst)   # a local-table route of another kind: main decides
        if broadcast or dst >> 28 == 0xE:
            self.count_drop("OTHERHOST", dev, frame, "link-layer broadcast for another host")
            return
        if not self.forwarding(dev):
            self.count_drop("IP_INADDRERRORS", dev, frame,
                            f"{int_to_ip(dst)} is not ours and ip_forward=0")
            return
        self.ip_forward_pkt(dev, frame, ipv, r)

    def ip_local_deliver(self, dev, frame: Frame, ipv: Ipv4View, broadcast: bool) -> None:
        if ipv.is_fragment:
            self.count_drop("IP_FRAG", dev, frame, "fragment reassembly is not modelled")
            return
        proto = ipv.proto
        if proto == IPPROTO_ICMP:
            self.icmp.rcv(dev, frame, ipv, broadcast)
        elif proto == IPPROTO_UDP:
            self.udp.rcv(dev, frame, ipv, broadcast)
        elif proto == IPPROTO_TCP:
            self.tcp.rcv(dev, frame, ipv, broadcast)
        else:
            handler = self.protocols.get(proto)
            if handler is not None:
                handler(dev, frame, ipv)
                return
            self.count_drop("UNHANDLED_PROTO", dev, frame, f"IP protocol {proto}")
            if not broadcast:
                self.icmp.send_error(ipv.packet(), 3, 2, 0, frame.pid)

    # -- forward ------------------------------------------------------------
    def ip_forward_pkt(self, dev, frame: Frame, ipv: Ipv4View, r: Route) -> None:
        """``ip_route_input`` then ``ip_forward``: with ``r``, the main table's route for the
        destination (None: no route), check TTL and MTU, then out through the neighbour
        layer.  The route comes first, as in ``ip_rcv_finish``: a packet with TTL 1 to an
        unroutable address earns "net unreachable", not "time exceeded" (the kernel test
        ``test_icmp_errors_of_routers_on_the_host_gw_path`` shows it)."""
        dst = ipv.daddr
        if r is None:
            self.count_drop("IP_NOROUTE", dev, frame, f"no route to {int_to_ip(dst)}")
            self.icmp.send_error(ipv.packet(), 3, 0, 0, frame.pid)
            return
        if r.type != "unicast":
            self.count_drop("IP_NOROUTE", dev, frame, f"{r.type} route {r.dst}")
            if r.type == "unreachable":
                self.icmp.send_error(ipv.packet(), 3, 1, 0, frame.pid)
            elif r.type == "prohibit":
                self.icmp.send_error(ipv.packet(), 3, 13, 0, frame.pid)
            return
        if ipv.ttl <= 1:
            self.count_drop("TTL_EXPIRED", dev, frame, f"TTL {ipv.ttl} at {self.name}")
            self.icmp.send_error(ipv.packet(), 11, 0, 0, frame.pid)
            return
        out = r.dev
        length = ipv.total_length   # the packet without link-layer padding
        if length > out.mtu:
            if ipv.df:
                self.count_drop("PKT_TOO_BIG", dev, frame,
                                f"{length} bytes with DF > MTU {out.mtu} of {out.name}")
                self.icmp.send_error(ipv.packet(), 3, 4, out.mtu, frame.pid)
                return
            self.count_drop("PKT_TOO_BIG", dev, frame, "fragmentation is not modelled")
            return
        nh = r.gateway or dst
        note = None   # what the hop decided is written only when someone observes
        if self.sim.observers:
            hop = f"route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
            self.note(dev, frame, f"forward: {hop}")
            note = f"forwarded: {hop}"
        # the header is right (written or checked, then patched incrementally); whatever the
        # sender vouched for beyond it, the forwarded bytes still carry
        self.neigh_output(out, nh, ttl_decreased(frame.data, ipv.off, ipv.end), frame.pid, note,
                          frame.csum_ok or CSUM_IP)

    # -- output -------------------------------------------------------------
    def ip_send(self, src, dst: bytes, proto: int, payload: bytes, pid: int, ttl: int = None,
                tos: int = 0, df: bool = False, ident: int = None, note: str = "") -> int:
        """Build and route a locally generated IP packet (``ip_queue_xmit``/``ip_push_pending_frames``).

        ``src`` None means "the route's preferred source".  Returns 0 or an errno, as
        the sending socket would see it."""
        d = int.from_bytes(dst, "big")
        r = self.route_lookup(d)
        # the drop names what was being sent: an ICMP error that cannot be routed back still
        # says which packet it was about
        what = f" ({note})" if note else ""
        if r is None:
            self.count_drop("IP_NOROUTE", None, None, f"no route to {int_to_ip(d)} from {self.name}{what}", pid)
            return errno.ENETUNREACH
        if r.type in ("blackhole", "unreachable", "prohibit"):
            self.count_drop("IP_NOROUTE", None, None, f"{r.type} route for {int_to_ip(d)}{what}", pid)
            return {"blackhole": errno.EINVAL, "unreachable": errno.EHOSTUNREACH,
                    "prohibit": errno.EACCES}[r.type]
        if src is None:
            src = self.source_for(d)
        if ident is None:
            ident = self.next_ident(dst)
        ttl = self.sysctl["net.ipv4.ip_default_ttl"] if ttl is None else ttl
        packet = Ipv4View.emit(src, dst, proto, len(payload), ident, ttl, tos, df) + payload
        observed = bool(self.sim.observers)
        if r.type in ("local", "broadcast") and (r.type == "local" or r.dev.loopback):
            self.neigh_output(self.lo, d, packet, pid,
                              f"{note}; route local {int_to_ip(d)} dev lo" if observed else None, CSUM_L4)
            return 0
        out = r.dev
        if len(packet) > out.mtu:
            self.count_drop("PKT_TOO_BIG", out, None, f"{len(packet)} bytes > MTU {out.mtu} of {out.name}"
                            + ("" if df else "; fragmentation is not modelled"), pid)
            return errno.EMSGSIZE
        nh = r.gateway or d
        # the header is ours and so is the payload's checksum (every caller builds it with
        # the wire module's emitters)
        self.neigh_output(out, nh, packet, pid,
                          f"{note}; route {r.dst_text}{' via ' + r.via if r.via else ''} dev {out.name}"
                          if observed else None, CSUM_L4)
        return 0

    def neigh_output(self, dev: NetDevice, nexthop: int, packet: bytes, pid: int, note: str,
                     csum_ok: int = CSUM_IP) -> None:
        """``ip_finish_output2``: add the link-layer header, resolving the neighbour if needed.
        Every packet that gets here has an IPv4 header this stack wrote or checked; ``csum_ok``
        says how many checksums, that header's first, are right by construction."""
        if dev.linktype == LINKTYPE_RAW:
            dev.l3_xmit(nexthop, Frame(packet, pid, LINKTYPE_RAW, csum_ok), note)
        elif dev.noarp:
            dst_mac = b"\0" * 6 if dev.loopback else BROADCAST_MAC
            self.send_ether(dev, dst_mac, packet, pid, note, csum_ok)
        else:
            self.neigh.output(dev, nexthop, packet, pid, note, csum_ok)

    def send_ether(self, dev: NetDevice, dst_mac: bytes, packet: bytes, pid: int, note: str,
                   csum_ok: int = CSUM_IP) -> None:
        dev.xmit(Frame(dst_mac + dev.mac + _ETHER_IP + packet, pid, LINKTYPE_ETHERNET, csum_ok), note)

    # -- processes ----------------------------------------------------------
    def install_command(self, name: str, run, usage: str) -> None:
        """Put a control plane's command-line tool on this namespace's PATH for ``emunet
        show``: ``run(args)`` returns what the tool prints for the argument list ``args``
        (or raises ValueError with its error message); ``usage`` is the line ``show`` lists
        among the commands it supports."""
        self.commands[name] = (run, usage)

    def spawn(self, process):
        """Start a userspace program in this namespace."""
        process.attach(self)
        self.processes.append(process)
        process.start()
        return process
