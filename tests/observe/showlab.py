"""The labs the show tests run commands in (tests/observe/test_show_*.py).

Besides the docker-bridge scenario (the ``docker_lab`` fixture, tests/observe/conftest.py), the
tests rebuild namespaces the module's author built on a kernel (6.18, iproute2 6.1,
net-tools 2.10, bridge-utils 1.7) while writing it, named ``emushow-*``, for states the
reference topology never reaches: a bridge without ports, a veth whose peer is down,
routes on a device without carrier or administratively down, reject routes, every
neighbour state, secondary addresses, a veth with txqueuelen 0 (as dockerd creates
them), large counters.  The kernel's output for
them is pasted verbatim in the tests.
"""
import ipaddress

from emunet.devices.veth import veth_pair
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace


class FakeLab:
    """Just enough of a Lab for run_command."""

    def __init__(self, *namespaces):
        self._ns = {ns.name: ns for ns in namespaces}
        self.hosts = {}

    def namespace(self, name):
        return self._ns[name]


def route_lab():
    """exp2: emushow-x with a veth pair vx/vy (vy registered first: 2, vx 3)."""
    sim = Simulator(seed=1)
    x = Namespace(sim, "emushow-x")
    vx, vy = veth_pair(sim, "vx", "vy", mac="02:00:00:00:01:01", peer_mac="02:00:00:00:01:02")
    x.add_device(vy)
    x.add_device(vx)
    return sim, x, vx, vy


def add_exp2_routes(x):
    x.route_add("10.2.0.0/16", via="10.1.0.2")
    x.route_add("10.1.0.0/16", dev="vx")
    x.route_add("10.1.0.0/28", dev="vx")
    x.route_add("10.0.0.0/8", dev="vx", metric=100)
    x.route_add("10.0.0.0/8", dev="vx", metric=50)
    x.route_add("default", via="10.1.0.254", metric=10)
    x.route_add("default", via="10.1.0.253")
    x.route_add("192.168.0.0/16", type="blackhole")
    x.route_add("192.169.0.0/16", type="unreachable")
    x.route_add("192.170.0.0/16", type="prohibit")
    x.route_add("10.9.9.9", dev="vx")
    x.route_add("10.8.0.0/16", dev="vx", src="10.1.0.1")
    x.route_add("10.7.0.0/16", via="1.2.3.4", dev="vx", onlink=True)
    x.route_add("10.6.0.0/16", via="10.1.0.2", dev="vx", proto="static")


def routed_lab():
    """exp2 with 10.1.0.1/24 on vx, both ends up, and exp2's routes."""
    sim, x, vx, vy = route_lab()
    x.addr_add("vx", "10.1.0.1/24")
    vx.set_up()
    vy.set_up()
    add_exp2_routes(x)
    return sim, x, vx, vy


def neighbour_lab():
    """exp2 with a neighbour in every state on vx."""
    sim, x, vx, vy = route_lab()
    vx.set_up()
    vy.set_up()
    x.addr_add("vx", "10.1.0.1/24")
    ip = lambda s: int(ipaddress.IPv4Address(s))  # noqa: E731
    mac = lambda n: bytes.fromhex(f"0200000009{n:02x}")  # noqa: E731
    x.neigh.add_permanent(vx, ip("10.1.0.9"), mac(0x09))
    for last, state in ((10, "NOARP"), (11, "STALE"), (12, "REACHABLE"), (13, "PROBE"),
                        (14, "PROBE"), (15, "INCOMPLETE"), (16, "FAILED"), (254, "REACHABLE")):
        n = x.neigh.update(vx, ip(f"10.1.0.{last}"), mac(last), "STALE", create=True)
        n.state = state
        if state in ("INCOMPLETE", "FAILED"):
            n.lladdr = None
    return sim, x, vx, vy
