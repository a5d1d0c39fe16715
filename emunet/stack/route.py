"""IPv4 routing tables and longest-prefix match (``net/ipv4/fib_*.c``).

A namespace has the ``local`` table (255: its own addresses and broadcasts,
consulted first) and the ``main`` table (254: what ``ip route`` shows).
Lookup is longest prefix first, then lowest metric; a route whose device is
down is skipped, as the kernel skips dead next hops.
"""
import ipaddress

import attrs

from emunet.wire.ipv4 import int_to_ip, ip_to_int

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
        slow, and every captured hop names its route), after the route joined its table."""
        text = self._dst_text
        if text is None:
            if self.dst.prefixlen == 0 and self.table == "main":
                text = "default"
            elif self.dst.prefixlen == 32:
                text = str(self.dst.network_address)
            else:
                text = str(self.dst)
            self._dst_text = text
        return text

    def show(self) -> str:
        """The line ``ip route show`` prints (the ``table main`` part omitted)."""
        parts = []
        if self.type != "unicast":
            parts.append(self.type)
        parts.append(self.dst_text)
        if self.via:
            parts.append(f"via {self.via}")
        if self.dev is not None:
            parts.append(f"dev {self.dev.name}")
        if self.proto != "boot":
            parts.append(f"proto {self.proto}")
        default_scope = {"local": "host", "broadcast": "link"}.get(self.type, "universe")
        if self.scope != default_scope:
            parts.append(f"scope {self.scope}")
        if self.src:
            parts.append(f"src {self.src}")
        if self.metric:
            parts.append(f"metric {self.metric}")
        if self.onlink:
            parts.append("onlink")
        if self.dev is not None and not self.dev.running and self.type == "unicast":
            parts.append("linkdown")
        return " ".join(parts)


class RoutingTable:
    """One FIB table with longest-prefix match.

    Routes are kept per prefix length in dicts keyed by the network as an
    integer, so a lookup is at most 33 dict probes; results are cached per
    destination until the table (or a device's state) changes.  ``on_change``
    is called whenever a route is added or deleted (the namespace forgets its
    own cached decisions then).
    """

    def __init__(self, name: str = "main", on_change=None):
        self.name = name
        self.on_change = on_change
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
        """Routes in the order ``ip route`` prints them: by destination address, then length."""
        return sorted(self, key=lambda r: (int(r.dst.network_address), r.dst.prefixlen, r.metric))

    def invalidate(self) -> None:
        self._cache.clear()

    def _changed(self) -> None:
        self._cache.clear()
        if self.on_change is not None:
            self.on_change()

    def add(self, route: Route, replace: bool = False) -> Route:
        route.table = self.name
        route._dst_text = None   # "default" or not depends on the table
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
                break
        bucket.append(route)
        bucket.sort(key=lambda r: r.metric)
        nets[net] = bucket if len(bucket) > 1 else route
        if plen not in self._lens:
            self._lens.append(plen)
            self._lens.sort(reverse=True)
        self._changed()
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
                self._changed()
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


__all__ = ["Route", "RoutingTable", "parse_prefix", "int_to_ip", "ip_to_int"]
