"""The topologies the kernel tests build twice: in emunet, and in namespaces from the model.

The kernel topology is always derived from the emunet model (names, MACs, addresses,
routes), so both sides have the same parameters, down to the host-side veth MACs
(random in both worlds: the kernel's are set to the model's).
"""
import time

from emunet.sim import Simulator
from emunet.control.docker import DockerHost
from emunet.wire.ethernet import mac_to_str

from tests.kernel.harness import Topology, wait_quiet


def emunet_frames(sim, labels: dict) -> dict:
    """emunet's capture per interface label, as ``(time_ns, bytes, direction)``.

    ``labels`` maps a label (``"c1/eth0"``) to the model's ``namespace/iface``.  On ``lo``
    only the incoming copy is kept: libpcap drops the outgoing copy on loopback, so
    tcpdump -i lo (and our AF_PACKET capture) shows each packet once."""
    out = {}
    for label, key in labels.items():
        recs = sim.capture.on(key)
        if key.endswith("/lo"):
            recs = [r for r in recs if r.direction == "in"]
        out[label] = [(r.time_ns, bytes(r.data), r.direction) for r in recs]
    return out


# -- docker0 with two containers ----------------------------------------------------------
class DockerModel:
    """The docker-bridge topology in emunet: the scenario's parameters."""

    def __init__(self, seed: int = 1, containers=(("c1", "172.17.0.7"), ("c2", "172.17.0.8"))):
        self.sim = Simulator(seed=seed)
        self.host = DockerHost(self.sim)
        self.containers = {name: self.host.run(name, ip=ip) for name, ip in containers}

    def labels(self, with_lo: bool = True) -> dict:
        """Interface label → the model's ``namespace/iface`` (the labels name the kernel's too)."""
        br = self.host.bridge.name
        out = {f"host/{br}": f"host/{br}"}
        for name, c in self.containers.items():
            out[f"host/{c.veth_host.name}"] = f"host/{c.veth_host.name}"
            out[f"{name}/eth0"] = f"{name}/eth0"
            if with_lo:
                out[f"{name}/lo"] = f"{name}/lo"
        if with_lo:
            out["host/lo"] = "host/lo"
        return out


class DockerKernel:
    """The same topology in namespaces ``emuk-<case>-host``, ``-c1``, ``-c2``, built from a
    :class:`DockerModel`: docker0 with the model's MAC and address, one veth pair per
    container with the model's names and MACs on both ends, eth0 with the model's address,
    a default route via the bridge, IPv6 off, TX checksum offload off, forwarding on."""

    def __init__(self, t: Topology, model: DockerModel):
        self.t = t
        self.model = model
        host = model.host
        self.ns = {"host": t.netns("host", forwarding=True)}
        br = host.bridge
        h = self.ns["host"]
        # multicast snooping off: a bridge that snoops joins 224.0.0.106 and sends IGMPv3
        # reports when it comes up (FINDINGS §11); docker0 sends them before any port
        # exists and nobody sees them, and emunet does not model them
        t.ip(h, "link", "add", br.name, "type", "bridge", "mcast_snooping", "0")
        t.ip(h, "link", "set", br.name, "address", mac_to_str(br.mac))
        for a in host.ns.addresses(br):
            t.ip(h, "addr", "add", f"{a.ip}/{a.prefixlen}", "brd", "+", "dev", br.name)
        t.ip(h, "link", "set", br.name, "up")
        t.tx_csum_off(h, br.name)
        for name, c in model.containers.items():
            ns = self.ns[name] = t.netns(name)
            eth0 = c.ns.dev("eth0")
            t.veth(h, c.veth_host.name, ns, "eth0", mac_a=mac_to_str(c.veth_host.mac),
                   mac_b=mac_to_str(eth0.mac), mtu=eth0.mtu)
            for a in c.ns.addresses(eth0):
                t.ip(ns, "addr", "add", f"{a.ip}/{a.prefixlen}", "brd", "+", "dev", "eth0")
            t.ip(ns, "route", "add", "default", "via", str(host.gateway))
            t.ip(h, "link", "set", c.veth_host.name, "master", br.name)
            t.ip(h, "link", "set", c.veth_host.name, "up")

    def sniff(self, labels) -> dict:
        """One capture per label ``"<ns>/<iface>"``; the bridge is put in promiscuous mode,
        as tcpdump puts it."""
        out = {}
        for label in labels:
            short, ifname = label.split("/")
            out[label] = self.t.sniff(self.ns[short], ifname,
                                      promisc=ifname == self.model.host.bridge.name)
        return out


def settle(sniffers: dict, until: float, start: float, quiet: float = 0.3) -> dict:
    """Wait until ``until`` seconds after ``start`` (monotonic) and then until the captures
    are quiet; returns each label's frames."""
    left = start + until - time.monotonic()
    if left > 0:
        time.sleep(left)
    wait_quiet(list(sniffers.values()), quiet=quiet)
    return {label: list(s.drain()) for label, s in sniffers.items()}
