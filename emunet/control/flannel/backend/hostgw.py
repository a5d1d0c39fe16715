"""flannel's host-gw backend (``pkg/backend/hostgw/hostgw.go``, ``pkg/backend/route_network.go``).

Per remote lease the route ``<subnet> via <PublicIP> dev eth0``.  The kernel
refuses a gateway that is not on a directly connected network (ENETUNREACH,
"Nexthop has invalid gateway"), and flanneld logs ``Error adding route to
<subnet> via <gw> dev index <n>: network is unreachable``.  Every 10 s it
re-adds routes that went missing (silently when the kernel still refuses).
"""
from emunet.control.flannel.backend.base import Backend
from emunet.control.flannel.config import FlannelError
from emunet.control.flannel.subnet import ADDED
from emunet.sim import S

#: ``routeCheckRetries * time.Second``: the period of the check for missing routes
ROUTE_CHECK_S = 10


class HostGwBackend(Backend):
    """The host-gw backend: a route per remote subnet via the remote node's IP."""

    type = "host-gw"

    def __init__(self, d):
        super().__init__(d)
        self.routes = []       # (subnet, gateway): the routes it wants (n.routes)
        self.refused = {}      # subnet -> the error flanneld logged

    def register(self) -> None:
        d = self.d
        if d.public_ip != d.iface_addr:
            raise FlannelError("your PublicIP differs from interface IP, meaning that probably you're on a "
                               "NAT, which is not supported by host-gw backend")
        d.acquire_lease({"PublicIP": d.public_ip, "BackendType": "host-gw"})

    def run(self) -> None:
        self.d.after(ROUTE_CHECK_S * S, self._route_check)

    def _existing(self, sn):
        return [r for r in self.ns.fib.main.routes() if r.dst == sn]

    def handle(self, batch) -> None:
        d, ns = self.d, self.ns
        ifindex = d.iface.ifindex
        for typ, lease in batch:
            sn = lease.subnet
            if typ == ADDED:
                d.info("route_network.go", f"Subnet added: {sn} via {lease.public_ip}")
                if lease.backend_type != "host-gw":
                    d.warning("route_network.go", f"Ignoring non-host-gw subnet: type={lease.backend_type}")
                    continue
                want = (sn, lease.public_ip)
                if want not in self.routes:
                    self.routes.append(want)
                existing = self._existing(sn)
                if existing and not self._equal(existing[0], want):
                    old = existing[0]
                    d.warning("route_network.go", f"Replacing existing route to {sn} via {old.via} dev index "
                                                  f"{old.dev.ifindex if old.dev else 0} with {sn} via "
                                                  f"{lease.public_ip} dev index {ifindex}.")
                    ns.route_del(str(sn), dev=old.dev)
                    existing = []
                if existing:
                    d.info("route_network.go", f"Route to {sn} via {lease.public_ip} dev index {ifindex} "
                                               f"already exists, skipping.")
                    continue
                self._add(sn, lease.public_ip, log=True)
            else:
                d.info("route_network.go", f"Subnet removed: {sn}")
                if lease.backend_type and lease.backend_type != "host-gw":
                    d.warning("route_network.go", f"Ignoring non-host-gw subnet: type={lease.backend_type}")
                    continue
                self.routes = [w for w in self.routes if w[0] != sn]
                self.refused.pop(sn, None)
                try:
                    ns.route_del(str(sn), dev=d.iface)
                except LookupError:
                    d.error("route_network.go", f"Error deleting route to {sn}: no such process")

    def _equal(self, route, want) -> bool:
        return route.via == want[1] and route.dev is self.d.iface

    def _add(self, sn, gw: str, log: bool) -> bool:
        d = self.d
        try:
            self.ns.route_add(str(sn), via=gw, dev=d.iface)
        except ValueError:
            # the kernel: ENETUNREACH, extack "Nexthop has invalid gateway"
            if log:
                text = (f"Error adding route to {sn} via {gw} dev index {d.iface.ifindex}: "
                        f"network is unreachable")
                self.refused[sn] = text
                d.error("route_network.go", text)
            return False
        self.refused.pop(sn, None)
        return True

    def _route_check(self) -> None:
        """``checkSubnetExistInRoutes``: re-add wanted routes that are missing."""
        if not self.d.running:
            return
        for sn, gw in list(self.routes):
            if not any(self._equal(r, (sn, gw)) for r in self._existing(sn)):
                if self._add(sn, gw, log=False):
                    self.d.info("route_network.go", f"Route recovered {sn} : {gw}")
        self.d.after(ROUTE_CHECK_S * S, self._route_check)
