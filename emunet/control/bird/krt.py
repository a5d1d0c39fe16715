"""``protocol kernel`` (``kernel1``): BIRD's best routes into the namespace's main table, as
BIRD 1.6's ``sysdep/unix/krt.c`` and ``sysdep/linux/netlink.c`` put them there.

A best route that changes goes through the export filter as a :class:`KernelRoute` (which the
filter may give a ``krt_tunnel``, Calico's patch for IPIP), then replaces what was installed
for its network: the old route deleted, the new one added with ``proto bird``
(``NLM_F_CREATE|NLM_F_EXCL``, so a clash with a route someone else put there is a sync error,
``!`` in ``show route``).  Direct routes and routes without a device stay out of the kernel.
On shutdown the routes are removed unless ``persist`` is set.

Left out: ``learn`` of alien routes and the periodic scan.
"""
from emunet.control.bird.config import KernelRoute, run_filter
from emunet.control.bird.proto import Protocol

#: ``RTPROT_BIRD`` as iproute2's ``rt_protos`` names it
RTPROT_BIRD = "bird"


class KernelProtocol(Protocol):
    """``kernel1``: ``export`` is its export filter (a callable taking a :class:`KernelRoute`,
    "all" or "none"), ``persist`` keeps its routes in the kernel when BIRD stops."""

    def __init__(self, bird, export="none", persist: bool = False):
        super().__init__(bird, "kernel1", "Kernel", "kernel")
        self.export = export
        self.persist = persist
        self.installed = {}          # network -> (the kernel's Route, KernelRoute)
        self.errors = set()          # networks whose route could not be installed
        #: when the kernel table last changed because of us (virtual ns)
        self.last_change = 0

    def rt_notify(self, key, best) -> None:
        """The best route of network ``key`` changed (None: there is none now)."""
        if self.bird.stopping:
            return  # the kernel protocol is shut down with the rest (``persist`` or not)
        if best is None:
            self.remove(key)
            return
        if best.kind == "direct" or (best.dest == "router" and best.iface is None):
            self.remove(key)
            return
        kr = KernelRoute(best.prefix, best.dest, best.gw, best.iface, best.bgp_next_hop, best.kind)
        if not run_filter(self.export, kr):
            self.remove(key)
            return
        self.install(key, kr)

    def install(self, key, kr: KernelRoute) -> None:
        """``krt_replace_rte`` → ``nl_send_route``: delete the old route, add the new one
        (``NLM_F_CREATE|NLM_F_EXCL``); a clash is remembered as a sync error."""
        bird = self.bird
        ns = bird.ns
        self.remove(key)
        try:
            if kr.dest == "router":
                if kr.krt_tunnel:
                    r = ns.route_add(kr.prefix, dev=kr.krt_tunnel, via=kr.bgp_next_hop or kr.gw,
                                     proto=RTPROT_BIRD, onlink=True, metric=kr.krt_metric)
                else:
                    r = ns.route_add(kr.prefix, dev=kr.iface, via=kr.gw, proto=RTPROT_BIRD,
                                     metric=kr.krt_metric)
            elif kr.dest == "device":
                r = ns.route_add(kr.prefix, dev=kr.iface, proto=RTPROT_BIRD, metric=kr.krt_metric)
            else:
                r = ns.route_add(kr.prefix, type=kr.dest, proto=RTPROT_BIRD, metric=kr.krt_metric)
        except (FileExistsError, ValueError, KeyError) as e:
            self.errors.add(key)
            bird.events.append((bird.sim.now, self.name, f"Error adding route {kr.prefix}: {e}"))
            return
        self.errors.discard(key)
        self.installed[key] = (r, kr)
        self.last_change = bird.sim.now

    def remove(self, key) -> None:
        """``ip route del`` of what we installed for network ``key`` (gone already: nothing)."""
        got = self.installed.pop(key, None)
        self.errors.discard(key)
        if got is None:
            return
        r, _ = got
        try:
            self.bird.ns.route_del(r.dst, dev=r.dev, table=r.table, metric=r.metric)
        except LookupError:
            return
        self.last_change = self.bird.sim.now

    def shutdown(self) -> None:
        """``krt_shutdown``: without ``persist``, our routes leave the kernel."""
        if not self.persist:
            for key in list(self.installed):
                self.remove(key)

    def text(self, key) -> str:
        """What became of network ``key`` in the kernel (for a capture comment)."""
        got = self.installed.get(key)
        if got is None:
            return "sync error" if key in self.errors else "not installed"
        return got[0].show()


__all__ = ["RTPROT_BIRD", "KernelProtocol"]
