"""What ``ip link`` and ``ip addr`` print (iproute2 6.1 ``ip/ipaddress.c``:
``print_linkinfo``, ``print_addrinfo``; ``-s``, ``-d``, ``-o`` and ``-br``), and the
device lookup and flag names the ``bridge`` program shares with them.

Facts seen on kernel 6.18 with iproute2 6.1: ``@ifN`` when the veth peer lives in another
namespace (and ``link-netnsid N`` on the ``link/ether`` line), ``@PEERNAME`` when it lives
in the same one, ``M-DOWN`` when that same-namespace peer is down; ``qdisc noop`` for a
device that was never up; ``qlen`` is omitted when the queue length is 0 (leaving
``group default `` with its trailing space), as for the veths dockerd creates; a bridge
with no forwarding port is ``NO-CARRIER`` (the states are :mod:`.kernel`'s).

Where the model cannot say what the kernel would: a device that is down is shown with
``qdisc noop`` (true for one never brought up; one that was up and went down keeps its
qdisc).

Network namespace ids: iproute2 prints ``link-netns NAME`` for a namespace ``ip netns``
knows and ``link-netnsid N`` otherwise (dockerd's namespaces are not in /var/run/netns,
so a container shows ``link-netnsid 0``).  A namespace numbers the others in the order
its devices (by ifindex) first lead to them, as the kernel allocates an id when it first
has to name a peer's namespace.  Pass ``netns_names`` (namespace name -> ``ip netns``
name) to get the named form.
"""
from emunet.observe.show.kernel import (
    IFF_ALLMULTI, IFF_BROADCAST, IFF_LOOPBACK, IFF_LOWER_UP, IFF_MASTER, IFF_MULTICAST, IFF_NOARP,
    IFF_POINTOPOINT, IFF_PROMISC, IFF_RUNNING, IFF_SLAVE, IFF_UP, dev_get_flags, devices,
    link_type, operstate, ordered_addrs, peer)
from emunet.wire.ethernet import mac_to_str
from emunet.wire.ipv4 import int_to_ip

__all__ = ["ip_link", "ip_addr", "ip_addr_oneline", "ip_brief", "netnsids", "print_link_flags",
           "pick_dev", "CANNOT_FIND"]

_SCOPE_NAME = {"universe": "global"}


def print_link_flags(flags: int, mdown: bool) -> str:
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


def netnsids(ns) -> dict:
    """The ids ``ns`` gives the namespaces its devices lead to: 0, 1, ... in the order its
    devices (by ifindex) first name them."""
    ids = {}
    for dev in devices(ns):
        p = peer(dev)
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
    p = peer(dev)
    if p is not None:
        if p.ns is dev.ns:
            return f"{dev.name}@{p.name}", not p.admin_up, ""
        return f"{dev.name}@if{p.ifindex}", False, _netns_ref(dev.ns, p.ns, netns_names)
    return dev.name + dev.peer_name(), False, ""


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
    first = (f"{dev.ifindex}: {name}: {print_link_flags(dev_get_flags(dev), mdown)} mtu {dev.mtu} "
             f"qdisc {_qdisc(dev)} {master}state {operstate(dev)} {mode}group default {qlen}")
    if inline_netns:
        return [first + netns]
    t = link_type(dev)
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


def pick_dev(ns, name, message='Device "{}" does not exist.'):
    """The device named ``name`` (None for no filter); an unknown name is the tool's error."""
    if name is None:
        return None
    if name not in ns.devices:
        raise ValueError(message.format(name))
    return ns.devices[name]


CANNOT_FIND = 'Cannot find device "{}"'


def ip_link(ns, dev: str = None, stats: bool = False, netns_names: dict = None,
            details: bool = False) -> str:
    """``ip link`` / ``ip -s link`` / ``ip link show DEV`` / ``ip -d link show DEV``."""
    only = pick_dev(ns, dev)
    out = []
    for d in devices(ns):
        if only is not None and d is not only:
            continue
        out += _link_header(d, netns_names, link_mode=True, inline_netns=False, details=details)
        if stats:
            out += _stats_lines(d)
    return "".join(line + "\n" for line in out)


def ip_addr(ns, dev: str = None, family: str = None, netns_names: dict = None,
            details: bool = False) -> str:
    """``ip addr`` / ``ip addr show [dev] DEV`` / ``ip -4 addr``."""
    only = pick_dev(ns, dev)
    out = []
    for d in devices(ns):
        if only is not None and d is not only:
            continue
        addrs = ordered_addrs(ns, d)
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
    only = pick_dev(ns, dev)
    out = []
    for d in devices(ns):
        if only is not None and d is not only:
            continue
        for a, sec in ordered_addrs(ns, d):
            out.append(f"{d.ifindex}: {d.name}{_addr_line(a, sec)}\\"
                       f"       valid_lft forever preferred_lft forever")
    return "".join(line + "\n" for line in out)


def ip_brief(ns, what: str = "addr", dev: str = None) -> str:
    """``ip -br addr`` / ``ip -br link``."""
    only = pick_dev(ns, dev)
    out = []
    for d in devices(ns):
        if only is not None and d is not only:
            continue
        p = peer(d)
        name = f"{d.name}@if{p.ifindex}" if p is not None and p.ns is not d.ns else \
            (f"{d.name}@{p.name}" if p is not None else d.name + d.peer_name())
        line = f"{name:<16} {operstate(d):<14} "
        if what == "link":
            mdown = p is not None and p.ns is d.ns and not p.admin_up
            if link_type(d) in ("ether", "loopback"):
                line += f"{mac_to_str(d.mac)} "
            line += f"{print_link_flags(dev_get_flags(d), mdown)} "
        else:
            line += "".join(f"{a.ip}/{a.prefixlen} " for a, _ in ordered_addrs(ns, d))
        out.append(line)
    return "".join(line + "\n" for line in out)
