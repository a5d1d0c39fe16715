"""Layer 2 VLANs: two VLANs on one switch and a router on a stick.

The seed names "Layer 2 VLAN" as an underlay mode; this is the picture behind
it.  One 802.1Q switch ``sw0`` carries two VLANs:

=========  ===================  ===============  ==============================
VLAN       subnet               gateway          hosts (access ports)
=========  ===================  ===============  ==============================
10         192.168.10.0/24      192.168.10.1     h10a .11, h10b .12
20         192.168.20.0/24      192.168.20.1     h20a .11, and ``stray``
=========  ===================  ===============  ==============================

``stray`` is cabled to a VLAN 20 port but configured as if it were on VLAN 10
(192.168.10.13/24, gateway 192.168.10.1): the classic patching mistake.

The ``router`` has one NIC, ``eth0``, on a trunk port (VLANs 10 and 20 tagged, no
native VLAN), and on it the sub-interfaces ``eth0.10`` (192.168.10.1/24) and
``eth0.20`` (192.168.20.1/24), made with ``ip link add link eth0 name eth0.10 type
vlan id 10``; ``ip_forward=1``.  Every NIC's MAC is 42:01 + its (first) IPv4
address, the underlay's convention (:func:`emunet.topology.nic_mac`); the
sub-interfaces have the router's NIC MAC, as the kernel gives them.

Traffic:

1. t=0 s, h10a pings h10b: the ARP request is flooded in VLAN 10 only (h10b's
   port untagged, the trunk tagged with VID 10: the router sees it on ``eth0``
   tagged, on ``eth0.10`` untagged, and ignores it), never to VLAN 20; reply and
   echo go host to host, untagged.
2. t=1 s, h10a pings h20a: different subnets, so via the default gateway
   192.168.10.1: the frames climb the trunk tagged 10, the router forwards from
   ``eth0.10`` to ``eth0.20`` (TTL 64 → 63) and they come down tagged 20; the
   router's ARP for h20a is flooded in VLAN 20 (h20a and stray get it).
3. t=2 s, h10a pings stray (192.168.10.13): its ARP requests are flooded in
   VLAN 10, where stray is not; three of them, one second apart, go unanswered,
   the neighbour entry fails (``NEIGH_FAILED``) and ping prints "Destination Host
   Unreachable" from h10a itself.

A capture on the trunk (``router/eth0``) shows every frame tagged; on ``eth0.10``
and ``eth0.20`` untagged.  Minimum-size frames: a tagged ARP request is 46 bytes
in the router's capture and padded to 60 on the wire; the switch re-pads
frames it untags to 60, and a 60-byte frame it tags is 64.
"""
from emunet.apps.ping import Ping
from emunet.topology import nic_mac
from emunet.devices.switch import Nic, Switch
from emunet.devices.vlan import vlan_add
from emunet.scenarios.base import Lab
from emunet.sim import S
from emunet.stack.namespace import Namespace

VLANS = {10: ("192.168.10.0/24", "192.168.10.1"), 20: ("192.168.20.0/24", "192.168.20.1")}
#: name -> (access VLAN of its switch port, address/prefix, default gateway)
HOSTS = {
    "h10a": (10, "192.168.10.11/24", "192.168.10.1"),
    "h10b": (10, "192.168.10.12/24", "192.168.10.1"),
    "h20a": (20, "192.168.20.11/24", "192.168.20.1"),
    "stray": (20, "192.168.10.13/24", "192.168.10.1"),   # on VLAN 20, addressed for VLAN 10
}


class VlanLab(Lab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("vlan", seed, capture)
        sim = self.sim
        self.switch = sw = Switch(sim, "sw0")
        self.router = r = Namespace(sim, "router")
        r.set_sysctl("net.ipv4.ip_forward", 1)
        trunk = r.add_device(Nic(sim, "eth0", nic_mac(VLANS[10][1])))
        sw.connect(trunk)
        trunk.set_up()
        sw.set_trunk(trunk, allowed=sorted(VLANS))
        self.subifs = {}
        for vid, (net, gw) in VLANS.items():
            sub = vlan_add(r, "eth0", vid)          # ip link add link eth0 name eth0.VID type vlan id VID
            sub.set_up()
            r.addr_add(sub, f"{gw}/{net.split('/')[1]}")
            self.subifs[vid] = sub
        self.hosts.update({"router": r, "sw0": sw})
        self.ns = {}
        for name, (vid, cidr, gw) in HOSTS.items():
            ns = Namespace(sim, name)
            eth0 = ns.add_device(Nic(sim, "eth0", nic_mac(cidr.split("/")[0])))
            sw.connect(eth0)
            sw.set_access(eth0, vid)
            eth0.set_up()
            ns.addr_add(eth0, cidr)
            ns.route_add("default", via=gw, dev="eth0")
            self.ns[name] = ns
            self.hosts[name] = ns
        self.duration = 60.0

    def traffic(self) -> None:
        h10a = self.ns["h10a"]
        self.spawn(h10a, Ping("192.168.10.12", count=1), "h10a$ ping -c 1 192.168.10.12")
        self.sim.after(1 * S, lambda: self.spawn(h10a, Ping("192.168.20.11", count=1),
                                                 "h10a$ ping -c 1 192.168.20.11"))
        self.sim.after(2 * S, lambda: self.spawn(h10a, Ping("192.168.10.13", count=1, linger=5.0),
                                                 "h10a$ ping -c 1 -W 5 192.168.10.13"))

    def run(self) -> "VlanLab":
        super().run()
        sw = self.switch
        self.transcript.append("$ show vlan / show mac address-table   # on sw0")
        for p in sw.ports:
            self.transcript.append(f"{p.key:<12} {sw.port_vlan(p).describe()}")
        for vid, mac, port in sw.mac_table():
            self.transcript.append(f"{vid:>4}  {':'.join(f'{b:02x}' for b in mac)}  DYNAMIC  {port.key}")
        return self


def build(seed: int = 1, capture: bool = True) -> VlanLab:
    return VlanLab(seed, capture)
