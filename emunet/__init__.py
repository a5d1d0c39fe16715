"""emunet: a deterministic, packet-level emulator of container and Kubernetes networking.

Every modelled interface exchanges real Ethernet frames through in-memory
queues on a virtual clock; every frame can be written to pcapng.
"""
from emunet.sim import Simulator, S, MS, US
from emunet.wire import Frame
from emunet.stack.namespace import Namespace
from emunet.devices import Bridge, Loopback, NetDevice, Veth, veth_pair
from emunet.stack.fib import Route
from emunet.apps import Ping, Process, UdpEchoServer, UdpSender
from emunet.observe.capture import Capture

__version__ = "0.1.0"

__all__ = [
    "Simulator", "S", "MS", "US", "Frame", "Namespace", "NetDevice", "Veth", "veth_pair",
    "Bridge", "Loopback", "Route", "Process", "Ping", "UdpEchoServer", "UdpSender", "Capture",
    "__version__",
]
