"""BIRD's routing table (``nest/route.h``, ``nest/rt-table.c``): routes (:class:`Rte`), their
sources with BIRD's global ids (:class:`Source`), the best-route order (:func:`rte_better`)
and :class:`RouteTable`, where ``rte_update`` puts a route in place, re-selects the best and
announces the change to the kernel protocol and the BGP protocols.

Left out: the nest's asynchronous pruning (routes are removed at once).
"""
import heapq
import ipaddress

from emunet.control.bird.proto import PS_UP
from emunet.wire.ipv4 import int_to_ip


class Source:
    """``struct rte_src``: a protocol and a path id, with BIRD's global id."""

    __slots__ = ("proto", "path_id", "global_id", "uc")

    def __init__(self, proto, path_id: int, global_id: int):
        self.proto = proto
        self.path_id = path_id
        self.global_id = global_id
        self.uc = 0


class Rte:
    """A route in BIRD's table (``rte`` + ``rta``)."""

    __slots__ = ("key", "src", "pref", "kind", "attrs", "dest", "gw", "iface", "igp_metric",
                 "bgp_next_hop", "lastmod", "stale", "from_addr", "recursive")

    def __init__(self, key, src, pref, kind, attrs=None, dest="router", gw=None, iface=None,
                 igp_metric=0, bgp_next_hop=None, lastmod=0, from_addr=None, recursive=False):
        self.key = key
        self.src = src
        self.pref = pref
        self.kind = kind
        self.attrs = attrs
        self.dest = dest
        self.gw = gw
        self.iface = iface
        self.igp_metric = igp_metric
        self.bgp_next_hop = bgp_next_hop
        self.lastmod = lastmod
        self.stale = False
        self.from_addr = from_addr
        self.recursive = recursive

    @property
    def prefix(self) -> str:
        return f"{int_to_ip(self.key[0])}/{self.key[1]}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.prefix)

    @property
    def proto_name(self) -> str:
        return self.src.proto.name

    def same(self, other) -> bool:
        """``rte_same``: nothing a peer or the kernel would see has changed."""
        return (other is not None and self.attrs == other.attrs and self.dest == other.dest
                and self.gw == other.gw and self.iface == other.iface
                and self.igp_metric == other.igp_metric and self.pref == other.pref)

    @property
    def resolvable(self) -> bool:
        """The next hop is known (not unreachable for want of an IGP route)."""
        return self.dest in ("router", "device")

    def __repr__(self):
        return f"<Rte {self.prefix} {self.dest} {self.gw or ''} [{self.proto_name}]>"


def rte_better(new: Rte, old: Rte) -> bool:
    """``rte_better`` of the nest: preference first, then the protocol's own order (its
    ``rte_better`` hook) between routes of the same kind of protocol."""
    if new.pref != old.pref:
        return new.pref > old.pref
    if new.kind != old.kind:
        return False
    better = new.src.proto.rte_better
    return better(new, old) if better is not None else False


class RouteTable:
    """``rtable`` master: for each network ``(address, prefix length)`` its routes, the best
    first; the route sources; and the protocols a change is announced to -- the kernel
    protocol (the best route) and the BGP protocols (``protocols``, the daemon's list, which
    grows and shrinks with reconfiguration)."""

    def __init__(self, kernel, protocols: list):
        self.kernel = kernel
        self.protocols = protocols
        self.nets = {}
        #: networks with a route that is not plain iBGP, and how many (see ``announce``)
        self.nonplain = {}
        #: route changes a plain iBGP peer rejects without looking: (best changes, any changes)
        self.plain_changes = [0, 0]
        self._next_id = 0
        self._free_ids = []

    # -- sources (``rt_get_source`` with BIRD's global ids) -----------------------------------
    def new_source(self, proto, path_id: int, keep: bool = False) -> Source:
        """``idm_alloc``: the lowest free id (0 is reserved)."""
        if self._free_ids:
            gid = heapq.heappop(self._free_ids)
        else:
            self._next_id += 1
            gid = self._next_id
        s = Source(proto, path_id, gid)
        if keep:
            s.uc = 1 << 30
        return s

    def free_source(self, s: Source) -> None:
        heapq.heappush(self._free_ids, s.global_id)

    # -- routes ------------------------------------------------------------------------------
    def routes_of(self, proto) -> list:
        """Every route ``proto`` put in the table, as ``(network, source)`` pairs."""
        return [(r.key, r.src) for routes in self.nets.values() for r in routes if r.src.proto is proto]

    def rte_update(self, key, src, new, proto=None) -> bool:
        """``rte_update2`` → ``rte_recalculate``: put ``new`` (or nothing) in place of the
        route from ``src`` for ``key``; re-select the best; tell the kernel and the peers.
        Returns whether anything changed."""
        st = proto.stats if proto is not None else None
        routes = self.nets.get(key)
        old = None
        if routes:
            for r in routes:
                if r.src is src:
                    old = r
                    break
        if new is None and old is None:
            if st is not None:
                st.imp_withdraws_ignored += 1
            return False
        if new is not None and old is not None and new.same(old):
            old.stale = False  # a graceful-restart refresh (``rte_update`` on a stale route)
            if st is not None:
                st.imp_updates_ignored += 1
            return False
        if st is not None:
            if new is not None:
                st.imp_updates_accepted += 1
            else:
                st.imp_withdraws_accepted += 1
        if routes is None:
            routes = self.nets[key] = []
        old_best = routes[0] if routes else None
        if old is not None:
            routes.remove(old)
            if old.src.proto.kind == "bgp" and old.src is not old.src.proto.main_source:
                old.src.uc -= 1
        if new is not None:
            routes.append(new)
            if new.src.proto.kind == "bgp" and new.src is not new.src.proto.main_source:
                new.src.uc += 1
        if old is not None and old.src.uc <= 0 and old.src is not old.src.proto.main_source \
                and (new is None or new.src is not old.src):
            self._release(old.src)
        np = sum(1 for r in routes if not (r.kind == "bgp" and r.src.proto.ibgp_plain))
        if np:
            self.nonplain[key] = np
        else:
            self.nonplain.pop(key, None)
        if not routes:
            del self.nets[key]
            new_best = None
        else:
            best = old_best if old_best in routes else None
            for r in routes:
                if best is None or (r is not best and rte_better(r, best)):
                    best = r
            routes.remove(best)
            routes.insert(0, best)
            new_best = best
        best_changed = new_best is not old_best or (new_best is new and old is old_best)
        if best_changed:
            self.kernel.rt_notify(key, new_best)
        self.announce(key, new, old, new_best, old_best, best_changed)
        return True

    def _release(self, src: Source) -> None:
        p = src.proto
        if getattr(p, "sources", None) is not None and p.sources.get(src.path_id) is src:
            del p.sources[src.path_id]
        self.free_source(src)

    def announce(self, key, new, old, new_best, old_best, best_changed) -> None:
        """``rt_notify`` to every BGP protocol that is up.  A route learned over plain iBGP
        (no reflection) is rejected by ``bgp_import_control`` for every plain iBGP peer:
        such changes are only counted (``plain_changes``), which keeps a full mesh at
        O(reflecting and eBGP peers) per route change instead of O(all peers)."""
        def plain(r):
            return r is None or (r.kind == "bgp" and r.src.proto.ibgp_plain)
        any_plain = plain(new) and plain(old)
        best_plain = plain(new_best) and plain(old_best)
        if any_plain and new is not None:
            self.plain_changes[1] += 1
        if best_changed and best_plain and new_best is not None:
            self.plain_changes[0] += 1
        for p in self.protocols:
            if p.conn is None or p.proto_state != PS_UP:
                continue
            if p.add_path_tx:
                if p.ibgp_plain and any_plain:
                    continue
                if new is not None:
                    p.rt_notify(key, new, old, new.src.global_id)
                if old is not None and (new is None or new.src is not old.src):
                    p.rt_notify(key, None, old, old.src.global_id)
            elif best_changed:
                if p.ibgp_plain and best_plain:
                    continue
                p.rt_notify(key, new_best, old_best, None)


__all__ = ["Source", "Rte", "rte_better", "RouteTable"]
