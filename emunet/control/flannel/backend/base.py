"""What every flannel backend does (``pkg/backend/common.go``: ``Backend`` and ``Network``).

A backend registers the node's lease with its own attributes, creating its
devices on the way (``RegisterNetwork``), then turns batches of lease events
into the kernel's datapath (``handleSubnetEvents``).  It lives inside its
:class:`~emunet.control.flannel.flanneld.Flanneld` (``d``), whose logs, lease
calls and timers it uses.
"""
import abc


class Backend(abc.ABC):
    """A flannel backend of one daemon ``d`` (``backend.Backend`` / ``backend.Network``)."""

    type = ""

    def __init__(self, d):
        self.d = d
        self.ns = d.ns
        self.sim = d.sim
        self.cfg = dict(d.config.backend)

    def mtu(self) -> int:
        return self.d.iface.mtu

    @abc.abstractmethod
    def register(self) -> None:
        """Create the backend's devices and acquire the lease (``RegisterNetwork``)."""

    def run(self) -> None:
        pass

    @abc.abstractmethod
    def handle(self, batch) -> None:
        """Program the datapath for a batch of (event type, lease) (``handleSubnetEvents``)."""

    def stop(self) -> None:
        pass
