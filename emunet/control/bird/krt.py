"""``protocol kernel`` (``kernel1``): BIRD's best routes into the namespace's main table, as
BIRD 1.6's ``sysdep/unix/krt.c`` and ``sysdep/linux/netlink.c`` put them there.

A best route that changes goes through the export filter as a :class:`KernelRoute` (which the
filter may give a ``krt_tunnel``, Calico's patch for IPIP), then replaces what was installed
for its network: the old route deleted, the new one added with ``proto bird``
(``NLM_F_CREATE|NLM_F_EXCL``, so a clash with a route someone else put there is a sync error,
``!`` in ``show route``).  Direct routes and routes without a device stay out of the kernel.
On shutdown the routes are removed unless ``persist`` is set.  Every route the table
offers is counted as ``krt_import_control`` judges it: our own learned routes, device
routes and routes without a device are rejected, the filter's refusals filtered.

With ``learn`` (Calico's ``learn; scan time 2``) the main table's alien routes -- neither
``proto kernel`` nor ``proto bird``, e.g. the pod routes of the CNI plugin and the default
route -- come into BIRD's table as ``kernel1`` routes (preference 10, ``Kernel.source``
the rtm_protocol number): at start and at every scan, which also withdraws the ones gone.

Left out: the netlink notifications that make BIRD learn a route at once (here the next
scan, two seconds at most, finds it), multipath, ``learn all``, the kernel graceful restart.
"""

from emunet.control.bird.config import KernelRoute, run_filter
from emunet.control.bird.conn import Timer
from emunet.control.bird.proto import PREF_KERNEL, Protocol
from emunet.control.bird.rt import Rte

#: ``RTPROT_BIRD`` as iproute2's ``rt_protos`` names it
RTPROT_BIRD = "bird"
#: iproute2's ``rt_protos`` names and their numbers (``Kernel.source`` of a learned route)
RT_PROTOS = {"redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10,
             "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16}


class KernelProtocol(Protocol):
    """``kernel1``: ``export`` is its export filter (a callable taking a :class:`KernelRoute`,
    "all" or "none"), ``persist`` keeps its routes in the kernel when BIRD stops."""

    def __init__(self, bird, export="none", persist: bool = False, learn: bool = False,
                 scan_time: int = 2):
        super().__init__(bird, "kernel1", "Kernel", "kernel")
        self.export = export
        self.persist = persist
        self.learn = learn
        self.scan_time = scan_time
        self.learned = {}            # network -> the kernel route it was learned from
        self.scan_timer = Timer(bird, self._scan_tick)
        self.installed = {}          # network -> (the kernel's Route, KernelRoute)
        self.errors = set()          # networks whose route could not be installed
        #: when the kernel table last changed because of us (virtual ns)
        self.last_change = 0

    # -- learn (``krt_got_route`` of alien routes, ``krt_scan``) ------------------------------
    def start(self) -> None:
        if self.learn:
            self.scan()
            self.scan_timer.start(self.scan_time)

    def _scan_tick(self) -> None:
        if self.bird.running and not self.bird.stopping:
            self.scan()
            self.scan_timer.start(self.scan_time)

    def scan(self) -> None:
        """The main table's alien routes into BIRD's table; the ones gone withdrawn."""
        bird = self.bird
        found = {}
        for r in bird.ns.fib.main:
            if r.proto in ("kernel", RTPROT_BIRD) or r.table != "main":
                continue
            key = (int(r.dst.network_address), r.dst.prefixlen)
            if key not in found:
                found[key] = r
        table = bird.table
        for key in [k for k in self.learned if k not in found]:
            del self.learned[key]
            self.stats.imp_withdraws_received += 1
            table.rte_update(key, self.main_source, None, self)
        for key, r in found.items():
            if self.learned.get(key) is r:
                continue
            self.learned[key] = r
            if r.type != "unicast":
                dest, gw, iface = r.type, None, None
            elif r.via:
                dest, gw, iface = "router", r.via, r.dev.name if r.dev is not None else None
            else:
                dest, gw, iface = "device", None, r.dev.name if r.dev is not None else None
            attrs = (RT_PROTOS.get(r.proto, r.proto), r.metric)
            self.stats.imp_updates_received += 1
            table.rte_update(key, self.main_source, Rte(key, self.main_source, PREF_KERNEL, "kernel", attrs,
                                                        dest, gw, iface, 0, None, bird.sim.now), self)

    # -- export -------------------------------------------------------------------------------
    def rt_notify(self, key, best) -> None:
        """The best route of network ``key`` changed (None: there is none now)."""
        if self.bird.stopping:
            return  # the kernel protocol is shut down with the rest (``persist`` or not)
        st = self.stats
        if best is None:
            if key in self.installed:
                st.exp_withdraws_received += 1
                st.exp_withdraws_accepted += 1
            self.remove(key)
            return
        st.exp_updates_received += 1
        if (best.src.proto is self or best.kind == "direct"
                or (best.dest == "router" and best.iface is None)):
            st.exp_updates_rejected += 1
            self.remove(key)
            return
        kr = KernelRoute(best.prefix, best.dest, best.gw, best.iface, best.bgp_next_hop, best.kind)
        if not run_filter(self.export, kr):
            st.exp_updates_filtered += 1
            self.remove(key)
            return
        st.exp_updates_accepted += 1
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


__all__ = ["RTPROT_BIRD", "RT_PROTOS", "KernelProtocol"]
