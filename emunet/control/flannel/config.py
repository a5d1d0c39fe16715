"""flannel's network configuration (``pkg/subnet/config.go``).

An operator puts the network config at ``/coreos.com/network/config``
(``{"Network": "100.96.0.0/16", "SubnetLen": 24, "Backend": {"Type": "vxlan"}}``);
flanneld reads it once at start (``ParseConfig`` and ``CheckNetworkConfig``):
SubnetLen defaults to 24 (to the network's prefix + 2 for a network smaller
than a /22), SubnetMin to the second subnet, SubnetMax to the last, the backend
to ``udp``.
"""
import ipaddress
import json

import attrs

#: flanneld's ``--etcd-prefix`` default: the config at ``<prefix>/config``, the leases
#: under ``<prefix>/subnets/``
PREFIX = "/coreos.com/network"


class FlannelError(Exception):
    """An error flanneld reports and exits on."""


@attrs.define
class NetworkConfig:
    """``subnet.Config`` after ``ParseConfig`` and ``CheckNetworkConfig``."""

    network: ipaddress.IPv4Network
    subnet_len: int
    subnet_min: ipaddress.IPv4Address
    subnet_max: ipaddress.IPv4Address
    backend_type: str
    backend: dict

    @classmethod
    def parse(cls, text: str) -> "NetworkConfig":
        raw = json.loads(text)
        if "Network" not in raw:
            raise FlannelError("please define a correct Network parameter in the flannel config")
        net = ipaddress.IPv4Network(raw["Network"])
        backend = raw.get("Backend") or {}
        btype = backend.get("Type", "udp") if backend else "udp"
        slen = int(raw.get("SubnetLen", 0))
        if slen:
            if slen > 30:
                raise FlannelError("SubnetLen must be less than /31")
            if slen < net.prefixlen + 2:
                raise FlannelError("network must be able to accommodate at least four subnets")
        elif net.prefixlen > 28:
            raise FlannelError("network is too small. Minimum useful network prefix is /28")
        elif net.prefixlen <= 22:
            slen = 24
        else:
            slen = net.prefixlen + 2
        size = 1 << (32 - slen)
        smin = ipaddress.IPv4Address(raw["SubnetMin"]) if raw.get("SubnetMin") else \
            net.network_address + size
        smax = ipaddress.IPv4Address(raw["SubnetMax"]) if raw.get("SubnetMax") else \
            net.broadcast_address + 1 - size
        for what, a in (("SubnetMin", smin), ("SubnetMax", smax)):
            if a not in net:
                raise FlannelError(f"{what} is not in the range of the Network")
            if int(a) % size:
                raise FlannelError(f"{what} is not on a SubnetLen boundary: {a}")
        return cls(net, slen, smin, smax, btype, backend)

    def compatible(self, sn: ipaddress.IPv4Network) -> bool:
        """``isSubnetConfigCompat``: ``sn`` lies in [SubnetMin, SubnetMax] with SubnetLen."""
        return self.subnet_min <= sn.network_address <= self.subnet_max and sn.prefixlen == self.subnet_len


def network_config_json(network: str, backend: str = "vxlan", subnet_len: int = 24, **extra) -> str:
    """The value an operator puts at ``/coreos.com/network/config``."""
    cfg = {"Network": network, "SubnetLen": subnet_len}
    for k, v in extra.items():
        if v is not None:
            cfg[k] = v
    cfg["Backend"] = {"Type": backend} if isinstance(backend, str) else backend
    return json.dumps(cfg)
