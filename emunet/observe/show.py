"""What ``ip``, ``ifconfig``, ``route``, ``arp``, ``netstat``, ``bridge``, ``brctl``,
``sysctl`` and ``docker network inspect`` print, character for character, for a
namespace of the model.

The ground truth is Linux 6.18 with iproute2 6.1, net-tools 2.10 and
bridge-utils 1.7, run on a topology identical to the docker-bridge scenario
(``tests/kernel/reference/``) and on extra namespaces built to see the less
common states (``tests/test_show.py`` cites what each rule comes from).
Counters come from the model (:class:`~emunet.devices.base.DeviceStats`);
everything else is what those tools print for the same state.

Facts worth knowing, all seen on the kernel:

* ``ip link``: ``@ifN`` when the veth peer lives in another namespace (and
  ``link-netnsid N`` on the ``link/ether`` line), ``@PEERNAME`` when it lives in
  the same one, ``M-DOWN`` when that same-namespace peer is down; ``qdisc noop``
  for a device that was never up; ``qlen`` is omitted when the queue length is
  0 (leaving ``group default `` with its trailing space), as for the veths
  dockerd creates; a bridge with no forwarding port is ``NO-CARRIER`` and
  ``state DOWN``, a veth whose peer is down ``state LOWERLAYERDOWN``.
* ``ip route``: a trie walk, so by destination address, the longer prefix
  first, then by metric; routes through an administratively down device are
  gone (the kernel flushes them; only ``local`` routes stay), routes through a
  device without carrier end in ``linkdown``; every line ends with a space.
* ``bridge link`` resolves the peer's ifindex *in the bridge's namespace*
  (``veth1a2b3c4@if3``, or the name of whatever local device has that index);
  ``bridge fdb show`` lists, per device by ifindex, the bridge's entries for it
  newest first, then the device's own multicast list (``33:33:00:00:00:01``
  from IPv6 registration even with IPv6 disabled, ``01:00:5e:00:00:01`` once
  up; a bridge that is up also has ``01:00:5e:00:00:6a`` / ``33:33:00:00:00:6a``
  for multicast router discovery); a learned entry's line ends with a space.
* ``ifconfig`` sorts interfaces by name (net-tools' ``nstrcmp``), shows only
  the first address of each, and prints ``broadcast 0.0.0.0`` for an address
  added without one.
* lo has neither NOARP nor a broadcast address (the model's lo has both, for
  behaviour; they are not shown); a vxlan device that is up is ``state
  UNKNOWN`` (it never sets an operstate), a TUN device with a reader ``UP``.

Where the model cannot say what the kernel would: a device that is down is
shown with ``qdisc noop`` (true for one never brought up; one that was up and
went down keeps its qdisc), and the neighbour table's order (below).

Name resolution (``route``, ``arp`` and ``netstat -r`` without ``-n``): the
gateway of a default route is ``_gateway`` (systemd's nss-myhostname, as in
the seed's container); other addresses are printed as numbers unless a
``names`` mapping (address -> name, /etc/hosts and /etc/networks alike) is
given.  The kernel's neighbour table is a hash whose seed is random at boot,
so its dump order cannot be reproduced; the newest entry is listed first,
which is what the seed's ``arp`` shows.

Network namespace ids: iproute2 prints ``link-netns NAME`` for a namespace
``ip netns`` knows and ``link-netnsid N`` otherwise (dockerd's namespaces are
not in /var/run/netns, so a container shows ``link-netnsid 0``).  A namespace
numbers the others in the order its devices (by ifindex) first lead to them,
as the kernel allocates an id when it first has to name a peer's namespace.
Pass ``netns_names`` (namespace name -> ``ip netns`` name) to get the named
form.
"""
import ipaddress
import re
import shlex

from emunet.wire.ethernet import mac_to_str
from emunet.wire.frame import LINKTYPE_RAW
from emunet.wire.ipv4 import int_to_ip

__all__ = [
    "run_command", "ip_link", "ip_addr", "ip_route", "ip_route_get", "ip_neigh",
    "ifconfig", "route", "netstat_r", "netstat_i", "arp", "bridge_fdb", "bridge_link",
    "brctl_show", "brctl_showmacs", "ip_rule", "proc_net_route", "proc_net_arp", "proc_net_dev",
    "ip_addr_oneline", "ip_brief",
    "sysctl", "netnsids", "SUPPORTED",
]

# <linux/if.h>
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_DEBUG = 0x4
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_NOTRAILERS = 0x20
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
IFF_MASTER = 0x400
IFF_SLAVE = 0x800
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000

_SCOPE_VALUE = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_SCOPE_NAME = {"universe": "global"}
_TABLE_ID = {"default": 253, "main": 254, "local": 255}


# -- device facts -------------------------------------------------------------
def _devices(ns) -> list:
    """Devices in the order the kernel dumps them: by ifindex."""
    return sorted(ns.devices.values(), key=lambda d: d.ifindex)


def _peer(dev):
    """A veth's other end, if it is in some namespace."""
    p = getattr(dev, "peer", None)
    return p if p is not None and getattr(p, "ns", None) is not None else None


def _operstate(dev) -> str:
    """``IFLA_OPERSTATE`` as ``ip link`` names it."""
    if not dev.admin_up:
        return "DOWN"
    if dev.loopback:
        return "UNKNOWN"
    state = dev.operstate
    if dev.kind in ("vxlan", "ipip") and state == "UP":
        return "UNKNOWN"  # vxlan and ip tunnels never set their operstate (seen on 6.18)
    if state == "LOWERLAYERDOWN" and _peer(dev) is None and not dev.peer_name():
        # rfc2863 default_operstate: LOWERLAYERDOWN only for a device with a link
        # (iflink != ifindex); a bridge without forwarding ports is plain DOWN
        return "DOWN"
    return state


def _iff(dev) -> int:
    """``dev_get_flags``: the flags ``ifconfig`` prints as a number and ``ip`` by name."""
    f = 0
    if dev.admin_up:
        f |= IFF_UP
        if _operstate(dev) in ("UP", "UNKNOWN"):
            f |= IFF_RUNNING
        if dev.carrier:
            f |= IFF_LOWER_UP
    if dev.broadcast:
        f |= IFF_BROADCAST
    if dev.loopback:
        f |= IFF_LOOPBACK
    if dev.pointopoint:
        f |= IFF_POINTOPOINT
    if dev.noarp and not dev.loopback:
        # the model's lo is "noarp" for behaviour; the kernel's lo has only IFF_LOOPBACK
        # (ARP never runs on ARPHRD_LOOPBACK), so neither ip nor ifconfig shows NOARP
        f |= IFF_NOARP
    if dev.multicast:
        f |= IFF_MULTICAST
    return f


def _ip_flags(flags: int, mdown: bool) -> str:
    """iproute2's ``print_link_flags``."""
    out = []
    if flags & IFF_UP and not flags & IFF_RUNNING:
        out.append("NO-CARRIER")
    for bit, name in ((IFF_LOOPBACK, "LOOPBACK"), (IFF_BROADCAST, "BROADCAST"),
                      (IFF_POINTOPOINT, "POINTOPOINT"), (IFF_MULTICAST, "MULTICAST"),
                      (IFF_NOARP, "NOARP"), (IFF_ALLMULTI, "ALLMULTI"), (IFF_PROMISC, "PROMISC"),
                      (IFF_MASTER, "MASTER"), (IFF_SLAVE, "SLAVE"), (IFF_UP, "UP"),
                      (IFF_LOWER_UP, "LOWER_UP")):
        if flags & bit:
            out.append(name)
    text = ",".join(out)
    if mdown:
        text += ",M-DOWN"
    return f"<{text}>"


def _qdisc(dev) -> str:
    # a device never brought up still has noop_qdisc attached; the model does not
    # remember whether a down device was ever up, so a down device shows noop
    return dev.qdisc if dev.admin_up else "noop"


def _link_type(dev) -> str:
    t = getattr(dev, "link_type", None)
    if t:
        return t
    if dev.loopback:
        return "loopback"
    if dev.linktype == LINKTYPE_RAW:
        return "none"
    return "ether"


def netnsids(ns) -> dict:
    """The ids ``ns`` gives the namespaces its devices lead to: 0, 1, ... in the order its
    devices (by ifindex) first name them."""
    ids = {}
    for dev in _devices(ns):
        p = _peer(dev)
        if p is not None and p.ns is not ns and p.ns not in ids:
            ids[p.ns] = len(ids)
    return ids


def _netns_ref(ns, other, netns_names) -> str:
    """`` link-netns NAME`` or `` link-netnsid N``."""
    if netns_names and other.name in netns_names:
        return f" link-netns {netns_names[other.name]}"
    return f" link-netnsid {netnsids(ns)[other]}"


def _ip_name(dev, netns_names):
    """(``name@link``, M-DOWN?, link-netns text) as ``ip link`` prints them."""
    p = _peer(dev)
    if p is not None:
        if p.ns is dev.ns:
            return f"{dev.name}@{p.name}", not p.admin_up, ""
        return f"{dev.name}@if{p.ifindex}", False, _netns_ref(dev.ns, p.ns, netns_names)
    return dev.name + dev.peer_name(), False, ""


# -- addresses ----------------------------------------------------------------
def _scope_value(scope: str) -> int:
    return _SCOPE_VALUE.get(scope, 0)


def _ordered_addrs(ns, dev) -> list:
    """``in_dev->ifa_list`` for ``dev``: (address, secondary?) in the kernel's order.

    ``__inet_insert_ifa``: an address in the subnet (same prefix length) of one already
    there is a secondary and goes last; a primary goes after the last primary whose
    scope is at least its own (so host and link scope come before global)."""
    out = []
    for a in ns.addrs:
        if a.dev is not dev:
            continue
        secondary = any(o.prefixlen == a.prefixlen and o.network == a.network
                        for o, _ in out)
        if secondary:
            out.append((a, True))
            continue
        pos = 0
        for i, (o, sec) in enumerate(out):
            if not sec and _scope_value(a.scope) <= _scope_value(o.scope):
                pos = i + 1
        out.insert(pos, (a, False))
    return out


def _addr_line(a, secondary: bool) -> str:
    label = a.label or a.dev.name
    head = f"    inet {a.ip} peer {a.peer}/{a.prefixlen} " if a.peer else \
        f"    inet {a.ip}/{a.prefixlen} "
    # the kernel configures lo's 127.0.0.1/8 without a broadcast address (its local-table
    # broadcast route comes from the prefix, not from IFA_BROADCAST); the model gives lo's
    # address one, so it is not shown for a loopback device
    show_brd = a.broadcast is not None and not a.dev.loopback
    brd = f"brd {a.broadcast} " if show_brd else ""
    scope = _SCOPE_NAME.get(a.scope, a.scope)
    sec = "secondary " if secondary else ""
    return f"{head}{brd}scope {scope} {sec}{label}"


# -- ip link / ip addr ----------------------------------------------------------
def _link_header(dev, netns_names, link_mode: bool, inline_netns: bool, details: bool = False) -> list:
    name, mdown, netns = _ip_name(dev, netns_names)
    master = f"master {dev.master.name} " if dev.master is not None else ""
    mode = "mode DEFAULT " if link_mode else ""
    qlen = f"qlen {dev.txqueuelen}" if dev.txqueuelen else ""
    first = (f"{dev.ifindex}: {name}: {_ip_flags(_iff(dev), mdown)} mtu {dev.mtu} "
             f"qdisc {_qdisc(dev)} {master}state {_operstate(dev)} {mode}group default {qlen}")
    if inline_netns:
        return [first + netns]
    t = _link_type(dev)
    if t == "loopback":
        second = f"    link/loopback {mac_to_str(dev.mac)} brd 00:00:00:00:00:00"
    elif t == "ether":
        second = f"    link/ether {mac_to_str(dev.mac)} brd ff:ff:ff:ff:ff:ff"
    elif t == "ipip":
        # an ip tunnel's "address" is its local end, its "broadcast" the remote one
        second = f"    link/ipip {int_to_ip(dev.local)} brd {int_to_ip(dev.remote)}"
    else:
        second = f"    link/{t} "
    if details:
        more, kind_line = _details(dev, link_mode)
        return [first, second + netns + " " + more] + ([kind_line] if kind_line else [])
    return [first, second + netns]


def _details(dev, link_mode: bool):
    """``ip -d``: what follows ``link/ether ... brd ...`` on the same line, and the
    ``IFLA_LINKINFO`` line (None for a device without a kind).  Modelled for the devices
    whose numbers do not depend on the machine: lo (seen on kernel 6.18) and 802.1Q VLAN
    devices (iproute2 6.1 ``vlan_print_opt``; ``vlan_setup`` / ``vlan_dev_init`` on 6.18:
    minmtu 0 maxmtu 65535, one queue each way, the lower's TSO limits, which for a NIC
    driver that keeps the kernel's defaults are 65536 bytes and 65535 segments).  A veth's
    queue count is the machine's CPU count and a NIC's numbers are its driver's: those are
    refused with a message rather than guessed."""
    # iproute2 prints IFLA_AF_SPEC (addrgenmode) for `ip -d link` only, not `ip -d addr`
    addrgen = "addrgenmode eui64 " if link_mode else ""
    if dev.loopback:
        return ("promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 " + addrgen + "numtxqueues 1 "
                "numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 "
                "tso_max_segs 65535 gro_max_size 65536 ", None)
    if dev.kind == "vlan":
        lower_tso = 524280 if dev.lower.kind == "veth" else 65536
        flags = ",".join(dev.flags)
        proto = "802.1Q" if dev.protocol == 0x8100 else "802.1ad"
        return (f"promiscuity {int(dev.promisc)}  allmulti 0 minmtu {dev.min_mtu} maxmtu {dev.max_mtu} ",
                f"    vlan protocol {proto} id {dev.vid} <{flags}> {addrgen}numtxqueues 1 numrxqueues 1 "
                f"gso_max_size 65536 gso_max_segs 65535 tso_max_size {lower_tso} tso_max_segs 65535 "
                f"gro_max_size 65536 ")
    if dev.kind in ("vxlan", "tun"):
        # seen on 6.18 (``ip -d link`` of flannel.1, vxlan.calico and a TUN): a VXLAN
        # device inherits its lower device's TSO limit (netif_inherit_tso_max)
        lower = getattr(dev, "lower", None)
        tso = 524280 if lower is not None and lower.kind == "veth" else 65536
        return ("promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 ",
                f"    {dev.details()} {addrgen}numtxqueues 1 numrxqueues 1 gso_max_size 65536 "
                f"gso_max_segs 65535 tso_max_size {tso} tso_max_segs 65535 gro_max_size 65536 ")
    what = {"ether": "a physical NIC: its driver decides its MTU range, queues and parent bus",
            "ipip": "an IPIP tunnel: this project's kernel has no ipip module to check its numbers "
                    "against (its type line is dev.details())",
            "veth": "a veth: its queue count is the machine's CPU count"}.get(
        dev.kind, f"a {dev.kind} device")
    raise ValueError(f"ip -d: the details of {dev.key} ({what}) are not modelled; "
                     f"`ip -d link show DEV` works for VLAN, VXLAN and TUN devices and lo")


def _num_width(n: int) -> int:
    return len(str(n))


def _stats_lines(dev) -> list:
    """iproute2 6.1 ``print_stats64`` (columns widen for large numbers)."""
    s = dev.stats
    g = lambda k: getattr(s, k, 0)  # noqa: E731
    rx = [g("rx_bytes"), g("rx_packets"), g("rx_errors"), g("rx_dropped"),
          g("rx_missed_errors"), g("multicast")]
    tx = [g("tx_bytes"), g("tx_packets"), g("tx_errors"), g("tx_dropped"),
          g("tx_carrier_errors"), g("collisions")]
    cols = [len("*X errors:"), len("packets"), len("errors"), len("dropped"),
            len("heartbt"), len("overrun"), len("compressed")]
    for row in (rx, tx):
        for i, v in enumerate(row):
            cols[i] = max(cols[i], _num_width(v))

    def header(label, names):
        widths = [cols[0] - 4] + cols[1:6]
        body = " ".join(f"{n:>{w}}" for n, w in zip(names, widths))
        return f"    {label}: {body} {'':>{cols[6]}}"

    def values(row):
        return "    " + "".join(f"{v:>{w}} " for v, w in zip(row, cols))

    return [header("RX", ("bytes", "packets", "errors", "dropped", "missed", "mcast")), values(rx),
            header("TX", ("bytes", "packets", "errors", "dropped", "carrier", "collsns")), values(tx)]


def _pick_dev(ns, name, message='Device "{}" does not exist.'):
    """The device named ``name`` (None for no filter); an unknown name is the tool's error."""
    if name is None:
        return None
    if name not in ns.devices:
        raise ValueError(message.format(name))
    return ns.devices[name]


_CANNOT_FIND = 'Cannot find device "{}"'


def ip_link(ns, dev: str = None, stats: bool = False, netns_names: dict = None,
            details: bool = False) -> str:
    """``ip link`` / ``ip -s link`` / ``ip link show DEV`` / ``ip -d link show DEV``."""
    only = _pick_dev(ns, dev)
    out = []
    for d in _devices(ns):
        if only is not None and d is not only:
            continue
        out += _link_header(d, netns_names, link_mode=True, inline_netns=False, details=details)
        if stats:
            out += _stats_lines(d)
    return "".join(line + "\n" for line in out)


def ip_addr(ns, dev: str = None, family: str = None, netns_names: dict = None,
            details: bool = False) -> str:
    """``ip addr`` / ``ip addr show [dev] DEV`` / ``ip -4 addr``."""
    only = _pick_dev(ns, dev)
    out = []
    for d in _devices(ns):
        if only is not None and d is not only:
            continue
        addrs = _ordered_addrs(ns, d)
        if family == "inet" and not addrs:
            continue
        out += _link_header(d, netns_names, link_mode=False, inline_netns=family == "inet",
                            details=details and family != "inet")
        for a, sec in addrs:
            out.append(_addr_line(a, sec))
            out.append("       valid_lft forever preferred_lft forever")
    return "".join(line + "\n" for line in out)


def ip_addr_oneline(ns, dev: str = None) -> str:
    """``ip -o addr`` (IPv4 lines only: the model has no IPv6)."""
    only = _pick_dev(ns, dev)
    out = []
    for d in _devices(ns):
        if only is not None and d is not only:
            continue
        for a, sec in _ordered_addrs(ns, d):
            out.append(f"{d.ifindex}: {d.name}{_addr_line(a, sec)}\\"
                       f"       valid_lft forever preferred_lft forever")
    return "".join(line + "\n" for line in out)


def ip_brief(ns, what: str = "addr", dev: str = None) -> str:
    """``ip -br addr`` / ``ip -br link``."""
    only = _pick_dev(ns, dev)
    out = []
    for d in _devices(ns):
        if only is not None and d is not only:
            continue
        p = _peer(d)
        name = f"{d.name}@if{p.ifindex}" if p is not None and p.ns is not d.ns else \
            (f"{d.name}@{p.name}" if p is not None else d.name + d.peer_name())
        line = f"{name:<16} {_operstate(d):<14} "
        if what == "link":
            mdown = p is not None and p.ns is d.ns and not p.admin_up
            if _link_type(d) in ("ether", "loopback"):
                line += f"{mac_to_str(d.mac)} "
            line += f"{_ip_flags(_iff(d), mdown)} "
        else:
            line += "".join(f"{a.ip}/{a.prefixlen} " for a, _ in _ordered_addrs(ns, d))
        out.append(line)
    return "".join(line + "\n" for line in out)


# -- routes ----------------------------------------------------------------------
def _route_visible(r) -> bool:
    """The kernel deletes routes through a device that goes down (``fib_disable_ip``) and
    adds no prefix or broadcast route for an address on a down device; ``local`` routes
    stay.  The model keeps them (and skips them in lookups): hide them here."""
    return r.dev is None or r.dev.admin_up or r.type == "local"


def _route_linkdown(r) -> bool:
    return (r.dev is not None and r.type in ("unicast", "broadcast") and r.dev.admin_up
            and not r.dev.carrier)


def _trie_order(routes) -> list:
    """``fib_trie`` walk order: by key, the longer prefix first, then by metric."""
    return sorted(routes, key=lambda r: (int(r.dst.network_address), -r.dst.prefixlen, r.metric))


def _table_routes(ns, name: str) -> list:
    return [r for r in _trie_order(ns.fib.tables[name]) if _route_visible(r)]


def _dst_text(r) -> str:
    if r.dst.prefixlen == 0:
        return "default"
    if r.dst.prefixlen == 32:
        return str(r.dst.network_address)
    return str(r.dst)


def _route_line(r, table: str = None, omit_dev: bool = False) -> str:
    parts = []
    if r.type != "unicast":
        parts.append(r.type)
    parts.append(_dst_text(r))
    if r.via:
        parts.append(f"via {r.via}")
    if r.dev is not None and not omit_dev:
        parts.append(f"dev {r.dev.name}")
    if table is not None and table != "main":
        parts.append(f"table {table}")
    if r.proto and r.proto != "boot":
        parts.append(f"proto {r.proto}")
    if _scope_value(r.scope) != 0:
        parts.append(f"scope {r.scope}")
    if r.src:
        parts.append(f"src {r.src}")
    if r.metric:
        parts.append(f"metric {r.metric}")
    if r.onlink:
        parts.append("onlink")
    if _route_linkdown(r):
        parts.append("linkdown")
    return " ".join(parts) + " "


def _table_order(names) -> list:
    """``ip route show table all`` walks the table hash by id: 1..252, main, local."""
    def table_id(n):
        return _TABLE_ID.get(n, int(n) if str(n).isdigit() else 1 << 32)
    return sorted(names, key=lambda n: (table_id(n), str(n)))


def ip_route(ns, table: str = "main", dev: str = None) -> str:
    """``ip route`` / ``ip route show [table local|main|all|N] [dev DEV]``."""
    only = _pick_dev(ns, dev, _CANNOT_FIND)
    if table == "all":
        names = _table_order(ns.fib.tables)
    elif table in ns.fib.tables:
        names = [table]
    else:
        raise ValueError("Error: ipv4: FIB table does not exist.\nDump terminated")
    out = []
    for name in names:
        for r in _table_routes(ns, name):
            if only is not None and r.dev is not only:
                continue
            out.append(_route_line(r, table=name if table == "all" else None,
                                   omit_dev=only is not None))
    return "".join(line + "\n" for line in out)


def ip_route_get(ns, addr: str) -> str:
    """``ip route get ADDR``: :meth:`Namespace.route_get`, one line per output line."""
    try:
        ipaddress.IPv4Address(addr)
    except ValueError:
        raise ValueError(f'Error: inet prefix is expected rather than "{addr}".') from None
    return ns.route_get(addr) + "\n"


# -- neighbours ------------------------------------------------------------------
def _neigh_entries(ns) -> list:
    """Newest first (the kernel's order is a hash walk with a random seed)."""
    return list(reversed(list(ns.neigh)))


def ip_neigh(ns, dev: str = None, addr: str = None) -> str:
    """``ip neigh`` / ``ip neigh show [dev DEV] [ADDR]`` (NOARP and NONE entries hidden,
    as iproute2's default filter does)."""
    only = _pick_dev(ns, dev, _CANNOT_FIND)
    want = int(ipaddress.IPv4Address(addr)) if addr else None
    out = []
    for n in _neigh_entries(ns):
        if n.state in ("NOARP", "NONE"):
            continue
        if only is not None and n.dev is not only:
            continue
        if want is not None and n.ip != want:
            continue
        line = str(ipaddress.IPv4Address(n.ip))
        if only is None:
            line += f" dev {n.dev.name}"
        if n.lladdr is not None and n.state not in ("INCOMPLETE", "FAILED"):
            line += f" lladdr {mac_to_str(n.lladdr)}"
        if getattr(n, "router", False):
            line += " router"
        out.append(f"{line} {n.state} ")
    return "".join(line + "\n" for line in out)


# -- net-tools -------------------------------------------------------------------
def _nstr_key(name: str):
    """net-tools' ``nstrcmp``: digit runs compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name)]


def _human(n: int) -> str:
    """``(9.2 MiB)``: net-tools scales by 1024 when the count is strictly above a unit."""
    short, unit = n * 10, "B"
    for limit, name in ((1 << 60, "EiB"), (1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"),
                        (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n > limit:
            short, unit = (n * 10) // limit, name
            break
    return f"{short // 10}.{short % 10} {unit}"


def _ifconfig_flags(flags: int) -> str:
    names = [name for bit, name in (
        (IFF_UP, "UP"), (IFF_BROADCAST, "BROADCAST"), (IFF_DEBUG, "DEBUG"),
        (IFF_LOOPBACK, "LOOPBACK"), (IFF_POINTOPOINT, "POINTOPOINT"),
        (IFF_NOTRAILERS, "NOTRAILERS"), (IFF_RUNNING, "RUNNING"), (IFF_NOARP, "NOARP"),
        (IFF_PROMISC, "PROMISC"), (IFF_ALLMULTI, "ALLMULTI"), (IFF_SLAVE, "SLAVE"),
        (IFF_MASTER, "MASTER"), (IFF_MULTICAST, "MULTICAST")) if flags & bit]
    return f"flags={flags & 0xFFFF}<{','.join(names)}>"


def _ifconfig_block(ns, dev) -> str:
    flags = _iff(dev)
    lines = [f"{dev.name}: {_ifconfig_flags(flags)}  mtu {dev.mtu}"]
    first = next((a for a, _ in _ordered_addrs(ns, dev) if (a.label or dev.name) == dev.name), None)
    if first is not None:
        line = f"        inet {first.ip}  netmask {first.netmask}"
        if flags & IFF_BROADCAST:
            line += f"  broadcast {first.broadcast or '0.0.0.0'}"
        if flags & IFF_POINTOPOINT:
            line += f"  destination {first.peer or first.ip}"
        lines.append(line)
    t = _link_type(dev)
    if t == "loopback":
        hw, title = "loop", "Local Loopback"
    elif t == "ether":
        hw, title = f"ether {mac_to_str(dev.mac)}", "Ethernet"
    elif t == "none":
        hw, title = "unspec 00-00-00-00-00-00-00-00-00-00-00-00-00-00-00-00", "UNSPEC"
    else:
        hw, title = t, t
    lines.append(f"        {hw}  txqueuelen {dev.txqueuelen}  ({title})")
    s = dev.stats
    lines += [
        f"        RX packets {s.rx_packets}  bytes {s.rx_bytes} ({_human(s.rx_bytes)})",
        f"        RX errors {s.rx_errors}  dropped {s.rx_dropped}  overruns 0  frame 0",
        f"        TX packets {s.tx_packets}  bytes {s.tx_bytes} ({_human(s.tx_bytes)})",
        f"        TX errors {s.tx_errors}  dropped {s.tx_dropped} overruns 0  carrier 0  "
        f"collisions 0",
    ]
    return "".join(line + "\n" for line in lines) + "\n"


def ifconfig(ns, all: bool = False, dev: str = None) -> str:
    """``ifconfig`` (interfaces that are up), ``ifconfig -a``, ``ifconfig DEV``."""
    if dev is not None:
        if dev not in ns.devices:
            raise ValueError(f"{dev}: error fetching interface information: Device not found")
        return _ifconfig_block(ns, ns.devices[dev])
    devs = sorted(ns.devices.values(), key=lambda d: _nstr_key(d.name))
    return "".join(_ifconfig_block(ns, d) for d in devs if all or d.admin_up)


def _default_gateways(ns) -> set:
    return {r.via for r in ns.fib.tables["main"] if r.dst.prefixlen == 0 and r.via}


def _resolver(ns, names, gateway_name):
    """An address -> name function (``gethostbyaddr`` / ``getnetbyaddr``), or None."""
    gws = _default_gateways(ns) if gateway_name else set()
    table = dict(names or {})

    def resolve(ip: str):
        if ip in table:
            return table[ip]
        if ip in gws:
            return gateway_name
        return None
    return resolve


def _proc_net_route(ns) -> list:
    """What ``/proc/net/route`` lists: the main table without broadcast and multicast routes,
    with (destination, gateway, mask, flags, metric, iface)."""
    rows = []
    for r in _table_routes(ns, "main"):
        if r.type in ("broadcast", "multicast"):
            continue
        reject = r.type in ("unreachable", "prohibit")
        flags = "!" if reject else "U" + ("G" if r.via else "")
        if r.dst.prefixlen == 32:
            flags += "H"
        rows.append((str(r.dst.network_address), r.via or "0.0.0.0", str(r.dst.netmask), flags,
                     r.metric, r.dev.name if r.dev is not None else "*", reject))
    return rows


def _route_table(ns, ext: int, numeric: bool, names, gateway_name) -> str:
    resolve = _resolver(ns, names, gateway_name) if not numeric else (lambda ip: None)
    out = ["Kernel IP routing table"]
    if ext == 1:
        out.append("Destination     Gateway         Genmask         Flags Metric Ref    Use Iface")
    else:
        out.append("Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface")
    for dst, gw, mask, flags, metric, iface, reject in _proc_net_route(ns):
        if numeric:
            sdst, sgw = dst, gw
        else:
            sdst = "default" if dst == "0.0.0.0" else (resolve(dst) or dst)
            sgw = gw if gw == "0.0.0.0" else (resolve(gw) or gw)
        sdst, sgw = sdst[:15], sgw[:15]
        if ext == 1:
            if reject:
                out.append(f"{sdst:<15} -               {mask:<15} {flags:<5} {metric:<6} -  {0:>7} -")
            else:
                out.append(f"{sdst:<15} {sgw:<15} {mask:<15} {flags:<5} {metric:<6} {0:<2} {0:>7} {iface}")
        else:
            if reject:
                out.append(f"{sdst:<15} -               {mask:<15} {flags:<5}     - -          - -")
            else:
                out.append(f"{sdst:<15} {sgw:<15} {mask:<15} {flags:<5} {0:>5} {0:<5} {0:>6} {iface}")
    return "".join(line + "\n" for line in out)


def route(ns, numeric: bool = False, extended: bool = False, names: dict = None,
          gateway_name: str = "_gateway") -> str:
    """``route`` / ``route -n`` (``-e``: the netstat columns)."""
    return _route_table(ns, 2 if extended else 1, numeric, names, gateway_name)


def netstat_r(ns, numeric: bool = True, extended: bool = False, names: dict = None,
              gateway_name: str = "_gateway") -> str:
    """``netstat -rn`` / ``netstat -r`` (``-e``: the route columns)."""
    return _route_table(ns, 1 if extended else 2, numeric, names, gateway_name)


_VALID = ("PERMANENT", "NOARP", "REACHABLE", "PROBE", "STALE", "DELAY")


def arp(ns, numeric: bool = False, bsd: bool = False, names: dict = None,
        gateway_name: str = "_gateway") -> str:
    """``arp`` / ``arp -n`` / ``arp -a`` / ``arp -an`` (from ``/proc/net/arp``: every entry
    but NOARP ones)."""
    resolve = _resolver(ns, names, gateway_name) if not numeric else (lambda ip: None)
    out = []
    for n in _neigh_entries(ns):
        if n.state == "NOARP":
            continue
        ip = str(ipaddress.IPv4Address(n.ip))
        complete = n.state in _VALID
        perm = n.state == "PERMANENT"
        hwa = mac_to_str(n.lladdr) if complete and n.lladdr is not None else "00:00:00:00:00:00"
        name = resolve(ip)
        if bsd:
            line = f"{name or '?'} ({ip}) at "
            line += f"{hwa} [ether] " if complete else "<incomplete> "
            if perm:
                line += "PERM "
            out.append(line + f"on {n.dev.name}")
            continue
        if not out:
            out.append("Address                  HWtype  HWaddress           Flags Mask            Iface")
        flags = ("C" if complete else "") + ("M" if perm else "")
        shown = (name or ip)[:23]
        middle = f"{'ether':<8}{hwa:<20}" if complete else f"{'':<8}{'(incomplete)':<20}"
        out.append(f"{shown:<23}  {middle}{flags:<6}{'':<15} {n.dev.name}")
    return "".join(line + "\n" for line in out)


def _ifconfig_short_flags(flags: int) -> str:
    return "".join(c for bit, c in (
        (IFF_ALLMULTI, "A"), (IFF_BROADCAST, "B"), (IFF_DEBUG, "D"), (IFF_LOOPBACK, "L"),
        (IFF_MULTICAST, "M"), (IFF_PROMISC, "P"), (IFF_NOTRAILERS, "N"), (IFF_NOARP, "O"),
        (IFF_POINTOPOINT, "P"), (IFF_SLAVE, "s"), (IFF_MASTER, "m"), (IFF_RUNNING, "R"),
        (IFF_UP, "U")) if flags & bit)


def netstat_i(ns, all: bool = False) -> str:
    """``netstat -i`` (net-tools' ``ife_print_short``; ``-a`` adds the down interfaces)."""
    out = ["Kernel Interface table",
           "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg"]
    for d in sorted(ns.devices.values(), key=lambda d: _nstr_key(d.name)):
        if not (all or d.admin_up):
            continue
        s = d.stats
        out.append(f"{d.name[:15]:<15} {d.mtu:>5} {s.rx_packets:>8} {s.rx_errors:>6} "
                   f"{s.rx_dropped:>6} {0:<6} {s.tx_packets:>8} {s.tx_errors:>6} "
                   f"{s.tx_dropped:>6} {0:>6} {_ifconfig_short_flags(_iff(d))}")
    return "".join(line + "\n" for line in out)


def _le_hex(ip: str) -> str:
    """An address as ``/proc/net/route`` prints it: the network-order word read little-endian."""
    return f"{int.from_bytes(ipaddress.IPv4Address(ip).packed, 'little'):08X}"


def proc_net_route(ns) -> str:
    """``cat /proc/net/route`` (each line padded to 127 characters, as ``seq_pad`` does)."""
    lines = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
    for dst, gw, mask, flags, metric, iface, reject in _proc_net_route(ns):
        bits = 0x201 if reject else 0x1  # RTF_UP always, RTF_REJECT for unreachable/prohibit
        if gw != "0.0.0.0":
            bits |= 0x2
        if mask == "255.255.255.255":
            bits |= 0x4
        lines.append(f"{iface}\t{_le_hex(dst)}\t{_le_hex(gw)}\t{bits:04X}\t0\t0\t{metric}\t"
                     f"{_le_hex(mask)}\t0\t0\t0")
    return "".join(f"{line:<127}\n" for line in lines)


def proc_net_arp(ns) -> str:
    """``cat /proc/net/arp`` (``arp_seq_show``: every entry but NOARP ones)."""
    out = ["IP address       HW type     Flags       HW address            Mask     Device"]
    for n in _neigh_entries(ns):
        if n.state == "NOARP":
            continue
        valid = n.state in _VALID
        flags = (0x2 if valid else 0) | (0x4 if n.state == "PERMANENT" else 0)
        hwa = mac_to_str(n.lladdr) if valid and n.lladdr is not None else "00:00:00:00:00:00"
        ip = str(ipaddress.IPv4Address(n.ip))
        out.append(f"{ip:<16} 0x{1:<10x}0x{flags:<10x}{hwa}     *        {n.dev.name}")
    return "".join(line + "\n" for line in out)


def proc_net_dev(ns) -> str:
    """``cat /proc/net/dev``."""
    out = ["Inter-|   Receive                                                |  Transmit",
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
           "errs drop fifo colls carrier compressed"]
    for d in _devices(ns):
        s = d.stats
        mc = getattr(s, "multicast", 0)
        out.append(f"{d.name:>6}:{s.rx_bytes:>8} {s.rx_packets:>7} {s.rx_errors:>4} {s.rx_dropped:>4} "
                   f"{0:>4} {0:>5} {0:>10} {mc:>9} {s.tx_bytes:>8} {s.tx_packets:>7} "
                   f"{s.tx_errors:>4} {s.tx_dropped:>4} {0:>4} {0:>5} {0:>7} {0:>10}")
    return "".join(line + "\n" for line in out)


def ip_rule(ns) -> str:
    """``ip rule``: the model has the three default rules only."""
    return "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"


# -- bridge / brctl --------------------------------------------------------------
def _is_bridge(dev) -> bool:
    return dev.kind == "bridge" and hasattr(dev, "ports")


def _self_multicast(dev) -> list:
    """The device's link-layer multicast list (``ndo_dflt_fdb_dump``), IPv6 disabled as in
    the reference: ff02::1 is joined at registration, 224.0.0.1 when the device goes up,
    and a bridge that is up joins the multicast-router-discovery groups first."""
    if not dev.multicast or dev.loopback or _link_type(dev) != "ether":
        return []
    out = []
    if dev.mtu >= 1280:
        out.append("33:33:00:00:00:01")
    if dev.admin_up:
        if _is_bridge(dev):
            out += ["01:00:5e:00:00:6a", "33:33:00:00:00:6a"]
        out.append("01:00:5e:00:00:01")
    return out


def _fdb_state(e) -> str:
    if e.is_local:
        return "permanent"
    if e.is_static:
        return "static"
    return ""


def _fdb_lines(dev, bridges_wanted=None, omit_dev=False) -> list:
    """``rtnl_fdb_dump`` for one device."""
    devtext = "" if omit_dev else f"dev {dev.name} "
    out = []
    if _is_bridge(dev):
        br = dev
        out += [f"{m} {devtext}self permanent" for m in _self_multicast(dev)]
        entries = br.fdb_entries()
        own = [e for e in entries if e.port is br]
        if not own:
            out.append(f"{mac_to_str(br.mac)} {devtext}master {br.name} permanent")
        for e in reversed(own):
            out.append(f"{mac_to_str(e.mac)} {devtext}master {br.name} {_fdb_state(e)}")
        return out
    br = dev.master
    if br is not None and _is_bridge(br):
        for e in reversed(br.fdb_entries()):
            if e.port is dev:
                out.append(f"{mac_to_str(e.mac)} {devtext}master {br.name} {_fdb_state(e)}")
    own_fdb = getattr(dev, "fdb_entries", None)
    if callable(own_fdb):
        # a device with its own ndo_fdb_dump (vxlan) lists its table instead of its
        # multicast list
        for e in own_fdb():
            if hasattr(e, "dst") and hasattr(e, "mac"):
                dst = e.dst if isinstance(e.dst, str) else str(ipaddress.IPv4Address(e.dst))
                state = " permanent" if getattr(e, "permanent", True) else ""
                out.append(f"{mac_to_str(e.mac)} {devtext}dst {dst} self{state}")
            else:
                out.append(e.show(dev))
        return out
    out += [f"{m} {devtext}self permanent" for m in _self_multicast(dev)]
    return out


def bridge_fdb(ns, br: str = None, dev: str = None) -> str:
    """``bridge fdb show [br BRIDGE] [dev DEV]``."""
    bridge = _pick_dev(ns, br, 'Cannot find bridge device "{}"')
    only = _pick_dev(ns, dev, _CANNOT_FIND)
    if bridge is not None and not _is_bridge(bridge):
        raise ValueError(f"{br} is not a bridge")
    out = []
    for d in _devices(ns):
        if bridge is not None and d is not bridge and d.master is not bridge:
            continue
        if only is not None and d is not only:
            continue
        out += _fdb_lines(d, omit_dev=only is not None)
    return "".join(line + "\n" for line in out)


def _port_cost(dev) -> int:
    """``port_cost``: from the link speed (veth says 10000 Mb/s), 100 when unknown."""
    speed = getattr(dev, "speed", 10000 if dev.kind == "veth" else None)
    table = {10000: 2, 5000: 3, 2500: 4, 1000: 4, 100: 19, 10: 100}
    if speed is None:
        return 100
    if speed > 10000:
        return 1
    return table.get(speed, 100)


def bridge_link(ns, dev: str = None) -> str:
    """``bridge link [show dev DEV]``: bridge ports.  The peer's ifindex is looked up in
    *this* namespace (``ll_index_to_name``), so a veth whose peer is elsewhere shows
    ``@ifN`` unless a local device happens to have index N."""
    only = _pick_dev(ns, dev, _CANNOT_FIND)
    by_index = {d.ifindex: d for d in ns.devices.values()}
    out = []
    for d in _devices(ns):
        br = d.master
        if br is None or not _is_bridge(br) or (only is not None and d is not only):
            continue
        p = _peer(d)
        mdown = False
        if p is not None:
            local = by_index.get(p.ifindex)
            name = f"{d.name}@{local.name if local is not None else f'if{p.ifindex}'}"
            mdown = local is not None and not local.admin_up
        else:
            name = d.name + d.peer_name()
        state = "forwarding" if (br.admin_up and d.running) else "disabled"
        out.append(f"{d.ifindex}: {name}: {_ip_flags(_iff(d), mdown)} mtu {d.mtu} master {br.name} "
                   f"state {state} priority 32 cost {_port_cost(d)} ")
    return "".join(line + "\n" for line in out)


def brctl_show(ns, bridge: str = None) -> str:
    """``brctl show [BRIDGE]``: bridges and ports sorted by name (``scandir`` + alphasort)."""
    bridges = sorted((d for d in ns.devices.values() if _is_bridge(d)), key=lambda d: d.name)
    if bridge is not None:
        b = ns.devices.get(bridge)
        if b is None or not _is_bridge(b):
            raise ValueError(f"bridge {bridge} does not exist!")
        bridges = [b]
    out = "bridge name\tbridge id\t\tSTP enabled\tinterfaces\n"
    for b in bridges:
        bid = "8000." + b.mac.hex()
        stp = "yes" if getattr(b, "stp_state", 0) else "no"
        out += f"{b.name}\t\t{bid}\t{stp}\t\t"
        ports = sorted(p.name for p in b.ports)
        if not ports:
            out += "\n"
        for i, p in enumerate(ports):
            out += (p if i == 0 else "\t\t\t\t\t\t\t" + p) + "\n"
    return out


def brctl_showmacs(ns, bridge: str) -> str:
    """``brctl showmacs BRIDGE``: entries with a port, sorted by MAC; ``is local?`` for the
    ports' own addresses; the ageing timer is the time since the entry was refreshed (0 for
    local ones).  Port numbers are the order of enslavement."""
    b = ns.devices.get(bridge)
    if b is None or not _is_bridge(b):
        raise ValueError(f"read of forward table failed: No such device")
    out = "port no\tmac addr\t\tis local?\tageing timer\n"
    now = b.sim.now
    for e in sorted((e for e in b.fdb_entries() if e.port is not b), key=lambda e: e.mac):
        port_no = b.ports.index(e.port) + 1 if e.port in b.ports else 0
        age_cs = 0 if e.is_local else max(0, now - e.updated) // 10_000_000
        out += (f"{port_no:>3}\t{mac_to_str(e.mac)}\t{'yes' if e.is_local else 'no'}\t\t"
                f"{age_cs // 100:>4}.{age_cs % 100:02d}\n")
    return out


# -- sysctl ------------------------------------------------------------------------
def sysctl(ns, key: str, value_only: bool = False) -> str:
    """``sysctl KEY`` / ``sysctl -n KEY`` for the namespace's net.* keys."""
    if key in ns.sysctl:
        value = ns.sysctl[key]
    else:
        m = re.fullmatch(r"net\.ipv4\.conf\.([^.]+)\.(\w+)", key)
        if m and m.group(1) in ns.devices and m.group(2) in ns.devices[m.group(1)].conf:
            value = ns.devices[m.group(1)].conf[m.group(2)]
            if value is None and m.group(2) == "forwarding":
                value = ns.sysctl.get("net.ipv4.ip_forward", 0)
        else:
            path = "/proc/sys/" + key.replace(".", "/")
            raise ValueError(f"sysctl: cannot stat {path}: No such file or directory")
    value = int(value) if isinstance(value, bool) else value
    return f"{value}\n" if value_only else f"{key} = {value}\n"


# -- the command line ------------------------------------------------------------
SUPPORTED = [
    "ip addr | ip a | ip addr show [dev] DEV | ip -4 addr | ip -o addr | ip -br addr",
    "ip link | ip -s link | ip link show [dev] DEV | ip -br link | ip -d link show DEV (vlan, vxlan, tun, lo)",
    "ip route | ip route show [table local|main|all] [dev DEV] | ip route get ADDR",
    "ip neigh | ip neigh show [dev DEV] [ADDR]",
    "ifconfig | ifconfig -a | ifconfig DEV",
    "route | route -n | route -e | route -ne",
    "arp | arp -n | arp -a | arp -an",
    "netstat -rn | netstat -r | netstat -rne | netstat -i",
    "bridge fdb show [br BRIDGE] [dev DEV] | bridge link [show [dev DEV]]",
    "brctl show [BRIDGE] | brctl showmacs BRIDGE",
    "ip rule | cat /proc/net/route | cat /proc/net/arp | cat /proc/net/dev",
    "sysctl [-n] net.ipv4.ip_forward",
    "drops   (emunet's own: drop counters by skb_drop_reason, per device and for the stack)",
]


def _unknown(command: str, ns=None) -> ValueError:
    usages = SUPPORTED + ([usage for _, usage in ns.commands.values()] if ns is not None else [])
    return ValueError(f"unsupported show command {command!r}; supported: " + "; ".join(usages))


def _matches(word: str, full: str) -> bool:
    """iproute2's ``matches``: a non-empty prefix."""
    return bool(word) and full.startswith(word)


def _ip_object(word: str):
    # iproute2's table order decides abbreviations: a→address, r→route, n→neighbor, l→link
    if word in ("ru", "rul", "rule"):
        return "rule"
    for full, obj in (("address", "addr"), ("route", "route"), ("neighbor", "neigh"),
                      ("neighbour", "neigh"), ("link", "link")):
        if _matches(word, full):
            return obj
    return None


def _is_show(word: str) -> bool:
    return _matches(word, "show") or _matches(word, "list") or word == "lst"


def _run_ip(ns, args, command, netns_names):
    stats = family = None
    details = False
    oneline = brief = False
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-s", "-stats", "-statistics"):
            stats = True
        elif opt == "-4":
            family = "inet"
        elif opt in ("-o", "-oneline"):
            oneline = True
        elif opt in ("-br", "-brief"):
            brief = True
        elif len(opt) >= 2 and "-details".startswith(opt):
            details = True
        else:
            raise _unknown(command, ns)
    if not args:
        raise _unknown(command, ns)
    obj = _ip_object(args.pop(0))
    if obj is None:
        raise _unknown(command, ns)
    if obj == "rule":
        if args and not (len(args) == 1 and _is_show(args[0])):
            raise _unknown(command, ns)
        return ip_rule(ns)
    if obj == "route" and args and args[0] == "get":
        if len(args) != 2:
            raise _unknown(command, ns)
        return ip_route_get(ns, args[1])
    if args and _is_show(args[0]):
        args.pop(0)
    dev = addr = None
    table = "main"
    while args:
        word = args.pop(0)
        if word == "dev" and args:
            dev = args.pop(0)
        elif word == "table" and args and obj == "route":
            table = args.pop(0)
        elif obj in ("addr", "link") and dev is None and not word.startswith("-"):
            dev = word
        elif obj == "neigh" and addr is None:
            addr = word
        else:
            raise _unknown(command, ns)
    if obj == "addr":
        if brief:
            return ip_brief(ns, "addr", dev)
        if oneline:
            return ip_addr_oneline(ns, dev)
        return ip_addr(ns, dev, family=family, netns_names=netns_names, details=details)
    if obj == "link":
        if brief:
            return ip_brief(ns, "link", dev)
        return ip_link(ns, dev, stats=bool(stats), netns_names=netns_names, details=details)
    if obj == "route":
        return ip_route(ns, table=table, dev=dev)
    return ip_neigh(ns, dev=dev, addr=addr)


def _flags_of(args) -> set:
    out = set()
    for a in args:
        if not a.startswith("-"):
            return None
        out |= set(a[1:])
    return out


def run_command(lab, namespace_name: str, command: str, netns_names: dict = None,
                names: dict = None, gateway_name: str = "_gateway") -> str:
    """Run a show ``command`` in namespace ``namespace_name`` of ``lab``; the text the real
    tool prints.  Unknown commands raise ValueError naming the supported ones.

    ``netns_names`` maps namespace names to ``ip netns`` names (``link-netns NAME``
    instead of ``link-netnsid N``); ``names`` (address -> name) and ``gateway_name`` (the
    name of default gateways, None for none) drive ``route``, ``arp`` and ``netstat -r``
    without ``-n``."""
    ns = lab.namespace(namespace_name)
    try:
        argv = shlex.split(command)
    except ValueError:
        raise _unknown(command, ns) from None
    if not argv:
        raise _unknown(command, ns)
    prog, args = argv[0], argv[1:]
    if prog == "ip":
        return _run_ip(ns, args, command, netns_names)
    if prog == "ifconfig":
        show_all = "-a" in args
        rest = [a for a in args if a != "-a"]
        if len(rest) > 1 or any(a.startswith("-") for a in rest):
            raise _unknown(command, ns)
        return ifconfig(ns, all=show_all, dev=rest[0] if rest else None)
    if prog in ("route", "arp", "netstat"):
        flags = _flags_of(args)
        if flags is None:
            raise _unknown(command, ns)
        numeric = "n" in flags
        if prog == "route" and flags <= {"n", "e"}:
            return route(ns, numeric=numeric, extended="e" in flags, names=names,
                         gateway_name=gateway_name)
        if prog == "arp" and flags <= {"n", "a", "e"}:
            return arp(ns, numeric=numeric, bsd="a" in flags, names=names,
                       gateway_name=gateway_name)
        if prog == "netstat" and "r" in flags and flags <= {"r", "n", "e"}:
            return netstat_r(ns, numeric=numeric, extended="e" in flags, names=names,
                             gateway_name=gateway_name)
        if prog == "netstat" and "i" in flags and flags <= {"i", "n", "a"}:
            return netstat_i(ns, all="a" in flags)
        raise _unknown(command, ns)
    if prog == "bridge":
        if args and _matches(args[0], "fdb"):
            rest = args[1:]
            if rest and _is_show(rest[0]):
                rest = rest[1:]
            opts = {}
            while rest:
                if rest[0] in ("br", "dev") and len(rest) >= 2:
                    opts[rest[0]] = rest[1]
                    rest = rest[2:]
                else:
                    raise _unknown(command, ns)
            return bridge_fdb(ns, br=opts.get("br"), dev=opts.get("dev"))
        if args and _matches(args[0], "link"):
            rest = args[1:]
            if rest and _is_show(rest[0]):
                rest = rest[1:]
            if rest and rest[0] == "dev" and len(rest) == 2:
                return bridge_link(ns, dev=rest[1])
            if rest:
                raise _unknown(command, ns)
            return bridge_link(ns)
        raise _unknown(command, ns)
    if prog == "brctl":
        if args and args[0] == "show" and len(args) <= 2:
            return brctl_show(ns, args[1] if len(args) == 2 else None)
        if args and args[0] == "showmacs" and len(args) == 2:
            return brctl_showmacs(ns, args[1])
        raise _unknown(command, ns)
    if prog == "cat" and len(args) == 1:
        fn = {"/proc/net/route": proc_net_route, "/proc/net/arp": proc_net_arp,
              "/proc/net/dev": proc_net_dev}.get(args[0])
        if fn is not None:
            return fn(ns)
        raise _unknown(command, ns)
    if prog == "sysctl":
        value_only = "-n" in args
        rest = [a for a in args if a != "-n"]
        if len(rest) != 1 or rest[0].startswith("-"):
            raise _unknown(command, ns)
        return sysctl(ns, rest[0], value_only=value_only)
    if prog == "drops" and not args:
        from emunet.observe.drops import drops
        return drops(ns)
    if prog in ns.commands:
        run, _ = ns.commands[prog]
        return run(args)
    elsewhere = sorted(other.name for other in ns.sim.namespaces.values() if prog in other.commands)
    if elsewhere:
        raise ValueError(f"{prog}: not installed in namespace {namespace_name!r} (it is in "
                         f"{', '.join(elsewhere)})")
    raise _unknown(command, ns)

