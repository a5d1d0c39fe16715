"""flannel's backends (``pkg/backend/``): the interface and one module per backend type.

``BACKENDS`` maps the config's ``Backend.Type`` to its class, as
``pkg/backend/manager.go``'s constructors do.
"""
from emunet.control.flannel.backend.base import Backend
from emunet.control.flannel.backend.hostgw import HostGwBackend
from emunet.control.flannel.backend.udp import UdpBackend
from emunet.control.flannel.backend.vxlan import VxlanBackend

BACKENDS = {"udp": UdpBackend, "vxlan": VxlanBackend, "host-gw": HostGwBackend}

__all__ = ["Backend", "UdpBackend", "VxlanBackend", "HostGwBackend", "BACKENDS"]
