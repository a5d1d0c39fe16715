"""A network namespace: one Linux network stack (``struct net``).

Holds devices, addresses, the FIB (:mod:`emunet.stack.fib`), the neighbour
table, ARP, the IPv4 path (:mod:`emunet.stack.ipv4`), netfilter
(:mod:`emunet.stack.netfilter`: iptables, conntrack, NAT), ICMP, UDP and TCP,
sysctls, processes and the command-line tools installed, and the notifier chains
through which devices and routing tables announce their changes.  A
frame a device hands up enters at :meth:`Namespace.deliver_skb`; what the
namespace offers to the outside is what netlink offers (``ip addr``, ``ip
route``, ``ip link set ... netns``, ``sysctl``).

Every drop is counted under a reason named after the kernel's
``skb_drop_reason``; malformed input is dropped, never raised.
"""
import ipaddress
from collections import Counter

import attrs

from emunet.devices.base import NetDevice
from emunet.devices.loopback import Loopback
from emunet.devices.vlan import vlan_device_event
from emunet.stack.arp import Arp
from emunet.stack.fib import Fib, Route, parse_prefix
from emunet.stack.icmp import Icmp
from emunet.stack.ip_fragment import IPFRAG_SYSCTLS
from emunet.stack.ipv4 import Ipv4
from emunet.stack.neigh import NeighTable
from emunet.stack.netfilter import Netfilter
from emunet.stack.notifier import NotifierChain
from emunet.stack.tcp import Tcp
from emunet.stack.udp import Udp
from emunet.wire.ethernet import ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IP, VLAN_TPIDS, mac_to_str
from emunet.wire.frame import LINKTYPE_RAW, Frame
from emunet.wire.ipv4 import ip_to_int



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
        #: this namespace's addresses: address as an integer -> its IfAddr
        self.local_ips = {}
        #: ``call_netdevice_notifiers`` and ``call_fib_notifiers``: who hears of a device's
        #: or a route's change
        self.netdev_notifiers = NotifierChain()
        self.fib_notifiers = NotifierChain()
        # the 8021q module's vlan_device_event, registered as loading the module does
        self.netdev_notifiers.register(vlan_device_event)
        self.fib = Fib(self)
        self.sysctl = {"net.ipv4.ip_forward": 0, "net.ipv4.ip_default_ttl": 64,
                       "net.ipv4.conf.all.arp_accept": 0, **IPFRAG_SYSCTLS}
        self.neigh = NeighTable(self)
        self.arp = Arp(self)
        self.netfilter = Netfilter(self)
        self.ipv4 = Ipv4(self)
        self.icmp = Icmp(self)
        self.udp = Udp(self)
        self.tcp = Tcp(self)
        self.processes = []
        #: command-line tools a control plane installed here, for ``emunet show`` (``birdc``,
        #: ``docker``): name -> (run(args) -> what it prints, its usage line)
        self.commands = {}
        self.drop_reasons = Counter()
        self.hostname = name
        #: the namespace of the machine this one runs on (a container's host), for pictures
        self.parent = None
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
        for t in self.fib.tables.values():
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

    def call_netdevice_notifiers(self, event: str, dev: NetDevice) -> None:
        """A device of this namespace came up, went down or changed its carrier: everyone
        registered hears it (the FIB forgets what it decided, VLAN devices follow their
        lower)."""
        self.netdev_notifiers.call(event, dev)

    # -- addresses ----------------------------------------------------------
    def addr_add(self, dev, cidr: str, scope: str = "global", broadcast: bool = True,
                 noprefixroute: bool = False, peer: str = None) -> IfAddr:
        """``ip addr add CIDR dev DEV`` with the routes the kernel adds for it."""
        dev = self.dev(dev)
        iface = ipaddress.IPv4Interface(cidr)
        ip, net = iface.ip, iface.network
        key = int(ip)
        if key in self.local_ips:
            other = self.local_ips[key]
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
        self.local_ips[key] = a
        # the local table: the address itself, and the broadcast address
        self.fib.local.add(Route(ipaddress.IPv4Network(f"{ip}/32"), dev=dev, src=str(ip),
                                 scope="host", type="local", proto="kernel"), replace=True)
        if bcast is not None:
            self.fib.local.add(Route(ipaddress.IPv4Network(f"{bcast}/32"), dev=dev, src=str(ip),
                                     scope="link", type="broadcast", proto="kernel"), replace=True)
        if dev.loopback:
            self.fib.local.add(Route(net, dev=dev, src=str(ip), scope="host", type="local",
                                     proto="kernel"), replace=True)
        elif not noprefixroute and net.prefixlen < 32:
            self.fib.main.add(Route(net, dev=dev, src=str(ip), scope="link", proto="kernel"),
                              replace=True)
        return a

    def addr_del(self, dev, cidr: str) -> None:
        dev = self.dev(dev)
        iface = ipaddress.IPv4Interface(cidr)
        for a in self.addrs:
            if a.dev is dev and a.ip == iface.ip:
                self.addrs.remove(a)
                del self.local_ips[int(a.ip)]
                for t in self.fib.tables.values():
                    for r in [r for r in t if r.dev is dev and r.src == str(a.ip) and r.proto == "kernel"]:
                        t.delete(r.dst, dev=dev, metric=r.metric)
                return
        raise LookupError(f"RTNETLINK answers: Cannot assign requested address ({cidr} not on {dev.name})")

    def addresses(self, dev=None) -> list:
        dev = self.dev(dev) if dev is not None else None
        return [a for a in self.addrs if dev is None or a.dev is dev]

    def is_local_address(self, ip: int) -> bool:
        return ip in self.local_ips

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
                gw_route = self.fib.main.lookup(gw)
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
        return self.fib.table(table).add(Route(net, d, via, src, metric, scope, type, proto, onlink),
                                         replace=replace)

    def route_del(self, dst, dev=None, table: str = "main", metric: int = None) -> Route:
        """``ip route del DST [dev DEV] [metric N] [table TABLE]``: the first route that
        matches."""
        t = self.fib.tables.get(table)
        if t is None:
            raise LookupError(f"RTNETLINK answers: No such process (no table {table!r} in "
                              f"namespace {self.name!r})")
        return t.delete(parse_prefix(dst), dev=self.dev(dev) if dev else None, metric=metric)

    # -- sysctls and helpers -------------------------------------------------
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
        """What the stack decided about ``frame``, for whoever observes."""
        if self.sim.observers and frame is not None:
            self.sim.note(dev, frame, text)

    # -- receive ------------------------------------------------------------
    def deliver_skb(self, dev: NetDevice, frame: Frame) -> None:
        """The end of ``__netif_receive_skb_core`` for a frame no rx_handler took: its
        ``pkt_type`` (``eth_type_trans``: ours, broadcast/multicast, or another host's), then
        ``deliver_skb`` to the handler of its ethertype (``ip_rcv``, ``arp_rcv``, the VLAN
        check)."""
        data = frame.data
        if frame.linktype == LINKTYPE_RAW:
            self.ipv4.ip_rcv(dev, frame, 0, False)
            return
        if len(data) < ETH_HLEN:
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
        if etype == ETHERTYPE_IP:
            self.ipv4.ip_rcv(dev, frame, ETH_HLEN, broadcast)
        elif etype == ETHERTYPE_ARP:
            if dev.noarp:
                self.count_drop("ARP_NOARP", dev, frame, f"{dev.name} does no ARP")
                return
            self.arp.arp_rcv(dev, frame)
        elif etype in VLAN_TPIDS:
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
            self.deliver_skb(dev, untagged)
            return
        what = f"802.1Q VID {vid}: no VLAN device for it on {dev.name} (PACKET_OTHERHOST)"
        if inner == ETHERTYPE_IP:
            self.count_drop("OTHERHOST", dev, frame, what)
        elif inner == ETHERTYPE_ARP:
            self.note(dev, frame, f"{what}: arp_rcv consumes it, no drop reason")
        else:
            self.count_drop("UNHANDLED_PROTO", dev, frame,
                            f"{what}, ethertype {int.from_bytes(inner, 'big'):#06x}")

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
