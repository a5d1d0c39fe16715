"""Calico's datastore resources (``libcalico-go/lib/apis/v3``) as etcdv3 keys: the ``IPPool``
(:class:`IpPool`), the ``BGPPeer`` (:class:`BgpPeerResource`) and ``BGPConfiguration``
resources, and the part of Calico's selector language BGP peerings use.

The datastore is an etcd (:class:`~emunet.control.etcd.EtcdStore`) holding Calico's keys:
the IP pool (``/calico/resources/v3/projectcalico.org/ippools/<name>``), one ``Node``
resource per machine (its BGP address and tunnel addresses), the IPAM blocks with their host
affinities (``/calico/ipam/v2/...``, :mod:`~emunet.control.calico.ipam`), and a
``WorkloadEndpoint`` per pod.
"""
import ipaddress

import attrs

from emunet.devices.ipip import IPIP_OVERHEAD
from emunet.wire.vxlan import VXLAN_OVERHEAD

#: the AS number of a cluster whose BGPConfiguration names none
DEFAULT_AS = 64512
RESOURCES = "/calico/resources/v3/projectcalico.org"
IPAM = "/calico/ipam/v2"
_MODES = ("Never", "Always", "CrossSubnet")


@attrs.frozen
class IpPool:
    """An ``IPPool`` resource: where pod addresses come from and how they travel."""

    cidr: str = "192.168.0.0/16"
    block_size: int = 26
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"
    nat_outgoing: bool = False
    name: str = "default-ipv4-ippool"

    def __attrs_post_init__(self):
        net = self.network
        if self.ipip_mode not in _MODES or self.vxlan_mode not in _MODES:
            raise ValueError(f"IPPool {self.name}: ipipMode and vxlanMode are one of {', '.join(_MODES)} "
                             f"(got {self.ipip_mode!r}, {self.vxlan_mode!r})")
        if self.ipip_mode != "Never" and self.vxlan_mode != "Never":
            raise ValueError(f"IPPool {self.name}: IPIP and VXLAN cannot both be enabled on one pool")
        if not net.prefixlen <= self.block_size <= 32:
            raise ValueError(f"IPPool {self.name}: blockSize {self.block_size} must lie between the pool's "
                             f"prefix length /{net.prefixlen} and 32")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def encap(self) -> str:
        """"ipip", "vxlan" or "" (plain BGP-routed)."""
        return "ipip" if self.ipip_mode != "Never" else "vxlan" if self.vxlan_mode != "Never" else ""

    def veth_mtu(self, host_mtu: int) -> int:
        return host_mtu - {"ipip": IPIP_OVERHEAD, "vxlan": VXLAN_OVERHEAD}.get(self.encap, 0)

    def resource(self) -> dict:
        return {"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": self.name},
                "spec": {"cidr": self.cidr, "vxlanMode": self.vxlan_mode, "ipipMode": self.ipip_mode,
                         "natOutgoing": self.nat_outgoing, "blockSize": self.block_size,
                         "nodeSelector": "all()"}}


@attrs.frozen
class BgpPeerResource:
    """A ``BGPPeer`` resource: nodes matching ``node_selector`` peer with those matching
    ``peer_selector`` (or with ``peer_ip`` / ``as_number``, a router outside the cluster)."""

    name: str
    node_selector: str = "all()"
    peer_selector: str = None
    peer_ip: str = None
    as_number: int = None

    def resource(self) -> dict:
        spec = {"nodeSelector": self.node_selector}
        if self.peer_selector:
            spec["peerSelector"] = self.peer_selector
        if self.peer_ip:
            spec["peerIP"] = self.peer_ip
        if self.as_number:
            spec["asNumber"] = self.as_number
        return {"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": self.name},
                "spec": spec}


def selector_matches(selector: str, labels: dict) -> bool:
    """Calico's selector language, the part BGP peerings use: ``all()``, ``has(k)``,
    ``!has(k)``, ``k == 'v'``, ``k != 'v'``, joined by ``&&``."""
    for term in (t.strip() for t in selector.split("&&")):
        if term == "all()":
            continue
        if term.startswith("has(") and term.endswith(")"):
            ok = term[4:-1].strip() in labels
        elif term.startswith("!has(") and term.endswith(")"):
            ok = term[5:-1].strip() not in labels
        elif "==" in term or "!=" in term:
            op = "==" if "==" in term else "!="
            key, value = (x.strip() for x in term.split(op, 1))
            value = value.strip("'\"")
            ok = (labels.get(key) == value) == (op == "==")
        else:
            raise ValueError(f"selector {selector!r}: cannot parse {term!r}")
        if not ok:
            return False
    return True


def bgp_configuration(node_mesh: bool, as_num: int) -> dict:
    """The ``BGPConfiguration default`` resource: the node-to-node mesh on or off, the AS."""
    return {"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
            "spec": {"nodeToNodeMeshEnabled": node_mesh, "asNumber": as_num}}


__all__ = ["DEFAULT_AS", "RESOURCES", "IPAM", "IpPool", "BgpPeerResource", "selector_matches",
           "bgp_configuration"]
