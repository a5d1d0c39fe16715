"""What every scenario is: a built topology, its traffic, and a transcript."""
import attrs

from emunet.apps.ping import Ping
from emunet.apps.udp import UdpEchoServer, UdpSender
from emunet.observe.capture import Capture
from emunet.observe.trace import Trace
from emunet.sim import S, Simulator


class Lab:
    """One scenario, built and ready to run.

    ``sim`` is the simulator; ``hosts`` names the objects a user talks to
    (a :class:`~emunet.control.docker.DockerHost`, a cluster node, ...);
    ``transcript`` collects what a user would have seen in their terminal,
    commands with a ``$`` prompt followed by their output.
    """

    def __init__(self, name: str, seed: int = 1, capture: bool = True):
        self.name = name
        self.sim = Simulator(seed=seed)
        #: every frame of the run (None when built with ``capture=False``)
        self.capture = Capture.attach(self.sim) if capture else None
        self.hosts = {}
        self.transcript = []
        self.processes = []
        self.duration = 60.0

    def traffic(self) -> None:
        """Start the scenario's programs (overridden per scenario)."""

    def settle(self) -> None:
        """Bring the control plane to steady state without the scenario's traffic (leases
        acquired, sessions up), so a single traced packet meets a converged network."""

    def trace_packet(self, src_ns: str, dst: str, proto: str = "icmp", dport: int = 53,
                     size: int = None, wait: float = 30.0, ttl: int = None, pmtudisc: str = "want"):
        """Send one packet from ``src_ns`` to ``dst`` and return ``(trace, pid)``; the
        trace follows the packet (``trace.steps(pid)``, ``trace.format(pid)``).  A ping's
        ``pmtudisc`` is ``ping -M``'s (do, dont, want)."""
        trace = Trace()
        self.sim.observers.append(trace)
        self.settle()
        ns = self.namespace(src_ns)
        if ttl is not None and proto != "icmp":
            raise ValueError("trace: a TTL can be set for icmp (ping -t) only")
        if proto == "icmp":
            app = ns.spawn(Ping(dst, count=1, size=56 if size is None else size, linger=wait, ttl=ttl,
                                pmtudisc=pmtudisc))
        elif proto == "udp":
            app = ns.spawn(UdpSender(dst, dport, b"\0" * (32 if size is None else size)))
        else:
            raise ValueError(f"trace: protocol {proto!r} is not one of icmp, udp")
        self.sim.run(until=self.sim.time + wait)
        self.sim.observers.remove(trace)     # a later trace of the same lab starts clean
        return trace, app.pids[0]

    def run(self) -> "Lab":
        self.traffic()
        self.sim.run(until=self.duration)
        for prompt, proc in self.processes:
            self.transcript.append(f"$ {prompt}")
            self.transcript.extend(proc.stdout)
            self.transcript.extend(proc.stderr)
        return self

    def spawn(self, ns, process, prompt: str):
        """Start ``process`` in ``ns`` and record it in the transcript under ``prompt``."""
        ns.spawn(process)
        self.processes.append((prompt, process))
        return process

    def namespace(self, name: str):
        return self.sim.ns(name)


#: the cross-host scenarios' datagram: its size, the echo port, and its bytes
#: (recognisable in a capture)
UDP_SIZE = 1400
UDP_PORT = 7


def udp_payload(size: int = UDP_SIZE) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


class PodPairLab(Lab):
    """A cross-host scenario (flannel's, Calico's): a ``cluster``, a ``client`` pod on one
    node and a ``server`` pod on another with a UDP echo server on port 7, and the traffic
    every backend is compared with: ``ping -c 1``, then one 1400-byte datagram a second
    later, client → server.  A subclass says how to ``settle`` and which ``prompt`` a
    user types."""

    def __init__(self, name: str, seed: int = 1, capture: bool = True):
        super().__init__(name, seed, capture)
        self._settled = False
        self.ping = self.sender = self.echo = None

    def _start_echo(self) -> None:
        self.echo = self.server.ns.spawn(self.echo_server())

    @staticmethod
    def echo_server():
        return UdpEchoServer(UDP_PORT)

    def prompt(self, command: str) -> str:
        return f"kubectl exec {self.client.name} -- {command}"

    def traffic(self) -> None:
        self.settle()
        dst = self.server.ip
        self.ping = self.spawn(self.client.ns, Ping(dst, count=1), self.prompt(f"ping -c 1 {dst}"))
        self.sim.after(1 * S, self._send_udp)

    def _send_udp(self) -> None:
        self.sender = self.client.ns.spawn(UdpSender(self.server.ip, UDP_PORT, udp_payload()))

    def run(self) -> "Lab":
        super().run()
        s = self.sender
        if s is not None:
            self.transcript.append(f"$ {self.client.name}: send {UDP_SIZE} bytes over UDP to "
                                   f"{self.server.ip}:{UDP_PORT} (echo)")
            got = [len(d) for d, _ in s.replies]
            self.transcript.append(f"{UDP_SIZE} bytes sent, {sum(got)} bytes echoed back"
                                   + (f" from {s.replies[0][1][0]}:{s.replies[0][1][1]}" if got else ""))
        return self


def ping_across(sim, capture, client, server):
    """One ping from pod ``client`` to pod ``server`` of a freshly built cluster whose frames
    ``capture`` records: (arrived, the drop reasons the packet met)."""
    ping = client.ping(server.ip, linger=2.0)
    sim.run(until=sim.time + 3)
    drops = [f"{d.reason} at {d.where}" for d in capture.drops if d.pid in ping.pids]
    return ping.received == 1, drops


@attrs.define(frozen=True)
class Scenario:
    """A named, registered scenario."""

    name: str
    summary: str
    build: object  # callable(seed) -> Lab
