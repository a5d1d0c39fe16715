"""Docker's default bridge network (libnetwork's ``bridge`` driver) on one host.

What dockerd does for ``docker run`` on the default network: a veth pair
whose host end (``veth`` + 7 hex characters) is enslaved to ``docker0`` and
whose other end becomes ``eth0`` in the container's namespace, with the next
free address of 172.17.0.0/16, a MAC derived from that address
(``02:42`` + the four address bytes, libnetwork's ``GenerateMACFromIP``) and a
default route via the bridge's address.  ``--net=host`` puts the program in
the host's own namespace instead.

With ``--iptables`` (the daemon's default) it also writes the rules of
:mod:`emunet.control.docker.iptables` (the MASQUERADE of the bridge's subnet, the
``DOCKER``, ``DOCKER-USER`` and isolation chains) and, for ``-p``, a DNAT per
published port plus a ``docker-proxy`` (:mod:`emunet.control.docker.portmapper`).
"""
import ipaddress

import attrs

from emunet.apps.ping import Ping
from emunet.control.docker import iptables as ipt
from emunet.control.docker.portmapper import DockerProxy, PortAllocator, parse_port_spec
from emunet.control.gojson import go_json
from emunet.devices.bridge import Bridge
from emunet.devices.veth import veth_pair
from emunet.stack.namespace import Namespace
from emunet.wire.ethernet import mac_to_str


def mac_from_ip(ip) -> bytes:
    """libnetwork ``netutils.GenerateMACFromIP``: 02:42 and the IPv4 bytes."""
    return b"\x02\x42" + ipaddress.IPv4Address(ip).packed


def _hex_id(rng, n: int = 64) -> str:
    return "".join(f"{rng.getrandbits(4):x}" for _ in range(n))


@attrs.define(eq=False)
class Container:
    """A running container: a namespace (its own, or the host's with ``--net=host``);
    ``ports`` are its published ports (:class:`PortBinding`), ``proxies`` the
    ``docker-proxy`` processes that serve them."""

    name: str
    id: str
    host: "DockerHost"
    ns: Namespace
    network: str
    ip: str = None
    mac: bytes = None
    endpoint_id: str = None
    veth_host: object = None
    ports: list = attrs.Factory(list)
    proxies: list = attrs.Factory(list)

    @property
    def hostname(self) -> str:
        return self.id[:12]

    @property
    def sim(self):
        return self.host.sim

    def ping(self, dst: str, count: int = 1, **kw):
        """``docker exec NAME ping -c COUNT DST``: spawns ping; run the simulator to see it."""
        return self.ns.spawn(Ping(dst, count=count, **kw))

    def spawn(self, process):
        return self.ns.spawn(process)


class DockerHost:
    """A host running dockerd with the default bridge network.

    The daemon's options that shape the host's rules: ``iptables`` (``--iptables``,
    default on: without it dockerd writes no rule and publishes no port),
    ``userland_proxy`` (``--userland-proxy``, default on; off is *hairpin mode*: no
    ``docker-proxy``, the host's own loopback traffic DNATed too), ``ip_masq`` and
    ``icc`` (the bridge network's ``enable_ip_masquerade`` and ``enable_icc``).

    Starting the daemon, in the order dockerd does it: ``modprobe br_netfilter``
    (``net.bridge.bridge-nf-call-iptables`` is 1 once it is loaded, so bridged packets
    cross iptables), the chains (``setupIPChains``), ``ip_forward=1`` and, if dockerd had
    to turn it on, the FORWARD policy DROP; then the bridge, its address and its rules
    (``setupIPTables``, ``setupNetworkIsolationRules``), then ``DOCKER-USER``.  Every
    iptables command it ran is in ``iptables_log``, in order.

    Not modelled: the bridge ports' hairpin flag and ``route_localnet`` that hairpin mode
    also sets (the model's bridge never sends a frame back out of its ingress port),
    IPv6 (``--ipv6``, ``--ip6tables``, the ``[::]`` proxy of a published port),
    firewalld, user-defined networks.

    >>> from emunet import Simulator
    >>> sim = Simulator(seed=1)
    >>> host = DockerHost(sim)
    >>> c1 = host.run("c1"); c1.ip
    '172.17.0.2'
    """

    def __init__(self, sim, name: str = "host", subnet: str = "172.17.0.0/16",
                 gateway: str = "172.17.0.1", bridge_mac: str = "02:42:2e:8d:21:d6",
                 bridge_name: str = "docker0", mtu: int = 1500, ns: Namespace = None,
                 iptables: bool = True, userland_proxy: bool = True, ip_masq: bool = True,
                 icc: bool = True):
        self.sim = sim
        self.ns = ns if ns is not None else Namespace(sim, name)
        self.subnet = ipaddress.IPv4Network(subnet)
        self.gateway = ipaddress.IPv4Address(gateway)
        if self.gateway not in self.subnet:
            raise ValueError(f"gateway {gateway} is not in subnet {subnet}")
        for a in self.ns.addrs:
            if not a.dev.loopback and a.network.overlaps(self.subnet):
                raise ValueError(f"Error response from daemon: Pool overlaps with other one on this "
                                 f"address space ({subnet} overlaps {a.network} on {a.dev.name})")
        self.mtu = mtu
        self.iptables = iptables
        self.userland_proxy = userland_proxy
        self.ip_masq = ip_masq
        self.icc = icc
        self.iptables_log = []
        lo, hi = self.ns.tcp.sysctl_ints("net.ipv4.ip_local_port_range", 2)
        self.port_allocator = PortAllocator(lo, hi)
        if iptables:
            # modprobe -va bridge br_netfilter: the module's default is 1
            self.ns.set_sysctl("net.bridge.bridge-nf-call-iptables", 1)
            self._iptables(ipt.setup_ip_chains())
        forwarding_was_on = bool(self.ns.sysctl["net.ipv4.ip_forward"])
        self.ns.set_sysctl("net.ipv4.ip_forward", 1)
        if iptables:
            self._iptables(ipt.setup_ip_forwarding(forwarding_was_on))
        self.bridge = Bridge(sim, bridge_name, bridge_mac, mtu)
        self.ns.add_device(self.bridge)
        self.bridge.set_up()
        self.ns.addr_add(self.bridge, f"{gateway}/{self.subnet.prefixlen}")
        if iptables:
            self._iptables(ipt.setup_ip4_tables(bridge_name, str(self.subnet), icc=icc,
                                                ip_masq=ip_masq, hairpin=not userland_proxy))
            self._iptables(ipt.arrange_user_filter_rule())
        self.network_id = _hex_id(sim.rng)
        self.created = "2021-04-12T12:11:57.321486866Z"
        self.containers = {}
        self._used = {self.gateway, self.subnet.network_address, self.subnet.broadcast_address}
        self.ns.install_command("docker", self.docker_cli,
                                "docker network inspect bridge | docker inspect network ID")

    def _iptables(self, commands: list) -> None:
        """Run ``iptables`` commands in the host's namespace, as dockerd execs them."""
        for argv in commands:
            self.iptables_log.append(argv)
            self.ns.netfilter.iptables(argv)

    def _allocate(self, ip):
        if ip is None:
            for cand in self.subnet.hosts():
                if cand not in self._used:
                    return cand
            raise RuntimeError(f"no free address left in {self.subnet}")
        addr = ipaddress.IPv4Address(ip)
        if addr not in self.subnet:
            raise ValueError(f"Error response from daemon: Invalid address {ip}: "
                             f"It does not belong to any of this network's subnets ({self.subnet})")
        if addr in self._used:
            owner = next((c.name for c in self.containers.values() if c.ip == str(addr)), "the bridge")
            raise ValueError(f"Error response from daemon: Address already in use ({ip} is {owner}'s)")
        return addr

    def run(self, name: str, ip: str = None, net: str = "bridge", publish=()) -> Container:
        """``docker run --name NAME [--net=host] [--ip IP] [-p SPEC ...]``; each ``-p``
        spec is ``[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`` (:func:`publish_port`)."""
        if name in self.containers:
            raise ValueError(f"Error response from daemon: Conflict. The container name \"/{name}\" "
                             f"is already in use")
        specs = [parse_port_spec(p) for p in publish]   # the CLI parses before it asks the daemon
        cid = _hex_id(self.sim.rng)
        if net == "host":
            # "WARNING: Published ports are discarded when using host network mode"
            c = Container(name, cid, self, self.ns, "host")
            self.containers[name] = c
            return c
        if net != "bridge":
            raise ValueError(f"Error response from daemon: network {net} not found")
        addr = self._allocate(ip)
        ns = Namespace(self.sim, name)
        ns.hostname = cid[:12]
        ns.parent = self.ns
        host_name = "veth" + "".join(f"{self.sim.rng.getrandbits(4):x}" for _ in range(7))
        mac = mac_from_ip(addr)
        inside, outside = veth_pair(self.sim, "eth0", host_name, mac=mac, mtu=self.mtu)
        # both ends are created in the host namespace and take its next ifindexes;
        # eth0 keeps its index when it moves into the container
        inside.ifindex = self.ns.alloc_ifindex()
        self.ns.add_device(outside)
        ns.add_device(inside, ifindex=inside.ifindex)
        self.bridge.add_port(outside)
        outside.set_up()
        inside.set_up()
        ns.addr_add(inside, f"{addr}/{self.subnet.prefixlen}")
        ns.route_add("default", via=str(self.gateway), dev="eth0")
        self._used.add(addr)
        c = Container(name, cid, self, ns, "bridge", str(addr), mac, _hex_id(self.sim.rng), outside)
        self.containers[name] = c
        for spec in specs:
            self.publish_port(c, spec)
        return c

    def publish_port(self, c: Container, spec):
        """One ``-p`` of container ``c`` (a spec string or a parsed
        :class:`~emunet.control.docker.portmapper.PortBinding`), as ``allocatePorts`` and
        ``PortMapper.MapRange`` do it: the host port allocated (or refused: ``Bind for
        0.0.0.0:8080 failed: port is already allocated``), the DNAT, FORWARD accept and
        hairpin MASQUERADE rules appended (:func:`~emunet.control.docker.iptables.forward`),
        then the ``docker-proxy`` started (with ``--userland-proxy``).  A proxy that cannot
        bind takes its rules and its port back with it.  Returns the binding."""
        if not self.iptables:
            raise ValueError("Error response from daemon: driver failed programming external "
                             "connectivity: iptables is disabled (--iptables=false): published "
                             "ports are not modelled without it")
        b = parse_port_spec(spec) if isinstance(spec, str) else spec
        def refused(why):
            return ValueError(f"Error response from daemon: driver failed programming external "
                              f"connectivity on endpoint {c.name} ({c.endpoint_id}): {why}")
        try:
            port = self.port_allocator.request(b.host_ip, b.proto, b.host_port)
        except ValueError as e:
            raise refused(e) from None
        b = attrs.evolve(b, host_port=port, container_ip=c.ip)
        rules = ipt.forward("-A", b.host_ip, port, b.proto, c.ip, b.container_port,
                            self.bridge.name, hairpin=not self.userland_proxy)
        self._iptables(rules)
        if self.userland_proxy:
            proxy = self.ns.spawn(DockerProxy(b))
            if not proxy.running:
                self._iptables([[*argv[:2], "-D", *argv[3:]] for argv in rules])
                self.port_allocator.release(b.host_ip, b.proto, port)
                raise refused(proxy.stderr[-1])
            c.proxies.append(proxy)
        c.ports.append(b)
        return b

    def inspect_network(self) -> list:
        """``docker network inspect bridge`` as data (the seed's JSON shape)."""
        containers = {
            c.id: {"Name": c.name, "EndpointID": c.endpoint_id, "MacAddress": mac_to_str(c.mac),
                   "IPv4Address": f"{c.ip}/{self.subnet.prefixlen}", "IPv6Address": ""}
            for c in self.containers.values() if c.network == "bridge"
        }
        return [{
            "Name": "bridge",
            "Id": self.network_id,
            "Created": self.created,
            "Scope": "local",
            "Driver": "bridge",
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": str(self.subnet), "Gateway": str(self.gateway)}]},
            "Internal": False,
            "Attachable": False,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": containers,
            "Options": {
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
                "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                "com.docker.network.bridge.name": self.bridge.name,
                "com.docker.network.driver.mtu": str(self.mtu),
            },
            "Labels": {},
        }]

    def network_inspect(self, network: str = "bridge") -> str:
        """``docker network inspect NETWORK`` (also by network id or an id prefix)."""
        if network not in ("bridge", self.network_id) and not (
                len(network) >= 1 and self.network_id.startswith(network)):
            raise ValueError(f"Error: No such network: {network}")
        data = self.inspect_network()
        for net in data:
            # Go marshals a map with sorted keys; containers are a map keyed by id
            net["Containers"] = dict(sorted(net["Containers"].items()))
            net["Options"] = dict(sorted(net["Options"].items()))
            net["Labels"] = dict(sorted(net["Labels"].items()))
        return go_json(data, indent=4) + "\n"

    def docker_cli(self, args: list) -> str:
        """The ``docker`` CLI talking to this daemon: ``network inspect NAME`` and
        ``inspect network ID``."""
        if args[:2] == ["network", "inspect"] and len(args) <= 3:
            name = args[2] if len(args) == 3 else None
        elif args[:2] == ["inspect", "network"] and len(args) == 3:
            name = args[2]
        else:
            raise ValueError(f"docker {' '.join(args)}: only 'docker network inspect NAME' and "
                             f"'docker inspect network ID' are modelled")
        if name is None:
            raise ValueError('"docker network inspect" requires at least 1 argument.')
        return self.network_inspect(name)
