"""What every show tool reads from the kernel about a namespace, and in which order.

``ip`` and ``bridge`` ask rtnetlink, ``ifconfig`` asks ``SIOCGIFFLAGS`` and the rest
of net-tools reads ``/proc/net``; all of them see the same device flags
(``dev_get_flags``), operational state (``IFLA_OPERSTATE``), address list
(``in_dev->ifa_list``), FIB trie and neighbour table.  This module answers those
questions once for every tool family.

Facts seen on kernel 6.18 that the model's devices do not say by themselves:

* lo has neither NOARP nor a broadcast address (the model's lo has both, for
  behaviour; they are not shown);
* a vxlan or ip tunnel device that is up is ``state UNKNOWN`` (it never sets an
  operstate), a TUN device with a reader ``UP``;
* a bridge with no forwarding port is ``state DOWN``, a veth whose peer is down
  ``state LOWERLAYERDOWN``;
* routes through an administratively down device are gone (the kernel flushes them;
  only ``local`` routes stay).

The kernel's neighbour table is a hash whose seed is random at boot, so its dump order
cannot be reproduced; the newest entry is listed first, which is what the seed's
``arp`` shows.
"""
from emunet.wire.frame import LINKTYPE_RAW

__all__ = [
    "IFF_UP", "IFF_BROADCAST", "IFF_DEBUG", "IFF_LOOPBACK", "IFF_POINTOPOINT", "IFF_NOTRAILERS",
    "IFF_RUNNING", "IFF_NOARP", "IFF_PROMISC", "IFF_ALLMULTI", "IFF_MASTER", "IFF_SLAVE",
    "IFF_MULTICAST", "IFF_LOWER_UP", "NUD_VALID",
    "devices", "peer", "operstate", "dev_get_flags", "link_type", "scope_value",
    "ordered_addrs", "table_routes", "neigh_entries",
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

#: ``NUD_VALID``: the neighbour states whose link-layer address is usable
NUD_VALID = ("PERMANENT", "NOARP", "REACHABLE", "PROBE", "STALE", "DELAY")

_SCOPE_VALUE = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}


# -- devices --------------------------------------------------------------------
def devices(ns) -> list:
    """Devices in the order the kernel dumps them: by ifindex."""
    return sorted(ns.devices.values(), key=lambda d: d.ifindex)


def peer(dev):
    """A veth's other end, if it is in some namespace."""
    p = getattr(dev, "peer", None)
    return p if p is not None and getattr(p, "ns", None) is not None else None


def operstate(dev) -> str:
    """``IFLA_OPERSTATE`` as ``ip link`` names it."""
    if not dev.admin_up:
        return "DOWN"
    if dev.loopback:
        return "UNKNOWN"
    state = dev.operstate
    if dev.kind in ("vxlan", "ipip") and state == "UP":
        return "UNKNOWN"  # vxlan and ip tunnels never set their operstate
    if state == "LOWERLAYERDOWN" and peer(dev) is None and not dev.peer_name():
        # rfc2863 default_operstate: LOWERLAYERDOWN only for a device with a link
        # (iflink != ifindex); a bridge without forwarding ports is plain DOWN
        return "DOWN"
    return state


def dev_get_flags(dev) -> int:
    """``dev_get_flags``: the flags ``ifconfig`` prints as a number and ``ip`` by name."""
    f = 0
    if dev.admin_up:
        f |= IFF_UP
        if operstate(dev) in ("UP", "UNKNOWN"):
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


def link_type(dev) -> str:
    """The device's ``ARPHRD_*`` type as iproute2 names it (``ether``, ``loopback``,
    ``none`` for a TUN device, or what the device says, ``ipip``)."""
    t = getattr(dev, "link_type", None)
    if t:
        return t
    if dev.loopback:
        return "loopback"
    if dev.linktype == LINKTYPE_RAW:
        return "none"
    return "ether"


# -- addresses ------------------------------------------------------------------
def scope_value(scope: str) -> int:
    """``RT_SCOPE_*`` for a scope name."""
    return _SCOPE_VALUE.get(scope, 0)


def ordered_addrs(ns, dev) -> list:
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
            if not sec and scope_value(a.scope) <= scope_value(o.scope):
                pos = i + 1
        out.insert(pos, (a, False))
    return out


# -- routes and neighbours --------------------------------------------------------
def _route_visible(r) -> bool:
    """The kernel deletes routes through a device that goes down (``fib_disable_ip``) and
    adds no prefix or broadcast route for an address on a down device; ``local`` routes
    stay.  The model keeps them (and skips them in lookups): hide them here."""
    return r.dev is None or r.dev.admin_up or r.type == "local"


def table_routes(ns, name: str) -> list:
    """The routes of table ``name`` as a dump walks them, without those the kernel would
    have flushed."""
    return [r for r in ns.fib.tables[name].routes() if _route_visible(r)]


def neigh_entries(ns) -> list:
    """The neighbour table, newest first (the kernel's order is a hash walk with a random
    seed)."""
    return list(reversed(list(ns.neigh)))
