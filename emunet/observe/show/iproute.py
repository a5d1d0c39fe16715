"""What ``ip route``, ``ip route get``, ``ip rule`` and ``ip neigh`` print (iproute2 6.1
``ip/iproute.c``, ``ip/iprule.c``, ``ip/ipneigh.c``).

Facts seen on kernel 6.18 with iproute2 6.1: ``ip route`` is a trie walk, so by
destination address, the longer prefix first, then by metric; routes through a device
without carrier end in ``linkdown``; every line ends with a space.  ``ip neigh`` hides
NOARP and NONE entries (iproute2's default filter).
"""
import ipaddress

from emunet.observe.show.iplink import CANNOT_FIND, pick_dev
from emunet.observe.show.kernel import neigh_entries, table_routes
from emunet.wire.ethernet import mac_to_str
from emunet.wire.ipv4 import int_to_ip, ip_to_int

__all__ = ["ip_route", "ip_route_get", "ip_route_show_cache", "ip_rule", "ip_neigh"]

_TABLE_ID = {"default": 253, "main": 254, "local": 255}


# -- routes ----------------------------------------------------------------------
def _table_order(names) -> list:
    """``ip route show table all`` walks the table hash by id: 1..252, main, local."""
    def table_id(n):
        return _TABLE_ID.get(n, int(n) if str(n).isdigit() else 1 << 32)
    return sorted(names, key=lambda n: (table_id(n), str(n)))


def ip_route(ns, table: str = "main", dev: str = None) -> str:
    """``ip route`` / ``ip route show [table local|main|all|N] [dev DEV]``."""
    only = pick_dev(ns, dev, CANNOT_FIND)
    if table == "all":
        names = _table_order(ns.fib.tables)
    elif table in ns.fib.tables:
        names = [table]
    else:
        raise ValueError("Error: ipv4: FIB table does not exist.\nDump terminated")
    out = []
    for name in names:
        for r in table_routes(ns, name):
            if only is not None and r.dev is not only:
                continue
            out.append(r.show(table=name if table == "all" else None,
                              omit_dev=only is not None) + " ")   # iproute2 ends each line with a space
    return "".join(line + "\n" for line in out)


_REJECT_ERRNO = {"blackhole": "Invalid argument", "unreachable": "No route to host",
                 "prohibit": "Permission denied"}


def ip_route_get(ns, addr: str) -> str:
    """``ip route get ADDR``: the route the FIB lookup finds (``inet_rtm_getroute``) and the
    source address a socket would get, as ``print_route`` shows a cached route."""
    try:
        ipaddress.IPv4Address(addr)
    except ValueError:
        raise ValueError(f'Error: inet prefix is expected rather than "{addr}".') from None
    return _route_get(ns, ip_to_int(addr)) + "\n"


def _route_get(ns, d: int) -> str:
    dst = int_to_ip(d)
    if d == 0:
        return "local 0.0.0.0 dev lo src 127.0.0.1 uid 0 \n    cache <local> "
    r = ns.fib.lookup(d)
    if r is None or r.type in _REJECT_ERRNO:
        return f"RTNETLINK answers: {_REJECT_ERRNO.get(r.type if r else '', 'Network is unreachable')}"
    # kernel 6.18 + iproute2 6.1 print no "table local" here, and a local route's
    # preferred source is the source (127.1.2.3 → src 127.0.0.1)
    if r.type == "local":
        return f"local {dst} dev lo src {r.src or dst} uid 0 \n    cache <local> "
    src = int_to_ip(int.from_bytes(ns.fib.source_for(d), "big"))
    if r.type == "broadcast" or d == 0xFFFFFFFF:
        return f"broadcast {dst} dev {r.dev.name} src {src} uid 0 \n    cache <local,brd> "
    if d >> 28 == 0xE:
        cache = "<local,mc>" if d == 0xE0000001 else "<mc>"  # 224.0.0.1: joined by all
        return f"multicast {dst} dev {r.dev.name} src {src} rt_offload_failed uid 0 \n    cache {cache} "
    via = f" via {r.via}" if r.via else ""
    return f"{dst}{via} dev {r.dev.name} src {src} uid 0 \n    cache {_fnhe_text(ns, d, r)}"


def _fnhe_text(ns, d: int, r) -> str:
    """A learned path MTU as ``print_rta_cacheinfo`` and the metrics print it after
    ``cache``: ``expires 599sec mtu 1450 `` (the seconds left, truncated), or nothing."""
    e = ns.fib.fnhe(d, r) if ns.fib.exceptions else None
    if e is None:
        return ""
    lock = "lock " if e.locked else ""
    return f"expires {(e.expires - ns.sim.now) // 1_000_000_000}sec mtu {lock}{e.mtu} "


def ip_route_show_cache(ns) -> str:
    """``ip route show cache``: every destination with a learned path MTU (the route
    exceptions ``rt_fill_info`` dumps), as ``ip route get`` would show it, less ``src``."""
    out = []
    for d in sorted(ns.fib.exceptions):
        r = ns.fib.lookup(d)
        if r is None or ns.fib.fnhe(d, r) is None:
            continue
        via = f" via {r.via}" if r.via else ""
        out.append(f"{int_to_ip(d)}{via} dev {r.dev.name} \n    cache {_fnhe_text(ns, d, r)}\n")
    return "".join(out)


# -- neighbours ------------------------------------------------------------------
def ip_neigh(ns, dev: str = None, addr: str = None) -> str:
    """``ip neigh`` / ``ip neigh show [dev DEV] [ADDR]`` (NOARP and NONE entries hidden,
    as iproute2's default filter does)."""
    only = pick_dev(ns, dev, CANNOT_FIND)
    want = int(ipaddress.IPv4Address(addr)) if addr else None
    out = []
    for n in neigh_entries(ns):
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


def ip_rule(ns) -> str:
    """``ip rule``: the model has the three default rules only."""
    return "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
