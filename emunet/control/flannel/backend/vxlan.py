"""flannel's vxlan backend (``pkg/backend/vxlan/``: ``vxlan.go``, ``device.go``,
``vxlan_network.go``; the VTEP's address from ``pkg/mac/mac.go``).

``flannel.1`` (VNI 1, dstport 8472, local = the node's IP, dev eth0,
nolearning, a random locally administered MAC, MTU eth0 − 50, address
``<subnet>/32``); per remote lease the PERMANENT neighbour ``<subnet .0> lladdr
<VtepMAC>``, the FDB entry ``<VtepMAC> dst <PublicIP> self permanent``, and the
route ``<subnet> via <subnet .0> dev flannel.1 onlink``; removal deletes all
three.  With ``DirectRouting`` a lease whose PublicIP is on one of eth0's
networks gets a plain route via that address instead.
"""
import functools

from emunet.control.flannel.backend.base import Backend
from emunet.control.flannel.config import FlannelError
from emunet.control.flannel.subnet import ADDED
from emunet.devices.vxlan import Vxlan
from emunet.wire.ethernet import eth_random_addr, mac_to_bytes, mac_to_str
from emunet.wire.ipv4 import ip_to_int
from emunet.wire.vxlan import LINUX_VXLAN_PORT, VXLAN_OVERHEAD


@functools.lru_cache(maxsize=4096)
def vtep_mac(text):
    """A lease's ``VtepMAC`` as bytes and as Go prints it, parsed once for all the nodes
    that program it."""
    mac = mac_to_bytes(text)
    return mac, mac_to_str(mac)


class VxlanBackend(Backend):
    """The vxlan backend: flannel.<VNI> and, per remote lease, neighbour + FDB + route."""

    type = "vxlan"

    def __init__(self, d):
        super().__init__(d)
        self.direct_routing = False
        self.dev = None

    def mtu(self) -> int:
        return self.d.iface.mtu - VXLAN_OVERHEAD

    def register(self) -> None:
        d = self.d
        vni = int(self.cfg.get("VNI", 1))
        port = int(self.cfg.get("Port", 0))
        self.direct_routing = bool(self.cfg.get("DirectRouting", False))
        learning = bool(self.cfg.get("Learning", False))
        gbp = bool(self.cfg.get("GBP", False))
        d.info("vxlan.go", f"VXLAN config: VNI={vni} Port={port} GBP={str(gbp).lower()} "
                           f"Learning={str(learning).lower()} DirectRouting={str(self.direct_routing).lower()}")
        name = f"flannel.{vni}"
        mac = eth_random_addr(self.sim.rng)     # pkg/mac NewHardwareAddr: random, local, unicast
        dev = Vxlan(self.sim, name, vni, d.iface_addr, lower=d.iface, mac=mac,
                    dstport=port or LINUX_VXLAN_PORT, learning=learning,
                    mtu=d.iface.mtu - VXLAN_OVERHEAD, hashrnd=d.hashrnd)
        if name in self.ns.devices:
            raise FlannelError(f"failed to create vxlan interface: {name} exists")
        self.ns.add_device(dev)
        self.dev = dev
        lease = d.acquire_lease({"PublicIP": d.public_ip, "BackendType": "vxlan",
                                 "BackendData": {"VtepMAC": mac_to_str(mac)}})
        # a /32, so that no broadcast or prefix route is created
        self.ns.addr_add(dev, f"{lease.subnet.network_address}/32")
        try:
            dev.set_up()
        except OSError as e:
            raise FlannelError(f"failed to set interface {name} to UP state: {e}") from None

    def _direct(self, lease) -> bool:
        if not self.direct_routing:
            return False
        gw = ip_to_int(lease.public_ip)
        return any(a.network.prefixlen < 32 and (gw ^ int(a.ip)) >> (32 - a.prefixlen) == 0
                   for a in self.ns.addresses(self.d.iface))

    def handle(self, batch) -> None:
        d, ns, dev = self.d, self.ns, self.dev
        for typ, lease in batch:
            sn = lease.subnet
            if lease.backend_type != "vxlan":
                d.warning("vxlan_network.go", f"ignoring non-vxlan subnet({sn}): type={lease.backend_type}")
                continue
            try:
                mac, mac_text = vtep_mac((lease.backend_data or {})["VtepMAC"])
            except (KeyError, ValueError, TypeError) as e:
                d.error("vxlan_network.go", f"error decoding subnet lease JSON: {e}")
                continue
            gw = lease.gateway
            if typ == ADDED:
                if self._direct(lease):
                    d.verbose(2, "vxlan_network.go", f"Adding direct route to subnet: {sn} PublicIP: "
                                                     f"{lease.public_ip}")
                    try:
                        ns.route_add(str(sn), via=lease.public_ip, replace=True)
                    except ValueError as e:
                        d.error("vxlan_network.go", f"Error adding route to {sn} via {lease.public_ip}: {e}")
                    continue
                d.verbose(2, "vxlan_network.go", f"adding subnet: {lease.subnet_text} PublicIP: "
                                                 f"{lease.public_ip} VtepMAC: {mac_text}")
                ns.neigh.add_permanent(dev, lease.gateway_int, mac)
                dev.fdb_add(mac, lease.public_ip_int)
                # last, or the kernel would ARP for the gateway
                ns.route_add(sn, dev=dev, via=gw, onlink=True, replace=True)
            else:
                d.verbose(2, "vxlan_network.go", f"removing subnet: {lease.subnet_text} PublicIP: "
                                                 f"{lease.public_ip} VtepMAC: {mac_text}")
                try:
                    ns.neigh.delete(dev, lease.gateway_int)
                except LookupError as e:
                    d.error("vxlan_network.go", f"DelARP failed: {e}")
                try:
                    dev.fdb_del(mac)
                except LookupError as e:
                    d.error("vxlan_network.go", f"DelFDB failed: {e}")
                try:
                    ns.route_del(sn, dev=dev)
                except LookupError as e:
                    d.error("vxlan_network.go", f"failed to delete vxlanRoute ({sn} -> {gw}): {e}")
