"""The topologies the kernel tests build twice: in emunet, and in namespaces from the model.

The kernel topology is always derived from the emunet model (names, MACs, addresses,
routes), so both sides have the same parameters, down to the host-side veth MACs
(random in both worlds: the kernel's are set to the model's).
"""
import os
import sys
import time

from emunet.sim import Simulator
from emunet.control.docker import DockerHost
from emunet.wire.ethernet import mac_to_str
from emunet.observe.capture import Capture

from tests.kernel.harness import Topology, run, wait_quiet


def emunet_frames(sim, labels) -> dict:
    """emunet's capture per interface ``namespace/iface``, as ``(time_ns, bytes, direction)``.

    On ``lo`` only the incoming copy is kept: libpcap drops the outgoing copy on loopback,
    so tcpdump -i lo (and our AF_PACKET capture) shows each packet once."""
    out = {}
    for key in labels:
        recs = Capture.of(sim).on(key)
        if key.endswith("/lo"):
            recs = [r for r in recs if r.direction == "in"]
        out[key] = [(r.time_ns, bytes(r.data), r.direction) for r in recs]
    return out


# -- docker0 with two containers ----------------------------------------------------------
class DockerModel:
    """The docker-bridge topology in emunet: the scenario's parameters."""

    def __init__(self, seed: int = 1, containers=(("c1", "172.17.0.7"), ("c2", "172.17.0.8"))):
        self.sim = Simulator(seed=seed)
        Capture.attach(self.sim)
        self.host = DockerHost(self.sim)
        self.containers = {name: self.host.run(name, ip=ip) for name, ip in containers}



class Mirror:
    """An emunet model built again in namespaces ``emuk-<case>-<namespace>``.

    Every namespace of the simulator becomes a network namespace (IPv6 off, ``lo`` up,
    ``ip_forward`` as in the model) and every device the same kind of Linux device with
    the same name, MAC and MTU: a bridge (multicast snooping off, see below), a veth pair
    (one end in each namespace), a VXLAN device (``id``, ``local``, ``dev``, ``dstport``,
    ``nolearning``, its permanent FDB entries), an 802.1Q VLAN device (``ip link add link
    LOWER name NAME type vlan id VID``), a TUN (``ip tuntap add ... mode tun``: persistent,
    IFF_NO_PI; the process that feeds it is the test's to start).  Then bridge ports,
    addresses, the main table's non-kernel routes (``via``, ``onlink``, ``src``, ``metric``),
    permanent neighbours, the per-device sysctls the model set (``conf``: proxy_arp,
    forwarding; ``neigh``: proxy_delay), and TX checksum offload off on every device.
    Devices the kernel here cannot make (ipip, the underlay's NICs and switch, which pad
    frames as veths do not) raise :class:`Unsupported`.

    Netfilter last: in a namespace whose model has iptables tables, the model's
    ``iptables-save`` is fed to the real ``iptables-restore`` (iptables 1.8, nft backend),
    so the kernel gets the rules the model's control plane wrote, as the model prints
    them; in a namespace with a bridge, ``net.bridge.bridge-nf-call-iptables`` is set to
    the model's value (0 where the model never set it: this host has ``br_netfilter``
    loaded, whose default in every new namespace is 1).

    A bridge is created with ``mcast_snooping 0``: a snooping bridge joins 224.0.0.106
    and sends two IGMPv3 reports when it comes up (FINDINGS §11), which emunet does not
    model; in a real docker host they go out before any port exists and nobody sees
    them.  Snooping only changes how multicast is forwarded, which no case sends."""

    def __init__(self, t: Topology, sim):
        from emunet.devices.bridge import Bridge
        from emunet.devices.loopback import Loopback
        from emunet.devices.tun import Tun
        from emunet.devices.veth import Veth
        from emunet.devices.vlan import Vlan
        from emunet.devices.vxlan import Vxlan

        self.t = t
        self.sim = sim
        self.ns = {}
        for name, ns in sim.namespaces.items():
            self.ns[name] = t.netns(name, forwarding=bool(ns.sysctl["net.ipv4.ip_forward"]))
        done = set()
        # devices first, VXLAN and VLAN devices last (they name a lower device)
        for name, ns in sim.namespaces.items():
            k = self.ns[name]
            devs = sorted(ns.devices.values(), key=lambda d: isinstance(d, (Vxlan, Vlan)))
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
                elif isinstance(dev, Tun):
                    # a persistent TUN (IFF_TUN | IFF_NO_PI): no carrier until the test starts
                    # the process that opens it (tools/flannel_udp_proxy.py for flanneld)
                    t.ip(k, "tuntap", "add", "dev", dev.name, "mode", "tun")
                    t.ip(k, "link", "set", dev.name, "mtu", str(dev.mtu))
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
                elif isinstance(dev, Vlan):
                    t.ip(k, "link", "add", "link", dev.lower.name, "name", dev.name, "type", "vlan",
                         "id", str(dev.vid))
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
            for r in ns.fib.main:
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
            sysctls = {k.replace(".", "/"): v for k, v in ns.sysctl.items()
                       if k.startswith("net.ipv4.conf.all.") and v}
            for dev in ns.devices.values():
                if isinstance(dev, Loopback):
                    continue
                if dev.conf.get("proxy_arp"):
                    sysctls[f"net/ipv4/conf/{dev.name}/proxy_arp"] = 1
                if dev.conf.get("forwarding") is not None:
                    sysctls[f"net/ipv4/conf/{dev.name}/forwarding"] = int(dev.conf["forwarding"])
                if dev.conf.get("proxy_delay_ms") is not None:   # the kernel counts in 1/100 s
                    sysctls[f"net/ipv4/neigh/{dev.name}/proxy_delay"] = dev.conf["proxy_delay_ms"] // 10
            if sysctls:
                t.sysctl(k, sysctls)
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
        for name, ns in sim.namespaces.items():
            if any(isinstance(d, Bridge) for d in ns.devices.values()):
                t.sysctl(self.ns[name], {BR_NF_CALL_IPTABLES: ns.sysctl.get(BR_NF_CALL_IPTABLES, 0)})
            rules = iptables_rules(ns)
            if rules:
                run(["ip", "netns", "exec", self.ns[name], "iptables-restore"], input=rules)

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


BR_NF_CALL_IPTABLES = "net.bridge.bridge-nf-call-iptables"


def iptables_rules(ns) -> str:
    """The model's ``iptables-save`` of namespace ``ns``; "" when no table was ever used
    there (the kernel then has none either)."""
    return ns.netfilter.iptables_save() if ns.netfilter.tables else ""


class Unsupported(Exception):
    """The model has a device the kernel comparison cannot build."""


def _ip(n: int) -> str:
    return ".".join(str(n >> s & 0xFF) for s in (24, 16, 8, 0))


def steady_clock(run_kernel, tries: int = 2, limit_ns: int = 20_000_000):
    """``run_kernel()`` (the kernel side of a case whose frame *times* are compared), run
    again when the wall clock the kernel stamps frames with was stepped meanwhile; a clear
    error if it was stepped every time."""
    from tests.kernel.harness import WallClock
    for _ in range(tries):
        clock = WallClock()
        out = run_kernel()
        step = clock.step_ns()
        if abs(step) <= limit_ns:
            return out
    raise RuntimeError(f"the wall clock was stepped by {step / 1e6:.0f} ms during each of {tries} "
                       f"kernel captures: their frame times cannot be compared")


def settle(sniffers: dict, until: float, start: float, quiet: float = 0.3) -> dict:
    """Wait until ``until`` seconds after ``start`` (monotonic) and then until the captures
    are quiet; returns each label's frames."""
    left = start + until - time.monotonic()
    if left > 0:
        time.sleep(left)
    wait_quiet(list(sniffers.values()), quiet=quiet)
    return {label: list(s.drain()) for label, s in sniffers.items()}


# -- TCP: this kernel's buffer sysctls, and a stand-in for nginx ------------------------------
def kernel_tcp_sysctls(t: Topology, k: "Mirror") -> None:
    """This kernel's TCP buffer sysctls (``tcp_rmem``, ``rmem_max``: the window scale
    follows them) into every namespace of the model."""
    any_ns = next(iter(k.ns.values()))
    rmem = tuple(int(x) for x in t.exec(any_ns, "sysctl", "-n", "net.ipv4.tcp_rmem").stdout.split())
    rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
    for ns in k.sim.namespaces.values():
        ns.sysctl["net.ipv4.tcp_rmem"] = rmem
        ns.sysctl["net.core.rmem_max"] = rmem_max


#: the kernel side's web server: for each connection, the bytes emunet's nginx sent in
#: the same two writes (argv[1]: JSON [[header hex, body hex], ...])
NGINX_STANDIN = r"""
import json, socket, sys
responses = [(bytes.fromhex(h), bytes.fromhex(b)) for h, b in json.loads(sys.argv[1])]
srv = socket.socket()
srv.bind(("0.0.0.0", 80))
srv.listen(511)
print("ready", flush=True)
for head, body in responses:
    conn, _ = srv.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(65536)
        if not chunk:
            break
        req += chunk
    conn.send(head)          # nginx: writev() of the header
    conn.send(body)          # nginx: sendfile() of the page (Nagle holds it until the ACK)
    while conn.recv(65536):  # keep-alive: close when the client does
        pass
    conn.close()
"""


def start_nginx_standin(t: Topology, ns: str, responses: list):
    """:data:`NGINX_STANDIN` listening on port 80 in namespace ``ns``."""
    import json
    return t.start(ns, [sys.executable, "-c", NGINX_STANDIN, json.dumps(responses)], ready="ready")


def nginx_responses(ecap: dict, server_ip: str, iface: str) -> list:
    """emunet's nginx's replies in its capture of ``iface``, split where nginx split them
    (header, page), as hex: what :data:`NGINX_STANDIN` is to send."""
    from tests.kernel.compare import dissect
    out = []
    cur = b""
    for _, data, _ in ecap[iface]:
        f = dict(dissect(data))
        if f.get("ip.src") == server_ip and f.get("tcp.sport") == 80 and f.get("tcp.payload"):
            cur += bytes.fromhex(f["tcp.payload"])
        if f.get("ip.src") == server_ip and f.get("tcp.sport") == 80 and "FIN" in f.get("tcp.flags", ""):
            if cur:
                head, sep, body = cur.partition(b"\r\n\r\n")
                out.append(((head + sep).hex(), body.hex()))
            cur = b""
    return out


# -- Flannel's two nodes --------------------------------------------------------------------
class Nodes:
    """Two (or more) Kubernetes nodes as flanneld leaves them, built from emunet's devices.

    Each node: ``eth0`` (the underlay: a veth pair between the two nodes, or a veth to a
    bridge ``lan0`` in a namespace ``lan`` standing for the switch: in namespaces a
    physical NIC cannot be had, so both sides use veths), ``ip_forward=1``, ``cni0``
    holding the subnet's first address, one pod with 0a:58 + its address as MAC (the CNI
    bridge plugin), a host-side ``veth`` + 8 hex digits, and the pod's default route via
    cni0.  The backend's wiring is added by :meth:`vxlan` or :meth:`host_gw`, or by
    emunet's own flanneld (:meth:`flanneld`).  ``runtime="docker"`` makes the seed's
    Docker flavour instead: ``docker0`` (MAC 02:42 + random), containers with MAC
    02:42 + their address and a host-side ``veth`` + 7 hex digits."""

    def __init__(self, nodes, seed: int = 1, mtu: int = 1500, lan: bool = False, pod_mtu=None,
                 runtime: str = "cni"):
        from emunet.devices.bridge import Bridge
        from emunet.devices.veth import veth_pair
        from emunet.wire.ethernet import eth_random_addr
        from emunet.stack.namespace import Namespace
        import ipaddress

        self.sim = sim = Simulator(seed=seed)
        Capture.attach(self.sim)
        self.node = {}
        self.pod = {}
        self.lan = None
        if lan:
            self.lan = Namespace(sim, "lan")
            self.lan_br = self.lan.add_device(Bridge(sim, "lan0", eth_random_addr(sim.rng), mtu))
            self.lan_br.set_up()
        pod_mtu = pod_mtu or mtu
        for i, (name, ip, prefix, subnet) in enumerate(nodes, 1):
            ns = self.node[name] = Namespace(sim, name)
            ns.set_sysctl("net.ipv4.ip_forward", 1)
            if lan:
                eth0, port = veth_pair(sim, "eth0", f"port{i}", mac=b"\x42\x01" + ipaddress.IPv4Address(ip).packed,
                                       mtu=mtu)
                ns.add_device(eth0)
                self.lan.add_device(port)
                self.lan_br.add_port(port)
                port.set_up()
                eth0.set_up()
                ns.addr_add("eth0", f"{ip}/{prefix}")
            net = ipaddress.IPv4Network(subnet)
            gw = str(net.network_address + 1)
            docker = runtime == "docker"
            br_mac = (b"\x02\x42" + bytes(sim.rng.getrandbits(8) for _ in range(4))) if docker \
                else eth_random_addr(sim.rng)
            br = ns.add_device(Bridge(sim, "docker0" if docker else "cni0", br_mac, pod_mtu))
            br.set_up()
            ns.addr_add(br, f"{gw}/{net.prefixlen}")
            pod_ip = str(net.network_address + 2)
            pns = self.pod[f"pod{i}"] = Namespace(sim, f"pod{i}")
            host_name = "veth" + "".join(f"{sim.rng.getrandbits(4):x}" for _ in range(7 if docker else 8))
            inside, outside = veth_pair(sim, "eth0", host_name,
                                        mac=(b"\x02\x42" if docker else b"\x0a\x58")
                                        + ipaddress.IPv4Address(pod_ip).packed, mtu=pod_mtu)
            pns.add_device(inside)
            ns.add_device(outside)
            br.add_port(outside)
            outside.set_up()
            inside.set_up()
            pns.addr_add(inside, f"{pod_ip}/{net.prefixlen}")
            pns.route_add("default", via=gw, dev="eth0")
        self.spec = nodes

    def cable(self, a: str, b: str, macs, mtu: int = 1500) -> None:
        """The two nodes' eth0 as the two ends of one veth pair (the underlay of wire-facts)."""
        from emunet.devices.veth import veth_pair
        ea, eb = veth_pair(self.sim, "eth0", "eth0", mac=macs[0], peer_mac=macs[1], mtu=mtu)
        for ns, dev in ((self.node[a], ea), (self.node[b], eb)):
            ns.add_device(dev)
            dev.set_up()
        for name, ip, prefix, _ in self.spec:
            if name in (a, b):
                self.node[name].addr_add("eth0", f"{ip}/{prefix}")

    def vxlan(self, vni: int = 1) -> None:
        """flanneld's vxlan backend: ``flannel.1`` (id 1, local, dev eth0, dstport 8472,
        nolearning, MTU eth0 − 50, ``<subnet .0>/32``), and for every other node's lease
        the permanent neighbour, the FDB entry and the onlink route."""
        import ipaddress
        from emunet.devices.vxlan import Vxlan
        from emunet.wire.ipv4 import ip_to_int
        devs = {}
        for name, ip, _, subnet in self.spec:
            ns = self.node[name]
            eth0 = ns.dev("eth0")
            dev = ns.add_device(Vxlan(self.sim, f"flannel.{vni}", vni, ip, lower=eth0, learning=False,
                                      mtu=eth0.mtu - 50))
            dev.set_up()
            ns.addr_add(dev, f"{ipaddress.IPv4Network(subnet).network_address}/32")
            devs[name] = dev
        for name, _, _, _ in self.spec:
            ns, dev = self.node[name], devs[name]
            for other, oip, _, osubnet in self.spec:
                if other == name:
                    continue
                onet = ipaddress.IPv4Network(osubnet)
                gw = str(onet.network_address)
                ns.neigh.add_permanent(dev, ip_to_int(gw), devs[other].mac)
                dev.fdb_add(devs[other].mac, oip)
                ns.route_add(str(onet), dev=dev, via=gw, onlink=True)

    def flanneld(self, backend: str = "udp", network: str = "100.96.0.0/16") -> dict:
        """emunet's flanneld on every node, against one etcd store, each reusing the subnet
        of the spec (``FLANNEL_SUBNET`` of an earlier run); runs the clock 10 ms, until every
        node has seen the others' leases.  Returns the daemons by node."""
        from emunet.control.etcd import EtcdStore
        from emunet.control.flannel import PREFIX, Flanneld, network_config_json
        store = EtcdStore(self.sim)
        store.put(f"{PREFIX}/config", network_config_json(network, backend))
        self.flannel = {name: self.node[name].spawn(Flanneld(store, "eth0", previous_subnet=subnet))
                        for name, _, _, subnet in self.spec}
        self.sim.run(until=self.sim.time + 0.01)
        for name, d in self.flannel.items():
            assert d.running and len(d.leases) == len(self.spec) - 1, (name, d.stderr)
        return self.flannel

    def host_gw(self) -> None:
        """flanneld's host-gw backend: ``<other subnet> via <other node> dev eth0``."""
        for name, _, _, _ in self.spec:
            for other, oip, _, osubnet in self.spec:
                if other != name:
                    self.node[name].route_add(osubnet, via=oip, dev="eth0")


def kernel_udp(ns: str, dst: str, dport: int, data: bytes, reply: bool, timeout: float = 2.0,
               sport: int = 0, expect: bytes = None):
    """One datagram from a connected socket in namespace ``ns`` (as emunet's UdpSender
    sends it; bound to ``sport`` first if given); waits for the echo (``reply``; or the
    answer ``expect``) or the ECONNREFUSED an ICMP error causes."""
    import socket
    from tests.kernel.harness import in_netns
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if sport:
            s.bind(("0.0.0.0", sport))
        s.connect((dst, dport))
        s.send(data)
        s.settimeout(timeout)
        try:
            got = s.recv(65535)
            return "reply" if got == (data if expect is None else expect) else f"unexpected {got!r}"
        except ConnectionRefusedError:
            return "refused"
        except socket.timeout:
            return "timeout"
        except OSError as e:        # another ICMP error: ENETUNREACH, EHOSTUNREACH, ...
            import errno
            return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()


class KernelUdpEcho:
    """A UDP echo server on ``port`` in namespace ``ns``, answering ``count`` datagrams
    (with ``answer(datagram)`` instead of the datagram itself, if given)."""

    def __init__(self, ns: str, port: int, count: int = 1, answer=None):
        import socket
        import threading
        from tests.kernel.harness import in_netns
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("0.0.0.0", port))
        self.sock.settimeout(5)
        self.count = count
        self.answer = answer
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for _ in range(self.count):
            try:
                data, addr = self.sock.recvfrom(65535)
                self.sock.sendto(data if self.answer is None else self.answer(data), addr)
            except OSError:
                return

    def close(self):
        self.thread.join(timeout=5)
        self.sock.close()


# -- 802.1Q: VLAN devices on a VLAN-transparent bridge, a router on a stick ---------------------
class VlanStick:
    """VLAN sub-interfaces over a plain (VLAN-unaware) Linux bridge ``br0`` in namespace ``sw``,
    which carries tagged frames as they are: h10a (``eth0.10`` 192.168.10.11/24) and h10b
    (``eth0.10`` .12), h20a (``eth0.20`` 192.168.20.11/24), and the router with one leg,
    ``eth0``, and ``eth0.10`` 192.168.10.1/24 / ``eth0.20`` 192.168.20.1/24, ``ip_forward=1``.
    The hosts tag their own frames here (the kernel cannot be an 802.1Q access switch
    without ``CONFIG_BRIDGE_VLAN_FILTERING``, and the model's switch is no Linux device);
    the VLAN devices, their tags and the router's forwarding between them are what is
    compared.  MACs are 02:00 + the first IPv4 address; bridge-side veth MACs 02:01 + it."""

    HOSTS = (("h10a", 10, "192.168.10.11", "192.168.10.1"), ("h10b", 10, "192.168.10.12", "192.168.10.1"),
             ("h20a", 20, "192.168.20.11", "192.168.20.1"))

    def __init__(self, seed: int = 1):
        import ipaddress
        from emunet.devices.bridge import Bridge
        from emunet.devices.veth import veth_pair
        from emunet.devices.vlan import vlan_add
        from emunet.stack.namespace import Namespace

        self.sim = sim = Simulator(seed=seed)
        Capture.attach(self.sim)
        sw = Namespace(sim, "sw")
        br = sw.add_device(Bridge(sim, "br0", b"\x02\x01\x00\x00\x00\x01"))
        br.set_up()
        self.ns = {}

        def leg(name, ip):
            ns = self.ns[name] = Namespace(sim, name)
            packed = ipaddress.IPv4Address(ip).packed
            eth0, port = veth_pair(sim, "eth0", f"p-{name}", mac=b"\x02\x00" + packed,
                                   peer_mac=b"\x02\x01" + packed)
            ns.add_device(eth0)
            sw.add_device(port)
            br.add_port(port)
            port.set_up()
            eth0.set_up()
            return ns

        for name, vid, ip, gw in self.HOSTS:
            ns = leg(name, ip)
            sub = vlan_add(ns, "eth0", vid)
            sub.set_up()
            ns.addr_add(sub, f"{ip}/24")
            ns.route_add("default", via=gw, dev=sub.name)
        r = leg("router", "192.168.10.1")
        r.set_sysctl("net.ipv4.ip_forward", 1)
        for vid in (10, 20):
            sub = vlan_add(r, "eth0", vid)
            sub.set_up()
            r.addr_add(sub, f"192.168.{vid}.1/24")


# -- Calico-style pod wiring ------------------------------------------------------------
#: the host side of every Calico veth, as bytes (the CNI plugin's ee:ee:ee:ee:ee:ee)
CALI_MAC = bytes.fromhex("ee" * 6)


def calico_pod(host, pod_name: str, ip: str):
    """Wire one pod as Calico's CNI plugin does (:func:`emunet.control.calico.cni_add`, the
    model's own CNI code); returns the pod's namespace.  The host answers the pod's ARP for
    169.254.1.1 by proxy ARP (its default route leaves through another device)."""
    from emunet.control.calico import cni_add
    return cni_add(host, pod_name, ip)[0]


class CalicoHosts:
    """Two hosts with Calico-wired pods, joined by one link (``eth0``, a veth pair), and
    the routes BGP would install: ``<the other host's block> via <its address> dev eth0``.

    ``hosts`` = [(name, address/prefix, block, [(pod, ip), ...]), ...]; every host also
    gets ``default via <gateway> dev eth0`` (a real node has one, and proxy ARP needs a
    route to 169.254.1.1 that does not point back at the asking interface) and
    ``ip_forward=1``."""

    def __init__(self, hosts, gateway: str, seed: int = 1, mtu: int = 1500):
        import ipaddress
        from emunet.devices.veth import veth_pair
        from emunet.stack.namespace import Namespace

        self.sim = sim = Simulator(seed=seed)
        Capture.attach(self.sim)
        self.host = {}
        self.pod = {}
        (a, a_cidr, _, _), (b, b_cidr, _, _) = hosts
        for name, _, _, _ in hosts:
            ns = self.host[name] = Namespace(sim, name)
            ns.set_sysctl("net.ipv4.ip_forward", 1)
        ea, eb = veth_pair(sim, "eth0", "eth0", mtu=mtu,
                           mac=b"\x42\x01" + ipaddress.IPv4Interface(a_cidr).ip.packed,
                           peer_mac=b"\x42\x01" + ipaddress.IPv4Interface(b_cidr).ip.packed)
        for (name, cidr, _, _), dev in zip(hosts, (ea, eb)):
            ns = self.host[name]
            ns.add_device(dev)
            dev.set_up()
            ns.addr_add(dev, cidr)
            ns.route_add("default", via=gateway, dev=dev)
        for name, cidr, block, pods in hosts:
            for pod_name, ip in pods:
                self.pod[pod_name] = calico_pod(self.host[name], pod_name, ip)
        for name, _, _, _ in hosts:
            for other, ocidr, oblock, _ in hosts:
                if other != name:
                    self.host[name].route_add(oblock, via=str(ipaddress.IPv4Interface(ocidr).ip),
                                              dev="eth0")


PROXY_TOOL = os.path.join(os.path.dirname(__file__), "reference", "tools", "flannel_udp_proxy.py")


def start_flannel_udp_proxies(t: Topology, k: Mirror, daemons: dict) -> None:
    """In each node's namespace, the stand-in for flanneld's UDP proxy
    (``reference/tools/flannel_udp_proxy.py``), configured from emunet's daemon: its TUN,
    the TUN's address, ``<IfaceAddr>:8285``, and one route per remote lease."""
    from emunet.wire.ipv4 import int_to_ip
    for name, d in daemons.items():
        b = d.backend
        argv = [sys.executable, PROXY_TOOL, "--tun", b.tun.name, "--tun-ip", str(d.lease.subnet.network_address),
                "--listen", f"{d.iface_addr}:{b.port}", "--mtu", str(b.tun.mtu)]
        for net, (ip, port) in sorted(b.routes.items()):
            argv += ["--route", f"{int_to_ip(net)}/{d.config.subnet_len}={int_to_ip(ip)}:{port}"]
        t.start(k.ns[name], argv, ready="ready")


# -- TCP bulk transfer: a sink and a sender, as `nc -l PORT` and `nc DST PORT < file` --------
class KernelTcpSink:
    """A TCP server on ``port`` in namespace ``ns`` for one connection: accept, read to
    EOF, close (emunet's ``NcListen``); ``received`` is the byte count once it is done.
    ``cpu``: the thread runs on that CPU only (see :func:`kernel_tcp_send`)."""

    def __init__(self, ns: str, port: int, timeout: float = 10.0, cpu: int = None):
        import socket
        import threading
        from tests.kernel.harness import in_netns
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", port))
        self.sock.listen(1)
        self.sock.settimeout(timeout)
        self.received = None
        self.cpu = cpu
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        if self.cpu is not None:
            os.sched_setaffinity(0, {self.cpu})
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        n = 0
        with conn:
            conn.settimeout(10)
            while True:
                try:
                    b = conn.recv(65536)
                except OSError:
                    break
                if not b:
                    break
                n += len(b)
        self.received = n

    def close(self, timeout: float = 10.0) -> int:
        self.thread.join(timeout=timeout)
        self.sock.close()
        return self.received


def kernel_tcp_send(ns: str, dst: str, port: int, data: bytes, cpu: int = None) -> None:
    """Connect from namespace ``ns``, ``sendall(data)``, close (emunet's ``NcSend``).

    ``cpu``: run on that CPU only meanwhile.  A veth hands a frame to the backlog of the CPU
    that sent it (``netif_rx``), so a sender and a receiver on two CPUs can have frames
    overtake each other on the way, and TCP then retransmits what was only late (SACK,
    RACK); with the sender, the receiver and so every softirq of the transfer on one CPU,
    the frames keep their order, as on a wire."""
    import socket
    from tests.kernel.harness import in_netns
    old = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect((dst, port))
        s.sendall(data)
    finally:
        s.close()
        os.sched_setaffinity(0, old)


def proc_net_snmp(t: Topology, ns: str) -> dict:
    """``/proc/net/snmp`` and ``/proc/net/netstat`` of namespace ``ns`` as
    ``{"Ip:ReasmOKs": n, "IpExt:ReasmOverlaps": n, ...}``."""
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = t.exec(ns, "cat", path).stdout.splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):
            names, values = head.split(), vals.split()
            for name, value in zip(names[1:], values[1:]):
                out[names[0] + name] = int(value)
    return out


def counter_deltas(before: dict, after: dict) -> dict:
    """The counters that moved between two :func:`proc_net_snmp` readings."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
