"""The IPv4 FIB: routes, routing tables, longest-prefix match (``net/ipv4/fib_*.c``).

A namespace has the ``local`` table (255: its own addresses and broadcasts,
consulted first) and the ``main`` table (254: what ``ip route`` shows), in the
order the default rules give them (``fib_lookup``).  Lookup is longest prefix
first, then lowest metric; a route whose device is down is skipped, as the
kernel skips dead next hops.  What a lookup decided, and the source address a
socket sending to a destination gets, are remembered per destination until a
route or a device changes (the kernel keeps a dst on the socket and flushes it
with ``rt_cache_flush``): the tables say so on the namespace's FIB notifier
chain, the devices on its netdevice chain.

Path MTUs learned from ICMP fragmentation needed are *exceptions* (``fib_nh_exception``,
``net/ipv4/route.c``): per destination, on the route that leads there, for
``ip_rt_mtu_expires`` (600 s); never below ``ip_rt_min_pmtu`` (552), never raised by an
update (``__ip_rt_update_pmtu``).  A packet this namespace sends uses the learned MTU
(``dst_mtu``); a forwarded one, the device's (``ip_dst_mtu_maybe_forward``).
"""
import ipaddress

import attrs

from emunet.stack.notifier import FIB_EVENT_ENTRY_ADD, FIB_EVENT_ENTRY_DEL
from emunet.wire.ipv4 import ip_to_int

#: ``ip_rt_mtu_expires`` and ``ip_rt_min_pmtu``
IP_RT_MTU_EXPIRES_NS = 600 * 1_000_000_000
IP_RT_MIN_PMTU = 552

SCOPES = {"universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
ROUTE_TYPES = ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit")


@attrs.define(eq=False)
class Route:
    """One route, with the attributes ``ip route`` prints."""

    dst: ipaddress.IPv4Network
    dev: object = None
    via: str = None
    src: str = None
    metric: int = 0
    scope: str = "universe"
    type: str = "unicast"
    proto: str = "boot"
    onlink: bool = False
    table: str = "main"
    _gateway: int = attrs.field(init=False, default=None, repr=False)
    _dst_text: str = attrs.field(init=False, default=None, repr=False)

    def __attrs_post_init__(self):
        if self.type not in ROUTE_TYPES:
            raise ValueError(f"unknown route type {self.type!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown route scope {self.scope!r}")

    @property
    def gateway(self) -> int:
        """``via`` as an integer (0 without a gateway), parsed once: every packet routed
        through a gateway needs it as its next hop."""
        gw = self._gateway
        if gw is None:
            gw = self._gateway = ip_to_int(self.via) if self.via else 0
        return gw

    @property
    def dst_text(self) -> str:
        """The destination as ``ip route`` prints it; formatted once (ipaddress's __str__ is
        slow, and every captured hop names its route)."""
        text = self._dst_text
        if text is None:
            if self.dst.prefixlen == 0:
                text = "default"
            elif self.dst.prefixlen == 32:
                text = str(self.dst.network_address)
            else:
                text = str(self.dst)
            self._dst_text = text
        return text

    @property
    def linkdown(self) -> bool:
        """``RTNH_F_LINKDOWN``: the device is up but has no carrier (its routes stay usable)."""
        dev = self.dev
        return (dev is not None and self.type in ("unicast", "broadcast") and dev.admin_up
                and not dev.carrier)

    def show(self, table: str = None, omit_dev: bool = False) -> str:
        """The line ``ip route show`` prints for this route (iproute2's ``print_route``, less
        the space it ends every line with): ``table NAME`` when ``table`` is given and is not
        main, no ``dev`` when ``omit_dev`` (``ip route show dev DEV``), ``scope`` whenever it
        is not universe, ``proto`` unless boot."""
        parts = []
        if self.type != "unicast":
            parts.append(self.type)
        parts.append(self.dst_text)
        if self.via:
            parts.append(f"via {self.via}")
        if self.dev is not None and not omit_dev:
            parts.append(f"dev {self.dev.name}")
        if table is not None and table != "main":
            parts.append(f"table {table}")
        if self.proto and self.proto != "boot":
            parts.append(f"proto {self.proto}")
        if self.scope != "universe":
            parts.append(f"scope {self.scope}")
        if self.src:
            parts.append(f"src {self.src}")
        if self.metric:
            parts.append(f"metric {self.metric}")
        if self.onlink:
            parts.append("onlink")
        if self.linkdown:
            parts.append("linkdown")
        return " ".join(parts)


class RoutingTable:
    """One FIB table with longest-prefix match.

    Routes are kept per prefix length in dicts keyed by the network as an
    integer, so a lookup is at most 33 dict probes; results are cached per
    destination until the table (or a device's state) changes.  Every route
    added or deleted is announced on ``notifiers`` (the namespace's FIB
    notifier chain), when there is one.
    """

    def __init__(self, name: str = "main", notifiers=None):
        self.name = name
        self.notifiers = notifiers
        # prefix length -> {network: the route, or a list of routes by metric when a prefix
        # has several (rare)}: a cluster's nodes hold N^2 routes, and a list for each would
        # double the objects the garbage collector walks
        self._by_len = {}
        self._lens = []
        self._cache = {}

    def __iter__(self):
        for plen in self._lens:
            nets = self._by_len[plen]
            for net in sorted(nets):
                yield from _routes(nets[net])

    def __len__(self) -> int:
        return sum(len(_routes(v)) for d in self._by_len.values() for v in d.values())

    def routes(self) -> list:
        """Routes in the order a dump (``ip route``) walks ``fib_trie``: by destination
        address, the longer prefix first, then by metric."""
        return sorted(self, key=lambda r: (int(r.dst.network_address), -r.dst.prefixlen, r.metric))

    def invalidate(self) -> None:
        self._cache.clear()

    def _changed(self, event: str, route: Route) -> None:
        self._cache.clear()
        if self.notifiers is not None:
            self.notifiers.call(event, route)

    def add(self, route: Route, replace: bool = False) -> Route:
        route.table = self.name
        plen = route.dst.prefixlen
        net = int(route.dst.network_address)
        nets = self._by_len.setdefault(plen, {})
        bucket = _routes(nets.get(net))
        for old in bucket:
            # the kernel's key is (prefix, tos, priority): same metric means same route
            if old.metric == route.metric:
                if not replace:
                    raise FileExistsError(f"RTNETLINK answers: File exists "
                                          f"(route {route.show()} in table {self.name})")
                bucket.remove(old)
                self._changed(FIB_EVENT_ENTRY_DEL, old)
                break
        bucket.append(route)
        bucket.sort(key=lambda r: r.metric)
        nets[net] = bucket if len(bucket) > 1 else route
        if plen not in self._lens:
            self._lens.append(plen)
            self._lens.sort(reverse=True)
        self._changed(FIB_EVENT_ENTRY_ADD, route)
        return route

    def delete(self, dst, dev=None, metric: int = None) -> Route:
        dst = ipaddress.IPv4Network(dst, strict=False) if not isinstance(dst, ipaddress.IPv4Network) else dst
        nets = self._by_len.get(dst.prefixlen, {})
        net = int(dst.network_address)
        bucket = _routes(nets.get(net))
        for r in bucket:
            if (dev is None or r.dev is dev) and (metric is None or r.metric == metric):
                bucket.remove(r)
                if not bucket:
                    del nets[net]
                    if not nets:
                        del self._by_len[dst.prefixlen]
                        self._lens.remove(dst.prefixlen)
                else:
                    nets[net] = bucket if len(bucket) > 1 else bucket[0]
                self._changed(FIB_EVENT_ENTRY_DEL, r)
                return r
        raise LookupError(f"RTNETLINK answers: No such process (no route {dst} in table {self.name})")

    def delete_dev(self, dev) -> None:
        for r in [r for r in self if r.dev is dev]:
            self.delete(r.dst, dev=dev, metric=r.metric)

    def lookup(self, dst) -> Route:
        """Longest-prefix match for ``dst`` (an int or a dotted string); ``None`` if no route."""
        if not isinstance(dst, int):
            dst = ip_to_int(dst)
        try:
            return self._cache[dst]
        except KeyError:
            pass
        found = None
        by_len = self._by_len
        for plen in self._lens:
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            entry = by_len[plen].get(dst & mask)
            if entry is not None:
                for r in (entry if type(entry) is list else (entry,)):
                    # a next hop is dead only when its device is administratively down;
                    # a linkdown route is still used (ignore_routes_with_linkdown=0)
                    if r.dev is None or r.dev.admin_up or r.type != "unicast":
                        found = r
                        break
                if found is not None:
                    break
        self._cache[dst] = found
        return found


@attrs.define
class Fnhe:
    """A learned path MTU (``struct fib_nh_exception``): the MTU, when it expires (virtual
    ns), the route it belongs to, and whether it is locked (``fnhe_mtu_locked``: it was
    clamped to ``ip_rt_min_pmtu``)."""

    mtu: int
    expires: int
    route: Route
    locked: bool = False


def _routes(entry) -> list:
    """A prefix's routes as a new list (``entry`` is a Route, a list of them, or None)."""
    if entry is None:
        return []
    return list(entry) if type(entry) is list else [entry]


def parse_prefix(text) -> ipaddress.IPv4Network:
    """``"default"``, ``"10.0.0.0/8"`` or ``"10.1.2.3"`` (a /32)."""
    if isinstance(text, ipaddress.IPv4Network):
        return text
    if text == "default":
        return ipaddress.IPv4Network("0.0.0.0/0")
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise ValueError(f"invalid prefix {text!r}: {e}") from None


class Fib:
    """A namespace's FIB: its tables, the lookup the default rules make (local, then main),
    and the per-destination memory of what it decided.

    ``lookup`` and ``source_for`` are on every locally sent or forwarded packet's path;
    their answers are kept until :meth:`flush` (``rt_cache_flush``), which every route
    change and every device event runs through the namespace's notifier chains."""

    def __init__(self, ns):
        self.ns = ns
        self.local = RoutingTable("local", ns.fib_notifiers)
        self.main = RoutingTable("main", ns.fib_notifiers)
        self.tables = {"local": self.local, "main": self.main}
        self._routes = {}
        self._sources = {}
        #: learned path MTUs: destination -> :class:`Fnhe`
        self.exceptions = {}
        ns.fib_notifiers.register(self.fib_event)
        ns.netdev_notifiers.register(self.netdev_event)

    def table(self, name: str) -> RoutingTable:
        """Table ``name``, created on first use as ``ip route add ... table NAME`` does."""
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = RoutingTable(name, self.ns.fib_notifiers)
        return t

    def flush(self) -> None:
        """``rt_cache_flush``: every decision remembered goes."""
        for t in self.tables.values():
            t.invalidate()
        self._routes.clear()
        self._sources.clear()

    def fib_event(self, event: str, route: Route) -> None:
        # the table that changed cleared its own cache; what this FIB combined from it goes
        self._routes.clear()
        self._sources.clear()

    def netdev_event(self, event: str, dev) -> None:
        # a device up, down or changing carrier decides which next hops are alive
        self.flush()

    def lookup(self, dst: int):
        """``fib_lookup`` with the default rules: the local table, then main; None when
        no route matches."""
        try:
            return self._routes[dst]
        except KeyError:
            pass
        r = self.local.lookup(dst)
        if r is None:
            r = self.main.lookup(dst)
        self._routes[dst] = r
        return r

    def source_for(self, dst: int):
        """The source address (4 bytes) a socket sending to ``dst`` gets (``ip route get``
        ... ``src``), or None when no usable route leads there."""
        try:
            return self._sources[dst]
        except KeyError:
            pass
        src = self._sources[dst] = self._select_source_for(dst)
        return src

    def _select_source_for(self, dst: int):
        r = self.lookup(dst)
        if r is None or r.type in ("blackhole", "unreachable", "prohibit"):
            return None
        if r.type == "local":
            return dst.to_bytes(4, "big")
        if r.src:
            return ip_to_int(r.src).to_bytes(4, "big")
        return self.ns.select_source(r.dev, r.gateway or dst)

    def mtu(self, dst: int, r: Route) -> int:
        """``dst_mtu`` of route ``r`` to ``dst`` for a packet this namespace sends
        (``ipv4_mtu``): the path MTU learned for ``dst`` while it has not expired, else the
        device's."""
        if self.exceptions:
            e = self.fnhe(dst, r)
            if e is not None:
                return e.mtu
        return r.dev.mtu

    def fnhe(self, dst: int, r: Route):
        """The live exception for ``dst`` on route ``r``, or None (an expired one, or one
        left on a route that no longer leads there, goes)."""
        e = self.exceptions.get(dst)
        if e is None:
            return None
        if e.route is not r or self.ns.sim.now >= e.expires:
            del self.exceptions[dst]
            return None
        return e

    def update_pmtu(self, dst: int, mtu: int) -> bool:
        """``__ip_rt_update_pmtu``: a fragmentation needed said ``mtu`` for ``dst``; True if
        the path MTU toward ``dst`` is now ``mtu`` (an MTU above the current one is ignored,
        one below ``ip_rt_min_pmtu`` becomes 552, locked)."""
        r = self.lookup(dst)
        if r is None or r.type != "unicast" or r.dev is None:
            return False
        old = self.mtu(dst, r)
        if old < mtu:
            return False
        lock = False
        if mtu < IP_RT_MIN_PMTU:
            lock = True
            mtu = min(old, IP_RT_MIN_PMTU)
        now = self.ns.sim.now
        e = self.fnhe(dst, r)
        if e is not None and e.mtu == mtu and not lock and now < e.expires - IP_RT_MTU_EXPIRES_NS // 2:
            return True
        self.exceptions[dst] = Fnhe(mtu, now + IP_RT_MTU_EXPIRES_NS, r, lock)
        return True

    def is_broadcast_or_multicast(self, ip: int) -> bool:
        """Limited broadcast, multicast, or a broadcast address of ours (``inet_addr_type``
        says RTN_BROADCAST or RTN_MULTICAST)."""
        if ip == 0xFFFFFFFF or (ip >> 28) == 0xE:
            return True
        r = self.local.lookup(ip)
        return r is not None and r.type == "broadcast" and r.dst.prefixlen == 32


__all__ = ["Route", "RoutingTable", "Fib", "Fnhe", "IP_RT_MTU_EXPIRES_NS", "IP_RT_MIN_PMTU", "parse_prefix", "SCOPES", "ROUTE_TYPES"]
