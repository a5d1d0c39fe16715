"""Docker's MASQUERADE: a container reaches a machine outside its host.

The docker-bridge host (``docker0`` 172.17.0.1/16, c1 172.17.0.7, c2 172.17.0.8) gets an
``eth0``, 10.0.0.2/24 (02:00:0a:00:00:02), cabled to a machine ``outside``, 10.0.0.1/24
(02:00:0a:00:00:01), and a default route via 10.0.0.1.  ``outside`` has no route to
172.17.0.0/16: c1 can only be answered because dockerd's nat POSTROUTING rule ``-s
172.17.0.0/16 ! -o docker0 -j MASQUERADE`` gives its packets the host's address, and
conntrack takes the answers back to c1.

Timeline (virtual seconds):

* 0.0  ``docker exec c1 ping -c 1 10.0.0.1``: c1 ARPs for its gateway 172.17.0.1; the
  host forwards the echo request (TTL 63) and ARPs for 10.0.0.1 on eth0; the request
  leaves eth0 from 10.0.0.2 (MASQUERADE, the ICMP id kept); the reply is un-NATed back
  to 172.17.0.7 and forwarded into docker0 (conntrack's RELATED,ESTABLISHED accept).
* 1.0  c1 sends one DNS query from UDP port 40000 to 10.0.0.1:53, where a DNS server
  answers: the query leaves as 10.0.0.2:40000 (the port kept: nothing else uses it).
* 3.0  ``iptables -t nat -L -n -v`` (the MASQUERADE rule counted each flow's first
  packet once) and ``conntrack -L`` (both flows, each with its NAT binding) on the host.

The run ends at 10 s, after each side's unicast ARP probe of the peers it talked to.
"""
from emunet.apps.dns import DnsServer, dns_query
from emunet.apps.ping import Ping
from emunet.apps.udp import UdpSender
from emunet.control.docker import DockerHost
from emunet.devices.veth import veth_pair
from emunet.observe.show import run_command
from emunet.scenarios.base import Lab
from emunet.sim import S
from emunet.stack.namespace import Namespace

#: the outside machine and the host's uplink
OUTSIDE_IP = "10.0.0.1"
HOST_IP = "10.0.0.2"
OUTSIDE_MAC = bytes.fromhex("02000a000001")
HOST_MAC = bytes.fromhex("02000a000002")
#: what c1 asks outside's DNS server, and the answer it has
DNS_NAME, DNS_ADDR, DNS_ID, DNS_SPORT = "example.com", "93.184.216.34", 0x1234, 40000


class DockerOutsideLab(Lab):
    """The docker-bridge host with an uplink to ``outside`` (the parameters above), c1
    and c2 started with ``publish`` (``-p`` specs per container name); the show commands
    of ``snapshots`` [(time in s, namespace, command), ...] run at their time and go to
    the transcript after the programs' output."""

    snapshots = ()

    def __init__(self, name: str, seed: int = 1, capture: bool = True, publish: dict = None):
        super().__init__(name, seed, capture)
        sim = self.sim
        publish = publish or {}
        host = Namespace(sim, "host")
        self.outside = Namespace(sim, "outside")
        # the host's NIC is there before dockerd starts
        eth0, peer = veth_pair(sim, "eth0", "eth0", mac=HOST_MAC, peer_mac=OUTSIDE_MAC)
        host.add_device(eth0)
        self.outside.add_device(peer)
        for ns, dev, ip in ((host, eth0, HOST_IP), (self.outside, peer, OUTSIDE_IP)):
            dev.set_up()
            ns.addr_add(dev, f"{ip}/24")
        host.route_add("default", via=OUTSIDE_IP, dev="eth0")
        self.docker = DockerHost(sim, ns=host)
        self.hosts["host"] = self.docker
        self.c1 = self.docker.run("c1", ip="172.17.0.7", publish=publish.get("c1", ()))
        self.c2 = self.docker.run("c2", ip="172.17.0.8", publish=publish.get("c2", ()))
        self.shown = []
        self.duration = 10.0

    def traffic(self) -> None:
        for at, ns, command in self.snapshots:
            self.sim.after(round(at * S), lambda ns=ns, c=command: self._show(ns, c))

    def _show(self, ns: str, command: str) -> None:
        self.shown.append((ns, command, run_command(self, ns, command)))

    def report(self) -> None:
        """What the scenario adds to the transcript after its programs' output."""

    def run(self) -> "DockerOutsideLab":
        super().run()
        self.report()
        for ns, command, text in self.shown:
            self.transcript.append(f"$ {command}" if ns == "host" else f"$ {ns}$ {command}")
            self.transcript.extend(text.splitlines())
        return self


class DockerNat(DockerOutsideLab):
    snapshots = ((3.0, "host", "iptables -t nat -L -n -v"), (3.0, "host", "conntrack -L"))

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("docker-nat", seed, capture)
        self.dns = self.ping = self.query = None

    def traffic(self) -> None:
        super().traffic()
        self.dns = self.outside.spawn(DnsServer({DNS_NAME: DNS_ADDR}))
        self.ping = self.spawn(self.c1.ns, Ping(OUTSIDE_IP, count=1),
                               f"docker exec c1 ping -c 1 {OUTSIDE_IP}")
        self.sim.after(1 * S, self._query)

    def _query(self) -> None:
        self.query = self.c1.ns.spawn(UdpSender(OUTSIDE_IP, 53, dns_query(DNS_NAME, DNS_ID),
                                                sport=DNS_SPORT))

    def report(self) -> None:
        q = self.query
        self.transcript.append(f"$ c1: DNS query for {DNS_NAME} from UDP port {DNS_SPORT} "
                               f"to {OUTSIDE_IP}:53")
        if q is not None and q.replies:
            data, (ip, port) = q.replies[0]
            self.transcript.append(f"{len(data)}-byte answer from {ip}:{port}: {DNS_NAME} A "
                                   + ".".join(str(b) for b in data[-4:]))
        else:
            self.transcript.append("no answer")


def build(seed: int = 1, capture: bool = True) -> DockerNat:
    return DockerNat(seed, capture)
