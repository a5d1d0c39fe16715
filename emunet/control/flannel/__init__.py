"""flannel: flanneld's subnet leases in etcd and its udp, vxlan and host-gw backends.

Laid out like flannel's tree (github.com/flannel-io/flannel): :mod:`.config`
(``pkg/subnet/config.go``), :mod:`.subnet` (leases, their keys, allocation and
watch events: ``pkg/subnet/``), :mod:`.flanneld` (the daemon: ``main.go`` and
the etcd lease manager) and :mod:`.backend` (``pkg/backend/``: one module per
backend type).
"""
from emunet.control.flannel.backend import BACKENDS, Backend, HostGwBackend, UdpBackend, VxlanBackend
from emunet.control.flannel.config import PREFIX, FlannelError, NetworkConfig, network_config_json
from emunet.control.flannel.flanneld import Flanneld
from emunet.control.flannel.subnet import SUBNET_TTL_S, SubnetLease, parse_subnet_key, subnet_key

__all__ = ["Flanneld", "NetworkConfig", "SubnetLease", "FlannelError", "Backend", "UdpBackend",
           "VxlanBackend", "HostGwBackend", "BACKENDS", "PREFIX", "SUBNET_TTL_S", "subnet_key",
           "parse_subnet_key", "network_config_json"]
