"""The seed's "three-layer BGP" picture: two LANs joined by border routers speaking eBGP.

::

    host1 10.1.0.2 ─┐                                          ┌─ host3 10.2.0.2
                    ├ lan1 ── eth0 Route1 eth1 ── wan ── eth1 Route2 eth0 ── lan2 ┤
    host2 10.1.0.3 ─┘  10.1.0.1/24   AS 64512  172.16.0.0/30  AS 64513  10.2.0.1/24 └─ host4 10.2.0.3

Addresses and AS numbers are private (RFC 1918, RFC 6996): LAN 1 is 10.1.0.0/24, LAN 2
10.2.0.0/24, the routers' link 172.16.0.0/30 (Route1 .1, Route2 .2); Route1 is AS 64512,
Route2 AS 64513.  Each router runs ``bird`` (:class:`emunet.control.bird.Bird`) with the
configuration a network engineer would write::

    router id 172.16.0.1;
    protocol kernel { export all; }
    protocol device { }
    protocol direct { interface "eth0"; }
    protocol bgp Route2 {
      local as 64512;
      neighbor 172.16.0.2 as 64513;
      export where net = 10.1.0.0/24;
    }

(and the mirror image on Route2).  So each router announces its LAN, learned from the
direct protocol, over a direct eBGP session (TTL 1, TOS 0xC0, next hop self, AS path
``64512``) and programs what it learns as ``10.2.0.0/24 via 172.16.0.2 dev eth1 proto
bird``.  The hosts only have a default route to their router.

Timeline (virtual seconds): both birds start at 0 and connect after BIRD's connect delay
(5 s less up to 1 s of jitter, on each router's own one-second clock); the first SYN
to arrive wins and the other router drops its pending attempt.  OPEN, KEEPALIVE,
UPDATE and End-of-RIB follow; at 10 s host1 pings host3 twice across both routers (TTL 62
at host3: two forwarding hops).  The run lasts 100 s, long enough for one round of keepalives (every 60-80 s).
"""
from emunet.apps.ping import Ping
from emunet.control.bird import BgpPeer, Bird
from emunet.devices.switch import Nic, Switch
from emunet.scenarios.base import Lab
from emunet.sim import S
from emunet.stack.namespace import Namespace
from emunet.topology import nic_mac

LAN1 = "10.1.0.0/24"
LAN2 = "10.2.0.0/24"
AS_ROUTE1 = 64512
AS_ROUTE2 = 64513


def _exports(prefix: str):
    def export_lan(r) -> bool:
        return r.prefix == prefix
    export_lan.__name__ = "(unnamed)"
    return export_lan


class BgpBorder(Lab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("bgp-border", seed, capture)
        sim = self.sim
        self.lan1 = Switch(sim, "lan1")
        self.lan2 = Switch(sim, "lan2")
        self.wan = Switch(sim, "wan")
        self.route1 = self._router("Route1", self.lan1, "10.1.0.1/24", "172.16.0.1/30")
        self.route2 = self._router("Route2", self.lan2, "10.2.0.1/24", "172.16.0.2/30")
        self.host1 = self._host("host1", self.lan1, "10.1.0.2/24", "10.1.0.1")
        self.host2 = self._host("host2", self.lan1, "10.1.0.3/24", "10.1.0.1")
        self.host3 = self._host("host3", self.lan2, "10.2.0.2/24", "10.2.0.1")
        self.host4 = self._host("host4", self.lan2, "10.2.0.3/24", "10.2.0.1")
        self.bird1 = Bird("172.16.0.1", AS_ROUTE1,
                          peers=[BgpPeer("172.16.0.2", AS_ROUTE2, name="Route2")],
                          export=_exports(LAN1), kernel_export="all", direct=("eth0",))
        self.bird2 = Bird("172.16.0.2", AS_ROUTE2,
                          peers=[BgpPeer("172.16.0.1", AS_ROUTE1, name="Route1")],
                          export=_exports(LAN2), kernel_export="all", direct=("eth0",))
        self.hosts.update({"Route1": self.route1, "Route2": self.route2})
        self.ping = None
        self.duration = 100.0

    def _nic(self, ns, name: str, switch: Switch, cidr: str) -> Nic:
        ip = cidr.split("/")[0]
        nic = Nic(self.sim, name, nic_mac(ip))
        ns.add_device(nic)
        switch.connect(nic)
        nic.set_up()
        ns.addr_add(nic, cidr)
        return nic

    def _router(self, name: str, lan: Switch, lan_cidr: str, wan_cidr: str) -> Namespace:
        ns = Namespace(self.sim, name)
        ns.set_sysctl("net.ipv4.ip_forward", 1)
        self._nic(ns, "eth0", lan, lan_cidr)
        self._nic(ns, "eth1", self.wan, wan_cidr)
        return ns

    def _host(self, name: str, lan: Switch, cidr: str, gateway: str) -> Namespace:
        ns = Namespace(self.sim, name)
        self._nic(ns, "eth0", lan, cidr)
        ns.route_add("default", via=gateway, dev="eth0")
        self.hosts[name] = ns
        return ns

    def settle(self) -> None:
        self._start_birds()
        self.sim.run(until=self.sim.time + 10.0)

    def _start_birds(self) -> None:
        if self.bird1.ns is None:
            self.spawn(self.route1, self.bird1, "bird -c /etc/bird/bird.conf   # on Route1")
            self.spawn(self.route2, self.bird2, "bird -c /etc/bird/bird.conf   # on Route2")

    def traffic(self) -> None:
        self._start_birds()
        self.sim.after(10 * S, self._ping)

    def _ping(self) -> None:
        self.ping = self.spawn(self.host1, Ping("10.2.0.2", count=2, linger=5.0),
                               "ping -c 2 10.2.0.2   # on host1")

    def run(self):
        super().run()
        self.transcript.append("$ birdc show protocols   # on Route1")
        self.transcript.extend(self.bird1.birdc("show protocols").splitlines())
        self.transcript.append("$ birdc show route   # on Route1")
        self.transcript.extend(self.bird1.birdc("show route").splitlines())
        self.transcript.append("$ ip route   # on Route1")
        self.transcript.extend(r.show() for r in self.route1.fib.main.routes())
        return self


def build(seed: int = 1, capture: bool = True) -> BgpBorder:
    return BgpBorder(seed, capture)
