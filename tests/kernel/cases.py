"""The topologies the kernel tests build twice: in emunet, and in namespaces from the model.

The kernel topology is always derived from the emunet model (names, MACs, addresses,
routes), so both sides have the same parameters, down to the host-side veth MACs
(random in both worlds: the kernel's are set to the model's).
"""
import time

from emunet.sim import Simulator
from emunet.control.docker import DockerHost
from emunet.wire.ethernet import mac_to_str

from tests.kernel.harness import Topology, run, wait_quiet


def emunet_frames(sim, labels) -> dict:
    """emunet's capture per interface ``namespace/iface``, as ``(time_ns, bytes, direction)``.

    On ``lo`` only the incoming copy is kept: libpcap drops the outgoing copy on loopback,
    so tcpdump -i lo (and our AF_PACKET capture) shows each packet once."""
    out = {}
    for key in labels:
        recs = sim.capture.on(key)
        if key.endswith("/lo"):
            recs = [r for r in recs if r.direction == "in"]
        out[key] = [(r.time_ns, bytes(r.data), r.direction) for r in recs]
    return out


# -- docker0 with two containers ----------------------------------------------------------
class DockerModel:
    """The docker-bridge topology in emunet: the scenario's parameters."""

    def __init__(self, seed: int = 1, containers=(("c1", "172.17.0.7"), ("c2", "172.17.0.8"))):
        self.sim = Simulator(seed=seed)
        self.host = DockerHost(self.sim)
        self.containers = {name: self.host.run(name, ip=ip) for name, ip in containers}



class Mirror:
    """An emunet model built again in namespaces ``emuk-<case>-<namespace>``.

    Every namespace of the simulator becomes a network namespace (IPv6 off, ``lo`` up,
    ``ip_forward`` as in the model) and every device the same kind of Linux device with
    the same name, MAC and MTU: a bridge (multicast snooping off, see below), a veth pair
    (one end in each namespace), a VXLAN device (``id``, ``local``, ``dev``, ``dstport``,
    ``nolearning``, its permanent FDB entries).  Then bridge ports, addresses,
    the main table's non-kernel routes (``via``, ``onlink``, ``src``, ``metric``),
    permanent neighbours, and TX checksum offload off on every device.  Devices the
    kernel here cannot make (TUN fed by a process, ipip, the underlay's NICs and switch)
    raise :class:`Unsupported`.

    A bridge is created with ``mcast_snooping 0``: a snooping bridge joins 224.0.0.106
    and sends two IGMPv3 reports when it comes up (FINDINGS §11), which emunet does not
    model; in a real docker host they go out before any port exists and nobody sees
    them.  Snooping only changes how multicast is forwarded, which no case sends."""

    def __init__(self, t: Topology, sim):
        from emunet.devices.bridge import Bridge
        from emunet.devices.loopback import Loopback
        from emunet.devices.veth import Veth
        from emunet.devices.vxlan import Vxlan

        self.t = t
        self.sim = sim
        self.ns = {}
        for name, ns in sim.namespaces.items():
            self.ns[name] = t.netns(name, forwarding=ns.ip_forward)
        done = set()
        # devices first, VXLAN devices last (they name a lower device)
        for name, ns in sim.namespaces.items():
            k = self.ns[name]
            devs = sorted(ns.devices.values(), key=lambda d: isinstance(d, Vxlan))
            for dev in devs:
                if isinstance(dev, Loopback) or dev in done:
                    continue
                if isinstance(dev, Bridge):
                    t.ip(k, "link", "add", dev.name, "type", "bridge", "mcast_snooping", "0")
                elif isinstance(dev, Veth):
                    peer = dev.peer
                    done.update((dev, peer))
                    t.veth(k, dev.name, self.ns[peer.ns.name], peer.name, mac_a=mac_to_str(dev.mac),
                           mac_b=mac_to_str(peer.mac), mtu=dev.mtu)
                    continue
                elif isinstance(dev, Vxlan):
                    args = ["link", "add", dev.name, "type", "vxlan", "id", str(dev.vni),
                            "local", _ip(dev.local), "dstport", str(dev.dstport)]
                    if dev.lower is not None:
                        args += ["dev", dev.lower.name]
                    if not dev.learning:
                        args.append("nolearning")
                    if dev.port_range != (0, 0):
                        args += ["srcport", *map(str, dev.port_range)]
                    if dev.ttl:
                        args += ["ttl", str(dev.ttl)]
                    if not dev.udpcsum:
                        args.append("noudpcsum")
                    t.ip(k, *args)
                else:
                    raise Unsupported(f"{dev.key} is a {type(dev).__name__}: the kernel "
                                      f"comparison does not build those")
                t.ip(k, "link", "set", dev.name, "address", mac_to_str(dev.mac), "mtu", str(dev.mtu))
        for name, ns in sim.namespaces.items():
            k = self.ns[name]
            for dev in ns.devices.values():
                if dev.master is not None:
                    t.ip(k, "link", "set", dev.name, "master", dev.master.name)
            for dev in ns.devices.values():
                if not isinstance(dev, Loopback):
                    t.tx_csum_off(k, dev.name)
                    if dev.admin_up:
                        t.ip(k, "link", "set", dev.name, "up")
            for a in ns.addrs:
                if a.dev.loopback:
                    continue
                args = ["addr", "add", f"{a.ip}/{a.prefixlen}"]
                if a.broadcast is not None:
                    args += ["brd", str(a.broadcast)]
                if a.scope != "global":
                    args += ["scope", a.scope]
                t.ip(k, *args, "dev", a.dev.name)
            for r in ns.main_table:
                if r.proto == "kernel":
                    continue
                args = ["route", "add"]
                if r.type != "unicast":
                    args.append(r.type)
                args.append(str(r.dst))
                if r.via:
                    args += ["via", r.via]
                if r.dev is not None:
                    args += ["dev", r.dev.name]
                if r.onlink:
                    args.append("onlink")
                if r.src:
                    args += ["src", r.src]
                if r.metric:
                    args += ["metric", str(r.metric)]
                t.ip(k, *args)
            for n in ns.neigh:
                if n.state == "PERMANENT":
                    t.ip(k, "neigh", "add", _ip(n.ip), "lladdr", mac_to_str(n.lladdr),
                         "dev", n.dev.name, "nud", "permanent")
            for dev in ns.devices.values():
                if isinstance(dev, Vxlan):
                    for e in dev.fdb_entries():
                        run(["bridge", "-n", k, "fdb", "append", mac_to_str(e.mac), "dev", dev.name,
                             "dst", _ip(e.dst), "self"] + (["permanent"] if e.permanent else []))
                elif isinstance(dev, Bridge):
                    for e in dev.fdb_entries():
                        if e.is_static:
                            run(["bridge", "-n", k, "fdb", "add", mac_to_str(e.mac), "dev",
                                 e.port.name, "master", "static"])

    @staticmethod
    def labels_of(sim, lo: bool = True) -> list:
        """Every interface of the model, as ``namespace/iface``."""
        return [f"{name}/{d}" for name, ns in sim.namespaces.items() for d in ns.devices
                if lo or d != "lo"]

    def sniff(self, labels) -> dict:
        """One capture per label ``namespace/iface``; bridges in promiscuous mode, as tcpdump
        puts them."""
        from emunet.devices.bridge import Bridge
        out = {}
        for label in labels:
            name, ifname = label.split("/")
            dev = self.sim.ns(name).dev(ifname)
            out[label] = self.t.sniff(self.ns[name], ifname, promisc=isinstance(dev, Bridge))
        return out


class Unsupported(Exception):
    """The model has a device the kernel comparison cannot build."""


def _ip(n: int) -> str:
    return ".".join(str(n >> s & 0xFF) for s in (24, 16, 8, 0))


def settle(sniffers: dict, until: float, start: float, quiet: float = 0.3) -> dict:
    """Wait until ``until`` seconds after ``start`` (monotonic) and then until the captures
    are quiet; returns each label's frames."""
    left = start + until - time.monotonic()
    if left > 0:
        time.sleep(left)
    wait_quiet(list(sniffers.values()), quiet=quiet)
    return {label: list(s.drain()) for label, s in sniffers.items()}
